// msrp_relay_bench: end-to-end MSRP fan-out of the real server (the focus
// as an "MSRP switch", SESSIONS.md §8.5).
//
// P participants join one ad-hoc session over SIP UDP, each with its own
// MSRP TCP connection, bound with a bodiless SEND (§7.3, §8.2). One of them
// (the sender) sends M complete 1 KiB message/cpim messages to the session,
// pipelined: at most --window SENDs unanswered, never waiting for one 200
// before the next SEND. The focus answers each with 200 and queues one copy
// per other participant (a fresh SEND of about 1.2 KiB); the P-1 receivers
// answer every copy with 200. Measured:
//
//   * elapsed: from the first SEND written until the last copy of the last
//     message has reached the last receiver;
//   * deliveries/s = M * (P-1) / elapsed;
//   * per-message latency: SEND written -> the last receiver has its copy
//     (p50, p99 over the M messages);
//   * accepted: first SEND -> the sender has the 200 of its last SEND (the
//     server's ingest; the fan-out usually lags far behind it).
//
// Baseline in the same run, right after each server phase: one writer
// thread of this process writes the same copy bytes (one copy frame the
// server sent in the first repeat) M times to each of P-1 fresh loopback
// TCP connections, one write() per frame, message after message, each
// connection round-robin; the receivers only count bytes. Same numbers
// (deliveries/s, elapsed, latency). The ratio imserver/baseline of the
// deliveries/s says what fraction of a raw loopback write loop the server
// reaches. Each repeat runs a server phase and then a baseline phase; per
// metric the median and min-max over the repeats is reported.
//
// How to run (from the build directory; the server binary is the one the
// test client library was built with, or $IMSERVER):
//
//   bin/msrp_relay_bench                          # P=100, M=2000, R=3 (about 15 s)
//   bin/msrp_relay_bench --participants=200 --messages=5000 --repeats=5
//   bin/msrp_relay_bench --window=1               # stop-and-wait sender
//   bin/msrp_relay_bench --server-flag=--msrp.out-chunk-size=512
//   ctest -R bench.msrp_relay_smoke               # P=5, M=50, one repeat
//
// Flags: --participants=P (100, at least 2), --messages=M (2000),
// --repeats=R (3), --window=W (64: SENDs in flight), --message-bytes=N
// (1024: size of the CPIM body, at least 200), --timeout-s=S (120: the whole
// run; past it the bench gives up with an error), --server-flag=FLAG
// (repeatable, appended to the server's command line), --verbose (server
// stderr and per-receiver counts on failure). Output: a compact human
// summary, then one JSON line (starting with {"bench":"msrp_relay") on
// stdout. Exit status 0 when every phase completed and every check held
// (every receiver got exactly the M messages, in order, once; every SEND of
// the sender was answered 200; the server exited cleanly), 1 otherwise.
//
// Server flags: --join.adhoc-policy=anyone, --session.max-participants=P+10,
// --msrp.queue-max-messages=2M+100 and --msrp.queue-max-bytes to match, so
// no leg's queue reaches the congestion high-water mark (0.8, §8.7) even
// if the fan-out fell M messages behind: a congested leg drops copies, and
// the bench would measure drops instead of deliveries. (As the server is
// built, it answers a SEND and writes its copies before it parses the next
// one, so the 200s come at the pace of the fan-out and "accepted" is close
// to "elapsed"; the window then mostly sets the per-message latency, about
// window x the fan-out time of one message.)
//
// The receivers are lean, on purpose. MsrpClient (the tests' endpoint) has
// one reader thread per connection, parses every frame into headers and a
// body and keeps a history: 99 threads and that much work per copy on a
// 2-core box would compete with the server for the CPU and measure the
// client. Here one epoll thread serves all receiver connections. Per copy it
// finds the end line (after the first copy of a connection it checks the
// end line at the copy's known length and falls back to a search when that
// does not match), reads the message's sequence number from the body,
// and answers 200 (To-Path = the focus's URI of that leg, From-Path = the
// receiver's own; RFC 4975 §7.2), one send() per batch of copies read.
// That is the least a conforming endpoint does: the focus expects the 200s
// (a copy unanswered for --msrp.response-timeout-s fails the leg) and
// spends work on them, which belongs to what is measured. The binding
// SENDs and the sender's frames are written by hand in the §8.1 layout.
//
// The baseline receivers (the same epoll thread) count bytes and do not
// answer: that is the plain write loop of the issue. Its rate is the
// ceiling of this machine for the bytes involved (loopback TCP, one writer
// thread, one reader thread), so the ratio is the server's share of it.
//
// Times come from the monotonic clock in this process: the sender takes one
// before each SEND's write(), the receiver thread one per recv() batch.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/client/msrp_client.hpp"
#include "bench/bench_support.hpp"
#include "tests/client/server_process.hpp"
#include "tests/client/sip_ua.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using imserver::testclient::ServerProcess;
using imserver::testclient::SipUa;

