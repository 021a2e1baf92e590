// Dial-out on the wire: the SIP worker's INVITE client transaction
// (SESSIONS.md §2.4, §2.5, §9.1-§9.2) against a raw socket playing the
// invitee, with a short T1 so Timer A / Timer B can be observed in seconds.

#include "transport/sip/client_transaction.hpp"
#include "transport/sip/digest_auth.hpp"
#include "transport/sip/sip_worker.hpp"
#include "wire_peer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace imserver::transport {
namespace {

using namespace wire;
using Peer = WirePeer;  // the socket, not transport::Peer

constexpr uint32_t kT1 = 40;
constexpr uint32_t kT2 = 160;

const char* const kOffer =
    "v=0\r\n"
    "o=- 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=message 7394 TCP/MSRP *\r\n"
    "a=accept-types:message/cpim\r\n"
    "a=path:msrp://127.0.0.1:7394/focus;tcp\r\n";

const char* const kAnswer =
    "v=0\r\n"
    "o=- 2 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=message 7000 TCP/MSRP *\r\n"
    "a=accept-types:message/cpim\r\n"
    "a=path:msrp://127.0.0.1:7000/bob;tcp\r\n";

std::string body_of(const std::string& msg) {
  const size_t p = msg.find("\r\n\r\n");
  return p == std::string::npos ? std::string() : msg.substr(p + 4);
}

std::string branch_of(const std::string& msg) { return std::string(first_via_branch(msg)); }

// "1234 INVITE" -> 1234
unsigned long cseq_number(const std::string& msg) { return std::stoul(header(msg, "CSeq")); }

// What the invitee answers to `req` (an INVITE, CANCEL or BYE we sent).
std::string reply(const std::string& req, int code, const std::string& reason, const std::string& to_tag,
                  const std::string& contact = "", const std::string& body = "") {
  std::string to = header(req, "To");
  if (!to_tag.empty() && to.find("tag=") == std::string::npos) to += ";tag=" + to_tag;
  std::string r = "SIP/2.0 " + std::to_string(code) + " " + reason + "\r\n" + "Via: " + header(req, "Via") +
                  "\r\n" + "From: " + header(req, "From") + "\r\n" + "To: " + to + "\r\n" +
                  "Call-ID: " + header(req, "Call-ID") + "\r\n" + "CSeq: " + header(req, "CSeq") + "\r\n";
  if (!contact.empty()) r += "Contact: " + contact + "\r\n";
  if (!body.empty()) r += "Content-Type: application/sdp\r\n";
  return r + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class DialWire : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    worker_ = start_worker(sink_, kT1, kT2, &error, [this](SipWorkerConfig& cfg) {
      // dialout.credentials as in TC-O09; no test but the challenged ones
      // ever sees a 401/407.
      if (with_credentials_) cfg.dial_credentials = {DialCredential{"example.com", "imserver", "pw"}};
    });
    ASSERT_TRUE(worker_) << error;
  }
  void TearDown() override {
    if (worker_) worker_->stop();
  }

  std::string focus() const { return "sip:gs-1@127.0.0.1:" + std::to_string(worker_->port()); }
  static std::string invitee(const Peer& peer, bool tcp = false) {
    return "sip:bob@127.0.0.1:" + std::to_string(peer.port()) + (tcp ? ";transport=tcp" : "");
  }
  static std::string callee_contact(const Peer& peer, bool tcp = false) { return "<" + invitee(peer, tcp) + ">"; }

  Dial dial(const Peer& peer, uint64_t token, bool tcp = false) {
    Dial d;
    d.owner = "session-1";
    d.token = token;
    d.request_uri = invitee(peer, tcp);
    d.from_uri = focus();
    d.from_display = "Team \"chat\"";
    d.contact = "<" + focus() + ">;isfocus;+g.oma.sip-im";
    d.headers = "Referred-By: <sip:alice@example.com>\r\nSubject: Team chat\r\nAccept-Contact: *;+g.oma.sip-im\r\n";
    d.content_type = "application/sdp";
    d.body = kOffer;
    return d;
  }

  // Dials, returns the INVITE as the peer got it.
  std::string dial_and_receive(Peer& peer, uint64_t token, bool tcp = false) {
    worker_->post(dial(peer, token, tcp));
    auto inv = peer.receive_request("INVITE", 2000);
    EXPECT_TRUE(inv.has_value());
    return inv ? inv->text : std::string();
  }

  // Dial, 200 with tag `tag`, Answered; returns the INVITE and the dialog.
  std::pair<std::string, DialogId> answered(Peer& peer, uint64_t token, const std::string& tag, bool tcp = false) {
    const std::string invite = dial_and_receive(peer, token, tcp);
    if (invite.empty()) return {invite, 0};
    peer.send(reply(invite, 200, "OK", tag, callee_contact(peer, tcp), kAnswer));
    auto ev = sink_.wait_dial(token, DialEventKind::Answered, 2000);
    EXPECT_TRUE(ev.has_value());
    auto ack = peer.receive_request("ACK", 2000);
    EXPECT_TRUE(ack.has_value());
    return {invite, ev ? ev->dialog : 0};
  }

  // Receives for `ms` and returns how many `method` requests arrived.
  size_t count_requests(Peer& peer, const std::string& method, int ms) {
    size_t n = 0;
    const int64_t until = now_ms() + ms;
    while (now_ms() < until) {
      auto m = peer.receive(static_cast<int>(std::max<int64_t>(1, until - now_ms())));
      if (m && m->text.rfind(method + " ", 0) == 0) ++n;
    }
    return n;
  }

