// MSRP switch error handling on the wire (SESSIONS.md §8.1-§8.3, §8.8;
// §12.4 TC-M06, M07, M08, M15, M16), plus framing robustness: the exact
// size limit, garbage on a connection, an oversized frame without an
// end-line, and the binding timeout (§8.2, §8.3 step 1). The real server,
// SIP over UDP and TCP, MSRP over TCP.

#include <thread>

#include "tests/msrp/msrp_fixture.hpp"

namespace imserver::testclient {
namespace {

using Frame = codec::msrp::Frame;
using EndFlag = codec::msrp::EndFlag;

bool is_send(const Frame& f) { return f.is_request && f.method == "SEND"; }

class MsrpErrorsTest : public MsrpTest {
 protected:
  // Sends `f` on `name`'s connection and returns the status of its
  // response (0 when none arrived within `timeout`).
  int status_of(const std::string& name, const Frame& f, std::chrono::milliseconds timeout = 5s) {
    if (!msrp(name).send(f)) {
      ADD_FAILURE() << name << ": could not send\n" << msrp(name).last_error();
      return 0;
    }
    auto r = msrp(name).wait_response(f.tid, timeout);
    return r ? r->status : 0;
  }

  // No SEND reaches any of `names` within `quiet` (checked side by side).
  void expect_no_copies(const std::vector<std::string>& names, std::chrono::milliseconds quiet = 1000ms) {
    for (const auto& n : names) {
      EXPECT_TRUE(msrp(n).nothing_arrives(is_send, quiet)) << n << " got a copy it should not have";
      quiet = 100ms;  // the first wait covered the others too
    }
  }

  // A regular message from `from` reaches exactly `to` (SEND-OK, §12.1).
  void expect_send_ok(const std::string& from, const std::vector<std::string>& to, const std::string& text) {
    const std::string body = cpim(from, kGs1, text);
    const std::string tid = msrp(from).send_message(chat(from).focus_path, body);
    ASSERT_FALSE(tid.empty()) << msrp(from).last_error();
    auto ok = msrp(from).wait_response(tid);
    ASSERT_TRUE(ok) << from << ": no response to '" << text << "'";
    EXPECT_EQ(ok->status, 200) << text;
    for (const auto& name : to) {
      auto copy = msrp(name).wait_request("SEND");
      ASSERT_TRUE(copy) << name << " did not get '" << text << "'";
      EXPECT_EQ(copy->body, body) << name;
      EXPECT_EQ(copy->header("To-Path") ? *copy->header("To-Path") : "", chat(name).path) << name;
    }
  }

  // A connection that binds no leg (or has not yet).
  std::unique_ptr<MsrpClient> raw_connection(const std::string& label) {
    auto c = std::make_unique<MsrpClient>("msrp://127.0.0.1:39999/" + label + ";tcp");
    EXPECT_TRUE(c->connect("127.0.0.1", server_.msrp_port())) << c->last_error();
    return c;
  }

  static bool wait_closed(const MsrpClient& c, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!c.connected()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return !c.connected();
  }

