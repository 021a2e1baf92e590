#include "actors/session/refer_checks.hpp"

#include <algorithm>
#include <cctype>

namespace imserver::session {

namespace {

std::string trim_lower(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::variant<ReferRequest, Respond> check_refer(const InboundRequest& r, bool lenient_unbracketed_method) {
  if (auto bad = check_require(r, {"norefersub"})) return *bad;
  std::vector<std::string> values;
  for (const auto& h : r.headers)
    if (codec::is_refer_to_header_name(h.name)) values.push_back(h.value);
  auto parsed = codec::parse_refer_to(values, lenient_unbracketed_method);
  switch (parsed.error) {
    case codec::ReferToError::Missing: return respond(r, 400, "Missing Refer-To");
    case codec::ReferToError::Several: return respond(r, 400, "Exactly One Refer-To Allowed");
    case codec::ReferToError::Unparsable: return respond(r, 400, "Bad Refer-To");
    case codec::ReferToError::NotSip:
    case codec::ReferToError::None: break;
  }
  if (r.contacts.empty()) return respond(r, 400, "Missing Contact");
  ReferRequest out;
  if (const auto* sub = r.header("refer-sub")) {
    // refer-sub-value *(SEMI exten); the value itself is case-insensitive.
    const std::string value = trim_lower(sub->substr(0, sub->find(';')));
    if (value == "false") out.refer_sub = false;
    else if (value != "true") return respond(r, 400, "Bad Refer-Sub");
  }
  // §3.1: only a SIP URI whose method is exactly BYE is this procedure; the
  // add-participant procedure (no method, INVITE) is not offered.
  if (parsed.error == codec::ReferToError::NotSip || !parsed.target.is_bye) return respond(r, 403, "Forbidden");
  out.target = std::move(parsed.target);
  return out;
}

std::string event_package(const std::string& event_header) {
  return trim_lower(event_header.substr(0, event_header.find(';')));
}

}  // namespace imserver::session