  Recorder sink_;
  std::unique_ptr<SipWorker> worker_;
  bool with_credentials_ = true;
};

// The INVITE carries what Dial asked for: Request-URI and To (no tag) the
// invitee, From the focus with display name and a tag, Contact, the extra
// headers and the offer. Timer A resends the same bytes at T1, 3*T1, ...
// until the 100, then stops.
TEST_F(DialWire, InviteHeadersAndTimerAUntil100) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const int64_t posted = now_ms();
  worker_->post(dial(peer, 1));
  auto first = peer.receive_request("INVITE", 2000);
  ASSERT_TRUE(first.has_value());
  const std::string& inv = first->text;
  EXPECT_EQ(start_line(inv), "INVITE " + invitee(peer) + " SIP/2.0");
  EXPECT_EQ(header(inv, "To"), "<" + invitee(peer) + ">");
  const std::string from = header(inv, "From");
  EXPECT_EQ(from.rfind("\"Team \\\"chat\\\"\" <" + focus() + ">;tag=", 0), 0u) << from;
  EXPECT_EQ(header(inv, "Contact"), "<" + focus() + ">;isfocus;+g.oma.sip-im");
  EXPECT_EQ(header(inv, "Referred-By"), "<sip:alice@example.com>");
  EXPECT_EQ(header(inv, "Subject"), "Team chat");
  EXPECT_EQ(header(inv, "Accept-Contact"), "*;+g.oma.sip-im");
  EXPECT_EQ(header(inv, "Content-Type"), "application/sdp");
  EXPECT_EQ(header(inv, "Max-Forwards"), "70");
  EXPECT_NE(header(inv, "Call-ID"), "");
  EXPECT_NE(header(inv, "CSeq").find(" INVITE"), std::string::npos);
  EXPECT_EQ(body_of(inv), kOffer);
  EXPECT_EQ(branch_of(inv).rfind("z9hG4bK", 0), 0u);

  auto second = peer.receive_request("INVITE", 1000);
  auto third = peer.receive_request("INVITE", 1000);
  ASSERT_TRUE(second && third);
  EXPECT_EQ(second->text, inv) << "a retransmission must be the same bytes";
  EXPECT_EQ(third->text, inv);
  // Measured from the post, which no send can precede: a late receive of
  // the first copy (a loaded machine) must not shrink the gaps.
  EXPECT_GE(second->at - posted, static_cast<int64_t>(kT1) - 3);
  EXPECT_GE(third->at - posted, static_cast<int64_t>(3 * kT1) - 3);  // T1, then 2*T1

  peer.send(reply(inv, 100, "Trying", ""));
  // One copy may cross the 100; none after that.
  count_requests(peer, "INVITE", 20);
  EXPECT_EQ(count_requests(peer, "INVITE", 16 * kT1), 0u);
  EXPECT_EQ(sink_.dial_count(1, DialEventKind::Provisional), 0u) << "100 is not reported";
}

// 180 -> Provisional; 200 with SDP -> Answered with a dialog and the answer,
// and the ACK is a request of its own: new branch, the INVITE's CSeq number,
// To with the callee's tag, sent to the 2xx's Contact. A copy of the 200 is
// ACKed again with the same ACK.
TEST_F(DialWire, RingingThenAnsweredAckedAndReAcked) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const std::string inv = dial_and_receive(peer, 2);
  ASSERT_FALSE(inv.empty());
  peer.send(reply(inv, 180, "Ringing", "callee-2", callee_contact(peer)));
  auto ringing = sink_.wait_dial(2, DialEventKind::Provisional, 2000);
  ASSERT_TRUE(ringing.has_value());
  EXPECT_EQ(ringing->status, 180);
  EXPECT_EQ(ringing->reason, "Ringing");
  EXPECT_EQ(ringing->owner, "session-1");
  EXPECT_EQ(count_requests(peer, "INVITE", 4 * kT1), 0u) << "no Timer A after a provisional";

  const std::string ok = reply(inv, 200, "OK", "callee-2", callee_contact(peer), kAnswer);
  peer.send(ok);
  auto answered = sink_.wait_dial(2, DialEventKind::Answered, 2000);
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->status, 200);
  EXPECT_NE(answered->dialog, 0u);
  EXPECT_EQ(answered->owner, "session-1");
  EXPECT_EQ(answered->content_type, "application/sdp");
  EXPECT_EQ(answered->body, kAnswer);
  bool saw_contact = false;
  for (auto& h : answered->headers) saw_contact |= h.name == "contact" && h.value == callee_contact(peer);
  EXPECT_TRUE(saw_contact);

  auto ack = peer.receive_request("ACK", 2000);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(start_line(ack->text), "ACK " + invitee(peer) + " SIP/2.0");
  EXPECT_NE(branch_of(ack->text), branch_of(inv));
  EXPECT_EQ(header(ack->text, "CSeq"), std::to_string(cseq_number(inv)) + " ACK");
  EXPECT_EQ(header(ack->text, "To"), "<" + invitee(peer) + ">;tag=callee-2");
  EXPECT_EQ(header(ack->text, "From"), header(inv, "From"));
  EXPECT_EQ(header(ack->text, "Call-ID"), header(inv, "Call-ID"));

  peer.send(ok);  // the ACK "got lost"
  auto again = peer.receive_request("ACK", 2000);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->text, ack->text);
  EXPECT_EQ(sink_.dial_count(2, DialEventKind::Answered), 1u);
}

