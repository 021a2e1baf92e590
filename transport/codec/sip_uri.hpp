#pragma once

// SIP/SIPS/tel URI parsing, canonicalisation and comparison.
// Grammar: RFC 3261 §19.1.1 and §25.1 (sip/sips), RFC 3966 §3 (tel). Rules for identity matching:
// PROTOCOL.md §1.3 (session identity) and §1.5 (canonical AoR).
//
// Pure functions: no I/O, never throw on bad input (they return nullopt / a best-effort value).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imserver::codec {

struct Uri {
  std::string scheme;    // lower-cased: "sip", "sips", "tel", or anything else ("im", "http", ...)
  std::string user;      // raw (still percent-encoded) user part; for tel: the number
  std::string password;
  std::string host;      // as written (case kept); IPv6 keeps its brackets
  std::optional<uint16_t> port;
  std::vector<std::pair<std::string, std::string>> params;   // ;name=value (name as written, value may be empty)
  std::vector<std::pair<std::string, std::string>> headers;  // ?h=v&h2=v2
  std::string opaque;    // for non-sip/sips/tel schemes: everything after "scheme:"
};

// Parses one URI without angle brackets (surrounding white space is ignored).
// nullopt if there is no valid scheme, if a sip/sips URI has no (valid) host or a bad port, if a tel URI has
// no number, or if the text contains white space / control characters inside the URI.
std::optional<Uri> parse_uri(std::string_view text);

// %XX -> byte. Invalid escapes ("%4", "%zz") are kept literally.
std::string percent_decode(std::string_view);

// Value of the first URI parameter whose name matches case-insensitively (RFC 3261 §19.1.4:
// parameter names are case-insensitive). A parameter without "=value" yields "".
std::optional<std::string> param(const Uri&, std::string_view name);

// Canonical AoR for identity matching (PROTOCOL.md §1.5): scheme ":" percent-decoded user "@" lower-cased host;
// no port, no params, no headers ("sip:host" when there is no user). "sip:+15551234@h;user=phone" -> "tel:+15551234";
// tel URIs -> "tel:" + number with the visual separators - . ( ) removed. Other schemes -> scheme ":" opaque.
std::string canonical_aor(const Uri&);

// Session-identity equality (PROTOCOL.md §1.3, §0.3 item 3): RFC 3261 §19.1.4 comparison, except that the
// `method` URI parameter and all URI headers are ignored. sip and sips never match each other.
bool same_session_uri(const Uri& a, const Uri& b);

// Prints the URI back: sip:user:password@host:port;params?headers, tel:number;params, scheme:opaque.
std::string to_string(const Uri&);

}  // namespace imserver::codec
