// Dial-out to a resource list (SESSIONS.md §2.1-§2.7, §4.3, §9.1-§9.3) on
// the wire: TC-J01-J09, J11, J12, J17, J25, TC-S10, TC-O06-O08, O11, O12,
// E40. Invitees are SipUas of their own (dialout_fixture.hpp).

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "tests/conference/dialout_fixture.hpp"

namespace imserver::testclient {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string branch_of(const SipMessage& m) {
  const std::string via = m.header("Via").value_or("");
  const auto at = via.find("branch=");
  if (at == std::string::npos) return "";
  return via.substr(at + 7, via.find_first_of(";, ", at + 7) - at - 7);
}

const DocEndpoint* endpoint_of(const ConferenceDoc& doc, const std::string& user, const std::string& entity) {
  const DocUser* u = doc.find_user(user);
  return u ? u->find_endpoint(entity) : nullptr;
}

// Example J2's shape (SESSIONS.md §2.6; TC-J04, J17): in a partial
// document, `user` is partial, its provisional endpoint deleted, and the
// real endpoint present and connected by `method`. Returns the real one.
const DocEndpoint* expect_replaced(const ConferenceDoc& doc, const std::string& body, const std::string& user,
                                   const std::string& provisional, const std::string& real,
                                   const std::string& method) {
  const DocUser* u = doc.find_user(user);
  if (!u) {
    ADD_FAILURE() << "no user " << user << "\n" << body;
    return nullptr;
  }
  EXPECT_EQ(u->state, "partial") << body;
  const auto* gone = u->find_endpoint(provisional);
  if (!gone) ADD_FAILURE() << "no provisional endpoint " << provisional << "\n" << body;
  else EXPECT_EQ(gone->state, "deleted") << body;
  const auto* now = u->find_endpoint(real);
  if (!now) {
    ADD_FAILURE() << "no endpoint " << real << "\n" << body;
    return nullptr;
  }
  EXPECT_EQ(now->status, "connected") << body;
  EXPECT_EQ(now->joining_method, method) << body;
  return now;
}

// TC-J01, TC-J02 (§2.3, §2.4): the creator's 200 first, then one dial-out
// INVITE per invitee with the §2.4 headers and the recipient-list-history.
TEST_P(DialoutTest, CreationAnswerThenDialOutsWithHistory) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  auto r = create("alice", to_all({"bob", "carol"}));
  ASSERT_TRUE(r.ok) << r.error << "\n" << r.final.raw;
  const std::string contact = r.final.header("Contact").value_or("");
  EXPECT_TRUE(contains(contact, "<sip:gs-1@im.example.com>") && contains(contact, "isfocus") &&
              contains(contact, "+g.oma.sip-im"))
      << contact;
  const std::string allow = r.final.header("Allow").value_or("");
  for (const char* m : {"INVITE", "ACK", "BYE", "SUBSCRIBE"}) EXPECT_TRUE(contains(allow, m)) << allow;
  EXPECT_FALSE(contains(r.final.header("Supported").value_or(""), "recipient-list-invite"));

  auto b = dialout("bob");
  auto c = dialout("carol");
  ASSERT_TRUE(b && c) << invitee("bob").ua->transcript();
  EXPECT_NE(b->call_id(), c->call_id());
  for (const auto* inv : {&*b, &*c}) {
    const std::string name = inv == &*b ? "bob" : "carol";
    // Two reader threads on two sockets timestamp the arrivals, so a loaded
    // machine can reorder them by a scheduling delay; the strict order is
    // checked in DialOutsWaitForTheCreators200.
    EXPECT_GE(inv->received_at + 100ms, r.final.received_at) << name << ": dial-out before the creator's 200";
    EXPECT_EQ(inv->request_uri, invitee_uri(name));
    EXPECT_TRUE(contains(inv->header("To").value_or(""), invitee_uri(name)));
    EXPECT_FALSE(contains(inv->header("To").value_or(""), ";tag="));
    EXPECT_TRUE(contains(inv->header("From").value_or(""), "sip:gs-1@im.example.com"));
    EXPECT_TRUE(contains(inv->header("From").value_or(""), ";tag="));
    EXPECT_TRUE(contains(inv->header("Contact").value_or(""), "sip:gs-1@im.example.com") &&
                contains(inv->header("Contact").value_or(""), "isfocus"));
    EXPECT_EQ(inv->header("Referred-By").value_or(""), "<sip:alice@example.com>");
    EXPECT_EQ(inv->header("Subject").value_or(""), "Project sync");
    EXPECT_TRUE(contains(inv->header("Content-Type").value_or(""), "multipart/mixed"));
    const std::string offer = offer_of(*inv);
    EXPECT_TRUE(contains(offer, "m=message " + std::to_string(server_.msrp_port()) + " TCP/MSRP *")) << offer;
    EXPECT_EQ(sdp_attr(offer, "accept-types"), "message/cpim");
    EXPECT_EQ(sdp_attr(offer, "setup"), "actpass");
    EXPECT_EQ(sdp_attr(offer, "path").rfind("msrp://127.0.0.1:" + std::to_string(server_.msrp_port()) + "/", 0), 0u);
    EXPECT_TRUE(contains(inv->body, "Content-Disposition: recipient-list-history; handling=optional")) << inv->body;
    // Exactly the two invitees, both `to`.
    size_t entries = 0;
    for (size_t at = inv->body.find("<entry"); at != std::string::npos; at = inv->body.find("<entry", at + 1)) ++entries;
    EXPECT_EQ(entries, 2u) << inv->body;
    EXPECT_TRUE(contains(inv->body, invitee_uri("bob")) && contains(inv->body, invitee_uri("carol")));
    EXPECT_TRUE(contains(inv->body, "copyControl=\"to\"")) << inv->body;
  }
}

// §2.3 step 4: with the creator's 2xx held back (test hook: 180, then the
// 2xx 800 ms later) no dial-out leaves before it.
TEST_P(DialoutTest, DialOutsWaitForTheCreators200) {
  start_dialout({"--test.answer-delay-ms=800"});
  invitee("bob");
  auto& alice = *user("alice").ua;
  auto tx = alice.send_request("INVITE", kFactory, kFactory, "Require: recipient-list-invite\r\n",
                               std::string("multipart/mixed;boundary=") + kListBoundary,
                               multipart(alice.sdp_offer(), list_xml(to_all({"bob"}))));
  EXPECT_TRUE(invitee("bob").ua->nothing_arrives("INVITE", 500ms)) << "dial-out while the 2xx is held";
  auto ok = alice.final_response(tx, 3s);
  ASSERT_TRUE(ok && ok->status == 200) << alice.transcript();
  alice.send_ack(tx, *ok);
  EXPECT_TRUE(dialout("bob", 3s));
}

