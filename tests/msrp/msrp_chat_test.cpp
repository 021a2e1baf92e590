// MSRP chat through the focus (SESSIONS.md §8, §12.4 TC-M01..M18; PROTOCOL.md
// TC-A03 and the MSRP part of TC-B03): the real server, SIP over UDP and TCP,
// MSRP over TCP. Every expectation is checked on the wire: status codes,
// To-Path/From-Path, fresh Message-IDs on copies, byte-identical bodies and
// Byte-Range headers.

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "tests/msrp/msrp_fixture.hpp"

namespace imserver::testclient {
namespace {

using Frame = codec::msrp::Frame;
using EndFlag = codec::msrp::EndFlag;
using Headers = MsrpClient::Headers;

constexpr auto kQuiet = std::chrono::milliseconds(1500);  // "nothing arrives" window

bool is_send(const Frame& f) { return f.is_request && f.method == "SEND"; }
bool any_frame(const Frame&) { return true; }

std::string value_of(const Frame& f, const char* name) {
  const std::string* v = f.header(name);
  return v ? *v : std::string("<absent>");
}

// SESSIONS.md §8.1: To-Path first, From-Path second.
void expect_path_order(const Frame& f, const std::string& who) {
  ASSERT_GE(f.headers.size(), 2u) << who;
  EXPECT_EQ(f.headers[0].first, "To-Path") << who;
  EXPECT_EQ(f.headers[1].first, "From-Path") << who;
}

// A CPIM(from, to, ·) body of exactly `size` octets (text padded with a
// printable, position-dependent pattern).
std::string cpim_of_size(const std::string& from, const std::string& to, size_t size,
                         const std::string& wrapped = "text/plain;charset=UTF-8") {
  const size_t head = cpim_body(from, to, "", wrapped).size();
  std::string text;
  for (size_t i = 0; text.size() + head < size; ++i) text += static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return cpim_body(from, to, text, wrapped);
}

class MsrpChatTest : public MsrpTest {
 protected:
  std::vector<std::string> all_users() const {
    std::vector<std::string> out;
    for (const auto& [name, m] : chat_) out.push_back(name);
    return out;
  }

  // The sender's response: same tid, To-Path = sender's path, From-Path = pX,
  // ending in -------<tid>$ (§12.1 SEND-OK).
  void check_response(const std::string& sender, const Frame& resp, const std::string& tid, int status) {
    EXPECT_FALSE(resp.is_request) << sender;
    EXPECT_EQ(resp.tid, tid) << sender;
    EXPECT_EQ(resp.status, status) << sender << " comment: " << resp.comment;
    if (status == 200) {
      EXPECT_EQ(resp.comment, "OK") << sender;
    }
    EXPECT_EQ(value_of(resp, "To-Path"), chat(sender).path) << sender;
    EXPECT_EQ(value_of(resp, "From-Path"), chat(sender).focus_path) << sender;
    EXPECT_EQ(resp.flag, EndFlag::Complete) << sender;
    EXPECT_FALSE(resp.has_body_section) << sender;
    expect_path_order(resp, sender);
  }

  // Sends `f` from `sender` and expects a response with `status`.
  void send_expect(const std::string& sender, const Frame& f, int status) {
    ASSERT_TRUE(msrp(sender).send(f)) << msrp(sender).last_error();
    auto resp = msrp(sender).wait_response(f.tid);
    ASSERT_TRUE(resp) << sender << ": no response to " << f.tid;
    check_response(sender, *resp, f.tid, status);
  }

  // One complete copy of `body` at `name` (§8.5, §12.1 SEND-OK): one SEND,
  // its own path as To-Path, its pX as From-Path, message/cpim, a fresh
  // Message-ID, Byte-Range 1-N/N, '$'. Returns the copy.
  std::optional<Frame> expect_copy(const std::string& name, const std::string& body, const std::string& original_mid,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto copy = msrp(name).wait_request("SEND", timeout);
    EXPECT_TRUE(copy) << name << ": no copy";
    if (!copy) return copy;
    EXPECT_EQ(copy->body, body) << name << ": body not byte-identical";
    EXPECT_EQ(value_of(*copy, "To-Path"), chat(name).path) << name;
    EXPECT_EQ(value_of(*copy, "From-Path"), chat(name).focus_path) << name;
    EXPECT_EQ(value_of(*copy, "Content-Type"), "message/cpim") << name;
    EXPECT_NE(value_of(*copy, "Message-ID"), original_mid) << name << ": copy must carry a new Message-ID";
    EXPECT_NE(value_of(*copy, "Message-ID"), "<absent>") << name;
    const std::string n = std::to_string(body.size());
    EXPECT_EQ(value_of(*copy, "Byte-Range"), "1-" + n + "/" + n) << name;
    EXPECT_EQ(copy->flag, EndFlag::Complete) << name;
    EXPECT_EQ(copy->headers.back().first, "Content-Type") << name << ": Content-Type must come last";
    expect_path_order(*copy, name);
    return copy;
  }