// A second 2xx with another To tag (forking proxy): ACK it, then BYE that
// dialog; the owner hears nothing of it, and its own dialog stays.
TEST_F(DialWire, ForkedSecond2xxIsAckedThenByed) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  auto [inv, dialog] = answered(peer, 3, "leg-a");
  ASSERT_NE(dialog, 0u);
  peer.send(reply(inv, 200, "OK", "leg-b", callee_contact(peer), kAnswer));
  auto ack = peer.receive_request("ACK", 2000);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(header(ack->text, "To"), "<" + invitee(peer) + ">;tag=leg-b");
  auto bye = peer.receive_request("BYE", 2000);
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(header(bye->text, "To"), "<" + invitee(peer) + ">;tag=leg-b");
  EXPECT_EQ(header(bye->text, "Call-ID"), header(inv, "Call-ID"));
  EXPECT_GT(cseq_number(bye->text), cseq_number(inv));
  peer.send(reply(bye->text, 200, "OK", ""));
  std::this_thread::sleep_for(std::chrono::milliseconds(4 * kT1));
  EXPECT_EQ(sink_.dial_count(3, DialEventKind::Answered), 1u);
  EXPECT_EQ(sink_.count(DialogEventKind::ByeCompleted), 0u) << "the fork's BYE is not reported";
  // The answered dialog is untouched: Hangup BYEs leg a.
  worker_->post(Hangup{dialog, ""});
  auto bye_a = peer.receive_request("BYE", 2000);
  ASSERT_TRUE(bye_a.has_value());
  EXPECT_EQ(header(bye_a->text, "To"), "<" + invitee(peer) + ">;tag=leg-a");
}

// 486: Failed 486, and the transaction ACKs it on the INVITE's branch
// (RFC 3261 §17.1.1.3), again for a copy of the 486.
TEST_F(DialWire, BusyIsFailedAndAckedOnTheInviteBranch) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const std::string inv = dial_and_receive(peer, 4);
  ASSERT_FALSE(inv.empty());
  const std::string busy = reply(inv, 486, "Busy Here", "callee-4");
  peer.send(busy);
  auto failed = sink_.wait_dial(4, DialEventKind::Failed, 2000);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, 486);
  EXPECT_EQ(failed->reason, "Busy Here");
  EXPECT_EQ(failed->dialog, 0u);
  auto ack = peer.receive_request("ACK", 2000);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(start_line(ack->text), "ACK " + invitee(peer) + " SIP/2.0");
  EXPECT_EQ(header(ack->text, "Via"), header(inv, "Via"));
  EXPECT_EQ(header(ack->text, "CSeq"), std::to_string(cseq_number(inv)) + " ACK");
  EXPECT_EQ(header(ack->text, "To"), "<" + invitee(peer) + ">;tag=callee-4");
  EXPECT_EQ(header(ack->text, "From"), header(inv, "From"));
  peer.send(busy);
  auto again = peer.receive_request("ACK", 2000);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->text, ack->text);
  EXPECT_EQ(sink_.dial_count(4, DialEventKind::Failed), 1u);
  EXPECT_EQ(count_requests(peer, "INVITE", 4 * kT1), 0u);
}

// No response at all: INVITE copies at 0, T1, 3*T1, 7*T1, ... (no cap),
// then Failed 408 at 64*T1 (Timer B).
TEST_F(DialWire, NoResponseIsFailed408AfterTimerB) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  worker_->post(dial(peer, 5));
  std::vector<Peer::Received> copies;
  const int64_t until = now_ms() + 64 * kT1 + 2500;
  while (now_ms() < until && !sink_.dial_count(5, DialEventKind::Failed)) {
    auto m = peer.receive(20);
    if (m && m->text.rfind("INVITE ", 0) == 0) copies.push_back(*m);
  }
  auto failed = sink_.wait_dial(5, DialEventKind::Failed, 1000);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, 408);
  ASSERT_FALSE(copies.empty());
  const auto expected = ict_udp_send_offsets(IctTimers{kT1});
  std::string seen;
  for (auto& c : copies) seen += " " + std::to_string(c.at - copies[0].at);
  std::printf("INVITE copies at (ms):%s\n", seen.c_str());
  EXPECT_LE(copies.size(), expected.size());
  EXPECT_GE(copies.size() * 2, expected.size());
  for (size_t i = 1; i < copies.size(); ++i) {
    EXPECT_EQ(copies[i].text, copies[0].text);
    const int64_t step = copies[i].at - copies[i - 1].at;
    const int64_t want = static_cast<int64_t>(expected[i] - expected[i - 1]);
    EXPECT_GE(step, want - 3) << "copy " << i;
    EXPECT_LE(step, want + 400) << "copy " << i;
  }
  EXPECT_EQ(count_requests(peer, "INVITE", 4 * kT1), 0u) << "nothing after Timer B";
  EXPECT_EQ(sink_.dial_count(5, DialEventKind::Failed), 1u);
}

