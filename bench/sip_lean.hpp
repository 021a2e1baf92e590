#pragma once
// What the load tools that speak SIP themselves share (fanout_bench and
// tools/imbench): a lean parse of one SIP message into views of the raw
// header lines (just enough to answer a request or match a response, no
// copies, no full model: these run at 100k+ messages/s on one thread),
// framing of a TCP stream by Content-Length, a UDP socket on loopback with
// big buffers, random hex and the monotonic clock in nanoseconds.
//
// The project's full parser is tests/client/sip_message.hpp; it copies
// every header into strings, which is right for tests and too slow here.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace imserver::bench {

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

inline std::string_view trim_view(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Views into one message. Lines are whole header lines without CRLF;
// values are trimmed. Absent headers are empty views.
struct Lean {
  std::string_view start_line;
  bool is_response = false;
  int status = 0;                 // responses
  std::string_view method;        // requests
  std::string_view request_uri;   // requests
  std::vector<std::string_view> via_lines;  // whole lines, without CRLF
  std::string_view from_line, to_line, call_id_line, cseq_line;
  std::string_view call_id, cseq, branch, subscription_state, body;
  std::string_view contact;  // first Contact value
  std::string_view to;       // To value
  std::string_view etag;     // SIP-ETag value
  long content_length = -1;  // -1 when absent
};

// The ;tag= parameter of a From/To value ("" when absent).
inline std::string_view tag_param(std::string_view value) {
  size_t close = value.find('>');
  size_t from = close == std::string_view::npos ? 0 : close;
  size_t t = value.find(";tag=", from);
  if (t == std::string_view::npos) return {};
  std::string_view tag = value.substr(t + 5);
  return tag.substr(0, tag.find_first_of(";, \t>"));
}

// The URI inside <...>, or the addr-spec up to the first ';'.
inline std::string_view uri_in(std::string_view value) {
  size_t open = value.find('<');
  if (open != std::string_view::npos) {
    size_t close = value.find('>', open);
    if (close != std::string_view::npos) return value.substr(open + 1, close - open - 1);
  }
  return trim_view(value.substr(0, value.find(';')));
}

// CSeq method of "<n> <METHOD>".
inline std::string_view cseq_method(std::string_view cseq) {
  size_t sp = cseq.find(' ');
  return sp == std::string_view::npos ? std::string_view() : trim_view(cseq.substr(sp + 1));
}

inline bool lean_parse(std::string_view m, Lean& out) {
  size_t end = m.find("\r\n\r\n");
  if (end == std::string_view::npos) return false;
  out.body = m.substr(end + 4);
  std::string_view head = m.substr(0, end);
  size_t pos = 0;
  bool first = true;
  while (pos <= head.size()) {
    size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = head.size();
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (first) {
      out.start_line = line;
      first = false;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = trim_view(line.substr(0, colon));
    std::string_view value = trim_view(line.substr(colon + 1));
    if (iequal(name, "Via") || iequal(name, "v")) {
      if (out.via_lines.empty()) {
        size_t b = value.find("branch=");
        if (b != std::string_view::npos) {
          std::string_view br = value.substr(b + 7);
          out.branch = br.substr(0, br.find_first_of(";, "));
        }
      }
      out.via_lines.push_back(line);
    } else if (iequal(name, "From") || iequal(name, "f")) {
      out.from_line = line;
    } else if (iequal(name, "To") || iequal(name, "t")) {
      out.to_line = line;
      out.to = value;
    } else if (iequal(name, "Call-ID") || iequal(name, "i")) {
      out.call_id_line = line;
      out.call_id = value;
    } else if (iequal(name, "CSeq")) {
      out.cseq_line = line;
      out.cseq = value;
    } else if (iequal(name, "Subscription-State")) {
      out.subscription_state = value;
    } else if (iequal(name, "Contact") || iequal(name, "m")) {
      if (out.contact.empty()) out.contact = value;
    } else if (iequal(name, "Content-Length") || iequal(name, "l")) {
      long n = 0;
      for (char c : value) {
        if (c < '0' || c > '9') break;
        n = n * 10 + (c - '0');
      }
      out.content_length = n;
    } else if (iequal(name, "SIP-ETag")) {
      out.etag = value;
    }
  }
  if (out.content_length >= 0 && static_cast<size_t>(out.content_length) < out.body.size())
    out.body = out.body.substr(0, static_cast<size_t>(out.content_length));
  if (out.start_line.substr(0, 8) == "SIP/2.0 ") {
    out.is_response = true;
    int s = 0;
    for (size_t i = 8; i < 11 && i < out.start_line.size(); ++i) s = s * 10 + (out.start_line[i] - '0');
    out.status = s;
  } else {
    size_t sp = out.start_line.find(' ');
    out.method = out.start_line.substr(0, sp);
    if (sp != std::string_view::npos) {
      std::string_view rest = out.start_line.substr(sp + 1);
      out.request_uri = rest.substr(0, rest.find(' '));
    }
  }
  return !out.start_line.empty() && !out.call_id.empty();
}

// Length of the first complete message in a TCP stream buffer (header,
// blank line and Content-Length octets of body), 0 when it is not complete
// yet. Leading CRLF keep-alives count as a message of their own length with
// `*keepalive` set. A header block without Content-Length has an empty body
// (RFC 3261 §18.3 makes it mandatory on streams).
inline size_t sip_frame_length(std::string_view buf, bool* keepalive) {
  *keepalive = false;
  size_t crlf = 0;
  while (crlf + 1 < buf.size() && buf[crlf] == '\r' && buf[crlf + 1] == '\n') crlf += 2;
  if (crlf) {
    *keepalive = true;
    return crlf;
  }
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  std::string_view head = buf.substr(0, end + 2);
  long length = 0;
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = trim_view(line.substr(0, colon));
    if (iequal(name, "Content-Length") || iequal(name, "l")) {
      length = 0;
      for (char c : trim_view(line.substr(colon + 1))) {
        if (c < '0' || c > '9') break;
        length = length * 10 + (c - '0');
      }
    }
  }
  size_t total = end + 4 + static_cast<size_t>(length);
  return total <= buf.size() ? total : 0;
}

inline std::string random_hex(std::mt19937_64& rng, size_t chars) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  while (out.size() < chars) {
    uint64_t v = rng();
    for (int i = 0; i < 16 && out.size() < chars; ++i, v >>= 4) out += digits[v & 0xF];
  }
  return out;
}

