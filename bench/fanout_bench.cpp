// fanout_bench: end-to-end conference NOTIFY fan-out of the real server.
//
// One leave in a session with K conference subscribers, over UDP on
// loopback: the time from the leaver's BYE (its 200) until the last
// departure NOTIFY has reached the subscribers and been answered, and
// NOTIFYs/s = K / that time. Beside it, in the same run, a baseline: the
// same K NOTIFY-sized datagrams (copies of a departure NOTIFY the server
// sent) from a plain UDP socket of this process to the same subscriber
// sockets, answered by them the same way. The ratio of the two shows what
// the server adds over the raw loopback path.
//
// How to run (from the build directory; the server binary is the one the
// test client was built with, or $IMSERVER):
//
//   bin/fanout_bench                        # K=1000 subscribers, 5 repeats (about 80 s)
//   bin/fanout_bench --subscribers=2000 --repeats=9 --sockets=8
//   bin/fanout_bench --json=fanout.json     # also write the numbers as JSON
//   bin/fanout_bench --server-flag=--sip.t1-ms=1000   # extra server flags
//   ctest -R bench.fanout_smoke             # 50 subscribers, one repeat
//
// Flags: --subscribers=K (1000), --repeats=R (5), --sockets=P (4: the
// subscriptions are spread over P UDP sockets served by one thread of this
// process, answering every NOTIFY 200 at once), --json=PATH,
// --timeout-ms=MS (30000, per phase), --settle-ms=MS (700) and
// --quiet-ms=MS (4500, see "Settling" below; they assume the default
// T1 = 500 ms and T2 = 4 s), --server-flag=FLAG (repeatable), --verbose
// (one line per repeat; traces on failure). Exit status 0 when every phase
// completed and every check held (each subscriber got exactly one new
// NOTIFY per phase, active, with the next version), 1 otherwise.
//
// Set-up: the server runs with --conf.min-notify-interval-ms=0
// --conf.subscribe-policy=anyone --join.adhoc-policy=anyone. Alice creates
// gs-1 through the factory, Bob and Carol join (the project's SipUa), then
// the K subscribers SUBSCRIBE and answer their first NOTIFY. Each repeat:
// Carol joins again (from the second repeat on; that fan-out is waited for
// but not measured), Carol sends BYE (measured), then the baseline
// (measured). Reported per metric: median, min and max over the repeats.
//
// Times are taken in this process with the monotonic clock when a batch of
// datagrams is read (arrival) and when the batch of 200s is written
// (answered). The 200 to the BYE is the start of the leave phase; the
// server may already have sent NOTIFYs before that 200 arrives, so the time
// from sending the BYE is reported too. The baseline starts right before
// its first datagram is sent.
//
// Settling: a 200 the server's UDP socket drops (its receive buffer
// overflows while it sends the fan-out; the count is read from
// /proc/net/udp) makes the server send that NOTIFY again after T1, 2*T1...
// Every copy is answered again. "last 200 incl. retransmissions" is when
// the server could at the earliest have finished the phase's last NOTIFY
// transaction. Before the next phase starts, the bench waits until the
// server had every 200: no retransmission within --settle-ms of the phase's
// end, or none for --quiet-ms after the last one. Otherwise the next
// phase's NOTIFYs would queue behind unfinished transactions (one NOTIFY
// transaction per subscription) and the next leave would measure those.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/bench_support.hpp"
#include "bench/sip_lean.hpp"
#include "tests/client/server_process.hpp"
#include "tests/client/sip_message.hpp"
#include "tests/client/sip_ua.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using imserver::testclient::Dialog;
using imserver::testclient::ServerProcess;
using imserver::testclient::SipUa;
using imserver::bench::iequal;
using imserver::bench::Lean;
using imserver::bench::lean_parse;
using imserver::bench::now_ns;
using imserver::bench::RecvBatch;
using imserver::bench::random_hex;
using imserver::bench::trim_view;
using imserver::bench::udp_socket;

constexpr const char* kFactory = "sip:conference-factory@im.example.com";
constexpr const char* kGs1 = "sip:gs-1@im.example.com";

