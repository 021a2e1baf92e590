#pragma once
// HTTP Digest authentication for requests from untrusted sources
// (SESSIONS.md §5; RFC 3261 §22, RFC 2617 / RFC 7616 with MD5): parsing
// the Authorization header, the response computation, self-checking nonces
// and the users file. Pure functions over plain data; MD5 is libre's.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imserver::policy {

// The fields of a `Digest ...` credentials value (RFC 2617 §3.2.2). Values
// are unquoted (backslash escapes resolved); absent fields are empty.
struct DigestCredentials {
  std::string username;
  std::string realm;
  std::string nonce;
  std::string uri;
  std::string response;
  std::string qop;
  std::string nc;
  std::string cnonce;
  std::string algorithm;
  std::string opaque;
};

// Parses an Authorization (or Proxy-Authorization) header value. The scheme
// and the parameter names are case-insensitive; values may be quoted strings
// or tokens; unknown parameters are ignored. nullopt when the scheme is not
// Digest, the syntax is broken, or username, realm, nonce, uri or response
// is missing.
std::optional<DigestCredentials> parse_digest_credentials(std::string_view value);

// Lower-case hex MD5 of `data`.
std::string md5_hex(std::string_view data);

// HA1 = MD5(username:realm:password), lower-case hex.
std::string digest_ha1(std::string_view username, std::string_view realm, std::string_view password);

// The request-digest for algorithm MD5 (RFC 2617 §3.2.2.1): with qop
// "auth", MD5(HA1:nonce:nc:cnonce:qop:HA2); with an empty qop the RFC 2069
// form MD5(HA1:nonce:HA2). HA2 = MD5(method:uri). Lower-case hex.
std::string digest_response(std::string_view ha1, std::string_view method, std::string_view uri,
                            std::string_view nonce, std::string_view qop, std::string_view nc,
                            std::string_view cnonce);

// Nonces carry their issue time and a keyed MD5 over (secret, time), so the
// server recognises its own without remembering them: 16 hex digits of the
// time in seconds, then 32 hex digits of MD5(secret ":" time-hex).
std::string make_nonce(std::string_view secret, int64_t now_s);

enum class NonceCheck { Fresh, Stale, Invalid };
// Invalid: not ours (bad shape, bad MAC, another secret, issued in the
// future). Stale: ours, but older than lifetime_s.
NonceCheck check_nonce(std::string_view nonce, std::string_view secret, int64_t now_s, int64_t lifetime_s);

// One line of the users file: `username:HA1:aor`.
struct DigestUser {
  std::string username;
  std::string ha1;  // lower-case hex
  std::string aor;  // canonical AoR (codec::canonical_aor)
};

struct DigestUsersParse {
  std::vector<DigestUser> users;  // in file order
  std::string error;              // non-empty: the first bad line, named by number
};

// Parses the users file text: one user per line, `#` comments and blank
// lines ignored, surrounding whitespace trimmed. The HA1 must be 32 hex
// digits (stored lower-case); the AoR must parse as a URI and is stored
// canonical. A duplicate username is an error.
DigestUsersParse parse_digest_users(std::string_view text);

// What the server needs to challenge and check (auth.digest_* knobs).
struct DigestConfig {
  bool enabled = false;  // auth.digest_users_file was given
  std::string realm;
  int64_t nonce_lifetime_s = 300;
  bool from_must_match = true;
  std::string secret;                       // random per process
  std::map<std::string, DigestUser> users;   // by username
};

}  // namespace imserver::policy
