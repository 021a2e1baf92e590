// raw-udp: what loopback itself can do, as the baseline for the fan-out
// modes. One operation is one round: a sender socket sends K NOTIFY-sized
// datagrams (sendmmsg, batches of 64) to K receiver sockets of this process;
// one receiver thread (poll over the K sockets, recvmmsg) answers each with a
// 200-sized datagram, which the sender reads back. Like a fan-out through a
// server, with all the server's work taken out: no parsing, no state.
//
// Reported like `fanout`: notifies_per_s = datagrams the receivers got per
// second of the load phase, notify_latency = round start -> the last
// receiver's datagram, latency = round start -> the last 200 back at the
// sender. A round whose datagrams or answers do not all arrive within the
// operation timeout failed (nothing is retransmitted: a loss is a loss).

#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/sip_lean.hpp"
#include "tools/imbench/imbench.hpp"

namespace imbench {
namespace {

using imserver::bench::now_ns;
using imserver::bench::RecvBatch;

constexpr int64_t kMs = 1000000;

// A departure NOTIFY as the server sends it (headers of PROTOCOL.md §2.3,
// the partial document of §4.4 example 1), with the round number in a
// fixed-width CSeq so the receivers can tell rounds apart without parsing.
std::string notify_template(size_t* cseq_at) {
  const std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
      "<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"sip:gs-1@im.example.com\" "
      "state=\"partial\" version=\"7\">\r\n"
      "  <conference-state>\r\n    <user-count>3</user-count>\r\n    <active>true</active>\r\n"
      "    <locked>false</locked>\r\n  </conference-state>\r\n"
      "  <users state=\"partial\">\r\n    <user entity=\"sip:p2@im.example.com\" state=\"partial\">\r\n"
      "      <endpoint entity=\"sip:p2@127.0.0.1:40000\" state=\"partial\">\r\n"
      "        <status>disconnected</status>\r\n        <disconnection-method>departed</disconnection-method>\r\n"
      "        <disconnection-info>\r\n          <when>2025-01-15T10:15:30Z</when>\r\n"
      "        </disconnection-info>\r\n      </endpoint>\r\n    </user>\r\n  </users>\r\n</conference-info>\r\n";
  std::string m =
      "NOTIFY sip:w1@127.0.0.1:40000 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-0123456789abcdef\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:gs-1@im.example.com>;tag=0123456789abcdef\r\n"
      "To: <sip:w1@im.example.com>;tag=0123456789\r\n"
      "Call-ID: w1.0.0123abcd@imbench\r\n";
  *cseq_at = m.size() + 6;
  m += "CSeq: 0000000000 NOTIFY\r\n"
       "Contact: <sip:gs-1@im.example.com>;isfocus\r\n"
       "Event: conference\r\n"
       "Subscription-State: active;expires=3412\r\n"
       "Content-Type: application/conference-info+xml\r\n"
       "Content-Length: " +
       std::to_string(body.size()) + "\r\n\r\n" + body;
  return m;
}

std::string ok_template(size_t* cseq_at) {
  std::string m =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-0123456789abcdef\r\n"
      "From: <sip:gs-1@im.example.com>;tag=0123456789abcdef\r\n"
      "To: <sip:w1@im.example.com>;tag=0123456789\r\n"
      "Call-ID: w1.0.0123abcd@imbench\r\n";
  *cseq_at = m.size() + 6;
  m += "CSeq: 0000000000 NOTIFY\r\nContent-Length: 0\r\n\r\n";
  return m;
}

void put_round(std::string& m, size_t at, uint64_t round) {
  for (int i = 9; i >= 0; --i, round /= 10) m[at + i] = static_cast<char>('0' + round % 10);
}
uint64_t get_round(const char* p, size_t len, size_t at) {
  if (len < at + 10) return 0;
  uint64_t r = 0;
  for (size_t i = 0; i < 10; ++i) r = r * 10 + static_cast<uint64_t>(p[at + i] - '0');
  return r;
}

class RawUdpEngine : public Engine {
 public:
  explicit RawUdpEngine(const Config& cfg) : cfg_(cfg) {}

