#include "transport/sip/digest_auth.hpp"

#include <re.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace imserver::transport {
namespace {

// A quoted-string's content as libre hands it over (quotes gone, escapes
// still in): RFC 2617 hashes the unquoted value, so the quoted-pairs of
// RFC 2616 §2.2 are undone.
std::string unescape(const pl& p) {
  std::string out;
  if (!p.p) return out;
  for (size_t i = 0; i < p.l; ++i) {
    if (p.p[i] == '\\' && i + 1 < p.l) ++i;
    out += p.p[i];
  }
  return out;
}

// Back into a quoted-string: '"' and '\' escaped, line breaks (which would
// end the header) dropped.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\r' || c == '\n') continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// qop-options is a comma list of tokens (RFC 2617 §3.2.1).
bool offers_auth(std::string_view qop) {
  while (!qop.empty()) {
    const size_t comma = qop.find(',');
    std::string_view token = qop.substr(0, comma);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) token.remove_prefix(1);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.remove_suffix(1);
    if (iequals(token, "auth")) return true;
    if (comma == std::string_view::npos) break;
    qop.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

std::string md5_hex(std::string_view data) {
  uint8_t digest[MD5_SIZE];
  md5(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
  static const char* const kHex = "0123456789abcdef";
  std::string out;
  for (uint8_t b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::optional<DigestChallenge> parse_digest_challenge(std::string_view value) {
  // libre's decoder takes the scheme and parameter names in any case and
  // strips the quotes; it fails for other schemes and without realm/nonce.
  pl v{value.data(), value.size()};
  httpauth_digest_chall ch;
  if (httpauth_digest_challenge_decode(&ch, &v) != 0) return std::nullopt;
  DigestChallenge out;
  out.realm = unescape(ch.realm);
  out.nonce = unescape(ch.nonce);
  out.opaque = unescape(ch.opaque);
  out.algorithm = unescape(ch.algorithm);
  out.qop = unescape(ch.qop);
  return out;
}

std::optional<std::string> digest_credentials(const DigestChallenge& challenge, std::string_view method,
                                              std::string_view uri, std::string_view username,
                                              std::string_view password, std::string_view cnonce, uint32_t nc) {
  // No algorithm means MD5 (RFC 2617 §3.2.1); MD5-sess and the RFC 8760
  // SHA-256 variants are not done here.
  if (!challenge.algorithm.empty() && !iequals(challenge.algorithm, "MD5")) return std::nullopt;
  const bool with_qop = !challenge.qop.empty();
  if (with_qop && !offers_auth(challenge.qop)) return std::nullopt;
  const std::string ha1 = md5_hex(std::string(username) + ":" + challenge.realm + ":" + std::string(password));
  const std::string ha2 = md5_hex(std::string(method) + ":" + std::string(uri));
  char nc_text[9];
  std::snprintf(nc_text, sizeof(nc_text), "%08x", static_cast<unsigned>(nc));
  const std::string response =
      with_qop ? md5_hex(ha1 + ":" + challenge.nonce + ":" + nc_text + ":" + std::string(cnonce) + ":auth:" + ha2)
               : md5_hex(ha1 + ":" + challenge.nonce + ":" + ha2);
  std::string out = "Digest username=" + quoted(username) + ", realm=" + quoted(challenge.realm) +
                    ", nonce=" + quoted(challenge.nonce) + ", uri=" + quoted(uri) + ", response=\"" + response +
                    "\", algorithm=MD5";
  if (with_qop) out += ", cnonce=" + quoted(cnonce) + ", qop=auth, nc=" + nc_text;
  // §3.2.2: the opaque comes back unchanged.
  if (!challenge.opaque.empty()) out += ", opaque=" + quoted(challenge.opaque);
  return out;
}

}  // namespace imserver::transport
