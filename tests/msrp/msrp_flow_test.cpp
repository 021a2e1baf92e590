// MSRP flow control and connection handling on the wire (SESSIONS.md §8.2,
// §8.5, §8.7; §12.4 TC-M19, M20, and dial-in variants of M21-M23 since
// dial-out does not exist yet): slow receivers, silent receivers, legs
// sharing one connection, messages queued before binding, receive-only
// legs. The real server, SIP over UDP and TCP, MSRP over TCP.

#include <thread>

#include "tests/msrp/msrp_fixture.hpp"

namespace imserver::testclient {
namespace {

using Frame = codec::msrp::Frame;
using Clock = std::chrono::steady_clock;

bool is_send(const Frame& f) { return f.is_request && f.method == "SEND"; }

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

class MsrpFlowTest : public MsrpTest {
 protected:
  static OfferOptions room() {
    OfferOptions o;
    o.chatroom = true;
    o.wrapped_types = "*";
    return o;
  }
  static OfferOptions small() {
    OfferOptions o;
    o.extra_lines = "a=max-size:4096\r\n";
    return o;
  }

  // Connects `name`'s client (created by join_chat(..., bind=false)) and
  // binds its leg with a bodiless SEND.
  void bind(const std::string& name) {
    auto& m = chat(name);
    ASSERT_TRUE(m.msrp->connect("127.0.0.1", server_.msrp_port())) << m.msrp->last_error();
    const std::string tid = m.msrp->bodiless_send(m.focus_path);
    auto resp = m.msrp->wait_response(tid);
    ASSERT_TRUE(resp) << name << ": no answer to the binding SEND";
    ASSERT_EQ(resp->status, 200) << name;
  }

  // CPIM(from, gs-1, text + padding) of exactly `size` octets.
  std::string cpim_of_size(const std::string& from, const std::string& text, size_t size) {
    const size_t base = cpim(from, kGs1, text).size();
    EXPECT_GE(size, base);
    return cpim(from, kGs1, text + std::string(size - base, '.'));
  }

  // A regular message from `from`; returns its body after checking the 200.
  std::string send_ok(const std::string& from, const std::string& text) {
    const std::string body = cpim(from, kGs1, text);
    const std::string tid = msrp(from).send_message(chat(from).focus_path, body);
    EXPECT_FALSE(tid.empty()) << msrp(from).last_error();
    auto ok = msrp(from).wait_response(tid);
    EXPECT_TRUE(ok) << from << ": no response to '" << text << "'";
    if (ok) {
      EXPECT_EQ(ok->status, 200) << text;
    }
    return body;
  }

  void expect_copy(const std::string& name, const std::string& body, std::chrono::milliseconds timeout = 5s) {
    auto copy = msrp(name).wait_request("SEND", timeout);
    ASSERT_TRUE(copy) << name << " got no copy";
    EXPECT_EQ(copy->body, body) << name;
    EXPECT_EQ(copy->header("To-Path") ? *copy->header("To-Path") : "", chat(name).path) << name;
    EXPECT_EQ(copy->header("From-Path") ? *copy->header("From-Path") : "", chat(name).focus_path) << name;
  }

