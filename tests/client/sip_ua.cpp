#include "tests/client/sip_ua.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace imserver::testclient {

namespace {

using Clock = std::chrono::steady_clock;

// Extra header lines with CRLF endings, ending in exactly one CRLF ("" stays "").
std::string normalize_headers(const std::string& in) {
  std::string out;
  out.reserve(in.size() + 8);
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) {
      out += "\r\n";
    } else {
      out += in[i];
    }
  }
  while (!out.empty() && (out.back() == '\r' || out.back() == '\n')) out.pop_back();
  if (!out.empty()) out += "\r\n";
  return out;
}

// Names of the header lines in a normalized header block.
std::vector<std::string> header_names(const std::string& block) {
  std::vector<std::string> names;
  size_t i = 0;
  while (i < block.size()) {
    size_t nl = block.find('\n', i);
    if (nl == std::string::npos) nl = block.size();
    std::string line = block.substr(i, nl - i);
    if (!line.empty() && line[0] != ' ' && line[0] != '\t') {
      size_t colon = line.find(':');
      if (colon != std::string::npos) names.push_back(trim(line.substr(0, colon)));
    }
    i = nl + 1;
  }
  return names;
}

// Builds a header block where lines named in `overrides` are left out.
class HeaderWriter {
 public:
  explicit HeaderWriter(const std::string& extra) : names_(header_names(extra)) {}
  bool overridden(const std::string& name) const {
    return std::any_of(names_.begin(), names_.end(), [&](const std::string& n) { return same_header_name(n, name); });
  }
  void add(std::string& out, const std::string& name, const std::string& value) const {
    if (!overridden(name)) out += name + ": " + value + "\r\n";
  }

 private:
  std::vector<std::string> names_;
};

std::string name_addr(const std::string& uri) {
  if (uri.find('<') != std::string::npos) return uri;
  return "<" + uri + ">";
}

std::string user_of(const std::string& aor) {
  std::string u = uri_of(aor);
  size_t colon = u.find(':');
  if (colon != std::string::npos) u = u.substr(colon + 1);  // drop "sip:" / "sips:"
  size_t at = u.find('@');
  if (at != std::string::npos) u = u.substr(0, at);
  return u.empty() ? "user" : u;
}

Transaction transaction_of(const std::string& raw) {
  Transaction tx;
  tx.raw = raw;
  if (auto m = parse_sip_message(raw)) {
    tx.call_id = m->call_id();
    tx.branch = m->top_via_branch();
    tx.cseq = m->cseq_number();
    tx.method = m->method;
    tx.request_uri = m->request_uri;
    tx.from_tag = m->from_tag();
  }
  return tx;
}

std::vector<std::string> route_set_from(const SipMessage& response) {
  std::vector<std::string> routes;
  for (const auto& v : response.headers_named("Record-Route")) {
    for (auto& r : split_header_list(v)) routes.push_back(r);
  }
  std::reverse(routes.begin(), routes.end());
  return routes;
}

}  // namespace

std::string default_reason(int status) {
  switch (status) {
    case 100: return "Trying";
    case 180: return "Ringing";
    case 183: return "Session Progress";
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 481: return "Call/Transaction Does Not Exist";
    case 486: return "Busy Here";
    case 487: return "Request Terminated";
    case 488: return "Not Acceptable Here";
    case 489: return "Bad Event";
    case 500: return "Server Internal Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 603: return "Decline";
    default: return "";
  }
}