int64_t ns_of(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct Options {
  int subscribers = 1000;
  int repeats = 5;
  int sockets = 4;
  int timeout_ms = 30000;
  int settle_ms = 700;
  int quiet_ms = 4500;
  std::string json;
  std::vector<std::string> server_flags;
  bool verbose = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "fanout_bench: %s\n"
               "usage: fanout_bench [--subscribers=K] [--repeats=R] [--sockets=P] [--json=PATH]\n"
               "                    [--timeout-ms=MS] [--server-flag=FLAG]... [--verbose]\n",
               why);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  imserver::bench::FlagReader flags(argc, argv, [](const std::string& why) { usage(why.c_str()); });
  flags.each([&](imserver::bench::FlagReader& f) {
    const std::string& name = f.name();
    if (name == "--subscribers") o.subscribers = f.number(1, 1000000);
    else if (name == "--repeats") o.repeats = f.number(1, 1000000);
    else if (name == "--sockets") o.sockets = f.number(1, 1000000);
    else if (name == "--timeout-ms") o.timeout_ms = f.number(100, 1000000);
    else if (name == "--settle-ms") o.settle_ms = f.number(0, 1000000);
    else if (name == "--quiet-ms") o.quiet_ms = f.number(0, 1000000);
    else if (name == "--json") o.json = f.text();
    else if (name == "--server-flag") o.server_flags.push_back(f.text());
    else if (name == "--verbose") o.verbose = true;
    else f.unknown();
  });
  o.sockets = std::min(o.sockets, o.subscribers);
  return o;
}

// ----------------------------------------------------------------- parsing
// Just enough of a SIP message to answer it (bench/sip_lean.hpp).

std::optional<uint32_t> body_version(std::string_view body) {
  size_t root = body.find("<conference-info");
  if (root == std::string_view::npos) return std::nullopt;
  size_t close = body.find('>', root);
  std::string_view tag = body.substr(root, close == std::string_view::npos ? std::string_view::npos : close - root);
  size_t v = tag.find(" version=\"");
  if (v == std::string_view::npos) return std::nullopt;
  uint64_t n = 0;
  size_t i = v + 10;
  if (i >= tag.size() || !std::isdigit(static_cast<unsigned char>(tag[i]))) return std::nullopt;
  for (; i < tag.size() && std::isdigit(static_cast<unsigned char>(tag[i])); ++i) n = n * 10 + (tag[i] - '0');
  return static_cast<uint32_t>(n);
}

// ----------------------------------------------------------------- the pool

// One conference subscription of the pool.
struct Sub {
  std::string aor;      // sip:subNNNNN@example.com
  std::string call_id;  // fixed length, so baseline copies keep the size
  std::string subscribe;
  int socket = 0;
  std::atomic<int> subscribe_status{0};
  std::atomic<int64_t> arrived_ns{0};      // first NOTIFY of the current phase
  std::atomic<int64_t> answered_ns{0};     // its 200 written
  std::atomic<int64_t> last_answer_ns{0};  // the last 200 written, retransmissions included
  // Pool thread only:
  std::string last_branch;           // of the server's last NOTIFY
  std::string last_baseline_branch;  // of the baseline's last datagram
  int phase_seen = -1;
  uint32_t version = 0;
  bool has_version = false;
  std::string trace;  // --verbose: " p<phase>[:baseline]:<N new|R copy>:v<version>@<ms>" per NOTIFY
};

enum class PhaseKind { Server, Baseline };

// P UDP sockets carrying K subscriptions, served by one thread that answers
// every NOTIFY with 200 at once and records, per subscription, when the
// phase's NOTIFY arrived and when its 200 was written.
class SubscriberPool {
 public:
  SubscriberPool(int subscribers, int sockets, uint16_t server_port, bool trace) : subs_(subscribers), trace_(trace) {
    server_.sin_family = AF_INET;
    server_.sin_port = htons(server_port);
    server_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::mt19937_64 rng(std::random_device{}());
    for (int s = 0; s < sockets; ++s) {
      uint16_t port = 0;
      int fd = udp_socket(&port);
      if (fd < 0) throw std::runtime_error(std::string("subscriber socket: ") + std::strerror(errno));
      fds_.push_back(fd);
      ports_.push_back(port);
    }
    char user[32];
    for (int i = 0; i < subscribers; ++i) {
      Sub& sub = subs_[i];
      std::snprintf(user, sizeof user, "sub%05d", i);
      sub.socket = i % sockets;
      sub.aor = std::string("sip:") + user + "@example.com";
      sub.call_id = random_hex(rng, 24) + "@127.0.0.1";
      std::string port = std::to_string(ports_[sub.socket]);
      sub.subscribe = "SUBSCRIBE " + std::string(kGs1) + " SIP/2.0\r\n" + "Via: SIP/2.0/UDP 127.0.0.1:" + port +
                      ";branch=z9hG4bK" + random_hex(rng, 16) + ";rport\r\n" + "Max-Forwards: 70\r\n" + "From: <" +
                      sub.aor + ">;tag=" + random_hex(rng, 12) + "\r\n" + "To: <" + kGs1 + ">\r\n" +
                      "Call-ID: " + sub.call_id + "\r\n" + "CSeq: 1 SUBSCRIBE\r\n" + "Contact: <sip:" + user +
                      "@127.0.0.1:" + port + ">\r\n" + "P-Asserted-Identity: <" + sub.aor + ">\r\n" +
                      "Event: conference\r\nAccept: application/conference-info+xml\r\nExpires: 3600\r\n" +
                      "Content-Length: 0\r\n\r\n";
      index_.emplace(sub.call_id, i);
    }
    thread_ = std::thread([this] { run(); });
  }