// CancelDial after a 180: CANCEL with the INVITE's branch, Request-URI,
// Call-ID, From, To (no tag) and CSeq number; 200 to the CANCEL, 487 to the
// INVITE -> Failed 487, and the 487 is ACKed.
TEST_F(DialWire, CancelAfterRingingGives487) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const std::string inv = dial_and_receive(peer, 6);
  ASSERT_FALSE(inv.empty());
  peer.send(reply(inv, 180, "Ringing", "callee-6", callee_contact(peer)));
  ASSERT_TRUE(sink_.wait_dial(6, DialEventKind::Provisional, 2000).has_value());
  worker_->post(CancelDial{"session-1", 6});
  auto cancel = peer.receive_request("CANCEL", 2000);
  ASSERT_TRUE(cancel.has_value());
  const std::string& c = cancel->text;
  EXPECT_EQ(start_line(c), "CANCEL " + invitee(peer) + " SIP/2.0");
  EXPECT_EQ(header(c, "Via"), header(inv, "Via"));
  EXPECT_EQ(header(c, "To"), header(inv, "To"));
  EXPECT_EQ(header(c, "From"), header(inv, "From"));
  EXPECT_EQ(header(c, "Call-ID"), header(inv, "Call-ID"));
  EXPECT_EQ(header(c, "CSeq"), std::to_string(cseq_number(inv)) + " CANCEL");
  peer.send(reply(c, 200, "OK", "callee-6"));
  EXPECT_EQ(count_requests(peer, "CANCEL", 4 * kT1), 0u) << "the 200 ends the CANCEL's Timer E";
  peer.send(reply(inv, 487, "Request Terminated", "callee-6"));
  auto failed = sink_.wait_dial(6, DialEventKind::Failed, 2000);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, 487);
  auto ack = peer.receive_request("ACK", 2000);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(header(ack->text, "Via"), header(inv, "Via"));
  EXPECT_EQ(header(ack->text, "CSeq"), std::to_string(cseq_number(inv)) + " ACK");
}

// CancelDial before any provisional: no CANCEL (RFC 3261 §9.1) while the
// INVITE keeps being retransmitted; the first 180 releases it.
TEST_F(DialWire, CancelBeforeProvisionalWaitsForOne) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const std::string inv = dial_and_receive(peer, 7);
  ASSERT_FALSE(inv.empty());
  worker_->post(CancelDial{"session-1", 7});
  size_t cancels = 0, invites = 0;
  const int64_t until = now_ms() + 8 * kT1;
  while (now_ms() < until) {
    auto m = peer.receive(10);
    if (!m) continue;
    cancels += m->text.rfind("CANCEL ", 0) == 0;
    invites += m->text.rfind("INVITE ", 0) == 0;
  }
  EXPECT_EQ(cancels, 0u);
  EXPECT_GE(invites, 1u) << "Timer A goes on";
  peer.send(reply(inv, 180, "Ringing", "callee-7", callee_contact(peer)));
  auto cancel = peer.receive_request("CANCEL", 2000);
  ASSERT_TRUE(cancel.has_value());
  EXPECT_EQ(header(cancel->text, "Via"), header(inv, "Via"));
  peer.send(reply(cancel->text, 200, "OK", "callee-7"));
  peer.send(reply(inv, 487, "Request Terminated", "callee-7"));
  auto failed = sink_.wait_dial(7, DialEventKind::Failed, 2000);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, 487);
}

// A 200 that crossed our CANCEL: ACK, then BYE; the owner gets Failed 487,
// never Answered, and nothing about the BYE.
TEST_F(DialWire, OkAfterCancelIsAckedThenByed) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const std::string inv = dial_and_receive(peer, 8);
  ASSERT_FALSE(inv.empty());
  peer.send(reply(inv, 180, "Ringing", "callee-8", callee_contact(peer)));
  ASSERT_TRUE(sink_.wait_dial(8, DialEventKind::Provisional, 2000).has_value());
  worker_->post(CancelDial{"session-1", 8});
  auto cancel = peer.receive_request("CANCEL", 2000);
  ASSERT_TRUE(cancel.has_value());
  peer.send(reply(cancel->text, 200, "OK", "callee-8"));
  peer.send(reply(inv, 200, "OK", "callee-8", callee_contact(peer), kAnswer));
  auto ack = peer.receive_request("ACK", 2000);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(header(ack->text, "To"), "<" + invitee(peer) + ">;tag=callee-8");
  EXPECT_NE(branch_of(ack->text), branch_of(inv));
  auto bye = peer.receive_request("BYE", 2000);
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(header(bye->text, "To"), "<" + invitee(peer) + ">;tag=callee-8");
  EXPECT_GE(bye->at, ack->at);
  auto failed = sink_.wait_dial(8, DialEventKind::Failed, 2000);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, 487);
  peer.send(reply(bye->text, 200, "OK", ""));
  std::this_thread::sleep_for(std::chrono::milliseconds(4 * kT1));
  EXPECT_EQ(sink_.dial_count(8, DialEventKind::Answered), 0u);
  EXPECT_EQ(sink_.count(DialogEventKind::ByeCompleted), 0u);
}

