#include "tests/client/sip_message.hpp"

#include <cctype>
#include <cstdlib>

namespace imserver::testclient {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Parses a decimal uint32 that makes up the whole of `s` (after trimming).
std::optional<uint32_t> parse_u32(std::string_view s) {
  std::string t = trim(s);
  if (t.empty() || t.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > 0xFFFFFFFFull) return std::nullopt;
  return static_cast<uint32_t>(v);
}

// Position where the header parameters of a name-addr / addr-spec start
// (the first ';' after the URI), or npos.
size_t params_start(const std::string& v) {
  // Skip a quoted display name, then a <...> URI if present.
  size_t i = 0;
  bool in_quotes = false;
  size_t lt = std::string::npos;
  for (; i < v.size(); ++i) {
    char c = v[i];
    if (in_quotes) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      }
      continue;
    }
    if (c == '"') {
      in_quotes = true;
    } else if (c == '<') {
      lt = i;
      break;
    } else if (c == ';') {
      return i;  // addr-spec: parameters start at the first ';'
    }
  }
  if (lt == std::string::npos) return std::string::npos;
  size_t gt = v.find('>', lt);
  if (gt == std::string::npos) return std::string::npos;
  return v.find(';', gt);
}

// Splits "a=b;c;d=e" (already past the leading ';') into lowercase-named
// parameters. Values lose surrounding quotes.
std::vector<std::pair<std::string, std::string>> split_params(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t end = i;
    bool in_quotes = false;
    while (end < s.size()) {
      if (s[end] == '"') in_quotes = !in_quotes;
      if (!in_quotes && (s[end] == ';' || s[end] == ',')) break;
      ++end;
    }
    std::string item = trim(s.substr(i, end - i));
    if (!item.empty()) {
      size_t eq = item.find('=');
      std::string name = eq == std::string::npos ? item : trim(item.substr(0, eq));
      std::string value = eq == std::string::npos ? std::string() : trim(item.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      out.emplace_back(to_lower(name), value);
    }
    if (end >= s.size() || s[end] == ',') break;
    i = end + 1;
  }
  return out;
}

}  // namespace

std::string trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string expand_compact_header(std::string_view name) {
  if (name.size() != 1) return std::string(name);
  switch (lower(name[0])) {
    case 'i': return "Call-ID";
    case 'm': return "Contact";
    case 'l': return "Content-Length";
    case 'c': return "Content-Type";
    case 'e': return "Content-Encoding";
    case 'f': return "From";
    case 't': return "To";
    case 'v': return "Via";
    case 'o': return "Event";
    case 'k': return "Supported";
    case 's': return "Subject";
    case 'r': return "Refer-To";
    case 'b': return "Referred-By";
    case 'x': return "Session-Expires";
    case 'u': return "Allow-Events";
    default: return std::string(name);
  }
}

bool same_header_name(std::string_view a, std::string_view b) {
  return iequals(expand_compact_header(a), expand_compact_header(b));
}

std::optional<std::string> SipMessage::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (same_header_name(n, name)) return v;
  }
  return std::nullopt;
}

std::vector<std::string> SipMessage::headers_named(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : headers) {
    if (same_header_name(n, name)) out.push_back(v);
  }
  return out;
}

bool SipMessage::has_header(std::string_view name) const { return header(name).has_value(); }

uint32_t SipMessage::cseq_number() const {
  auto v = header("CSeq");
  if (!v) return 0;
  std::string t = trim(*v);
  size_t sp = t.find_first_of(" \t");
  return parse_u32(t.substr(0, sp)).value_or(0);
}

std::string SipMessage::cseq_method() const {
  auto v = header("CSeq");
  if (!v) return {};
  std::string t = trim(*v);
  size_t sp = t.find_first_of(" \t");
  if (sp == std::string::npos) return {};
  return trim(t.substr(sp));
}

std::string SipMessage::call_id() const { return header("Call-ID").value_or(""); }
std::string SipMessage::from_tag() const { return tag_of(header("From").value_or("")); }
std::string SipMessage::to_tag() const { return tag_of(header("To").value_or("")); }

