#include "transport/codec/msrp_frame.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "transport/codec/text_util.hpp"

namespace imserver::codec::msrp {

using detail::iequals;
using detail::is_alnum;
using detail::is_alpha;
using detail::is_digit;
using detail::is_token;
using detail::trim;

namespace {

constexpr std::string_view kStartPrefix = "MSRP ";
constexpr std::string_view kEndDashes = "-------";
constexpr std::string_view kCrlf = "\r\n";

// Compacting only once the consumed prefix is both large in absolute terms and at
// least half the buffer keeps the memmove cost amortised O(1) per byte.
constexpr size_t kCompactMinBytes = 16 * 1024;

bool is_flag(char c) { return c == '$' || c == '+' || c == '#'; }

std::vector<std::string> split_path(const std::string* value) {
  std::vector<std::string> uris;
  if (value == nullptr) return uris;
  const std::string_view s = *value;
  size_t pos = 0;
  while (pos < s.size()) {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
    const size_t start = pos;
    while (pos < s.size() && s[pos] != ' ' && s[pos] != '\t') ++pos;
    if (pos > start) uris.emplace_back(s.substr(start, pos - start));
  }
  return uris;
}

// 1*DIGIT into a uint64_t; rejects empty input, non-digits and overflow.
std::optional<uint64_t> parse_decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// `range-end` and `total` may be '*' (unknown).
std::optional<std::optional<uint64_t>> parse_decimal_or_star(std::string_view s) {
  if (s == "*") return std::optional<uint64_t>{};
  auto value = parse_decimal(s);
  if (!value) return std::nullopt;
  return std::optional<uint64_t>{*value};
}

}  // namespace

// ---------------------------------------------------------------------------
// Frame

const std::string* Frame::header(std::string_view name) const {
  for (const auto& [header_name, value] : headers)
    if (iequals(header_name, name)) return &value;
  return nullptr;
}

std::vector<std::string> Frame::to_path() const { return split_path(header("To-Path")); }
std::vector<std::string> Frame::from_path() const { return split_path(header("From-Path")); }

// ---------------------------------------------------------------------------
// Field helpers

std::optional<ByteRange> parse_byte_range(std::string_view value) {
  value = trim(value);
  const size_t dash = value.find('-');
  const size_t slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return std::nullopt;

  const auto start = parse_decimal(value.substr(0, dash));
  const auto end = parse_decimal_or_star(value.substr(dash + 1, slash - dash - 1));
  const auto total = parse_decimal_or_star(value.substr(slash + 1));
  if (!start || !end || !total) return std::nullopt;

  // Byte positions are 1-based; "1-0/0" (an empty chunk) is the one place an end
  // below the start is legal, so end may be start - 1 but not less.
  if (*start < 1) return std::nullopt;
  if (*end && **end + 1 < *start) return std::nullopt;
  if (*total) {
    if (*end && **end > **total) return std::nullopt;
    if (*start - 1 > **total) return std::nullopt;
  }
  return ByteRange{*start, *end, *total};
}

bool valid_transaction_id(std::string_view tid) {
  if (tid.size() < 4 || tid.size() > 32) return false;
  if (!is_alnum(tid.front())) return false;
  for (char c : tid) {
    if (is_alnum(c)) continue;
    if (c == '.' || c == '-' || c == '+' || c == '%' || c == '=') continue;
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// StreamParser

StreamParser::StreamParser(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void StreamParser::fail(std::string reason) {
  error_ = std::move(reason);
  // Nothing more will be parsed; release the memory the peer made us hold.
  std::string().swap(buffer_);
  consumed_ = scan_from_ = line_start_ = body_start_ = 0;
}

void StreamParser::compact() {
  if (consumed_ == 0) return;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();  // keeps the capacity for the next feed
  } else if (consumed_ >= kCompactMinBytes && consumed_ * 2 >= buffer_.size()) {
    buffer_.erase(0, consumed_);
  } else {
    return;
  }
  // Every saved position is at or after consumed_ (they all belong to the frame in progress).
  scan_from_ -= consumed_;
  line_start_ -= consumed_;
  body_start_ = body_start_ >= consumed_ ? body_start_ - consumed_ : 0;
  consumed_ = 0;
}

void StreamParser::feed(std::string_view bytes) {
  if (broken() || bytes.empty()) return;
  compact();
  buffer_.append(bytes.data(), bytes.size());
}

bool StreamParser::take_start_line(std::string_view line) {
  // "MSRP" SP transact-id SP ( method / status-code [SP comment] )  (RFC 4975 §9)
  if (line.substr(0, kStartPrefix.size()) != kStartPrefix) {
    fail("start line does not begin with \"MSRP \"");
    return false;
  }
  line.remove_prefix(kStartPrefix.size());
  const size_t space = line.find(' ');
  if (space == std::string_view::npos) {
    fail("start line has no method or status code");
    return false;
  }
  const std::string_view tid = line.substr(0, space);
  if (!valid_transaction_id(tid)) {
    fail("start line has an invalid transaction id");
    return false;
  }
  const std::string_view rest = line.substr(space + 1);

  pending_ = Frame{};
  pending_.tid = std::string(tid);

  // A word starting with a digit can only be a status code, which must be exactly
  // three digits; this is what keeps "20" or "2000" from passing as a method.
  if (!rest.empty() && is_digit(rest.front())) {
    const bool three_digits = rest.size() >= 3 && is_digit(rest[1]) && is_digit(rest[2]) &&
                              (rest.size() == 3 || rest[3] == ' ');
    if (!three_digits) {
      fail("start line has a status code that is not three digits");
      return false;
    }
    pending_.is_request = false;
    pending_.status = static_cast<uint16_t>((rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0'));
    if (rest.size() > 4) pending_.comment = std::string(rest.substr(4));
    return true;
  }
  // RFC 4975 wants UPALPHA *UPALPHANUM; any token starting with a letter is taken
  // so that an unusual method reaches the 501 logic instead of killing the connection.
  if (rest.empty() || !is_alpha(rest.front()) || !is_token(rest)) {
    fail("start line has an invalid method");
    return false;
  }
  pending_.is_request = true;
  pending_.method = std::string(rest);
  return true;
}

bool StreamParser::take_header_line(std::string_view line, size_t line_end) {
  const std::string_view tid = pending_.tid;
  // A bodiless frame: the end-line directly follows the headers.
  if (line.size() == kEndDashes.size() + tid.size() + 1 && line.substr(0, kEndDashes.size()) == kEndDashes &&
      line.substr(kEndDashes.size(), tid.size()) == tid && is_flag(line.back())) {
    return true;
  }
  if (line.empty()) {
    // The empty line opens the body section; the body runs up to "\r\n-------<tid>".
    phase_ = Phase::Body;
    body_start_ = line_end;
    scan_from_ = line_end;
    end_marker_.assign(kCrlf.data(), kCrlf.size());
    end_marker_.append(kEndDashes.data(), kEndDashes.size());
    end_marker_.append(tid.data(), tid.size());
    return false;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    // Named apart from other colon-less lines because a peer that mixes up
    // transaction ids is a different bug to look for than plain garbage.
    fail(line.substr(0, kEndDashes.size()) == kEndDashes ? "end-line does not match the start line's transaction id"
                                                         : "header line without a colon");
    return false;
  }
  const std::string_view name = line.substr(0, colon);
  if (!is_token(name)) {
    fail("header name is not a token");
    return false;
  }
  pending_.headers.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
  return false;
}

std::optional<Frame> StreamParser::finish_frame(size_t frame_end, EndFlag flag) {
  // The bound holds for complete frames too, so the outcome does not depend on how
  // the bytes happened to be split across feed() calls.
  if (frame_end - consumed_ > max_frame_bytes_) {
    fail("frame larger than " + std::to_string(max_frame_bytes_) + " bytes");
    return std::nullopt;
  }
  pending_.flag = flag;
  consumed_ = frame_end;
  scan_from_ = line_start_ = frame_end;
  phase_ = Phase::StartLine;
  return std::move(pending_);  // take_start_line() resets it for the next frame
}

std::optional<Frame> StreamParser::next() {
  if (broken()) return std::nullopt;

  while (phase_ != Phase::Body) {
    const char* base = buffer_.data();
    const size_t size = buffer_.size();
    const void* found = scan_from_ < size ? std::memchr(base + scan_from_, '\n', size - scan_from_) : nullptr;
    if (found == nullptr) {
      scan_from_ = size;
      // Reject a stream that is not MSRP as soon as its first bytes show it, rather
      // than after buffering a whole frame's worth of it.
      if (phase_ == Phase::StartLine) {
        const size_t have = std::min(size - line_start_, kStartPrefix.size());
        if (std::string_view(base + line_start_, have) != kStartPrefix.substr(0, have)) {
          fail("start line does not begin with \"MSRP \"");
          return std::nullopt;
        }
      }
      break;
    }
    const size_t lf = static_cast<size_t>(static_cast<const char*>(found) - base);
    if (lf == line_start_ || base[lf - 1] != '\r') {
      fail("line not terminated by CRLF");
      return std::nullopt;
    }
    const std::string_view line(base + line_start_, lf - 1 - line_start_);
    const size_t line_end = lf + 1;
    line_start_ = scan_from_ = line_end;

    if (phase_ == Phase::StartLine) {
      if (!take_start_line(line)) return std::nullopt;
      phase_ = Phase::Headers;
      continue;
    }
    const bool bodiless_end = take_header_line(line, line_end);
    if (broken()) return std::nullopt;
    if (bodiless_end) return finish_frame(line_end, static_cast<EndFlag>(line.back()));
  }

  if (phase_ == Phase::Body) {
    // Closing delimiter: "\r\n-------" tid flag "\r\n". A match of the marker that is
    // not followed by a flag and CRLF (e.g. a longer tid with this one as prefix) is
    // body content, so the search continues past it.
    const std::string_view data(buffer_);
    const size_t marker = end_marker_.size();
    const size_t delimiter = marker + 1 + kCrlf.size();
    while (true) {
      const size_t at = data.find(end_marker_, scan_from_);
      if (at == std::string_view::npos) {
        // Part of the marker may already sit at the end of the buffer: resume where it could start.
        const size_t keep = marker - 1;
        scan_from_ = std::max(body_start_, data.size() > keep ? data.size() - keep : 0);
        break;
      }
      if (data.size() - at < delimiter) {
        scan_from_ = at;  // marker found but flag/CRLF not here yet
        break;
      }
      const char flag = data[at + marker];
      if (is_flag(flag) && data.substr(at + marker + 1, kCrlf.size()) == kCrlf) {
        pending_.has_body_section = true;
        pending_.body.assign(data.data() + body_start_, at - body_start_);
        return finish_frame(at + delimiter, static_cast<EndFlag>(flag));
      }
      scan_from_ = at + 1;
    }
  }

  if (buffered() > max_frame_bytes_)
    fail("frame larger than " + std::to_string(max_frame_bytes_) + " bytes without an end-line");
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Serializer

std::string serialize(const Frame& frame) {
  size_t size = kStartPrefix.size() + frame.tid.size() + 1 + frame.method.size() + 4 + frame.comment.size() + 2;
  for (const auto& [name, value] : frame.headers) size += name.size() + 2 + value.size() + 2;
  if (frame.has_body_section) size += 2 + frame.body.size() + 2;
  size += kEndDashes.size() + frame.tid.size() + 1 + 2;

  std::string out;
  out.reserve(size);
  out.append(kStartPrefix.data(), kStartPrefix.size());
  out += frame.tid;
  out += ' ';
  if (frame.is_request) {
    out += frame.method;
  } else {
    char code[8];
    std::snprintf(code, sizeof code, "%03u", static_cast<unsigned>(frame.status % 1000));
    out += code;
    if (!frame.comment.empty()) {
      out += ' ';
      out += frame.comment;
    }
  }
  out.append(kCrlf.data(), kCrlf.size());
  for (const auto& [name, value] : frame.headers) {
    out += name;
    out += ": ";
    out += value;
    out.append(kCrlf.data(), kCrlf.size());
  }
  if (frame.has_body_section) {
    out.append(kCrlf.data(), kCrlf.size());
    out += frame.body;
    out.append(kCrlf.data(), kCrlf.size());
  }
  out.append(kEndDashes.data(), kEndDashes.size());
  out += frame.tid;
  out += static_cast<char>(frame.flag);
  out.append(kCrlf.data(), kCrlf.size());
  return out;
}

Frame make_response(const Frame& request, uint16_t status, std::string_view comment, std::string_view local_uri) {
  Frame response;
  response.is_request = false;
  response.tid = request.tid;
  response.status = status;
  response.comment = std::string(comment);
  const std::vector<std::string> from = request.from_path();
  // A request without From-Path still gets a well-ordered response (To-Path first,
  // From-Path second); the empty To-Path makes the gap visible rather than hidden.
  response.headers.emplace_back("To-Path", from.empty() ? std::string() : from.front());
  response.headers.emplace_back("From-Path", std::string(local_uri));
  response.flag = EndFlag::Complete;
  return response;
}

}  // namespace imserver::codec::msrp