// The answered dialog is an ordinary INVITE dialog: Hangup sends BYE in it
// (to the 2xx's Contact, callee's tag, next CSeq) and reports ByeCompleted;
// the peer's BYE in another one is answered 200 and reported as PeerBye.
TEST_F(DialWire, AnsweredDialogTakesHangupAndPeerBye) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  auto [inv1, d1] = answered(peer, 9, "callee-9");
  ASSERT_NE(d1, 0u);
  worker_->post(Hangup{d1, ""});
  auto bye = peer.receive_request("BYE", 2000);
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(start_line(bye->text), "BYE " + invitee(peer) + " SIP/2.0");
  EXPECT_EQ(header(bye->text, "To"), "<" + invitee(peer) + ">;tag=callee-9");
  EXPECT_EQ(header(bye->text, "From"), header(inv1, "From"));
  EXPECT_EQ(header(bye->text, "CSeq"), std::to_string(cseq_number(inv1) + 1) + " BYE");
  peer.send(reply(bye->text, 200, "OK", ""));
  auto done = sink_.wait_event(DialogEventKind::ByeCompleted, 2000);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->event.dialog, d1);
  EXPECT_EQ(done->event.owner, "session-1");
  EXPECT_EQ(done->event.status, 200);

  auto [inv2, d2] = answered(peer, 10, "callee-10");
  ASSERT_NE(d2, 0u);
  const std::string p = std::to_string(peer.port());
  peer.send("BYE " + focus() + " SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:" + p + ";branch=z9hG4bK-peer-bye-10;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: " + header(inv2, "To") + ";tag=callee-10\r\n"
            "To: " + header(inv2, "From") + "\r\n"
            "Call-ID: " + header(inv2, "Call-ID") + "\r\n"
            "CSeq: 1 BYE\r\n"
            "Content-Length: 0\r\n\r\n");
  auto ok = peer.receive(2000);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(start_line(ok->text), "SIP/2.0 200 OK");
  auto gone = sink_.wait_event(DialogEventKind::PeerBye, 2000);
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(gone->event.dialog, d2);
  EXPECT_EQ(gone->event.owner, "session-1");
}

// With an outbound proxy the INVITE goes to the proxy with a pre-loaded
// loose Route, the Request-URI still the invitee's; the CANCEL keeps it.
TEST_F(DialWire, OutboundProxyGetsRouteAndInvite) {
  Peer proxy(false, worker_->port());
  ASSERT_TRUE(proxy.ok());
  Dial d = dial(proxy, 11);
  d.request_uri = "sip:bob@192.0.2.1";  // unreachable: only the proxy may see it
  d.outbound_proxy = "sip:127.0.0.1:" + std::to_string(proxy.port()) + ";lr";
  worker_->post(d);
  auto inv = proxy.receive_request("INVITE", 2000);
  ASSERT_TRUE(inv.has_value());
  EXPECT_EQ(start_line(inv->text), "INVITE sip:bob@192.0.2.1 SIP/2.0");
  EXPECT_EQ(header(inv->text, "Route"), "<sip:127.0.0.1:" + std::to_string(proxy.port()) + ";lr>");
  EXPECT_EQ(header(inv->text, "To"), "<sip:bob@192.0.2.1>");
  proxy.send(reply(inv->text, 183, "Session Progress", "callee-11"));
  worker_->post(CancelDial{"session-1", 11});
  auto cancel = proxy.receive_request("CANCEL", 2000);
  ASSERT_TRUE(cancel.has_value());
  EXPECT_EQ(start_line(cancel->text), "CANCEL sip:bob@192.0.2.1 SIP/2.0");
  EXPECT_EQ(header(cancel->text, "Route"), header(inv->text, "Route"));
}

// A Dial that cannot be sent (no DNS resolver for a host name) fails at once.
TEST_F(DialWire, UnsendableDialFailsAtOnce) {
  Peer peer(false, worker_->port());
  Dial d = dial(peer, 12);
  d.request_uri = "sip:bob@invitee.invalid";
  worker_->post(d);
  auto failed = sink_.wait_dial(12, DialEventKind::Failed, 2000);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, 503);
}

// Over TCP: one INVITE (no Timer A) on the connection the peer opened; a 200
// is answered and ACKed on it; an unanswered one still fails at Timer B.
TEST_F(DialWire, OverTcpNoRetransmissionAnsweredAndTimerB) {
  Peer peer(true, worker_->port());
  ASSERT_TRUE(peer.ok());
  peer.send("\r\n\r\n");  // let the worker accept and register the connection
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto [inv, dialog] = answered(peer, 13, "callee-13", true);
  ASSERT_NE(dialog, 0u);
  EXPECT_NE(header(inv, "Via").find("SIP/2.0/TCP"), std::string::npos);

  worker_->post(dial(peer, 14, true));
  auto first = peer.receive_request("INVITE", 2000);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(count_requests(peer, "INVITE", 64 * kT1 - 100), 0u) << "no retransmission over TCP";
  EXPECT_EQ(sink_.dial_count(14, DialEventKind::Failed), 0u) << "not before Timer B";
  auto failed = sink_.wait_dial(14, DialEventKind::Failed, 1500);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, 408);
}


// ------------------------------------------------- challenged dial-out (§9.2)

// `response` with one more header line (before Content-Length).
std::string with_header(const std::string& response, const std::string& line) {
  const size_t p = response.find("Content-Length:");
  return response.substr(0, p) + line + "\r\n" + response.substr(p);
}

