#include "transport/codec/sip_uri.hpp"

#include "transport/codec/text_util.hpp"

namespace imserver::codec {

using detail::iequals;
using detail::is_alnum;
using detail::is_alpha;
using detail::is_digit;
using detail::to_lower;

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool valid_scheme(std::string_view s) {
  if (s.empty() || !is_alpha(s.front())) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '+' && c != '-' && c != '.') return false;
  return true;
}

// Characters that can never appear unescaped in a URI (RFC 3986 §2; RFC 3261 §25.1 has no rule admitting them).
// Rejecting them here also means a parsed URI can be printed back into a header or SDP line safely.
bool forbidden_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u >= 0x7f || c == '<' || c == '>' || c == '"';
}

// RFC 3261 §25.1 host = hostname / IPv4address / IPv6reference. Underscore is tolerated in names because
// deployed DNS labels use it, even though the grammar does not.
bool valid_host(std::string_view h) {
  if (h.empty()) return false;
  if (h.front() == '[') {
    if (h.size() < 4 || h.back() != ']') return false;
    bool colon = false;
    for (char c : h.substr(1, h.size() - 2)) {
      if (c == ':') colon = true;
      else if (detail::hex_value(c) < 0 && c != '.') return false;
    }
    return colon;
  }
  for (char c : h)
    if (!is_alnum(c) && c != '-' && c != '.' && c != '_') return false;
  return true;
}

std::optional<uint16_t> parse_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : p) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// Splits "a=1;b;c=3" (already without the leading separator) into pairs. Empty segments (";;") are skipped;
// a segment with an empty name ("=x") makes the URI invalid.
bool split_pairs(std::string_view s, char sep, Pairs& out) {
  while (true) {
    const size_t end = s.find(sep);
    const std::string_view item = s.substr(0, end);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      const std::string_view name = item.substr(0, eq);
      if (name.empty()) return false;
      out.emplace_back(std::string(name), eq == std::string_view::npos ? std::string() : std::string(item.substr(eq + 1)));
    }
    if (end == std::string_view::npos) return true;
    s.remove_prefix(end + 1);
  }
}

const std::string* find_pair(const Pairs& v, std::string_view name) {
  for (const auto& p : v)
    if (iequals(p.first, name)) return &p.second;
  return nullptr;
}

// RFC 3966 §5.1.1: visual separators carry no meaning and are dropped before comparison.
std::string strip_visual_separators(std::string_view number) {
  std::string out;
  out.reserve(number.size());
  for (char c : number)
    if (c != '-' && c != '.' && c != '(' && c != ')') out.push_back(c);
  return out;
}

bool is_sip(const Uri& u) { return u.scheme == "sip" || u.scheme == "sips"; }

void append_pairs(std::string& out, const Pairs& v, char first_sep, char sep, bool always_eq) {
  bool first = true;
  for (const auto& [name, value] : v) {
    out.push_back(first ? first_sep : sep);
    first = false;
    out += name;
    if (!value.empty() || always_eq) {
      out.push_back('=');
      out += value;
    }
  }
}

// RFC 3261 §19.1.4 rules for uri-parameters, with `method` removed from consideration (PROTOCOL.md §0.3 item 3):
// a parameter present in both URIs must match (case-insensitive, escapes decoded); user/ttl/maddr present in
// only one URI never match; any other one-sided parameter is ignored.
bool params_match(const Pairs& a, const Pairs& b) {
  auto one_way = [](const Pairs& x, const Pairs& y) {
    for (const auto& [name, value] : x) {
      if (iequals(name, "method")) continue;
      const std::string* other = find_pair(y, name);
      if (other == nullptr) {
        if (iequals(name, "user") || iequals(name, "ttl") || iequals(name, "maddr")) return false;
        continue;
      }
      if (!iequals(percent_decode(value), percent_decode(*other))) return false;
    }
    return true;
  };
  return one_way(a, b) && one_way(b, a);
}

// RFC 3966 §4: tel parameters are compared as a set, case-insensitively; a parameter in only one URI means
// the URIs differ. `method` is ignored here as well, for symmetry with the sip rule.
bool tel_params_match(const Pairs& a, const Pairs& b) {
  auto one_way = [](const Pairs& x, const Pairs& y) {
    for (const auto& [name, value] : x) {
      if (iequals(name, "method")) continue;
      const std::string* other = find_pair(y, name);
      if (other == nullptr || !iequals(percent_decode(value), percent_decode(*other))) return false;
    }
    return true;
  };
  return one_way(a, b) && one_way(b, a);
}

