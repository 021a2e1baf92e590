#include "tests/client/msrp_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iomanip>
#include <random>
#include <sstream>

namespace imserver::testclient {

namespace {

using Clock = std::chrono::steady_clock;
namespace msrp = codec::msrp;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string random_hex(size_t chars) {
  static std::mutex m;
  static std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), static_cast<unsigned>(Clock::now().time_since_epoch().count())};
    return std::mt19937_64(seq);
  }();
  static const char* digits = "0123456789abcdef";
  std::string out;
  std::lock_guard<std::mutex> lock(m);
  while (out.size() < chars) {
    uint64_t v = rng();
    for (int i = 0; i < 16 && out.size() < chars; ++i) {
      out += digits[v & 0xF];
      v >>= 4;
    }
  }
  return out;
}

std::string bracketed(const std::string& uri) {
  if (uri.find('<') != std::string::npos) return uri;
  return "<" + uri + ">";
}

std::string summary(const msrp::Frame& f) {
  std::string s = "MSRP " + f.tid + " ";
  if (f.is_request) {
    s += f.method;
  } else {
    s += std::to_string(f.status);
    if (!f.comment.empty()) s += " " + f.comment;
  }
  if (f.is_request && f.has_body_section) s += " (" + std::to_string(f.body.size()) + " body octets)";
  if (f.flag != msrp::EndFlag::Complete) s += std::string(" flag ") + static_cast<char>(f.flag);
  return s;
}

// Bytes for the transcript: long texts cut after 2 KiB.
std::string shorten(std::string_view text) {
  constexpr size_t kMax = 2048;
  if (text.size() <= kMax + 256) return std::string(text);
  return std::string(text.substr(0, kMax)) + "\n... (" + std::to_string(text.size() - kMax) + " more octets)\n";
}

std::string default_comment(uint16_t status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Message Too Large";
    case 415: return "Unsupported Media Type";
    case 423: return "Interval Out-of-Bounds";
    case 428: return "Private Messages Not Supported";
    case 481: return "Session Does Not Exist";
    case 501: return "Not Implemented";
    case 506: return "Session Already Bound";
    default: return "";
  }
}

}  // namespace

// ------------------------------------------------------------ free helpers

std::string random_tid() { return random_hex(16); }

std::string random_message_id() { return "m-" + random_hex(16); }

std::string cpim_body(const std::string& from_uri, const std::string& to_uri, const std::string& text,
                      const std::string& wrapped_type, const std::string& datetime) {
  std::string out;
  if (!from_uri.empty()) out += "From: " + bracketed(from_uri) + "\r\n";
  if (!to_uri.empty()) out += "To: " + bracketed(to_uri) + "\r\n";
  if (!datetime.empty()) out += "DateTime: " + datetime + "\r\n";
  out += "\r\n";
  out += "Content-Type: " + wrapped_type + "\r\n";
  out += "\r\n";
  out += text;
  return out;
}

// ------------------------------------------------------------ construction

MsrpClient::MsrpClient(std::string local_path, size_t max_frame_bytes)
    : local_path_(std::move(local_path)), max_frame_bytes_(max_frame_bytes) {
  local_paths_.push_back(local_path_);
  // The session-id part of the URI names this client in the transcript.
  size_t slash = local_path_.rfind('/');
  label_ = slash == std::string::npos ? local_path_ : local_path_.substr(slash + 1);
  size_t semi = label_.find(';');
  if (semi != std::string::npos) label_.resize(semi);
  if (label_.empty()) label_ = "msrp";
}

MsrpClient::~MsrpClient() {
  close();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void MsrpClient::add_local_path(const std::string& uri) {
  std::lock_guard<std::mutex> lock(mutex_);
  local_paths_.push_back(uri);
}

// ------------------------------------------------------------ logging

void MsrpClient::log_line(const std::string& direction, std::string_view text) {
  static const Clock::time_point epoch = Clock::now();
  auto ms = std::chrono::duration<double, std::milli>(Clock::now() - epoch).count();
  std::ostringstream os;
  os << "[msrp " << label_ << " +" << std::fixed << std::setprecision(1) << ms << "ms] " << direction << "\n"
     << shorten(text);
  std::string line = os.str();
  if (line.back() != '\n') line += '\n';
  std::lock_guard<std::mutex> lock(mutex_);
  log_.push_back(std::move(line));
}

void MsrpClient::set_error(const std::string& e) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = e;
  }
  log_line("!!! " + e, "");
}

