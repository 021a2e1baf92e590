#include "transport/codec/name_addr.hpp"

#include "transport/codec/sip_uri.hpp"
#include "transport/codec/text_util.hpp"

namespace imserver::codec {

using detail::is_ws;

namespace {

void skip_ws(std::string_view s, size_t& pos) {
  while (pos < s.size() && is_ws(s[pos])) ++pos;
}

// RFC 3261 §25.1 quoted-string = DQUOTE *(qdtext / quoted-pair) DQUOTE. `pos` is on the opening quote; on
// success it moves past the closing quote and `out` holds the unescaped content.
bool read_quoted(std::string_view s, size_t& pos, std::string& out) {
  ++pos;
  while (pos < s.size()) {
    const char c = s[pos];
    if (c == '"') {
      ++pos;
      return true;
    }
    if (c == '\\') {
      if (pos + 1 >= s.size()) return false;
      out.push_back(s[pos + 1]);
      pos += 2;
      continue;
    }
    out.push_back(c);
    ++pos;
  }
  return false;  // unterminated
}

// *( SEMI generic-param ), generic-param = token [ EQUAL gen-value ], gen-value = token / host / quoted-string.
// SEMI and EQUAL allow white space on both sides (RFC 3261 §25.1).
bool read_params(std::string_view s, size_t pos, std::vector<std::pair<std::string, std::string>>& out) {
  while (true) {
    skip_ws(s, pos);
    if (pos >= s.size()) return true;
    if (s[pos] != ';') return false;
    ++pos;
    skip_ws(s, pos);
    const size_t name_start = pos;
    while (pos < s.size() && detail::is_token_char(s[pos])) ++pos;
    if (pos == name_start) return false;
    std::string name(s.substr(name_start, pos - name_start));
    std::string value;
    skip_ws(s, pos);
    if (pos < s.size() && s[pos] == '=') {
      ++pos;
      skip_ws(s, pos);
      if (pos < s.size() && s[pos] == '"') {
        if (!read_quoted(s, pos, value)) return false;
      } else {
        // token / host (host may be an IPv6 reference, hence ':' '[' ']').
        const size_t v_start = pos;
        while (pos < s.size() && !is_ws(s[pos]) && s[pos] != ';') {
          const char c = s[pos];
          if (c == '"' || c == '<' || c == '>' || c == ',' || static_cast<unsigned char>(c) < 0x20) return false;
          ++pos;
        }
        if (pos == v_start) return false;
        value = std::string(s.substr(v_start, pos - v_start));
      }
    }
    out.emplace_back(std::move(name), std::move(value));
  }
}

bool token_display_name(std::string_view s) {
  for (char c : s)
    if (!detail::is_token_char(c) && !is_ws(c)) return false;
  return true;
}

bool parse_bracketed(std::string_view v, size_t lt, NameAddr& na) {
  const size_t gt = v.find('>', lt + 1);
  if (gt == std::string_view::npos) return false;
  const std::string_view uri = detail::trim(v.substr(lt + 1, gt - lt - 1));
  if (!parse_uri(uri)) return false;
  na.uri = std::string(uri);
  na.bracketed = true;
  return read_params(v, gt + 1, na.params);
}

}  // namespace

std::optional<NameAddr> parse_name_addr(std::string_view value) {
  const std::string_view v = detail::trim(value);
  if (v.empty()) return std::nullopt;
  NameAddr na;

  if (v.front() == '"') {
    // name-addr with a quoted display name; the URI must then be bracketed.
    size_t pos = 0;
    if (!read_quoted(v, pos, na.display_name)) return std::nullopt;
    skip_ws(v, pos);
    if (pos >= v.size() || v[pos] != '<') return std::nullopt;
    if (!parse_bracketed(v, pos, na)) return std::nullopt;
    return na;
  }

  const size_t lt = v.find('<');
  if (lt != std::string_view::npos && token_display_name(v.substr(0, lt))) {
    na.display_name = std::string(detail::trim(v.substr(0, lt)));
    if (!parse_bracketed(v, lt, na)) return std::nullopt;
    return na;
  }

  // addr-spec form. RFC 3261 §20.10: without <>, parameters after the URI are header parameters, so the
  // URI ends at the first ';' (a URI that itself needs ';', ',' or '?' must be bracketed).
  const size_t semi = v.find(';');
  const std::string_view uri = detail::trim(v.substr(0, semi));
  if (!parse_uri(uri)) return std::nullopt;
  na.uri = std::string(uri);
  if (semi != std::string_view::npos && !read_params(v, semi, na.params)) return std::nullopt;
  return na;
}

std::optional<std::vector<NameAddr>> parse_name_addr_list(std::string_view value) {
  std::vector<NameAddr> out;
  bool in_quotes = false;
  bool in_angle = false;
  size_t start = 0;
  for (size_t i = 0; i <= value.size(); ++i) {
    if (i < value.size()) {
      const char c = value[i];
      if (in_quotes) {
        if (c == '\\' && i + 1 < value.size()) ++i;  // quoted-pair: the next character is literal
        else if (c == '"') in_quotes = false;
        continue;
      }
      if (in_angle) {
        if (c == '>') in_angle = false;
        continue;
      }
      if (c == '"') in_quotes = true;
      else if (c == '<') in_angle = true;
      if (c != ',') continue;
    }
    // RFC 3261 §7.3.1: a comma outside quotes and <> separates list elements.
    auto element = parse_name_addr(value.substr(start, i - start));
    if (!element) return std::nullopt;
    out.push_back(std::move(*element));
    start = i + 1;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<std::string> header_param(const NameAddr& na, std::string_view name) {
  for (const auto& [n, v] : na.params)
    if (detail::iequals(n, name)) return v;
  return std::nullopt;
}

}  // namespace imserver::codec