std::string SipMessage::top_via_branch() const {
  auto via = header("Via");
  if (!via) return {};
  // Only the first value of a possibly comma-separated line.
  auto values = split_header_list(*via);
  std::string first = values.empty() ? *via : values.front();
  size_t semi = first.find(';');
  if (semi == std::string::npos) return {};
  for (const auto& [n, v] : split_params(std::string_view(first).substr(semi + 1))) {
    if (n == "branch") return v;
  }
  return {};
}

std::string SipMessage::summary() const {
  if (is_request) return method + " " + request_uri;
  return std::to_string(status) + " " + reason + " (" + cseq_method() + ")";
}

std::optional<SipMessage> parse_sip_message(const std::string& raw, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<SipMessage> {
    if (error) *error = why;
    return std::nullopt;
  };
  // Skip leading CRLFs (keep-alives glued in front).
  size_t start = 0;
  while (start < raw.size() && (raw[start] == '\r' || raw[start] == '\n')) ++start;

  // End of the header block: the first empty line (CRLF or bare LF).
  size_t hdr_end = std::string::npos;
  size_t body_start = raw.size();
  for (size_t i = start; i < raw.size(); ++i) {
    if (raw[i] != '\n') continue;
    // Line ends at i; check whether the next line is empty.
    if (i + 1 < raw.size() && raw[i + 1] == '\n') {
      hdr_end = i + 1;
      body_start = i + 2;
      break;
    }
    if (i + 2 < raw.size() && raw[i + 1] == '\r' && raw[i + 2] == '\n') {
      hdr_end = i + 1;
      body_start = i + 3;
      break;
    }
  }
  if (hdr_end == std::string::npos) {
    // Tolerate a message that ends right after its last header line.
    hdr_end = raw.size();
    body_start = raw.size();
  }

  // Split header block into lines.
  std::vector<std::string> lines;
  {
    size_t i = start;
    while (i < hdr_end) {
      size_t nl = raw.find('\n', i);
      if (nl == std::string::npos || nl > hdr_end) nl = hdr_end;
      std::string line = raw.substr(i, nl - i);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(std::move(line));
      i = nl + 1;
    }
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) return fail("empty message");

  SipMessage msg;
  msg.raw = raw;
  const std::string& first = lines.front();
  if (first.rfind("SIP/", 0) == 0) {
    msg.is_request = false;
    size_t sp1 = first.find(' ');
    if (sp1 == std::string::npos) return fail("bad status line: " + first);
    size_t sp2 = first.find(' ', sp1 + 1);
    std::string code = first.substr(sp1 + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp1 - 1);
    auto status = parse_u32(code);
    if (!status || *status < 100 || *status > 699) return fail("bad status code: " + first);
    msg.status = static_cast<int>(*status);
    msg.reason = sp2 == std::string::npos ? std::string() : trim(first.substr(sp2 + 1));
  } else {
    msg.is_request = true;
    size_t sp1 = first.find(' ');
    size_t sp2 = sp1 == std::string::npos ? std::string::npos : first.find(' ', sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) return fail("bad request line: " + first);
    msg.method = first.substr(0, sp1);
    msg.request_uri = first.substr(sp1 + 1, sp2 - sp1 - 1);
    if (first.compare(sp2 + 1, std::string::npos, "SIP/2.0") != 0) {
      return fail("bad request line version: " + first);
    }
  }

  for (size_t li = 1; li < lines.size(); ++li) {
    const std::string& line = lines[li];
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      // Folded continuation of the previous header.
      if (msg.headers.empty()) return fail("continuation line without header");
      std::string& v = msg.headers.back().second;
      std::string more = trim(line);
      if (!more.empty()) v += (v.empty() ? "" : " ") + more;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) return fail("header line without ':': " + line);
    std::string name = trim(line.substr(0, colon));
    if (name.empty()) return fail("empty header name: " + line);
    msg.headers.emplace_back(name, trim(line.substr(colon + 1)));
  }

  msg.body = body_start < raw.size() ? raw.substr(body_start) : std::string();
  if (auto cl = msg.header("Content-Length")) {
    if (auto n = parse_u32(*cl); n && *n < msg.body.size()) msg.body.resize(*n);
  }
  return msg;
}

std::string tag_of(const std::string& name_addr_value) {
  auto v = header_param(name_addr_value, "tag");
  return v ? *v : std::string();
}