// The parameters of a Digest credentials value, unquoted.
std::map<std::string, std::string> digest_params(const std::string& value) {
  std::map<std::string, std::string> out;
  if (value.rfind("Digest ", 0) != 0) return out;
  size_t i = 7;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ' ' || value[i] == ',')) ++i;
    const size_t eq = value.find('=', i);
    if (eq == std::string::npos) break;
    const std::string name = value.substr(i, eq - i);
    i = eq + 1;
    std::string v;
    if (i < value.size() && value[i] == '"') {
      for (++i; i < value.size() && value[i] != '"'; ++i) {
        if (value[i] == '\\') ++i;
        v += value[i];
      }
      ++i;
    } else {
      const size_t end = value.find(',', i);
      v = value.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? value.size() : end;
    }
    out[name] = v;
  }
  return out;
}

// The Request-URI of a request's start line.
std::string request_uri_of(const std::string& req) {
  const std::string line = start_line(req);
  const size_t a = line.find(' ') + 1;
  return line.substr(a, line.rfind(' ') - a);
}

class DialChallenge : public DialWire {
 protected:
  // A peer, connected and known to the worker when it is TCP.
  std::unique_ptr<Peer> open_peer(bool tcp) {
    auto peer = std::make_unique<Peer>(tcp, worker_->port());
    EXPECT_TRUE(peer->ok());
    if (tcp) {
      peer->send("\r\n\r\n");  // let the worker accept and register the connection
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return peer;
  }

  // The next INVITE other than a copy of the one with `old_branch` (Timer A
  // copies of the challenged INVITE may cross its 401/407 on UDP).
  std::optional<Peer::Received> next_new_invite(Peer& peer, const std::string& old_branch, int timeout_ms) {
    const int64_t until = now_ms() + timeout_ms;
    while (now_ms() < until) {
      auto m = peer.receive_request("INVITE", static_cast<int>(until - now_ms()));
      if (!m) return std::nullopt;
      if (branch_of(m->text) != old_branch) return m;
    }
    return std::nullopt;
  }

  // INVITEs in the next `ms` with a branch not in `known`.
  size_t count_new_invites(Peer& peer, const std::vector<std::string>& known, int ms) {
    size_t n = 0;
    const int64_t until = now_ms() + ms;
    while (now_ms() < until) {
      auto m = peer.receive(static_cast<int>(std::max<int64_t>(1, until - now_ms())));
      if (m && m->text.rfind("INVITE ", 0) == 0 &&
          std::find(known.begin(), known.end(), branch_of(m->text)) == known.end())
        ++n;
    }
    return n;
  }

  // The ACK of a non-2xx final to `inv`: on its branch, with its CSeq number.
  void expect_final_ack(Peer& peer, const std::string& inv, const std::string& to_tag) {
    auto ack = peer.receive_request("ACK", 2000);
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(header(ack->text, "Via"), header(inv, "Via"));
    EXPECT_EQ(header(ack->text, "CSeq"), std::to_string(cseq_number(inv)) + " ACK");
    EXPECT_EQ(header(ack->text, "To"), header(inv, "To") + ";tag=" + to_tag);
  }

  // The retry of `first`: same Call-ID, From (with its tag), To (no tag) and
  // Request-URI, CSeq + 1, a new branch.
  void expect_retry_of(const std::string& first, const std::string& retry) {
    EXPECT_EQ(start_line(retry), start_line(first));
    EXPECT_EQ(header(retry, "Call-ID"), header(first, "Call-ID"));
    EXPECT_EQ(header(retry, "From"), header(first, "From"));
    EXPECT_NE(header(retry, "From").find(";tag="), std::string::npos);
    EXPECT_EQ(header(retry, "To"), header(first, "To"));
    EXPECT_EQ(header(retry, "To").find("tag="), std::string::npos);
    EXPECT_EQ(header(retry, "CSeq"), std::to_string(cseq_number(first) + 1) + " INVITE");
    EXPECT_NE(branch_of(retry), branch_of(first));
    EXPECT_EQ(branch_of(retry).rfind("z9hG4bK", 0), 0u);
    EXPECT_EQ(header(retry, "Contact"), header(first, "Contact"));
    EXPECT_EQ(header(retry, "Subject"), header(first, "Subject"));
    EXPECT_EQ(body_of(retry), body_of(first));
  }

  // (1) TC-O09's first half: 407 with a qop="auth" challenge -> ACK, retry
  // with Proxy-Authorization (the response checked against our own MD5),
  // 200 -> Answered once, and the ACK carries CSeq + 1 and the credentials.
  void proxy_challenge_then_answered(bool tcp, uint64_t token) {
    auto peer = open_peer(tcp);
    const std::string inv1 = dial_and_receive(*peer, token, tcp);
    ASSERT_FALSE(inv1.empty());
    peer->send(with_header(reply(inv1, 407, "Proxy Authentication Required", "proxy-1"),
                           "Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"n0nce-407\", "
                           "qop=\"auth,auth-int\", algorithm=MD5, opaque=\"opq-1\""));
    expect_final_ack(*peer, inv1, "proxy-1");
    auto retry = next_new_invite(*peer, branch_of(inv1), 2000);
    ASSERT_TRUE(retry.has_value());
    const std::string& inv2 = retry->text;
    expect_retry_of(inv1, inv2);
    EXPECT_EQ(header(inv2, "Authorization"), "");
    const std::string cred = header(inv2, "Proxy-Authorization");
    auto p = digest_params(cred);
    EXPECT_EQ(p["username"], "imserver");
    EXPECT_EQ(p["realm"], "example.com");
    EXPECT_EQ(p["nonce"], "n0nce-407");
    EXPECT_EQ(p["uri"], request_uri_of(inv2));
    EXPECT_EQ(p["qop"], "auth");
    EXPECT_EQ(p["nc"], "00000001");
    EXPECT_EQ(p["opaque"], "opq-1");
    EXPECT_FALSE(p["cnonce"].empty());
    const std::string ha1 = md5_hex("imserver:example.com:pw");
    const std::string ha2 = md5_hex("INVITE:" + request_uri_of(inv2));
    EXPECT_EQ(p["response"], md5_hex(ha1 + ":n0nce-407:00000001:" + p["cnonce"] + ":auth:" + ha2)) << cred;
    EXPECT_EQ(sink_.dial_count(token, DialEventKind::Failed), 0u) << "the challenge is not reported";

    peer->send(reply(inv2, 200, "OK", "callee-c", callee_contact(*peer, tcp), kAnswer));
    auto answered = sink_.wait_dial(token, DialEventKind::Answered, 2000);
    ASSERT_TRUE(answered.has_value());
    EXPECT_NE(answered->dialog, 0u);
    auto ack = peer->receive_request("ACK", 2000);
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(header(ack->text, "CSeq"), std::to_string(cseq_number(inv2)) + " ACK");
    EXPECT_EQ(header(ack->text, "To"), header(inv2, "To") + ";tag=callee-c");
    EXPECT_NE(branch_of(ack->text), branch_of(inv2));
    EXPECT_EQ(header(ack->text, "Proxy-Authorization"), cred) << "the ACK carries the INVITE's credentials";
    std::this_thread::sleep_for(std::chrono::milliseconds(4 * kT1));
    EXPECT_EQ(sink_.dial_count(token, DialEventKind::Answered), 1u);
    EXPECT_EQ(sink_.dial_count(token, DialEventKind::Failed), 0u);
  }

  // (2) 401 with an RFC 2069 challenge (no qop) -> retry with
  // Authorization in the RFC 2069 form; 200 -> Answered.
  void www_challenge_then_answered(bool tcp, uint64_t token) {
    auto peer = open_peer(tcp);
    const std::string inv1 = dial_and_receive(*peer, token, tcp);
    ASSERT_FALSE(inv1.empty());
    peer->send(with_header(reply(inv1, 401, "Unauthorized", "uas-1"),
                           "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n0nce-401\""));
    expect_final_ack(*peer, inv1, "uas-1");
    auto retry = next_new_invite(*peer, branch_of(inv1), 2000);
    ASSERT_TRUE(retry.has_value());
    const std::string& inv2 = retry->text;
    expect_retry_of(inv1, inv2);
    EXPECT_EQ(header(inv2, "Proxy-Authorization"), "");
    const std::string cred = header(inv2, "Authorization");
    auto p = digest_params(cred);
    EXPECT_EQ(p["username"], "imserver");
    EXPECT_EQ(p["realm"], "example.com");
    EXPECT_EQ(p["nonce"], "n0nce-401");
    EXPECT_EQ(p["uri"], request_uri_of(inv2));
    EXPECT_EQ(p.count("qop"), 0u);
    EXPECT_EQ(p.count("nc"), 0u);
    EXPECT_EQ(p.count("cnonce"), 0u);
    const std::string ha1 = md5_hex("imserver:example.com:pw");
    const std::string ha2 = md5_hex("INVITE:" + request_uri_of(inv2));
    EXPECT_EQ(p["response"], md5_hex(ha1 + ":n0nce-401:" + ha2)) << cred;

    peer->send(reply(inv2, 200, "OK", "callee-w", callee_contact(*peer, tcp), kAnswer));
    ASSERT_TRUE(sink_.wait_dial(token, DialEventKind::Answered, 2000).has_value());
    auto ack = peer->receive_request("ACK", 2000);
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(header(ack->text, "CSeq"), std::to_string(cseq_number(inv2)) + " ACK");
    EXPECT_EQ(header(ack->text, "Authorization"), cred);
    EXPECT_EQ(sink_.dial_count(token, DialEventKind::Failed), 0u);
  }

  // (3) TC-O09's second half: the retry is challenged again -> ACK on the
  // retry's branch, no third INVITE, Failed 407 once.
  void challenged_twice_fails(bool tcp, uint64_t token) {
    auto peer = open_peer(tcp);
    const std::string inv1 = dial_and_receive(*peer, token, tcp);
    ASSERT_FALSE(inv1.empty());
    const std::string challenge = "Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\"";
    peer->send(with_header(reply(inv1, 407, "Proxy Authentication Required", "proxy-1"), challenge));
    expect_final_ack(*peer, inv1, "proxy-1");
    auto retry = next_new_invite(*peer, branch_of(inv1), 2000);
    ASSERT_TRUE(retry.has_value());
    const std::string inv2 = retry->text;
    EXPECT_NE(header(inv2, "Proxy-Authorization"), "");
    EXPECT_EQ(sink_.dial_count(token, DialEventKind::Failed), 0u);
    peer->send(with_header(reply(inv2, 407, "Proxy Authentication Required", "proxy-2"),
                           "Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"n2\", qop=\"auth\""));
    auto failed = sink_.wait_dial(token, DialEventKind::Failed, 2000);
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->status, 407);
    EXPECT_EQ(failed->reason, "Proxy Authentication Required");
    expect_final_ack(*peer, inv2, "proxy-2");
    EXPECT_EQ(count_new_invites(*peer, {branch_of(inv1), branch_of(inv2)}, 8 * kT1), 0u) << "no third INVITE";
    EXPECT_EQ(sink_.dial_count(token, DialEventKind::Failed), 1u);
    EXPECT_EQ(sink_.dial_count(token, DialEventKind::Answered), 0u);
  }

