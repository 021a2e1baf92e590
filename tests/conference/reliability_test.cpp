// The server's conference NOTIFYs as client transactions (SESSIONS.md §9.1,
// §9.4, §9.5; TC-O01..O05 of §12.5): Timer E retransmissions over UDP,
// Timer F removing the subscription, 481/408 removing it, 500 keeping it
// with a full resync document, and TCP (no retransmission, the subscriber's
// own connection).
//
// T1 and T2 are shortened (--sip.t1-ms=100 --sip.t2-ms=800; TC-O01 200 and
// 1600) so the ratios of the spec (T1 = 500 ms, T2 = 4 s = 8*T1, Timer F =
// 64*T1) are kept while the tests stay short. Times are arrival times at
// the subscriber's reader thread (SipMessage::received_at); the tolerance is
// generous because the suite runs in parallel on small machines.

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/conference/fixture.hpp"

namespace imserver::testclient {
namespace {

constexpr int kT1 = 100;  // ms
constexpr int kT2 = 800;  // ms (8*T1, as T2 = 4 s against T1 = 500 ms)
constexpr int kTol = 60;  // ms, each way
// TC-O01 asserts single copies against absolute offsets, where one
// scheduling hiccup of a loaded box is enough to miss by 60 ms: it runs
// with T1 = 200 ms and a tolerance of 80 ms, still well under T1, so a
// wrong schedule (no doubling, doubling from the start, a missing copy)
// cannot pass.
constexpr int kO01T1 = 200;
constexpr int kO01Tol = 80;

std::vector<std::string> short_timers(int t1 = kT1) {
  return {"--sip.t1-ms=" + std::to_string(t1), "--sip.t2-ms=" + std::to_string(8 * t1)};
}

double ms_between(const SipMessage& a, const SipMessage& b) {
  return std::chrono::duration<double, std::milli>(b.received_at - a.received_at).count();
}

class ReliabilityTest : public ConferenceTest {
 protected:
  // Every NOTIFY `name` has received on its conference subscription so far
  // (queued, consumed and absorbed alike) with this top Via branch.
  size_t copies_seen(const std::string& name, const std::string& branch) {
    auto& u = user(name);
    size_t n = 0;
    for (const auto& m : u.ua->history())
      if (m.is_request && m.method == "NOTIFY" && m.call_id() == u.sub.call_id && m.top_via_branch() == branch) ++n;
    return n;
  }

  // Any NOTIFY in `name`'s subscription dialog arriving (or already
  // queued) within `quiet`, consumed.
  std::optional<SipMessage> any_notify(const std::string& name, std::chrono::milliseconds quiet) {
    auto& u = user(name);
    return u.ua->wait_in_dialog(u.sub, "NOTIFY", quiet);
  }

  // The departure report of `who` as `name` sees it, answered 200 and
  // checked (version + 1, partial, endpoint departed).
  void expect_departure(const std::string& name, const std::string& who) {
    auto n = next_notify(name);
    ASSERT_TRUE(n) << name << ": no NOTIFY for " << who << "'s departure";
    auto doc = check_notify(name, *n);
    EXPECT_EQ(doc.state, "partial") << name;
    const DocUser* u = doc.find_user("sip:" + who + "@example.com");
    ASSERT_TRUE(u) << name << ": " << who << " not in\n" << n->body;
    ASSERT_FALSE(u->endpoints.empty()) << n->body;
    EXPECT_EQ(u->endpoints[0].status, "disconnected") << n->body;
  }

  void bye(const std::string& name) {
    auto& u = user(name);
    auto ok = u.ua->bye(u.invite);
    ASSERT_TRUE(ok) << name << ": no response to BYE";
    ASSERT_EQ(ok->status, 200) << ok->raw;
    u.joined = false;
  }

