// The MSRP worker on real loopback sockets, without the imserver binary
// around it: legs are posted directly and failures land in a recording
// sink. Covers the active side (SESSIONS.md §7.3, TC-J29's MSRP part): the
// focus connects to a participant that listens, binds with a bodiless SEND
// and then relays over that connection like over an accepted one. The
// participants are the wire tests' MsrpClient.

#include "transport/msrp/msrp_worker.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/client/msrp_client.hpp"

using namespace imserver;
using namespace std::chrono_literals;
using testclient::MsrpClient;
using transport::MsrpLeg;
using transport::MsrpLegFailed;

namespace {

struct Failures final : transport::MsrpEventSink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<MsrpLegFailed> seen;

  void on_leg_failed(MsrpLegFailed e) override {
    std::lock_guard<std::mutex> lk(mu);
    seen.push_back(std::move(e));
    cv.notify_all();
  }
  std::optional<MsrpLegFailed> wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lk(mu);
    if (!cv.wait_for(lk, timeout, [&] { return !seen.empty(); })) return std::nullopt;
    return seen.front();
  }
  size_t count() {
    std::lock_guard<std::mutex> lk(mu);
    return seen.size();
  }
};

const std::string kGroup = "sip:gs-1@im.example.com";

class MsrpWorkerTest : public ::testing::Test {
 protected:
  void start(uint32_t response_timeout_ms = 30000) {
    transport::MsrpWorkerConfig c;
    c.host = "127.0.0.1";
    c.port = 0;
    c.max_fds = 1024;
    c.relay.response_timeout_ms = response_timeout_ms;
    worker_ = std::make_unique<transport::MsrpWorker>(c, failures_);
    std::string error;
    ASSERT_TRUE(worker_->start(&error)) << error;
  }
  void TearDown() override {
    if (worker_) worker_->stop();
  }

  // The focus's URI for a leg of `name` (its session-id is the leg id).
  std::string focus_uri(const std::string& name) const {
    return "msrp://127.0.0.1:" + std::to_string(worker_->port()) + "/" + leg_id(name) + ";tcp";
  }
  static std::string leg_id(const std::string& name) { return "focus" + name + "0000000"; }

  MsrpLeg leg(const std::string& name, const std::string& remote_path, bool connect_out) const {
    MsrpLeg l;
    l.leg_id = leg_id(name);
    l.group = kGroup;
    l.local_uri = focus_uri(name);
    l.remote_path = {remote_path};
    l.aor = "sip:" + name + "@example.com";
    l.accept_types = {"message/cpim"};
    l.accept_wrapped_types = {"text/plain"};
    l.owner = kGroup;
    l.dialog = name.size();
    l.connect_out = connect_out;
    return l;
  }

  void add(std::vector<MsrpLeg> legs) {
    std::vector<transport::MsrpCommand> cmds;
    for (auto& l : legs) cmds.push_back(transport::MsrpAddLeg{std::move(l)});
    worker_->post(std::move(cmds));
  }

  // A participant listening on 127.0.0.1:<free port> whose a=path is
  // msrp://127.0.0.1:<that port>/x;tcp (the port is only known after
  // listen(), so the URI is added as the client's answering path).
  std::unique_ptr<MsrpClient> passive_peer(std::string* path) {
    auto peer = std::make_unique<MsrpClient>("msrp://127.0.0.1:1/unused;tcp");
    const uint16_t port = peer->listen();
    EXPECT_NE(port, 0) << peer->last_error();
    *path = "msrp://127.0.0.1:" + std::to_string(port) + "/x;tcp";
    peer->add_local_path(*path);
    return peer;
  }

  Failures failures_;
  std::unique_ptr<transport::MsrpWorker> worker_;
};

// A port on 127.0.0.1 where nobody listens (bound once, then closed).
uint16_t closed_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace

