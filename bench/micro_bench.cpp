// Micro-benchmarks for the pieces every request touches. Each family has a
// baseline in the same binary (copying the same input) so results read as
// ratios, which survive a noisy machine better than absolute times.

#include <benchmark/benchmark.h>

#include "actors/notify/conference_notifier.hpp"
#include "actors/session/group_session.hpp"
#include "actors/session_registry.hpp"
#include "policy/trust.hpp"
#include "transport/codec/refer_to.hpp"
#include "transport/codec/sdp_msrp.hpp"
#include "transport/codec/sip_uri.hpp"

using namespace imserver;

namespace {

const std::string kOffer =
    "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=message 40001 TCP/MSRP *\r\na=accept-types:message/cpim\r\n"
    "a=accept-wrapped-types:text/plain message/imdn+xml\r\n"
    "a=path:msrp://127.0.0.1:40001/aLiCe0001;tcp\r\na=setup:actpass\r\na=sendrecv\r\n";
const std::string kReferTo = "sip:gs-7kq2xw9d3m@im.example.com;METHOD=%42YE?X-Test=evil&Subject=x";

void BM_Baseline_CopyOffer(benchmark::State& state) {
  for (auto _ : state) {
    std::string copy = kOffer;
    benchmark::DoNotOptimize(copy);
  }
}
BENCHMARK(BM_Baseline_CopyOffer);

void BM_AnswerMsrpOffer(benchmark::State& state) {
  codec::MsrpAnswerConfig cfg;
  for (auto _ : state) benchmark::DoNotOptimize(codec::answer_msrp_offer(kOffer, cfg, "pA3kq9ZtW0xR7m2L", 1, 1));
}
BENCHMARK(BM_AnswerMsrpOffer);

void BM_ParseUri(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(codec::parse_uri(kReferTo));
}
BENCHMARK(BM_ParseUri);

void BM_TrustedPeersContains(benchmark::State& state) {
  auto peers = policy::TrustedPeers::parse("10.0.0.0/8,192.0.2.10/32,2001:db8::/32,127.0.0.0/8");
  for (auto _ : state) benchmark::DoNotOptimize(peers->contains("127.0.0.1"));
}
BENCHMARK(BM_TrustedPeersContains);

transport::InboundRequest join_request(uint64_t n) {
  transport::InboundRequest r;
  r.id = n;
  r.dialog = n;
  r.method = "INVITE";
  r.request_uri = "sip:gs-1@im.example.com";
  r.contacts = {"<sip:u" + std::to_string(n) + "@127.0.0.1:5060>"};
  r.content_type = "application/sdp";
  r.body = kOffer;
  return r;
}

// The ad-hoc session gs-1 that anyone may join, room for everyone.
session::GroupSession open_session() {
  session::SessionConfig cfg;
  cfg.domain = "im.example.com";
  cfg.join_policy = policy::AdhocJoinPolicy::Anyone;
  cfg.max_participants = 100000;
  return session::GroupSession(cfg, "sip:gs-1@im.example.com", policy::SessionKind::AdHoc, "gs-1", 1);
}

// One participant joins (INVITE, ACK) and leaves (BYE) a session that holds
// `range(0)` others: the state-machine work of one join/leave cycle.
void BM_SessionJoinLeaveCycle(benchmark::State& state) {
  session::GroupSession s = open_session();
  const auto creator = join_request(1);
  s.create(creator, {"sip:u1@example.com", {}}, 0);
  s.on_dialog_event({1, "gs-1", transport::DialogEventKind::Confirmed, 0}, 0);
  for (int64_t i = 2; i <= state.range(0); ++i) {
    s.on_request(join_request(i), policy::AssertedIdentity{"sip:u" + std::to_string(i) + "@example.com", {}}, 0);
    s.on_dialog_event({static_cast<uint64_t>(i), "gs-1", transport::DialogEventKind::Confirmed, 0}, 0);
  }
  uint64_t next = 1000000;
  for (auto _ : state) {
    ++next;
    auto fx = s.on_request(join_request(next), policy::AssertedIdentity{"sip:x@example.com", {}}, 0);
    s.on_dialog_event({next, "gs-1", transport::DialogEventKind::Confirmed, 0}, 0);
    auto gone = s.on_dialog_event({next, "gs-1", transport::DialogEventKind::PeerBye, 0}, 0);
    benchmark::DoNotOptimize(fx);
    benchmark::DoNotOptimize(gone);
  }
}
BENCHMARK(BM_SessionJoinLeaveCycle)->Arg(3)->Arg(100)->Arg(1000);

transport::InboundRequest rejoin_request(uint64_t dialog, int64_t user) {
  auto r = join_request(dialog);
  r.contacts = {"<sip:u" + std::to_string(user) + "@127.0.0.1:5060>"};
  r.headers = {{"p-asserted-identity", "<sip:u" + std::to_string(user) + "@example.com>"}};
  return r;
}

// imbench --mode=leave-bye in one session of `range(0)` users: the next
// participant in turn sends BYE, then rejoins (INVITE, ACK) with its own
// AoR and Contact. The request is built outside the timed part, so this is
// the state machine's work for one operation (what the session actor runs).
void BM_SessionLeaveRejoin(benchmark::State& state) {
  session::GroupSession s = open_session();
  const int64_t users = state.range(0);
  std::vector<uint64_t> dialog(static_cast<size_t>(users) + 1);
  auto who = [](int64_t i) { return policy::AssertedIdentity{"sip:u" + std::to_string(i) + "@example.com", {}}; };
  s.create(rejoin_request(1, 1), who(1), 0);
  dialog[1] = 1;
  s.on_dialog_event({1, "gs-1", transport::DialogEventKind::Confirmed, 0}, 0);
  for (int64_t i = 2; i <= users; ++i) {
    dialog[i] = static_cast<uint64_t>(i);
    s.on_request(rejoin_request(dialog[i], i), who(i), 0);
    s.on_dialog_event({dialog[i], "gs-1", transport::DialogEventKind::Confirmed, 0}, 0);
  }
  uint64_t next = 1000000;
  int64_t turn = 1;
  for (auto _ : state) {
    state.PauseTiming();
    turn = turn % users + 1;
    const uint64_t fresh = ++next;
    const auto r = rejoin_request(fresh, turn);
    const auto id = who(turn);
    state.ResumeTiming();
    auto gone = s.on_dialog_event({dialog[turn], "gs-1", transport::DialogEventKind::PeerBye, 0}, 0);
    auto fx = s.on_request(r, id, 0);
    auto in = s.on_dialog_event({fresh, "gs-1", transport::DialogEventKind::Confirmed, 0}, 0);
    dialog[turn] = fresh;
    benchmark::DoNotOptimize(gone);
    benchmark::DoNotOptimize(fx);
    benchmark::DoNotOptimize(in);
  }
}
BENCHMARK(BM_SessionLeaveRejoin)->Arg(50)->Arg(1000);

// The notifier's side of the same operation, with no subscriber: the
// departure's report (kept, then purged) and the rejoin's report, among
// `range(0)` users.
void BM_NotifierLeaveRejoin(benchmark::State& state) {
  notify::ConferenceNotifier n(session::ConferenceConfig{}, "notify:0");
  auto report = [](int64_t i, bool connected) {
    session::EndpointReport r;
    r.aor = "sip:u" + std::to_string(i) + "@example.com";
    r.entity = "sip:u" + std::to_string(i) + "@127.0.0.1:5060";
    r.connected = connected;
    r.joining_method = "dialed-in";
    r.joining_when = "2026-11-26T11:15:00Z";
    if (!connected) {
      r.disconnection_method = "departed";
      r.disconnection_when = "2026-11-26T11:15:01Z";
    }
    return r;
  };
  auto update = [](session::EndpointReport r) {
    session::RosterUpdate u;
    u.description.identity = "sip:gs-1@im.example.com";
    u.description.maximum_user_count = 100;
    u.changed.push_back(std::move(r));
    return u;
  };
  std::vector<transport::Command> out;
  const int64_t users = state.range(0);
  for (int64_t i = 1; i <= users; ++i) n.on_roster(update(report(i, true)), 0, out);
  int64_t turn = 1;
  for (auto _ : state) {
    state.PauseTiming();
    turn = turn % users + 1;
    auto leave = update(report(turn, false));
    leave.terminate_subscribers.push_back(leave.changed.front().aor);
    auto rejoin = update(report(turn, true));
    state.ResumeTiming();
    n.on_roster(std::move(leave), 0, out);
    n.on_roster(std::move(rejoin), 0, out);
  }
}
BENCHMARK(BM_NotifierLeaveRejoin)->Arg(50)->Arg(1000);

// Refer-To of a REFER BYE (PROTOCOL.md §3.1-§3.2), as the directory and the
// session read it; compare with BM_ParseUri of the same URI.
void BM_ParseReferTo(benchmark::State& state) {
  const std::vector<std::string> values = {"\"Leave\" <" + kReferTo + ">"};
  for (auto _ : state) benchmark::DoNotOptimize(codec::parse_refer_to(values, true));
}
BENCHMARK(BM_ParseReferTo);

// The directory's step for every out-of-dialog request: canonical AoR of the
// Request-URI, then the registry lookup, among `range(0)` live sessions.
void BM_DirectoryLookup(benchmark::State& state) {
  actors::LocalSessionRegistry registry;
  for (int64_t i = 0; i < state.range(0); ++i)
    registry.add("sip:gs-" + std::to_string(i) + "@im.example.com", caf::actor{});
  const std::string ruri = "sip:gs-" + std::to_string(state.range(0) / 2) + "@IM.example.com;transport=udp";
  for (auto _ : state) {
    auto uri = codec::parse_uri(ruri);
    uri->host = "im.example.com";
    benchmark::DoNotOptimize(registry.find(codec::canonical_aor(*uri)));
  }
}
BENCHMARK(BM_DirectoryLookup)->Arg(1000)->Arg(100000);

}  // namespace

BENCHMARK_MAIN();
