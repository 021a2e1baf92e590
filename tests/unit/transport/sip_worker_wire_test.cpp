// The SIP worker on the wire, without the rest of the server: a raw socket
// plays the peer, a recording sink plays the layers above. Timers are
// shortened through SipWorkerConfig (as --sip.t1-ms / --sip.t2-ms would), so
// the RFC 3261 Timer E / Timer F schedule of our own client transactions and
// the wheel-driven 2xx retransmission can be observed in a few seconds.

#include "transport/sip/client_transaction.hpp"
#include "transport/sip/sip_worker.hpp"
#include "wire_peer.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace imserver::transport {
namespace {

using namespace wire;
using Peer = WirePeer;  // the socket, not transport::Peer

// ------------------------------------------------------------ fixture
class SipWorkerWire : public WorkerWireTest {
 protected:
  // SUBSCRIBE from the peer, accepted above: returns the subscription dialog.
  DialogId subscribe(Peer& peer, const std::string& call_id) {
    const std::string p = std::to_string(peer.port());
    const std::string tp = peer.transport();
    // Read before sending: the worker may record the request before send() returns.
    size_t index;
    {
      std::lock_guard<std::mutex> lk(sink_.mu);
      index = sink_.requests.size();
    }
    peer.send("SUBSCRIBE " + uri() + " SIP/2.0\r\n"
              "Via: SIP/2.0/" + tp + " 127.0.0.1:" + p + ";branch=z9hG4bK-sub-" + call_id + ";rport\r\n"
              "Max-Forwards: 70\r\n"
              "From: <sip:alice@example.com>;tag=alice-" + call_id + "\r\n"
              "To: <" + uri() + ">\r\n"
              "Call-ID: " + call_id + "\r\n"
              "CSeq: 1 SUBSCRIBE\r\n"
              "Contact: <sip:alice@127.0.0.1:" + p + ";transport=" + (tp == "TCP" ? "tcp" : "udp") + ">\r\n"
              "Event: conference\r\n"
              "Expires: 600\r\n"
              "Content-Length: 0\r\n\r\n");
    auto req = sink_.wait_request(index);
    EXPECT_TRUE(req.has_value());
    if (!req) return 0;
    EXPECT_EQ(req->method, "SUBSCRIBE");
    worker_->post(AcceptSubscription{req->id, req->dialog, "owner-1", "<" + uri() + ">", "Expires: 600\r\n"});
    auto ok = peer.receive(2000);
    EXPECT_TRUE(ok.has_value());
    if (ok) {
      EXPECT_EQ(start_line(ok->text), "SIP/2.0 200 OK");
    }
    return req->dialog;
  }

  void notify(DialogId dialog, uint64_t token) {
    worker_->post(SendInDialog{dialog, "NOTIFY", "Event: conference\r\nSubscription-State: active;expires=600\r\n",
                               "application/conference-info+xml", "<conference-info/>", token});
  }

};

// An unanswered NOTIFY over UDP: identical copies at t0, t0+T1, t0+3T1,
// t0+7T1, ... (steps capped at T2), then RequestDone 408 at t0 + 64*T1.
TEST_F(SipWorkerWire, UnansweredNotifyOverUdpFollowsTimerEAndF) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const DialogId dialog = subscribe(peer, "udp-timeout");
  ASSERT_NE(dialog, 0u);
  const int64_t posted = now_ms();
  notify(dialog, 77);

