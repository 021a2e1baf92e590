#pragma once
// imbench: the shared pieces of the load generator (options, live counters,
// latency statistics) and the two engines: the SIP engine (every mode that
// talks to a server, engine.cpp) and the raw loopback baseline (raw_udp.cpp).

#include <netinet/in.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace imbench {

enum class Mode { LeaveBye, LeaveRefer, Fanout, PublishFanout, RawUdp };

const char* mode_name(Mode m);

struct Config {
  std::string target = "127.0.0.1:5060";
  sockaddr_in target_addr{};
  std::string transport = "udp";
  Mode mode = Mode::LeaveBye;
  int sessions = 1;
  int participants = 3;
  int subscribers = 0;
  double rate = 0;       // operations/s over all sockets, 0 = flat out
  long count = 0;        // max operations, 0 = no limit
  double duration_s = 10;
  std::string json;
  bool progress = false;
  std::string local_ip = "127.0.0.1";
  std::string domain = "im.example.com";
  long server_pid = 0;  // 0 = none
  bool setup_only = false;
  // Beyond the contract (documented in --help):
  int sockets = 0;          // UDP sockets / TCP connections (threads); 0 = min(sessions, 2)
  int window = 128;         // operations (and set-up transactions) in flight per socket
  double op_timeout_s = 10;  // an operation not finished by then failed
};

// Latency histogram readable while the lanes write it (for --progress):
// log-linear buckets, 8 per octave of microseconds.
class LiveHistogram {
 public:
  static constexpr int kBuckets = 16 + 40 * 8;
  static int bucket(uint64_t us);
  static double bucket_ms(int b);  // the bucket's middle, in ms
  void add(uint64_t us) { counts_[bucket(us)].fetch_add(1, std::memory_order_relaxed); }
  void snapshot(std::array<uint64_t, kBuckets>& out) const {
    for (int i = 0; i < kBuckets; ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
};

// p-quantile (0..1) of the difference of two snapshots, in ms; -1 when empty.
double histogram_quantile(const std::array<uint64_t, LiveHistogram::kBuckets>& now,
                          const std::array<uint64_t, LiveHistogram::kBuckets>& before, double q);

// What one thread of an engine shows the main thread while it runs.
struct Live {
  std::atomic<uint64_t> ops_ok{0}, ops_failed{0}, errors{0}, notifies{0}, setup_done_items{0};
  std::atomic<bool> setup_done{false}, teardown_done{false};
  std::atomic<int> busy{0};  // operations (and their rejoins) in progress
  LiveHistogram latency;
};

// Exact samples (µs) and totals one thread hands back at the end.
struct Result {
  std::vector<uint32_t> latency_us, notify_us, bye_us;
  uint64_t ops_ok = 0, ops_failed = 0, notifies = 0;
  uint64_t setup_failed = 0, teardown_failed = 0, other_errors = 0, retransmissions = 0;
  std::vector<std::string> error_samples;  // the first few error descriptions
};

struct Quantiles {
  bool empty = true;
  double p50 = 0, p99 = 0, max = 0;  // ms
};
Quantiles quantiles(std::vector<uint32_t> us);

// The phases the main thread moves the engines through.
enum Phase : int { kSetup = 0, kHold = 1, kLoad = 2, kDrain = 3, kTeardown = 4, kExit = 5 };

// An engine: start() opens its sockets and threads (false with a reason),
// then the main thread moves `phase` on and reads `live`; results() after
// join().
class Engine {
 public:
  virtual ~Engine() = default;
  virtual bool start(std::string* error) = 0;
  virtual void join() = 0;
  virtual Result results() = 0;
  virtual std::vector<Live*> lives() = 0;
  // Items the set-up creates (participants + subscriptions, or sockets).
  virtual uint64_t setup_items() const = 0;
  std::atomic<int> phase{kSetup};
  std::atomic<long> ops_started{0};
  std::atomic<int64_t> load_end_ns{0};
};

Engine* make_sip_engine(const Config& cfg);
Engine* make_raw_udp_engine(const Config& cfg);

}  // namespace imbench
