// Timer benchmarks (issue: libre's timer list makes UDP client transactions
// O(n) to start, which capped the NOTIFY fan-out).
//
// libre 1.1 keeps a thread's timers in one sorted linked list; tmr_start()
// walks it from the tail, so starting a short timer costs O(number of longer
// timers). Every libre client transaction over UDP starts Timer E (0.5 s)
// behind all the 32 s Timer F timers already there. The SIP worker now runs
// its timers on its own TimerWheel (transport/sip/timer_wheel.hpp) with
// O(1) schedule. Families:
//   BM_Baseline_VectorPush           a std::vector push_back, to read the rest as ratios
//   BM_LibreTmr_StartShort/N         (a) tmr_start of a 500 ms timer, N 32 s timers outstanding
//   BM_Wheel_ScheduleShort/N         (b) the same on the wheel (clock read included, as the worker does)
//   BM_LibreTmr_NotifyPattern/N      one client transaction's timers (E 500 ms + F 32 s), N outstanding
//   BM_Wheel_NotifyPattern/N         the same on the wheel
//   BM_Wheel_ScheduleAndFire         schedule + advance() firing, per timer
//   BM_Worker_NotifyFanout/M         NOTIFYs/s through a real SipWorker over UDP with M client
//                                    transactions already outstanding (end to end; slow to set up)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <benchmark/benchmark.h>
#include <re.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "transport/sip/sip_worker.hpp"
#include "transport/sip/timer_wheel.hpp"

using namespace imserver::transport;