  // (4) A challenge for a realm we hold nothing for: Failed 407 at once,
  // the 407 ACKed, no second INVITE.
  void unknown_realm_fails(bool tcp, uint64_t token) {
    auto peer = open_peer(tcp);
    const std::string inv1 = dial_and_receive(*peer, token, tcp);
    ASSERT_FALSE(inv1.empty());
    peer->send(with_header(reply(inv1, 407, "Proxy Authentication Required", "proxy-x"),
                           "Proxy-Authenticate: Digest realm=\"elsewhere.example.org\", nonce=\"nx\""));
    auto failed = sink_.wait_dial(token, DialEventKind::Failed, 2000);
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->status, 407);
    expect_final_ack(*peer, inv1, "proxy-x");
    EXPECT_EQ(count_new_invites(*peer, {branch_of(inv1)}, 8 * kT1), 0u) << "no retry";
    EXPECT_EQ(sink_.dial_count(token, DialEventKind::Failed), 1u);
  }

  // CancelDial after the retry: the CANCEL goes to the retried transaction
  // (its branch and CSeq) once it has a provisional; 487 -> Failed 487 once.
  void cancel_after_retry(bool tcp, uint64_t token) {
    auto peer = open_peer(tcp);
    const std::string inv1 = dial_and_receive(*peer, token, tcp);
    ASSERT_FALSE(inv1.empty());
    peer->send(with_header(reply(inv1, 407, "Proxy Authentication Required", "proxy-1"),
                           "Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"nc1\""));
    auto retry = next_new_invite(*peer, branch_of(inv1), 2000);
    ASSERT_TRUE(retry.has_value());
    const std::string inv2 = retry->text;
    peer->send(reply(inv2, 180, "Ringing", "callee-r", callee_contact(*peer, tcp)));
    ASSERT_TRUE(sink_.wait_dial(token, DialEventKind::Provisional, 2000).has_value());
    worker_->post(CancelDial{"session-1", token});
    auto cancel = peer->receive_request("CANCEL", 2000);
    ASSERT_TRUE(cancel.has_value());
    EXPECT_EQ(header(cancel->text, "Via"), header(inv2, "Via"));
    EXPECT_EQ(header(cancel->text, "CSeq"), std::to_string(cseq_number(inv2)) + " CANCEL");
    EXPECT_EQ(header(cancel->text, "To"), header(inv2, "To"));
    peer->send(reply(cancel->text, 200, "OK", "callee-r"));
    peer->send(reply(inv2, 487, "Request Terminated", "callee-r"));
    auto failed = sink_.wait_dial(token, DialEventKind::Failed, 2000);
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->status, 487);
    expect_final_ack(*peer, inv2, "callee-r");
    std::this_thread::sleep_for(std::chrono::milliseconds(4 * kT1));
    EXPECT_EQ(sink_.dial_count(token, DialEventKind::Failed), 1u);
  }
};

