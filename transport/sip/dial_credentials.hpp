#pragma once
// Credentials for challenged dial-out INVITEs (SESSIONS.md §9.2, E85):
// SipWorkerConfig::dial_credentials and the parser of the flag value that
// fills it. Pure C++ (no libre), so the command line can use it as is.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imserver::transport {

// One entry of `dialout.credentials`: what to answer a challenge for `realm`
// with.
struct DialCredential {
  std::string realm, username, password;
};

// The `--dialout.credentials` value: `realm:username:password` entries
// separated by commas. The realm and the username end at the first and the
// second colon, so only the password may hold a colon; no part may hold a
// comma. Blanks around an entry are dropped. An empty (or all-blank) value
// is an empty list. nullopt when an entry is empty, lacks a part, has an
// empty realm or username, or repeats a realm (which one would count is
// not obvious, so it is refused rather than guessed).
std::optional<std::vector<DialCredential>> parse_dial_credentials(std::string_view text);

}  // namespace imserver::transport