namespace {

uint64_t now_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// libre's timers need a libre thread context; tmr_start/tmr_cancel work
// without re_main (nothing fires here: the timers are far in the future).
void ensure_libre() {
  static const bool once = [] {
    libre_init();
    return true;
  }();
  (void)once;
}

void noop_tmr(void*) {}

void BM_Baseline_VectorPush(benchmark::State& state) {
  std::vector<uint64_t> v;
  v.reserve(1 << 16);
  uint64_t i = 0;
  for (auto _ : state) {
    if (v.size() == v.capacity()) v.clear();
    v.push_back(++i);
    benchmark::DoNotOptimize(v.data());
  }
}
BENCHMARK(BM_Baseline_VectorPush);

// (a) One 500 ms timer (re)started while N 32 s timers are outstanding.
void BM_LibreTmr_StartShort(benchmark::State& state) {
  ensure_libre();
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<tmr> longs(n);
  for (auto& t : longs) {
    tmr_init(&t);
    tmr_start(&t, 32000, noop_tmr, nullptr);
  }
  tmr short_timer;
  tmr_init(&short_timer);
  for (auto _ : state) tmr_start(&short_timer, 500, noop_tmr, nullptr);
  tmr_cancel(&short_timer);
  for (auto& t : longs) tmr_cancel(&t);  // the list is global: leave nothing behind
}
BENCHMARK(BM_LibreTmr_StartShort)->Arg(100)->Arg(1000)->Arg(10000);

// (b) The same pattern on the wheel.
void BM_Wheel_ScheduleShort(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  TimerWheel wheel(now_ms());
  std::vector<TimerWheel::Timer> longs(n);
  for (auto& t : longs) wheel.schedule(t, now_ms() + 32000, [] {});
  TimerWheel::Timer short_timer;
  for (auto _ : state) wheel.schedule(short_timer, now_ms() + 500, [] {});
}
BENCHMARK(BM_Wheel_ScheduleShort)->Arg(100)->Arg(1000)->Arg(10000);

// What one UDP client transaction costs in timers, with N transactions
// outstanding: restart transaction i's Timer E (500 ms) and Timer F (32 s),
// round robin, so N stays constant and F deadlines keep growing as in a
// fan-out.
void BM_LibreTmr_NotifyPattern(benchmark::State& state) {
  ensure_libre();
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<tmr> e(n), f(n);
  for (size_t i = 0; i < n; ++i) {
    tmr_init(&e[i]);
    tmr_init(&f[i]);
    tmr_start(&f[i], 32000, noop_tmr, nullptr);
    tmr_start(&e[i], 500, noop_tmr, nullptr);
  }
  size_t i = 0;
  for (auto _ : state) {
    tmr_start(&f[i], 32000, noop_tmr, nullptr);
    tmr_start(&e[i], 500, noop_tmr, nullptr);
    if (++i == n) i = 0;
  }
  for (size_t k = 0; k < n; ++k) {
    tmr_cancel(&e[k]);
    tmr_cancel(&f[k]);
  }
}
BENCHMARK(BM_LibreTmr_NotifyPattern)->Arg(100)->Arg(1000)->Arg(10000);

void BM_Wheel_NotifyPattern(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  TimerWheel wheel(now_ms());
  std::vector<TimerWheel::Timer> e(n), f(n);
  for (size_t i = 0; i < n; ++i) {
    wheel.schedule(f[i], now_ms() + 32000, [] {});
    wheel.schedule(e[i], now_ms() + 500, [] {});
  }
  size_t i = 0;
  for (auto _ : state) {
    const uint64_t now = now_ms();
    wheel.schedule(f[i], now + 32000, [] {});
    wheel.schedule(e[i], now + 500, [] {});
    if (++i == n) i = 0;
  }
}
BENCHMARK(BM_Wheel_NotifyPattern)->Arg(100)->Arg(1000)->Arg(10000);

// Firing is part of the price too: 1000 timers spread over 4 s scheduled,
// then advanced through in 4 ms steps (the worker's drive grain).
void BM_Wheel_ScheduleAndFire(benchmark::State& state) {
  constexpr int kTimers = 1000;
  std::vector<TimerWheel::Timer> timers(kTimers);
  uint64_t t0 = 1000000;
  int64_t fired = 0;
  for (auto _ : state) {
    TimerWheel wheel(t0);
    for (int i = 0; i < kTimers; ++i)
      wheel.schedule(timers[static_cast<size_t>(i)], t0 + 1 + static_cast<uint64_t>(i) * 4, [&fired] { ++fired; });
    for (uint64_t t = t0; !wheel.empty(); t += 4) wheel.advance(t);
    t0 += 10000;
  }
  state.SetItemsProcessed(fired);
}
BENCHMARK(BM_Wheel_ScheduleAndFire);

// ------------------------------------------------------------------------
// End to end: a SipWorker on 127.0.0.1, D subscription dialogs from one UDP
// peer that never answers a NOTIFY. First M NOTIFYs are sent (untimed) and
// stay outstanding; then the timed part: N more NOTIFYs. The end of each
// batch is observed without reading the peer's socket: commands run in
// order, and a SendInDialog to an unknown dialog answers RequestDone 481 at
// once, so its event means every NOTIFY before it has been encoded and sent.
struct FanoutSink final : SipEventSink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<InboundRequest> requests;
  std::vector<uint64_t> done_tokens;
  void on_request(InboundRequest r) override {
    std::lock_guard<std::mutex> lk(mu);
    requests.push_back(std::move(r));
    cv.notify_all();
  }
  void on_dialog_event(DialogEvent e) override {
    if (e.kind != DialogEventKind::RequestDone) return;
    std::lock_guard<std::mutex> lk(mu);
    done_tokens.push_back(e.token);
    cv.notify_all();
  }
  template <class Pred>
  bool wait(Pred pred, int timeout_ms = 60000) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, std::chrono::milliseconds(timeout_ms), pred);
  }
};

constexpr uint64_t kMarkerToken = ~uint64_t{0};

