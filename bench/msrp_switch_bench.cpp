// Benchmarks for the MSRP switch's bookkeeping (transport/msrp/msrp_switch.hpp),
// driven directly with a no-op ConnectionIo: no sockets, no parsing of what
// it writes, so the figures are the switch's own cost.
//
// Issue: after tearing down 100,000 participants the MSRP thread spun for
// more than ten minutes, because each MsrpReleaseDialog scanned every leg.
// Each family registers N legs in N/100 groups of 100 (one dialog per leg),
// then releases them all by dialog; "per_release" is the time of one
// release, which must not grow with N.
//   BM_ReleaseDialog_Idle: legs registered only (never bound).
//   BM_ReleaseDialog_Busy: each leg bound on its own connection, and one
//     message sent in every group, so every receiving leg has a copy in
//     flight awaiting its response when it is released (a teardown in the
//     middle of a conversation).
//   BM_Tick: one on_tick over the busy set-up with nothing due, the cost
//     every timer tick pays a few times a second.

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "transport/codec/msrp_frame.hpp"
#include "transport/msrp/msrp_switch.hpp"

namespace {

using imserver::transport::ConnectionIo;
using imserver::transport::ConnId;
using imserver::transport::MsrpLeg;
using imserver::transport::MsrpLegFailed;
using imserver::transport::MsrpSwitch;
using imserver::transport::MsrpSwitchConfig;
namespace msrp = imserver::codec::msrp;

constexpr size_t kGroupSize = 100;

struct NoIo : ConnectionIo {
  void write(ConnId, std::string) override {}
  size_t backlog(ConnId) const override { return 0; }
  void close(ConnId) override {}
  ConnId connect(const std::string&, uint16_t) override { return 0; }
  void leg_failed(MsrpLegFailed) override {}
};

std::string leg_id(size_t i) { return "focus" + std::to_string(1000000 + i) + "x"; }
std::string local_uri(size_t i) { return "msrp://127.0.0.1:2855/" + leg_id(i) + ";tcp"; }
std::string remote_uri(size_t i) { return "msrp://127.0.0.1:4000/peer" + std::to_string(i) + ";tcp"; }
std::string aor(size_t i) { return "sip:user" + std::to_string(i) + "@example.com"; }
std::string group_of(size_t i) { return "sip:gs-" + std::to_string(i / kGroupSize) + "@im.example.com"; }

MsrpLeg make_leg(size_t i) {
  MsrpLeg l;
  l.leg_id = leg_id(i);
  l.group = group_of(i);
  l.local_uri = local_uri(i);
  l.remote_path = {remote_uri(i)};
  l.aor = aor(i);
  l.accept_types = {"message/cpim"};
  l.accept_wrapped_types = {"text/plain"};
  l.owner = l.group;
  l.dialog = i + 1;
  return l;
}

std::string send_from(size_t i, const std::string& message_id, const std::string& body) {
  msrp::Frame f;
  f.tid = "t" + message_id;
  f.method = "SEND";
  f.headers = {{"To-Path", local_uri(i)}, {"From-Path", remote_uri(i)}, {"Message-ID", message_id},
               {"Byte-Range", "1-" + std::to_string(body.size()) + "/" + std::to_string(body.size())}};
  if (!body.empty()) {
    f.headers.emplace_back("Content-Type", "message/cpim");
    f.has_body_section = true;
    f.body = body;
  }
  return msrp::serialize(f);
}

// N legs in N/100 groups; when `busy`, each bound on connection i+1 and the
// first leg of every group has sent one message to its group.
std::unique_ptr<MsrpSwitch> build(NoIo& io, size_t n, bool busy) {
  auto sw = std::make_unique<MsrpSwitch>(MsrpSwitchConfig{}, io);
  for (size_t i = 0; i < n; ++i) {
    sw->add_leg(make_leg(i), 0);
    if (!busy) continue;
    sw->on_connection(i + 1, 0);
    sw->on_bytes(i + 1, send_from(i, "b" + std::to_string(i), ""), 0);
  }
  if (busy) {
    for (size_t first = 0; first < n; first += kGroupSize) {
      const std::string body = "From: <" + aor(first) + ">\r\nTo: <" + group_of(first) +
                               ">\r\nDateTime: 2025-01-15T10:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\nhello";
      sw->on_bytes(first + 1, send_from(first, "m" + std::to_string(first), body), 0);
    }
  }
  return sw;
}

void release_all(benchmark::State& state, bool busy) {
  const auto n = static_cast<size_t>(state.range(0));
  NoIo io;
  for (auto _ : state) {
    state.PauseTiming();
    auto sw = build(io, n, busy);
    if (sw->leg_count() != n) state.SkipWithError("legs were not all registered");
    state.ResumeTiming();
    for (size_t i = 0; i < n; ++i) sw->release_dialog(i + 1);
    state.PauseTiming();
    if (sw->leg_count() != 0 || sw->connection_count() != 0) state.SkipWithError("legs left after release");
    sw.reset();
    state.ResumeTiming();
  }
  state.counters["per_release"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_ReleaseDialog_Idle(benchmark::State& state) { release_all(state, false); }
void BM_ReleaseDialog_Busy(benchmark::State& state) { release_all(state, true); }
BENCHMARK(BM_ReleaseDialog_Idle)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReleaseDialog_Busy)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_Tick(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  NoIo io;
  auto sw = build(io, n, true);
  for (auto _ : state) sw->on_tick(1);  // nothing is due: every timeout is seconds away
  if (sw->leg_count() != n) state.SkipWithError("a leg failed during the ticks");
}
BENCHMARK(BM_Tick)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