std::string MsrpClient::last_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

std::string MsrpClient::transcript() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& l : log_) out += l;
  return out;
}

// ------------------------------------------------------------ connection

bool MsrpClient::connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  if (fd_ >= 0) {
    set_error("connect: already connected");
    return false;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int gai = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (gai != 0) {
    set_error("connect: cannot resolve " + host + ": " + gai_strerror(gai));
    return false;
  }
  std::string peer = host + ":" + service;
  auto deadline = Clock::now() + timeout;
  int fd = -1;
  std::string why = "no address";
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) {
      why = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    if (rcvbuf_ > 0) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof rcvbuf_);
    int r = ::connect(s, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{s, POLLOUT, 0};
      int pr = poll(&p, 1, static_cast<int>(std::max<long long>(0, left)));
      if (pr == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
        r = err == 0 ? 0 : -1;
        errno = err;
      } else {
        r = -1;
        errno = ETIMEDOUT;
      }
    }
    if (r != 0) {
      why = std::strerror(errno);
      ::close(s);
      continue;
    }
    int flags = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, flags & ~O_NONBLOCK);
    fd = s;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    set_error("connect " + peer + ": " + why);
    return false;
  }
  return start_connection(fd, peer);
}

uint16_t MsrpClient::listen(const std::string& host, uint16_t port) {
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    set_error("listen: not a numeric address: " + host);
    return 0;
  }
  int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    set_error(std::string("listen: socket: ") + std::strerror(errno));
    return 0;
  }
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Accepted sockets inherit the receive buffer (set before the handshake,
  // so the window scale matches it).
  if (rcvbuf_ > 0) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof rcvbuf_);
  if (bind(s, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(s, 8) != 0) {
    set_error("listen " + host + ":" + std::to_string(port) + ": " + std::strerror(errno));
    ::close(s);
    return 0;
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  getsockname(s, reinterpret_cast<sockaddr*>(&bound), &blen);
  uint16_t p = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  listen_fd_ = s;
  log_line("--- listening on " + host + ":" + std::to_string(p), "");
  return p;
}

bool MsrpClient::accept(std::chrono::milliseconds timeout) {
  if (listen_fd_ < 0) {
    set_error("accept: not listening");
    return false;
  }
  if (fd_ >= 0) {
    set_error("accept: already connected");
    return false;
  }
  pollfd p{listen_fd_, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, static_cast<int>(timeout.count()));
  } while (r < 0 && errno == EINTR);
  if (r != 1) {
    set_error("accept: no connection within " + std::to_string(timeout.count()) + " ms");
    return false;
  }
  sockaddr_storage from{};
  socklen_t len = sizeof from;
  int s = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC);
  if (s < 0) {
    set_error(std::string("accept: ") + std::strerror(errno));
    return false;
  }
  char ip[INET6_ADDRSTRLEN] = {};
  uint16_t port = 0;
  if (from.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&from);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    port = ntohs(a->sin6_port);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&from);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
  }
  return start_connection(s, std::string("accepted from ") + ip + ":" + std::to_string(port));
}

bool MsrpClient::adopt(int fd) {
  if (fd < 0) {
    set_error("adopt: invalid fd");
    return false;
  }
  if (fd_ >= 0) {
    set_error("adopt: already connected");
    return false;
  }
  if (rcvbuf_ > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof rcvbuf_);
  return start_connection(fd, "adopted fd " + std::to_string(fd));
}