  // A whole (possibly chunked) copy of `body` at `name` (§8.5 outgoing
  // chunking): every chunk ≤ 2048 octets, same fresh Message-ID, every
  // Byte-Range total = body size, exactly one '$' (the last), bodies joined
  // in Byte-Range order equal `body`.
  void expect_chunked_copy(const std::string& name, const std::string& body, const std::string& original_mid) {
    std::vector<Frame> chunks;
    std::string mid;
    for (int i = 0; i < 64; ++i) {
      auto c = msrp(name).wait_request("SEND");
      ASSERT_TRUE(c) << name << ": copy incomplete after " << chunks.size() << " chunks";
      if (mid.empty()) mid = value_of(*c, "Message-ID");
      EXPECT_EQ(value_of(*c, "Message-ID"), mid) << name << ": chunks of one copy share its Message-ID";
      chunks.push_back(*c);
      if (c->flag != EndFlag::More) break;
    }
    EXPECT_NE(mid, original_mid) << name;
    std::vector<std::pair<uint64_t, std::string>> parts;
    int dollars = 0;
    for (const auto& c : chunks) {
      EXPECT_LE(c.body.size(), 2048u) << name;
      EXPECT_EQ(value_of(c, "To-Path"), chat(name).path) << name;
      EXPECT_EQ(value_of(c, "From-Path"), chat(name).focus_path) << name;
      EXPECT_EQ(value_of(c, "Content-Type"), "message/cpim") << name;
      EXPECT_NE(c.flag, EndFlag::Abort) << name;
      if (c.flag == EndFlag::Complete) ++dollars;
      auto br = codec::msrp::parse_byte_range(value_of(c, "Byte-Range"));
      EXPECT_TRUE(br) << name << ": Byte-Range " << value_of(c, "Byte-Range");
      if (!br) continue;
      EXPECT_TRUE(br->total && *br->total == body.size()) << name << ": Byte-Range " << value_of(c, "Byte-Range");
      EXPECT_TRUE(br->end && *br->end == br->start + c.body.size() - 1)
          << name << ": explicit range end expected: " << value_of(c, "Byte-Range");
      parts.emplace_back(br->start, c.body);
    }
    EXPECT_EQ(dollars, 1) << name;
    EXPECT_EQ(chunks.back().flag, EndFlag::Complete) << name;
    std::sort(parts.begin(), parts.end());
    std::string joined;
    for (const auto& [start, data] : parts) {
      EXPECT_EQ(start, joined.size() + 1) << name << ": gap or overlap in the copy's chunks";
      joined += data;
    }
    EXPECT_TRUE(joined == body) << name << ": joined copy (" << joined.size() << " octets) differs from the original ("
                                << body.size() << ")";
  }

  // SEND-OK(x → S) (§12.1) for one complete message; `others` (everyone not
  // in S and not the sender) get nothing, members of S no second copy and
  // the sender no SEND within the quiet window.
  void send_ok(const std::string& sender, const std::string& body, const std::vector<std::string>& recipients,
               const Headers& extra = {}, const std::string& mid_in = "") {
    const std::string mid = mid_in.empty() ? random_message_id() : mid_in;
    Frame f = msrp(sender).make_send(chat(sender).focus_path, mid, body, "", EndFlag::Complete, extra);
    send_expect(sender, f, 200);
    if (HasFatalFailure()) return;
    for (const auto& r : recipients) expect_copy(r, body, mid);
    expect_quiet(sender, recipients);
  }

  // After a fan-out: nothing more to anyone within kQuiet (no second copy to
  // recipients, no copy to the sender, nothing at all to the rest).
  void expect_quiet(const std::string& sender, const std::vector<std::string>& recipients,
                    std::chrono::milliseconds window = kQuiet) {
    const auto deadline = std::chrono::steady_clock::now() + window;
    for (const auto& name : all_users()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() < 50) left = std::chrono::milliseconds(50);
      const bool in_set = std::find(recipients.begin(), recipients.end(), name) != recipients.end();
      if (name == sender || in_set)
        EXPECT_TRUE(msrp(name).nothing_arrives(is_send, left)) << name << " got an unexpected SEND";
      else
        EXPECT_TRUE(msrp(name).nothing_arrives(any_frame, left)) << name << " is not a recipient but got a frame";
    }
  }

