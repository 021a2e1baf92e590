#include "transport/codec/cpim.hpp"

#include <algorithm>

#include "transport/codec/multipart.hpp"
#include "transport/codec/text_util.hpp"

namespace imserver::codec::cpim {

namespace {

using detail::iequals;
using detail::trim;

enum class Line { Ok, Incomplete, Malformed };

// One CRLF-terminated line starting at `pos`: `line` excludes the CRLF, `next` is the offset after it.
Line take_line(std::string_view body, std::size_t pos, std::string_view& line, std::size_t& next,
               std::string& error) {
  for (std::size_t i = pos; i < body.size(); ++i) {
    char c = body[i];
    if (c == '\0') {
      error = "NUL in a header line at offset " + std::to_string(i);
      return Line::Malformed;
    }
    if (c == '\n') {
      error = "bare LF (CRLF required, RFC 3862 §3.1) at offset " + std::to_string(i);
      return Line::Malformed;
    }
    if (c == '\r') {
      if (i + 1 == body.size()) return Line::Incomplete;  // the LF may be in the next chunk
      if (body[i + 1] != '\n') {
        error = "bare CR in a header line at offset " + std::to_string(i);
        return Line::Malformed;
      }
      line = body.substr(pos, i - pos);
      next = i + 2;
      return Line::Ok;
    }
  }
  return Line::Incomplete;
}

// RFC 3862 §3.1: NAMECHAR = %x21 / %x23-27 / %x2a-2b / %x2d / %x5e-60 / %x7c / %x7e / ALPHA / DIGIT
bool is_namechar(char ch) {
  auto c = static_cast<unsigned char>(ch);
  if (detail::is_alnum(ch)) return true;
  return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a || c == 0x2b || c == 0x2d ||
         (c >= 0x5e && c <= 0x60) || c == 0x7c || c == 0x7e;
}

// Header-name = [ Name-prefix "." ] Name; Name = 1*NAMECHAR.
bool valid_cpim_name(std::string_view name) {
  std::size_t dot = name.find('.');
  auto valid_part = [](std::string_view part) {
    if (part.empty()) return false;
    for (char c : part)
      if (!is_namechar(c)) return false;
    return true;
  };
  if (dot == std::string_view::npos) return valid_part(name);
  return valid_part(name.substr(0, dot)) && valid_part(name.substr(dot + 1));
}

// RFC 5322 §3.6.8: ftext = %d33-57 / %d59-126.
bool valid_mime_name(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || c == ':') return false;
  }
  return true;
}

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string_view rtrim_wsp(std::string_view s) {
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

// Prefix and URI of an NS header value ("imdn <urn:ietf:params:imdn>", "<urn:x>").
bool parse_ns(std::string_view value, std::string& prefix, std::string& uri) {
  std::size_t lt = value.find('<');
  if (lt == std::string_view::npos) return false;
  prefix = std::string(trim(value.substr(0, lt)));
  uri = header_uri(value.substr(lt));
  return !uri.empty();
}

}  // namespace

std::vector<std::string> CpimMessage::all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : headers)
    if (n == name) out.push_back(v);
  return out;
}

const std::string* CpimMessage::first(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return &v;
  return nullptr;
}

const std::string* CpimMessage::mime_header(std::string_view name) const {
  for (const auto& [n, v] : mime_headers)
    if (iequals(n, name)) return &v;
  return nullptr;
}

std::string CpimMessage::content_type() const {
  const std::string* ct = mime_header("Content-Type");
  return ct ? media_type(*ct) : std::string();
}

bool CpimMessage::has_ns(std::string_view ns_uri) const {
  std::string prefix, uri;
  for (const auto& [n, v] : headers)
    if (n == "NS" && parse_ns(v, prefix, uri) && uri == ns_uri) return true;
  return false;
}

std::string CpimMessage::ns_prefix(std::string_view ns_uri) const {
  std::string prefix, uri;
  for (const auto& [n, v] : headers)
    if (n == "NS" && parse_ns(v, prefix, uri) && uri == ns_uri) return prefix;
  return {};
}