TEST_F(DialChallenge, ProxyChallengeRetriedAndAnsweredUdp) { proxy_challenge_then_answered(false, 31); }
TEST_F(DialChallenge, ProxyChallengeRetriedAndAnsweredTcp) { proxy_challenge_then_answered(true, 32); }
TEST_F(DialChallenge, WwwChallengeRetriedAndAnsweredUdp) { www_challenge_then_answered(false, 33); }
TEST_F(DialChallenge, WwwChallengeRetriedAndAnsweredTcp) { www_challenge_then_answered(true, 34); }
TEST_F(DialChallenge, SecondChallengeFailsUdp) { challenged_twice_fails(false, 35); }
TEST_F(DialChallenge, SecondChallengeFailsTcp) { challenged_twice_fails(true, 36); }
TEST_F(DialChallenge, UnknownRealmFailsAtOnceUdp) { unknown_realm_fails(false, 37); }
TEST_F(DialChallenge, UnknownRealmFailsAtOnceTcp) { unknown_realm_fails(true, 38); }
TEST_F(DialChallenge, CancelDialReachesTheRetryUdp) { cancel_after_retry(false, 39); }
TEST_F(DialChallenge, CancelDialReachesTheRetryTcp) { cancel_after_retry(true, 40); }


// The default configuration (no dialout.credentials at all): a 407 fails
// the dial at once, as before there were credentials.
class DialNoCredentials : public DialChallenge {
 protected:
  DialNoCredentials() { with_credentials_ = false; }
};

TEST_F(DialNoCredentials, ChallengeFailsAtOnce) {
  auto peer = open_peer(false);
  const std::string inv1 = dial_and_receive(*peer, 41);
  ASSERT_FALSE(inv1.empty());
  peer->send(with_header(reply(inv1, 407, "Proxy Authentication Required", "proxy-n"),
                         "Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"nn\""));
  auto failed = sink_.wait_dial(41, DialEventKind::Failed, 2000);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, 407);
  expect_final_ack(*peer, inv1, "proxy-n");
  EXPECT_EQ(count_new_invites(*peer, {branch_of(inv1)}, 8 * kT1), 0u);
}

}  // namespace
}  // namespace imserver::transport