constexpr const char* kFactory = "sip:conference-factory@im.example.com";
constexpr const char* kGs1 = "sip:gs-1@im.example.com";
// Marks the sequence number in each message's text: "#seq=0000042;".
constexpr const char* kSeqMarker = "#seq=";
constexpr size_t kSeqMarkerLen = 5;
constexpr size_t kSeqDigits = 7;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Options {
  int participants = 100;
  int messages = 2000;
  int repeats = 3;
  int window = 64;
  int message_bytes = 1024;
  int timeout_s = 120;
  std::vector<std::string> server_flags;
  bool verbose = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "msrp_relay_bench: %s\n"
               "usage: msrp_relay_bench [--participants=P] [--messages=M] [--repeats=R] [--window=W]\n"
               "                        [--message-bytes=N] [--timeout-s=S] [--server-flag=FLAG]... [--verbose]\n",
               why);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  imserver::bench::FlagReader flags(argc, argv, [](const std::string& why) { usage(why.c_str()); });
  flags.each([&](imserver::bench::FlagReader& f) {
    const std::string& name = f.name();
    if (name == "--participants") o.participants = f.number(2, 5000);
    else if (name == "--messages") o.messages = f.number(1, 9999999);
    else if (name == "--repeats") o.repeats = f.number(1, 1000);
    else if (name == "--window") o.window = f.number(1, 1000000);
    else if (name == "--message-bytes") o.message_bytes = f.number(200, 1000000);
    else if (name == "--timeout-s") o.timeout_s = f.number(1, 86400);
    else if (name == "--server-flag") o.server_flags.push_back(f.text());
    else if (name == "--verbose") o.verbose = true;
    else f.unknown();
  });
  return o;
}

std::string random_alnum(std::mt19937_64& rng, size_t n) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += kChars[rng() % 62];
  return s;
}

// ------------------------------------------------------------ sockets

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

int tcp_connect(uint16_t port, std::string* error) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    *error = "connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool write_all_blocking(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// ------------------------------------------------------------ MSRP framing
// Just enough of RFC 4975 §7 / SESSIONS.md §8.1 for this bench.

// Length of the first complete frame in [p, p+avail): 0 when it is not
// complete yet, -1 when the bytes are not MSRP. *tid_len: the transaction
// id's length. The end line is "-------" tid flag CRLF; a body may not
// contain it (RFC 4975 §7.1), so the first CRLF + "-------" + tid is it.
long frame_length(const char* p, size_t avail, size_t* tid_len) {
  if (avail < 5) return 0;
  if (std::memcmp(p, "MSRP ", 5) != 0) return -1;
  const size_t look = std::min<size_t>(avail - 5, 33);
  const char* sp = static_cast<const char*>(std::memchr(p + 5, ' ', look));
  if (!sp) return look == 33 ? -1 : 0;
  *tid_len = static_cast<size_t>(sp - (p + 5));
  if (*tid_len < 4) return -1;
  char needle[48];
  std::memcpy(needle, "\r\n-------", 9);
  std::memcpy(needle + 9, p + 5, *tid_len);
  const size_t nlen = 9 + *tid_len;
  const char* from = sp;
  const char* end = p + avail;
  const void* hit = memmem(from, static_cast<size_t>(end - from), needle, nlen);
  if (!hit) return 0;
  const char* flag = static_cast<const char*>(hit) + nlen;
  if (flag + 3 > end) return 0;
  if ((*flag != '$' && *flag != '+' && *flag != '#') || flag[1] != '\r' || flag[2] != '\n') return -1;
  return static_cast<long>(flag + 3 - p);
}

// The status code of a response frame ("MSRP tid 200 OK"), 0 for a request.
int response_status(const char* p, size_t tid_len) {
  const char* s = p + 5 + tid_len + 1;
  if (s[0] >= '1' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' &&
      (s[3] == ' ' || s[3] == '\r'))
    return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  return 0;
}

std::string bodiless_send(const std::string& tid, const std::string& to, const std::string& from,
                          const std::string& mid) {
  return "MSRP " + tid + " SEND\r\nTo-Path: " + to + "\r\nFrom-Path: " + from + "\r\nMessage-ID: " + mid +
         "\r\nByte-Range: 1-0/0\r\n-------" + tid + "$\r\n";
}

std::string body_send(const std::string& tid, const std::string& to, const std::string& from, const std::string& mid,
                      const std::string& body) {
  const std::string n = std::to_string(body.size());
  return "MSRP " + tid + " SEND\r\nTo-Path: " + to + "\r\nFrom-Path: " + from + "\r\nMessage-ID: " + mid +
         "\r\nByte-Range: 1-" + n + "/" + n + "\r\nContent-Type: message/cpim\r\n\r\n" + body + "\r\n-------" + tid +
         "$\r\n";
}