  ~SubscriberPool() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    for (int fd : fds_) close(fd);
  }

  size_t size() const { return subs_.size(); }
  Sub& sub(size_t i) { return subs_[i]; }
  sockaddr_in address_of(const Sub& s) const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(ports_[s.socket]);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

  bool send_subscribe(size_t i) {
    const Sub& s = subs_[i];
    return sendto(fds_[s.socket], s.subscribe.data(), s.subscribe.size(), 0,
                  reinterpret_cast<const sockaddr*>(&server_),
                  sizeof server_) == static_cast<ssize_t>(s.subscribe.size());
  }

  // Starts counting a new phase: the next new NOTIFY transaction of every
  // subscription is its arrival in this phase.
  void begin_phase(PhaseKind kind) {
    std::lock_guard<std::mutex> lock(mutex_);
    kind_.store(kind);
    arrivals_.store(0);
    answered_.store(0);
    retransmissions_.store(0);
    extra_.store(0);
    bad_state_.store(0);
    bad_version_.store(0);
    sample_.clear();
    retransmitted_.clear();
    phase_.fetch_add(1);
  }
  int arrivals() const { return arrivals_.load(std::memory_order_acquire); }
  int answered() const { return answered_.load(std::memory_order_acquire); }
  int retransmissions() const { return retransmissions_.load(); }
  int64_t last_retransmission_ns() const { return last_retransmission_ns_.load(); }
  int extra() const { return extra_.load(); }
  int bad_state() const { return bad_state_.load(); }
  int bad_version() const { return bad_version_.load(); }
  int unknown() const { return unknown_.load(); }
  // The phase's counters, for failure messages.
  std::string counters() const {
    return "arrived " + std::to_string(arrivals()) + ", answered " + std::to_string(answered()) + ", retransmissions " +
           std::to_string(retransmissions()) + ", extra " + std::to_string(extra()) + ", not active " +
           std::to_string(bad_state()) + ", wrong version " + std::to_string(bad_version()) + ", unexpected " +
           std::to_string(unknown());
  }
  // --verbose: the NOTIFY history of up to `n` subscriptions whose NOTIFY
  // of the current phase has not arrived, or of the first `n` when none is
  // missing. Reads what only the pool thread writes: for failure output,
  // once the pool went quiet.
  std::string traces(int n) {
    std::string out;
    const int phase = phase_.load();
    int left = n;
    for (auto& s : subs_) {
      if (s.phase_seen == phase) continue;
      out += s.aor + ":" + s.trace + "\n";
      if (--left == 0) break;
    }
    if (out.empty())
      for (int i = 0; i < n && i < static_cast<int>(subs_.size()); ++i)
        out += subs_[i].aor + ":" + subs_[i].trace + "\n";
    return out;
  }
  std::string retransmitted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return retransmitted_;
  }
  std::string sample() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return sample_;
  }

  // Waits until every subscription's phase NOTIFY was answered.
  bool wait_phase(int expected, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (answered() < expected || arrivals() < expected) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
  }

 private:
  struct Out {
    std::string data;
    sockaddr_in to;
    int sub = -1;      // whose arrival it answers (-1: a retransmission or other)
    int answers = -1;  // whose NOTIFY it answers, retransmissions included
  };

  void run() {
    constexpr int kBatch = 64;
    RecvBatch in(kBatch, 65536);
    std::vector<pollfd> pfds(fds_.size());
    std::vector<Out> out;
    std::vector<mmsghdr> omsgs;
    std::vector<iovec> oiov;
    while (!stop_.load()) {
      for (size_t s = 0; s < fds_.size(); ++s) pfds[s] = pollfd{fds_[s], POLLIN, 0};
      int r = poll(pfds.data(), pfds.size(), 50);
      if (r <= 0) continue;
      for (size_t s = 0; s < fds_.size(); ++s) {
        if (!(pfds[s].revents & POLLIN)) continue;
        for (;;) {
          const int n = in.receive(fds_[s]);
          if (n == 0) break;
          const int64_t t = now_ns();
          out.clear();
          for (int i = 0; i < n; ++i) handle(in.datagram(i), in.from(i), t, out);
          if (!out.empty()) send_all(fds_[s], out, omsgs, oiov);
          if (n < kBatch) break;
        }
      }
    }
  }

  void send_all(int fd, std::vector<Out>& out, std::vector<mmsghdr>& omsgs, std::vector<iovec>& oiov) {
    omsgs.assign(out.size(), mmsghdr{});
    oiov.resize(out.size());
    for (size_t i = 0; i < out.size(); ++i) {
      oiov[i] = iovec{out[i].data.data(), out[i].data.size()};
      omsgs[i].msg_hdr.msg_iov = &oiov[i];
      omsgs[i].msg_hdr.msg_iovlen = 1;
      omsgs[i].msg_hdr.msg_name = &out[i].to;
      omsgs[i].msg_hdr.msg_namelen = sizeof out[i].to;
    }
    size_t done = 0;
    while (done < out.size()) {
      int n = sendmmsg(fd, omsgs.data() + done, out.size() - done, 0);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        break;
      }
      done += static_cast<size_t>(n);
    }
    const int64_t t = now_ns();
    for (const auto& o : out) {
      if (o.answers >= 0) subs_[o.answers].last_answer_ns.store(t, std::memory_order_relaxed);
      if (o.sub < 0) continue;
      subs_[o.sub].answered_ns.store(t, std::memory_order_relaxed);
      answered_.fetch_add(1, std::memory_order_release);
    }
  }

  void handle(std::string_view m, const sockaddr_in& from, int64_t t, std::vector<Out>& out) {
    Lean p;
    if (!lean_parse(m, p)) {
      unknown_.fetch_add(1);
      return;
    }
    auto it = index_.find(std::string(p.call_id));
    if (p.start_line.substr(0, 8) == "SIP/2.0 ") {
      if (it != index_.end() && p.cseq.find("SUBSCRIBE") != std::string_view::npos)
        subs_[it->second].subscribe_status.store(std::atoi(std::string(p.start_line.substr(8, 3)).c_str()));
      return;
    }
    if (p.start_line.substr(0, 7) != "NOTIFY " || it == index_.end()) {
      unknown_.fetch_add(1);
      return;
    }
    Sub& sub = subs_[it->second];
    Out o;
    o.to = from;
    o.answers = it->second;
    const int phase = phase_.load();
    const PhaseKind kind = kind_.load();
    // The server's NOTIFYs come from its SIP port; the baseline's from the
    // bench's plain sender.
    const bool from_server = from.sin_port == server_.sin_port && from.sin_addr.s_addr == server_.sin_addr.s_addr;
    std::string& last = from_server ? sub.last_branch : sub.last_baseline_branch;
    const bool retransmission = p.branch == last;
    if (trace_) {
      auto v = body_version(p.body);
      sub.trace += " p" + std::to_string(phase) + (from_server ? "" : ":baseline") +
                   (retransmission ? ":R:v" : ":N:v") + (v ? std::to_string(*v) : std::string("?")) + "@" +
                   std::to_string((t - t0_) / 1000000) + "ms";
    }
    if (retransmission) {
      if (from_server) last_retransmission_ns_.store(t);
      if (from_server && retransmissions_.fetch_add(1) == 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        retransmitted_ = std::string(m);
      }
    } else {
      last = std::string(p.branch);
      const bool counts = from_server == (kind == PhaseKind::Server);
      if (!counts || sub.phase_seen == phase) {
        extra_.fetch_add(1);
      } else {
        sub.phase_seen = phase;
        o.sub = it->second;
        sub.arrived_ns.store(t, std::memory_order_relaxed);
        arrivals_.fetch_add(1, std::memory_order_release);
      }
      if (from_server) {
        if (p.subscription_state.substr(0, 6) != "active") bad_state_.fetch_add(1);
        auto v = body_version(p.body);
        bool want_zero = !sub.has_version;
        if (!v || (want_zero ? *v != 0 : *v != sub.version + 1)) bad_version_.fetch_add(1);
        if (v) {
          sub.version = *v;
          sub.has_version = true;
        }
        if (o.sub >= 0) {
          std::lock_guard<std::mutex> lock(mutex_);
          if (sample_.empty()) sample_ = std::string(m);
        }
      }
    }
    std::string& r = o.data;
    r.reserve(512);
    r += "SIP/2.0 200 OK\r\n";
    for (auto v : p.via_lines) (r += v) += "\r\n";
    (r += p.from_line) += "\r\n";
    (r += p.to_line) += "\r\n";
    (r += p.call_id_line) += "\r\n";
    (r += p.cseq_line) += "\r\n";
    r += "Content-Length: 0\r\n\r\n";
    out.push_back(std::move(o));
  }

  std::vector<Sub> subs_;
  std::vector<int> fds_;
  std::vector<uint16_t> ports_;
  std::unordered_map<std::string, int> index_;  // Call-ID -> subscription; read-only once running
  sockaddr_in server_{};

  std::atomic<bool> stop_{false};
  bool trace_ = false;
  int64_t t0_ = now_ns();
  std::atomic<int> phase_{0};
  std::atomic<PhaseKind> kind_{PhaseKind::Server};
  std::atomic<int> arrivals_{0};
  std::atomic<int> answered_{0};
  std::atomic<int> retransmissions_{0};
  std::atomic<int64_t> last_retransmission_ns_{0};
  std::atomic<int> extra_{0};
  std::atomic<int> bad_state_{0};
  std::atomic<int> bad_version_{0};
  std::atomic<int> unknown_{0};
  mutable std::mutex mutex_;
  std::string sample_;
  std::string retransmitted_;  // the first retransmission seen in the phase
  std::thread thread_;
};