bool MsrpClient::start_connection(int fd, const std::string& peer) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on a socketpair
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(send_timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((send_timeout_.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    set_error(std::string("pipe2: ") + std::strerror(errno));
    ::close(fd);
    return false;
  }
  stop_.store(false);
  peer_closed_.store(false);
  broken_.store(false);
  fd_.store(fd);
  log_line("--- connected (" + peer + ")", "");
  reader_ = std::thread([this, fd] { reader_loop(fd); });
  return true;
}

void MsrpClient::close() {
  if (reader_.joinable()) {
    stop_.store(true);
    if (wake_pipe_[1] >= 0) {
      ssize_t ignored = write(wake_pipe_[1], "x", 1);
      (void)ignored;
    }
    reader_.join();
  }
  int fd;
  {
    std::lock_guard<std::mutex> lock(send_mutex_);
    fd = fd_.exchange(-1);
  }
  if (fd >= 0) {
    shutdown(fd, SHUT_RDWR);
    ::close(fd);
    log_line("--- connection closed by us", "");
  }
  for (int& p : wake_pipe_) {
    if (p >= 0) ::close(p);
    p = -1;
  }
  cv_.notify_all();
}

void MsrpClient::pause_reading(bool paused) {
  if (paused_.exchange(paused) == paused) return;
  log_line(paused ? "--- reading paused" : "--- reading resumed", "");
  if (wake_pipe_[1] >= 0) {
    ssize_t ignored = write(wake_pipe_[1], "p", 1);
    (void)ignored;
  }
}

// ------------------------------------------------------------ reader

void MsrpClient::reader_loop(int fd) {
  msrp::StreamParser parser(max_frame_bytes_);
  std::vector<char> buf(65536);
  while (!stop_.load()) {
    pollfd p[2];
    p[0].fd = paused_.load() ? -1 : fd;  // a negative fd is ignored by poll
    p[0].events = POLLIN;
    p[0].revents = 0;
    p[1].fd = wake_pipe_[0];
    p[1].events = POLLIN;
    p[1].revents = 0;
    int r = poll(p, 2, 500);
    if (r < 0) {
      if (errno == EINTR) continue;
      set_error(std::string("reader: poll: ") + std::strerror(errno));
      break;
    }
    if (p[1].revents != 0) {
      char drain[16];
      while (read(wake_pipe_[0], drain, sizeof drain) > 0) {
      }
      continue;  // re-check stop_ and paused_
    }
    if (p[0].revents == 0) continue;
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      std::string why = n < 0 ? std::strerror(errno) : "EOF";
      if (parser.buffered() > 0) why += ", " + std::to_string(parser.buffered()) + " octets of an unfinished frame";
      log_line("--- connection closed by peer (" + why + ")", "");
      peer_closed_.store(true);
      cv_.notify_all();
      return;
    }
    parser.feed(std::string_view(buf.data(), static_cast<size_t>(n)));
    while (auto f = parser.next()) handle_frame(std::move(*f));
    if (parser.broken()) {
      set_error("reader: unparsable MSRP stream: " + parser.error());
      broken_.store(true);
      cv_.notify_all();
      return;
    }
  }
}

std::string MsrpClient::local_uri_for(const Frame& request) const {
  std::vector<std::string> to = request.to_path();
  if (!to.empty()) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (std::find(local_paths_.begin(), local_paths_.end(), to.back()) != local_paths_.end()) return to.back();
  }
  return local_path_;
}

void MsrpClient::handle_frame(Frame frame) {
  ReceivedFrame rf;
  rf.received_at = Clock::now();
  log_line("<<< received " + summary(frame), msrp::serialize(frame));
  int status = auto_status_.load();
  if (frame.is_request && frame.method == "SEND" && status > 0) {
    // RFC 4975 §7.2: Failure-Report "no" -> never respond; "partial" -> only
    // non-200 responses.
    const std::string* fr = frame.header("Failure-Report");
    std::string mode = fr ? lowered(trimmed(*fr)) : "yes";
    bool answer = !(mode == "no" || (mode == "partial" && status == 200));
    if (answer && respond(frame, static_cast<uint16_t>(status))) rf.answered_with = static_cast<uint16_t>(status);
  }
  rf.frame = std::move(frame);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    history_.push_back(rf);
    queue_.push_back(std::move(rf));
  }
  cv_.notify_all();
}

// ------------------------------------------------------------ sending