  bool start(std::string* error) override {
    const int K = cfg_.subscribers;
    // K receiver sockets plus a few: lift the soft descriptor limit.
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    uint16_t port = 0;
    sender_ = imserver::bench::udp_socket(&port);
    if (sender_ < 0) {
      *error = std::string("sender socket: ") + std::strerror(errno);
      return false;
    }
    sender_addr_ = loopback(port);
    for (int i = 0; i < K; ++i) {
      // 256 KiB each: a receiver gets one datagram per round.
      int fd = imserver::bench::udp_socket(&port, INADDR_LOOPBACK, 256 << 10);
      if (fd < 0) {
        *error = "receiver socket " + std::to_string(i) + ": " + std::strerror(errno);
        return false;
      }
      receivers_.push_back(fd);
      dest_.push_back(loopback(port));
    }
    notify_ = notify_template(&notify_cseq_at_);
    ok_ = ok_template(&ok_cseq_at_);
    live_.setup_done_items.store(static_cast<uint64_t>(K));
    live_.setup_done.store(true);
    receiver_thread_ = std::thread([this] { receive_loop(); });
    sender_thread_ = std::thread([this] { send_loop(); });
    return true;
  }
  void join() override {
    sender_thread_.join();
    receiver_thread_.join();
    for (int fd : receivers_) close(fd);
    close(sender_);
  }
  Result results() override {
    result_.notifies = notifies_.load();
    return result_;
  }
  std::vector<Live*> lives() override { return {&live_}; }
  uint64_t setup_items() const override { return static_cast<uint64_t>(cfg_.subscribers); }

 private:
  static sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

  void receive_loop() {
    // epoll, not poll: with K = 1000 sockets a poll() per wake-up would scan
    // them all.
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < receivers_.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<uint32_t>(i);
      epoll_ctl(ep, EPOLL_CTL_ADD, receivers_[i], &ev);
    }
    std::vector<epoll_event> ready(256);
    constexpr int kBatch = 16;
    RecvBatch in(kBatch, 4096);
    mmsghdr out[kBatch];
    iovec oiov[kBatch];
    std::vector<std::string> answers(kBatch, ok_);
    while (phase.load() != kExit) {
      int nready = epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), 20);
      if (nready <= 0) continue;
      const int ph = phase.load();
      for (int e = 0; e < nready; ++e) {
        const uint32_t s = ready[e].data.u32;
        const int got = in.receive(receivers_[s]);
        if (got == 0) continue;
        const int64_t t = now_ns();
        const uint64_t current = round_.load(std::memory_order_acquire);
        for (int i = 0; i < got; ++i) {
          const std::string_view d = in.datagram(i);
          const uint64_t r = get_round(d.data(), d.size(), notify_cseq_at_);
          if (r == current) {
            arrivals_.fetch_add(1, std::memory_order_relaxed);
            int64_t prev = last_arrival_.load(std::memory_order_relaxed);
            while (t > prev && !last_arrival_.compare_exchange_weak(prev, t)) {
            }
          }
          if (ph == kLoad || ph == kDrain) {
            notifies_.fetch_add(1, std::memory_order_relaxed);
            live_.notifies.fetch_add(1, std::memory_order_relaxed);
          }
          put_round(answers[i], ok_cseq_at_, r);
          oiov[i] = iovec{answers[i].data(), answers[i].size()};
          out[i] = mmsghdr{};
          out[i].msg_hdr.msg_iov = &oiov[i];
          out[i].msg_hdr.msg_iovlen = 1;
          out[i].msg_hdr.msg_name = &in.from(i);
          out[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
        }
        int done = 0;
        while (done < got) {
          int sent = sendmmsg(receivers_[s], out + done, static_cast<unsigned>(got - done), 0);
          if (sent <= 0) break;
          done += sent;
        }
      }
    }
    close(ep);
  }

  // Reads the 200s that have arrived; returns how many belong to `round`,
  // and sets *last to the arrival time of the last of them.
  int read_answers(uint64_t round, int64_t* last) {
    constexpr int kBatch = 64;
    static thread_local RecvBatch in(kBatch, 2048);
    int count = 0;
    for (;;) {
      const int got = in.receive(sender_);
      if (got == 0) return count;
      const int64_t t = now_ns();
      for (int i = 0; i < got; ++i)
        if (get_round(in.datagram(i).data(), in.datagram(i).size(), ok_cseq_at_) == round) {
          ++count;
          *last = t;
        }
      if (got < kBatch) return count;
    }
  }