// Reads one frame from a blocking socket (the binding SEND's answer).
int read_response_blocking(int fd, std::chrono::milliseconds timeout, std::string* raw) {
  std::string buf;
  const auto deadline = Clock::now() + timeout;
  char tmp[4096];
  for (;;) {
    size_t tid_len = 0;
    long n = frame_length(buf.data(), buf.size(), &tid_len);
    if (n < 0) {
      *raw = buf;
      return -1;
    }
    if (n > 0) {
      *raw = buf.substr(0, static_cast<size_t>(n));
      return response_status(buf.data(), tid_len);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      *raw = buf;
      return 0;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    ssize_t r = recv(fd, tmp, sizeof tmp, 0);
    if (r <= 0) {
      *raw = buf;
      return -1;
    }
    buf.append(tmp, static_cast<size_t>(r));
  }
}

// ------------------------------------------------------------ receivers

enum class Mode { Server, Baseline };

struct PhaseSpec {
  Mode mode = Mode::Server;
  int messages = 0;
  size_t frame_bytes = 0;  // baseline: bytes per message on each connection
};

struct PhaseOutcome {
  bool complete = false;
  int receivers = 0;
  std::vector<int64_t> done_ns;  // per message: when the last receiver had it
  int64_t last_ns = 0;           // the last copy of all
  int64_t first_ns = 0;          // the first copy of all
  uint64_t out_of_order = 0;     // copies whose sequence number was not the next one expected
  uint64_t foreign = 0;          // frames that were not copies of this phase's messages
  uint64_t unanswered = 0;       // 200s that could not be written
  std::string error;             // a connection broke or sent garbage
  std::vector<int64_t> got;      // per receiver
};

// One epoll thread for every receiver connection (see the header comment).
class ReceiverLoop {
 public:
  ReceiverLoop() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    ev_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = UINT64_MAX;
    epoll_ctl(ep_, EPOLL_CTL_ADD, ev_, &e);
    scratch_.resize(256 << 10);
    thread_ = std::thread([this] { run(); });
  }
  ~ReceiverLoop() {
    command([this] { stop_ = true; });
    thread_.join();
    for (auto& c : conns_) close(c->fd);
    close(ev_);
    close(ep_);
  }

  // A server-mode receiver: answers copies with 200 from my_path to focus_path.
  void add(int fd, Mode mode, const std::string& focus_path = "", const std::string& my_path = "") {
    set_nonblocking(fd);
    command([&] {
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      c->index = conns_.size();
      c->mode = mode;
      c->response_middle = " 200 OK\r\nTo-Path: " + focus_path + "\r\nFrom-Path: " + my_path + "\r\n-------";
      if (mode == Mode::Server) c->in.resize(256 << 10);
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.u64 = conns_.size();
      epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &e);
      conns_.push_back(std::move(c));
    });
  }

  void begin(const PhaseSpec& spec) {
    command([&] {
      spec_ = spec;
      count_.assign(spec.messages, 0);
      out_ = PhaseOutcome{};
      out_.done_ns.assign(spec.messages, 0);
      receivers_ = 0;
      done_receivers_ = 0;
      for (auto& c : conns_) {
        c->got = 0;
        c->bytes = 0;
        c->next_seq = 0;
        if (c->mode == spec.mode) ++receivers_;
      }
      out_.receivers = receivers_;
      active_ = true;
    });
  }

  // Waits until every receiver of the phase has every message (or the
  // deadline passes, or a connection broke); ends the phase.
  PhaseOutcome finish(Clock::time_point deadline) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait_until(lk, deadline, [&] { return out_.complete || !out_.error.empty(); });
    lk.unlock();
    PhaseOutcome r;
    command([&] {
      active_ = false;
      out_.got.clear();
      for (auto& c : conns_)
        if (c->mode == spec_.mode) out_.got.push_back(c->got);
      r = out_;
    });
    return r;
  }

  // The first copy frame of the first server receiver, as received.
  std::string sample() {
    std::string s;
    command([&] { s = sample_; });
    return s;
  }

 private:
  struct Conn {
    int fd = -1;
    size_t index = 0;  // in conns_, the epoll data
    Mode mode = Mode::Server;
    std::vector<char> in;  // server mode: unparsed bytes
    size_t len = 0;
    std::string out;  // 200s not yet written
    bool want_out = false;
    std::string response_middle;
    // Learned from the first copy: every copy on a connection has the same
    // length (fixed-length tid, Message-ID and Byte-Range) and layout.
    size_t frame_len = 0, tid_len = 0, seq_off = 0;
    // Per phase.
    int64_t got = 0;
    uint64_t bytes = 0;
    int64_t next_seq = 0;
  };

  // Runs fn on the loop thread and waits for it.
  template <typename Fn>
  void command(Fn fn) {
    std::unique_lock<std::mutex> lk(mu_);
    std::function<void()> job = fn;
    bool done = false;
    jobs_.push_back([&] {
      job();
      done = true;
    });
    uint64_t one = 1;
    (void)!write(ev_, &one, sizeof one);
    cv_.wait(lk, [&] { return done; });
  }

  void run() {
    std::vector<epoll_event> events(512);
    while (!stop_) {
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 200);
      for (int i = 0; i < n; ++i) {
        const uint64_t id = events[i].data.u64;
        if (id == UINT64_MAX) {
          uint64_t v;
          (void)!read(ev_, &v, sizeof v);
          std::vector<std::function<void()>> jobs;
          {
            std::lock_guard<std::mutex> lk(mu_);
            jobs.swap(jobs_);
            for (auto& j : jobs) j();
          }
          cv_.notify_all();
          continue;
        }
        Conn& c = *conns_[id];
        if (events[i].events & EPOLLOUT) flush(c);
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
      }
    }
  }

  void broke(const std::string& why) {
    std::lock_guard<std::mutex> lk(mu_);
    if (out_.error.empty()) out_.error = why;
    cv_.notify_all();
  }

  void on_readable(Conn& c) {
    if (c.mode == Mode::Baseline) {
      ssize_t n = recv(c.fd, scratch_.data(), scratch_.size(), 0);
      if (n <= 0) return closed(c, n);
      const int64_t t = now_ns();
      c.bytes += static_cast<uint64_t>(n);
      if (!active_ || spec_.mode != Mode::Baseline) {
        ++out_.foreign;
        return;
      }
      const int64_t have = std::min<int64_t>(spec_.messages, static_cast<int64_t>(c.bytes / spec_.frame_bytes));
      for (int64_t k = c.got; k < have; ++k) arrived(k, t);
      if (have > c.got) {
        c.got = have;
        if (c.got == spec_.messages) receiver_done(t);
      }
      return;
    }
    if (c.in.size() - c.len < 4096) c.in.resize(c.in.size() * 2);
    ssize_t n = recv(c.fd, c.in.data() + c.len, c.in.size() - c.len, 0);
    if (n <= 0) return closed(c, n);
    const int64_t t = now_ns();
    c.len += static_cast<size_t>(n);
    size_t pos = 0;
    for (;;) {
      const char* p = c.in.data() + pos;
      const size_t avail = c.len - pos;
      if (avail < 8) break;
      size_t flen = 0, tid_len = 0;
      bool known = false;
      if (c.frame_len && avail >= c.frame_len && std::memcmp(p, "MSRP ", 5) == 0 && p[5 + c.tid_len] == ' ') {
        // The end line where the first copy had it?
        const char* e = p + c.frame_len - (c.tid_len + 12);
        if (std::memcmp(e, "\r\n-------", 9) == 0 && std::memcmp(e + 9, p + 5, c.tid_len) == 0 &&
            e[9 + c.tid_len] == '$' && e[10 + c.tid_len] == '\r' && e[11 + c.tid_len] == '\n') {
          flen = c.frame_len;
          tid_len = c.tid_len;
          known = true;
        }
      }
      if (!flen) {
        long l = frame_length(p, avail, &tid_len);
        if (l < 0) {
          broke("a receiver got bytes that are not MSRP: " + std::string(p, std::min<size_t>(avail, 80)));
          epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
          return;
        }
        if (l == 0) break;
        flen = static_cast<size_t>(l);
      }
      const char* method = p + 5 + tid_len + 1;
      if (flen > 5 + tid_len + 7 && std::memcmp(method, "SEND\r\n", 6) == 0) {
        // The sequence number from the text.
        long seq = -1;
        const char* mark = nullptr;
        if (known && std::memcmp(p + c.seq_off, kSeqMarker, kSeqMarkerLen) == 0) {
          mark = p + c.seq_off;
        } else {
          mark = static_cast<const char*>(memmem(p, flen, kSeqMarker, kSeqMarkerLen));
          if (mark && !c.frame_len && p[flen - 3] == '$') {
            c.frame_len = flen;
            c.tid_len = tid_len;
            c.seq_off = static_cast<size_t>(mark - p);
          }
        }
        if (mark && mark + kSeqMarkerLen + kSeqDigits <= p + flen) {
          seq = 0;
          for (size_t d = 0; d < kSeqDigits; ++d) {
            const char ch = mark[kSeqMarkerLen + d];
            if (ch < '0' || ch > '9') {
              seq = -1;
              break;
            }
            seq = seq * 10 + (ch - '0');
          }
        }
        // The 200 (RFC 4975 §7.2): To-Path = the focus's URI, From-Path = ours.
        c.out.append("MSRP ", 5);
        c.out.append(p + 5, tid_len);
        c.out += c.response_middle;
        c.out.append(p + 5, tid_len);
        c.out.append("$\r\n", 3);
        if (sample_.empty()) sample_.assign(p, flen);
        if (active_ && spec_.mode == Mode::Server && seq >= 0 && seq < spec_.messages) {
          if (seq != c.next_seq) ++out_.out_of_order;
          c.next_seq = seq + 1;
          arrived(seq, t);
          if (++c.got == spec_.messages) receiver_done(t);
        } else {
          ++out_.foreign;
        }
      } else {
        ++out_.foreign;  // a response or another request: not expected here
      }
      pos += flen;
    }
    if (pos) {
      std::memmove(c.in.data(), c.in.data() + pos, c.len - pos);
      c.len -= pos;
    }
    flush(c);
  }

  void arrived(int64_t k, int64_t t) {
    if (out_.first_ns == 0) out_.first_ns = t;
    if (++count_[k] == receivers_) out_.done_ns[k] = t;
  }

  void receiver_done(int64_t t) {
    out_.last_ns = std::max(out_.last_ns, t);
    if (++done_receivers_ == receivers_) {
      std::lock_guard<std::mutex> lk(mu_);
      out_.complete = true;
      cv_.notify_all();
    }
  }

  void flush(Conn& c) {
    while (!c.out.empty()) {
      ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      ++out_.unanswered;
      c.out.clear();
      break;
    }
    const bool want = !c.out.empty();
    if (want != c.want_out) {
      c.want_out = want;
      epoll_event e{};
      e.events = EPOLLIN | (want ? EPOLLOUT : 0u);
      e.data.u64 = c.index;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &e);
    }
  }

  void closed(Conn& c, ssize_t n) {
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    broke(std::string("a receiver connection was closed by the peer") +
          (n < 0 ? std::string(": ") + std::strerror(errno) : std::string()));
  }

  int ep_ = -1, ev_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::function<void()>> jobs_;
  bool stop_ = false;  // loop thread only (set by a command)
  // Loop thread only:
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<char> scratch_;
  PhaseSpec spec_;
  bool active_ = false;
  std::vector<int> count_;
  int receivers_ = 0, done_receivers_ = 0;
  std::string sample_;
  PhaseOutcome out_;  // complete/error also read under mu_ by finish()
};

