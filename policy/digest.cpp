#include "policy/digest.hpp"

#include <re.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "transport/codec/sip_uri.hpp"

namespace imserver::policy {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 3261 token characters.
bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-.!%*_+`'~").find(c) != std::string_view::npos;
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

std::string to_hex(const uint8_t* bytes, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

// Comparison whose time does not depend on where the strings differ.
bool same_secret_text(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string nonce_mac(std::string_view secret, std::string_view time_hex) {
  std::string keyed(secret);
  keyed += ':';
  keyed += time_hex;
  return md5_hex(keyed);
}

}  // namespace

std::optional<DigestCredentials> parse_digest_credentials(std::string_view value) {
  value = trim(value);
  size_t i = 0;
  while (i < value.size() && is_token_char(value[i])) ++i;
  if (lower(value.substr(0, i)) != "digest") return std::nullopt;
  if (i >= value.size() || !is_space(value[i])) return std::nullopt;
  DigestCredentials out;
  bool any = false, have_realm = false;
  while (true) {
    while (i < value.size() && (is_space(value[i]) || value[i] == ',')) ++i;
    if (i >= value.size()) break;
    const size_t name_start = i;
    while (i < value.size() && is_token_char(value[i])) ++i;
    const std::string name = lower(value.substr(name_start, i - name_start));
    if (name.empty()) return std::nullopt;
    while (i < value.size() && is_space(value[i])) ++i;
    if (i >= value.size() || value[i] != '=') return std::nullopt;
    ++i;
    while (i < value.size() && is_space(value[i])) ++i;
    std::string v;
    if (i < value.size() && value[i] == '"') {
      ++i;
      bool closed = false;
      while (i < value.size()) {
        const char c = value[i++];
        if (c == '\\' && i < value.size()) {
          v += value[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          v += c;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      const size_t start = i;
      while (i < value.size() && is_token_char(value[i])) ++i;
      v = std::string(value.substr(start, i - start));
      if (v.empty()) return std::nullopt;
    }
    while (i < value.size() && is_space(value[i])) ++i;
    if (i < value.size() && value[i] != ',') return std::nullopt;
    any = true;
    if (name == "username") out.username = v;
    else if (name == "realm") {
      out.realm = v;
      have_realm = true;
    }
    else if (name == "nonce") out.nonce = v;
    else if (name == "uri") out.uri = v;
    else if (name == "response") out.response = v;
    else if (name == "qop") out.qop = v;
    else if (name == "nc") out.nc = v;
    else if (name == "cnonce") out.cnonce = v;
    else if (name == "algorithm") out.algorithm = v;
    else if (name == "opaque") out.opaque = v;
  }
  // realm must be present (it may be ""; the caller compares it with ours).
  if (!any || !have_realm || out.username.empty() || out.nonce.empty() || out.uri.empty() || out.response.empty())
    return std::nullopt;
  return out;
}

std::string md5_hex(std::string_view data) {
  uint8_t digest[16];
  md5(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
  return to_hex(digest, sizeof digest);
}

std::string digest_ha1(std::string_view username, std::string_view realm, std::string_view password) {
  std::string a1(username);
  a1 += ':';
  a1 += realm;
  a1 += ':';
  a1 += password;
  return md5_hex(a1);
}

std::string digest_response(std::string_view ha1, std::string_view method, std::string_view uri,
                            std::string_view nonce, std::string_view qop, std::string_view nc,
                            std::string_view cnonce) {
  std::string a2(method);
  a2 += ':';
  a2 += uri;
  const std::string ha2 = md5_hex(a2);
  std::string kd(ha1);
  kd += ':';
  kd += nonce;
  kd += ':';
  if (!qop.empty()) {
    kd += nc;
    kd += ':';
    kd += cnonce;
    kd += ':';
    kd += qop;
    kd += ':';
  }
  kd += ha2;
  return md5_hex(kd);
}

std::string make_nonce(std::string_view secret, int64_t now_s) {
  char time_hex[17];
  std::snprintf(time_hex, sizeof time_hex, "%016llx", static_cast<unsigned long long>(now_s));
  return std::string(time_hex) + nonce_mac(secret, time_hex);
}

NonceCheck check_nonce(std::string_view nonce, std::string_view secret, int64_t now_s, int64_t lifetime_s) {
  if (nonce.size() != 48 || !is_hex(nonce)) return NonceCheck::Invalid;
  const std::string time_hex = lower(nonce.substr(0, 16));
  if (!same_secret_text(lower(nonce.substr(16)), nonce_mac(secret, time_hex))) return NonceCheck::Invalid;
  const auto issued = static_cast<int64_t>(std::stoull(time_hex, nullptr, 16));
  if (issued > now_s + 1) return NonceCheck::Invalid;  // a second of clock slack between actors
  if (now_s - issued > lifetime_s) return NonceCheck::Stale;
  return NonceCheck::Fresh;
}

DigestUsersParse parse_digest_users(std::string_view text) {
  DigestUsersParse out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    auto fail = [&](const std::string& why) {
      out.users.clear();
      out.error = "line " + std::to_string(line_no) + ": " + why;
      return out;
    };
    const size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) return fail("expected username:HA1:aor");
    const size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return fail("expected username:HA1:aor");
    DigestUser user;
    user.username = std::string(trim(line.substr(0, c1)));
    const std::string_view ha1 = trim(line.substr(c1 + 1, c2 - c1 - 1));
    const std::string_view aor_text = trim(line.substr(c2 + 1));
    if (user.username.empty()) return fail("empty username");
    if (ha1.size() != 32 || !is_hex(ha1)) return fail("HA1 must be 32 hex digits");
    user.ha1 = lower(ha1);
    auto uri = codec::parse_uri(aor_text);
    if (aor_text.empty() || !uri) return fail("'" + std::string(aor_text) + "' is not a URI");
    user.aor = codec::canonical_aor(*uri);
    for (const auto& u : out.users)
      if (u.username == user.username) return fail("duplicate username '" + user.username + "'");
    out.users.push_back(std::move(user));
  }
  return out;
}

}  // namespace imserver::policy