  // An error response (no copies to anyone).
  void send_refused(const std::string& sender, const std::string& body, int status, const Headers& extra = {}) {
    Frame f = msrp(sender).make_send(chat(sender).focus_path, random_message_id(), body, "", EndFlag::Complete, extra);
    send_expect(sender, f, status);
    expect_quiet(sender, {});
  }

  // PROTOCOL.md TC-A03: after `name` left, either the focus closed its MSRP
  // connection within 2 s, or a SEND on it to the old To-Path gets 481.
  void expect_leg_released(const std::string& name) {
    auto& c = msrp(name);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (c.connected() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!c.connected()) return;
    Frame f = c.make_send(chat(name).focus_path, random_message_id(), cpim(name, kGs1, "still there?"));
    ASSERT_TRUE(c.send(f)) << c.last_error();
    auto resp = c.wait_response(f.tid, std::chrono::seconds(2));
    if (!resp && !c.connected()) return;  // closed right now: also released
    ASSERT_TRUE(resp) << name << ": connection still open 2 s after leaving and no answer to a SEND";
    EXPECT_EQ(resp->status, 481) << name << ": a released leg answers 481";
  }

  // After `leaver` left: a message from alice reaches `stay`, not the leaver.
  void expect_message_skips(const std::string& leaver, const std::vector<std::string>& stay) {
    const std::string body = cpim("alice", kGs1, "after " + leaver + " left");
    const std::string mid = random_message_id();
    Frame f = msrp("alice").make_send(chat("alice").focus_path, mid, body);
    send_expect("alice", f, 200);
    for (const auto& r : stay) expect_copy(r, body, mid);
    EXPECT_TRUE(msrp(leaver).nothing_arrives(is_send, kQuiet)) << leaver << " left but still gets copies";
  }
};

// TC-M01: binding response (To-Path = A's path, From-Path = the focus path,
// -------bind0001$); nothing is sent to anyone else. (Bob dials in instead of
// being invited by CREATE(A; bob): the binding is what is under test.)
TEST_P(MsrpChatTest, M01Binding) {
  start();
  OfferOptions room;
  room.chatroom = true;
  room.wrapped_types = "*";
  join_chat("alice", kFactory, room, /*bind=*/false);
  if (HasFatalFailure()) return;
  join_chat("bob", kGs1, room);
  if (HasFatalFailure()) return;
  auto& a = msrp("alice");
  ASSERT_TRUE(a.connect("127.0.0.1", server_.msrp_port())) << a.last_error();
  Frame bind = a.make_bodiless_send(chat("alice").focus_path, "bind-m0");
  bind.tid = "bind0001";
  ASSERT_TRUE(a.send(bind));
  auto resp = a.wait_response("bind0001");
  ASSERT_TRUE(resp) << a.transcript();
  check_response("alice", *resp, "bind0001", 200);
  EXPECT_EQ(resp->headers.size(), 2u) << "only To-Path and From-Path expected";
  // The end-line as logged (the parser checked it names the same tid).
  EXPECT_NE(a.transcript().find("-------bind0001$"), std::string::npos);
  EXPECT_TRUE(a.nothing_arrives(std::chrono::milliseconds(1000)));
  EXPECT_TRUE(msrp("bob").nothing_arrives(std::chrono::milliseconds(100))) << "bob got something";
}

// TC-M02 (a): unknown session → 481.
TEST_P(MsrpChatTest, M02aUnknownSession) {
  f_msrp();
  if (HasFatalFailure()) return;
  MsrpClient stranger("msrp://127.0.0.1:40999/strAnger01;tcp");
  ASSERT_TRUE(stranger.connect("127.0.0.1", server_.msrp_port())) << stranger.last_error();
  const std::string to = "msrp://127.0.0.1:" + std::to_string(server_.msrp_port()) + "/NoSuchSession000;tcp";
  Frame f = stranger.make_send(to, random_message_id(), cpim("alice", kGs1, "hello?"));
  ASSERT_TRUE(stranger.send(f));
  auto resp = stranger.wait_response(f.tid);
  ASSERT_TRUE(resp) << stranger.transcript();
  EXPECT_EQ(resp->status, 481);
  EXPECT_EQ(value_of(*resp, "To-Path"), "msrp://127.0.0.1:40999/strAnger01;tcp");
  EXPECT_EQ(resp->flag, EndFlag::Complete);
  expect_quiet("", {});
}

// TC-M02 (b): a second connection binding pC → 506; C's original
// connection still works.
TEST_P(MsrpChatTest, M02bAlreadyBound) {
  f_msrp();
  if (HasFatalFailure()) return;
  MsrpClient second(chat("carol").path);
  ASSERT_TRUE(second.connect("127.0.0.1", server_.msrp_port())) << second.last_error();
  const std::string tid = second.bodiless_send(chat("carol").focus_path);
  auto resp = second.wait_response(tid);
  ASSERT_TRUE(resp) << second.transcript();
  EXPECT_EQ(resp->status, 506) << second.transcript();
  EXPECT_EQ(value_of(*resp, "To-Path"), chat("carol").path);
  // C's original connection: a keep-alive and a message still work.
  const std::string ka = msrp("carol").bodiless_send(chat("carol").focus_path);
  auto ok = msrp("carol").wait_response(ka);
  ASSERT_TRUE(ok);
  check_response("carol", *ok, ka, 200);
  send_ok("carol", cpim("carol", kGs1, "still here"), {"alice", "bob", "dan"});
  EXPECT_TRUE(second.nothing_arrives(is_send, std::chrono::milliseconds(100))) << "copies went to the 506 connection";
}

// TC-M03: three messages from A reach B, C and D in order; A gets no copy.
TEST_P(MsrpChatTest, M03RegularFanOutInOrder) {
  f_msrp();
  if (HasFailure()) return;
  std::vector<std::string> bodies;
  for (const char* text : {"one", "two", "three"}) {
    bodies.push_back(cpim("alice", kGs1, text));
    const std::string tid = msrp("alice").send_message(chat("alice").focus_path, bodies.back());
    auto ok = msrp("alice").wait_response(tid);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
  }
  for (const char* name : {"bob", "carol", "dan"}) {
    for (const auto& body : bodies) {
      auto copy = msrp(name).wait_request("SEND");
      ASSERT_TRUE(copy) << name;
      EXPECT_EQ(copy->body, body) << name;
      EXPECT_EQ(*copy->header("To-Path"), chat(name).path) << name;
      EXPECT_EQ(*copy->header("From-Path"), chat(name).focus_path) << name;
    }
  }
  EXPECT_TRUE(msrp("alice").nothing_arrives([](const codec::msrp::Frame& f) { return f.is_request; },
                                            std::chrono::milliseconds(500)));
}

// TC-M04: success REPORT exactly as specified (§8.6); copies carry no
// Success-Report: yes; B's own REPORT about its copy is not forwarded.
TEST_P(MsrpChatTest, M04SuccessReport) {
  f_msrp();
  if (HasFatalFailure()) return;
  const std::string body = cpim("alice", kGs1, "Hello team");
  ASSERT_EQ(body.size(), 148u);
  Frame f = msrp("alice").make_send(chat("alice").focus_path, "m-alice-0001", body, "", EndFlag::Complete,
                                    {{"Success-Report", "yes"}});
  send_expect("alice", f, 200);
  auto report = msrp("alice").wait_request("REPORT");
  ASSERT_TRUE(report) << "no success REPORT";
  EXPECT_EQ(value_of(*report, "To-Path"), chat("alice").path);
  EXPECT_EQ(value_of(*report, "From-Path"), chat("alice").focus_path);
  EXPECT_EQ(value_of(*report, "Message-ID"), "m-alice-0001");
  EXPECT_EQ(value_of(*report, "Byte-Range"), "1-148/148");
  EXPECT_EQ(value_of(*report, "Status").rfind("000 200", 0), 0u) << value_of(*report, "Status");
  EXPECT_EQ(report->header("Success-Report"), nullptr);
  EXPECT_EQ(report->header("Failure-Report"), nullptr);
  EXPECT_FALSE(report->has_body_section);
  EXPECT_EQ(report->flag, EndFlag::Complete);
  expect_path_order(*report, "alice");

  std::optional<Frame> bob_copy;
  for (const char* name : {"bob", "carol", "dan"}) {
    auto copy = expect_copy(name, body, "m-alice-0001");
    ASSERT_TRUE(copy);
    const std::string* sr = copy->header("Success-Report");
    EXPECT_TRUE(sr == nullptr || *sr == "no") << name << ": copy carries Success-Report: " << *sr;
    if (std::string(name) == "bob") bob_copy = copy;
  }
  // B's harness reports success for its copy; the focus neither answers
  // nor forwards it.
  ASSERT_TRUE(msrp("bob").send(msrp("bob").make_report(*bob_copy)));
  EXPECT_TRUE(msrp("alice").nothing_arrives(std::chrono::seconds(2))) << "A got something after its REPORT";
  EXPECT_TRUE(msrp("bob").nothing_arrives(std::chrono::milliseconds(100))) << "B's REPORT was answered";
  expect_quiet("alice", {"bob", "carol", "dan"}, std::chrono::milliseconds(100));
}

// TC-M05 (a)(b)(c): Failure-Report values (§8.3 R).
TEST_P(MsrpChatTest, M05FailureReportValues) {
  f_msrp();
  if (HasFatalFailure()) return;
  const std::vector<std::string> others = {"bob", "carol", "dan"};
  for (const char* value : {"no", "partial"}) {
    SCOPED_TRACE(std::string("Failure-Report: ") + value);
    const std::string body = cpim("alice", kGs1, std::string("report ") + value);
    const std::string mid = random_message_id();
    Frame f = msrp("alice").make_send(chat("alice").focus_path, mid, body, "", EndFlag::Complete,
                                      {{"Failure-Report", value}});
    ASSERT_TRUE(msrp("alice").send(f));
    for (const auto& r : others) expect_copy(r, body, mid);
    EXPECT_TRUE(msrp("alice").nothing_arrives(std::chrono::seconds(2))) << "a response despite Failure-Report: " << value;
    expect_quiet("alice", others, std::chrono::milliseconds(100));
  }
  // (c) partial + an error: the error is sent.
  SCOPED_TRACE("Failure-Report: partial, text/plain");
  send_refused("alice", "plain text", 415, {{"Failure-Report", "partial"}, {"Content-Type", "text/plain"}});
}

// TC-M09: private message to Bob (who declared private-messages).
TEST_P(MsrpChatTest, M09PrivateMessage) {
  f_msrp();
  if (HasFatalFailure()) return;
  const std::string body = cpim("alice", "bob", "Only for you, Bob");
  ASSERT_EQ(body.size(), 151u);
  send_ok("alice", body, {"bob"});
}

// TC-M10 (a)(b): unknown recipient → 404; recipient without
// private-messages → 428.
TEST_P(MsrpChatTest, M10abPrivateErrors) {
  f_msrp();
  if (HasFatalFailure()) return;
  {
    SCOPED_TRACE("To henry");
    send_refused("alice", cpim("alice", "henry", "are you there?"), 404);
  }
  {
    SCOPED_TRACE("To carol");
    send_refused("alice", cpim("alice", "carol", "psst"), 428);
  }
}

// TC-M10 (c): msrp.private_messages=off → 403 even to a capable Bob.
TEST_P(MsrpChatTest, M10cPrivateMessagesOff) {
  f_msrp({"--msrp.private-messages=off"});
  if (HasFatalFailure()) return;
  send_refused("alice", cpim("alice", "bob", "Only for you, Bob"), 403);
}

// TC-M10 (d): msrp.private_messages=all → Carol gets it without the token.
TEST_P(MsrpChatTest, M10dPrivateMessagesAll) {
  f_msrp({"--msrp.private-messages=all"});
  if (HasFatalFailure()) return;
  send_ok("alice", cpim("alice", "carol", "psst, Carol"), {"carol"});
}

// TC-M11: RCS anonymous To means the whole session.
TEST_P(MsrpChatTest, M11AnonymousToIsGroup) {
  f_msrp();
  if (HasFatalFailure()) return;
  const std::string body = cpim("carol", "sip:anonymous@anonymous.invalid", "Hi all");
  ASSERT_EQ(body.size(), 152u);
  send_ok("carol", body, {"alice", "bob", "dan"});
}

TEST_P(MsrpChatTest, M11AnonymousToNotGroup) {
  f_msrp({"--msrp.anonymous-to-is-group=false"});
  if (HasFatalFailure()) return;
  send_refused("carol", cpim("carol", "sip:anonymous@anonymous.invalid", "Hi all"), 404);
}

// TC-M12: an IMDN from D to Carol is delivered although Carol is not
// chat-room aware.
std::string imdn_body() {
  return "From: <sip:dan@example.com>\r\n"
         "To: <sip:carol@example.com>\r\n"
         "NS: imdn <urn:ietf:params:imdn>\r\n"
         "imdn.Message-ID: x1\r\n"
         "DateTime: 2025-01-15T10:00:05Z\r\n"
         "\r\n"
         "Content-Type: message/imdn+xml\r\n"
         "Content-Disposition: notification\r\n"
         "\r\n"
         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
         "<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\"><message-id>x1</message-id>"
         "<datetime>2025-01-15T10:00:05Z</datetime><delivery-notification><status><delivered/></status>"
         "</delivery-notification></imdn>";
}

TEST_P(MsrpChatTest, M12DirectedImdn) {
  f_msrp();
  if (HasFatalFailure()) return;
  send_ok("dan", imdn_body(), {"carol"});
}

// With msrp.directed_types empty the IMDN is a private message → 428.
// CAF refuses "--msrp.directed-types=" (missing_argument); the value is
// given as an empty quoted string.
TEST_P(MsrpChatTest, M12DirectedTypesEmpty) {
  f_msrp({"--msrp.directed-types=\"\""});
  if (HasFatalFailure()) return;
  send_refused("dan", imdn_body(), 428);
}

// TC-M13: a 5000-octet message in three chunks; copies re-chunked ≤ 2048;
// D (max-size 4096) gets nothing.
TEST_P(MsrpChatTest, M13ChunkedMessage) {
  f_msrp();
  if (HasFatalFailure()) return;
  const std::string body = cpim_of_size("sip:alice@example.com", kGs1, 5000);
  ASSERT_EQ(body.size(), 5000u);
  const std::string mid = random_message_id();
  auto chunks = msrp("alice").make_chunks(chat("alice").focus_path, mid, body, 2048);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(value_of(chunks[0], "Byte-Range"), "1-2048/5000");
  EXPECT_EQ(value_of(chunks[1], "Byte-Range"), "2049-4096/5000");
  EXPECT_EQ(value_of(chunks[2], "Byte-Range"), "4097-5000/5000");
  for (size_t i = 0; i < chunks.size(); ++i) {
    send_expect("alice", chunks[i], 200);
    if (i + 1 < chunks.size()) {
      // No copy starts before the last chunk (store-and-forward, §8.4).
      for (const char* name : {"bob", "carol", "dan"})
        EXPECT_TRUE(msrp(name).nothing_arrives(std::chrono::milliseconds(i == 0 ? 300 : 100)))
            << name << " got a copy before chunk 3";
    }
  }
  for (const char* name : {"bob", "carol"}) {
    SCOPED_TRACE(name);
    expect_chunked_copy(name, body, mid);
  }
  EXPECT_TRUE(msrp("dan").nothing_arrives(kQuiet)) << "dan (max-size 4096) got part of a 5000-octet message";
  expect_quiet("alice", {"bob", "carol"}, std::chrono::milliseconds(100));
}

// TC-M14: an aborted message is not relayed; the next one is.
TEST_P(MsrpChatTest, M14Abort) {
  f_msrp();
  if (HasFatalFailure()) return;
  const std::string body = cpim_of_size("sip:alice@example.com", kGs1, 5000);
  const std::string mid = random_message_id();
  auto chunks = msrp("alice").make_chunks(chat("alice").focus_path, mid, body, 2048);
  ASSERT_EQ(chunks.size(), 3u);
  chunks[1].flag = EndFlag::Abort;
  send_expect("alice", chunks[0], 200);
  send_expect("alice", chunks[1], 200);
  // (The spec says 3 s; the brief caps "nothing arrives" windows at 2 s.)
  expect_quiet("alice", {}, std::chrono::seconds(2));
  send_ok("alice", cpim("alice", kGs1, "after the abort"), {"bob", "carol", "dan"});
}

// TC-M17: per-recipient filters: wrapped type and max-size.
TEST_P(MsrpChatTest, M17PerRecipientFilters) {
  f_msrp();
  if (HasFatalFailure()) return;
  {
    SCOPED_TRACE("image/jpeg, 1000 octets: only B accepts it (A and B offered *, C and D text/plain etc.)");
    std::string jpeg = cpim_body("sip:alice@example.com", kGs1, "", "image/jpeg");
    std::string data = "\xff\xd8\xff\xe0";
    for (size_t i = 0; jpeg.size() + data.size() < 1000; ++i) data += static_cast<char>((i * 37 + 11) & 0xff);
    jpeg += data;
    ASSERT_EQ(jpeg.size(), 1000u);
    send_ok("alice", jpeg, {"bob"});
  }
  if (HasFatalFailure()) return;
  {
    SCOPED_TRACE("text/plain, 5000 octets: B and C; D is over its max-size");
    const std::string body = cpim_of_size("sip:alice@example.com", kGs1, 5000);
    const std::string mid = random_message_id();
    Frame f = msrp("alice").make_send(chat("alice").focus_path, mid, body);
    send_expect("alice", f, 200);
    for (const char* name : {"bob", "carol"}) expect_chunked_copy(name, body, mid);
    expect_quiet("alice", {"bob", "carol"});
  }
}

// TC-M18: the same Message-ID twice: 200 to both, one copy each.
TEST_P(MsrpChatTest, M18DuplicateMessageId) {
  f_msrp();
  if (HasFatalFailure()) return;
  const std::string body = cpim("alice", kGs1, "only once");
  const std::string mid = "m-dup-0001";
  Frame first = msrp("alice").make_send(chat("alice").focus_path, mid, body);
  send_expect("alice", first, 200);
  Frame again = msrp("alice").make_send(chat("alice").focus_path, mid, body);
  ASSERT_NE(again.tid, first.tid);
  send_expect("alice", again, 200);
  for (const char* name : {"bob", "carol", "dan"}) expect_copy(name, body, mid);
  expect_quiet("alice", {"bob", "carol", "dan"});
}

// PROTOCOL.md TC-A03: C leaves by BYE; its MSRP leg is released; A's next
// message reaches B and D, not C.
TEST_P(MsrpChatTest, A03MsrpReleasedAfterBye) {
  f_msrp();
  if (HasFatalFailure()) return;
  auto& carol = user("carol");
  auto ok = carol.ua->bye(carol.invite);
  ASSERT_TRUE(ok) << "no answer to C's BYE";
  ASSERT_EQ(ok->status, 200);
  expect_leg_released("carol");
  if (HasFatalFailure()) return;
  expect_message_skips("carol", {"bob", "dan"});
}

// PROTOCOL.md TC-B03 (MSRP part): C leaves by REFER method=BYE; after the
// focus's BYE in C's INVITE dialog, C's leg is released as in TC-A03.
TEST_P(MsrpChatTest, B03MsrpReleasedAfterReferBye) {
  f_msrp();
  if (HasFatalFailure()) return;
  auto& carol = user("carol");
  RequestSpec rs;
  rs.method = "REFER";
  rs.request_uri = kGs1;
  rs.to_uri = kGs1;
  rs.cseq = 5;
  rs.extra_headers = "Refer-To: <sip:gs-1@im.example.com;method=BYE>\r\n";
  auto tx = carol.ua->send(rs);
  auto final = carol.ua->final_response(tx);
  ASSERT_TRUE(final) << "no answer to C's REFER";
  ASSERT_EQ(final->status, 202) << final->raw;
  const std::string call_id = carol.invite.call_id;
  auto bye = carol.ua->wait_for(
      [&](const SipMessage& m) { return m.is_request && m.method == "BYE" && m.call_id() == call_id; },
      std::chrono::seconds(5));
  ASSERT_TRUE(bye) << "no focus BYE in C's INVITE dialog";
  expect_leg_released("carol");
  if (HasFatalFailure()) return;
  expect_message_skips("carol", {"bob", "dan"});
}

// The issue's "done when": alice, bob and carol chat at the same time, 20
// messages each; every message reaches each other participant exactly once,
// in order per sender. Then carol leaves by BYE and stops receiving at once
// while alice and bob keep chatting.
TEST_P(MsrpChatTest, ThreeUsersChatConcurrentlyThenOneLeaves) {
  start();
  OfferOptions room;
  room.chatroom = true;
  room.wrapped_types = "*";
  join_chat("alice", kFactory, room);
  join_chat("bob", kGs1, room);
  join_chat("carol", kGs1, OfferOptions{});
  if (HasFatalFailure()) return;
  const std::vector<std::string> users = {"alice", "bob", "carol"};
  constexpr int kCount = 20;
  auto text_of = [](const std::string& who, int i) { return who + " says #" + std::to_string(i); };

  // Each user's thread sends its 20 messages back to back; the three start
  // together, so their messages interleave at the focus.
  std::map<std::string, std::vector<std::string>> tids;
  for (const auto& u : users) tids[u].resize(kCount);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (const auto& u : users) {
    threads.emplace_back([&, u] {
      ++ready;
      while (ready.load() < 3) std::this_thread::yield();
      for (int i = 0; i < kCount; ++i) {
        tids.at(u)[i] = msrp(u).send_message(chat(u).focus_path, cpim(u, kGs1, text_of(u, i)));
        if (i % 4 == 3) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& u : users) {
    for (int i = 0; i < kCount; ++i) {
      ASSERT_FALSE(tids[u][i].empty()) << u << " could not send #" << i;
      auto resp = msrp(u).wait_response(tids[u][i]);
      ASSERT_TRUE(resp) << u << ": no response to #" << i;
      EXPECT_EQ(resp->status, 200) << u << " #" << i;
    }
  }
  // Every recipient: 40 copies, each other sender's 20 exactly once and in order.
  for (const auto& r : users) {
    std::map<std::string, int> next;  // sender -> next expected index
    for (int n = 0; n < 2 * kCount; ++n) {
      auto copy = msrp(r).wait_request("SEND");
      ASSERT_TRUE(copy) << r << ": only " << n << " of " << 2 * kCount << " copies arrived";
      EXPECT_EQ(value_of(*copy, "To-Path"), chat(r).path);
      EXPECT_EQ(value_of(*copy, "From-Path"), chat(r).focus_path);
      bool matched = false;
      for (const auto& s : users) {
        if (s == r) continue;
        const int i = next[s];
        if (i < kCount && copy->body == cpim(s, kGs1, text_of(s, i))) {
          const std::string n_str = std::to_string(copy->body.size());
          EXPECT_EQ(value_of(*copy, "Byte-Range"), "1-" + n_str + "/" + n_str);
          ++next[s];
          matched = true;
          break;
        }
      }
      EXPECT_TRUE(matched) << r << ": copy out of order, duplicated or not from another user:\n" << copy->body;
    }
    for (const auto& s : users) {
      if (s != r) {
        EXPECT_EQ(next[s], kCount) << r << " from " << s;
      }
    }
    EXPECT_TRUE(msrp(r).nothing_arrives(is_send, std::chrono::milliseconds(r == "alice" ? 1000 : 50)))
        << r << " got more than 40 copies";
  }
  if (HasFatalFailure()) return;

  // Carol leaves; alice and bob keep chatting; carol gets nothing more.
  auto& carol = user("carol");
  auto ok = carol.ua->bye(carol.invite);
  ASSERT_TRUE(ok && ok->status == 200) << "carol's BYE";
  const auto left_at = std::chrono::steady_clock::now();  // carol has her 200
  threads.clear();
  std::map<std::string, std::vector<std::string>> tids2;
  for (const std::string u : {"alice", "bob"}) {
    tids2[u].resize(5);
    threads.emplace_back([&, u] {
      for (int i = 0; i < 5; ++i)
        tids2.at(u)[i] = msrp(u).send_message(chat(u).focus_path, cpim(u, kGs1, text_of(u, 100 + i)));
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string u : {"alice", "bob"}) {
    const std::string peer = u == "alice" ? "bob" : "alice";
    for (int i = 0; i < 5; ++i) {
      auto resp = msrp(u).wait_response(tids2[u][i]);
      ASSERT_TRUE(resp) << u << " after carol left, #" << i;
      EXPECT_EQ(resp->status, 200);
    }
    for (int i = 0; i < 5; ++i) {
      auto copy = msrp(peer).wait_request("SEND");
      ASSERT_TRUE(copy) << peer << " missed " << u << "'s #" << 100 + i;
      EXPECT_EQ(copy->body, cpim(u, kGs1, text_of(u, 100 + i))) << peer;
    }
  }
  // PROTOCOL.md A2: "Other participants' messages are no longer delivered
  // to the leaver" -- from the moment she has the 200 to her BYE.
  std::this_thread::sleep_for(kQuiet);
  int late = 0;
  std::chrono::milliseconds last{0};
  std::string first_late;
  for (const auto& rf : msrp("carol").history()) {
    if (!is_send(rf.frame) || rf.received_at < left_at) continue;
    if (late++ == 0) first_late = rf.frame.body.substr(rf.frame.body.rfind('\n') + 1);
    last = std::chrono::duration_cast<std::chrono::milliseconds>(rf.received_at - left_at);
  }
  EXPECT_EQ(late, 0) << "carol left (200 to her BYE) but still received " << late
                     << " copies of messages sent after that, the first \"" << first_late << "\", the last "
                     << last.count() << " ms after the 200";
  EXPECT_TRUE(msrp("alice").nothing_arrives(is_send, std::chrono::milliseconds(50)));
  EXPECT_TRUE(msrp("bob").nothing_arrives(is_send, std::chrono::milliseconds(50)));
}

INSTANTIATE_TEST_SUITE_P(Transports, MsrpChatTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