class FanoutRig {
 public:
  bool setup(int dialogs, uint32_t t1_ms) {
    SipWorkerConfig cfg;
    cfg.port = 0;
    cfg.t1_ms = t1_ms;
    cfg.t2_ms = std::max<uint32_t>(4000, t1_ms);
    worker_ = std::make_unique<SipWorker>(cfg, sink_);
    std::string error;
    if (!worker_->start(&error)) return false;
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    const std::string p = std::to_string(ntohs(a.sin_port));
    server_ = a;
    server_.sin_port = htons(worker_->port());
    const std::string uri = "sip:conf@127.0.0.1:" + std::to_string(worker_->port());
    for (int i = 0; i < dialogs; ++i) {
      const std::string n = std::to_string(i);
      const std::string msg = "SUBSCRIBE " + uri + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + p +
                              ";branch=z9hG4bK-b" + n + ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:u" + n +
                              "@example.com>;tag=t" + n + "\r\nTo: <" + uri + ">\r\nCall-ID: c" + n +
                              "\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:u" + n + "@127.0.0.1:" + p +
                              ">\r\nEvent: conference\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n";
      ::sendto(fd_, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&server_), sizeof(server_));
      if (!sink_.wait([&] { return sink_.requests.size() > static_cast<size_t>(i); }, 5000)) return false;
      const InboundRequest& r = sink_.requests.back();
      worker_->post(AcceptSubscription{r.id, r.dialog, "bench", "<" + uri + ">", "Expires: 600\r\n"});
      dialogs_.push_back(r.dialog);
    }
    return true;
  }

  // Posts `count` NOTIFYs round robin plus the marker; returns when the
  // worker has sent them all.
  bool fan_out(size_t count) {
    std::vector<Command> batch;
    batch.reserve(count + 1);
    for (size_t i = 0; i < count; ++i) {
      batch.push_back(SendInDialog{dialogs_[next_++ % dialogs_.size()], "NOTIFY",
                                   "Event: conference\r\nSubscription-State: active;expires=600\r\n",
                                   "application/conference-info+xml", kBody, i});
    }
    batch.push_back(SendInDialog{~DialogId{0}, "NOTIFY", "", "", "", kMarkerToken});
    size_t markers_before;
    {
      std::lock_guard<std::mutex> lk(sink_.mu);
      markers_before = markers_seen_locked();
    }
    worker_->post(std::move(batch));
    return sink_.wait([&] { return markers_seen_locked() > markers_before; });
  }

  ~FanoutRig() {
    if (worker_) worker_->stop();
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  size_t markers_seen_locked() {
    size_t n = 0;
    for (uint64_t t : sink_.done_tokens) n += t == kMarkerToken;
    return n;
  }

  static inline const std::string kBody = std::string(400, 'x');
  FanoutSink sink_;
  std::unique_ptr<SipWorker> worker_;
  int fd_ = -1;
  sockaddr_in server_{};
  std::vector<DialogId> dialogs_;
  size_t next_ = 0;
};

// Args: M outstanding transactions, T1 in ms. With T1 = 500 the M
// outstanding ones retransmit (Timer E) during the timed part, which is
// real work; a long T1 keeps them quiet and leaves only the cost of having
// them around. (Before the wheel, libre's transactions ignored T1.)
void BM_Worker_NotifyFanout(benchmark::State& state) {
  const size_t outstanding = static_cast<size_t>(state.range(0));
  const uint32_t t1_ms = static_cast<uint32_t>(state.range(1));
  constexpr size_t kFanout = 2000;
  constexpr int kDialogs = 500;
  for (auto _ : state) {
    FanoutRig rig;
    if (!rig.setup(kDialogs, t1_ms) || !rig.fan_out(outstanding)) {
      state.SkipWithError("worker setup failed");
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (!rig.fan_out(kFanout)) {
      state.SkipWithError("fan-out did not finish");
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kFanout));
}
BENCHMARK(BM_Worker_NotifyFanout)
    ->ArgNames({"outstanding", "t1_ms"})
    ->Args({0, 500})
    ->Args({10000, 500})
    ->Args({30000, 500})
    ->Args({30000, 8000})
    ->UseManualTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