  // A refresh SUBSCRIBE in `name`'s subscription dialog; its status.
  int refresh(const std::string& name) {
    auto& u = user(name);
    auto r = u.ua->resubscribe(u.sub, 3600);
    return r ? r->status : 0;
  }
};

using ReliabilityUdpTest = ReliabilityTest;
using ReliabilityTcpTest = ReliabilityTest;

// TC-O01 (§9.1 Timer E, §9.4): W drops the first two copies of the
// departure NOTIFY. The copies are the same request (same branch, CSeq,
// Call-ID and body) at t0, t0 + T1 and t0 + 3*T1. W answers the third; no
// copy follows (spec: none within 5 s = 10*T1).
TEST_P(ReliabilityUdpTest, O01NotifyRetransmission) {
  f_base(short_timers(kO01T1));
  ASSERT_FALSE(HasFailure());
  ASSERT_NO_FATAL_FAILURE(bye("carol"));
  // The others answer at once (their copies are not what is looked at).
  for (const char* name : {"alice", "bob", "dan"}) expect_departure(name, "carol");

  auto& w = user("wendy");
  std::vector<SipMessage> copies;
  for (int i = 0; i < 3; ++i) {
    auto n = w.ua->wait_in_dialog(w.sub, "NOTIFY", i == 0 ? 5000ms : std::chrono::milliseconds(3 * kO01T1 + kO01Tol));
    ASSERT_TRUE(n) << "copy " << i + 1 << " of the departure NOTIFY did not arrive";
    copies.push_back(*n);
  }
  const auto& first = copies[0];
  for (size_t i = 1; i < copies.size(); ++i) {
    EXPECT_EQ(copies[i].top_via_branch(), first.top_via_branch()) << "copy " << i + 1;
    EXPECT_EQ(copies[i].cseq_number(), first.cseq_number()) << "copy " << i + 1;
    EXPECT_EQ(copies[i].call_id(), first.call_id()) << "copy " << i + 1;
    EXPECT_EQ(copies[i].body, first.body) << "copy " << i + 1;
  }
  EXPECT_NEAR(ms_between(first, copies[1]), 1.0 * kO01T1, kO01Tol) << "second copy at t0 + T1";
  EXPECT_NEAR(ms_between(first, copies[2]), 3.0 * kO01T1, kO01Tol) << "third copy at t0 + 3*T1";

  w.ua->respond(copies[2], 200, "OK");
  auto doc = check_notify("wendy", copies[2]);
  EXPECT_EQ(doc.state, "partial");

  std::this_thread::sleep_for(std::chrono::milliseconds(10 * kO01T1));
  EXPECT_EQ(copies_seen("wendy", first.top_via_branch()), 3u) << "copies after W's 200";
  EXPECT_FALSE(any_notify("wendy", 0ms)) << "an unexpected NOTIFY after W's 200";
}

// TC-O02 (§9.1 Timers E and F, §9.4): W never answers. Copies at
// intervals T1, 2*T1, 4*T1, 8*T1 (= T2), T2, ... until Timer F (64*T1) ends
// the transaction; the subscription is then gone: D's departure gives W
// nothing and W's refresh gets 481.
TEST_P(ReliabilityUdpTest, O02NotifyTimeout) {
  f_base(short_timers());
  ASSERT_FALSE(HasFailure());
  ASSERT_NO_FATAL_FAILURE(bye("carol"));
  // The others answer at once, or Timer F would end their subscriptions too.
  for (const char* name : {"alice", "bob", "dan"}) expect_departure(name, "carol");

  auto& w = user("wendy");
  std::vector<SipMessage> copies;
  auto first = w.ua->wait_in_dialog(w.sub, "NOTIFY", 5000ms);
  ASSERT_TRUE(first) << "no departure NOTIFY to W";
  copies.push_back(*first);
  // Collect copies until none came for 2*T2 (the largest interval is T2).
  while (auto n = w.ua->wait_in_dialog(w.sub, "NOTIFY", std::chrono::milliseconds(2 * kT2))) copies.push_back(*n);

  // Expected offsets: 0, T1, 3T1, 7T1, 15T1, 23T1, ... < 64*T1 (11 copies).
  std::vector<double> expected;
  for (int step = kT1, at = 0; at < 64 * kT1; at += step, step = std::min(2 * step, kT2)) expected.push_back(at);
  ASSERT_EQ(expected.size(), 11u);

  std::string timeline;
  for (const auto& c : copies) timeline += " " + std::to_string(static_cast<int>(ms_between(*first, c)));
  SCOPED_TRACE("arrival offsets (ms):" + timeline);
  RecordProperty("arrival_offsets_ms", timeline);
  for (size_t i = 1; i < copies.size(); ++i) {
    EXPECT_EQ(copies[i].top_via_branch(), first->top_via_branch()) << "copy " << i + 1;
    EXPECT_EQ(copies[i].cseq_number(), first->cseq_number()) << "copy " << i + 1;
  }
  // The last copy may lose the race against Timer F by a few ms of timer
  // drift: 10 or 11 copies.
  EXPECT_GE(copies.size(), expected.size() - 1);
  EXPECT_LE(copies.size(), expected.size());
  for (size_t i = 1; i < std::min(copies.size(), expected.size()); ++i) {
    double interval = ms_between(copies[i - 1], copies[i]);
    double want = expected[i] - expected[i - 1];
    EXPECT_NEAR(interval, want, kTol) << "interval before copy " << i + 1;
  }
  double last = ms_between(*first, copies.back());
  EXPECT_GE(last, 64.0 * kT1 - kT2 - kTol) << "retransmissions ended too early";
  EXPECT_LE(last, 64.0 * kT1 + kTol) << "retransmissions went on past Timer F";

  // Timer F has fired by now (the loop above waited 2*T2 after the last
  // copy); the subscription must be gone silently.
  auto left = std::chrono::steady_clock::now() - first->received_at;
  if (left < std::chrono::milliseconds(64 * kT1 + 200))
    std::this_thread::sleep_for(std::chrono::milliseconds(64 * kT1 + 200) - left);
  ASSERT_NO_FATAL_FAILURE(bye("dan"));
  for (const char* name : {"alice", "bob"}) expect_departure(name, "dan");
  EXPECT_FALSE(any_notify("wendy", std::chrono::milliseconds(10 * kT1)))
      << "W got a NOTIFY after its subscription timed out";
  EXPECT_EQ(refresh("wendy"), 481) << "W's refresh after Timer F";
}

// TC-O03 (§9.4): a NOTIFY answered 481 (a) or 408 (b) removes the
// subscription: nothing more on the next change, and a refresh gets 481.
TEST_P(ReliabilityTest, O03aNotifyAnswered481) {
  f_base(short_timers());
  ASSERT_FALSE(HasFailure());
  ASSERT_NO_FATAL_FAILURE(bye("carol"));
  auto n = next_notify("wendy", 481);
  ASSERT_TRUE(n) << "no departure NOTIFY to W";
  for (const char* name : {"alice", "bob", "dan"}) expect_departure(name, "carol");

  ASSERT_NO_FATAL_FAILURE(bye("dan"));
  for (const char* name : {"alice", "bob"}) expect_departure(name, "dan");
  EXPECT_FALSE(any_notify("wendy", std::chrono::milliseconds(10 * kT1))) << "W got a NOTIFY after answering 481";
  EXPECT_EQ(refresh("wendy"), 481) << "W's refresh after its 481";
}

TEST_P(ReliabilityTest, O03bNotifyAnswered408) {
  f_base(short_timers());
  ASSERT_FALSE(HasFailure());
  ASSERT_NO_FATAL_FAILURE(bye("carol"));
  auto n = next_notify("bob", 408);
  ASSERT_TRUE(n) << "no departure NOTIFY to B";
  for (const char* name : {"alice", "dan", "wendy"}) expect_departure(name, "carol");

  ASSERT_NO_FATAL_FAILURE(bye("dan"));
  for (const char* name : {"alice", "wendy"}) expect_departure(name, "dan");
  EXPECT_FALSE(any_notify("bob", std::chrono::milliseconds(10 * kT1))) << "B got a NOTIFY after answering 408";
  EXPECT_EQ(refresh("bob"), 481) << "B's refresh after its 408";
}

// TC-O04 (§9.4): a NOTIFY answered 500 keeps the subscription, and the next
// NOTIFY is a full document with the next version, still active.
TEST_P(ReliabilityTest, O04NotifyAnswered500) {
  f_base(short_timers());
  ASSERT_FALSE(HasFailure());
  const uint32_t va = user("alice").version;
  ASSERT_NO_FATAL_FAILURE(bye("carol"));
  auto n = next_notify("alice", 500);
  ASSERT_TRUE(n) << "no departure NOTIFY to A";
  auto d1 = check_notify("alice", *n);
  EXPECT_EQ(d1.version.value_or(0), va + 1);
  for (const char* name : {"bob", "dan", "wendy"}) expect_departure(name, "carol");

  ASSERT_NO_FATAL_FAILURE(bye("dan"));
  auto n2 = next_notify("alice");
  ASSERT_TRUE(n2) << "no NOTIFY to A after D's BYE (the 500 must keep the subscription)";
  auto d2 = check_notify("alice", *n2);
  EXPECT_EQ(d2.version.value_or(0), va + 2) << n2->body;
  EXPECT_EQ(d2.state, "full") << "the NOTIFY after a 500 must be a full document\n" << n2->body;
  EXPECT_EQ(d2.user_count.value_or(0), 2u) << n2->body;
  for (const char* who : {"sip:alice@example.com", "sip:bob@example.com"}) {
    const DocUser* u = d2.find_user(who);
    ASSERT_TRUE(u) << who << " missing from the full document\n" << n2->body;
    ASSERT_FALSE(u->endpoints.empty()) << n2->body;
    EXPECT_EQ(u->endpoints[0].status, "connected") << who;
  }
  for (const char* name : {"bob", "wendy"}) expect_departure(name, "dan");
  // Still subscribed: a refresh is accepted.
  EXPECT_EQ(refresh("alice"), 200);
}

// TC-O05 (§9.1, §9.5): over TCP the departure NOTIFY reaches W over the
// connection W opened (a SipUa over TCP has exactly that one connection
// and listens on nothing) and is never retransmitted, even though W
// answers late (spec: 2 s = 4*T1, past where UDP copies would come at T1
// and 3*T1).
TEST_P(ReliabilityTcpTest, O05NotifyOverTcpAnsweredLate) {
  f_base(short_timers());
  ASSERT_FALSE(HasFailure());
  auto& w = user("wendy");
  ASSERT_TRUE(w.ua->is_tcp());
  ASSERT_NO_FATAL_FAILURE(bye("carol"));

  auto n = w.ua->wait_in_dialog(w.sub, "NOTIFY", 5000ms);
  ASSERT_TRUE(n) << "no departure NOTIFY to W over its TCP connection";
  EXPECT_TRUE(w.ua->connected()) << "the server closed W's connection";
  EXPECT_NE(to_lower(n->header("Via").value_or("")).find("sip/2.0/tcp"), std::string::npos)
      << "top Via of a NOTIFY sent over TCP: " << n->header("Via").value_or("");
  auto late = n->received_at + std::chrono::milliseconds(4 * kT1);
  std::this_thread::sleep_until(late);
  EXPECT_EQ(copies_seen("wendy", n->top_via_branch()), 1u) << "retransmission over TCP before the answer";
  w.ua->respond(*n, 200, "OK");
  auto doc = check_notify("wendy", *n);
  EXPECT_EQ(doc.state, "partial");

  std::this_thread::sleep_for(std::chrono::milliseconds(10 * kT1));
  EXPECT_EQ(copies_seen("wendy", n->top_via_branch()), 1u) << "retransmission over TCP";
  EXPECT_FALSE(any_notify("wendy", 0ms));
  EXPECT_TRUE(w.ua->connected());
  for (const char* name : {"alice", "bob", "dan"}) expect_departure(name, "carol");

  // The subscription still works after the late answer.
  ASSERT_NO_FATAL_FAILURE(bye("dan"));
  expect_departure("wendy", "dan");
}

INSTANTIATE_TEST_SUITE_P(Transports, ReliabilityTest, ::testing::Values("udp", "tcp"), transport_name);
INSTANTIATE_TEST_SUITE_P(Udp, ReliabilityUdpTest, ::testing::Values("udp"), transport_name);
INSTANTIATE_TEST_SUITE_P(Tcp, ReliabilityTcpTest, ::testing::Values("tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
