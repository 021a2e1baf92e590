#pragma once

// message/cpim bodies (RFC 3862), as carried in MSRP SEND requests inside a group session
// (SESSIONS.md §8.3 step 10, §8.9):
//
//   From: <sip:alice@example.com>\r\n             message headers (RFC 3862 §3): one per line, names
//   To: <sip:gs-1@im.example.com>\r\n             case-sensitive, optional "prefix." declared by NS,
//   NS: imdn <urn:ietf:params:imdn>\r\n           no folding, order kept
//   imdn.Message-ID: x1\r\n
//   \r\n
//   Content-Type: text/plain;charset=UTF-8\r\n     encapsulated MIME headers (RFC 2045): names
//   \r\n                                           case-insensitive, folding allowed
//   Hello team                                     payload, byte for byte
//
// Line endings must be CRLF. RFC 3862 §3.1 requires them, and the focus forwards the body byte-identical
// (§8.5), so it cannot normalise bare LFs either: a recipient that follows the RFC would then misread the
// copy. Accepting LF-only bodies would also make "headers complete?" ambiguous while chunks are still
// arriving (is "...\n" + "\r\n" two line ends or one?). A bare LF, a bare CR or a NUL in either header
// block is therefore Malformed.
//
// Pure functions: no I/O, never throw on bad input.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imserver::codec::cpim {

struct CpimMessage {
  // Message headers in order. Names exactly as written (including any "prefix."); values trimmed of
  // surrounding white space, otherwise as written (leading ";lang=.." parameters stay in the value).
  std::vector<std::pair<std::string, std::string>> headers;
  // Encapsulated MIME headers in order, folded lines joined with one space; names as written.
  std::vector<std::pair<std::string, std::string>> mime_headers;
  // Everything after the empty line that ends the MIME headers (possibly only a part of it, when the
  // body is still arriving in chunks).
  std::string payload;
  // Offset in the parsed body where the payload starts (= the size of both header blocks with their
  // empty lines).
  std::size_t payload_offset = 0;

  // Values of every message header with exactly this name (case-sensitive, RFC 3862 §2.2), in order.
  std::vector<std::string> all(std::string_view name) const;
  // The first such value, or nullptr.
  const std::string* first(std::string_view name) const;
  // The first encapsulated MIME header with this name (case-insensitive), or nullptr.
  const std::string* mime_header(std::string_view name) const;
  // The wrapped type: the MIME Content-Type lowercased, parameters stripped ("text/plain");
  // "" when the MIME headers have no Content-Type (RFC 2045 §5.2 would then mean text/plain; the caller
  // decides).
  std::string content_type() const;

  // Namespaces (RFC 3862 §3.3, §4.6). "NS: imdn <urn:ietf:params:imdn>" declares the prefix "imdn";
  // "NS: <urn:x>" declares the default namespace (prefix ""). has_ns: some NS header names this URI
  // exactly. ns_prefix: the prefix of the first such header ("" also when undeclared: check has_ns).
  bool has_ns(std::string_view ns_uri) const;
  std::string ns_prefix(std::string_view ns_uri) const;
  // Values of `name` in the namespace `ns_uri`, whatever prefix the sender chose for it
  // ("imdn.Message-ID" or "foo.Message-ID" with NS: foo <urn:ietf:params:imdn>). Empty when the namespace
  // is not declared.
  std::vector<std::string> all_ns(std::string_view ns_uri, std::string_view name) const;
};

enum class CpimStatus {
  Ok,          // both header blocks are complete; payload holds whatever follows
  Incomplete,  // an empty line is still missing (more chunks may complete it; on a complete body it
               // means the body is not CPIM: treat as malformed)
  Malformed,   // a header line that cannot be right whatever follows
};

struct CpimParse {
  CpimStatus status = CpimStatus::Malformed;
  CpimMessage message;  // filled as far as parsed (complete header lines only)
  std::string error;    // why Malformed / what is missing, for logs
};

// Parses a message/cpim body (or its first part, while chunks arrive). Missing From/To are not an error
// here (SESSIONS.md §8.3 10a is the caller's check): the lists are just empty.
//
// Malformed:
//   * a bare LF, a bare CR or a NUL in either header block;
//   * a message header line without ':', with an empty name, with a name that is not
//     [Name-prefix "."] Name (RFC 3862 §3.1 NAMECHAR), or beginning with white space (no folding);
//   * a MIME header line without ':' or with an invalid field name (RFC 5322 §3.6.8), or a folded line
//     with nothing before it.
CpimParse parse_cpim(std::string_view body);

// The URI of a From / To / cc header value: "<sip:alice@example.com>" and "Alice <sip:a@b>" and
// "\"Smith, A <x>\" <sip:a@b>" give "sip:a@b"; leading ";lang=.." parameters are skipped; a bare
// "sip:a@b" (not RFC 3862 but seen in the wild) gives itself, trimmed. "" when there is no URI or the
// brackets or quotes do not balance.
std::string header_uri(std::string_view value);

// The body for these parts: each header as "Name: value\r\n", an empty line, each MIME header, an empty
// line, the payload. parse_cpim(serialize(m)) gives back m's headers and payload.
std::string serialize(const CpimMessage& message);

}  // namespace imserver::codec::cpim