SipUa::SipUa(Options options) : options_(std::move(options)) {
  if (iequals(options_.transport, "tcp")) {
    tcp_ = true;
  } else if (!iequals(options_.transport, "udp")) {
    throw std::runtime_error("SipUa: unknown transport '" + options_.transport + "'");
  }
  user_ = user_of(options_.aor);
  std::random_device rd;
  std::seed_seq seq{rd(), rd(), rd(), rd(), static_cast<unsigned>(reinterpret_cast<uintptr_t>(this)),
                    static_cast<unsigned>(Clock::now().time_since_epoch().count())};
  rng_.seed(seq);
  to_tag_ = new_tag();

  auto fail = [&](const std::string& what) {
    int e = errno;
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    for (int& p : wake_pipe_) {
      if (p >= 0) close(p);
      p = -1;
    }
    throw std::runtime_error("SipUa(" + options_.aor + "): " + what + ": " + std::strerror(e));
  };

  server_addr_.sin_family = AF_INET;
  server_addr_.sin_port = htons(options_.server_port);
  if (inet_pton(AF_INET, options_.server_ip.c_str(), &server_addr_.sin_addr) != 1) {
    errno = EINVAL;
    fail("bad server_ip '" + options_.server_ip + "'");
  }
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = 0;
  if (inet_pton(AF_INET, options_.bind_ip.c_str(), &local.sin_addr) != 1) {
    errno = EINVAL;
    fail("bad bind_ip '" + options_.bind_ip + "'");
  }

  fd_ = socket(AF_INET, (tcp_ ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail("socket");
  if (bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) fail("bind " + options_.bind_ip);
  if (tcp_) {
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (options_.tcp_listen) {
      if (listen(fd_, 4) != 0) fail("listen");
    } else if (connect(fd_, reinterpret_cast<sockaddr*>(&server_addr_), sizeof server_addr_) != 0) {
      fail("connect " + options_.server_ip + ":" + std::to_string(options_.server_port));
    }
  } else {
    int size = 1 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0) fail("getsockname");
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &bound.sin_addr, ip, sizeof ip);
  local_ip_ = ip;
  local_port_ = ntohs(bound.sin_port);

  if (pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) fail("pipe2");
  if (!(tcp_ && options_.tcp_listen)) reader_ = std::thread([this] { reader_loop(); });
}

void SipUa::set_server_port(uint16_t port) {
  std::lock_guard<std::mutex> lock(send_mutex_);
  options_.server_port = port;
  server_addr_.sin_port = htons(port);
}

bool SipUa::accept_server(std::chrono::milliseconds timeout) {
  if (!tcp_ || !options_.tcp_listen || reader_.joinable()) return false;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return false;
  int one = 1;
  setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  close(fd_);  // one connection is all a test needs
  fd_ = conn;
  reader_ = std::thread([this] { reader_loop(); });
  return true;
}

SipUa::~SipUa() {
  stop_.store(true);
  if (wake_pipe_[1] >= 0) {
    ssize_t ignored = write(wake_pipe_[1], "x", 1);
    (void)ignored;
  }
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) {
    if (tcp_) shutdown(fd_, SHUT_RDWR);
    close(fd_);
  }
  for (int p : wake_pipe_) {
    if (p >= 0) close(p);
  }
}

std::string SipUa::contact_uri() const {
  std::string uri = "sip:" + user_ + "@" + local_ip_ + ":" + std::to_string(local_port_);
  if (tcp_) uri += ";transport=tcp";
  return uri;
}

// ------------------------------------------------------------ identifiers

std::string SipUa::random_hex(size_t chars) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  std::lock_guard<std::mutex> lock(rng_mutex_);
  while (out.size() < chars) {
    uint64_t v = rng_();
    for (int i = 0; i < 16 && out.size() < chars; ++i) {
      out += digits[v & 0xF];
      v >>= 4;
    }
  }
  return out;
}

std::string SipUa::new_branch() { return "z9hG4bK" + random_hex(16); }
std::string SipUa::new_tag() { return random_hex(12); }
std::string SipUa::new_call_id() { return random_hex(20) + "@" + local_ip_; }

// ------------------------------------------------------------ logging