std::vector<std::string> CpimMessage::all_ns(std::string_view ns_uri, std::string_view name) const {
  // Every prefix declared for this URI (a sender may declare it more than once).
  std::vector<std::string> full_names;
  std::string prefix, uri;
  for (const auto& [n, v] : headers) {
    if (n != "NS" || !parse_ns(v, prefix, uri) || uri != ns_uri) continue;
    full_names.push_back(prefix.empty() ? std::string(name) : prefix + "." + std::string(name));
  }
  std::vector<std::string> out;
  if (full_names.empty()) return out;
  for (const auto& [n, v] : headers) {
    for (const auto& f : full_names) {
      if (n == f) {
        out.push_back(v);
        break;
      }
    }
  }
  return out;
}

CpimParse parse_cpim(std::string_view body) {
  CpimParse r;
  CpimMessage& m = r.message;
  std::size_t pos = 0;
  std::string_view line;
  std::size_t next = 0;

  // Message headers (RFC 3862 §3.1).
  for (;;) {
    Line got = take_line(body, pos, line, next, r.error);
    if (got == Line::Malformed) return r;
    if (got == Line::Incomplete) {
      r.status = CpimStatus::Incomplete;
      r.error = "message headers not terminated by an empty line";
      return r;
    }
    pos = next;
    if (line.empty()) break;
    if (is_wsp(line.front())) {
      r.error = "message header line starts with white space (no folding in CPIM headers)";
      return r;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      r.error = "message header line without ':'";
      return r;
    }
    std::string_view name = line.substr(0, colon);
    if (!valid_cpim_name(name)) {
      r.error = "invalid message header name '" + std::string(name) + "'";
      return r;
    }
    m.headers.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
  }

  // Encapsulated MIME headers (RFC 2045; RFC 5322 §2.2 for folding).
  for (;;) {
    Line got = take_line(body, pos, line, next, r.error);
    if (got == Line::Malformed) return r;
    if (got == Line::Incomplete) {
      r.status = CpimStatus::Incomplete;
      r.error = "MIME headers not terminated by an empty line";
      return r;
    }
    pos = next;
    if (line.empty()) break;
    if (is_wsp(line.front())) {
      if (m.mime_headers.empty()) {
        r.error = "folded MIME header line without a header before it";
        return r;
      }
      std::string_view more = trim(line);
      std::string& value = m.mime_headers.back().second;
      if (!more.empty()) {
        if (!value.empty()) value += ' ';
        value += more;
      }
      continue;
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      r.error = "MIME header line without ':'";
      return r;
    }
    std::string_view name = rtrim_wsp(line.substr(0, colon));  // obsolete "Name : value" (RFC 5322 §4.5)
    if (!valid_mime_name(name)) {
      r.error = "invalid MIME header name '" + std::string(name) + "'";
      return r;
    }
    m.mime_headers.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
  }

  m.payload_offset = pos;
  m.payload = std::string(body.substr(pos));
  r.status = CpimStatus::Ok;
  r.error.clear();
  return r;
}

std::string header_uri(std::string_view value) {
  std::string_view s = trim(value);
  // Leading header parameters (";lang=fr "): RFC 3862 §3.1 puts them between the colon and the SP.
  while (!s.empty() && s.front() == ';') {
    std::size_t i = 0;
    bool quoted = false;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (quoted) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          quoted = false;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (is_wsp(c)) {
        break;
      }
    }
    if (quoted) return {};
    s = trim(s.substr(std::min(i, s.size())));
  }
  if (s.empty()) return {};

  bool saw_quote = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      saw_quote = true;
      ++i;
      for (; i < s.size() && s[i] != '"'; ++i)
        if (s[i] == '\\') ++i;
      if (i >= s.size()) return {};  // unterminated quoted string
    } else if (c == '<') {
      std::size_t gt = s.find('>', i + 1);
      if (gt == std::string_view::npos) return {};
      return std::string(trim(s.substr(i + 1, gt - i - 1)));
    } else if (c == '>') {
      return {};
    }
  }
  // No angle brackets: a bare URI is accepted if it looks like one.
  if (saw_quote || s.find(':') == std::string_view::npos) return {};
  for (char c : s)
    if (is_wsp(c)) return {};
  return std::string(s);
}

std::string serialize(const CpimMessage& message) {
  std::string out;
  for (const auto& [n, v] : message.headers) out += n + ": " + v + "\r\n";
  out += "\r\n";
  for (const auto& [n, v] : message.mime_headers) out += n + ": " + v + "\r\n";
  out += "\r\n";
  out += message.payload;
  return out;
}

}  // namespace imserver::codec::cpim