TEST_F(MsrpWorkerTest, FocusConnectsBindsWithABodilessSendAndRelaysOnThatConnection) {
  start();
  std::string bob_path;
  auto bob = passive_peer(&bob_path);
  const std::string alice_path = "msrp://127.0.0.1:40001/aLiCe0001;tcp";
  add({leg("alice", alice_path, false), leg("bob", bob_path, true)});

  // Bob: the focus connects and its first request is the bodiless SEND.
  bob->answer_sends_automatically(false);
  ASSERT_TRUE(bob->accept(5s)) << bob->last_error();
  auto bind = bob->wait_request("SEND", 5s);
  ASSERT_TRUE(bind) << bob->transcript();
  EXPECT_EQ(*bind->header("To-Path"), bob_path);
  EXPECT_EQ(*bind->header("From-Path"), focus_uri("bob"));
  ASSERT_NE(bind->header("Message-ID"), nullptr);
  EXPECT_EQ(*bind->header("Byte-Range"), "1-0/0");
  EXPECT_EQ(bind->header("Content-Type"), nullptr);
  EXPECT_FALSE(bind->has_body_section);
  EXPECT_EQ(bind->flag, codec::msrp::EndFlag::Complete);
  ASSERT_TRUE(bob->respond(*bind, 200, "OK"));
  bob->answer_sends_automatically(true);

  // Alice connects and binds the usual way.
  MsrpClient alice(alice_path);
  ASSERT_TRUE(alice.connect("127.0.0.1", worker_->port())) << alice.last_error();
  auto ok = alice.wait_response(alice.bodiless_send(focus_uri("alice")));
  ASSERT_TRUE(ok) << alice.transcript();
  ASSERT_EQ(ok->status, 200);

  // Her message reaches Bob on the focus's connection.
  const std::string body = testclient::cpim_body("sip:alice@example.com", kGroup, "Hello Bob");
  ok = alice.wait_response(alice.send_message(focus_uri("alice"), body));
  ASSERT_TRUE(ok) << alice.transcript();
  EXPECT_EQ(ok->status, 200);
  auto copy = bob->wait_request("SEND", 5s);
  ASSERT_TRUE(copy) << bob->transcript();
  EXPECT_EQ(copy->body, body);
  EXPECT_EQ(*copy->header("To-Path"), bob_path);

  // Bob's own message on that connection is routed like any other.
  const std::string reply = testclient::cpim_body("sip:bob@example.com", kGroup, "Hi Alice");
  ok = bob->wait_response(bob->send_message(focus_uri("bob"), reply, "", {{"From-Path", bob_path}}));
  ASSERT_TRUE(ok) << bob->transcript();
  EXPECT_EQ(ok->status, 200);
  auto back = alice.wait_request("SEND", 5s);
  ASSERT_TRUE(back) << alice.transcript();
  EXPECT_EQ(back->body, reply);

  // Releasing Bob's leg closes the connection nobody else uses.
  worker_->post({transport::MsrpReleaseLeg{leg_id("bob")}});
  EXPECT_TRUE(wait_until([&] { return !bob->connected(); }, 5s)) << bob->transcript();
  EXPECT_EQ(failures_.count(), 0u);
}

TEST_F(MsrpWorkerTest, RefusedConnectFailsTheLeg) {
  start();
  add({leg("bob", "msrp://127.0.0.1:" + std::to_string(closed_port()) + "/x;tcp", true)});
  auto failed = failures_.wait(5s);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->leg_id, leg_id("bob"));
  EXPECT_EQ(failed->reason, "MSRP failure");
  EXPECT_EQ(failed->owner, kGroup);
  EXPECT_EQ(failed->dialog, 3u);
}

TEST_F(MsrpWorkerTest, RefusedBindingFailsTheLegAndClosesTheConnection) {
  start();
  std::string bob_path;
  auto bob = passive_peer(&bob_path);
  bob->answer_sends_with(481);
  add({leg("bob", bob_path, true)});
  ASSERT_TRUE(bob->accept(5s)) << bob->last_error();
  auto failed = failures_.wait(5s);
  ASSERT_TRUE(failed) << bob->transcript();
  EXPECT_EQ(failed->reason, "MSRP failure");
  EXPECT_TRUE(wait_until([&] { return !bob->connected(); }, 5s)) << bob->transcript();
}

TEST_F(MsrpWorkerTest, UnansweredBindingTimesOut) {
  start(1000);
  std::string bob_path;
  auto bob = passive_peer(&bob_path);
  bob->answer_sends_automatically(false);
  add({leg("bob", bob_path, true)});
  ASSERT_TRUE(bob->accept(5s)) << bob->last_error();
  ASSERT_TRUE(bob->wait_request("SEND", 5s)) << bob->transcript();
  auto failed = failures_.wait(5s);
  ASSERT_TRUE(failed) << bob->transcript();
  EXPECT_EQ(failed->reason, "MSRP timeout");
}