// TC-J03, TC-J04 (§2.5, §2.6, §7.3): invitees show as dialing-out; Bob
// accepts (active), binds his MSRP leg; the provisional endpoint is deleted
// and the real one added in one partial document.
TEST_P(DialoutTest, InviteesDialingOutThenOneAccepts) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  ASSERT_TRUE(create("alice", to_all({"bob", "carol"})).ok);
  auto b = dialout("bob");
  auto c = dialout("carol");
  ASSERT_TRUE(b && c);
  invitee("bob").ua->respond(*b, 100, "Trying");
  invitee("carol").ua->respond(*c, 100, "Trying");

  auto first = subscribe("alice");
  auto doc = parse_conference_doc(first.body);
  EXPECT_EQ(doc.state, "full");
  EXPECT_EQ(doc.user_count.value_or(99), 1u) << first.body;
  EXPECT_EQ(doc.maximum_user_count.value_or(0), 5u) << first.body;
  ASSERT_TRUE(endpoint_of(doc, "sip:alice@example.com", user("alice").ua->contact_uri())) << first.body;
  for (const std::string name : {"bob", "carol"}) {
    const auto* ep = endpoint_of(doc, invitee_aor(name), invitee_uri(name));
    ASSERT_TRUE(ep) << name << "\n" << first.body;
    EXPECT_EQ(ep->status, "dialing-out");
    EXPECT_EQ(ep->referred_by, "sip:alice@example.com");
    EXPECT_FALSE(ep->has_media);
  }

  const std::string bob_path = answer("bob", *b, "active");
  auto ack = ack_for("bob", *b);
  ASSERT_TRUE(ack) << invitee("bob").ua->transcript();
  EXPECT_EQ(ack->cseq_number(), b->cseq_number());
  EXPECT_EQ(ack->cseq_method(), "ACK");
  EXPECT_TRUE(contains(ack->header("To").value_or(""), "tag=" + invitee("bob").ua->local_to_tag()));
  EXPECT_TRUE(bind_msrp("bob", *b, bob_path)) << (msrp_["bob"] ? msrp_["bob"]->transcript() : "");

  auto n = next_notify("alice");
  ASSERT_TRUE(n);
  auto partial = check_notify("alice", *n);
  EXPECT_EQ(partial.state, "partial");
  EXPECT_EQ(partial.user_count.value_or(99), 2u) << n->body;
  const auto* real = expect_replaced(partial, n->body, invitee_aor("bob"), invitee_uri("bob"),
                                    invitee("bob").ua->contact_uri(), "dialed-out");
  ASSERT_TRUE(real);
  EXPECT_EQ(real->referred_by, "sip:alice@example.com");
}

// TC-J05, TC-J06, TC-J08, E36 (§2.5, §2.7): a decline and a busy are reported;
// when nobody is left pending the session is released and Alice gets its BYE.
TEST_P(DialoutTest, DeclineBusyAndReleaseWhenAllFail) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  ASSERT_TRUE(create("alice", to_all({"bob", "carol"})).ok);
  auto b = dialout("bob");
  auto c = dialout("carol");
  ASSERT_TRUE(b && c);
  subscribe("alice");

  invitee("carol").ua->respond(*c, 603, "Decline");
  auto ack = ack_for("carol", *c);
  ASSERT_TRUE(ack) << "the focus must ACK the 603";
  EXPECT_EQ(branch_of(*ack), branch_of(*c)) << "a non-2xx is ACKed in its INVITE transaction";
  auto n = next_notify("alice");
  ASSERT_TRUE(n);
  auto doc = check_notify("alice", *n);
  const auto* carol = endpoint_of(doc, invitee_aor("carol"), invitee_uri("carol"));
  ASSERT_TRUE(carol) << n->body;
  EXPECT_EQ(carol->status, "disconnected");
  EXPECT_EQ(carol->disconnection_method, "failed");
  EXPECT_TRUE(contains(carol->disconnection_reason, "cause=603")) << carol->disconnection_reason;
  EXPECT_EQ(doc.user_count.value_or(99), 1u);
  EXPECT_TRUE(user("alice").ua->nothing_arrives("BYE", 1s)) << "Bob is still pending";

  invitee("bob").ua->respond(*b, 486, "Busy Here");
  auto bye = user("alice").ua->wait_request("BYE", 5s);
  ASSERT_TRUE(bye) << "all invitees failed: the session is released (E36)";
  EXPECT_EQ(bye->call_id(), user("alice").invite.call_id);
  auto last = next_notify("alice");
  ASSERT_TRUE(last);
  auto final_doc = check_notify("alice", *last, true);
  EXPECT_TRUE(contains(last->header("Subscription-State").value_or(""), "noresource"));
  EXPECT_EQ(final_doc.active, std::optional<bool>(false)) << last->body;
  EXPECT_EQ(final_doc.user_count.value_or(99), 0u) << last->body;
  const auto* bob = endpoint_of(final_doc, invitee_aor("bob"), invitee_uri("bob"));
  ASSERT_TRUE(bob) << last->body;
  EXPECT_EQ(bob->disconnection_method, "busy");
  // TC-J08: the identity is gone.
  auto again = invitee("dan").ua->join(kGs1);
  EXPECT_EQ(again.final.status, 404) << again.final.raw;
}

// TC-J07 (§2.5, §9.2): a 180 and nothing more; the CANCEL comes after
// dialout.no-answer-timeout-s and matches the INVITE; cause 487.
TEST_P(DialoutTest, NoAnswerIsCancelled) {
  start_dialout({"--dialout.no-answer-timeout-s=2"});
  invitee("bob");
  invitee("carol");
  ASSERT_TRUE(create("alice", to_all({"bob", "carol"})).ok);
  auto b = dialout("bob");
  auto c = dialout("carol");
  ASSERT_TRUE(b && c);
  subscribe("alice");
  invitee("bob").ua->respond(*b, 180, "Ringing");
  invitee("carol").ua->respond(*c, 180, "Ringing");
  EXPECT_TRUE(user("alice").ua->nothing_arrives("NOTIFY", 1s)) << "no NOTIFY for a 180 (conf.report_alerting=false)";
  auto cancel = invitee("carol").ua->wait_request("CANCEL", 4s);
  ASSERT_TRUE(cancel) << invitee("carol").ua->transcript();
  const double after_s = std::chrono::duration<double>(cancel->received_at - c->received_at).count();
  EXPECT_NEAR(after_s, 2.0, 0.6);
  EXPECT_EQ(cancel->request_uri, c->request_uri);
  EXPECT_EQ(cancel->call_id(), c->call_id());
  EXPECT_EQ(cancel->header("From").value_or(""), c->header("From").value_or(""));
  EXPECT_EQ(cancel->header("To").value_or(""), c->header("To").value_or(""));
  EXPECT_EQ(branch_of(*cancel), branch_of(*c));
  EXPECT_EQ(cancel->cseq_number(), c->cseq_number());
  EXPECT_EQ(cancel->cseq_method(), "CANCEL");
  invitee("carol").ua->respond(*cancel, 200, "OK");
  invitee("carol").ua->respond(*c, 487, "Request Terminated");
  EXPECT_TRUE(ack_for("carol", *c)) << "the focus ACKs the 487";
  // Bob is cancelled too; both failures reach Alice (possibly in one
  // document, the last one when the session is released).
  if (auto bc = invitee("bob").ua->wait_request("CANCEL", 3s)) {
    invitee("bob").ua->respond(*bc, 200, "OK");
    invitee("bob").ua->respond(*b, 487, "Request Terminated");
  }
  bool seen = false;
  for (int i = 0; i < 3 && !seen; ++i) {
    auto n = next_notify("alice");
    if (!n) break;
    auto doc = parse_conference_doc(n->body);
    if (const auto* carol = endpoint_of(doc, invitee_aor("carol"), invitee_uri("carol"))) {
      seen = true;
      EXPECT_EQ(carol->disconnection_method, "failed");
      EXPECT_TRUE(contains(carol->disconnection_reason, "cause=487")) << n->body;
    }
  }
  EXPECT_TRUE(seen);
}