  // CPIM(alice, gs-1, ...) of exactly `size` octets.
  std::string cpim_of_size(const std::string& from, size_t size) {
    const size_t base = cpim(from, kGs1, "").size();
    EXPECT_GE(size, base);
    return cpim(from, kGs1, std::string(size - base, 'x'));
  }
};

// TC-M06 (a)-(d): rejected formats; no copies in any case.
TEST_P(MsrpErrorsTest, M06RejectedFormats) {
  f_msrp();
  if (HasFailure()) return;
  auto& a = msrp("alice");
  const std::string pa = chat("alice").focus_path;
  const std::string good = cpim("alice", kGs1, "format check");

  // (a) top-level Content-Type text/plain -> 415 (step 8).
  EXPECT_EQ(status_of("alice", a.make_send(pa, "", "plain text", "", EndFlag::Complete, {{"Content-Type", "text/plain"}})),
            415);
  // (b) a body without Content-Type -> 400 (step 4).
  EXPECT_EQ(status_of("alice", a.make_send(pa, "", good, "", EndFlag::Complete, {{"Content-Type", ""}})), 400);
  // (c) no Message-ID -> 400 (step 4).
  {
    Frame f = a.make_send(pa, "", good, "", EndFlag::Complete, {{"Message-ID", ""}});
    ASSERT_EQ(f.header("Message-ID"), nullptr);
    EXPECT_EQ(status_of("alice", f), 400);
  }
  // (d) a CPIM body without To -> 400 (step 10a).
  {
    const std::string no_to = cpim_body("sip:alice@example.com", "", "where to?");
    ASSERT_EQ(no_to.find("\r\nTo:"), std::string::npos) << no_to;
    EXPECT_EQ(status_of("alice", a.make_send(pa, "", no_to)), 400);
  }
  expect_no_copies({"bob", "carol", "dan"});
  // The leg still works.
  expect_send_ok("alice", {"bob", "carol", "dan"}, "after the errors");
}

// TC-M07: a CPIM From that is not the sender -> 403, no copies.
TEST_P(MsrpErrorsTest, M07SpoofedSender) {
  f_msrp();
  if (HasFailure()) return;
  const std::string body = cpim("bob", kGs1, "spoofed?");
  EXPECT_EQ(body.size(), 144u);
  EXPECT_EQ(status_of("alice", msrp("alice").make_send(chat("alice").focus_path, "", body)), 403);
  expect_no_copies({"bob", "carol", "dan"});
}

// TC-M08: two CPIM To headers -> 403, no copies.
TEST_P(MsrpErrorsTest, M08TwoRecipients) {
  f_msrp();
  if (HasFailure()) return;
  const std::string body =
      "From: <sip:alice@example.com>\r\n"
      "To: <sip:gs-1@im.example.com>\r\n"
      "To: <sip:bob@example.com>\r\n"
      "DateTime: 2025-01-15T10:00:00Z\r\n"
      "\r\n"
      "Content-Type: text/plain;charset=UTF-8\r\n"
      "\r\n"
      "to both?";
  EXPECT_EQ(status_of("alice", msrp("alice").make_send(chat("alice").focus_path, "", body)), 403);
  expect_no_copies({"bob", "carol", "dan"});
}

// TC-M15 (first variant): a Byte-Range total above the limit -> 413, and
// later chunks of that Message-ID -> 413 too. No copies.
TEST_P(MsrpErrorsTest, M15TotalTooLarge) {
  f_msrp();
  if (HasFailure()) return;
  auto& a = msrp("alice");
  const std::string pa = chat("alice").focus_path;
  const std::string first = cpim_of_size("alice", 2048);
  EXPECT_EQ(status_of("alice", a.make_send(pa, "m-big-0001", first, "1-2048/2000000", EndFlag::More)), 413);
  EXPECT_EQ(status_of("alice",
                      a.make_send(pa, "m-big-0001", std::string(2048, 'y'), "2049-4096/2000000", EndFlag::More)),
            413);
  expect_no_copies({"bob", "carol", "dan"}, 1500ms);
  expect_send_ok("alice", {"bob", "carol", "dan"}, "small again");
}

// TC-M15 (variant): total '*'; the chunk whose running size passes 1 MiB
// (the default msrp.max_message_size) gets 413, the earlier ones 200.
TEST_P(MsrpErrorsTest, M15RunningSizeTooLarge) {
  f_msrp();
  if (HasFailure()) return;
  auto& a = msrp("alice");
  const std::string pa = chat("alice").focus_path;
  constexpr size_t kChunk = 65536;
  constexpr size_t kLimit = 1048576;
  const std::string head = cpim_of_size("alice", kChunk);
  size_t sent = 0;
  int chunk_no = 0;
  while (sent + kChunk <= kLimit) {
    const std::string body = chunk_no == 0 ? head : std::string(kChunk, 'z');
    const std::string range = std::to_string(sent + 1) + "-" + std::to_string(sent + kChunk) + "/*";
    ASSERT_EQ(status_of("alice", a.make_send(pa, "m-stream-01", body, range, EndFlag::More)), 200)
        << "chunk " << chunk_no << " (" << range << ") is within the limit";
    sent += kChunk;
    ++chunk_no;
  }
  ASSERT_EQ(sent, kLimit);
  // One more byte would already pass the limit.
  const std::string range = std::to_string(sent + 1) + "-" + std::to_string(sent + 1) + "/*";
  EXPECT_EQ(status_of("alice", a.make_send(pa, "m-stream-01", "z", range, EndFlag::More)), 413);
  // And a later chunk of the refused message is refused too.
  const std::string last = std::to_string(sent + 2) + "-" + std::to_string(sent + 10) + "/" + std::to_string(sent + 10);
  EXPECT_EQ(status_of("alice", a.make_send(pa, "m-stream-01", std::string(9, 'z'), last, EndFlag::Complete)), 413);
  expect_no_copies({"bob", "carol", "dan"}, 1500ms);
}

// §8.3 step 9 at the boundary: with msrp.max_message_size=8192 a message of
// exactly 8192 octets is relayed (to Bob and Carol, who offered no max-size;
// Dan's a=max-size:4096 filters it), 8193 octets -> 413 and no copies.
TEST_P(MsrpErrorsTest, ExactMaximumSizeAndOneOctetMore) {
  f_msrp({"--msrp.max-message-size=8192"});
  if (HasFailure()) return;
  EXPECT_NE(chat("alice").answer.find("a=max-size:8192\r\n"), std::string::npos) << chat("alice").answer;
  auto& a = msrp("alice");
  const std::string pa = chat("alice").focus_path;

  const std::string exact = cpim_of_size("alice", 8192);
  ASSERT_EQ(exact.size(), 8192u);
  EXPECT_EQ(status_of("alice", a.make_send(pa, "", exact)), 200);
  for (const char* name : {"bob", "carol"}) {
    std::string joined;
    for (int i = 0; i < 8 && joined.size() < exact.size(); ++i) {
      auto chunk = msrp(name).wait_request("SEND");
      ASSERT_TRUE(chunk) << name << " did not get the 8192-octet message";
      ASSERT_LE(chunk->body.size(), 2048u) << name;
      ASSERT_NE(chunk->header("Byte-Range"), nullptr);
      EXPECT_NE(chunk->header("Byte-Range")->find("/8192"), std::string::npos) << *chunk->header("Byte-Range");
      joined += chunk->body;
    }
    EXPECT_EQ(joined, exact) << name;
  }
  EXPECT_TRUE(msrp("dan").nothing_arrives(is_send, 500ms)) << "Dan's max-size is 4096";

  const std::string over = cpim_of_size("alice", 8193);
  ASSERT_EQ(over.size(), 8193u);
  EXPECT_EQ(status_of("alice", a.make_send(pa, "", over)), 413);
  expect_no_copies({"bob", "carol", "dan"});
}

// TC-M16 (a): an unknown method -> 501.
TEST_P(MsrpErrorsTest, M16aUnknownMethod) {
  f_msrp();
  if (HasFailure()) return;
  const std::string raw = "MSRP t1xx FOO\r\nTo-Path: " + chat("alice").focus_path + "\r\nFrom-Path: " +
                          chat("alice").path + "\r\n-------t1xx$\r\n";
  ASSERT_TRUE(msrp("alice").send_raw(raw));
  auto r = msrp("alice").wait_response("t1xx");
  ASSERT_TRUE(r) << "no response to FOO";
  EXPECT_EQ(r->status, 501);
  EXPECT_EQ(r->header("To-Path") ? *r->header("To-Path") : "", chat("alice").path);
  EXPECT_EQ(r->header("From-Path") ? *r->header("From-Path") : "", chat("alice").focus_path);
  expect_no_copies({"bob", "carol", "dan"}, 500ms);
}

// TC-M16 (b): NICKNAME with msrp.nicknames=false -> 403.
TEST_P(MsrpErrorsTest, M16bNicknameForbidden) {
  f_msrp();
  if (HasFailure()) return;
  const std::string raw = "MSRP nick0001 NICKNAME\r\nTo-Path: " + chat("alice").focus_path + "\r\nFrom-Path: " +
                          chat("alice").path + "\r\nUse-Nickname: \"al\"\r\n-------nick0001$\r\n";
  ASSERT_TRUE(msrp("alice").send_raw(raw));
  auto r = msrp("alice").wait_response("nick0001");
  ASSERT_TRUE(r) << "no response to NICKNAME";
  EXPECT_EQ(r->status, 403);
  expect_no_copies({"bob", "carol", "dan"}, 500ms);
}

// TC-M16 (c): a REPORT about an unknown Message-ID gets no response and has
// no other effect (not even a failure status: the leg is not torn down).
TEST_P(MsrpErrorsTest, M16cReportForUnknownMessage) {
  f_msrp();
  if (HasFailure()) return;
  auto& a = msrp("alice");
  for (const char* status : {"000 200 OK", "000 481 No Such Session"}) {
    Frame r;
    r.is_request = true;
    r.tid = random_tid();
    r.method = "REPORT";
    r.headers = {{"To-Path", chat("alice").focus_path},
                 {"From-Path", chat("alice").path},
                 {"Message-ID", "m-never-sent-" + random_tid()},
                 {"Byte-Range", "1-10/10"},
                 {"Status", status}};
    r.has_body_section = false;
    ASSERT_TRUE(a.send(r));
    EXPECT_TRUE(a.nothing_arrives([&](const Frame& f) { return f.tid == r.tid; }, 1000ms))
        << "a REPORT is never answered (" << status << ")";
  }
  EXPECT_TRUE(user("alice").ua->nothing_arrives("BYE", 500ms)) << "the REPORT must not tear Alice's leg down";
  expect_no_copies({"bob", "carol", "dan"}, 200ms);
  expect_send_ok("alice", {"bob", "carol", "dan"}, "still here");
}

// §8.3 step 1: garbage closes that connection only. An HTTP request on a
// fresh connection, and a start line with a bad transaction id on Carol's
// bound connection; Alice's next message still reaches Bob and Dan.
TEST_P(MsrpErrorsTest, GarbageClosesOnlyThatConnection) {
  f_msrp();
  if (HasFailure()) return;
  auto http = raw_connection("httpProbe01");
  ASSERT_TRUE(http->send_raw("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  EXPECT_TRUE(wait_closed(*http, 3s)) << "an HTTP request must close the connection\n" << http->transcript();
  EXPECT_TRUE(http->history().empty()) << "no MSRP response to garbage\n" << http->transcript();

  // tid "a!" is 2 characters with a forbidden one (RFC 4975 §9: 4-32 of ALPHANUM . - + % =).
  const std::string bad = "MSRP a! SEND\r\nTo-Path: " + chat("carol").focus_path + "\r\nFrom-Path: " +
                          chat("carol").path + "\r\nMessage-ID: m-bad\r\nByte-Range: 1-0/0\r\n-------a!$\r\n";
  ASSERT_TRUE(msrp("carol").send_raw(bad));
  EXPECT_TRUE(wait_closed(msrp("carol"), 3s)) << "a bad transaction id must close the connection";

  EXPECT_TRUE(user("alice").ua->nothing_arrives("BYE", 200ms));
  expect_send_ok("alice", {"bob", "dan"}, "still going");
  EXPECT_TRUE(msrp("alice").connected());
  EXPECT_TRUE(msrp("bob").connected());
  EXPECT_TRUE(msrp("dan").connected());
}

// §8.3 step 1: a frame larger than msrp.max_message_size + 16 KiB with no
// end-line closes the connection; the others carry on.
TEST_P(MsrpErrorsTest, OversizedFrameWithoutEndLineCloses) {
  f_msrp({"--msrp.max-message-size=8192"});
  if (HasFailure()) return;
  auto big = raw_connection("bigFrame0001");
  const std::string head = "MSRP huge0001 SEND\r\nTo-Path: " + chat("alice").focus_path +
                           "\r\nFrom-Path: msrp://127.0.0.1:39999/bigFrame0001;tcp\r\nMessage-ID: m-huge\r\n"
                           "Byte-Range: 1-*/*\r\nContent-Type: message/cpim\r\n\r\n";
  ASSERT_TRUE(big->send_raw(head));
  const size_t total = 8192 + 16384 + 8192;
  const std::string block(4096, 'q');
  for (size_t sent = 0; sent < total && big->connected(); sent += block.size())
    if (!big->send_raw(block)) break;  // the server may already have closed it
  EXPECT_TRUE(wait_closed(*big, 3s)) << "no end-line after max + 16 KiB must close the connection\n"
                                     << big->transcript();
  expect_send_ok("alice", {"bob", "carol"}, "after the flood");
}

// §8.2: a connection that binds nothing within msrp.bind_timeout_s is closed.
TEST_P(MsrpErrorsTest, UnboundConnectionClosedAfterBindTimeout) {
  f_msrp({"--msrp.bind-timeout-s=1"});
  if (HasFailure()) return;
  const auto opened = std::chrono::steady_clock::now();
  auto idle = raw_connection("idleConn0001");
  // Also one that tried to bind to an unknown session (481) and so is unbound.
  auto lost = raw_connection("lostConn0001");
  const std::string tid = lost->bodiless_send("msrp://127.0.0.1:" + std::to_string(server_.msrp_port()) +
                                              "/NoSuchSession000;tcp");
  auto r = lost->wait_response(tid, 2s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 481);
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(idle->connected()) << "closed before the bind timeout";
  EXPECT_TRUE(wait_closed(*idle, 3s)) << "not closed after the bind timeout (1 s)";
  const auto elapsed = std::chrono::steady_clock::now() - opened;
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LE(elapsed, 2500ms);
  EXPECT_TRUE(wait_closed(*lost, 1s)) << "a connection refused with 481 is still unbound";
  // Bound legs are not affected.
  EXPECT_TRUE(msrp("alice").connected());
  expect_send_ok("alice", {"bob", "carol", "dan"}, "bound legs stay");
}

INSTANTIATE_TEST_SUITE_P(Transports, MsrpErrorsTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
