#include "transport/codec/refer_to.hpp"

#include <optional>

#include "transport/codec/name_addr.hpp"
#include "transport/codec/text_util.hpp"

namespace imserver::codec {

using detail::iequals;

namespace {

bool is_method_name(std::string_view n) { return iequals(n, "method"); }

}  // namespace

bool is_refer_to_header_name(std::string_view name) {
  name = detail::trim(name);
  return iequals(name, "Refer-To") || iequals(name, "r");
}

ReferToResult parse_refer_to(const std::vector<std::string>& values, bool lenient_unbracketed) {
  ReferToResult res;
  if (values.empty()) {
    res.error = ReferToError::Missing;
    return res;
  }
  if (values.size() > 1) {  // two header lines (E10), whatever they contain
    res.error = ReferToError::Several;
    return res;
  }
  const auto list = parse_name_addr_list(values.front());
  if (!list) {
    res.error = ReferToError::Unparsable;
    return res;
  }
  if (list->size() != 1) {  // "<sip:a@x;method=BYE>, <sip:b@y;method=BYE>" (E10)
    res.error = ReferToError::Several;
    return res;
  }
  const NameAddr& na = list->front();
  auto uri = parse_uri(na.uri);
  if (!uri) {  // parse_name_addr already checked it; kept so a change there cannot slip through
    res.error = ReferToError::Unparsable;
    return res;
  }

  ReferTarget& t = res.target;
  t.display_name = na.display_name;
  t.bracketed = na.bracketed;
  t.uri = std::move(*uri);

  const bool sip = t.uri.scheme == "sip" || t.uri.scheme == "sips";
  for (const auto& p : na.params) {
    // §3.2 lenient form: Refer-To defines no header parameter `method`, so an unbracketed one is read as
    // the URI parameter. Only for sip/sips URIs: a method parameter means nothing for other schemes.
    if (lenient_unbracketed && sip && !na.bracketed && is_method_name(p.first)) t.uri.params.push_back(p);
    else t.header_params.push_back(p);
  }

  if (!sip) {
    res.error = ReferToError::NotSip;
    return res;
  }

  int count = 0;
  for (const auto& [name, value] : t.uri.params) {
    if (!is_method_name(name)) continue;
    ++count;
    t.method_raw = value;
  }
  if (count == 0) return res;  // no method: add-participant procedure (§3.1), decided by the caller
  t.method = percent_decode(t.method_raw);
  if (count > 1 || !detail::is_token(t.method)) {
    res.error = ReferToError::Unparsable;
    return res;
  }
  t.is_bye = t.method == "BYE";
  return res;
}

Uri refer_session_uri(const ReferTarget& t) {
  Uri u = t.uri;
  u.headers.clear();
  std::vector<std::pair<std::string, std::string>> kept;
  for (auto& p : u.params)
    if (!is_method_name(p.first)) kept.push_back(std::move(p));
  u.params = std::move(kept);
  return u;
}

}  // namespace imserver::codec
