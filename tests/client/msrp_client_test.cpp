// MsrpClient against itself: two clients on a loopback TCP connection (one
// listening, as a passive endpoint would), and a socketpair for raw bytes.
// No server involved.

#include "tests/client/msrp_client.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "transport/codec/cpim.hpp"

namespace imserver::testclient {
namespace {

using namespace std::chrono_literals;
using codec::msrp::EndFlag;
using codec::msrp::Frame;

constexpr const char* kAlicePath = "msrp://127.0.0.1:40001/aLiCe0001;tcp";
constexpr const char* kBobPath = "msrp://127.0.0.1:40002/bOb00002;tcp";

const std::string kSessions89 =
    "From: <sip:alice@example.com>\r\n"
    "To: <sip:gs-1@im.example.com>\r\n"
    "DateTime: 2025-01-15T10:00:00Z\r\n"
    "\r\n"
    "Content-Type: text/plain;charset=UTF-8\r\n"
    "\r\n"
    "Hello team";

std::string value_of(const Frame& f, const char* name) {
  const std::string* v = f.header(name);
  return v ? *v : std::string("<absent>");
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 2s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

class MsrpPair : public ::testing::Test {
 protected:
  void SetUp() override {
    uint16_t port = bob_.listen("127.0.0.1");
    ASSERT_NE(port, 0) << bob_.last_error();
    ASSERT_TRUE(alice_.connect("127.0.0.1", port)) << alice_.last_error();
    ASSERT_TRUE(bob_.accept(2s)) << bob_.last_error();
  }
  void TearDown() override {
    if (!HasFailure()) return;
    std::cerr << "==== alice ====\n" << alice_.transcript() << "==== bob ====\n" << bob_.transcript();
  }

  MsrpClient alice_{kAlicePath};
  MsrpClient bob_{kBobPath};
};

TEST(MsrpClientHelpers, CpimBodyMatchesSessionsLayout) {
  std::string body = cpim_body("sip:alice@example.com", "sip:gs-1@im.example.com", "Hello team");
  EXPECT_EQ(body, kSessions89);
  EXPECT_EQ(body.size(), 148u);
  // Octet counts used by TC-M07, TC-M09, TC-M11.
  EXPECT_EQ(cpim_body("sip:bob@example.com", "sip:gs-1@im.example.com", "spoofed?").size(), 144u);
  EXPECT_EQ(cpim_body("sip:alice@example.com", "sip:bob@example.com", "Only for you, Bob").size(), 151u);
  EXPECT_EQ(cpim_body("sip:carol@example.com", "sip:anonymous@anonymous.invalid", "Hi all").size(), 152u);

  auto parsed = codec::cpim::parse_cpim(cpim_body("Alice <sip:alice@example.com>", "", "x", "message/imdn+xml", ""));
  ASSERT_EQ(parsed.status, codec::cpim::CpimStatus::Ok) << parsed.error;
  EXPECT_EQ(parsed.message.headers.size(), 1u);  // no To, no DateTime
  EXPECT_EQ(*parsed.message.first("From"), "Alice <sip:alice@example.com>");
  EXPECT_EQ(parsed.message.content_type(), "message/imdn+xml");

  std::string tid = random_tid();
  EXPECT_EQ(tid.size(), 16u);
  EXPECT_TRUE(codec::msrp::valid_transaction_id(tid));
  EXPECT_NE(random_tid(), tid);
  EXPECT_EQ(random_message_id().rfind("m-", 0), 0u);
}

TEST(MsrpClientHelpers, MakeSendHeaders) {
  MsrpClient c(kAlicePath);
  Frame f = c.make_send(kBobPath, "m-alice-0001", kSessions89);
  EXPECT_TRUE(f.is_request);
  EXPECT_EQ(f.method, "SEND");
  EXPECT_TRUE(codec::msrp::valid_transaction_id(f.tid));
  ASSERT_EQ(f.headers.size(), 5u);
  EXPECT_EQ(f.headers[0], (std::pair<std::string, std::string>{"To-Path", kBobPath}));
  EXPECT_EQ(f.headers[1], (std::pair<std::string, std::string>{"From-Path", kAlicePath}));
  EXPECT_EQ(f.headers[2].second, "m-alice-0001");
  EXPECT_EQ(f.headers[3], (std::pair<std::string, std::string>{"Byte-Range", "1-148/148"}));
  EXPECT_EQ(f.headers[4], (std::pair<std::string, std::string>{"Content-Type", "message/cpim"}));
  EXPECT_TRUE(f.has_body_section);
  EXPECT_EQ(f.flag, EndFlag::Complete);

  // Extras: replace, remove, add before Content-Type, override Content-Type.
  Frame g = c.make_send(kBobPath, "m1", "abc", "1-3/*", EndFlag::More,
                        {{"Message-ID", ""}, {"Success-Report", "yes"}, {"content-type", "text/plain"},
                         {"byte-range", "2-4/10"}});
  ASSERT_EQ(g.headers.size(), 5u);
  EXPECT_EQ(g.header("Message-ID"), nullptr);
  EXPECT_EQ(value_of(g, "Byte-Range"), "2-4/10");
  EXPECT_EQ(g.headers[3].first, "Success-Report");
  EXPECT_EQ(g.headers[4], (std::pair<std::string, std::string>{"Content-Type", "text/plain"}));
  EXPECT_EQ(g.flag, EndFlag::More);

  EXPECT_EQ(value_of(c.make_send(kBobPath, "m2", "abcd", "", EndFlag::More), "Byte-Range"), "1-4/*");
  EXPECT_EQ(c.make_send(kBobPath, "m3", "x", kOmitByteRange).header("Byte-Range"), nullptr);
  EXPECT_EQ(c.make_send(kBobPath, "m4", "x", "", EndFlag::Complete, {{"Content-Type", ""}}).header("Content-Type"),
            nullptr);

  Frame b = c.make_bodiless_send(kBobPath);
  EXPECT_FALSE(b.has_body_section);
  EXPECT_EQ(value_of(b, "Byte-Range"), "1-0/0");
  EXPECT_EQ(b.header("Content-Type"), nullptr);
  EXPECT_NE(b.header("Message-ID"), nullptr);
  EXPECT_EQ(codec::msrp::serialize(b).find("\r\n\r\n"), std::string::npos);

  auto chunks = c.make_chunks(kBobPath, "big", std::string(5000, 'x'), 2048);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(value_of(chunks[0], "Byte-Range"), "1-2048/5000");
  EXPECT_EQ(value_of(chunks[1], "Byte-Range"), "2049-4096/5000");
  EXPECT_EQ(value_of(chunks[2], "Byte-Range"), "4097-5000/5000");
  EXPECT_EQ(chunks[0].flag, EndFlag::More);
  EXPECT_EQ(chunks[1].flag, EndFlag::More);
  EXPECT_EQ(chunks[2].flag, EndFlag::Complete);
  EXPECT_EQ(chunks[2].body.size(), 904u);
  for (const auto& ch : chunks) {
    EXPECT_EQ(value_of(ch, "Message-ID"), "big");
    EXPECT_EQ(value_of(ch, "Content-Type"), "message/cpim");
  }
  EXPECT_NE(chunks[0].tid, chunks[1].tid);
}

TEST_F(MsrpPair, BindAndMessageWithAutomaticAnswers) {
  EXPECT_TRUE(alice_.connected());
  EXPECT_TRUE(bob_.connected());

  std::string tid = alice_.bodiless_send(kBobPath);
  ASSERT_FALSE(tid.empty());
  auto ok = alice_.wait_response(tid, 2s);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->comment, "OK");
  EXPECT_EQ(value_of(*ok, "To-Path"), kAlicePath);
  EXPECT_EQ(value_of(*ok, "From-Path"), kBobPath);
  auto bind = bob_.wait_request("SEND", 1s);
  ASSERT_TRUE(bind);
  EXPECT_FALSE(bind->has_body_section);
  EXPECT_EQ(value_of(*bind, "Byte-Range"), "1-0/0");

  Frame send = alice_.make_send(kBobPath, "m-alice-0001", kSessions89);
  ASSERT_TRUE(alice_.send(send));
  auto got = bob_.wait_received([](const Frame& f) { return f.is_request && f.method == "SEND"; }, 2s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->answered_with, 200);
  EXPECT_EQ(got->frame.body, kSessions89);
  EXPECT_EQ(got->frame.tid, send.tid);
  EXPECT_EQ(value_of(got->frame, "Byte-Range"), "1-148/148");
  EXPECT_EQ(got->frame.headers.back().first, "Content-Type");
  auto answer = alice_.wait_response(send.tid, 2s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);

  EXPECT_EQ(bob_.history().size(), 2u);
  EXPECT_TRUE(bob_.pending().empty());
  EXPECT_TRUE(alice_.nothing_arrives(200ms));
  EXPECT_NE(alice_.transcript().find("MSRP " + send.tid + " SEND"), std::string::npos);
  EXPECT_NE(bob_.transcript().find("MSRP " + send.tid + " 200 OK"), std::string::npos);

  // The peer closing is seen.
  alice_.close();
  EXPECT_FALSE(alice_.connected());
  EXPECT_TRUE(eventually([&] { return !bob_.connected(); }));
  EXPECT_FALSE(bob_.broken());
}

TEST_F(MsrpPair, FailureReportRulesAndManualAnswers) {
  // Failure-Report: no -> never answered; partial -> only non-200.
  std::string t1 = alice_.send_message(kBobPath, kSessions89, "", {{"Failure-Report", "no"}});
  std::string t2 = alice_.send_message(kBobPath, kSessions89, "", {{"Failure-Report", "partial"}});
  ASSERT_FALSE(t1.empty());
  ASSERT_FALSE(t2.empty());
  EXPECT_EQ(bob_.drain(200ms).size(), 2u);
  EXPECT_TRUE(alice_.nothing_arrives(200ms));

  bob_.answer_sends_with(415);
  std::string t3 = alice_.send_message(kBobPath, kSessions89, "", {{"Failure-Report", "partial"}});
  auto r415 = alice_.wait_response(t3, 2s);
  ASSERT_TRUE(r415);
  EXPECT_EQ(r415->status, 415);

  // A peer that reads but does not answer; the test answers itself.
  bob_.answer_sends_automatically(false);
  std::string t4 = alice_.send_message(kBobPath, kSessions89);
  auto req = bob_.wait_request("SEND", 2s);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->tid, t3);  // t3 was still queued
  req = bob_.wait_request("SEND", 2s);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->tid, t4);
  EXPECT_TRUE(alice_.nothing_arrives(200ms));
  ASSERT_TRUE(bob_.respond(*req, 481));
  auto r481 = alice_.wait_response(t4, 2s);
  ASSERT_TRUE(r481);
  EXPECT_EQ(r481->status, 481);
  EXPECT_EQ(r481->comment, "Session Does Not Exist");
}