std::string uri_of(const std::string& value) {
  size_t lt = std::string::npos;
  bool in_quotes = false;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (in_quotes) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      }
      continue;
    }
    if (c == '"') in_quotes = true;
    if (c == '<') {
      lt = i;
      break;
    }
  }
  if (lt != std::string::npos) {
    size_t gt = value.find('>', lt);
    return trim(value.substr(lt + 1, gt == std::string::npos ? std::string::npos : gt - lt - 1));
  }
  return trim(value.substr(0, value.find(';')));
}

std::optional<std::string> header_param(const std::string& value, const std::string& param) {
  size_t p = params_start(value);
  if (p == std::string::npos) return std::nullopt;
  std::string want = to_lower(param);
  for (const auto& [n, v] : split_params(std::string_view(value).substr(p + 1))) {
    if (n == want) return v;
  }
  return std::nullopt;
}

std::vector<std::string> split_header_list(const std::string& value) {
  std::vector<std::string> out;
  bool in_quotes = false;
  int angle = 0;
  size_t begin = 0;
  for (size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || (value[i] == ',' && !in_quotes && angle == 0)) {
      std::string item = trim(value.substr(begin, i - begin));
      if (!item.empty()) out.push_back(item);
      begin = i + 1;
      continue;
    }
    char c = value[i];
    if (in_quotes) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == '<') {
      ++angle;
    } else if (c == '>' && angle > 0) {
      --angle;
    }
  }
  return out;
}

SubscriptionState parse_subscription_state(const std::string& value) {
  SubscriptionState st;
  std::string v = trim(value);
  size_t semi = v.find(';');
  st.state = to_lower(trim(v.substr(0, semi)));
  if (semi == std::string::npos) return st;
  for (auto& [n, val] : split_params(std::string_view(v).substr(semi + 1))) {
    st.params[n] = val;
    if (n == "reason") st.reason = to_lower(val);
    if (n == "expires") st.expires = parse_u32(val);
    if (n == "retry-after") st.retry_after = parse_u32(val);
  }
  return st;
}

void SipStreamParser::feed(const char* data, size_t size) { buffer_.append(data, size); }

std::optional<std::string> SipStreamParser::pop_raw() {
  // Skip keep-alives: CRLFs in front of a message.
  size_t skip = 0;
  while (skip < buffer_.size() && (buffer_[skip] == '\r' || buffer_[skip] == '\n')) ++skip;
  if (skip > 0) {
    keepalives_ += 1;
    buffer_.erase(0, skip);
  }
  if (buffer_.empty()) return std::nullopt;

  size_t hdr_end = buffer_.find("\r\n\r\n");
  size_t body_start = hdr_end == std::string::npos ? std::string::npos : hdr_end + 4;
  size_t lf_end = buffer_.find("\n\n");
  if (lf_end != std::string::npos && (hdr_end == std::string::npos || lf_end < hdr_end)) {
    hdr_end = lf_end;
    body_start = lf_end + 2;
  }
  if (hdr_end == std::string::npos) return std::nullopt;

  // Find Content-Length among the header lines (long or compact form).
  size_t length = 0;
  bool found = false;
  size_t i = buffer_.find('\n');
  while (i != std::string::npos && i < hdr_end) {
    size_t line_start = i + 1;
    size_t nl = buffer_.find('\n', line_start);
    if (nl == std::string::npos || nl > hdr_end) nl = hdr_end;
    std::string_view line(buffer_.data() + line_start, nl - line_start);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && same_header_name(trim(line.substr(0, colon)), "Content-Length")) {
      if (auto n = parse_u32(line.substr(colon + 1))) {
        length = *n;
        found = true;
      }
      break;
    }
    i = nl < hdr_end ? nl : std::string::npos;
  }
  if (!found) ++missing_content_length_;
  if (buffer_.size() < body_start + length) return std::nullopt;
  std::string raw = buffer_.substr(0, body_start + length);
  buffer_.erase(0, body_start + length);
  return raw;
}

std::optional<SipMessage> SipStreamParser::pop() {
  while (auto raw = pop_raw()) {
    if (auto msg = parse_sip_message(*raw)) return msg;
    ++parse_errors_;
  }
  return std::nullopt;
}

}  // namespace imserver::testclient