// Datagrams dropped so far by the UDP socket bound to 127.0.0.1:`port` (the
// last column of /proc/net/udp); 0 when it cannot be read.
uint64_t udp_drops(uint16_t port) {
  std::ifstream in("/proc/net/udp");
  std::string line;
  std::getline(in, line);  // header
  char want[16];
  std::snprintf(want, sizeof want, ":%04X", port);
  while (std::getline(in, line)) {
    std::istringstream is(line);
    std::string slot, local;
    is >> slot >> local;
    if (local.size() < 5 || local.compare(local.size() - 5, 5, want) != 0) continue;
    std::string field, last;
    while (is >> field) last = field;
    return std::strtoull(last.c_str(), nullptr, 10);
  }
  return 0;
}

// ----------------------------------------------------------------- results

struct PhaseResult {
  double last_arrival_ms = 0;   // start -> last NOTIFY read by the pool
  double last_answer_ms = 0;    // start -> last 200 written by the pool (first copies)
  double final_answer_ms = 0;   // start -> last 200 written, answers to retransmissions included
  uint64_t server_drops = 0;    // datagrams the server's UDP socket dropped (phase + settle)
  double first_arrival_ms = 0;  // start -> first NOTIFY
  double from_bye_sent_ms = 0;  // server phase: BYE sent -> last NOTIFY
  double rate = 0;              // K / last_arrival_ms, per second
  int retransmissions = 0;
};