// TC-J09 (§2.7): a ringing invitee keeps the session alive after the only
// other invitee left; its decline then releases it.
TEST_P(DialoutTest, PendingInviteeKeepsTheSession) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  ASSERT_TRUE(create("alice", to_all({"bob", "carol"})).ok);
  auto b = dialout("bob");
  auto c = dialout("carol");
  ASSERT_TRUE(b && c);
  subscribe("alice");
  invitee("carol").ua->respond(*c, 180, "Ringing");
  answer("bob", *b, "active");
  ASSERT_TRUE(ack_for("bob", *b));
  Dialog d = uas_dialog(*b, invitee("bob").ua->local_to_tag(), invitee_aor("bob"));
  auto bye_ok = invitee("bob").ua->bye(d);
  ASSERT_TRUE(bye_ok && bye_ok->status == 200) << invitee("bob").ua->transcript();
  EXPECT_TRUE(user("alice").ua->nothing_arrives("BYE", 2s)) << "Carol is still pending (R1 counts her)";
  invitee("carol").ua->respond(*c, 603, "Decline");
  EXPECT_TRUE(user("alice").ua->wait_request("BYE", 5s)) << "nobody is left: released";
  for (int i = 0; i < 4; ++i) {
    auto n = next_notify("alice");
    ASSERT_TRUE(n);
    if (contains(n->header("Subscription-State").value_or(""), "terminated")) {
      EXPECT_TRUE(contains(n->header("Subscription-State").value_or(""), "noresource"));
      return;
    }
  }
  ADD_FAILURE() << "Alice's subscription did not end";
}

// TC-J11 (§2.2, E31, E33): duplicates merge, the creator, other schemes
// and the server's own URIs are dropped; bcc and anonymized entries are
// handled in the history.
TEST_P(DialoutTest, ListHygiene) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  invitee("dan");
  std::vector<Entry> entries = {
      {invitee_uri("bob"), "to", false},       {invitee_uri("bob"), "cc", false},
      {invitee_uri("carol"), "", false},       {"sip:alice@example.com", "to", false},
      {"mailto:x@example.com", "to", false},   {"sip:gs-9@im.example.com", "to", false},
      {invitee_uri("dan"), "cc", true},
  };
  ASSERT_TRUE(create("alice", entries).ok);
  for (const std::string name : {"bob", "carol", "dan"}) {
    auto inv = dialout(name);
    ASSERT_TRUE(inv) << name;
    invitee(name).ua->respond(*inv, 100, "Trying");  // no Timer A copies from here on
    size_t n = 0;
    for (size_t at = inv->body.find("<entry"); at != std::string::npos; at = inv->body.find("<entry", at + 1)) ++n;
    EXPECT_EQ(n, 2u) << inv->body;
    EXPECT_TRUE(contains(inv->body, invitee_uri("bob"))) << inv->body;
    EXPECT_TRUE(contains(inv->body, "sip:anonymous@anonymous.invalid")) << inv->body;
    EXPECT_FALSE(contains(inv->body, invitee_uri("carol"))) << "bcc stays hidden";
    EXPECT_FALSE(contains(inv->body, invitee_uri("dan"))) << "anonymized";
  }
  EXPECT_TRUE(invitee("bob").ua->nothing_arrives("INVITE", 1s)) << "one INVITE per distinct invitee";
}

// TC-J12 (§2.1 C7): more invitees than max_participants - 1.
TEST_P(DialoutTest, TooManyInvitees) {
  start_dialout();
  std::vector<std::string> names = {"bob", "carol", "dan", "eve", "henry"};
  for (const auto& n : names) invitee(n);
  auto r = create("alice", to_all(names));
  EXPECT_EQ(r.final.status, 403) << r.final.raw;
  EXPECT_TRUE(contains(r.final.header("Warning").value_or(""), "399")) << r.final.raw;
  for (const auto& n : names) EXPECT_TRUE(invitee(n).ua->nothing_arrives("INVITE", n == "bob" ? 1s : 0s)) << n;
}

// TC-J10 (b) (§2.1 C6, E30): a list that is not well-formed XML gets 400;
// nothing is dialled and the next valid creation still gets gs-1.
TEST_P(DialoutTest, BrokenListIsRefused) {
  start_dialout();
  invitee("bob");
  auto& alice = *user("alice").ua;
  std::string list = list_xml(to_all({"bob"}));
  list.resize(list.size() - 10);  // cut off the closing tags
  auto bad = alice.invite(kFactory, "Require: recipient-list-invite\r\n",
                          std::string("multipart/mixed;boundary=") + kListBoundary,
                          multipart(alice.sdp_offer(), list));
  EXPECT_EQ(bad.final.status, 400) << bad.final.raw;
  EXPECT_TRUE(invitee("bob").ua->nothing_arrives("INVITE", 1s));
  auto good = create("alice", to_all({"bob"}));
  ASSERT_TRUE(good.ok) << good.final.raw;
  EXPECT_TRUE(contains(good.final.header("Contact").value_or(""), "sip:gs-1@im.example.com"));
}

// TC-J17 (§4.2, §2.6): an invitee who declined may dial in; its failed
// provisional endpoint is deleted and the dial-in endpoint added.
TEST_P(DialoutTest, DeclinedInviteeDialsIn) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  ASSERT_TRUE(create("alice", to_all({"bob", "carol"})).ok);
  auto b = dialout("bob");
  auto c = dialout("carol");
  ASSERT_TRUE(b && c);
  invitee("bob").ua->respond(*b, 180, "Ringing");  // keeps the session alive
  subscribe("alice");
  invitee("carol").ua->respond(*c, 603, "Decline");
  auto n1 = next_notify("alice");
  ASSERT_TRUE(n1);
  check_notify("alice", *n1);
  auto j = invitee("carol").ua->join(kGs1);
  ASSERT_TRUE(j.ok) << j.final.raw;
  auto n2 = next_notify("alice");
  ASSERT_TRUE(n2);
  auto doc = check_notify("alice", *n2);
  EXPECT_TRUE(expect_replaced(doc, n2->body, invitee_aor("carol"), invitee_uri("carol"),
                              invitee("carol").ua->contact_uri(), "dialed-in"));
}

// TC-J25 (§4.3, E38): Bob dials in while his dial-out rings: the dial-out
// is cancelled, and no document shows two connected endpoints for him.
TEST_P(DialoutTest, InviteeDialsInWhileDialled) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  ASSERT_TRUE(create("alice", to_all({"bob", "carol"})).ok);
  auto b = dialout("bob");
  auto c = dialout("carol");
  ASSERT_TRUE(b && c);
  invitee("carol").ua->respond(*c, 180, "Ringing");
  subscribe("alice");
  invitee("bob").ua->respond(*b, 180, "Ringing");
  auto j = invitee("bob").ua->join(kGs1);
  ASSERT_TRUE(j.ok) << j.final.raw;
  auto cancel = invitee("bob").ua->wait_request("CANCEL", 3s);
  ASSERT_TRUE(cancel) << invitee("bob").ua->transcript();
  EXPECT_EQ(cancel->call_id(), b->call_id());
  invitee("bob").ua->respond(*cancel, 200, "OK");
  invitee("bob").ua->respond(*b, 487, "Request Terminated");
  EXPECT_TRUE(ack_for("bob", *b));
  // Every document Alice gets from here on.
  bool connected_seen = false, provisional_deleted = false;
  for (int i = 0; i < 3; ++i) {
    auto n = next_notify("alice", 200, i == 0 ? 3s : 1s);
    if (!n) break;
    auto doc = check_notify("alice", *n);
    const DocUser* bob = doc.find_user(invitee_aor("bob"));
    if (!bob) continue;
    int connected = 0;
    for (const auto& ep : bob->endpoints) {
      if (ep.status == "connected") {
        ++connected;
        EXPECT_EQ(ep.joining_method, "dialed-in");
        connected_seen = true;
      }
      if (ep.entity == invitee_uri("bob") && ep.state == "deleted") provisional_deleted = true;
    }
    EXPECT_LE(connected, 1) << n->body;
  }
  EXPECT_TRUE(connected_seen);
  EXPECT_TRUE(provisional_deleted);
}