  // Waits (up to `timeout`) for a conference NOTIFY in `name`'s
  // subscription whose document reports `who`'s endpoint disconnected;
  // checks every NOTIFY on the way and that endpoint: booted, with a
  // reason containing `reason`.
  void expect_booted_notify(const std::string& name, const std::string& who, const std::string& reason,
                            std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    const std::string entity = "sip:" + who + "@example.com";
    while (Clock::now() < deadline) {
      auto n = next_notify(name, 200, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (!n) break;
      auto doc = check_notify(name, *n);
      const DocUser* u = doc.find_user(entity);
      if (!u) continue;
      const DocEndpoint* ep = nullptr;
      for (const auto& e : u->endpoints)
        if (e.status == "disconnected" || e.state == "deleted") ep = &e;
      if (!ep && u->state != "deleted") continue;
      EXPECT_NE(n->body.find(reason), std::string::npos)
          << name << ": the NOTIFY about " << who << " does not carry \"" << reason << "\"\n"
          << n->body;
      if (ep) {
        EXPECT_EQ(ep->status, "disconnected") << name << "\n" << n->body;
        EXPECT_EQ(ep->disconnection_method, "booted") << name << "\n" << n->body;
        EXPECT_NE(ep->disconnection_reason.find(reason), std::string::npos)
            << name << ": <disconnection-info><reason> is '" << ep->disconnection_reason << "'";
      }
      return;
    }
    ADD_FAILURE() << name << ": no NOTIFY showing " << who << " booted (" << reason << ")";
  }
};

// TC-M19: Carol stops reading (a small receive buffer makes that bite
// early). 300 messages of 1000 octets from Alice: each answered 200 within
// 1 s, Bob and Dan get all 300 in order, Carol is BYEd within 15 s and every
// subscriber sees her booted for "MSRP congestion".
TEST_P(MsrpFlowTest, M19SlowReceiverIsDroppedNotWaitedFor) {
  start({"--msrp.queue-max-messages=50", "--msrp.congestion-kick-s=10"});
  if (HasFailure()) return;
  join_chat("alice", kFactory, room());
  join_chat("bob", kGs1, room());
  join_chat("carol", kGs1, OfferOptions{}, false);
  if (HasFailure()) return;
  msrp("carol").set_receive_buffer(4096);
  bind("carol");
  join_chat("dan", kGs1, small());
  for (const char* name : {"alice", "bob", "carol", "dan", "wendy"}) {
    subscribe(name);
    if (HasFailure()) return;
  }
  msrp("carol").pause_reading(true);

  constexpr int kCount = 300;
  std::vector<std::string> bodies;
  std::vector<std::pair<std::string, Clock::time_point>> sent;
  const auto start = Clock::now();
  for (int i = 0; i < kCount; ++i) {
    char text[32];
    std::snprintf(text, sizeof text, "message %03d ", i);
    bodies.push_back(cpim_of_size("alice", text, 1000));
    ASSERT_EQ(bodies.back().size(), 1000u);
    Frame f = msrp("alice").make_send(chat("alice").focus_path, "", bodies.back());
    const auto at = Clock::now();
    ASSERT_TRUE(msrp("alice").send(f)) << msrp("alice").last_error();
    sent.emplace_back(f.tid, at);
  }
  int late = 0;
  double worst = 0;
  for (int i = 0; i < kCount; ++i) {
    const std::string tid = sent[i].first;
    auto r = msrp("alice").wait_received([&](const Frame& f) { return !f.is_request && f.tid == tid; }, 5s);
    ASSERT_TRUE(r) << "no response to message " << i;
    EXPECT_EQ(r->frame.status, 200) << "message " << i;
    const double d = seconds(r->received_at - sent[i].second);
    worst = std::max(worst, d);
    if (d > 1.0) ++late;
  }
  EXPECT_EQ(late, 0) << "responses later than 1 s after their SEND; worst " << worst << " s";

  for (const char* name : {"bob", "dan"}) {
    for (int i = 0; i < kCount; ++i) {
      auto copy = msrp(name).wait_request("SEND", 5s);
      ASSERT_TRUE(copy) << name << " got only " << i << " of " << kCount;
      ASSERT_EQ(copy->body, bodies[i]) << name << ": message " << i << " out of order or altered";
    }
  }

  // Carol's leg congests while Alice sends; the kick follows 10 s later.
  auto bye = user("carol").ua->wait_request("BYE", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       start + 16s - Clock::now()));
  if (!bye) {
    // Diagnosis: how much did the switch keep for Carol? All 300 means it
    // never treated her leg as congested (nothing was dropped).
    msrp("carol").pause_reading(false);
    size_t copies = 0;
    for (const auto& f : msrp("carol").drain(1500ms, 5s))
      if (is_send(f) && f.flag == codec::msrp::EndFlag::Complete) ++copies;
    FAIL() << "no BYE to the congested Carol within 15 s; after she read again she got " << copies << " of "
           << kCount << " messages";
  }
  std::fprintf(stderr, "[ info ] BYE to Carol %.2f s after Alice's first SEND\n", seconds(bye->received_at - start));
  EXPECT_LE(seconds(bye->received_at - start), 15.5);
  EXPECT_GE(seconds(bye->received_at - start), 9.0) << "kicked before msrp.congestion_kick_s";
  for (const char* name : {"alice", "bob", "dan", "wendy"}) expect_booted_notify(name, "carol", "MSRP congestion");
  // Bob and Dan were not affected.
  EXPECT_TRUE(user("bob").ua->nothing_arrives("BYE", 100ms));
  EXPECT_TRUE(user("dan").ua->nothing_arrives("BYE", 100ms));
  msrp("carol").pause_reading(false);
}

// TC-M20 with msrp.response_timeout_s=3: Bob reads but never answers his
// copy; 3 s (±1 s) later he gets a BYE and is reported booted for "MSRP
// timeout". Carol and Dan are not affected.
TEST_P(MsrpFlowTest, M20SilentRecipientTimesOut) {
  f_msrp({"--msrp.response-timeout-s=3"}, true);
  if (HasFailure()) return;
  msrp("bob").answer_sends_automatically(false);
  const std::string body = send_ok("alice", "anyone there?");
  auto copy = msrp("bob").wait_received(is_send, 5s);
  ASSERT_TRUE(copy) << "Bob got no copy";
  EXPECT_EQ(copy->frame.body, body);
  EXPECT_EQ(copy->answered_with, 0);
  expect_copy("carol", body);
  expect_copy("dan", body);

  auto bye = user("bob").ua->wait_request("BYE", 6s);
  ASSERT_TRUE(bye) << "no BYE to the silent Bob";
  const double d = seconds(bye->received_at - copy->received_at);
  EXPECT_GE(d, 2.0) << "BYE " << d << " s after the copy";
  EXPECT_LE(d, 4.0) << "BYE " << d << " s after the copy";
  for (const char* name : {"alice", "carol", "dan", "wendy"}) expect_booted_notify(name, "bob", "MSRP timeout");

  // Carol and Dan keep chatting; nothing times out for them.
  const std::string next = send_ok("alice", "after Bob left");
  expect_copy("carol", next);
  expect_copy("dan", next);
  EXPECT_TRUE(msrp("bob").nothing_arrives(is_send, 200ms)) << "no copies for a torn-down leg";
  EXPECT_TRUE(user("carol").ua->nothing_arrives("BYE", 3500ms));
  EXPECT_TRUE(user("dan").ua->nothing_arrives("BYE", 100ms));
  EXPECT_TRUE(msrp("carol").connected());
  EXPECT_TRUE(msrp("dan").connected());
}

// TC-M21 (dial-in variant): one MSRP connection (as from a Participating
// Function) carries Carol's and Dan's legs. Both bind on it (two 200s); a
// message from Alice arrives there as two SENDs; after Carol's BYE the next
// message still reaches Dan on the same open connection.
TEST_P(MsrpFlowTest, M21SharedConnectionDialIn) {
  start();
  if (HasFailure()) return;
  join_chat("alice", kFactory, room());
  join_chat("carol", kGs1, OfferOptions{}, false);
  join_chat("dan", kGs1, small(), false);
  if (HasFailure()) return;
  const std::string carol_path = chat("carol").path;
  const std::string dan_path = chat("dan").path;
  auto& pf_user = chat_["pf"];
  pf_user.msrp = std::make_unique<MsrpClient>(carol_path);
  pf_user.path = carol_path;
  auto& pf = *pf_user.msrp;
  pf.add_local_path(dan_path);
  ASSERT_TRUE(pf.connect("127.0.0.1", server_.msrp_port())) << pf.last_error();

  Frame bind_c = pf.make_bodiless_send(chat("carol").focus_path);
  Frame bind_d = pf.make_bodiless_send(chat("dan").focus_path);
  for (auto& h : bind_d.headers)
    if (h.first == "From-Path") h.second = dan_path;
  ASSERT_TRUE(pf.send(bind_c));
  ASSERT_TRUE(pf.send(bind_d));
  for (const Frame* b : {&bind_c, &bind_d}) {
    auto r = pf.wait_response(b->tid);
    ASSERT_TRUE(r) << "no answer to the binding SEND " << b->tid;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("From-Path") ? *r->header("From-Path") : "", *b->header("To-Path"));
    EXPECT_EQ(r->header("To-Path") ? *r->header("To-Path") : "", *b->header("From-Path"));
  }

