#pragma once
// Shared by the SIP worker wire tests: a recording event sink, a raw
// UDP/TCP socket peer on 127.0.0.1, and a few SIP text helpers.

#include "transport/sip/sip_messages.hpp"
#include "transport/sip/sip_worker.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace imserver::transport::wire {

// A started SIP worker on 127.0.0.1 at a port the kernel picks, its T1/T2
// shortened as --sip.t1-ms / --sip.t2-ms would; `adjust` may change the
// rest of the configuration first. Null (and *error) when it did not start.
inline std::unique_ptr<SipWorker> start_worker(SipEventSink& sink, uint32_t t1_ms, uint32_t t2_ms, std::string* error,
                                               const std::function<void(SipWorkerConfig&)>& adjust = {}) {
  SipWorkerConfig cfg;
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.t1_ms = t1_ms;
  cfg.t2_ms = t2_ms;
  if (adjust) adjust(cfg);
  auto worker = std::make_unique<SipWorker>(cfg, sink);
  if (!worker->start(error)) return nullptr;
  return worker;
}

inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ------------------------------------------------------------ the sink
struct Recorder final : SipEventSink {
  struct Event {
    DialogEvent event;
    int64_t at;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<InboundRequest> requests;
  std::vector<Event> events;

  void on_request(InboundRequest r) override {
    std::lock_guard<std::mutex> lk(mu);
    requests.push_back(std::move(r));
    cv.notify_all();
  }
  void on_dialog_event(DialogEvent e) override {
    std::lock_guard<std::mutex> lk(mu);
    events.push_back(Event{std::move(e), now_ms()});
    cv.notify_all();
  }
  std::optional<InboundRequest> wait_request(size_t index, int timeout_ms = 3000) {
    std::unique_lock<std::mutex> lk(mu);
    if (!cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] { return requests.size() > index; }))
      return std::nullopt;
    return requests[index];
  }
  std::optional<Event> wait_event(DialogEventKind kind, int timeout_ms) {
    std::unique_lock<std::mutex> lk(mu);
    std::optional<Event> found;
    cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] {
      for (auto& e : events)
        if (e.event.kind == kind) {
          found = e;
          return true;
        }
      return false;
    });
    return found;
  }
  // Dial events (dial_wire_test.cpp).
  std::vector<DialEvent> dials;
  void on_dial_event(DialEvent e) override {
    std::lock_guard<std::mutex> lk(mu);
    dials.push_back(std::move(e));
    cv.notify_all();
  }
  // The first dial event of that kind for `token`.
  std::optional<DialEvent> wait_dial(uint64_t token, DialEventKind kind, int timeout_ms) {
    std::unique_lock<std::mutex> lk(mu);
    std::optional<DialEvent> found;
    cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] {
      for (auto& e : dials)
        if (e.token == token && e.kind == kind) {
          found = e;
          return true;
        }
      return false;
    });
    return found;
  }
  size_t dial_count(uint64_t token, DialEventKind kind) {
    std::lock_guard<std::mutex> lk(mu);
    size_t n = 0;
    for (auto& e : dials) n += e.token == token && e.kind == kind;
    return n;
  }
  size_t count(DialogEventKind kind) {
    std::lock_guard<std::mutex> lk(mu);
    size_t n = 0;
    for (auto& e : events) n += e.event.kind == kind;
    return n;
  }
};

// ------------------------------------------------------- SIP text helpers
inline std::string header(const std::string& msg, const std::string& name) {
  const std::string key = "\r\n" + name + ":";
  size_t p = msg.find(key);
  if (p == std::string::npos) return "";
  p += key.size();
  size_t e = msg.find("\r\n", p);
  std::string v = msg.substr(p, e - p);
  while (!v.empty() && v.front() == ' ') v.erase(0, 1);
  return v;
}

inline std::string start_line(const std::string& msg) { return msg.substr(0, msg.find("\r\n")); }

// A response to `req` as a UA would build it (To tag added if missing).
inline std::string response_to(const std::string& req, int code, const std::string& reason) {
  std::string to = header(req, "To");
  if (to.find("tag=") == std::string::npos) to += ";tag=peer-tag";
  return "SIP/2.0 " + std::to_string(code) + " " + reason + "\r\n" + "Via: " + header(req, "Via") + "\r\n" +
         "From: " + header(req, "From") + "\r\n" + "To: " + to + "\r\n" + "Call-ID: " + header(req, "Call-ID") +
         "\r\n" + "CSeq: " + header(req, "CSeq") + "\r\n" + "Content-Length: 0\r\n\r\n";
}