// TC-S10 (§6.2): an invitee being dialled may subscribe; its subscription
// ends when its dial-out fails.
TEST_P(DialoutTest, InviteeSubscribesWhileDialled) {
  start_dialout();
  invitee("bob");
  ASSERT_TRUE(create("alice", to_all({"bob"})).ok);
  auto b = dialout("bob");
  ASSERT_TRUE(b);
  invitee("bob").ua->respond(*b, 180, "Ringing");
  auto first = subscribe("bob");
  auto doc = parse_conference_doc(first.body);
  const auto* own = endpoint_of(doc, invitee_aor("bob"), invitee_uri("bob"));
  ASSERT_TRUE(own) << first.body;
  EXPECT_EQ(own->status, "dialing-out");
  invitee("bob").ua->respond(*b, 603, "Decline");
  auto n = next_notify("bob");
  ASSERT_TRUE(n);
  EXPECT_TRUE(contains(n->header("Subscription-State").value_or(""), "terminated;reason=noresource")) << n->raw;
}

// E40 (§2.5): a 2xx whose SDP is unusable is ACKed, then BYEd; cause 488.
TEST_P(DialoutTest, UnusableAnswerIsAckedThenByed) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  ASSERT_TRUE(create("alice", to_all({"bob", "carol"})).ok);
  auto b = dialout("bob");
  auto c = dialout("carol");
  ASSERT_TRUE(b && c);
  invitee("carol").ua->respond(*c, 180, "Ringing");
  subscribe("alice");
  std::string sdp = invitee("bob").ua->sdp_offer();
  sdp.replace(sdp.find("m=message 40001"), 15, "m=message 0");
  invitee("bob").ua->respond(*b, 200, "OK", "", "application/sdp", sdp);
  EXPECT_TRUE(ack_for("bob", *b));
  auto bye = invitee("bob").ua->wait_request("BYE", 3s);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->call_id(), b->call_id());
  auto n = next_notify("alice");
  ASSERT_TRUE(n);
  auto doc = check_notify("alice", *n);
  const auto* bob = endpoint_of(doc, invitee_aor("bob"), invitee_uri("bob"));
  ASSERT_TRUE(bob) << n->body;
  EXPECT_EQ(bob->disconnection_method, "failed");
  EXPECT_TRUE(contains(bob->disconnection_reason, "cause=488")) << n->body;
}

// TC-O06 (§9.1): Timer A doubles without a cap on UDP, Timer B ends the
// INVITE at 64*T1 and the invitee fails with 408. Over TCP there is one
// INVITE and the same 408. T1 = 100 ms keeps it short; ratios are checked.
TEST_P(DialoutTest, InviteRetransmissionScheduleAndTimerB) {
  start_dialout({"--sip.t1-ms=100"});
  invitee("bob");
  ASSERT_TRUE(create("alice", to_all({"bob"})).ok);
  subscribe("alice");
  std::vector<SipMessage> copies;
  const auto deadline = std::chrono::steady_clock::now() + 8s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto inv = invitee("bob").ua->wait_request("INVITE", 500ms);
    if (inv) copies.push_back(*inv);
    if (!copies.empty() && std::chrono::steady_clock::now() - copies.front().received_at > 7500ms) break;
  }
  ASSERT_FALSE(copies.empty());
  if (tcp()) {
    EXPECT_EQ(copies.size(), 1u) << "no retransmission over TCP";
  } else {
    ASSERT_EQ(copies.size(), 7u) << "copies at 0, T1, 3T1, 7T1, 15T1, 31T1, 63T1";
    for (size_t i = 1; i < copies.size(); ++i) {
      const double gap = std::chrono::duration<double, std::milli>(copies[i].received_at - copies[i - 1].received_at).count();
      const double expected = 100.0 * (1u << (i - 1));
      EXPECT_NEAR(gap, expected, expected * 0.3 + 60) << "gap " << i;
      EXPECT_EQ(branch_of(copies[i]), branch_of(copies[0]));
    }
  }
  auto n = next_notify("alice", 200, 3s);
  ASSERT_TRUE(n);
  auto doc = parse_conference_doc(n->body);
  const auto* bob = endpoint_of(doc, invitee_aor("bob"), invitee_uri("bob"));
  ASSERT_TRUE(bob) << n->body;
  EXPECT_TRUE(contains(bob->disconnection_reason, "cause=408")) << n->body;
  EXPECT_TRUE(user("alice").ua->wait_request("BYE", 3s)) << "released after the only invitee failed";
}

// TC-O07 (§2.5, §9.2): every copy of the 2xx gets the same ACK; a forked
// 2xx (another To tag) is ACKed and BYEd; Bob is reported once.
TEST_P(DialoutTest, RetransmittedAndForked2xx) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  ASSERT_TRUE(create("alice", to_all({"bob", "carol"})).ok);
  auto b = dialout("bob");
  auto c = dialout("carol");
  ASSERT_TRUE(b && c);
  invitee("carol").ua->respond(*c, 180, "Ringing");
  subscribe("alice");
  answer("bob", *b, "active");
  auto ack1 = ack_for("bob", *b);
  ASSERT_TRUE(ack1);
  for (int i = 0; i < 2; ++i) {
    // The same 200 again (the UA resends its remembered answer).
    auto& ua = *invitee("bob").ua;
    std::string sdp = ua.sdp_offer();
    ua.respond(*b, 200, "OK", "", "application/sdp", sdp);
    auto again = ack_for("bob", *b);
    ASSERT_TRUE(again) << "copy " << i;
    EXPECT_EQ(again->header("CSeq"), ack1->header("CSeq"));
    EXPECT_EQ(branch_of(*again), branch_of(*ack1));
  }
  // A second device answers with another To tag.
  const std::string to = b->header("To").value_or("") + ";tag=fork2";
  const std::string second_contact = "<sip:bob2@127.0.0.1:" + std::to_string(invitee("bob").ua->local_port()) +
                                     (tcp() ? ";transport=tcp>" : ">");
  invitee("bob").ua->respond(*b, 200, "OK", "To: " + to + "\r\nContact: " + second_contact + "\r\n",
                             "application/sdp", invitee("bob").ua->sdp_offer());
  auto fork_ack = invitee("bob").ua->wait_for(
      [&](const SipMessage& m) { return m.method == "ACK" && contains(m.header("To").value_or(""), "fork2"); }, 3s);
  EXPECT_TRUE(fork_ack) << invitee("bob").ua->transcript();
  auto fork_bye = invitee("bob").ua->wait_for(
      [&](const SipMessage& m) { return m.method == "BYE" && contains(m.header("To").value_or(""), "fork2"); }, 3s);
  EXPECT_TRUE(fork_bye) << invitee("bob").ua->transcript();
  std::set<std::string> bob_endpoints;
  for (int i = 0; i < 3; ++i) {
    auto n = next_notify("alice", 200, 1s);
    if (!n) break;
    auto doc = parse_conference_doc(n->body);
    if (const DocUser* u = doc.find_user(invitee_aor("bob")))
      for (const auto& ep : u->endpoints)
        if (ep.status == "connected") bob_endpoints.insert(ep.entity);
  }
  EXPECT_EQ(bob_endpoints.size(), 1u);
}