  std::vector<Peer::Received> copies;
  const int64_t budget = 64 * kT1 + 2500;
  const int64_t until = now_ms() + budget;
  while (now_ms() < until && !sink_.count(DialogEventKind::RequestDone)) {
    auto m = peer.receive(50);
    if (m && m->text.rfind("NOTIFY ", 0) == 0) copies.push_back(*m);
  }
  auto done = sink_.wait_event(DialogEventKind::RequestDone, 1000);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->event.status, 408);
  EXPECT_EQ(done->event.token, 77u);
  EXPECT_EQ(done->event.dialog, dialog);
  EXPECT_EQ(done->event.owner, "owner-1");

  ASSERT_FALSE(copies.empty());
  for (auto& c : copies) EXPECT_EQ(c.text, copies[0].text) << "a retransmission must be the same bytes";
  const auto expected = nict_udp_send_offsets(NictTimers{kT1, kT2});
  std::string seen, want;
  for (auto& c : copies) seen += " " + std::to_string(c.at - copies[0].at);
  for (auto e : expected) want += " " + std::to_string(e);
  std::printf("NOTIFY copies at (ms):%s\nexpected:           %s\nRequestDone 408 at %lld ms (64*T1 = %u)\n",
              seen.c_str(), want.c_str(), static_cast<long long>(done->at - copies[0].at), 64 * kT1);
  // Each step is measured from when the previous copy really went out, so
  // lateness under load can only push later copies past Timer F, never add.
  EXPECT_LE(copies.size(), expected.size());
  // A loaded CI box may delay copies; at least half must fit in Timer F.
  EXPECT_GE(copies.size() * 2, expected.size());
  for (size_t i = 1; i < copies.size(); ++i) {
    // Never early: copy i leaves at least expected[i] after the first,
    // which left after the post. (Measured from the post, not from the
    // previous receipt, which a loaded machine may delay.)
    EXPECT_GE(copies[i].at - posted, static_cast<int64_t>(expected[i]) - 3) << "copy " << i;
    const int64_t step = copies[i].at - copies[i - 1].at;
    const int64_t want = static_cast<int64_t>(expected[i] - expected[i - 1]);
    EXPECT_LE(step, want + 400) << "copy " << i;
  }
  const int64_t timeout = done->at - copies[0].at;
  EXPECT_GE(timeout, 64 * kT1 - 5);
  EXPECT_LE(timeout, 64 * kT1 + 1500);
}

// A provisional response switches Timer E to T2; the final one ends the
// transaction with its status, and nothing is sent after it.
TEST_F(SipWorkerWire, ProvisionalThenFinalOverUdp) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const DialogId dialog = subscribe(peer, "udp-answer");
  ASSERT_NE(dialog, 0u);
  const int64_t posted = now_ms();
  notify(dialog, 5);
  auto first = peer.receive_request("NOTIFY", 2000);
  ASSERT_TRUE(first.has_value());
  peer.send(response_to(first->text, 100, "Trying"));
  // The Timer E run already started (T1) still fires, then every T2.
  auto second = peer.receive_request("NOTIFY", 1000);
  ASSERT_TRUE(second.has_value());
  auto third = peer.receive_request("NOTIFY", 1000);
  ASSERT_TRUE(third.has_value());
  // T1 then T2 after the first send (without the 100: T1 then 2*T1, sooner),
  // measured from the post, which a late receipt cannot shorten.
  EXPECT_GE(third->at - posted, static_cast<int64_t>(kT1 + kT2) - 3);
  peer.send(response_to(first->text, 200, "OK"));
  auto done = sink_.wait_event(DialogEventKind::RequestDone, 2000);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->event.status, 200);
  EXPECT_EQ(done->event.token, 5u);
  // No copy after the final response, and a late duplicate is absorbed.
  peer.send(response_to(first->text, 200, "OK"));
  EXPECT_FALSE(peer.receive_request("NOTIFY", 3 * kT2).has_value());
  EXPECT_EQ(sink_.count(DialogEventKind::RequestDone), 1u);
}

// Responses are matched by branch and CSeq method; CSeq grows per request
// in the dialog, as libre's own transactions would number them.
TEST_F(SipWorkerWire, CSeqAdvancesAndResponsesMatchByBranch) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const DialogId dialog = subscribe(peer, "udp-cseq");
  ASSERT_NE(dialog, 0u);
  notify(dialog, 1);
  notify(dialog, 2);
  auto a = peer.receive_request("NOTIFY", 2000);
  auto b = peer.receive_request("NOTIFY", 2000);
  ASSERT_TRUE(a && b);
  const std::string cseq_a = header(a->text, "CSeq"), cseq_b = header(b->text, "CSeq");
  EXPECT_EQ(std::stoul(cseq_b), std::stoul(cseq_a) + 1) << cseq_a << " / " << cseq_b;
  EXPECT_NE(header(a->text, "Via"), header(b->text, "Via"));
  // A response with the right branch but another method matches nothing.
  std::string wrong = response_to(b->text, 481, "Nope");
  wrong.replace(wrong.find(" NOTIFY\r\n"), 9, " INFO\r\n");  // the CSeq line
  peer.send(wrong);
  peer.send(response_to(b->text, 489, "Bad Event"));
  peer.send(response_to(a->text, 200, "OK"));
  ASSERT_TRUE(sink_.wait_event(DialogEventKind::RequestDone, 2000).has_value());
  const int64_t until = now_ms() + 2000;
  while (sink_.count(DialogEventKind::RequestDone) < 2 && now_ms() < until) peer.receive(20);
  std::lock_guard<std::mutex> lk(sink_.mu);
  std::vector<std::pair<uint64_t, uint16_t>> got;
  for (auto& e : sink_.events)
    if (e.event.kind == DialogEventKind::RequestDone) got.emplace_back(e.event.token, e.event.status);
  ASSERT_EQ(got.size(), 2u);
  for (auto& [token, status] : got) EXPECT_EQ(status, token == 1 ? 200 : 489);
}

