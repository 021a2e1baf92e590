#pragma once
// The client side of SIP Digest authentication (RFC 3261 §22.4 with RFC 2617
// §3.2.2): what the SIP worker answers a 401/407 to a dial-out INVITE with.
// Plain strings in and out (libre only inside), so the arithmetic can be
// checked against RFC 2617's example without a SIP stack.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imserver::transport {

// One Digest challenge (a WWW-Authenticate or Proxy-Authenticate value),
// its parameters unquoted and unescaped; empty when absent.
struct DigestChallenge {
  std::string realm, nonce, opaque, algorithm, qop;
};

// nullopt unless `value` is a Digest challenge with a realm and a nonce.
std::optional<DigestChallenge> parse_digest_challenge(std::string_view value);

// The credentials (Authorization / Proxy-Authorization value) answering
// `challenge` for a request with `method` and Request-URI `uri` (RFC 2617
// §3.2.2 as RFC 3261 §22.4 uses it): MD5, with qop=auth, `cnonce` and
// `nc` when the challenge offers qop "auth", else the RFC 2069 form.
// nullopt when we cannot answer it: an algorithm other than MD5, or a qop
// list without "auth" (auth-int alone would need the body's hash; a reply
// without qop would just be challenged again).
std::optional<std::string> digest_credentials(const DigestChallenge& challenge, std::string_view method,
                                              std::string_view uri, std::string_view username,
                                              std::string_view password, std::string_view cnonce, uint32_t nc);

// Lower-case hex MD5 of `data` (libre's md5).
std::string md5_hex(std::string_view data);

}  // namespace imserver::transport