void SipUa::log_line(const std::string& direction, const std::string& text) {
  // One time base for every UA of the process, so transcripts line up.
  static const Clock::time_point epoch = Clock::now();
  auto ms = std::chrono::duration<double, std::milli>(Clock::now() - epoch).count();
  std::ostringstream os;
  os << "[" << user_ << " +" << std::fixed << std::setprecision(1) << ms << "ms] " << direction << "\n" << text;
  if (text.empty() || text.back() != '\n') os << "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  log_.push_back(os.str());
}

std::string SipUa::transcript() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& l : log_) out += l;
  return out;
}

size_t SipUa::absorbed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return absorbed_;
}

size_t SipUa::unparsable() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return unparsable_;
}

// ------------------------------------------------------------ reader

void SipUa::reader_loop() {
  SipStreamParser parser;
  std::vector<char> buf(65536);
  while (!stop_.load()) {
    pollfd p[2];
    p[0].fd = closed_.load() ? -1 : fd_;
    p[0].events = POLLIN;
    p[0].revents = 0;
    p[1].fd = wake_pipe_[0];
    p[1].events = POLLIN;
    p[1].revents = 0;
    int r = poll(p, 2, 500);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents != 0) break;
    if (p[0].revents == 0) continue;
    if (tcp_) {
      ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        closed_.store(true);
        log_line("--- connection closed by server", n < 0 ? std::strerror(errno) : "");
        cv_.notify_all();
        continue;
      }
      parser.feed(buf.data(), static_cast<size_t>(n));
      while (auto raw = parser.pop_raw()) handle_incoming(std::move(*raw), server_addr_);
    } else {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) continue;  // EINTR, ICMP errors (ECONNREFUSED) and the like
      std::string raw(buf.data(), static_cast<size_t>(n));
      if (trim(raw).empty()) continue;  // keep-alive
      handle_incoming(std::move(raw), from);
    }
  }
}

std::string SipUa::response_key(const SipMessage& m) {
  return m.top_via_branch() + "|" + m.call_id() + "|" + std::to_string(m.cseq_number()) + "|" + m.cseq_method();
}

void SipUa::handle_incoming(std::string raw, const sockaddr_in& from) {
  auto now = Clock::now();
  std::string error;
  auto parsed = parse_sip_message(raw, &error);
  if (!parsed) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++unparsable_;
    }
    log_line("<<< received (unparsable: " + error + ")", raw);
    return;
  }
  SipMessage m = std::move(*parsed);
  m.received_at = now;
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
  m.source_ip = ip;
  m.source_port = ntohs(from.sin_port);
  log_line("<<< received " + m.summary(), raw);

  // Retransmissions of something we already answered / ACKed.
  std::string resend;
  bool is_ack = false;
  if (options_.absorb_retransmissions) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (m.is_request && m.method != "ACK") {
      auto it = responses_.find(response_key(m));
      if (it != responses_.end()) resend = it->second;
    } else if (!m.is_request && m.status >= 200 && m.cseq_method() == "INVITE") {
      auto it = acks_.find(m.call_id() + "|" + std::to_string(m.cseq_number()));
      if (it != acks_.end()) {
        resend = it->second;
        is_ack = true;
      }
    }
    if (!resend.empty()) {
      ++absorbed_;
      history_.push_back(m);
    }
  }
  if (!resend.empty()) {
    log_line(std::string("--- retransmission absorbed, ") + (is_ack ? "ACK" : "response") + " sent again", "");
    send_to(resend, is_ack ? nullptr : &from);
    return;
  }

  int status = 0;
  if (m.is_request && m.method == "BYE" && auto_bye_.load()) status = 200;
  if (m.is_request && m.method == "NOTIFY") status = auto_notify_.load();
  if (status != 0) {
    m.answered_with = status;
    respond(m, status, default_reason(status));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    history_.push_back(m);
    queue_.push_back(std::move(m));
    ++arrivals_;
  }
  cv_.notify_all();
}

// ------------------------------------------------------------ receiving