  void send_loop() {
    const int K = cfg_.subscribers;
    std::vector<std::string> copies(static_cast<size_t>(K), notify_);
    std::vector<mmsghdr> msgs(static_cast<size_t>(K));
    std::vector<iovec> iov(static_cast<size_t>(K));
    const int64_t timeout = static_cast<int64_t>(cfg_.op_timeout_s * 1e9);
    int64_t next_start = 0;
    const int64_t interval = cfg_.rate > 0 ? static_cast<int64_t>(1e9 / cfg_.rate) : 0;
    bool load_seen = false;
    for (;;) {
      const int ph = phase.load();
      if (ph == kExit) break;
      if (ph >= kTeardown) live_.teardown_done.store(true);
      int64_t now = now_ns();
      if (ph == kLoad && !load_seen) {
        load_seen = true;
        next_start = now;
      }
      const bool may_start = ph == kLoad && now < load_end_ns.load() && (interval == 0 || now >= next_start) &&
                             (cfg_.count <= 0 || ops_started.fetch_add(1) < cfg_.count);
      if (!may_start) {
        int64_t dummy = 0;
        read_answers(0, &dummy);
        std::this_thread::sleep_for(std::chrono::microseconds(ph == kLoad && interval ? 100 : 2000));
        continue;
      }
      if (interval) next_start = std::max(next_start + interval, now - 100 * kMs);
      const uint64_t round = ++rounds_;
      arrivals_.store(0);
      last_arrival_.store(0);
      round_.store(round, std::memory_order_release);
      live_.busy.store(1);
      for (int i = 0; i < K; ++i) {
        put_round(copies[i], notify_cseq_at_, round);
        iov[i] = iovec{copies[i].data(), copies[i].size()};
        msgs[i] = mmsghdr{};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &dest_[i];
        msgs[i].msg_hdr.msg_namelen = sizeof dest_[i];
      }
      const int64_t start = now_ns();
      int answered = 0;
      int64_t last_answer = 0;
      int sent = 0;
      while (sent < K) {
        int n = sendmmsg(sender_, msgs.data() + sent, static_cast<unsigned>(std::min(64, K - sent)), 0);
        if (n > 0) sent += n;
        else if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) answered += read_answers(round, &last_answer);
        else break;
      }
      while (answered < K && now_ns() - start < timeout) {
        pollfd p{sender_, POLLIN, 0};
        poll(&p, 1, 5);
        answered += read_answers(round, &last_answer);
      }
      const int arrived = arrivals_.load();
      if (arrived == K) result_.notify_us.push_back(static_cast<uint32_t>((last_arrival_.load() - start) / 1000));
      if (answered == K) {
        uint64_t us = static_cast<uint64_t>((last_answer - start) / 1000);
        result_.latency_us.push_back(static_cast<uint32_t>(us));
        live_.latency.add(us);
      }
      if (arrived == K && answered == K) {
        ++result_.ops_ok;
        live_.ops_ok.fetch_add(1);
      } else {
        ++result_.ops_failed;
        live_.ops_failed.fetch_add(1);
        live_.errors.fetch_add(1);
        if (result_.error_samples.size() < 8)
          result_.error_samples.push_back("round " + std::to_string(round) + ": " + std::to_string(arrived) + "/" +
                                          std::to_string(K) + " datagrams arrived, " + std::to_string(answered) +
                                          " answers");
      }
      live_.busy.store(0);
    }
  }

  const Config cfg_;
  int sender_ = -1;
  sockaddr_in sender_addr_{};
  std::vector<int> receivers_;
  std::vector<sockaddr_in> dest_;
  std::string notify_, ok_;
  size_t notify_cseq_at_ = 0, ok_cseq_at_ = 0;
  std::thread sender_thread_, receiver_thread_;
  std::atomic<uint64_t> round_{0};
  uint64_t rounds_ = 0;
  std::atomic<int> arrivals_{0};
  std::atomic<int64_t> last_arrival_{0};
  std::atomic<uint64_t> notifies_{0};
  Live live_;
  Result result_;
};

}  // namespace

Engine* make_raw_udp_engine(const Config& cfg) { return new RawUdpEngine(cfg); }

}  // namespace imbench