std::optional<Uri> parse_sip(Uri uri, std::string_view rest) {
  // RFC 3261 §19.1.1: sip:user:password@host:port;uri-parameters?headers.
  // The user part may legally contain ';' and '?' (user-unreserved), so the '@' decides where it ends.
  // When a '?' comes before the first '@' we read the '@' as part of a header value: unescaped '@' in
  // headers (?Replaces=..., ?Refer-To=...) is far more common in the wild than '?' in a user name.
  const size_t at = rest.find('@');
  const size_t q = rest.find('?');
  if (at != std::string_view::npos && (q == std::string_view::npos || at < q)) {
    const std::string_view userinfo = rest.substr(0, at);
    const size_t colon = userinfo.find(':');
    uri.user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) uri.password = std::string(userinfo.substr(colon + 1));
    if (uri.user.empty()) return std::nullopt;  // user = 1*( unreserved / escaped / user-unreserved )
    rest.remove_prefix(at + 1);
  }

  const size_t qmark = rest.find('?');
  std::string_view headers;
  if (qmark != std::string_view::npos) {
    headers = rest.substr(qmark + 1);
    rest = rest.substr(0, qmark);
  }
  const size_t semi = rest.find(';');
  std::string_view hostport = rest.substr(0, semi);
  std::string_view params = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);

  std::string_view host = hostport;
  std::string_view port;
  bool has_port = false;
  if (!hostport.empty() && hostport.front() == '[') {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = hostport.substr(0, close + 1);
    const std::string_view tail = hostport.substr(close + 1);
    if (!tail.empty()) {
      if (tail.front() != ':') return std::nullopt;
      port = tail.substr(1);
      has_port = true;
    }
  } else {
    const size_t colon = hostport.find(':');
    if (colon != std::string_view::npos) {
      host = hostport.substr(0, colon);
      port = hostport.substr(colon + 1);
      has_port = true;
    }
  }
  if (!valid_host(host)) return std::nullopt;
  uri.host = std::string(host);
  if (has_port) {
    uri.port = parse_port(port);
    if (!uri.port) return std::nullopt;
  }
  if (!split_pairs(params, ';', uri.params)) return std::nullopt;
  if (!split_pairs(headers, '&', uri.headers)) return std::nullopt;
  return uri;
}

}  // namespace

std::optional<Uri> parse_uri(std::string_view text) {
  text = detail::trim(text);
  for (char c : text)
    if (forbidden_char(c)) return std::nullopt;
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view scheme = text.substr(0, colon);
  if (!valid_scheme(scheme)) return std::nullopt;

  Uri uri;
  uri.scheme = to_lower(scheme);
  std::string_view rest = text.substr(colon + 1);

  if (is_sip(uri)) return parse_sip(std::move(uri), rest);

  if (uri.scheme == "tel") {
    // RFC 3966 §3: telephone-subscriber = number *( ";" par ). No host, no headers.
    const size_t semi = rest.find(';');
    uri.user = std::string(rest.substr(0, semi));
    if (uri.user.empty()) return std::nullopt;
    if (semi != std::string_view::npos && !split_pairs(rest.substr(semi + 1), ';', uri.params)) return std::nullopt;
    return uri;
  }

  uri.opaque = std::string(rest);
  return uri;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = detail::hex_value(s[i + 1]);
      const int lo = detail::hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::optional<std::string> param(const Uri& uri, std::string_view name) {
  if (const std::string* v = find_pair(uri.params, name)) return *v;
  return std::nullopt;
}

std::string canonical_aor(const Uri& uri) {
  if (uri.scheme == "tel") return "tel:" + strip_visual_separators(percent_decode(uri.user));
  if (!is_sip(uri)) return uri.scheme + ":" + uri.opaque;

  const std::string user = percent_decode(uri.user);
  // RFC 3261 §19.1.6: with user=phone the user part is a telephone-subscriber, so the identity is the number
  // (PROTOCOL.md §1.5: "sip:+15551234@h;user=phone" equals "tel:+15551234"). Number parameters
  // (";phone-context=...") are dropped like every other parameter.
  const auto user_param = param(uri, "user");
  if (user_param && iequals(*user_param, "phone") && !user.empty())
    return "tel:" + strip_visual_separators(user.substr(0, user.find(';')));

  std::string out = uri.scheme + ":";
  if (!user.empty()) out += user + "@";
  out += to_lower(uri.host);
  return out;
}

bool same_session_uri(const Uri& a, const Uri& b) {
  // RFC 3261 §19.1.4: schemes must be equal; a SIP and a SIPS URI are never equivalent.
  if (a.scheme != b.scheme) return false;
  if (a.scheme == "tel")
    return strip_visual_separators(percent_decode(a.user)) == strip_visual_separators(percent_decode(b.user)) &&
           tel_params_match(a.params, b.params);
  if (!is_sip(a)) return a.opaque == b.opaque;

  // Userinfo is compared case-sensitively, after decoding escapes of unreserved characters.
  if (percent_decode(a.user) != percent_decode(b.user)) return false;
  if (percent_decode(a.password) != percent_decode(b.password)) return false;
  // Host case-insensitively; an absent port does not equal the default port.
  if (!iequals(a.host, b.host)) return false;
  if (a.port != b.port) return false;
  // URI headers are ignored (PROTOCOL.md §1.3), as is `method` inside params_match.
  return params_match(a.params, b.params);
}

std::string to_string(const Uri& uri) {
  std::string out = uri.scheme + ":";
  if (uri.scheme == "tel") {
    out += uri.user;
    append_pairs(out, uri.params, ';', ';', false);
    return out;
  }
  if (!is_sip(uri)) return out + uri.opaque;
  if (!uri.user.empty()) {
    out += uri.user;
    if (!uri.password.empty()) out += ":" + uri.password;
    out.push_back('@');
  }
  out += uri.host;
  if (uri.port) out += ":" + std::to_string(*uri.port);
  append_pairs(out, uri.params, ';', ';', false);
  append_pairs(out, uri.headers, '?', '&', true);
  return out;
}

}  // namespace imserver::codec
