// The SIP worker's own server transactions (RFC 3261 §17.2, RFC 6026) on the
// wire: copies of a request get the same answer or are absorbed, a non-2xx
// answer to an INVITE is resent on Timer G until its ACK, CANCEL finds its
// INVITE by branch, and everything ends after 64*T1 (shortened here, as
// --sip.t1-ms would). A raw socket plays the peer, a recorder the layers
// above.

#include "transport/sip/sip_worker.hpp"
#include "wire_peer.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

namespace imserver::transport {
namespace {

using namespace wire;
using Peer = WirePeer;

class ServerTxWire : public WorkerWireTest {
 protected:
  // A request from `peer` outside any dialog unless `to_tag` is given.
  std::string request(const Peer& peer, const std::string& method, const std::string& branch,
                      const std::string& call_id, uint32_t cseq, const std::string& to_tag = "",
                      const std::string& extra = "") const {
    const std::string p = std::to_string(peer.port());
    return method + " " + uri() + " SIP/2.0\r\n"
           "Via: SIP/2.0/" + peer.transport() + " 127.0.0.1:" + p + ";branch=" + branch + ";rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:bob@example.com>;tag=bob-" + call_id + "\r\n"
           "To: <" + uri() + ">" + (to_tag.empty() ? "" : ";tag=" + to_tag) + "\r\n"
           "Call-ID: " + call_id + "\r\n"
           "CSeq: " + std::to_string(cseq) + " " + method + "\r\n"
           "Contact: <sip:bob@127.0.0.1:" + p + ">\r\n" + extra +
           "Content-Length: 0\r\n\r\n";
  }

  // The next message from the worker whose start line is `line`, skipping others.
  static std::optional<Peer::Received> receive_line(Peer& peer, const std::string& line, int timeout_ms = 2000) {
    const int64_t until = now_ms() + timeout_ms;
    while (now_ms() < until) {
      auto m = peer.receive(static_cast<int>(until - now_ms()));
      if (!m) return std::nullopt;
      if (start_line(m->text) == line) return m;
    }
    return std::nullopt;
  }

  size_t requests_seen() {
    std::lock_guard<std::mutex> lk(sink_.mu);
    return sink_.requests.size();
  }

  // INVITE answered 200 and ACKed: returns the dialog's To tag (our tag).
  std::string establish(Peer& peer, const std::string& call_id, DialogId* dialog) {
    const size_t index = requests_seen();
    peer.send(request(peer, "INVITE", "z9hG4bK-inv-" + call_id, call_id, 1));
    auto req = sink_.wait_request(index);
    EXPECT_TRUE(req.has_value());
    if (!req) return "";
    *dialog = req->dialog;
    worker_->post(Accept{req->id, req->dialog, "owner", "<" + uri() + ">", "", "", ""});
    auto ok = receive_line(peer, "SIP/2.0 200 OK");
    EXPECT_TRUE(ok.has_value());
    if (!ok) return "";
    const std::string to = header(ok->text, "To");
    const std::string tag = to.substr(to.find("tag=") + 4);
    const std::string p = std::to_string(peer.port());
    peer.send("ACK " + uri() + " SIP/2.0\r\n"
              "Via: SIP/2.0/" + std::string(peer.transport()) + " 127.0.0.1:" + p + ";branch=z9hG4bK-ack-" + call_id + ";rport\r\n"
              "Max-Forwards: 70\r\n"
              "From: <sip:bob@example.com>;tag=bob-" + call_id + "\r\n"
              "To: " + to + "\r\n"
              "Call-ID: " + call_id + "\r\n"
              "CSeq: 1 ACK\r\n"
              "Content-Length: 0\r\n\r\n");
    EXPECT_TRUE(sink_.wait_event(DialogEventKind::Confirmed, 2000).has_value());
    return tag;
  }

};

// The response's top Via: rport filled in with the source port, received
// added (RFC 3581), the branch kept.
TEST_F(ServerTxWire, ResponseViaCarriesRportAndReceived) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  peer.send(request(peer, "OPTIONS", "z9hG4bK-opt-1", "opt-1", 1));
  auto req = sink_.wait_request(0);
  ASSERT_TRUE(req.has_value());
  worker_->post(Respond{req->id, 200, "OK", "Allow: INVITE\r\n", "", ""});
  auto ok = receive_line(peer, "SIP/2.0 200 OK");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(header(ok->text, "Via"), "SIP/2.0/UDP 127.0.0.1:" + std::to_string(peer.port()) +
                                         ";branch=z9hG4bK-opt-1;rport=" + std::to_string(peer.port()) +
                                         ";received=127.0.0.1");
  EXPECT_EQ(header(ok->text, "Call-ID"), "opt-1");
  EXPECT_EQ(header(ok->text, "CSeq"), "1 OPTIONS");
  EXPECT_EQ(header(ok->text, "Allow"), "INVITE");
  EXPECT_NE(header(ok->text, "To").find(";tag="), std::string::npos);
}

// A BYE copy after the 200 (UDP, the 200 was lost): the same 200 again, byte
// for byte, though the dialog is gone; nothing new reaches the layers above.
TEST_F(ServerTxWire, ByeCopyGetsTheSameOkAfterTheDialogEnded) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  DialogId dialog = 0;
  const std::string tag = establish(peer, "bye-1", &dialog);
  ASSERT_FALSE(tag.empty());
  const std::string bye = request(peer, "BYE", "z9hG4bK-bye-1", "bye-1", 2, tag);
  peer.send(bye);
  auto first = receive_line(peer, "SIP/2.0 200 OK");
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(sink_.wait_event(DialogEventKind::PeerBye, 2000).has_value());
  peer.send(bye);
  auto second = receive_line(peer, "SIP/2.0 200 OK");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->text, first->text);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(sink_.count(DialogEventKind::PeerBye), 1u);
}