using imserver::bench::Stat;
using imserver::bench::stat_of;

// Collects the per-subscription times of the phase that just completed.
PhaseResult collect(SubscriberPool& pool, int64_t start_ns) {
  PhaseResult r;
  int64_t first = INT64_MAX, last = 0, last_answer = 0, final_answer = 0;
  for (size_t i = 0; i < pool.size(); ++i) {
    int64_t a = pool.sub(i).arrived_ns.load(std::memory_order_relaxed);
    int64_t b = pool.sub(i).answered_ns.load(std::memory_order_relaxed);
    first = std::min(first, a);
    last = std::max(last, a);
    last_answer = std::max(last_answer, b);
    final_answer = std::max(final_answer, pool.sub(i).last_answer_ns.load(std::memory_order_relaxed));
  }
  r.first_arrival_ms = (first - start_ns) / 1e6;
  r.last_arrival_ms = (last - start_ns) / 1e6;
  r.last_answer_ms = (last_answer - start_ns) / 1e6;
  r.final_answer_ms = (final_answer - start_ns) / 1e6;
  r.rate = pool.size() / (r.last_arrival_ms / 1e3);
  r.retransmissions = pool.retransmissions();
  return r;
}

// A copy of `sample` (a departure NOTIFY the server sent) for subscription
// `sub`: its Call-ID and a fresh branch of the same length.
std::string baseline_copy(const std::string& sample, const Sub& sub, std::mt19937_64& rng) {
  std::string out;
  out.reserve(sample.size());
  size_t pos = 0;
  bool via_done = false;
  size_t end = sample.find("\r\n\r\n");
  while (pos < end) {
    size_t eol = sample.find("\r\n", pos);
    std::string line = sample.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    std::string name =
        colon == std::string::npos ? "" : std::string(trim_view(std::string_view(line).substr(0, colon)));
    if (iequal(name, "Call-ID") || iequal(name, "i")) {
      line = name + ": " + sub.call_id;
    } else if (!via_done && (iequal(name, "Via") || iequal(name, "v"))) {
      via_done = true;
      size_t b = line.find("branch=z9hG4bK");
      if (b != std::string::npos) {
        size_t start = b + 14;
        size_t stop = line.find_first_of(";, ", start);
        if (stop == std::string::npos) stop = line.size();
        line.replace(start, stop - start, random_hex(rng, stop - start));
      }
    }
    out += line;
    out += "\r\n";
  }
  out += sample.substr(end);
  return out;
}