TEST_F(MsrpPair, ChunksReportAndSecondLocalPath) {
  std::string body = cpim_body("sip:alice@example.com", "sip:gs-1@im.example.com", std::string(4850, 'z'));
  ASSERT_EQ(body.size(), 4988u);
  auto chunks = alice_.make_chunks(kBobPath, "m-big", body, 2048, {{"Success-Report", "yes"}});
  ASSERT_EQ(chunks.size(), 3u);
  for (const auto& c : chunks) ASSERT_TRUE(alice_.send(c));
  std::string joined;
  Frame last;
  for (int i = 0; i < 3; ++i) {
    auto f = bob_.wait_request("SEND", 2s);
    ASSERT_TRUE(f) << i;
    joined += f->body;
    last = *f;
  }
  EXPECT_EQ(joined, body);
  EXPECT_EQ(last.flag, EndFlag::Complete);
  for (const auto& c : chunks) {
    auto r = alice_.wait_response(c.tid, 2s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }

  Frame report = bob_.make_report(last);
  EXPECT_EQ(value_of(report, "Byte-Range"), "1-4988/4988");
  ASSERT_TRUE(bob_.send(report));
  auto rep = alice_.wait_request("REPORT", 2s);
  ASSERT_TRUE(rep);
  EXPECT_EQ(value_of(*rep, "To-Path"), kAlicePath);
  EXPECT_EQ(value_of(*rep, "From-Path"), kBobPath);
  EXPECT_EQ(value_of(*rep, "Message-ID"), "m-big");
  EXPECT_EQ(value_of(*rep, "Status"), "000 200 OK");
  EXPECT_TRUE(bob_.nothing_arrives(200ms));  // REPORTs are not answered

  // A second leg on the same connection answers from its own URI.
  const std::string second = "msrp://127.0.0.1:40002/bOb0000second;tcp";
  bob_.add_local_path(second);
  std::string tid = alice_.bodiless_send(second);
  auto r = alice_.wait_response(tid, 2s);
  ASSERT_TRUE(r);
  EXPECT_EQ(value_of(*r, "From-Path"), second);
  // An unknown To-Path is still answered from the primary path.
  tid = alice_.bodiless_send("msrp://127.0.0.1:40002/other;tcp");
  r = alice_.wait_response(tid, 2s);
  ASSERT_TRUE(r);
  EXPECT_EQ(value_of(*r, "From-Path"), kBobPath);
}

TEST_F(MsrpPair, PausedReaderHoldsFramesBack) {
  bob_.pause_reading(true);
  EXPECT_TRUE(bob_.reading_paused());
  std::string tid = alice_.send_message(kBobPath, kSessions89);
  ASSERT_FALSE(tid.empty());
  EXPECT_TRUE(bob_.nothing_arrives(300ms));
  EXPECT_TRUE(alice_.nothing_arrives(100ms));
  bob_.pause_reading(false);
  auto f = bob_.wait_request("SEND", 2s);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->tid, tid);
  auto r = alice_.wait_response(tid, 2s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(MsrpClientBackpressure, SendBlocksWhenPeerStopsReading) {
  MsrpClient bob(kBobPath);
  bob.set_receive_buffer(4096);
  uint16_t port = bob.listen("127.0.0.1");
  ASSERT_NE(port, 0);
  MsrpClient alice(kAlicePath);
  alice.set_send_timeout(200ms);
  ASSERT_TRUE(alice.connect("127.0.0.1", port));
  ASSERT_TRUE(bob.accept(2s));
  bob.pause_reading(true);
  // The kernel buffers on both sides fill up; then send() times out.
  const std::string body(64 * 1024, 'q');
  bool failed = false;
  for (int i = 0; i < 400 && !failed; ++i) failed = !alice.send(alice.make_send(kBobPath, "", body));
  EXPECT_TRUE(failed) << "send never blocked";
  EXPECT_NE(alice.last_error().find("failed"), std::string::npos) << alice.last_error();
  EXPECT_TRUE(bob.connected());
}

TEST(MsrpClientRaw, AdoptedSocketpairSplitBytesAndGarbage) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  MsrpClient c(kAlicePath);
  ASSERT_TRUE(c.adopt(sv[0]));
  const std::string frame =
      "MSRP a1b2c3d4 SEND\r\n"
      "To-Path: msrp://127.0.0.1:40001/aLiCe0001;tcp\r\n"
      "From-Path: msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp\r\n"
      "Message-ID: m1\r\n"
      "Byte-Range: 1-148/148\r\n"
      "Content-Type: message/cpim\r\n"
      "\r\n" +
      kSessions89 + "\r\n-------a1b2c3d4$\r\n";
  // One byte at a time.
  for (char ch : frame) ASSERT_EQ(write(sv[1], &ch, 1), 1);
  auto f = c.wait_request("SEND", 2s);
  ASSERT_TRUE(f) << c.transcript();
  EXPECT_EQ(f->body, kSessions89);
  // The automatic answer came back on the socketpair.
  std::string answer;
  char buf[512];
  while (answer.find("-------a1b2c3d4$\r\n") == std::string::npos) {
    ssize_t n = read(sv[1], buf, sizeof buf);
    ASSERT_GT(n, 0);
    answer.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(answer,
            "MSRP a1b2c3d4 200 OK\r\n"
            "To-Path: msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp\r\n"
            "From-Path: msrp://127.0.0.1:40001/aLiCe0001;tcp\r\n"
            "-------a1b2c3d4$\r\n");

  // Not MSRP: the reader reports a broken stream and stops.
  const std::string garbage = "HELLO THERE\r\n\r\n";
  ASSERT_EQ(write(sv[1], garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  EXPECT_TRUE(eventually([&] { return c.broken(); })) << c.transcript();
  EXPECT_FALSE(c.last_error().empty());
  c.close();
  EXPECT_FALSE(c.connected());
  ::close(sv[1]);
}

}  // namespace
}  // namespace imserver::testclient