// ------------------------------------------------------------ the peer
// One socket on 127.0.0.1, UDP or TCP (then connected to the worker).
class WirePeer {
 public:
  struct Received {
    std::string text;
    int64_t at;
  };

  WirePeer(bool tcp, uint16_t server_port) : tcp_(tcp) {
    fd_ = ::socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    server_.sin_family = AF_INET;
    server_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server_.sin_port = htons(server_port);
    if (tcp) connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&server_), sizeof(server_)) == 0;
  }
  ~WirePeer() { ::close(fd_); }
  WirePeer(const WirePeer&) = delete;
  WirePeer& operator=(const WirePeer&) = delete;

  bool ok() const { return fd_ >= 0 && (!tcp_ || connected_); }

  // Room for `bytes` of answers not read yet. Each small datagram is
  // charged about 1 KiB in the receive queue, so the kernel's default
  // (~208 KiB) holds only ~200 of them. FORCE (root, as in CI) goes past
  // net.core.rmem_max; otherwise the cap applies.
  void receive_buffer(int bytes) {
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
      (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  uint16_t port() const { return port_; }
  const char* transport() const { return tcp_ ? "TCP" : "UDP"; }

  void send(const std::string& text) {
    if (tcp_)
      (void)::send(fd_, text.data(), text.size(), 0);
    else
      (void)::sendto(fd_, text.data(), text.size(), 0, reinterpret_cast<const sockaddr*>(&server_), sizeof(server_));
  }

  // Next complete message, or nullopt after `timeout_ms`.
  std::optional<Received> receive(int timeout_ms) {
    const int64_t until = now_ms() + timeout_ms;
    for (;;) {
      if (auto m = take_buffered()) return m;
      const int64_t left = until - now_ms();
      if (left <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return std::nullopt;
      const int64_t at = now_ms();
      if (!tcp_) return Received{std::string(buf, static_cast<size_t>(n)), at};
      stream_.append(buf, static_cast<size_t>(n));
      stream_at_ = at;
    }
  }

  // Receives until a request whose start line begins with `method`.
  std::optional<Received> receive_request(const std::string& method, int timeout_ms) {
    const int64_t until = now_ms() + timeout_ms;
    while (now_ms() < until) {
      auto m = receive(static_cast<int>(until - now_ms()));
      if (!m) return std::nullopt;
      if (m->text.rfind(method + " ", 0) == 0) return m;
    }
    return std::nullopt;
  }

 private:
  std::optional<Received> take_buffered() {
    if (!tcp_) return std::nullopt;
    while (stream_.rfind("\r\n", 0) == 0) stream_.erase(0, 2);  // keep-alives
    const size_t end = stream_.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    const size_t body = static_cast<size_t>(std::stoul("0" + header(stream_.substr(0, end + 2), "Content-Length")));
    if (stream_.size() < end + 4 + body) return std::nullopt;
    std::string text = stream_.substr(0, end + 4 + body);
    stream_.erase(0, end + 4 + body);
    return Received{text, stream_at_};
  }

  bool tcp_;
  int fd_ = -1;
  uint16_t port_ = 0;
  bool connected_ = false;
  sockaddr_in server_{};
  std::string stream_;
  int64_t stream_at_ = 0;
};


// The fixture of the worker-only wire tests: a started worker with
// T1 = 40 ms and T2 = 160 ms, the recorder as its sink, and the focus URI.
class WorkerWireTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kT1 = 40;
  static constexpr uint32_t kT2 = 160;

  void SetUp() override {
    std::string error;
    worker_ = start_worker(sink_, kT1, kT2, &error);
    ASSERT_TRUE(worker_) << error;
  }
  void TearDown() override {
    if (worker_) worker_->stop();
  }

  std::string uri() const { return "sip:conf@127.0.0.1:" + std::to_string(worker_->port()); }

  Recorder sink_;
  std::unique_ptr<SipWorker> worker_;
};

}  // namespace imserver::transport::wire