std::string json_stat(const Stat& s) {
  std::ostringstream os;
  os.precision(6);
  os << "{\"median\": " << s.median << ", \"min\": " << s.min << ", \"max\": " << s.max << "}";
  return os.str();
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse_options(argc, argv);
  const int K = opt.subscribers;
  bool ok = true;
  auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "fanout_bench: FAILED: %s\n", what.c_str());
    ok = false;
  };

  ServerProcess server;
  std::vector<std::string> flags = {"--conf.min-notify-interval-ms=0", "--conf.subscribe-policy=anyone",
                                    "--join.adhoc-policy=anyone"};
  flags.insert(flags.end(), opt.server_flags.begin(), opt.server_flags.end());
  std::string error;
  if (!server.start(flags, &error)) {
    std::fprintf(stderr, "fanout_bench: server did not start: %s\n", error.c_str());
    return 1;
  }
  SubscriberPool* pool_ptr = nullptr;  // for failure output, once it exists
  auto give_up = [&](const std::string& what) {
    fail(what);
    if (opt.verbose) {
      if (pool_ptr) std::fprintf(stderr, "---- missing ----\n%s", pool_ptr->traces(5).c_str());
      std::fprintf(stderr, "---- first retransmission of the phase ----\n%s\n",
                   (pool_ptr ? pool_ptr->retransmitted() : std::string()).c_str());
      std::fprintf(stderr, "---- server stderr ----\n%s\n", server.stderr_text().c_str());
    }
    server.stop();
    return 1;
  };

  auto make_ua = [&](const std::string& name) {
    SipUa::Options o;
    o.transport = "udp";
    o.server_port = server.port();
    o.aor = "sip:" + name + "@example.com";
    auto ua = std::make_unique<SipUa>(o);
    ua->answer_bye_automatically(true);
    return ua;
  };
  auto alice = make_ua("alice");
  auto bob = make_ua("bob");
  auto carol = make_ua("carol");
  auto ja = alice->join(kFactory);
  if (!ja.ok) return give_up("alice could not create gs-1: " + ja.error);
  auto jb = bob->join(kGs1);
  if (!jb.ok) return give_up("bob could not join: " + jb.error);
  auto jc = carol->join(kGs1);
  if (!jc.ok) return give_up("carol could not join: " + jc.error);
  Dialog carol_dialog = jc.dialog;

  SubscriberPool pool(K, opt.sockets, server.port(), opt.verbose);
  pool_ptr = &pool;
  // After a phase went quiet: exactly one new NOTIFY per subscription,
  // active, with the next version.
  auto check_phase = [&](const std::string& what) {
    if (pool.extra() || pool.bad_state() || pool.bad_version()) {
      fail(what + ": " + pool.counters());
      if (opt.verbose) std::fprintf(stderr, "%s", pool.traces(5).c_str());
    }
  };
  // After the first copies of a phase were answered: wait until the server
  // has every 200. No retransmission within settle_ms (> T1) means it had
  // them all; otherwise wait until none came for quiet_ms (> T2), so the
  // next phase does not queue behind unfinished transactions. Bounded by
  // Timer F (64*T1 = 32 s) plus a margin.
  auto settle = [&]() {
    const auto start = Clock::now();
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const auto now = Clock::now();
      if (pool.retransmissions() == 0) {
        if (now - start >= std::chrono::milliseconds(opt.settle_ms)) return;
        continue;
      }
      const int64_t since = now_ns() - pool.last_retransmission_ns();
      if (since >= int64_t{opt.quiet_ms} * 1000000 && now - start >= std::chrono::milliseconds(opt.settle_ms)) return;
      if (now - start > std::chrono::seconds(40)) return;
    }
  };
  // Subscribe: at most `window` SUBSCRIBEs unanswered; one resend after 1 s.
  pool.begin_phase(PhaseKind::Server);
  {
    const size_t window = 100;
    std::vector<Clock::time_point> sent(K);
    std::vector<int> tries(K, 0);
    size_t next = 0, done = 0;
    std::vector<size_t> open;
    auto deadline = Clock::now() + std::chrono::milliseconds(opt.timeout_ms);
    while (done < static_cast<size_t>(K)) {
      while (open.size() < window && next < static_cast<size_t>(K)) {
        pool.send_subscribe(next);
        sent[next] = Clock::now();
        tries[next] = 1;
        open.push_back(next++);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      for (size_t j = 0; j < open.size();) {
        size_t i = open[j];
        int st = pool.sub(i).subscribe_status.load();
        if (st >= 200) {
          if (st >= 300) return give_up(pool.sub(i).aor + " SUBSCRIBE answered " + std::to_string(st));
          open[j] = open.back();
          open.pop_back();
          ++done;
          continue;
        }
        if (Clock::now() - sent[i] > std::chrono::seconds(1) && tries[i] < 3) {
          pool.send_subscribe(i);
          sent[i] = Clock::now();
          ++tries[i];
        }
        ++j;
      }
      if (Clock::now() > deadline) return give_up("SUBSCRIBEs unanswered: " + std::to_string(K - done));
    }
  }
  if (!pool.wait_phase(K, opt.timeout_ms))
    return give_up("first NOTIFYs: " + std::to_string(K) + " expected: " + pool.counters());
  settle();
  check_phase("first NOTIFYs");

  std::vector<PhaseResult> leave, base;
  std::vector<double> ratios;
  std::mt19937_64 rng(std::random_device{}());
  int udp_payload = 0;
  int baseline_sender_replies = 0;
  for (int rep = 0; rep < opt.repeats; ++rep) {
    if (rep > 0) {  // Carol comes back (one fan-out, not measured).
      pool.begin_phase(PhaseKind::Server);
      auto j = carol->join(kGs1);
      if (!j.ok) return give_up("carol could not rejoin: " + j.error);
      carol_dialog = j.dialog;
      if (!pool.wait_phase(K, opt.timeout_ms))
        return give_up("join NOTIFYs: " + std::to_string(K) + " expected: " + pool.counters());
      settle();
      check_phase("join NOTIFYs");
    }

    // ---- the measured leave
    pool.begin_phase(PhaseKind::Server);
    const uint64_t drops_before = udp_drops(server.port());
    const int64_t bye_sent = now_ns();
    auto bye = carol->bye(carol_dialog);
    if (!bye || bye->status != 200) return give_up("carol's BYE not answered 200");
    const int64_t bye_ok = ns_of(bye->received_at);
    if (!pool.wait_phase(K, opt.timeout_ms))
      return give_up("departure NOTIFYs: " + std::to_string(K) + " expected: " + pool.counters());
    // NOTIFYs whose 200 the server did not get come again (Timer E).
    settle();
    PhaseResult lr = collect(pool, bye_ok);
    lr.from_bye_sent_ms = lr.last_arrival_ms + (bye_ok - bye_sent) / 1e6;
    lr.server_drops = udp_drops(server.port()) - drops_before;
    check_phase("departure NOTIFYs");
    leave.push_back(lr);
    const std::string sample = pool.sample();
    udp_payload = static_cast<int>(sample.size());

    // ---- the baseline: the same K datagrams from a plain UDP socket
    std::vector<std::string> copies;
    std::vector<sockaddr_in> dest;
    copies.reserve(K);
    for (int i = 0; i < K; ++i) {
      copies.push_back(baseline_copy(sample, pool.sub(i), rng));
      dest.push_back(pool.address_of(pool.sub(i)));
    }
    uint16_t sender_port = 0;
    int sender = udp_socket(&sender_port);
    if (sender < 0) return give_up("baseline socket");
    std::atomic<int> replies{0};
    std::atomic<bool> stop_reader{false};
    std::thread reader([&] {  // the sender side reads the 200s, as the server does
      char buf[65536];
      while (!stop_reader.load() && replies.load() < K) {
        pollfd p{sender, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        while (recv(sender, buf, sizeof buf, MSG_DONTWAIT) > 0) replies.fetch_add(1);
      }
    });
    pool.begin_phase(PhaseKind::Baseline);
    const int64_t base_start = now_ns();
    for (int i = 0; i < K; ++i) {
      while (sendto(sender, copies[i].data(), copies[i].size(), 0, reinterpret_cast<const sockaddr*>(&dest[i]),
                    sizeof dest[i]) < 0 &&
             (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)) {
      }
    }
    bool base_ok = pool.wait_phase(K, opt.timeout_ms);
    PhaseResult br = collect(pool, base_start);
    auto reply_deadline = Clock::now() + std::chrono::seconds(2);
    while (replies.load() < K && Clock::now() < reply_deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    stop_reader.store(true);
    reader.join();
    close(sender);
    baseline_sender_replies = replies.load();
    if (!base_ok) return give_up("baseline: " + std::to_string(K) + " expected: " + pool.counters());
    check_phase("baseline");
    base.push_back(br);
    ratios.push_back(lr.last_arrival_ms / br.last_arrival_ms);
    if (opt.verbose)
      std::fprintf(stderr,
                   "repeat %d: leave last NOTIFY %.2f ms (first %.2f, last 200 %.2f, last 200 incl. "
                   "retransmissions %.2f, from BYE sent %.2f, retransmissions %d, server socket drops %llu); "
                   "baseline last %.2f ms (last 200 %.2f); replies to baseline sender %d\n",
                   rep + 1, lr.last_arrival_ms, lr.first_arrival_ms, lr.last_answer_ms, lr.final_answer_ms,
                   lr.from_bye_sent_ms, lr.retransmissions, static_cast<unsigned long long>(lr.server_drops),
                   br.last_arrival_ms, br.last_answer_ms, baseline_sender_replies);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (pool.unknown()) fail(std::to_string(pool.unknown()) + " unexpected datagrams at the subscribers");

  auto pick = [](const std::vector<PhaseResult>& v, double PhaseResult::*f) {
    std::vector<double> out;
    for (const auto& r : v) out.push_back(r.*f);
    return stat_of(out);
  };
  Stat l_last = pick(leave, &PhaseResult::last_arrival_ms), l_ans = pick(leave, &PhaseResult::last_answer_ms),
       l_rate = pick(leave, &PhaseResult::rate), l_bye = pick(leave, &PhaseResult::from_bye_sent_ms),
       l_first = pick(leave, &PhaseResult::first_arrival_ms);
  Stat b_last = pick(base, &PhaseResult::last_arrival_ms), b_ans = pick(base, &PhaseResult::last_answer_ms),
       b_rate = pick(base, &PhaseResult::rate);
  Stat ratio = stat_of(ratios);
  int retrans = 0;
  uint64_t drops = 0;
  for (const auto& r : leave) {
    retrans += r.retransmissions;
    drops += r.server_drops;
  }
  Stat l_final = pick(leave, &PhaseResult::final_answer_ms);

  std::printf("fanout_bench: %d subscribers on %d UDP sockets, %d repeat(s), departure NOTIFY %d bytes\n", K,
              opt.sockets, opt.repeats, udp_payload);
  auto line = [](const char* what, const Stat& s, const char* unit) {
    std::printf("  %-48s median %10.2f %-4s (min %.2f, max %.2f)\n", what, s.median, unit, s.min, s.max);
  };
  line("leave: BYE 200 -> first NOTIFY", l_first, "ms");
  line("leave: BYE 200 -> last NOTIFY arrived", l_last, "ms");
  line("leave: BYE 200 -> last NOTIFY answered", l_ans, "ms");
  line("leave: BYE 200 -> last 200 incl. retransmissions", l_final, "ms");
  line("leave: BYE sent -> last NOTIFY arrived", l_bye, "ms");
  line("leave: NOTIFYs/s", l_rate, "1/s");
  line("baseline: first send -> last datagram arrived", b_last, "ms");
  line("baseline: first send -> last datagram answered", b_ans, "ms");
  line("baseline: datagrams/s", b_rate, "1/s");
  line("ratio leave/baseline (last arrival time)", ratio, "x");
  std::printf("  leaves: %d NOTIFY retransmissions answered, %llu datagrams dropped by the server's UDP socket\n",
              retrans, static_cast<unsigned long long>(drops));

  if (!opt.json.empty()) {
    std::ofstream js(opt.json);
    js << "{\n  \"subscribers\": " << K << ",\n  \"sockets\": " << opt.sockets << ",\n  \"repeats\": " << opt.repeats
       << ",\n  \"notify_bytes\": " << udp_payload << ",\n  \"leave\": {"
       << "\n    \"first_notify_ms\": " << json_stat(l_first) << ",\n    \"last_notify_ms\": " << json_stat(l_last)
       << ",\n    \"last_answer_ms\": " << json_stat(l_ans)
       << ",\n    \"last_answer_incl_retransmissions_ms\": " << json_stat(l_final)
       << ",\n    \"from_bye_sent_ms\": " << json_stat(l_bye) << ",\n    \"notifies_per_s\": " << json_stat(l_rate)
       << ",\n    \"retransmissions\": " << retrans << ",\n    \"server_socket_drops\": " << drops
       << "\n  },\n  \"baseline\": {"
       << "\n    \"last_arrival_ms\": " << json_stat(b_last) << ",\n    \"last_answer_ms\": " << json_stat(b_ans)
       << ",\n    \"datagrams_per_s\": " << json_stat(b_rate)
       << "\n  },\n  \"ratio_last_arrival\": " << json_stat(ratio) << ",\n  \"runs\": [";
    for (size_t i = 0; i < leave.size(); ++i) {
      js << (i ? "," : "") << "\n    {\"leave_last_notify_ms\": " << leave[i].last_arrival_ms
         << ", \"leave_last_answer_ms\": " << leave[i].last_answer_ms
         << ", \"leave_last_answer_incl_retransmissions_ms\": " << leave[i].final_answer_ms
         << ", \"leave_retransmissions\": " << leave[i].retransmissions
         << ", \"leave_server_socket_drops\": " << leave[i].server_drops
         << ", \"baseline_last_arrival_ms\": " << base[i].last_arrival_ms
         << ", \"baseline_last_answer_ms\": " << base[i].last_answer_ms << "}";
    }
    js << "\n  ]\n}\n";
    if (!js) fail("could not write " + opt.json);
  }

  alice.reset();
  bob.reset();
  carol.reset();
  int status = server.stop();
  if (status != 0) fail("server exit status " + std::to_string(status));
  return ok ? 0 : 1;
}