std::optional<SipMessage> SipUa::take_first(const Predicate& pred, Clock::time_point deadline, bool remove) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (!pred(*it)) continue;
      SipMessage m = *it;
      if (remove) queue_.erase(it);
      return m;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    cv_.wait_until(lock, deadline);
  }
}

std::optional<SipMessage> SipUa::wait_for(const Predicate& pred, std::chrono::milliseconds timeout) {
  return take_first(pred, Clock::now() + timeout, true);
}

std::optional<SipMessage> SipUa::wait_request(const std::string& method, std::chrono::milliseconds timeout) {
  return wait_for([&](const SipMessage& m) { return m.is_request && m.method == method; }, timeout);
}

std::optional<SipMessage> SipUa::wait_response(const std::string& call_id, const std::string& cseq_method,
                                               std::chrono::milliseconds timeout, bool allow_provisional) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto m = take_first(
        [&](const SipMessage& r) {
          return !r.is_request && r.call_id() == call_id && r.cseq_method() == cseq_method;
        },
        deadline, true);
    if (!m) return std::nullopt;
    if (m->status < 200 && !allow_provisional) continue;
    return m;
  }
}

std::optional<SipMessage> SipUa::wait_in_dialog(const Dialog& dialog, const std::string& method,
                                                std::chrono::milliseconds timeout) {
  return wait_for(
      [&](const SipMessage& m) {
        return m.is_request && m.method == method && m.call_id() == dialog.call_id && m.to_tag() == dialog.local_tag;
      },
      timeout);
}

std::vector<SipMessage> SipUa::drain(std::chrono::milliseconds quiet, std::chrono::milliseconds max_total) {
  std::vector<SipMessage> out;
  auto end = Clock::now() + max_total;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    while (!queue_.empty()) {
      out.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    auto deadline = std::min(Clock::now() + quiet, end);
    if (!cv_.wait_until(lock, deadline, [&] { return !queue_.empty(); })) break;
  }
  return out;
}

bool SipUa::nothing_arrives(const std::string& method, std::chrono::milliseconds timeout) {
  auto m = take_first([&](const SipMessage& r) { return method.empty() || (r.is_request && r.method == method); },
                      Clock::now() + timeout, false);
  return !m.has_value();
}

std::vector<SipMessage> SipUa::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {queue_.begin(), queue_.end()};
}

std::vector<SipMessage> SipUa::history() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return history_;
}

// ------------------------------------------------------------ sending

bool SipUa::send_to(const std::string& data, const sockaddr_in* to) {
  // Logged before sending, so the transcript never shows an answer before
  // its request.
  std::string summary;
  if (auto m = parse_sip_message(data)) summary = " " + m->summary();
  log_line(">>> sent" + summary, data);
  bool ok = true;
  {
    std::lock_guard<std::mutex> lock(send_mutex_);
    if (tcp_) {
      size_t off = 0;
      while (off < data.size()) {
        ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ok = false;
          break;
        }
        off += static_cast<size_t>(n);
      }
    } else {
      const sockaddr_in* dst = to ? to : &server_addr_;
      ssize_t n = sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(dst), sizeof *dst);
      ok = n == static_cast<ssize_t>(data.size());
    }
  }
  if (!ok) log_line("!!! send failed" + summary, std::strerror(errno));
  return ok;
}

bool SipUa::send_raw(const std::string& data) { return send_to(data, nullptr); }