// TC-O08 (§2.5, E41): the 2xx crosses the focus's CANCEL: ACK, BYE, and Bob
// stays failed with cause 487.
TEST_P(DialoutTest, TwoHundredAfterCancel) {
  start_dialout({"--dialout.no-answer-timeout-s=1"});
  invitee("bob");
  ASSERT_TRUE(create("alice", to_all({"bob"})).ok);
  auto b = dialout("bob");
  ASSERT_TRUE(b);
  subscribe("alice");
  invitee("bob").ua->respond(*b, 180, "Ringing");
  auto cancel = invitee("bob").ua->wait_request("CANCEL", 3s);
  ASSERT_TRUE(cancel);
  invitee("bob").ua->respond(*cancel, 200, "OK");
  answer("bob", *b, "active");
  EXPECT_TRUE(ack_for("bob", *b));
  EXPECT_TRUE(invitee("bob").ua->wait_request("BYE", 3s));
  bool failed_seen = false;
  for (int i = 0; i < 3; ++i) {
    auto n = next_notify("alice", 200, 2s);
    if (!n) break;
    auto doc = parse_conference_doc(n->body);
    if (const DocUser* u = doc.find_user(invitee_aor("bob"))) {
      for (const auto& ep : u->endpoints) {
        EXPECT_NE(ep.status, "connected") << n->body;
        if (ep.disconnection_method == "failed") {
          failed_seen = true;
          EXPECT_TRUE(contains(ep.disconnection_reason, "cause=487")) << n->body;
        }
      }
    }
  }
  EXPECT_TRUE(failed_seen);
}

// TC-O12 (§2.7, §9.3, E86): the release BYE to the creator waits for its ACK.
TEST_P(DialoutTest, ReleaseByeWaitsForTheCreatorsAck) {
  start_dialout();
  invitee("bob");
  auto& alice = *user("alice").ua;
  const std::string body = multipart(alice.sdp_offer(), list_xml(to_all({"bob"})));
  auto tx = alice.send_request("INVITE", kFactory, kFactory, "Require: recipient-list-invite\r\n",
                               std::string("multipart/mixed;boundary=") + kListBoundary, body);
  auto ok = alice.final_response(tx);
  ASSERT_TRUE(ok && ok->status == 200) << alice.transcript();
  auto b = dialout("bob");
  ASSERT_TRUE(b);
  invitee("bob").ua->respond(*b, 603, "Decline");
  EXPECT_TRUE(alice.nothing_arrives("BYE", 1500ms)) << "no BYE before the ACK";
  const auto acked_at = std::chrono::steady_clock::now();
  alice.send_ack(tx, *ok);
  auto bye = alice.wait_request("BYE", 3s);
  ASSERT_TRUE(bye) << alice.transcript();
  EXPECT_GE(bye->received_at, acked_at);
}

// TC-O11 (§9.1, RFC 3261 §13.3.1.4): a 200 never ACKed is retransmitted
// (T1 doubling, capped at T2), then BYEd at 64*T1; never shown connected.
TEST_P(DialoutTest, TwoHundredNeverAcked) {
  start_dialout({"--sip.t1-ms=100", "--sip.t2-ms=400", "--join.adhoc-policy=anyone"});
  join("alice", kFactory);
  join("bob");  // so that Henry's going does not release the session
  subscribe("alice");
  auto& h = *user("henry").ua;
  auto tx = h.send_request("INVITE", kGs1, kGs1, "", "application/sdp", h.sdp_offer());
  std::vector<SipMessage> copies;
  std::optional<SipMessage> bye;
  const auto deadline = std::chrono::steady_clock::now() + 9s;
  while (std::chrono::steady_clock::now() < deadline && !bye) {
    auto m = h.wait_for([&](const SipMessage& x) { return (!x.is_request && x.status == 200) || x.method == "BYE"; },
                        500ms);
    if (!m) continue;
    if (m->is_request) bye = m;
    else copies.push_back(*m);
  }
  if (!tcp()) {
    ASSERT_GE(copies.size(), 6u);
    // 100, 200, 400 (capped at T2), 400, ...
    const double expected[] = {100, 200, 400, 400, 400};
    for (size_t i = 1; i < std::min<size_t>(copies.size(), 6); ++i) {
      const double gap = std::chrono::duration<double, std::milli>(copies[i].received_at - copies[i - 1].received_at).count();
      EXPECT_NEAR(gap, expected[i - 1], expected[i - 1] * 0.3 + 60) << "gap " << i;
    }
  }
  ASSERT_TRUE(bye) << h.transcript();
  const double at = std::chrono::duration<double>(bye->received_at - copies.front().received_at).count();
  EXPECT_NEAR(at, 6.4, 1.0);
  EXPECT_TRUE(user("alice").ua->nothing_arrives("NOTIFY", 500ms)) << "Henry is never shown connected";
  (void)tx;
}

// Replaces the m= port, a=path and a=setup of an SDP made by SipUa::sdp_offer.
std::string with_msrp(std::string sdp, uint16_t port, const std::string& path, const std::string& setup) {
  auto replace_line = [&](const std::string& prefix, const std::string& line) {
    const auto at = sdp.find(prefix);
    if (at == std::string::npos) return;
    sdp.replace(at, sdp.find("\r\n", at) - at, line);
  };
  replace_line("m=message ", "m=message " + std::to_string(port) + " TCP/MSRP *");
  replace_line("a=path:", "a=path:" + path);
  replace_line("a=setup:", "a=setup:" + setup);
  return sdp;
}

// §7.3: an invitee that answers a=setup:passive is connected to by the focus,
// which binds with a bodiless SEND (RFC 4975 §5.4; RFC 6135 §4.2.2).
TEST_P(DialoutTest, PassiveInviteeIsConnectedTo) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  ASSERT_TRUE(create("alice", to_all({"bob", "carol"})).ok);
  auto b = dialout("bob");
  ASSERT_TRUE(b);
  const std::string bob_path = "msrp://127.0.0.1:0/bObPaSsIvE01;tcp";
  MsrpClient bob_msrp(bob_path);
  const uint16_t port = bob_msrp.listen("127.0.0.1", 0);
  ASSERT_NE(port, 0);
  const std::string path = "msrp://127.0.0.1:" + std::to_string(port) + "/bObPaSsIvE01;tcp";
  invitee("bob").ua->respond(*b, 200, "OK", "", "application/sdp",
                             with_msrp(invitee("bob").ua->sdp_offer(), port, path, "passive"));
  ASSERT_TRUE(ack_for("bob", *b));
  ASSERT_TRUE(bob_msrp.accept(5s)) << "the focus must connect to the passive invitee";
  auto bind = bob_msrp.wait_request("SEND", 3s);
  ASSERT_TRUE(bind) << bob_msrp.transcript();
  EXPECT_TRUE(bind->body.empty());
  EXPECT_EQ(bind->header("Content-Type"), nullptr);
  ASSERT_NE(bind->header("Byte-Range"), nullptr);
  EXPECT_EQ(*bind->header("Byte-Range"), "1-0/0");
  EXPECT_EQ(bind->to_path(), std::vector<std::string>{path});
  EXPECT_EQ(bind->from_path(), std::vector<std::string>{sdp_attr(offer_of(*b), "path")});
}

