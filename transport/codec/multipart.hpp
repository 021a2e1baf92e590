#pragma once

// multipart/* bodies (RFC 2046 §5.1), enough for an INVITE carrying SDP plus a resource list
// (SESSIONS.md §2.1 C4, RFC 5366 §3). Nested multiparts are not expanded: call split_multipart again on a part.
//
// Pure functions: no I/O, never throw on bad input (they return nullopt).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imserver::codec {

struct BodyPart {
  std::string content_type;         // the part's Content-Type value, trimmed ("" when the part has none;
                                    // RFC 2046 §5.1.1 then means text/plain; charset=us-ascii)
  std::string content_disposition;  // the part's Content-Disposition value, trimmed ("" when absent)
  std::string body;                 // the part's bytes, without the CRLF that belongs to the next delimiter
};

// content_type: the whole Content-Type header value (e.g. `multipart/mixed;boundary="b1"`). Returns nullopt if
// the type is not multipart/*, the boundary parameter is missing or invalid (1..70 characters, RFC 2046 §5.1.1),
// no delimiter line is found, a part's header block is malformed, or no part results. A missing closing
// delimiter is tolerated when at least one part parsed (the last part then runs to the end of the body).
// Preamble and epilogue are ignored; LF-only line endings are accepted.
std::optional<std::vector<BodyPart>> split_multipart(std::string_view content_type, std::string_view body);

// The body of a multipart message with these parts, delimited by `boundary` (the caller puts the same value in
// the Content-Type's boundary parameter and makes sure no part contains it). Each part gets its Content-Type and,
// when set, Content-Disposition header.
std::string build_multipart(const std::vector<BodyPart>& parts, std::string_view boundary);

// "Application/SDP; charset=x" -> "application/sdp" (lower-case, parameters removed, trimmed).
std::string media_type(std::string_view content_type);

}  // namespace imserver::codec
