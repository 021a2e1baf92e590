#include "transport/sip/dial_credentials.hpp"

namespace imserver::transport {
namespace {

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::vector<DialCredential>> parse_dial_credentials(std::string_view text) {
  std::vector<DialCredential> out;
  if (trim_blanks(text).empty()) return out;
  for (;;) {
    const size_t comma = text.find(',');
    const std::string_view entry = trim_blanks(text.substr(0, comma));
    const size_t c1 = entry.find(':');
    if (c1 == std::string_view::npos) return std::nullopt;
    const size_t c2 = entry.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return std::nullopt;
    DialCredential cred{std::string(entry.substr(0, c1)), std::string(entry.substr(c1 + 1, c2 - c1 - 1)),
                        std::string(entry.substr(c2 + 1))};
    if (cred.realm.empty() || cred.username.empty()) return std::nullopt;
    for (const auto& seen : out)
      if (seen.realm == cred.realm) return std::nullopt;
    out.push_back(std::move(cred));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace imserver::transport