// A subscription's later NOTIFYs are filled into the bytes libre wrote for
// its first one: the same lines in the same order, only the branch and the
// CSeq number differ, and a retransmission repeats the very same bytes.
TEST_F(SipWorkerWire, LaterNotifiesOfASubscriptionKeepLibresShape) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const DialogId dialog = subscribe(peer, "udp-template");
  ASSERT_NE(dialog, 0u);
  std::vector<std::string> sent;
  for (uint64_t token = 1; token <= 3; ++token) {
    notify(dialog, token);
    auto m = peer.receive_request("NOTIFY", 2000);
    ASSERT_TRUE(m.has_value());
    sent.push_back(m->text);
    if (token < 3) peer.send(response_to(m->text, 200, "OK"));
  }
  auto strip = [](std::string text) {
    const std::string branch(first_via_branch(text));
    text.replace(text.find(branch), branch.size(), "BRANCH");
    const size_t cseq = text.find("\r\nCSeq: ") + 8;
    text.replace(cseq, text.find(' ', cseq) - cseq, "N");
    return text;
  };
  for (size_t i = 1; i < sent.size(); ++i) {
    EXPECT_EQ(strip(sent[i]), strip(sent[0]));
    EXPECT_EQ(std::stoul(header(sent[i], "CSeq")), std::stoul(header(sent[0], "CSeq")) + i);
    EXPECT_NE(first_via_branch(sent[i]), first_via_branch(sent[i - 1]));
  }
  auto copy = peer.receive_request("NOTIFY", 4 * kT1);
  ASSERT_TRUE(copy.has_value()) << "Timer E";
  EXPECT_EQ(copy->text, sent[2]);
  peer.send(response_to(copy->text, 200, "OK"));
  const int64_t until = now_ms() + 2000;
  while (sink_.count(DialogEventKind::RequestDone) < 3 && now_ms() < until) peer.receive(20);
  EXPECT_EQ(sink_.count(DialogEventKind::RequestDone), 3u);
}

// TCP_NODELAY on the socket with this local port (and this peer port, or a
// listener when `peer_port` is 0), found among the process's descriptors;
// -1 when there is none.
int nodelay_of(uint16_t local_port, uint16_t peer_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  while (const dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    sockaddr_in local{}, remote{};
    socklen_t len = sizeof local;
    int type = 0;
    socklen_t tlen = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM) continue;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 || ntohs(local.sin_port) != local_port)
      continue;
    len = sizeof remote;
    const bool connected = getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &len) == 0;
    if (peer_port ? !connected || ntohs(remote.sin_port) != peer_port : connected) continue;
    int v = 0;
    socklen_t vlen = sizeof v;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vlen) == 0) found = v;
  }
  closedir(dir);
  return found;
}

// Nagle would hold each NOTIFY of a burst on one connection behind the ACK
// of the one before (delayed by the peer up to 40 ms): the connections a
// client opens to us have TCP_NODELAY, inherited from the listener.
TEST_F(SipWorkerWire, TcpConnectionsFromClientsHaveNoDelay) {
  EXPECT_EQ(nodelay_of(worker_->port(), 0), 1) << "listener";
  Peer peer(true, worker_->port());
  ASSERT_TRUE(peer.ok());
  ASSERT_NE(subscribe(peer, "tcp-nodelay"), 0u);
  EXPECT_EQ(nodelay_of(worker_->port(), peer.port()), 1) << "accepted connection";
}

// Over TCP: one copy only (no Timer E), still Timer F = 64*T1 -> 408, on
// the connection the SUBSCRIBE came in on.
TEST_F(SipWorkerWire, UnansweredNotifyOverTcpIsSentOnceAndTimesOut) {
  Peer peer(true, worker_->port());
  ASSERT_TRUE(peer.ok());
  const DialogId dialog = subscribe(peer, "tcp-timeout");
  ASSERT_NE(dialog, 0u);
  const int64_t posted = now_ms();
  notify(dialog, 9);
  auto first = peer.receive_request("NOTIFY", 2000);
  ASSERT_TRUE(first.has_value());
  EXPECT_NE(header(first->text, "Via").find("SIP/2.0/TCP"), std::string::npos);
  auto done = sink_.wait_event(DialogEventKind::RequestDone, 64 * kT1 + 1500);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->event.status, 408);
  EXPECT_EQ(done->event.token, 9u);
  EXPECT_GE(done->at - posted, 64 * kT1 - 5);
  EXPECT_FALSE(peer.receive_request("NOTIFY", 50).has_value()) << "no retransmission over TCP";
}

