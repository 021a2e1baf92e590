#pragma once
// MSRP framing (RFC 4975 §7.1, §9; SESSIONS.md §8.1): a streaming parser
// that cuts a TCP byte stream into frames, and a serializer for the frames
// the focus sends. Written for this project (Debian ships no MSRP library).
// Pure code: no I/O, never throws on bad input.
//
// A frame is a request or a response:
//   MSRP <tid> <METHOD>\r\n            or   MSRP <tid> <code>[ <comment>]\r\n
//   <headers>\r\n ...                       (To-Path, From-Path, others)
//   [\r\n<body>\r\n]                        only when there is a body section
//   -------<tid><flag>\r\n                  flag: '$' complete, '+' more chunks, '#' abort
// The body section starts after the empty line that ends the headers and
// ends at the CRLF before the end-line; it is kept byte for byte.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imserver::codec::msrp {

enum class EndFlag : char { Complete = '$', More = '+', Abort = '#' };

struct Frame {
  bool is_request = true;
  std::string tid;
  std::string method;   // requests: "SEND", "REPORT", anything else as written
  uint16_t status = 0;  // responses
  std::string comment;  // responses, may be empty
  std::vector<std::pair<std::string, std::string>> headers;  // in order; names as written, values trimmed
  bool has_body_section = false;  // an empty line followed the headers (a body, possibly empty)
  std::string body;
  EndFlag flag = EndFlag::Complete;

  // First header with this name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  // To-Path / From-Path split on white space; empty when the header is absent.
  std::vector<std::string> to_path() const;
  std::vector<std::string> from_path() const;
};

// Byte-Range: <start>-<end|*>/<total|*> (RFC 4975 §9); nullopt when malformed.
struct ByteRange {
  uint64_t start = 1;
  std::optional<uint64_t> end;    // nullopt for '*'
  std::optional<uint64_t> total;  // nullopt for '*'
};
std::optional<ByteRange> parse_byte_range(std::string_view value);

// 4-32 characters of ALPHANUM . - + % =, starting with ALPHANUM (RFC 4975 §9).
bool valid_transaction_id(std::string_view tid);

// Streaming parser for one connection.
class StreamParser {
 public:
  // max_frame_bytes bounds what is buffered for one frame (SESSIONS.md §8.3
  // step 1: max message size + 16 KiB); beyond it without an end-line the
  // stream is broken.
  explicit StreamParser(size_t max_frame_bytes);

  void feed(std::string_view bytes);
  // The next complete frame, or nullopt when more bytes are needed or the
  // stream is broken (check broken()).
  std::optional<Frame> next();

  // A start line or end line that cannot be parsed, a frame over the bound,
  // or a header line without a colon: the connection must be closed.
  bool broken() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  // Where the parser is inside the current frame; each part of the buffer is
  // examined once, however the bytes were split across feed() calls.
  enum class Phase : uint8_t { StartLine, Headers, Body };

  bool take_start_line(std::string_view line);
  bool take_header_line(std::string_view line, size_t line_end);
  std::optional<Frame> finish_frame(size_t frame_end, EndFlag flag);
  void fail(std::string reason);
  void compact();

  size_t max_frame_bytes_;
  std::string buffer_;
  size_t consumed_ = 0;   // bytes of buffer_ already returned as frames
  size_t scan_from_ = 0;  // where the end-line search resumes (avoids rescanning on every feed)
  std::string error_;

  Phase phase_ = Phase::StartLine;
  size_t line_start_ = 0;   // StartLine/Headers: first byte of the line not yet parsed
  size_t body_start_ = 0;   // Body: first byte of the body
  std::string end_marker_;  // Body: "\r\n-------" + tid, the start of the closing delimiter
  Frame pending_;           // the frame being assembled (start line and headers so far)
};

// The frame as bytes: start line, headers in the given order, the body
// section when has_body_section, the end-line with the flag.
std::string serialize(const Frame& frame);

// A response to `request` (RFC 4975 §7.2): same tid, To-Path = the first
// From-Path URI of the request, From-Path = `local_uri`, no body, flag '$'.
Frame make_response(const Frame& request, uint16_t status, std::string_view comment, std::string_view local_uri);

}  // namespace imserver::codec::msrp