// Timer J is 64*T1: after it the transaction is gone, so a late copy of the
// BYE meets no dialog and gets 481.
TEST_F(ServerTxWire, ByeTransactionEndsAfter64T1) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  DialogId dialog = 0;
  const std::string tag = establish(peer, "bye-2", &dialog);
  ASSERT_FALSE(tag.empty());
  const std::string bye = request(peer, "BYE", "z9hG4bK-bye-2", "bye-2", 2, tag);
  peer.send(bye);
  ASSERT_TRUE(receive_line(peer, "SIP/2.0 200 OK").has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(64 * kT1 + 300));
  peer.send(bye);
  EXPECT_TRUE(receive_line(peer, "SIP/2.0 481 Call/Transaction Does Not Exist").has_value());
}

// INVITE copies: absorbed while the INVITE is pending, and after the 2xx
// (RFC 6026 Accepted) they neither reach the layers above nor make a second
// dialog.
TEST_F(ServerTxWire, InviteCopiesAreAbsorbedBeforeAndAfterThe2xx) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const std::string invite = request(peer, "INVITE", "z9hG4bK-inv-copy", "copy-1", 1);
  peer.send(invite);
  auto req = sink_.wait_request(0);
  ASSERT_TRUE(req.has_value());
  peer.send(invite);
  EXPECT_FALSE(peer.receive(150).has_value());  // nothing sent yet, nothing to repeat
  worker_->post(Accept{req->id, req->dialog, "owner", "<" + uri() + ">", "", "", ""});
  ASSERT_TRUE(receive_line(peer, "SIP/2.0 200 OK").has_value());
  peer.send(invite);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(requests_seen(), 1u);
}

// A provisional answer is repeated for an INVITE copy (§17.2.1).
TEST_F(ServerTxWire, InviteCopyGetsTheLastProvisional) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const std::string invite = request(peer, "INVITE", "z9hG4bK-inv-prov", "prov-1", 1);
  peer.send(invite);
  auto req = sink_.wait_request(0);
  ASSERT_TRUE(req.has_value());
  worker_->post(Provisional{req->id, req->dialog, "owner", 180, "Ringing"});
  auto first = receive_line(peer, "SIP/2.0 180 Ringing");
  ASSERT_TRUE(first.has_value());
  peer.send(invite);
  auto again = receive_line(peer, "SIP/2.0 180 Ringing");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->text, first->text);
}