bool MsrpClient::write_all(std::string_view bytes) {
  std::lock_guard<std::mutex> lock(send_mutex_);
  int fd = fd_.load();
  if (fd < 0) {
    errno = ENOTCONN;
    return false;
  }
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // EAGAIN here means SO_SNDTIMEO expired
    off += static_cast<size_t>(n);
  }
  return true;
}

bool MsrpClient::send_raw(std::string_view bytes) {
  log_line(">>> sent raw (" + std::to_string(bytes.size()) + " octets)", bytes);
  if (write_all(bytes)) return true;
  set_error(std::string("send failed: ") + std::strerror(errno));
  return false;
}

bool MsrpClient::send(const Frame& frame) {
  std::string bytes = msrp::serialize(frame);
  log_line(">>> sent " + summary(frame), bytes);
  if (write_all(bytes)) return true;
  set_error("send " + summary(frame) + " failed: " + std::strerror(errno));
  return false;
}

MsrpClient::Frame MsrpClient::make_send(const std::string& to_path, const std::string& message_id,
                                        const std::string& cpim_body, std::string byte_range, EndFlag flag,
                                        const Headers& extra) const {
  Frame f;
  f.is_request = true;
  f.tid = random_tid();
  f.method = "SEND";
  if (byte_range.empty()) {
    std::string n = std::to_string(cpim_body.size());
    byte_range = "1-" + n + "/" + (flag == EndFlag::Complete ? n : std::string("*"));
  }
  Headers generated = {{"To-Path", to_path},
                       {"From-Path", local_path_},
                       {"Message-ID", message_id.empty() ? random_message_id() : message_id}};
  if (byte_range != kOmitByteRange) generated.emplace_back("Byte-Range", byte_range);
  std::string content_type = "message/cpim";
  Headers others;
  for (const auto& [name, value] : extra) {
    if (same_name(name, "Content-Type")) {
      content_type = value;
      continue;
    }
    auto it = std::find_if(generated.begin(), generated.end(), [&](const auto& h) { return same_name(h.first, name); });
    if (it != generated.end()) {
      *it = {name, value};
    } else {
      others.emplace_back(name, value);
    }
  }
  for (auto& h : generated)
    if (!h.second.empty()) f.headers.push_back(std::move(h));
  for (auto& h : others) f.headers.push_back(std::move(h));
  if (!content_type.empty()) f.headers.emplace_back("Content-Type", content_type);
  f.has_body_section = true;
  f.body = cpim_body;
  f.flag = flag;
  return f;
}

MsrpClient::Frame MsrpClient::make_bodiless_send(const std::string& to_path, const std::string& message_id) const {
  Frame f;
  f.is_request = true;
  f.tid = random_tid();
  f.method = "SEND";
  f.headers = {{"To-Path", to_path},
               {"From-Path", local_path_},
               {"Message-ID", message_id.empty() ? random_message_id() : message_id},
               {"Byte-Range", "1-0/0"}};
  f.has_body_section = false;
  f.flag = EndFlag::Complete;
  return f;
}

std::string MsrpClient::bodiless_send(const std::string& to_path) {
  Frame f = make_bodiless_send(to_path);
  return send(f) ? f.tid : std::string();
}

std::string MsrpClient::send_message(const std::string& to_path, const std::string& cpim_body,
                                     const std::string& message_id, const Headers& extra) {
  Frame f = make_send(to_path, message_id, cpim_body, "", EndFlag::Complete, extra);
  return send(f) ? f.tid : std::string();
}

std::vector<MsrpClient::Frame> MsrpClient::make_chunks(const std::string& to_path, const std::string& message_id,
                                                       const std::string& body, size_t chunk_size,
                                                       const Headers& extra) const {
  std::vector<Frame> out;
  const size_t total = body.size();
  if (total == 0 || chunk_size == 0) {
    out.push_back(make_send(to_path, message_id, body, "", EndFlag::Complete, extra));
    return out;
  }
  const std::string id = message_id.empty() ? random_message_id() : message_id;
  for (size_t off = 0; off < total; off += chunk_size) {
    size_t end = std::min(off + chunk_size, total);
    std::string range = std::to_string(off + 1) + "-" + std::to_string(end) + "/" + std::to_string(total);
    out.push_back(make_send(to_path, id, body.substr(off, end - off), range,
                            end == total ? EndFlag::Complete : EndFlag::More, extra));
  }
  return out;
}