// ------------------------------------------------------------ the phases

struct SenderOutcome {
  std::vector<int64_t> sent_ns;
  int64_t last_answer_ns = 0;
  int answered = 0;
  int non_200 = 0;
  std::string first_error;
};

// The sender: writes the prepared frames with at most `window` unanswered,
// reads the 200s, until all are answered or the deadline passes.
SenderOutcome run_sender(int fd, const std::vector<std::string>& frames, int window, Clock::time_point deadline) {
  SenderOutcome r;
  const size_t m = frames.size();
  r.sent_ns.assign(m, 0);
  size_t next = 0, off = 0;
  std::string in;
  char buf[65536];
  while (static_cast<size_t>(r.answered) < m) {
    bool want_out = false;
    while (next < m && next - static_cast<size_t>(r.answered) < static_cast<size_t>(window)) {
      const std::string& f = frames[next];
      if (off == 0) r.sent_ns[next] = now_ns();
      ssize_t n = send(fd, f.data() + off, f.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        want_out = true;
        break;
      }
      if (n <= 0) {
        r.first_error = std::string("sender write: ") + std::strerror(errno);
        return r;
      }
      off += static_cast<size_t>(n);
      if (off < f.size()) {
        want_out = true;
        break;
      }
      ++next;
      off = 0;
    }
    if (Clock::now() > deadline) {
      r.first_error = "timed out with " + std::to_string(m - r.answered) + " SENDs unanswered";
      return r;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (want_out ? POLLOUT : 0)), 0};
    if (poll(&p, 1, 100) <= 0) continue;
    if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      r.first_error = "the focus closed the sender's MSRP connection";
      return r;
    }
    if (n < 0) continue;
    const int64_t t = now_ns();
    in.append(buf, static_cast<size_t>(n));
    size_t pos = 0;
    for (;;) {
      size_t tid_len = 0;
      long l = frame_length(in.data() + pos, in.size() - pos, &tid_len);
      if (l < 0) {
        r.first_error = "the sender got bytes that are not MSRP: " + in.substr(pos, 80);
        return r;
      }
      if (l == 0) break;
      const int status = response_status(in.data() + pos, tid_len);
      if (status != 0) {  // requests (none expected) are ignored
        ++r.answered;
        r.last_answer_ns = t;
        if (status != 200) {
          ++r.non_200;
          if (r.first_error.empty()) r.first_error = in.substr(pos, std::min<size_t>(static_cast<size_t>(l), 200));
        }
      }
      pos += static_cast<size_t>(l);
    }
    in.erase(0, pos);
  }
  return r;
}

