#include "transport/codec/multipart.hpp"

#include "transport/codec/text_util.hpp"

namespace imserver::codec {

using detail::iequals;
using detail::trim;

namespace {

constexpr size_t npos = std::string_view::npos;

// Finds a Content-Type parameter (RFC 2045 §5.1: parameter := attribute "=" value, value := token /
// quoted-string; attribute names are case-insensitive). nullopt if absent or the parameter list is malformed.
std::optional<std::string> content_type_param(std::string_view ct, std::string_view wanted) {
  size_t pos = ct.find(';');
  if (pos == npos) return std::nullopt;
  auto skip_ws = [&] {
    while (pos < ct.size() && detail::is_ws(ct[pos])) ++pos;
  };
  while (pos < ct.size()) {
    if (ct[pos] != ';') return std::nullopt;
    ++pos;
    skip_ws();
    if (pos >= ct.size()) break;  // tolerate a trailing ';'
    const size_t name_start = pos;
    while (pos < ct.size() && detail::is_token_char(ct[pos])) ++pos;
    const std::string_view name = ct.substr(name_start, pos - name_start);
    if (name.empty()) return std::nullopt;
    skip_ws();
    if (pos >= ct.size() || ct[pos] != '=') return std::nullopt;
    ++pos;
    skip_ws();
    std::string value;
    if (pos < ct.size() && ct[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < ct.size()) {
        const char c = ct[pos++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && pos < ct.size()) value.push_back(ct[pos++]);
        else value.push_back(c);
      }
      if (!closed) return std::nullopt;
    } else {
      const size_t v_start = pos;
      while (pos < ct.size() && ct[pos] != ';' && !detail::is_ws(ct[pos])) ++pos;
      value = std::string(ct.substr(v_start, pos - v_start));
    }
    if (iequals(name, wanted)) return value;
    skip_ws();
  }
  return std::nullopt;
}

// RFC 2046 §5.1.1: boundary := 0*69<bchars> bcharsnospace.
bool valid_boundary(std::string_view b) {
  if (b.empty() || b.size() > 70 || b.back() == ' ') return false;
  for (char c : b)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

// Parses one encapsulated part: MIME headers (RFC 2045 §3, with folding), an empty line, the body.
// A part that ends inside its header block is accepted with an empty body.
std::optional<BodyPart> parse_part(std::string_view part) {
  BodyPart out;
  std::string* last = nullptr;
  std::string other;  // value sink for headers we do not keep (needed for continuation lines)
  bool have_ct = false;
  bool have_cd = false;
  size_t pos = 0;
  while (pos < part.size()) {
    const size_t nl = part.find('\n', pos);
    const size_t next = nl == npos ? part.size() : nl + 1;
    std::string_view line = part.substr(pos, (nl == npos ? part.size() : nl) - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = next;
    if (line.empty()) {
      out.body = std::string(part.substr(pos));
      break;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (last == nullptr) return std::nullopt;  // continuation with nothing to continue
      const std::string_view more = trim(line);
      if (!more.empty()) {
        if (!last->empty()) last->push_back(' ');
        last->append(more);
      }
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == npos) return std::nullopt;
    const std::string_view name = trim(line.substr(0, colon));
    if (!detail::is_token(name)) return std::nullopt;
    const std::string value(trim(line.substr(colon + 1)));
    if (iequals(name, "Content-Type") && !have_ct) {
      out.content_type = value;
      have_ct = true;
      last = &out.content_type;
    } else if (iequals(name, "Content-Disposition") && !have_cd) {
      out.content_disposition = value;
      have_cd = true;
      last = &out.content_disposition;
    } else {
      other = value;
      last = &other;
    }
  }
  return out;
}

}  // namespace

std::string media_type(std::string_view content_type) {
  return detail::to_lower(trim(content_type.substr(0, content_type.find(';'))));
}

std::optional<std::vector<BodyPart>> split_multipart(std::string_view content_type, std::string_view body) {
  if (!detail::istarts_with(media_type(content_type), "multipart/")) return std::nullopt;
  const auto boundary = content_type_param(content_type, "boundary");
  if (!boundary || !valid_boundary(*boundary)) return std::nullopt;
  const std::string dash_boundary = "--" + *boundary;

  std::vector<BodyPart> parts;
  size_t part_start = npos;  // npos while still in the preamble
  bool closed = false;
  size_t line = 0;
  while (line < body.size()) {
    const size_t nl = body.find('\n', line);
    const size_t line_end = nl == npos ? body.size() : nl;
    const size_t next_line = nl == npos ? body.size() : nl + 1;

    // A delimiter line is "--boundary" at the start of a line, optionally followed by "--" (close delimiter),
    // then only transport padding (LWSP) up to the line end (RFC 2046 §5.1.1).
    std::string_view text = body.substr(line, line_end - line);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    bool is_delim = false;
    bool is_close = false;
    if (text.size() >= dash_boundary.size() && text.compare(0, dash_boundary.size(), dash_boundary) == 0) {
      std::string_view tail = text.substr(dash_boundary.size());
      if (tail.size() >= 2 && tail[0] == '-' && tail[1] == '-') {
        is_close = true;
        tail.remove_prefix(2);
      }
      is_delim = true;
      for (char c : tail)
        if (c != ' ' && c != '\t') is_delim = false;
    }

    if (is_delim) {
      if (part_start != npos) {
        // The line break before the delimiter is part of the delimiter, not of the body part.
        size_t end = line;
        if (end > part_start && body[end - 1] == '\n') --end;
        if (end > part_start && body[end - 1] == '\r') --end;
        auto part = parse_part(body.substr(part_start, end - part_start));
        if (!part) return std::nullopt;
        parts.push_back(std::move(*part));
      }
      if (is_close) {
        closed = true;
        break;  // the rest is the epilogue
      }
      part_start = next_line;
    }
    line = next_line;
  }

  if (part_start == npos) return std::nullopt;  // no delimiter at all
  if (!closed && part_start < body.size()) {
    // Truncated body: keep the unterminated last part if it is well-formed.
    auto part = parse_part(body.substr(part_start));
    if (!part) return std::nullopt;
    parts.push_back(std::move(*part));
  }
  if (parts.empty()) return std::nullopt;
  return parts;
}

std::string build_multipart(const std::vector<BodyPart>& parts, std::string_view boundary) {
  std::string out;
  for (const auto& p : parts) {
    out += "--";
    out += boundary;
    out += "\r\n";
    if (!p.content_type.empty()) out += "Content-Type: " + p.content_type + "\r\n";
    if (!p.content_disposition.empty()) out += "Content-Disposition: " + p.content_disposition + "\r\n";
    out += "\r\n";
    out += p.body;
    // RFC 2046 §5.1.1: the CRLF before the next delimiter belongs to it.
    out += "\r\n";
  }
  out += "--";
  out += boundary;
  out += "--\r\n";
  return out;
}

}  // namespace imserver::codec