MsrpClient::Frame MsrpClient::make_response(const Frame& request, uint16_t status, const std::string& comment) const {
  return msrp::make_response(request, status, comment.empty() ? default_comment(status) : comment,
                             local_uri_for(request));
}

bool MsrpClient::respond(const Frame& request, uint16_t status, const std::string& comment) {
  return send(make_response(request, status, comment));
}

MsrpClient::Frame MsrpClient::make_report(const Frame& send, const std::string& status) const {
  Frame r;
  r.is_request = true;
  r.tid = random_tid();
  r.method = "REPORT";
  std::string to;
  for (const auto& uri : send.from_path()) to += (to.empty() ? "" : " ") + uri;
  uint64_t total = send.body.size();
  if (const std::string* br = send.header("Byte-Range")) {
    if (auto range = msrp::parse_byte_range(*br); range && range->total) total = *range->total;
  }
  r.headers.emplace_back("To-Path", to);
  r.headers.emplace_back("From-Path", local_uri_for(send));
  const std::string* mid = send.header("Message-ID");
  r.headers.emplace_back("Message-ID", mid ? *mid : std::string());
  r.headers.emplace_back("Byte-Range", "1-" + std::to_string(total) + "/" + std::to_string(total));
  r.headers.emplace_back("Status", status);
  r.has_body_section = false;
  r.flag = EndFlag::Complete;
  return r;
}

// ------------------------------------------------------------ receiving

std::optional<ReceivedFrame> MsrpClient::take_first(const Predicate& pred, Clock::time_point deadline, bool remove) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (!pred(it->frame)) continue;
      ReceivedFrame r = *it;
      if (remove) queue_.erase(it);
      return r;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    cv_.wait_until(lock, deadline);
  }
}

std::optional<ReceivedFrame> MsrpClient::wait_received(const Predicate& pred, std::chrono::milliseconds timeout) {
  return take_first(pred, Clock::now() + timeout, true);
}

std::optional<MsrpClient::Frame> MsrpClient::wait_frame(const Predicate& pred, std::chrono::milliseconds timeout) {
  auto r = wait_received(pred, timeout);
  if (!r) return std::nullopt;
  return std::move(r->frame);
}

std::optional<MsrpClient::Frame> MsrpClient::wait_response(const std::string& tid, std::chrono::milliseconds timeout) {
  return wait_frame([&](const Frame& f) { return !f.is_request && f.tid == tid; }, timeout);
}

std::optional<MsrpClient::Frame> MsrpClient::wait_request(const std::string& method,
                                                          std::chrono::milliseconds timeout) {
  return wait_frame([&](const Frame& f) { return f.is_request && f.method == method; }, timeout);
}

std::vector<MsrpClient::Frame> MsrpClient::drain(std::chrono::milliseconds quiet, std::chrono::milliseconds max_total) {
  std::vector<Frame> out;
  auto end = Clock::now() + max_total;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    while (!queue_.empty()) {
      out.push_back(std::move(queue_.front().frame));
      queue_.pop_front();
    }
    if (Clock::now() >= end) break;
    auto deadline = std::min(Clock::now() + quiet, end);
    if (!cv_.wait_until(lock, deadline, [&] { return !queue_.empty(); })) break;
  }
  return out;
}

bool MsrpClient::nothing_arrives(std::chrono::milliseconds timeout) {
  return nothing_arrives([](const Frame&) { return true; }, timeout);
}

bool MsrpClient::nothing_arrives(const Predicate& pred, std::chrono::milliseconds timeout) {
  return !take_first(pred, Clock::now() + timeout, false).has_value();
}

std::vector<MsrpClient::Frame> MsrpClient::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Frame> out;
  out.reserve(queue_.size());
  for (const auto& r : queue_) out.push_back(r.frame);
  return out;
}

std::vector<ReceivedFrame> MsrpClient::history() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return history_;
}

}  // namespace imserver::testclient