// The baseline writer: `frame` M times to each socket, one write per frame,
// message-major, connections that would block are skipped and retried.
// Returns the time each message's first byte went out.
std::vector<int64_t> run_writer(const std::vector<int>& fds, const std::string& frame, int messages,
                                Clock::time_point deadline, std::string* error) {
  std::vector<int64_t> started(messages, 0);
  const size_t len = frame.size();
  const uint64_t total = static_cast<uint64_t>(len) * messages;
  std::vector<uint64_t> written(fds.size(), 0);
  size_t unfinished = fds.size();
  std::vector<pollfd> wait;
  while (unfinished > 0) {
    bool progress = false;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (written[i] >= total) continue;
      const size_t k = static_cast<size_t>(written[i] / len);
      const size_t off = static_cast<size_t>(written[i] % len);
      if (off == 0 && started[k] == 0) started[k] = now_ns();
      ssize_t n = send(fds[i], frame.data() + off, len - off, MSG_NOSIGNAL);
      if (n > 0) {
        written[i] += static_cast<uint64_t>(n);
        progress = true;
        if (written[i] >= total) --unfinished;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        *error = std::string("baseline write: ") + std::strerror(errno);
        return started;
      }
    }
    if (progress) continue;
    if (Clock::now() > deadline) {
      *error = "baseline timed out";
      return started;
    }
    wait.clear();
    for (size_t i = 0; i < fds.size(); ++i)
      if (written[i] < total) wait.push_back(pollfd{fds[i], POLLOUT, 0});
    poll(wait.data(), wait.size(), 100);
  }
  return started;
}

// ------------------------------------------------------------ CPU of the server
// utime+stime of the process and of each of its threads, from /proc (ticks).

struct CpuSample {
  uint64_t total = 0;
  std::vector<std::pair<int, uint64_t>> threads;  // tid, ticks
};

uint64_t stat_ticks(const std::string& path, std::string* name = nullptr) {
  std::ifstream f(path);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t open = s.find('('), close = s.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return 0;
  if (name) *name = s.substr(open + 1, close - open - 1);
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return utime + stime;
}

CpuSample cpu_of(pid_t pid) {
  CpuSample c;
  const std::string base = "/proc/" + std::to_string(pid);
  c.total = stat_ticks(base + "/stat");
  if (DIR* d = opendir((base + "/task").c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      c.threads.emplace_back(std::atoi(e->d_name), stat_ticks(base + "/task/" + e->d_name + "/stat"));
    }
    closedir(d);
  }
  return c;
}

// CPU ms of the process, and the busiest thread's ms and name, between two samples.
struct CpuDelta {
  double total_ms = 0, busiest_ms = 0, wall_ms = 0;
  std::string busiest;
};
CpuDelta cpu_delta(pid_t pid, const CpuSample& a, const CpuSample& b) {
  const double ms_per_tick = 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  CpuDelta d;
  d.total_ms = static_cast<double>(b.total - a.total) * ms_per_tick;
  for (const auto& [tid, ticks] : b.threads) {
    uint64_t before = 0;
    for (const auto& [t0, k0] : a.threads)
      if (t0 == tid) before = k0;
    const double ms = static_cast<double>(ticks - before) * ms_per_tick;
    if (ms > d.busiest_ms) {
      d.busiest_ms = ms;
      stat_ticks("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat", &d.busiest);
    }
  }
  return d;
}

// ------------------------------------------------------------ statistics

using imserver::bench::Stat;
using imserver::bench::stat_of;

// Nearest-rank percentile of latencies (ms).
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

struct Run {
  double elapsed_ms = 0, rate = 0, p50_ms = 0, p99_ms = 0, first_copy_ms = 0;
  double accepted_ms = 0;  // server only
  CpuDelta server_cpu;     // server only
  CpuDelta bench_cpu;      // this process during the server phase (sender, receivers, idle SIP UAs)
};