// TC-J29 (§7.3): a dial-in offer with a=setup:passive is answered active with
// port 9, and the focus connects after the ACK and binds.
TEST_P(DialoutTest, PassiveOfferFocusConnects) {
  start_dialout({"--join.adhoc-policy=anyone"});
  auto& alice = *user("alice").ua;
  MsrpClient am("msrp://127.0.0.1:0/aLiCePaSsIvE;tcp");
  const uint16_t port = am.listen("127.0.0.1", 0);
  ASSERT_NE(port, 0);
  const std::string path = "msrp://127.0.0.1:" + std::to_string(port) + "/aLiCePaSsIvE;tcp";
  auto r = alice.invite(kFactory, "", "application/sdp", with_msrp(alice.sdp_offer(), port, path, "passive"));
  ASSERT_TRUE(r.ok) << r.final.raw;
  EXPECT_EQ(sdp_attr(r.final.body, "setup"), "active");
  EXPECT_TRUE(contains(r.final.body, "m=message 9 TCP/MSRP *")) << r.final.body;
  ASSERT_TRUE(am.accept(5s)) << "the focus must connect within 5 s of the ACK";
  auto bind = am.wait_request("SEND", 3s);
  ASSERT_TRUE(bind) << am.transcript();
  EXPECT_TRUE(bind->body.empty());
  EXPECT_EQ(bind->header("Content-Type"), nullptr);
  EXPECT_EQ(bind->to_path(), std::vector<std::string>{path});
  EXPECT_EQ(bind->from_path(), std::vector<std::string>{sdp_attr(r.final.body, "path")});
  EXPECT_NE(bind->header("Message-ID"), nullptr);
}

// TC-J31 (§7.4): a creating INVITE without a body gets the focus's offer
// (actpass) in the 200; (a) the ACK's answer makes the user connected and its
// MSRP leg usable; (b) an ACK without an answer is followed by the focus's BYE.
TEST_P(DialoutTest, DelayedOffer) {
  start_dialout({"--join.adhoc-policy=anyone"});
  for (const bool with_answer : {true, false}) {
    SCOPED_TRACE(with_answer ? "(a) answer in the ACK" : "(b) ACK without a body");
    auto& ua = *user(with_answer ? "alice" : "dan").ua;
    auto tx = ua.send_request("INVITE", kFactory, kFactory);
    auto ok = ua.final_response(tx, 3s);
    ASSERT_TRUE(ok && ok->status == 200) << ua.transcript();
    EXPECT_EQ(sdp_attr(ok->body, "setup"), "actpass") << ok->body;
    const std::string focus_path = sdp_attr(ok->body, "path");
    EXPECT_EQ(focus_path.rfind("msrp://127.0.0.1:" + std::to_string(server_.msrp_port()) + "/", 0), 0u) << ok->body;
    RequestSpec ack;
    ack.method = "ACK";
    ack.call_id = tx.call_id;
    ack.cseq = tx.cseq;
    ack.contact = false;
    ack.pai = false;
    ack.request_uri = "sip:gs-" + std::string(with_answer ? "1" : "2") + "@im.example.com";
    ack.extra_headers = "From: " + parse_sip_message(tx.raw)->header("From").value_or("") +
                        "\r\nTo: " + ok->header("To").value_or("") + "\r\n";
    std::string own_path;
    if (with_answer) {
      std::string answer = ua.sdp_offer();
      own_path = sdp_attr(answer, "path");
      answer.replace(answer.find("a=setup:actpass"), 15, "a=setup:active");
      ack.content_type = "application/sdp";
      ack.body = answer;
    }
    ua.send(ack);
    if (with_answer) {
      // The leg exists once the session has seen the ACK, and the ACK and the
      // MSRP connection take different paths: a bind that overtakes the ACK
      // gets 481 and is tried again, as a client would after a short wait.
      MsrpClient m(own_path);
      ASSERT_TRUE(m.connect("127.0.0.1", server_.msrp_port()));
      std::optional<codec::msrp::Frame> bound;
      for (int attempt = 0; attempt < 5; ++attempt) {
        bound = m.wait_response(m.bodiless_send(focus_path));
        if (!bound || bound->status != 481) break;
        std::this_thread::sleep_for(100ms);
      }
      ASSERT_TRUE(bound) << m.transcript();
      EXPECT_EQ(bound->status, 200);
      EXPECT_TRUE(ua.nothing_arrives("BYE", 500ms));
    } else {
      auto bye = ua.wait_request("BYE", 3s);
      ASSERT_TRUE(bye) << ua.transcript();
      EXPECT_EQ(bye->call_id(), tx.call_id);
    }
  }
}

// TC-J13 (§4.1 J-b, §7.5): lists belong to the factory: a list at a session
// identity and a list in a re-INVITE get 420.
TEST_P(DialoutTest, ListsOutsideTheFactory) {
  start_dialout({"--join.adhoc-policy=anyone"});
  join("alice", kFactory);
  join("carol");
  auto& h = *user("henry").ua;
  const std::string body = multipart(h.sdp_offer(), list_xml({{"sip:x@example.com", "to", false}}));
  auto r = h.invite(kGs1, "Require: recipient-list-invite\r\n", std::string("multipart/mixed;boundary=") + kListBoundary,
                    body);
  EXPECT_EQ(r.final.status, 420) << r.final.raw;
  EXPECT_TRUE(contains(r.final.header("Unsupported").value_or(""), "recipient-list-invite")) << r.final.raw;
  auto& carol = user("carol");
  auto re = carol.ua->send_in_dialog(carol.invite, "INVITE", "Require: recipient-list-invite\r\n",
                                     std::string("multipart/mixed;boundary=") + kListBoundary,
                                     multipart(carol.ua->sdp_offer(), list_xml({{"sip:x@example.com", "to", false}})));
  auto answer = carol.ua->final_response(re);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 420) << answer->raw;
  EXPECT_TRUE(contains(answer->header("Unsupported").value_or(""), "recipient-list-invite"));
  carol.ua->send_ack(re, *answer);
  // Carol is still in: her BYE gets 200.
  auto bye = carol.ua->bye(carol.invite);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->status, 200);
}

// TC-J24 (§4.3, E43): the same Contact in a new dialog replaces the old
// dialog (focus BYE there) with no departure report.
TEST_P(DialoutTest, SameContactRejoins) {
  start_dialout({"--join.adhoc-policy=anyone"});
  join("alice", kFactory);
  join("bob");
  join("carol");
  subscribe("alice");
  auto& carol = user("carol");
  const Dialog old = carol.invite;
  auto again = carol.ua->join(kGs1);  // same UA: same Contact, new Call-ID
  ASSERT_TRUE(again.ok) << again.final.raw;
  auto bye = carol.ua->wait_for(
      [&](const SipMessage& m) { return m.method == "BYE" && m.call_id() == old.call_id; }, 3s);
  EXPECT_TRUE(bye) << "the focus ends the old dialog";
  for (int i = 0; i < 2; ++i) {
    auto n = next_notify("alice", 200, 1s);
    if (!n) break;
    auto doc = parse_conference_doc(n->body);
    if (const DocUser* u = doc.find_user("sip:carol@example.com"))
      for (const auto& ep : u->endpoints) EXPECT_NE(ep.status, "disconnected") << n->body;
  }
}