  const std::string first = send_ok("alice", "to both legs");
  std::vector<std::string> to_paths;
  for (int i = 0; i < 2; ++i) {
    auto copy = pf.wait_request("SEND");
    ASSERT_TRUE(copy) << "only " << i << " SENDs on the shared connection";
    EXPECT_EQ(copy->body, first);
    to_paths.push_back(copy->header("To-Path") ? *copy->header("To-Path") : "");
    const std::string expected_from = to_paths.back() == carol_path ? chat("carol").focus_path : chat("dan").focus_path;
    EXPECT_EQ(copy->header("From-Path") ? *copy->header("From-Path") : "", expected_from);
  }
  std::sort(to_paths.begin(), to_paths.end());
  std::vector<std::string> expected = {carol_path, dan_path};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(to_paths, expected);

  auto bye_ok = user("carol").ua->bye(user("carol").invite);
  ASSERT_TRUE(bye_ok) << "no response to Carol's BYE";
  EXPECT_EQ(bye_ok->status, 200);
  user("carol").joined = false;
  // PROTOCOL.md §5.3 sends the 200 (A1) before the MSRP release (A2), so a
  // message sent at once after the 200 may still meet Carol's leg; give the
  // release a moment to reach the switch.
  std::this_thread::sleep_for(300ms);