// INVITE dialog: the 2xx is retransmitted from the wheel (T1, 2*T1, ...)
// until the ACK; our BYE is one of our client transactions and any final
// answer (here 481) completes it.
TEST_F(SipWorkerWire, InviteOkRetransmissionsThenByeAnswered481) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const std::string p = std::to_string(peer.port());
  const std::string invite = "INVITE " + uri() + " SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP 127.0.0.1:" + p + ";branch=z9hG4bK-inv-1;rport\r\n"
                             "Max-Forwards: 70\r\n"
                             "From: <sip:bob@example.com>;tag=bob-1\r\n"
                             "To: <" + uri() + ">\r\n"
                             "Call-ID: invite-1\r\n"
                             "CSeq: 1 INVITE\r\n"
                             "Contact: <sip:bob@127.0.0.1:" + p + ">\r\n"
                             "Content-Length: 0\r\n\r\n";
  peer.send(invite);
  auto req = sink_.wait_request(0);
  ASSERT_TRUE(req.has_value());
  const int64_t accepted = now_ms();
  worker_->post(Accept{req->id, req->dialog, "owner-2", "<" + uri() + ">", "", "", ""});
  std::vector<Peer::Received> oks;
  while (oks.size() < 3) {
    auto m = peer.receive(2000);
    ASSERT_TRUE(m.has_value());
    if (start_line(m->text) == "SIP/2.0 200 OK") oks.push_back(*m);
  }
  // From the Accept, which no send can precede (receipts may come late).
  EXPECT_GE(oks[1].at - accepted, static_cast<int64_t>(kT1) - 3);
  EXPECT_GE(oks[2].at - accepted, static_cast<int64_t>(3 * kT1) - 3);  // T1, then 2*T1
  const std::string to = header(oks[0].text, "To");
  peer.send("ACK " + uri() + " SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:" + p + ";branch=z9hG4bK-ack-1;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:bob@example.com>;tag=bob-1\r\n"
            "To: " + to + "\r\n"
            "Call-ID: invite-1\r\n"
            "CSeq: 1 ACK\r\n"
            "Content-Length: 0\r\n\r\n");
  ASSERT_TRUE(sink_.wait_event(DialogEventKind::Confirmed, 2000).has_value());
  worker_->post(Hangup{req->dialog, ""});
  auto bye = peer.receive_request("BYE", 2000);
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(header(bye->text, "Call-ID"), "invite-1");
  peer.send(response_to(bye->text, 481, "Call/Transaction Does Not Exist"));
  auto done = sink_.wait_event(DialogEventKind::ByeCompleted, 2000);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->event.status, 481);
  EXPECT_EQ(done->event.owner, "owner-2");
  EXPECT_EQ(done->event.dialog, req->dialog);
}

// No ACK: 64*T1 after the 2xx the worker reports AckTimeout and sends BYE
// itself; an unanswered BYE completes with 408 after another 64*T1.
TEST_F(SipWorkerWire, MissingAckThenUnansweredByeTimesOut) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const std::string p = std::to_string(peer.port());
  peer.send("INVITE " + uri() + " SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:" + p + ";branch=z9hG4bK-inv-2;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:carol@example.com>;tag=carol-1\r\n"
            "To: <" + uri() + ">\r\n"
            "Call-ID: invite-2\r\n"
            "CSeq: 1 INVITE\r\n"
            "Contact: <sip:carol@127.0.0.1:" + p + ">\r\n"
            "Content-Length: 0\r\n\r\n");
  auto req = sink_.wait_request(0);
  ASSERT_TRUE(req.has_value());
  const int64_t accepted = now_ms();
  worker_->post(Accept{req->id, req->dialog, "owner-3", "<" + uri() + ">", "", "", ""});
  auto timeout = sink_.wait_event(DialogEventKind::AckTimeout, 64 * kT1 + 1500);
  ASSERT_TRUE(timeout.has_value());
  EXPECT_GE(timeout->at - accepted, 64 * kT1 - 5);
  auto done = sink_.wait_event(DialogEventKind::ByeCompleted, 64 * kT1 + 1500);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->event.status, 408);
  EXPECT_GE(done->at - timeout->at, 64 * kT1 - 5);
}

}  // namespace
}  // namespace imserver::transport
