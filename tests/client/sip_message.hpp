// SIP message model and parsers for the project's own test client.
//
// Integration tests read what the real server put on the wire through these
// types: SipMessage (one parsed request or response), the name-addr helpers
// tag_of()/uri_of(), Subscription-State parsing, and SipStreamParser, which
// splits a TCP byte stream into messages by Content-Length.
//
// The parser is deliberately forgiving (a test wants to see what arrived, not
// a parse error), but it never guesses: a header that is absent is absent.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace imserver::testclient {

struct SipMessage {
  bool is_request = false;
  std::string method;       // requests only
  std::string request_uri;  // requests only
  int status = 0;           // responses only
  std::string reason;       // responses only
  // Every header line in order: name as received, value trimmed (folded
  // continuation lines joined with one space).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string raw;  // the message exactly as received (or as built)

  // Filled in by the receiver (SipUa): when and from where it arrived.
  std::chrono::steady_clock::time_point received_at{};
  std::string source_ip;
  uint16_t source_port = 0;
  // Status SipUa answered this request with by itself (automatic BYE /
  // NOTIFY answers); 0 when it did not.
  int answered_with = 0;

  // First header with this name, case-insensitive; RFC 3261 compact forms
  // are treated as their long names (both for `name` and for the headers).
  std::optional<std::string> header(std::string_view name) const;
  // Every value of this header in order (one entry per header line: a
  // comma-separated Via line stays one entry).
  std::vector<std::string> headers_named(std::string_view name) const;
  bool has_header(std::string_view name) const;

  // CSeq number and method; 0 / "" when missing or malformed.
  uint32_t cseq_number() const;
  std::string cseq_method() const;

  // Shortcuts: Call-ID value, tag of From / To ("" when absent).
  std::string call_id() const;
  std::string from_tag() const;
  std::string to_tag() const;
  // Branch parameter of the first Via ("" when absent).
  std::string top_via_branch() const;

  // One line, for logs: "INVITE sip:x" or "200 OK (INVITE)".
  std::string summary() const;
};

// Parses one complete message (a UDP datagram, or one popped from
// SipStreamParser). Returns nullopt (and a reason in *error) when the start
// line or the header block is unusable. The body is everything after the
// blank line, cut to Content-Length when that is shorter.
std::optional<SipMessage> parse_sip_message(const std::string& raw, std::string* error = nullptr);

// Long form of a header name: "i" -> "Call-ID"; other names unchanged.
std::string expand_compact_header(std::string_view name);
// Case-insensitive header-name equality, compact forms included.
bool same_header_name(std::string_view a, std::string_view b);
bool iequals(std::string_view a, std::string_view b);
std::string trim(std::string_view s);
std::string to_lower(std::string_view s);

// ;tag= parameter of a name-addr / addr-spec header value ("" when absent).
std::string tag_of(const std::string& name_addr_value);
// The URI of a name-addr (inside <...>) or addr-spec (up to the first ';').
std::string uri_of(const std::string& name_addr_value);
// Value of a header parameter (after the URI part), lowercase name; nullopt
// when absent, "" for a flag parameter such as ";isfocus".
std::optional<std::string> header_param(const std::string& name_addr_value, const std::string& param);
// Splits a header value at top-level commas (not inside quotes or <...>).
std::vector<std::string> split_header_list(const std::string& value);

struct SubscriptionState {
  std::string state;   // "active", "pending", "terminated" (lowercased)
  std::string reason;  // "" when absent
  std::optional<uint32_t> expires;
  std::optional<uint32_t> retry_after;
  std::map<std::string, std::string> params;  // every parameter, lowercase names
};
SubscriptionState parse_subscription_state(const std::string& value);

// Splits a TCP byte stream into SIP messages. Content-Length is required on
// a stream; a message without it is taken as having an empty body and
// counted in missing_content_length(). CRLF keep-alives ("\r\n" or
// "\r\n\r\n") between messages are skipped and counted.
class SipStreamParser {
 public:
  void feed(const char* data, size_t size);
  void feed(std::string_view data) { feed(data.data(), data.size()); }
  // The next complete message's raw text, if one is buffered.
  std::optional<std::string> pop_raw();
  // The next complete message, parsed. A message that does not parse is
  // dropped and counted in parse_errors().
  std::optional<SipMessage> pop();

  size_t buffered() const { return buffer_.size(); }
  size_t keepalives() const { return keepalives_; }
  size_t missing_content_length() const { return missing_content_length_; }
  size_t parse_errors() const { return parse_errors_; }

 private:
  std::string buffer_;
  size_t keepalives_ = 0;
  size_t missing_content_length_ = 0;
  size_t parse_errors_ = 0;
};

}  // namespace imserver::testclient