bool SipUa::respond(const SipMessage& req, int status, const std::string& reason, const std::string& extra_headers,
                    const std::string& content_type, const std::string& body) {
  std::string extra = normalize_headers(extra_headers);
  HeaderWriter w(extra);
  std::string out = "SIP/2.0 " + std::to_string(status) + " " + reason + "\r\n";
  if (!w.overridden("Via")) {
    for (const auto& v : req.headers_named("Via")) out += "Via: " + v + "\r\n";
  }
  if (!w.overridden("Record-Route")) {
    for (const auto& v : req.headers_named("Record-Route")) out += "Record-Route: " + v + "\r\n";
  }
  w.add(out, "From", req.header("From").value_or(""));
  std::string to = req.header("To").value_or("");
  if (status != 100 && tag_of(to).empty()) to += ";tag=" + to_tag_;
  w.add(out, "To", to);
  w.add(out, "Call-ID", req.call_id());
  w.add(out, "CSeq", req.header("CSeq").value_or(""));
  if (status >= 200 && status < 300 && (req.method == "INVITE" || req.method == "SUBSCRIBE")) {
    w.add(out, "Contact", "<" + contact_uri() + ">");
  }
  out += extra;
  if (!content_type.empty()) w.add(out, "Content-Type", content_type);
  w.add(out, "Content-Length", std::to_string(body.size()));
  out += "\r\n";
  out += body;
  if (req.is_request) {
    // Remember the answer for later retransmissions, and drop the
    // retransmissions of this request that were queued before it: they are
    // answered by this response.
    std::string key = response_key(req);
    std::lock_guard<std::mutex> lock(mutex_);
    responses_[key] = out;
    if (options_.absorb_retransmissions && req.method != "ACK") {
      auto same = [&](const SipMessage& q) { return q.is_request && q.method == req.method && response_key(q) == key; };
      size_t before = queue_.size();
      queue_.erase(std::remove_if(queue_.begin(), queue_.end(), same), queue_.end());
      absorbed_ += before - queue_.size();
    }
  }
  if (!tcp_ && req.source_port != 0) {
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(req.source_port);
    if (inet_pton(AF_INET, req.source_ip.c_str(), &dst.sin_addr) == 1) return send_to(out, &dst);
  }
  return send_to(out, nullptr);
}

std::string SipUa::build_request(const RequestSpec& spec) {
  std::string extra = normalize_headers(spec.extra_headers);
  HeaderWriter w(extra);
  std::string out = spec.method + " " + spec.request_uri + " SIP/2.0\r\n";
  std::string branch = spec.branch.empty() ? new_branch() : spec.branch;
  w.add(out, "Via",
        "SIP/2.0/" + via_transport() + " " + local_ip_ + ":" + std::to_string(local_port_) + ";branch=" + branch +
            ";rport");
  w.add(out, "Max-Forwards", "70");
  std::string from_tag = spec.from_tag.empty() ? new_tag() : spec.from_tag;
  w.add(out, "From", name_addr(spec.from_uri.empty() ? options_.aor : spec.from_uri) + ";tag=" + from_tag);
  std::string to = name_addr(spec.to_uri);
  if (!spec.to_tag.empty()) to += ";tag=" + spec.to_tag;
  w.add(out, "To", to);
  w.add(out, "Call-ID", spec.call_id.empty() ? new_call_id() : spec.call_id);
  w.add(out, "CSeq", std::to_string(spec.cseq) + " " + spec.method);
  if (!w.overridden("Route")) {
    for (const auto& r : spec.route_set) out += "Route: " + r + "\r\n";
  }
  if (spec.contact) w.add(out, "Contact", "<" + contact_uri() + ">");
  if (spec.pai && options_.send_pai) w.add(out, "P-Asserted-Identity", name_addr(options_.aor));
  out += extra;
  if (!spec.content_type.empty()) w.add(out, "Content-Type", spec.content_type);
  w.add(out, "Content-Length", std::to_string(spec.body.size()));
  out += "\r\n";
  out += spec.body;
  return out;
}

Transaction SipUa::send(const RequestSpec& spec) {
  std::string raw = build_request(spec);
  Transaction tx = transaction_of(raw);
  send_raw(raw);
  return tx;
}