// TC-J20 (§4.1 J-e): a locked session (test hook) says so in
// conference-state, refuses new users (403 + Warning 399), and still takes a
// second device of a user who is in.
TEST_P(DialoutTest, LockedSession) {
  start_dialout({"--join.adhoc-policy=anyone", "--test.hooks"});
  join("alice", kFactory);
  join("bob");
  subscribe("alice");
  auto& alice = user("alice");
  auto tx = alice.ua->send_in_dialog(alice.invite, "OPTIONS", "X-Imserver-Test: lock\r\n");
  auto ok = alice.ua->final_response(tx);
  ASSERT_TRUE(ok && ok->status == 200);
  auto n = next_notify("alice");
  ASSERT_TRUE(n);
  auto doc = check_notify("alice", *n);
  EXPECT_EQ(doc.locked, std::optional<bool>(true)) << n->body;
  auto h = user("henry").ua->join(kGs1);
  EXPECT_EQ(h.final.status, 403) << h.final.raw;
  EXPECT_TRUE(contains(h.final.header("Warning").value_or(""), "399")) << h.final.raw;
  SipUa::Options o;
  o.transport = GetParam();
  o.server_port = server_.port();
  o.aor = "sip:bob@example.com";
  SipUa bob2(o);
  bob2.answer_bye_automatically(true);
  auto second = bob2.join(kGs1);
  EXPECT_EQ(second.final.status, 200) << "a second device of a user already in";
}

// TC-J23 (§5, §8.3 10b): two asserted identities, tel and sip: the sip one
// names the user (Referred-By, <user entity>); CPIM From may be the tel one.
TEST_P(DialoutTest, TwoAssertedIdentities) {
  start_dialout();
  invitee("bob");
  auto& alice = *user("alice").ua;
  const std::string offer = alice.sdp_offer();
  auto r = alice.invite(kFactory,
                        "Require: recipient-list-invite\r\n"
                        "P-Asserted-Identity: <tel:+15550100>, <sip:alice@example.com>\r\n",
                        std::string("multipart/mixed;boundary=") + kListBoundary,
                        multipart(offer, list_xml(to_all({"bob"}))));
  ASSERT_TRUE(r.ok) << r.final.raw;
  user("alice").invite = r.dialog;
  auto b = dialout("bob");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->header("Referred-By").value_or(""), "<sip:alice@example.com>");
  const std::string bob_path = answer("bob", *b, "active");
  ASSERT_TRUE(ack_for("bob", *b));
  ASSERT_TRUE(bind_msrp("bob", *b, bob_path));
  MsrpClient am(sdp_attr(offer, "path"));
  ASSERT_TRUE(am.connect("127.0.0.1", server_.msrp_port()));
  const std::string focus_path = sdp_attr(r.final.body, "path");
  auto bound = am.wait_response(am.bodiless_send(focus_path));
  ASSERT_TRUE(bound && bound->status == 200) << am.transcript();
  const std::string tid = am.send_message(focus_path, cpim_body("tel:+15550100", kGs1, "hi"));
  auto ok = am.wait_response(tid);
  ASSERT_TRUE(ok) << am.transcript();
  EXPECT_EQ(ok->status, 200) << "CPIM From may be any asserted identity";
  auto got = msrp_["bob"]->wait_request("SEND", 3s);
  ASSERT_TRUE(got) << msrp_["bob"]->transcript();
  EXPECT_TRUE(contains(got->body, "hi"));
  auto first = subscribe("alice");
  auto doc = parse_conference_doc(first.body);
  EXPECT_TRUE(doc.find_user("sip:alice@example.com")) << first.body;
}

// E51 (§5): a join with Privacy: id is shown as an anonymous user.
TEST_P(DialoutTest, PrivacyIdJoinIsAnonymous) {
  start_dialout();
  invitee("bob");
  invitee("carol");
  ASSERT_TRUE(create("alice", to_all({"bob", "carol"})).ok);
  auto b = dialout("bob");
  auto c = dialout("carol");
  ASSERT_TRUE(b && c);
  invitee("bob").ua->respond(*b, 180, "Ringing");
  subscribe("alice");
  auto j = invitee("carol").ua->join(kGs1, "Privacy: id\r\n");
  ASSERT_TRUE(j.ok) << j.final.raw;
  bool anonymous_seen = false;
  for (int i = 0; i < 3 && !anonymous_seen; ++i) {
    auto n = next_notify("alice", 200, 2s);
    if (!n) break;
    auto doc = check_notify("alice", *n);
    if (const DocUser* anon = doc.find_user("sip:anonymous1@anonymous.invalid")) {
      anonymous_seen = true;
      ASSERT_FALSE(anon->endpoints.empty());
      EXPECT_EQ(anon->endpoints.front().status, "connected");
    }
    if (const DocUser* carol = doc.find_user(invitee_aor("carol")))
      for (const auto& ep : carol->endpoints) EXPECT_NE(ep.status, "connected") << n->body;
  }
  EXPECT_TRUE(anonymous_seen);
}

INSTANTIATE_TEST_SUITE_P(Transports, DialoutTest, ::testing::Values("udp", "tcp"), transport_name);

// Through a trusted outbound proxy: the pre-loaded Route and the
// P-Asserted-Identity of the session (§2.4, §9.2), and a pre-defined group
// that dials its members on creation (TC-J14). The proxy here is one SipUa
// that plays every invitee.
class DialoutProxyTest : public DialoutTest {
 protected:
  void start_via_proxy(std::vector<std::string> extra = {}) {
    SipUa::Options o;
    o.transport = GetParam();
    o.tcp_listen = tcp();
    o.aor = "sip:proxy@example.com";
    proxy_ = std::make_unique<SipUa>(o);
    extra.push_back("--dialout.outbound-proxy=sip:127.0.0.1:" + std::to_string(proxy_->local_port()) +
                    (tcp() ? ";transport=tcp" : "") + ";lr");
    start_dialout(extra);
    if (!tcp()) proxy_->set_server_port(server_.port());
  }
  // Over TCP the server opens the connection with its first dial-out.
  void proxy_ready() {
    if (tcp()) ASSERT_TRUE(proxy_->accept_server(5s)) << "the server never connected to the outbound proxy";
  }
  void TearDown() override {
    if (HasFailure() && proxy_) std::fprintf(stderr, "---- proxy ----\n%s\n", proxy_->transcript().c_str());
    proxy_.reset();
    DialoutTest::TearDown();
  }
  std::unique_ptr<SipUa> proxy_;
};