// One recvmmsg batch: `size` buffers of `capacity` octets and their senders,
// re-armed before each call (recvmmsg overwrites the lengths).
class RecvBatch {
 public:
  RecvBatch(int size, size_t capacity)
      : bufs_(static_cast<size_t>(size), std::vector<char>(capacity)),
        iov_(static_cast<size_t>(size)),
        msgs_(static_cast<size_t>(size)),
        from_(static_cast<size_t>(size)) {}
  // Reads what has arrived without blocking: the number of datagrams, 0
  // when none (or on an error).
  int receive(int fd) {
    for (size_t i = 0; i < msgs_.size(); ++i) {
      iov_[i] = iovec{bufs_[i].data(), bufs_[i].size()};
      msgs_[i] = mmsghdr{};
      msgs_[i].msg_hdr.msg_iov = &iov_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
      msgs_[i].msg_hdr.msg_name = &from_[i];
      msgs_[i].msg_hdr.msg_namelen = sizeof from_[i];
    }
    const int n = recvmmsg(fd, msgs_.data(), static_cast<unsigned>(msgs_.size()), MSG_DONTWAIT, nullptr);
    return n > 0 ? n : 0;
  }
  int size() const { return static_cast<int>(msgs_.size()); }
  std::string_view datagram(int i) const { return {bufs_[i].data(), msgs_[i].msg_len}; }
  const sockaddr_in& from(int i) const { return from_[i]; }
  sockaddr_in& from(int i) { return from_[i]; }  // e.g. as the msg_name of the answer

 private:
  std::vector<std::vector<char>> bufs_;
  std::vector<iovec> iov_;
  std::vector<mmsghdr> msgs_;
  std::vector<sockaddr_in> from_;
};

// A non-blocking UDP socket bound to `ip` (host order; loopback by default)
// with 8 MiB buffers each way (forced past net.core.rmem_max when the
// process may, so bursts of a fan-out are not dropped here); the port the
// kernel chose in *port. -1 on failure (errno set).
inline int udp_socket(uint16_t* port, uint32_t ip = INADDR_LOOPBACK, int buffer_bytes = 8 << 20) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int size = buffer_bytes;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

}  // namespace imserver::bench