Transaction SipUa::send_request(const std::string& method, const std::string& request_uri, const std::string& to_uri,
                                const std::string& extra_headers, const std::string& content_type,
                                const std::string& body) {
  RequestSpec s;
  s.method = method;
  s.request_uri = request_uri;
  s.to_uri = to_uri;
  s.extra_headers = extra_headers;
  s.content_type = content_type;
  s.body = body;
  return send(s);
}

Transaction SipUa::send_in_dialog(Dialog& dialog, const std::string& method, const std::string& extra_headers,
                                  const std::string& content_type, const std::string& body) {
  RequestSpec s;
  s.method = method;
  s.request_uri = dialog.remote_target.empty() ? dialog.remote_uri : dialog.remote_target;
  s.to_uri = dialog.remote_uri;
  s.to_tag = dialog.remote_tag;
  s.from_uri = dialog.local_uri.empty() ? options_.aor : dialog.local_uri;
  s.from_tag = dialog.local_tag;
  s.call_id = dialog.call_id;
  bool no_new_cseq = method == "ACK" || method == "CANCEL";
  s.cseq = no_new_cseq ? dialog.local_cseq : ++dialog.local_cseq;
  s.route_set = dialog.route_set;
  s.contact = !(method == "BYE" || no_new_cseq);
  s.pai = !no_new_cseq;
  s.extra_headers = extra_headers;
  s.content_type = content_type;
  s.body = body;
  return send(s);
}

std::optional<SipMessage> SipUa::final_response(const Transaction& tx, std::chrono::milliseconds timeout,
                                                std::vector<SipMessage>* provisional) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto m = take_first(
        [&](const SipMessage& r) {
          return !r.is_request && r.call_id() == tx.call_id && r.cseq_number() == tx.cseq &&
                 r.cseq_method() == tx.method && (tx.branch.empty() || r.top_via_branch() == tx.branch);
        },
        deadline, true);
    if (!m) return std::nullopt;
    if (m->status < 200) {
      if (provisional) provisional->push_back(std::move(*m));
      continue;
    }
    return m;
  }
}

void SipUa::send_ack(const Transaction& invite, const SipMessage& final) {
  auto inv = parse_sip_message(invite.raw);
  RequestSpec s;
  s.method = "ACK";
  s.call_id = invite.call_id;
  s.cseq = invite.cseq;
  s.contact = false;
  s.pai = false;
  std::string from = inv ? inv->header("From").value_or("") : std::string();
  std::string extra = "From: " + from + "\r\nTo: " + final.header("To").value_or("") + "\r\n";
  if (final.status >= 200 && final.status < 300) {
    auto contact = final.header("Contact");
    s.request_uri = contact ? uri_of(*contact) : invite.request_uri;
    s.route_set = route_set_from(final);
  } else {
    // Part of the INVITE transaction: same branch, same Request-URI and Route.
    s.request_uri = invite.request_uri;
    s.branch = invite.branch;
    if (inv) s.route_set = inv->headers_named("Route");
  }
  s.extra_headers = extra;
  std::string raw = build_request(s);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    acks_[invite.call_id + "|" + std::to_string(invite.cseq)] = raw;
  }
  send_raw(raw);
}

// ------------------------------------------------------------ high level

std::string SipUa::sdp_offer() {
  std::string session = std::to_string(1000000 + (std::stoull(random_hex(8), nullptr, 16) % 9000000));
  std::string sdp;
  sdp += "v=0\r\n";
  sdp += "o=" + user_ + " " + session + " " + session + " IN IP4 " + local_ip_ + "\r\n";
  sdp += "s=-\r\n";
  sdp += "c=IN IP4 " + local_ip_ + "\r\n";
  sdp += "t=0 0\r\n";
  sdp += "m=message 40001 TCP/MSRP *\r\n";
  sdp += "a=accept-types:message/cpim\r\n";
  sdp += "a=accept-wrapped-types:text/plain\r\n";
  sdp += "a=path:msrp://" + local_ip_ + ":40001/" + random_hex(16) + ";tcp\r\n";
  sdp += "a=setup:actpass\r\n";
  sdp += "a=sendrecv\r\n";
  return sdp;
}