TEST_P(DialoutProxyTest, RouteAndAssertedIdentity) {
  start_via_proxy();
  auto r = create("alice", {{"sip:bob@example.com", "to", false}});
  ASSERT_TRUE(r.ok) << r.final.raw;
  proxy_ready();
  auto inv = proxy_->wait_request("INVITE", 5s);
  ASSERT_TRUE(inv);
  EXPECT_EQ(inv->request_uri, "sip:bob@example.com");
  EXPECT_TRUE(contains(inv->header("Route").value_or(""), "sip:127.0.0.1:" + std::to_string(proxy_->local_port())))
      << inv->raw;
  EXPECT_TRUE(contains(inv->header("Route").value_or(""), ";lr")) << inv->raw;
  EXPECT_EQ(inv->header("P-Asserted-Identity").value_or(""), "<sip:gs-1@im.example.com>");
  EXPECT_EQ(inv->header("Referred-By").value_or(""), "<sip:alice@example.com>");
  EXPECT_EQ(inv->header("Accept-Contact").value_or(""), "*;+g.oma.sip-im");
}

TEST_P(DialoutProxyTest, GroupDialsOutToMembersOnCreation) {
  char name[] = "/tmp/imserver-dialout-groups-XXXXXX";
  const int fd = mkstemp(name);
  ASSERT_GE(fd, 0);
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<im-groups xmlns=\"urn:example:imserver:groups:1\">\n"
      "  <group uri=\"sip:team@im.example.com\" max-participants=\"10\" dialout-on-create=\"true\">\n"
      "    <subject>Team chat</subject>\n"
      "    <member uri=\"sip:alice@example.com\" role=\"host\"/>\n"
      "    <member uri=\"sip:bob@example.com\"/>\n"
      "    <member uri=\"sip:carol@example.com\"/>\n"
      "  </group>\n</im-groups>\n";
  ASSERT_EQ(write(fd, xml.data(), xml.size()), static_cast<ssize_t>(xml.size()));
  close(fd);
  start_via_proxy({std::string("--group.file=") + name});
  auto r = user("alice").ua->join("sip:team@im.example.com");
  std::remove(name);
  ASSERT_TRUE(r.ok) << r.final.raw;
  proxy_ready();
  EXPECT_TRUE(contains(r.final.header("Contact").value_or(""), "<sip:gs-1@im.example.com>"));
  std::set<std::string> dialled;
  std::map<std::string, SipMessage> invites;
  for (int i = 0; i < 2; ++i) {
    auto inv = proxy_->wait_request("INVITE", 5s);
    ASSERT_TRUE(inv) << "dial-out " << i;
    dialled.insert(inv->request_uri);
    EXPECT_EQ(inv->header("Subject").value_or(""), "Team chat");
    EXPECT_TRUE(contains(inv->header("Content-Type").value_or(""), "application/sdp")) << "SDP only (G2)";
    EXPECT_EQ(inv->header("Referred-By").value_or(""), "<sip:alice@example.com>");
    proxy_->respond(*inv, 180, "Ringing");
    invites[inv->request_uri] = *inv;
  }
  EXPECT_EQ(dialled, (std::set<std::string>{"sip:bob@example.com", "sip:carol@example.com"}));
  auto first = subscribe("alice");
  auto doc = parse_conference_doc(first.body);
  EXPECT_EQ(doc.maximum_user_count.value_or(0), 10u) << first.body;

  // TC-J16: Bob and Carol accept; Carol leaves and comes back through the
  // group URI: she joins the active session, and nobody is dialled again.
  for (const auto& [uri, inv] : invites) {
    std::string sdp = proxy_->sdp_offer();
    sdp.replace(sdp.find("a=setup:actpass"), 15, "a=setup:active");
    proxy_->respond(inv, 200, "OK", "", "application/sdp", sdp);
    ASSERT_TRUE(proxy_->wait_for([&](const SipMessage& m) { return m.method == "ACK" && m.call_id() == inv.call_id(); },
                                 3s));
  }
  const SipMessage& carol_inv = invites["sip:carol@example.com"];
  Dialog d = uas_dialog(carol_inv, proxy_->local_to_tag(), "sip:carol@example.com");
  auto bye = proxy_->bye(d);
  ASSERT_TRUE(bye && bye->status == 200) << proxy_->transcript();
  auto back = user("carol").ua->join("sip:team@im.example.com");
  ASSERT_TRUE(back.ok) << back.final.raw;
  EXPECT_TRUE(contains(back.final.header("Contact").value_or(""), "<sip:gs-1@im.example.com>"));
  EXPECT_TRUE(proxy_->nothing_arrives("INVITE", 1s)) << "no new dial-outs (G3)";
  bool dialed_in = false;
  for (int i = 0; i < 4 && !dialed_in; ++i) {
    auto n = next_notify("alice", 200, 2s);
    if (!n) break;
    auto d2 = parse_conference_doc(n->body);
    if (const DocUser* carol = d2.find_user("sip:carol@example.com"))
      for (const auto& ep : carol->endpoints)
        if (ep.status == "connected" && ep.joining_method == "dialed-in") dialed_in = true;
  }
  EXPECT_TRUE(dialed_in);
}

// TC-O09 (§9.2, E85): a challenged dial-out is sent once more with the
// configured credentials (same Call-ID and From tag, CSeq + 1, new branch);
// a second challenge fails the invitee with that status.
TEST_P(DialoutProxyTest, ChallengedDialOutRetriesOnce) {
  start_via_proxy({"--dialout.credentials=example.com:imserver:pw"});
  auto r = create("alice", {{"sip:bob@example.com", "to", false}, {"sip:carol@example.com", "to", false}});
  ASSERT_TRUE(r.ok) << r.final.raw;
  proxy_ready();
  auto is_invite_to = [](const std::string& uri) {
    return [uri](const SipMessage& m) { return m.method == "INVITE" && m.request_uri == uri; };
  };
  auto c = proxy_->wait_for(is_invite_to("sip:carol@example.com"), 5s);
  ASSERT_TRUE(c);
  proxy_->respond(*c, 180, "Ringing");  // keeps the session after Bob fails
  subscribe("alice");
  auto first = proxy_->wait_for(is_invite_to("sip:bob@example.com"), 5s);
  ASSERT_TRUE(first);
  proxy_->respond(*first, 407, "Proxy Authentication Required",
                  "Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\"\r\n");
  auto ack = proxy_->wait_request("ACK", 3s);
  ASSERT_TRUE(ack) << "the 407 is ACKed";
  EXPECT_EQ(branch_of(*ack), branch_of(*first));
  auto second = proxy_->wait_request("INVITE", 3s);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->call_id(), first->call_id());
  EXPECT_EQ(second->header("From"), first->header("From"));
  EXPECT_EQ(second->cseq_number(), first->cseq_number() + 1);
  EXPECT_NE(branch_of(*second), branch_of(*first));
  const std::string auth = second->header("Proxy-Authorization").value_or("");
  EXPECT_TRUE(contains(auth, "Digest") && contains(auth, "username=\"imserver\"") &&
              contains(auth, "realm=\"example.com\""))
      << second->raw;
  proxy_->respond(*second, 407, "Proxy Authentication Required",
                  "Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"n2\", qop=\"auth\"\r\n");
  EXPECT_TRUE(proxy_->wait_request("ACK", 3s));
  EXPECT_FALSE(proxy_->wait_request("INVITE", 1500ms)) << "no third INVITE";
  auto n = next_notify("alice");
  ASSERT_TRUE(n);
  auto doc = parse_conference_doc(n->body);
  const auto* bob = endpoint_of(doc, "sip:bob@example.com", "sip:bob@example.com");
  ASSERT_TRUE(bob) << n->body;
  EXPECT_TRUE(contains(bob->disconnection_reason, "cause=407")) << n->body;
}

INSTANTIATE_TEST_SUITE_P(Transports, DialoutProxyTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