// A non-2xx final answer to an INVITE over UDP: resent at T1, then 2T1, ...
// (Timer G) until the ACK with the INVITE's branch, which goes no further.
TEST_F(ServerTxWire, Non2xxIsResentOnTimerGUntilItsAck) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  peer.send(request(peer, "INVITE", "z9hG4bK-inv-486", "busy-1", 1));
  auto req = sink_.wait_request(0);
  ASSERT_TRUE(req.has_value());
  const int64_t answered = now_ms();
  worker_->post(Respond{req->id, 486, "Busy Here", "", "", ""});
  std::vector<Peer::Received> copies;
  while (copies.size() < 3) {
    auto m = receive_line(peer, "SIP/2.0 486 Busy Here");
    ASSERT_TRUE(m.has_value());
    copies.push_back(*m);
  }
  EXPECT_EQ(copies[1].text, copies[0].text);
  // From the answer, which no send can precede (receipts may come late).
  EXPECT_GE(copies[1].at - answered, static_cast<int64_t>(kT1) - 3);
  EXPECT_GE(copies[2].at - answered, static_cast<int64_t>(3 * kT1) - 3);  // T1, then 2*T1
  const std::string to = header(copies[0].text, "To");
  const std::string p = std::to_string(peer.port());
  peer.send("ACK " + uri() + " SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:" + p + ";branch=z9hG4bK-inv-486;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:bob@example.com>;tag=bob-busy-1\r\n"
            "To: " + to + "\r\n"
            "Call-ID: busy-1\r\n"
            "CSeq: 1 ACK\r\n"
            "Content-Length: 0\r\n\r\n");
  // Drain what was in flight, then silence for more than T2.
  while (peer.receive(static_cast<int>(kT2) + 60).has_value()) {
  }
  EXPECT_FALSE(peer.receive(static_cast<int>(2 * kT2)).has_value());
  EXPECT_EQ(sink_.count(DialogEventKind::Confirmed), 0u);
}

// CANCEL of a pending INVITE: 200 to the CANCEL and 487 to the INVITE, with
// the same To tag (§9.2); the early dialog is reported cancelled. A CANCEL
// that matches nothing gets 481.
TEST_F(ServerTxWire, CancelFindsItsInviteByBranch) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  peer.send(request(peer, "INVITE", "z9hG4bK-inv-cancel", "cancel-1", 1));
  auto req = sink_.wait_request(0);
  ASSERT_TRUE(req.has_value());
  const std::string p = std::to_string(peer.port());
  auto cancel = [&](const std::string& branch) {
    return "CANCEL " + uri() + " SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:" + p + ";branch=" + branch + ";rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:bob@example.com>;tag=bob-cancel-1\r\n"
           "To: <" + uri() + ">\r\n"
           "Call-ID: cancel-1\r\n"
           "CSeq: 1 CANCEL\r\n"
           "Content-Length: 0\r\n\r\n";
  };
  peer.send(cancel("z9hG4bK-no-such-invite"));
  ASSERT_TRUE(receive_line(peer, "SIP/2.0 481 Call/Transaction Does Not Exist").has_value());
  peer.send(cancel("z9hG4bK-inv-cancel"));
  std::optional<Peer::Received> ok, terminated;
  while (!ok || !terminated) {
    auto m = peer.receive(2000);
    ASSERT_TRUE(m.has_value());
    if (start_line(m->text) == "SIP/2.0 200 OK") ok = m;
    if (start_line(m->text) == "SIP/2.0 487 Request Terminated") terminated = m;
  }
  EXPECT_EQ(header(ok->text, "CSeq"), "1 CANCEL");
  EXPECT_EQ(header(terminated->text, "CSeq"), "1 INVITE");
  EXPECT_EQ(header(ok->text, "To"), header(terminated->text, "To"));
  EXPECT_TRUE(sink_.wait_event(DialogEventKind::Cancelled, 2000).has_value());
}

// Over TCP a transaction ends with its final answer: the same BYE again is a
// new request, and with the dialog gone it gets 481.
TEST_F(ServerTxWire, OverTcpTheTransactionEndsWithTheFinalAnswer) {
  Peer peer(true, worker_->port());
  ASSERT_TRUE(peer.ok());
  DialogId dialog = 0;
  const std::string tag = establish(peer, "tcp-1", &dialog);
  ASSERT_FALSE(tag.empty());
  const std::string bye = request(peer, "BYE", "z9hG4bK-bye-tcp", "tcp-1", 2, tag);
  peer.send(bye);
  ASSERT_TRUE(receive_line(peer, "SIP/2.0 200 OK").has_value());
  peer.send(bye);
  EXPECT_TRUE(receive_line(peer, "SIP/2.0 481 Call/Transaction Does Not Exist").has_value());
}

}  // namespace
}  // namespace imserver::transport