JoinResult SipUa::invite(const std::string& target_uri, const std::string& extra_headers,
                         const std::string& content_type, const std::string& body) {
  JoinResult res;
  res.invite = send_request("INVITE", target_uri, target_uri, extra_headers, content_type, body);
  auto fin = final_response(res.invite, options_.timeout, &res.provisional);
  if (!fin) {
    res.error = "no final response to INVITE " + target_uri + " within " + std::to_string(options_.timeout.count()) +
                " ms";
    return res;
  }
  res.final = std::move(*fin);
  send_ack(res.invite, res.final);
  if (res.final.status < 200 || res.final.status >= 300) {
    res.error = "INVITE " + target_uri + " answered " + std::to_string(res.final.status) + " " + res.final.reason;
    return res;
  }
  res.ok = true;
  Dialog& d = res.dialog;
  d.call_id = res.invite.call_id;
  d.local_tag = res.invite.from_tag;
  d.remote_tag = res.final.to_tag();
  d.local_uri = options_.aor;
  d.remote_uri = target_uri;
  auto contact = res.final.header("Contact");
  d.remote_target = contact ? uri_of(*contact) : target_uri;
  d.route_set = route_set_from(res.final);
  d.local_cseq = res.invite.cseq;
  return res;
}

JoinResult SipUa::join(const std::string& target_uri, const std::string& extra_headers) {
  return invite(target_uri, extra_headers, "application/sdp", sdp_offer());
}

std::optional<SipMessage> SipUa::bye(Dialog& dialog) {
  Transaction tx = send_in_dialog(dialog, "BYE");
  return final_response(tx, options_.timeout);
}

namespace {
std::string with_expires(const std::string& extra_headers, std::optional<uint32_t> expires) {
  std::string extra = normalize_headers(extra_headers);
  if (expires && !HeaderWriter(extra).overridden("Expires")) extra += "Expires: " + std::to_string(*expires) + "\r\n";
  return extra;
}
}  // namespace

SubscribeResult SipUa::subscribe(const std::string& target_uri, std::optional<uint32_t> expires,
                                 const std::string& extra_headers) {
  SubscribeResult res;
  res.request = send_request("SUBSCRIBE", target_uri, target_uri, with_expires(extra_headers, expires));
  auto fin = final_response(res.request, options_.timeout);
  if (!fin) {
    res.error = "no final response to SUBSCRIBE " + target_uri + " within " +
                std::to_string(options_.timeout.count()) + " ms";
    return res;
  }
  res.final = std::move(*fin);
  if (res.final.status < 200 || res.final.status >= 300) {
    res.error = "SUBSCRIBE " + target_uri + " answered " + std::to_string(res.final.status) + " " + res.final.reason;
    return res;
  }
  res.ok = true;
  Dialog& d = res.dialog;
  d.call_id = res.request.call_id;
  d.local_tag = res.request.from_tag;
  d.remote_tag = res.final.to_tag();
  d.local_uri = options_.aor;
  d.remote_uri = target_uri;
  auto contact = res.final.header("Contact");
  d.remote_target = contact ? uri_of(*contact) : target_uri;
  d.route_set = route_set_from(res.final);
  d.local_cseq = res.request.cseq;
  return res;
}

std::optional<SipMessage> SipUa::resubscribe(Dialog& dialog, std::optional<uint32_t> expires,
                                             const std::string& extra_headers) {
  Transaction tx = send_in_dialog(dialog, "SUBSCRIBE", with_expires(extra_headers, expires));
  auto fin = final_response(tx, options_.timeout);
  if (fin && fin->status >= 200 && fin->status < 300) {
    if (auto contact = fin->header("Contact")) dialog.remote_target = uri_of(*contact);
  }
  return fin;
}

}  // namespace imserver::testclient