  const std::string second = send_ok("alice", "only Dan now");
  auto copy = pf.wait_request("SEND");
  ASSERT_TRUE(copy) << "Dan's leg got nothing after Carol left";
  EXPECT_EQ(copy->body, second);
  EXPECT_EQ(copy->header("To-Path") ? *copy->header("To-Path") : "", dan_path);
  EXPECT_TRUE(pf.nothing_arrives(is_send, 500ms)) << "Carol's leg is gone";
  EXPECT_TRUE(pf.connected()) << "the connection still carries Dan's leg";
}

// TC-M22 (dial-in variant): Bob joins but connects only 2 s after his ACK;
// Alice's message, sent 1 s after that ACK, waits in his leg's queue and
// arrives right after he binds.
TEST_P(MsrpFlowTest, M22MessageQueuedBeforeBinding) {
  start();
  if (HasFailure()) return;
  join_chat("alice", kFactory, room());
  join_chat("bob", kGs1, room(), false);
  if (HasFailure()) return;
  const auto acked = Clock::now();  // invite() returns after sending the ACK
  std::this_thread::sleep_until(acked + 1s);
  const std::string body = send_ok("alice", "waiting for you");
  std::this_thread::sleep_until(acked + 2s);
  bind("bob");
  if (HasFailure()) return;
  const auto bound = Clock::now();
  auto copy = msrp("bob").wait_received(is_send, 2s);
  ASSERT_TRUE(copy) << "the queued message did not arrive after binding";
  EXPECT_EQ(copy->frame.body, body);
  EXPECT_EQ(copy->frame.header("To-Path") ? *copy->frame.header("To-Path") : "", chat("bob").path);
  EXPECT_LE(seconds(copy->received_at - bound), 0.5) << "not delivered right after binding";
  EXPECT_TRUE(msrp("bob").nothing_arrives(is_send, 300ms)) << "exactly one copy";
}

// TC-M23 (dial-in variant): Bob offers a=recvonly (answered sendonly). A
// SEND with a body from him -> 403 and no copy; a bodiless SEND -> 200;
// Alice's messages reach him.
TEST_P(MsrpFlowTest, M23ReceiveOnlyParticipant) {
  start();
  if (HasFailure()) return;
  join_chat("alice", kFactory, room());
  OfferOptions recvonly = room();
  recvonly.direction = "a=recvonly\r\n";
  join_chat("bob", kGs1, recvonly);
  if (HasFailure()) return;
  EXPECT_NE(chat("bob").answer.find("a=sendonly\r\n"), std::string::npos) << chat("bob").answer;

  auto& b = msrp("bob");
  Frame payload = b.make_send(chat("bob").focus_path, "", cpim("bob", kGs1, "can I talk?"));
  ASSERT_TRUE(b.send(payload));
  auto r = b.wait_response(payload.tid);
  ASSERT_TRUE(r) << "no response to Bob's payload";
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(msrp("alice").nothing_arrives(is_send, 500ms)) << "a receive-only leg's payload must not be relayed";

  const std::string tid = b.bodiless_send(chat("bob").focus_path);
  auto keepalive = b.wait_response(tid);
  ASSERT_TRUE(keepalive) << "no response to Bob's bodiless SEND";
  EXPECT_EQ(keepalive->status, 200);

  for (const char* text : {"hello Bob", "still there?"}) expect_copy("bob", send_ok("alice", text));
}

INSTANTIATE_TEST_SUITE_P(Transports, MsrpFlowTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