Run summarize(const std::vector<int64_t>& sent_ns, const PhaseOutcome& o, int receivers) {
  Run r;
  const int64_t start = sent_ns.front();
  r.elapsed_ms = static_cast<double>(o.last_ns - start) / 1e6;
  r.first_copy_ms = static_cast<double>(o.first_ns - start) / 1e6;
  r.rate = static_cast<double>(sent_ns.size()) * receivers / (r.elapsed_ms / 1e3);
  std::vector<double> lat;
  lat.reserve(sent_ns.size());
  for (size_t k = 0; k < sent_ns.size(); ++k) lat.push_back(static_cast<double>(o.done_ns[k] - sent_ns[k]) / 1e6);
  r.p50_ms = percentile(lat, 50);
  r.p99_ms = percentile(lat, 99);
  return r;
}

std::string json_stat(const Stat& s) {
  char b[160];
  std::snprintf(b, sizeof b, "{\"median\":%.6g,\"min\":%.6g,\"max\":%.6g}", s.median, s.min, s.max);
  return b;
}

struct Participant {
  std::unique_ptr<SipUa> ua;
  std::string aor, path, focus_path;
  int fd = -1;
};

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_options(argc, argv);
  const int P = opt.participants, M = opt.messages, R = opt.repeats;
  const auto run_start = Clock::now();
  const auto deadline = run_start + std::chrono::seconds(opt.timeout_s);

  // Everything below waits against `deadline`; this catches what would not
  // (a wedged call), so the bench always stops by itself.
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    while (!finished.load()) {
      if (Clock::now() > deadline + std::chrono::seconds(15)) {
        std::fprintf(stderr, "msrp_relay_bench: FAILED: still running %d s after the --timeout-s limit; aborting\n",
                     15);
        std::fflush(stderr);
        _exit(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  struct JoinWatchdog {
    std::atomic<bool>& f;
    std::thread& t;
    ~JoinWatchdog() {
      f.store(true);
      t.join();
    }
  } join_watchdog{finished, watchdog};

  // ~3 fds per participant for SIP and MSRP, 2 more per baseline connection.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  bool ok = true;
  auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "msrp_relay_bench: FAILED: %s\n", what.c_str());
    ok = false;
  };

  ServerProcess server;
  const long queue_messages = 2L * M + 100;
  const long queue_bytes = std::max<long>(8L << 20, queue_messages * (opt.message_bytes + 1024L));
  std::vector<std::string> flags = {"--join.adhoc-policy=anyone",
                                    "--session.max-participants=" + std::to_string(P + 10),
                                    "--msrp.queue-max-messages=" + std::to_string(queue_messages),
                                    "--msrp.queue-max-bytes=" + std::to_string(queue_bytes)};
  flags.insert(flags.end(), opt.server_flags.begin(), opt.server_flags.end());
  std::string error;
  if (!server.start(flags, &error)) {
    std::fprintf(stderr, "msrp_relay_bench: server did not start: %s\n", error.c_str());
    return 1;
  }
  auto give_up = [&](const std::string& what) {
    fail(what);
    if (opt.verbose) std::fprintf(stderr, "---- server stderr ----\n%s\n", server.stderr_text().c_str());
    server.stop();
    return 1;
  };

  // ---- join: P users over SIP UDP, each binds its own MSRP connection.
  std::mt19937_64 rng(std::random_device{}());
  std::vector<Participant> people(P);
  ReceiverLoop loop;
  const auto join_start = Clock::now();
  for (int i = 0; i < P; ++i) {
    if (Clock::now() > deadline) return give_up("joining took longer than --timeout-s");
    Participant& u = people[i];
    char user[32];
    std::snprintf(user, sizeof user, "u%04d", i);
    u.aor = std::string("sip:") + user + "@example.com";
    SipUa::Options o;
    o.transport = "udp";
    o.server_port = server.port();
    o.aor = u.aor;
    try {
      u.ua = std::make_unique<SipUa>(o);
    } catch (const std::exception& e) {
      return give_up(std::string("SIP UA: ") + e.what());
    }
    u.ua->answer_bye_automatically(true);
    u.path = "msrp://127.0.0.1:" + std::to_string(40000 + i) + "/" + user + random_alnum(rng, 12) + ";tcp";
    const std::string sdp = std::string("v=0\r\no=") + user +
                            " 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                            "m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim\r\n"
                            "a=accept-wrapped-types:*\r\na=path:" +
                            u.path + "\r\na=setup:actpass\r\na=sendrecv\r\n";
    auto j = u.ua->invite(i == 0 ? kFactory : kGs1, "", "application/sdp", sdp);
    if (!j.ok) return give_up(std::string(user) + " could not join: " + j.error);
    const std::string& answer = j.final.body;
    const size_t at = answer.find("a=path:");
    if (at == std::string::npos) return give_up(std::string(user) + ": no a=path in the answer:\n" + answer);
    u.focus_path = answer.substr(at + 7, answer.find("\r\n", at) - at - 7);
    u.fd = tcp_connect(server.msrp_port(), &error);
    if (u.fd < 0) return give_up(error);
    const std::string tid = "b" + random_alnum(rng, 15);
    if (!write_all_blocking(u.fd, bodiless_send(tid, u.focus_path, u.path, "m-bind-" + random_alnum(rng, 16))))
      return give_up(std::string(user) + ": binding SEND not written");
    std::string raw;
    const int status = read_response_blocking(u.fd, std::chrono::seconds(5), &raw);
    if (status != 200)
      return give_up(std::string(user) + ": binding SEND answered " + std::to_string(status) + ":\n" + raw);
    if (i > 0) loop.add(u.fd, Mode::Server, u.focus_path, u.path);
  }
  const double join_ms = std::chrono::duration<double, std::milli>(Clock::now() - join_start).count();
  Participant& sender = people[0];
  set_nonblocking(sender.fd);
  const int receivers = P - 1;

  // ---- the messages: CPIM from the sender to the session, exactly
  // --message-bytes long, a sequence number in the text.
  auto make_body = [&](int seq) {
    char mark[32];
    std::snprintf(mark, sizeof mark, "%s%0*d;", kSeqMarker, static_cast<int>(kSeqDigits), seq);
    std::string text = mark;
    std::string body = imserver::testclient::cpim_body(sender.aor, kGs1, text);
    if (body.size() < static_cast<size_t>(opt.message_bytes)) {
      std::string pad;
      for (size_t k = 0; pad.size() < static_cast<size_t>(opt.message_bytes) - body.size(); ++k)
        pad += static_cast<char>('a' + k % 26);
      body += pad;
    }
    return body;
  };

  std::printf("msrp_relay_bench: %d participants (1 sender, %d receivers), %d messages of %d bytes, window %d, "
              "%d repeat(s); join took %.0f ms\n",
              P, receivers, M, opt.message_bytes, opt.window, R, join_ms);
  std::fflush(stdout);
  std::vector<Run> srv, base;
  std::vector<double> ratios;
  std::string copy_frame;
  size_t send_frame_bytes = 0;
  std::vector<int> writer_fds;
  int listener = -1;
  for (int rep = 0; rep < R; ++rep) {
    // ---- server phase
    std::vector<std::string> frames;
    frames.reserve(M);
    const std::string rtag = random_alnum(rng, 6);
    for (int k = 0; k < M; ++k) {
      char tid[32], mid[48];
      std::snprintf(tid, sizeof tid, "s%s%07d", rtag.c_str(), k);
      std::snprintf(mid, sizeof mid, "m-%s-%07d", rtag.c_str(), k);
      frames.push_back(body_send(tid, sender.focus_path, sender.path, mid, make_body(k)));
    }
    send_frame_bytes = frames.front().size();
    loop.begin(PhaseSpec{Mode::Server, M, 0});
    const CpuSample cpu0 = cpu_of(server.pid()), self0 = cpu_of(getpid());
    const int64_t cpu0_ns = now_ns();
    SenderOutcome so = run_sender(sender.fd, frames, opt.window, deadline);
    if (!so.first_error.empty() && so.non_200 == 0)
      return give_up("sender, repeat " + std::to_string(rep + 1) + ": " + so.first_error);
    PhaseOutcome po = loop.finish(deadline);
    const CpuSample cpu1 = cpu_of(server.pid()), self1 = cpu_of(getpid());
    const int64_t cpu1_ns = now_ns();
    if (so.non_200) fail(std::to_string(so.non_200) + " SENDs not answered 200; the first:\n" + so.first_error);
    if (!po.complete) {
      std::string counts;
      int64_t total = 0, least = INT64_MAX;
      for (int64_t g : po.got) {
        total += g;
        least = std::min(least, g);
      }
      if (opt.verbose)
        for (size_t r = 0; r < po.got.size(); ++r) counts += " " + std::to_string(po.got[r]);
      return give_up("repeat " + std::to_string(rep + 1) + ": copies missing: " + std::to_string(total) + " of " +
                     std::to_string(static_cast<int64_t>(M) * receivers) + " arrived (fewest on one receiver: " +
                     std::to_string(least) + "); sender had " + std::to_string(so.answered) + " 200s" +
                     (po.error.empty() ? "" : "; " + po.error) + (counts.empty() ? "" : "\nper receiver:" + counts));
    }
    if (po.out_of_order) fail(std::to_string(po.out_of_order) + " copies out of order");
    if (po.foreign) fail(std::to_string(po.foreign) + " unexpected frames at the receivers");
    if (po.unanswered) fail(std::to_string(po.unanswered) + " 200s to copies could not be written");
    Run sr = summarize(so.sent_ns, po, receivers);
    sr.accepted_ms = static_cast<double>(so.last_answer_ns - so.sent_ns.front()) / 1e6;
    sr.server_cpu = cpu_delta(server.pid(), cpu0, cpu1);
    sr.server_cpu.wall_ms = static_cast<double>(cpu1_ns - cpu0_ns) / 1e6;
    sr.bench_cpu = cpu_delta(getpid(), self0, self1);
    sr.bench_cpu.wall_ms = sr.server_cpu.wall_ms;
    srv.push_back(sr);
    if (copy_frame.empty()) copy_frame = loop.sample();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the last 200s reach the server

    // ---- baseline phase: the same copy bytes over fresh loopback connections
    if (listener < 0) {
      listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t alen = sizeof a;
      if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
          listen(listener, 1024) != 0 || getsockname(listener, reinterpret_cast<sockaddr*>(&a), &alen) != 0)
        return give_up(std::string("baseline listener: ") + std::strerror(errno));
      for (int r = 0; r < receivers; ++r) {
        int w = tcp_connect(ntohs(a.sin_port), &error);
        if (w < 0) return give_up("baseline: " + error);
        int rd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (rd < 0) return give_up(std::string("baseline accept: ") + std::strerror(errno));
        set_nonblocking(w);
        writer_fds.push_back(w);
        loop.add(rd, Mode::Baseline);
      }
    }
    loop.begin(PhaseSpec{Mode::Baseline, M, copy_frame.size()});
    std::vector<int64_t> started;
    std::string werr;
    std::thread writer([&] { started = run_writer(writer_fds, copy_frame, M, deadline, &werr); });
    writer.join();
    if (!werr.empty()) return give_up(werr);
    PhaseOutcome bo = loop.finish(deadline);
    if (!bo.complete) return give_up("baseline incomplete" + (bo.error.empty() ? "" : ": " + bo.error));
    Run br = summarize(started, bo, receivers);
    base.push_back(br);
    ratios.push_back(sr.rate / br.rate);
    std::printf(
        "  repeat %d: imserver %8.0f deliveries/s (%.1f ms, accepted %.1f ms, p50 %.1f ms, p99 %.1f ms; CPU ms "
        "server %.0f, its busiest thread %.0f, bench %.0f); baseline %8.0f deliveries/s (%.1f ms)\n",
        rep + 1, sr.rate, sr.elapsed_ms, sr.accepted_ms, sr.p50_ms, sr.p99_ms, sr.server_cpu.total_ms,
        sr.server_cpu.busiest_ms, sr.bench_cpu.total_ms, br.rate, br.elapsed_ms);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  auto pick = [](const std::vector<Run>& v, double Run::*f) {
    std::vector<double> out;
    for (const auto& r : v) out.push_back(r.*f);
    return stat_of(out);
  };
  std::vector<double> cpu_total, cpu_busiest, cpu_bench, cpu_bench1;
  for (const auto& r : srv) {
    cpu_bench.push_back(r.bench_cpu.total_ms / r.bench_cpu.wall_ms * 100);
    cpu_bench1.push_back(r.bench_cpu.busiest_ms / r.bench_cpu.wall_ms * 100);
    // Ticks of 10 ms: meaningful for phases of a second or more only.
    cpu_total.push_back(r.server_cpu.total_ms / r.server_cpu.wall_ms * 100);
    cpu_busiest.push_back(r.server_cpu.busiest_ms / r.server_cpu.wall_ms * 100);
  }
  const Stat s_rate = pick(srv, &Run::rate), s_el = pick(srv, &Run::elapsed_ms), s_acc = pick(srv, &Run::accepted_ms),
             s_p50 = pick(srv, &Run::p50_ms), s_p99 = pick(srv, &Run::p99_ms);
  const Stat b_rate = pick(base, &Run::rate), b_el = pick(base, &Run::elapsed_ms), b_p50 = pick(base, &Run::p50_ms),
             b_p99 = pick(base, &Run::p99_ms);
  const Stat ratio = stat_of(ratios), s_cpu = stat_of(cpu_total), s_cpu1 = stat_of(cpu_busiest),
             s_bcpu = stat_of(cpu_bench), s_bcpu1 = stat_of(cpu_bench1);

  std::printf("  SEND frame %zu bytes, copy frame %zu bytes; %d deliveries per repeat\n", send_frame_bytes,
              copy_frame.size(), M * receivers);
  auto line = [](const char* what, const Stat& s, const char* unit, int digits = 1) {
    std::printf("  %-46s median %11.*f %-3s (min %.*f, max %.*f)\n", what, digits, s.median, unit, digits, s.min,
                digits, s.max);
  };
  line("imserver: deliveries/s", s_rate, "1/s");
  line("imserver: first SEND -> last copy received", s_el, "ms");
  line("imserver: first SEND -> last SEND's 200", s_acc, "ms");
  line("imserver: latency SEND -> last receiver, p50", s_p50, "ms");
  line("imserver: latency SEND -> last receiver, p99", s_p99, "ms");
  line("imserver: server CPU (all threads)", s_cpu, "%");
  line("imserver: server CPU (busiest thread)", s_cpu1, "%");
  line("imserver: bench CPU (all threads)", s_bcpu, "%");
  line("imserver: bench CPU (busiest thread)", s_bcpu1, "%");
  line("baseline: deliveries/s", b_rate, "1/s");
  line("baseline: first write -> last copy received", b_el, "ms");
  line("baseline: latency write -> last receiver, p50", b_p50, "ms");
  line("baseline: latency write -> last receiver, p99", b_p99, "ms");
  line("ratio imserver/baseline (deliveries/s)", ratio, "x", 3);

  // Stop the server before the JSON line so its exit status is in it.
  for (auto& u : people) u.ua.reset();
  const int status = server.stop();
  if (status != 0) fail("server exit status " + std::to_string(status));

  std::printf(
      "{\"bench\":\"msrp_relay\",\"participants\":%d,\"receivers\":%d,\"messages\":%d,\"message_bytes\":%d,"
      "\"send_frame_bytes\":%zu,\"copy_frame_bytes\":%zu,\"window\":%d,\"repeats\":%d,\"join_ms\":%.1f,"
      "\"imserver\":{\"deliveries_per_s\":%s,\"elapsed_ms\":%s,\"accepted_ms\":%s,\"latency_p50_ms\":%s,"
      "\"latency_p99_ms\":%s,\"server_cpu_percent\":%s,\"busiest_thread_cpu_percent\":%s,"
      "\"bench_cpu_percent\":%s,\"bench_busiest_thread_cpu_percent\":%s},"
      "\"baseline\":{\"deliveries_per_s\":%s,\"elapsed_ms\":%s,\"latency_p50_ms\":%s,\"latency_p99_ms\":%s},"
      "\"ratio\":%s,\"ok\":%s}\n",
      P, receivers, M, opt.message_bytes, send_frame_bytes, copy_frame.size(), opt.window, R, join_ms,
      json_stat(s_rate).c_str(), json_stat(s_el).c_str(), json_stat(s_acc).c_str(), json_stat(s_p50).c_str(),
      json_stat(s_p99).c_str(), json_stat(s_cpu).c_str(), json_stat(s_cpu1).c_str(), json_stat(s_bcpu).c_str(),
      json_stat(s_bcpu1).c_str(), json_stat(b_rate).c_str(),
      json_stat(b_el).c_str(), json_stat(b_p50).c_str(), json_stat(b_p99).c_str(), json_stat(ratio).c_str(),
      ok ? "true" : "false");
  for (int w : writer_fds) close(w);
  if (listener >= 0) close(listener);
  close(people[0].fd);  // the loop closes the receivers' sockets
  return ok ? 0 : 1;
}
