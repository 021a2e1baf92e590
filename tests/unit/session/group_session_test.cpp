// The session state machine without threads or sockets: requests and dialog
// events in, transport commands out.

#include "actors/session/group_session.hpp"

#include <gtest/gtest.h>

#include "actors/session/request_checks.hpp"

using namespace imserver;
using session::EndpointStatus;
using session::GroupSession;
using session::Phase;
using transport::DialogEvent;
using transport::DialogEventKind;
using transport::InboundRequest;

namespace {

const char* kOffer =
    "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=message 40001 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\n"
    "a=path:msrp://127.0.0.1:40001/aLiCe0001;tcp\r\na=setup:actpass\r\n";

const std::string kIdentity = "sip:gs-1@im.example.com";

uint64_t g_next = 100;

InboundRequest invite(const std::string& user, const std::string& ruri = kIdentity, std::string contact = "") {
  InboundRequest r;
  r.id = ++g_next;
  r.dialog = ++g_next;
  r.method = "INVITE";
  r.request_uri = ruri;
  r.from_uri = "sip:" + user + "@example.com";
  r.from_tag = user + "-tag";
  r.call_id = user + std::to_string(r.id);
  r.cseq = 1;
  if (contact.empty()) contact = "<sip:" + user + "@127.0.0.1:" + std::to_string(5000 + r.id) + ">";
  r.contacts = {contact};
  r.content_type = "application/sdp";
  r.body = kOffer;
  r.peer = {"127.0.0.1", 5061, "udp"};
  r.headers = {{"p-asserted-identity", "<sip:" + user + "@example.com>"}};
  return r;
}

policy::AssertedIdentity who(const std::string& user) { return {"sip:" + user + "@example.com", {}}; }

DialogEvent event(uint64_t dialog, DialogEventKind kind, uint16_t status = 0) {
  return DialogEvent{dialog, kIdentity, kind, status};
}

template <class T>
std::vector<T> commands_of(const session::Effects& fx) {
  std::vector<T> out;
  for (const auto& c : fx.commands)
    if (const auto* t = std::get_if<T>(&c)) out.push_back(*t);
  return out;
}

session::SessionConfig config() {
  session::SessionConfig c;
  c.domain = "im.example.com";
  c.join_policy = policy::AdhocJoinPolicy::Anyone;
  c.max_participants = 5;
  c.local_domains = {"im.example.com"};
  return c;
}

struct Fixture {
  GroupSession s;
  std::vector<uint64_t> dialogs;
  std::vector<std::string> answers;  // the SDP of each join's 2xx
  explicit Fixture(session::SessionConfig c = config()) : s(c, kIdentity, policy::SessionKind::AdHoc, kIdentity, 7) {}

  // Creates (alice) and joins the others, every one confirmed by its ACK.
  void populate(const std::vector<std::string>& users) {
    for (size_t i = 0; i < users.size(); ++i) {
      auto r = invite(users[i], i == 0 ? "sip:conference-factory@im.example.com" : kIdentity);
      auto fx = i == 0 ? s.create(r, who(users[i]), 0) : s.on_request(r, who(users[i]), 0);
      auto accepts = commands_of<transport::Accept>(fx);
      ASSERT_EQ(accepts.size(), 1u) << users[i];
      answers.push_back(accepts[0].body);
      s.on_dialog_event(event(r.dialog, DialogEventKind::Confirmed), 0);
      dialogs.push_back(r.dialog);
    }
  }
};

}  // namespace

TEST(GroupSession, CreationAnswersWithFocusContactAndMsrpAnswer) {
  Fixture f;
  auto r = invite("alice", "sip:conference-factory@im.example.com");
  auto fx = f.s.create(r, who("alice"), 0);
  auto accepts = commands_of<transport::Accept>(fx);
  ASSERT_EQ(accepts.size(), 1u);
  EXPECT_EQ(accepts[0].request, r.id);
  EXPECT_EQ(accepts[0].dialog, r.dialog);
  EXPECT_EQ(accepts[0].owner, kIdentity);
  EXPECT_EQ(accepts[0].contact, "<sip:gs-1@im.example.com>;isfocus;+g.oma.sip-im");
  EXPECT_EQ(accepts[0].content_type, "application/sdp");
  EXPECT_NE(accepts[0].body.find("m=message 2855 TCP/MSRP *"), std::string::npos);
  EXPECT_NE(accepts[0].body.find("a=setup:passive"), std::string::npos);
  EXPECT_EQ(f.s.state().initiator, "sip:alice@example.com");
  ASSERT_EQ(f.s.state().endpoints.size(), 1u);
  EXPECT_EQ(f.s.state().endpoints[0].status, EndpointStatus::Joining);
  f.s.on_dialog_event(event(r.dialog, DialogEventKind::Confirmed), 0);
  EXPECT_EQ(f.s.state().endpoints[0].status, EndpointStatus::Connected);
  EXPECT_EQ(f.s.participating_users(), 1);
}

TEST(GroupSession, EveryLegGetsItsOwnMsrpPath) {
  Fixture f;
  f.populate({"alice", "bob", "carol"});
  const auto& eps = f.s.state().endpoints;
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_NE(f.s.msrp_local_path(eps[0]), f.s.msrp_local_path(eps[1]));
  EXPECT_NE(f.s.msrp_local_path(eps[1]), f.s.msrp_local_path(eps[2]));
  // The path is derived, not kept: it must still be the one our 2xx announced.
  for (size_t i = 0; i < eps.size(); ++i)
    EXPECT_NE(f.answers[i].find("a=path:" + f.s.msrp_local_path(eps[i]) + "\r\n"), std::string::npos) << f.answers[i];
}

// The rarely set endpoint fields live apart (issue 7) and must survive a
// snapshot both when set and when never written.
TEST(GroupSession, RareEndpointFieldsRoundTripThroughMsgpack) {
  session::Endpoint plain;
  session::Endpoint leaving;
  leaving.rare.set().disconnection_method = "booted";
  leaving.rare.set().disconnected_by = "sip:alice@example.com";
  leaving.msrp_accept_types = "message/cpim text/plain";
  leaving.dialed_out = true;
  msgpack::sbuffer buf;
  msgpack::pack(buf, std::vector<session::Endpoint>{plain, leaving});
  auto handle = msgpack::unpack(buf.data(), buf.size());
  auto copy = handle.get().as<std::vector<session::Endpoint>>();
  ASSERT_EQ(copy.size(), 2u);
  EXPECT_FALSE(copy[0].rare.is_set());
  EXPECT_TRUE(copy[0].rare.get().disconnection_method.empty());
  ASSERT_TRUE(copy[1].rare.is_set());
  EXPECT_EQ(copy[1].rare.get().disconnection_method, "booted");
  EXPECT_EQ(copy[1].rare.get().disconnected_by, "sip:alice@example.com");
  EXPECT_EQ(copy[1].msrp_accept_types, "message/cpim text/plain");
  EXPECT_TRUE(copy[1].dialed_out);
  // Copies are deep: changing one leaves the other as it was.
  session::Endpoint other = leaving;
  other.rare.set().disconnection_method = "departed";
  EXPECT_EQ(leaving.rare.get().disconnection_method, "booted");
}

struct JoinCase {
  const char* name;
  policy::AdhocJoinPolicy policy;
  int max_participants;
  uint16_t full_response;
  std::string joiner;
  uint16_t expected_status;  // 0 = accepted
};

TEST(GroupSession, JoinDecisionsFollowTheJoinPolicy) {
  const JoinCase cases[] = {
      {"invited: uninvited user refused", policy::AdhocJoinPolicy::Invited, 5, 486, "henry", 403},
      {"invited: creator may rejoin", policy::AdhocJoinPolicy::Invited, 5, 486, "alice", 0},
      {"anyone: stranger accepted", policy::AdhocJoinPolicy::Anyone, 5, 486, "henry", 0},
      {"anyone: full session busy", policy::AdhocJoinPolicy::Anyone, 2, 486, "henry", 486},
      {"anyone: full session 403 knob", policy::AdhocJoinPolicy::Anyone, 2, 403, "henry", 403},
      {"anyone: second device of a member is not a new user", policy::AdhocJoinPolicy::Anyone, 2, 486, "bob", 0},
  };
  for (const auto& c : cases) {
    auto cfg = config();
    cfg.join_policy = c.policy;
    cfg.max_participants = c.max_participants;
    cfg.full_response = c.full_response;
    GroupSession s(cfg, kIdentity, policy::SessionKind::AdHoc, kIdentity, 1);
    auto a = invite("alice", "sip:conference-factory@im.example.com");
    s.create(a, who("alice"), 0);
    s.on_dialog_event(event(a.dialog, DialogEventKind::Confirmed), 0);
    if (c.policy == policy::AdhocJoinPolicy::Anyone) {
      auto b = invite("bob");
      ASSERT_EQ(commands_of<transport::Accept>(s.on_request(b, who("bob"), 0)).size(), 1u) << c.name;
      s.on_dialog_event(event(b.dialog, DialogEventKind::Confirmed), 0);
    }
    auto r = invite(c.joiner);
    auto fx = s.on_request(r, who(c.joiner), 0);
    if (c.expected_status == 0) {
      EXPECT_EQ(commands_of<transport::Accept>(fx).size(), 1u) << c.name;
    } else {
      auto rs = commands_of<transport::Respond>(fx);
      ASSERT_EQ(rs.size(), 1u) << c.name;
      EXPECT_EQ(rs[0].status, c.expected_status) << c.name;
      EXPECT_NE(rs[0].headers.find("Warning: 399 im.example.com \""), std::string::npos) << c.name;
    }
  }
}

TEST(GroupSession, UnidentifiedJoinIsForbidden) {
  Fixture f;
  f.populate({"alice"});
  auto r = invite("bob");
  auto fx = f.s.on_request(r, std::nullopt, 0);
  auto rs = commands_of<transport::Respond>(fx);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 403);
}

TEST(GroupSession, ListAtSessionIdentityIsUnsupported) {
  Fixture f;
  f.populate({"alice"});
  auto r = invite("bob");
  r.headers.push_back({"require", "recipient-list-invite"});
  auto rs = commands_of<transport::Respond>(f.s.on_request(r, who("bob"), 0));
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 420);
  EXPECT_NE(rs[0].headers.find("Unsupported: recipient-list-invite"), std::string::npos);
}

TEST(GroupSession, UnacceptableOfferGets488WithWarning) {
  Fixture f;
  f.populate({"alice"});
  auto r = invite("bob");
  r.body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
  auto rs = commands_of<transport::Respond>(f.s.on_request(r, who("bob"), 0));
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 488);
  EXPECT_NE(rs[0].headers.find("Warning: 304"), std::string::npos);
  EXPECT_EQ(f.s.state().endpoints.size(), 1u);
}

TEST(GroupSession, ByeLeavesOthersInPlaceAboveTheMinimum) {
  Fixture f;
  f.populate({"alice", "bob", "carol"});
  auto fx = f.s.on_dialog_event(event(f.dialogs[2], DialogEventKind::PeerBye), 0);
  EXPECT_TRUE(commands_of<transport::Hangup>(fx).empty());
  EXPECT_EQ(fx.release, policy::ReleaseReason::None);
  EXPECT_EQ(f.s.participating_users(), 2);
  EXPECT_EQ(f.s.state().phase, Phase::Active);
}

TEST(GroupSession, ByeBelowTheMinimumReleasesAndHangsUpTheRest) {
  Fixture f;
  f.populate({"alice", "bob"});
  auto fx = f.s.on_dialog_event(event(f.dialogs[1], DialogEventKind::PeerBye), 0);
  EXPECT_EQ(fx.release, policy::ReleaseReason::BelowMinimum);
  auto hangups = commands_of<transport::Hangup>(fx);
  ASSERT_EQ(hangups.size(), 1u);
  EXPECT_EQ(hangups[0].dialog, f.dialogs[0]);
  EXPECT_EQ(f.s.state().phase, Phase::Releasing);
  EXPECT_FALSE(f.s.finished());
  // New requests to a releasing session: 404; in-dialog ones: 481.
  auto late = invite("dan");
  EXPECT_EQ(commands_of<transport::Respond>(f.s.on_request(late, who("dan"), 0))[0].status, 404);
  f.s.on_dialog_event(event(f.dialogs[0], DialogEventKind::ByeCompleted, 200), 0);
  EXPECT_TRUE(f.s.finished());
}

TEST(GroupSession, InitiatorLeavingReleasesOnlyWithTheKnob) {
  for (bool knob : {false, true}) {
    auto cfg = config();
    cfg.release.on_initiator_leave = knob;
    Fixture f(cfg);
    f.populate({"alice", "bob", "carol"});
    auto fx = f.s.on_dialog_event(event(f.dialogs[0], DialogEventKind::PeerBye), 0);
    EXPECT_EQ(commands_of<transport::Hangup>(fx).size(), knob ? 2u : 0u) << knob;
    EXPECT_EQ(fx.release, knob ? policy::ReleaseReason::InitiatorLeft : policy::ReleaseReason::None);
  }
}

TEST(GroupSession, CancelledJoinLeavesNoTrace) {
  Fixture f;
  f.populate({"alice", "bob"});
  auto r = invite("henry");
  f.s.on_request(r, who("henry"), 0);
  ASSERT_EQ(f.s.state().endpoints.size(), 3u);
  auto fx = f.s.on_dialog_event(event(r.dialog, DialogEventKind::Cancelled, 487), 0);
  EXPECT_TRUE(fx.commands.empty());
  EXPECT_EQ(f.s.state().endpoints.size(), 2u);
  EXPECT_EQ(f.s.state().phase, Phase::Active);
  // A second report of the same thing changes nothing.
  EXPECT_TRUE(f.s.on_dialog_event(event(r.dialog, DialogEventKind::Cancelled, 487), 0).commands.empty());
}

TEST(GroupSession, CancelledCreationEndsTheSession) {
  Fixture f;
  auto r = invite("alice", "sip:conference-factory@im.example.com");
  f.s.create(r, who("alice"), 0);
  f.s.on_dialog_event(event(r.dialog, DialogEventKind::Cancelled, 487), 0);
  EXPECT_TRUE(f.s.finished());
}

TEST(GroupSession, SameContactInANewDialogReplacesTheOldOne) {
  Fixture f;
  f.populate({"alice", "bob", "carol"});
  const std::string contact = "<" + f.s.state().endpoints[2].entity + ">";
  auto again = invite("carol", kIdentity, contact);
  auto fx = f.s.on_request(again, who("carol"), 0);
  auto hangups = commands_of<transport::Hangup>(fx);
  ASSERT_EQ(hangups.size(), 1u);
  EXPECT_EQ(hangups[0].dialog, f.dialogs[2]);
  EXPECT_EQ(commands_of<transport::Accept>(fx).size(), 1u);
  // The old dialog's BYE completing is not a departure: nobody is released.
  auto done = f.s.on_dialog_event(event(f.dialogs[2], DialogEventKind::ByeCompleted, 200), 0);
  EXPECT_TRUE(done.commands.empty());
  EXPECT_EQ(f.s.state().phase, Phase::Active);
}

TEST(GroupSession, OptionsAndOtherMethods) {
  Fixture f;
  f.populate({"alice"});
  InboundRequest o;
  o.id = 1;
  o.method = "OPTIONS";
  o.request_uri = kIdentity;
  auto r = commands_of<transport::Respond>(f.s.on_request(o, std::nullopt, 0));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_NE(r[0].headers.find("Contact: <sip:gs-1@im.example.com>;isfocus"), std::string::npos);
  o.method = "MESSAGE";
  r = commands_of<transport::Respond>(f.s.on_request(o, std::nullopt, 0));
  EXPECT_EQ(r[0].status, 405);
  EXPECT_NE(r[0].headers.find("Allow: "), std::string::npos);
  EXPECT_EQ(r[0].headers.find("MESSAGE"), std::string::npos);
  o.method = "FOO";
  EXPECT_EQ(commands_of<transport::Respond>(f.s.on_request(o, std::nullopt, 0))[0].status, 501);
}

TEST(GroupSession, ReinviteKeepsThePathAndRepeatsTheAnswer) {
  Fixture f;
  f.populate({"alice", "bob"});
  const auto before = f.s.state().endpoints[1];
  InboundRequest re = invite("bob");
  re.in_dialog = true;
  re.dialog = f.dialogs[1];
  re.body = before.last_offer;
  auto accepts = commands_of<transport::Accept>(f.s.on_request(re, who("bob"), 0));
  ASSERT_EQ(accepts.size(), 1u);
  EXPECT_EQ(accepts[0].body, f.answers[1]) << "the answer is rebuilt byte for byte";
  EXPECT_EQ(f.s.our_sdp(before), f.answers[1]);
}

// §7.4 delayed offer: after the ACK's answer, a re-INVITE without SDP gets
// our offer again exactly as the 2xx carried it (same o= version), though
// the endpoint keeps only what rebuilds it.
TEST(GroupSession, ReinviteAfterDelayedOfferRepeatsOurOffer) {
  Fixture f;
  f.populate({"alice"});
  InboundRequest join = invite("bob");
  join.content_type.clear();
  join.body.clear();
  auto accepts = commands_of<transport::Accept>(f.s.on_request(join, who("bob"), 0));
  ASSERT_EQ(accepts.size(), 1u);
  const std::string offer = accepts[0].body;
  ASSERT_NE(offer.find("a=setup:actpass"), std::string::npos);
  DialogEvent ack = event(join.dialog, DialogEventKind::Confirmed);
  ack.content_type = "application/sdp";
  ack.body =
      "v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=message 40002 TCP/MSRP *\r\na=accept-types:message/cpim\r\n"
      "a=path:msrp://127.0.0.1:40002/b0b0001;tcp\r\na=setup:active\r\n";
  f.s.on_dialog_event(ack, 0);
  ASSERT_EQ(f.s.state().endpoints.back().status, EndpointStatus::Connected);
  InboundRequest re = invite("bob");
  re.in_dialog = true;
  re.dialog = join.dialog;
  re.content_type.clear();
  re.body.clear();
  accepts = commands_of<transport::Accept>(f.s.on_request(re, who("bob"), 0));
  ASSERT_EQ(accepts.size(), 1u);
  EXPECT_EQ(accepts[0].body, offer);
}

TEST(GroupSession, StateRoundTripsThroughMsgpack) {
  Fixture f;
  f.populate({"alice", "bob"});
  msgpack::sbuffer buf;
  msgpack::pack(buf, f.s.state());
  auto handle = msgpack::unpack(buf.data(), buf.size());
  auto copy = handle.get().as<session::SessionState>();
  EXPECT_EQ(copy.identity, kIdentity);
  EXPECT_EQ(copy.initiator, "sip:alice@example.com");
  ASSERT_EQ(copy.endpoints.size(), 2u);
  EXPECT_EQ(copy.endpoints[1].aor, "sip:bob@example.com");
  EXPECT_EQ(copy.endpoints[1].status, EndpointStatus::Connected);
  EXPECT_EQ(copy.endpoints[1].msrp_leg_id, f.s.state().endpoints[1].msrp_leg_id);
  EXPECT_EQ(copy.endpoints[1].msrp_accept_types, f.s.state().endpoints[1].msrp_accept_types);
}

// E6/E7 with the creator alone: a join that never completed is no departure,
// so it must not trip the "fewer than 2" rule and release the session.
TEST(GroupSession, UnfinishedJoinNeverTriggersRelease) {
  for (auto kind : {DialogEventKind::Cancelled, DialogEventKind::PeerBye}) {
    Fixture f;
    f.populate({"alice"});
    auto r = invite("henry");
    f.s.on_request(r, who("henry"), 0);
    auto fx = f.s.on_dialog_event(event(r.dialog, kind), 0);
    EXPECT_TRUE(commands_of<transport::Hangup>(fx).empty());
    EXPECT_EQ(fx.release, policy::ReleaseReason::None);
    EXPECT_EQ(f.s.state().phase, Phase::Active);
    EXPECT_EQ(f.s.state().endpoints.size(), 1u);
  }
}

// E35: a 2xx never acknowledged counts as a departure for the release rules.
TEST(GroupSession, AckTimeoutCountsAsDeparture) {
  Fixture f;
  f.populate({"alice"});
  auto r = invite("bob");
  f.s.on_request(r, who("bob"), 0);
  auto fx = f.s.on_dialog_event(event(r.dialog, DialogEventKind::AckTimeout, 408), 0);
  EXPECT_EQ(fx.release, policy::ReleaseReason::BelowMinimum);
  EXPECT_EQ(commands_of<transport::Hangup>(fx).size(), 1u);
}

// The per-user counts the join and release checks read stay in step with the
// roster through joins, second devices, replacements, cancels, ACK timeouts,
// departures and the release.
TEST(GroupSession, UserCountsFollowTheRoster) {
  auto cfg = config();
  cfg.max_participants = 10;
  Fixture f(cfg);
  auto& s = f.s;
  f.populate({"alice", "bob", "carol"});
  EXPECT_TRUE(s.user_counts_match_roster());
  EXPECT_EQ(s.participating_users(), 3);
  // A second device of bob: still 3 users; its ACK makes 2 endpoints.
  auto bob2 = invite("bob");
  s.on_request(bob2, who("bob"), 0);
  EXPECT_TRUE(s.user_counts_match_roster());
  s.on_dialog_event(event(bob2.dialog, DialogEventKind::Confirmed), 0);
  EXPECT_TRUE(s.user_counts_match_roster());
  EXPECT_EQ(s.participating_users(), 3);
  // carol restarts with the same Contact: the old endpoint is Disconnecting.
  const std::string contact = "<" + s.state().endpoints[2].entity + ">";
  auto carol2 = invite("carol", kIdentity, contact);
  s.on_request(carol2, who("carol"), 0);
  EXPECT_TRUE(s.user_counts_match_roster());
  EXPECT_EQ(s.participating_users(), 2);  // carol is only joining again
  s.on_dialog_event(event(f.dialogs[2], DialogEventKind::ByeCompleted, 200), 0);
  s.on_dialog_event(event(carol2.dialog, DialogEventKind::Confirmed), 0);
  EXPECT_TRUE(s.user_counts_match_roster());
  EXPECT_EQ(s.participating_users(), 3);
  // dan joins and cancels, erin joins and never ACKs.
  auto dan = invite("dan");
  s.on_request(dan, who("dan"), 0);
  s.on_dialog_event(event(dan.dialog, DialogEventKind::Cancelled, 487), 0);
  EXPECT_TRUE(s.user_counts_match_roster());
  auto erin = invite("erin");
  s.on_request(erin, who("erin"), 0);
  EXPECT_TRUE(s.user_counts_match_roster());
  s.on_dialog_event(event(erin.dialog, DialogEventKind::AckTimeout, 408), 0);
  EXPECT_TRUE(s.user_counts_match_roster());
  // bob's first device leaves, then his second: bob is gone.
  s.on_dialog_event(event(f.dialogs[1], DialogEventKind::PeerBye), 0);
  EXPECT_TRUE(s.user_counts_match_roster());
  EXPECT_EQ(s.participating_users(), 3);
  s.on_dialog_event(event(bob2.dialog, DialogEventKind::PeerBye), 0);
  EXPECT_TRUE(s.user_counts_match_roster());
  EXPECT_EQ(s.participating_users(), 2);
  // carol leaves: below the minimum, the rest is released.
  auto fx = s.on_dialog_event(event(carol2.dialog, DialogEventKind::PeerBye), 0);
  EXPECT_EQ(fx.release, policy::ReleaseReason::BelowMinimum);
  EXPECT_TRUE(s.user_counts_match_roster());
  EXPECT_EQ(s.participating_users(), 0);
  s.on_dialog_event(event(f.dialogs[0], DialogEventKind::ByeCompleted, 200), 0);
  EXPECT_TRUE(s.user_counts_match_roster());
  EXPECT_TRUE(s.state().endpoints.empty());
}

// ------------------------------------------------------------ conference state (PROTOCOL.md §4, §5.4)

namespace {

InboundRequest subscribe_request(const std::string& user, const std::string& event = "conference") {
  InboundRequest r;
  r.id = ++g_next;
  r.dialog = ++g_next;
  r.method = "SUBSCRIBE";
  r.request_uri = kIdentity;
  r.from_uri = "sip:" + user + "@example.com";
  r.from_tag = user + "-sub";
  r.call_id = user + "-sub" + std::to_string(r.id);
  r.cseq = 1;
  r.contacts = {"<sip:" + user + "@127.0.0.1:5999>"};
  r.peer = {"127.0.0.1", 5999, "udp"};
  r.headers = {{"event", event}, {"expires", "600"}};
  return r;
}

uint16_t status_of(const session::Effects& fx) {
  auto r = commands_of<transport::Respond>(fx);
  return r.empty() ? 0 : r[0].status;
}

}  // namespace

TEST(GroupSessionConference, ParticipantSubscriptionIsHandedToTheNotifier) {
  Fixture f;
  f.populate({"alice", "bob"});
  auto fx = f.s.on_request(subscribe_request("bob"), who("bob"), 0);
  ASSERT_TRUE(fx.subscribe.has_value());
  EXPECT_TRUE(fx.commands.empty()) << "the notifier answers, not the session";
  EXPECT_EQ(fx.subscribe->subscriber, "sip:bob@example.com");
  EXPECT_EQ(fx.subscribe->expires, 600u);
  EXPECT_EQ(fx.subscribe->description.identity, kIdentity);
  EXPECT_EQ(fx.subscribe->description.maximum_user_count, 5u);
}

TEST(GroupSessionConference, SubscribeChecksComeInTheDocumentedOrder) {
  Fixture f;
  f.populate({"alice", "bob"});
  EXPECT_EQ(status_of(f.s.on_request(subscribe_request("bob", "presence"), who("bob"), 0)), 489);
  EXPECT_EQ(status_of(f.s.on_request(subscribe_request("bob"), std::nullopt, 0)), 403);
  EXPECT_EQ(status_of(f.s.on_request(subscribe_request("henry"), who("henry"), 0)), 403)
      << "not on the roster, not a watcher";
  auto cfg = config();
  cfg.conf.watchers = {"*@example.com"};
  Fixture g(cfg);
  g.populate({"alice", "bob"});
  EXPECT_TRUE(g.s.on_request(subscribe_request("henry"), who("henry"), 0).subscribe.has_value());
}

TEST(GroupSessionConference, SubscribeInsideAnInviteDialogIsRefused) {
  Fixture f;
  f.populate({"alice", "bob"});
  auto r = subscribe_request("bob");
  r.in_dialog = true;
  r.dialog = f.dialogs[1];
  auto responses = commands_of<transport::Respond>(f.s.on_request(r, who("bob"), 0));
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 403);
  EXPECT_EQ(responses[0].reason, "Dialog sharing not supported");
}

TEST(GroupSessionConference, JoinIsReportedWhenTheAckArrives) {
  Fixture f;
  f.populate({"alice"});
  auto r = invite("bob");
  auto fx = f.s.on_request(r, who("bob"), 0);
  EXPECT_FALSE(fx.roster.has_value()) << "not connected before the ACK";
  fx = f.s.on_dialog_event(event(r.dialog, DialogEventKind::Confirmed), 1736935200000);
  ASSERT_TRUE(fx.roster.has_value());
  ASSERT_EQ(fx.roster->changed.size(), 1u);
  EXPECT_TRUE(fx.roster->changed[0].connected);
  EXPECT_EQ(fx.roster->changed[0].aor, "sip:bob@example.com");
  EXPECT_EQ(fx.roster->changed[0].joining_method, "dialed-in");
  EXPECT_EQ(fx.roster->changed[0].joining_when, "2025-01-15T10:00:00Z");
}

TEST(GroupSessionConference, LeaverIsReportedDepartedAndLosesItsSubscriptions) {
  Fixture f;
  f.populate({"alice", "bob", "carol"});
  auto fx = f.s.on_dialog_event(event(f.dialogs[2], DialogEventKind::PeerBye), 0);
  ASSERT_TRUE(fx.roster.has_value());
  ASSERT_EQ(fx.roster->changed.size(), 1u);
  EXPECT_FALSE(fx.roster->changed[0].connected);
  EXPECT_EQ(fx.roster->changed[0].disconnection_method, "departed");
  EXPECT_EQ(fx.roster->terminate_subscribers, std::vector<std::string>{"sip:carol@example.com"});
  EXPECT_EQ(fx.roster->terminate_reason, "noresource");
  EXPECT_FALSE(fx.roster->released);
}

TEST(GroupSessionConference, LeaverKeepsItsSubscriptionsWhenPolicySaysSo) {
  auto cfg = config();
  cfg.conf.subscription_requires_participation = false;
  Fixture f(cfg);
  f.populate({"alice", "bob", "carol"});
  auto fx = f.s.on_dialog_event(event(f.dialogs[2], DialogEventKind::PeerBye), 0);
  ASSERT_TRUE(fx.roster.has_value());
  EXPECT_TRUE(fx.roster->terminate_subscribers.empty());
}

TEST(GroupSessionConference, UserWithAnotherDeviceStillParticipates) {
  Fixture f;
  f.populate({"alice", "bob"});
  auto second = invite("bob", kIdentity, "<sip:bob@127.0.0.2:5070>");
  f.s.on_request(second, who("bob"), 0);
  f.s.on_dialog_event(event(second.dialog, DialogEventKind::Confirmed), 0);
  auto fx = f.s.on_dialog_event(event(f.dialogs[1], DialogEventKind::PeerBye), 0);
  ASSERT_TRUE(fx.roster.has_value());
  EXPECT_EQ(fx.roster->changed.size(), 1u);
  EXPECT_TRUE(fx.roster->terminate_subscribers.empty()) << "E25";
  EXPECT_FALSE(fx.roster->released);
}

TEST(GroupSessionConference, ReleaseBootsTheRestAndEndsEverySubscription) {
  Fixture f;
  f.populate({"alice", "bob"});
  auto fx = f.s.on_dialog_event(event(f.dialogs[1], DialogEventKind::PeerBye), 0);
  ASSERT_TRUE(fx.roster.has_value());
  EXPECT_TRUE(fx.roster->released);
  ASSERT_EQ(fx.roster->changed.size(), 2u);
  EXPECT_EQ(fx.roster->changed[0].disconnection_method, "departed");
  EXPECT_EQ(fx.roster->changed[1].aor, "sip:alice@example.com");
  EXPECT_EQ(fx.roster->changed[1].disconnection_method, "booted");
  EXPECT_EQ(commands_of<transport::Hangup>(fx).size(), 1u);
}

// ---------------------------------------------------------------- REFER BYE

namespace {

InboundRequest refer_from(const std::string& user, const std::string& refer_to = "<sip:gs-1@im.example.com;method=BYE>",
                          const std::string& extra_name = "", const std::string& extra_value = "") {
  InboundRequest r;
  r.id = ++g_next;
  r.dialog = ++g_next;  // the early dialog the transport made for it
  r.method = "REFER";
  r.request_uri = kIdentity;
  r.from_uri = "sip:" + user + "@example.com";
  r.from_tag = user + "-ref";
  r.call_id = user + "-refer-" + std::to_string(r.id);
  r.cseq = 5;
  r.contacts = {"<sip:" + user + "@127.0.0.1:5999>"};
  r.peer = {"127.0.0.1", 5999, "udp"};
  r.headers = {{"p-asserted-identity", "<sip:" + user + "@example.com>"}, {"refer-to", refer_to}};
  if (!extra_name.empty()) r.headers.push_back({extra_name, extra_value});
  return r;
}

// Index of the first command holding T, or -1.
template <class T>
int index_of(const session::Effects& fx) {
  for (size_t i = 0; i < fx.commands.size(); ++i)
    if (std::holds_alternative<T>(fx.commands[i])) return static_cast<int>(i);
  return -1;
}

DialogEvent notify_done(uint64_t dialog, uint64_t token, uint16_t status = 200) {
  return DialogEvent{dialog, kIdentity, DialogEventKind::RequestDone, status, token};
}

session::SessionConfig unthrottled() {
  auto c = config();
  c.refer.min_notify_interval_ms = 0;
  return c;
}

}  // namespace

TEST(GroupSessionRefer, SelfRemovalAnswersFirstThenNotifiesThenByes) {
  Fixture f(unthrottled());
  f.populate({"alice", "bob", "carol", "dan"});
  auto r = refer_from("carol");
  auto fx = f.s.on_request(r, who("carol"), 1000);
  const int accept = index_of<transport::AcceptSubscription>(fx);
  const int notify = index_of<transport::SendInDialog>(fx);
  const int bye = index_of<transport::Hangup>(fx);
  ASSERT_GE(accept, 0);
  ASSERT_GT(notify, accept);
  ASSERT_GT(bye, notify);
  const auto& a = std::get<transport::AcceptSubscription>(fx.commands[accept]);
  EXPECT_EQ(a.status, 202);
  EXPECT_EQ(a.dialog, r.dialog);
  EXPECT_NE(a.headers.find("Supported: norefersub\r\n"), std::string::npos);
  EXPECT_EQ(a.headers.find("Refer-Sub"), std::string::npos);
  const auto& n1 = std::get<transport::SendInDialog>(fx.commands[notify]);
  EXPECT_EQ(n1.dialog, r.dialog);
  EXPECT_NE(n1.headers.find("Event: refer;id=5\r\n"), std::string::npos);
  EXPECT_NE(n1.headers.find("Subscription-State: active;expires=60\r\n"), std::string::npos);
  EXPECT_EQ(n1.body, "SIP/2.0 100 Trying\r\n");
  const auto& h = std::get<transport::Hangup>(fx.commands[bye]);
  EXPECT_EQ(h.dialog, f.dialogs[2]);
  EXPECT_FALSE(h.keep_dialog);
  ASSERT_TRUE(fx.roster);
  ASSERT_EQ(fx.roster->changed.size(), 1u);
  EXPECT_EQ(fx.roster->changed[0].disconnection_method, "booted");
  EXPECT_EQ(fx.roster->changed[0].disconnection_by, "sip:carol@example.com");
  EXPECT_EQ(fx.roster->terminate_subscribers, std::vector<std::string>{"sip:carol@example.com"});
  EXPECT_FALSE(fx.roster->released);

  // NOTIFY #2 waits for both the BYE and NOTIFY #1's answer (one at a time).
  auto bye_done = f.s.on_dialog_event(event(f.dialogs[2], DialogEventKind::ByeCompleted, 200), 1010);
  EXPECT_TRUE(commands_of<transport::SendInDialog>(bye_done).empty());
  auto n2fx = f.s.on_dialog_event(notify_done(r.dialog, n1.token), 1020);
  auto n2 = commands_of<transport::SendInDialog>(n2fx);
  ASSERT_EQ(n2.size(), 1u);
  EXPECT_NE(n2[0].headers.find("Subscription-State: terminated;reason=noresource\r\n"), std::string::npos);
  EXPECT_EQ(n2[0].body, "SIP/2.0 200 OK\r\n");
  auto end = f.s.on_dialog_event(notify_done(r.dialog, n2[0].token), 1030);
  auto forget = commands_of<transport::ForgetDialog>(end);
  ASSERT_EQ(forget.size(), 1u);
  EXPECT_EQ(forget[0].dialog, r.dialog);
  EXPECT_TRUE(f.s.state().refer_subs.empty());
  EXPECT_EQ(f.s.state().phase, Phase::Active);
}

TEST(GroupSessionRefer, SecondNotifyKeepsTheOncePerSecondRule) {
  Fixture f;  // default refer.min_notify_interval_ms = 1000
  f.populate({"alice", "bob", "carol"});
  auto r = refer_from("carol");
  auto fx = f.s.on_request(r, who("carol"), 5000);
  auto n1 = commands_of<transport::SendInDialog>(fx);
  ASSERT_EQ(n1.size(), 1u);
  f.s.on_dialog_event(notify_done(r.dialog, n1[0].token), 5005);
  auto done = f.s.on_dialog_event(event(f.dialogs[2], DialogEventKind::ByeCompleted, 200), 5010);
  EXPECT_TRUE(commands_of<transport::SendInDialog>(done).empty());
  ASSERT_TRUE(done.wake_at_ms);
  EXPECT_EQ(*done.wake_at_ms, 6000);
  EXPECT_TRUE(commands_of<transport::SendInDialog>(f.s.on_tick(5999)).empty());
  auto n2 = commands_of<transport::SendInDialog>(f.s.on_tick(6000));
  ASSERT_EQ(n2.size(), 1u);
  EXPECT_EQ(n2[0].body, "SIP/2.0 200 OK\r\n");
}

TEST(GroupSessionRefer, InDialogReferKeepsTheSharedDialogForItsFinalNotify) {
  Fixture f(unthrottled());
  f.populate({"alice", "bob", "carol"});
  auto r = refer_from("carol");
  r.in_dialog = true;
  r.dialog = f.dialogs[2];
  auto fx = f.s.on_request(r, who("carol"), 0);
  auto responses = commands_of<transport::Respond>(fx);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 202);
  EXPECT_EQ(responses[0].headers.find("norefersub"), std::string::npos);
  EXPECT_NE(responses[0].headers.find("Contact: <sip:gs-1@im.example.com>;isfocus"), std::string::npos);
  auto hangups = commands_of<transport::Hangup>(fx);
  ASSERT_EQ(hangups.size(), 1u);
  EXPECT_TRUE(hangups[0].keep_dialog);
  auto n1 = commands_of<transport::SendInDialog>(fx);
  ASSERT_EQ(n1.size(), 1u);
  EXPECT_EQ(n1[0].dialog, f.dialogs[2]);
}

TEST(GroupSessionRefer, ReferSubFalseMeansNoSubscription) {
  Fixture f(unthrottled());
  f.populate({"alice", "bob", "carol"});
  auto fx = f.s.on_request(refer_from("carol", "<sip:gs-1@im.example.com;method=BYE>", "refer-sub", "FALSE"),
                           who("carol"), 0);
  auto responses = commands_of<transport::Respond>(fx);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 202);
  EXPECT_NE(responses[0].headers.find("Refer-Sub: false\r\n"), std::string::npos);
  EXPECT_NE(responses[0].headers.find("Supported: norefersub\r\n"), std::string::npos);
  EXPECT_TRUE(commands_of<transport::SendInDialog>(fx).empty());
  EXPECT_TRUE(commands_of<transport::AcceptSubscription>(fx).empty());
  EXPECT_EQ(commands_of<transport::Hangup>(fx).size(), 1u);
  EXPECT_TRUE(f.s.state().refer_subs.empty());
}

TEST(GroupSessionRefer, RefusalsHaveNoSideEffects) {
  struct Case {
    const char* name;
    std::string user;
    bool identified;
    std::string refer_to;
    uint16_t status;
  };
  const Case cases[] = {
      {"no identity", "carol", false, "<sip:gs-1@im.example.com;method=BYE>", 403},
      {"not a participant", "eve", true, "<sip:gs-1@im.example.com;method=BYE>", 403},
      {"another user's AoR", "alice", true, "<sip:bob@example.com;method=BYE>", 403},
      {"other method", "carol", true, "<sip:gs-1@im.example.com;method=OPTIONS>", 403},
      {"lower-case bye", "carol", true, "<sip:gs-1@im.example.com;method=bye>", 403},
      {"no method", "carol", true, "<sip:gs-1@im.example.com>", 403},
      {"escaped semicolon", "carol", true, "<sip:gs-1%3Bmethod%3DBYE@im.example.com>", 403},
      {"tel", "carol", true, "<tel:+15551234>", 403},
      {"two values", "carol", true, "<sip:gs-1@im.example.com;method=BYE>, <sip:gs-2@im.example.com;method=BYE>", 400},
      {"unparsable", "carol", true, "<sip:gs-1@im.example.com;method=BYE", 400},
  };
  for (const auto& c : cases) {
    Fixture f(unthrottled());
    f.populate({"alice", "bob", "carol"});
    auto fx = f.s.on_request(refer_from(c.user, c.refer_to),
                             c.identified ? std::optional<policy::AssertedIdentity>(who(c.user)) : std::nullopt, 0);
    auto responses = commands_of<transport::Respond>(fx);
    ASSERT_EQ(responses.size(), 1u) << c.name;
    EXPECT_EQ(responses[0].status, c.status) << c.name;
    EXPECT_EQ(fx.commands.size(), 1u) << c.name;
    EXPECT_FALSE(fx.roster) << c.name;
    EXPECT_EQ(f.s.participating_users(), 3) << c.name;
  }
}

TEST(GroupSessionRefer, SecondReferWhileDisconnectingIsRefused) {
  Fixture f(unthrottled());
  f.populate({"alice", "bob", "carol", "dan"});
  f.s.on_request(refer_from("carol"), who("carol"), 0);
  auto again = f.s.on_request(refer_from("carol"), who("carol"), 1);
  auto responses = commands_of<transport::Respond>(again);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].status, 403);
  EXPECT_TRUE(commands_of<transport::Hangup>(again).empty());
}

TEST(GroupSessionRefer, CrossingByeFinishesTheRemovalWithOneReport) {
  Fixture f(unthrottled());
  f.populate({"alice", "bob", "carol", "dan"});
  auto r = refer_from("carol");
  auto fx = f.s.on_request(r, who("carol"), 0);
  auto n1 = commands_of<transport::SendInDialog>(fx);
  ASSERT_EQ(n1.size(), 1u);
  f.s.on_dialog_event(notify_done(r.dialog, n1[0].token), 1);
  // The transport answers the participant's own BYE; if it reports it, no
  // second departure is reported and the refer subscription completes.
  auto peer = f.s.on_dialog_event(event(f.dialogs[2], DialogEventKind::PeerBye), 2);
  EXPECT_FALSE(peer.roster);
  auto n2 = commands_of<transport::SendInDialog>(peer);
  ASSERT_EQ(n2.size(), 1u);
  EXPECT_EQ(n2[0].body, "SIP/2.0 200 OK\r\n");
}

TEST(GroupSessionRefer, ReleaseWaitsForTheReferSubscription) {
  Fixture f(unthrottled());
  f.populate({"alice", "bob"});
  auto r = refer_from("bob");
  auto fx = f.s.on_request(r, who("bob"), 0);
  EXPECT_EQ(commands_of<transport::Hangup>(fx).size(), 2u);  // R1: Alice goes too
  ASSERT_TRUE(fx.roster);
  EXPECT_TRUE(fx.roster->released);
  auto n1 = commands_of<transport::SendInDialog>(fx);
  ASSERT_EQ(n1.size(), 1u);
  f.s.on_dialog_event(event(f.dialogs[0], DialogEventKind::ByeCompleted, 200), 1);
  f.s.on_dialog_event(event(f.dialogs[1], DialogEventKind::ByeCompleted, 481), 2);
  EXPECT_FALSE(f.s.finished());
  auto n2 = commands_of<transport::SendInDialog>(f.s.on_dialog_event(notify_done(r.dialog, n1[0].token), 3));
  ASSERT_EQ(n2.size(), 1u);
  EXPECT_FALSE(f.s.finished());
  f.s.on_dialog_event(notify_done(r.dialog, n2[0].token, 481), 4);
  EXPECT_TRUE(f.s.finished());
}

TEST(GroupSessionRefer, HostMayEjectOthersOnlyWithTheKnob) {
  auto c = unthrottled();
  c.refer.allow_remove_others = true;
  Fixture f(c);
  f.populate({"alice", "bob", "carol", "dan"});
  auto denied = f.s.on_request(refer_from("bob", "<sip:dan@example.com;method=BYE>"), who("bob"), 0);
  ASSERT_EQ(commands_of<transport::Respond>(denied).size(), 1u);
  EXPECT_EQ(commands_of<transport::Respond>(denied)[0].status, 403);
  auto fx = f.s.on_request(refer_from("alice", "<sip:carol@example.com;method=BYE>"), who("alice"), 0);
  auto hangups = commands_of<transport::Hangup>(fx);
  ASSERT_EQ(hangups.size(), 1u);
  EXPECT_EQ(hangups[0].dialog, f.dialogs[2]);
  ASSERT_TRUE(fx.roster);
  EXPECT_EQ(fx.roster->changed[0].aor, "sip:carol@example.com");
  EXPECT_EQ(fx.roster->changed[0].disconnection_by, "sip:alice@example.com");
}

TEST(GroupSessionPredefined, MembershipAuthorizesJoinsAndReloadsApplyToLaterOnes) {
  session::GroupSession s(config(), kIdentity, policy::SessionKind::Predefined, kIdentity, 7);
  s.set_group("sip:team@im.example.com", {"sip:alice@example.com", "sip:bob@example.com"}, false, false, "Team chat");
  auto a = invite("alice", "sip:team@im.example.com");
  ASSERT_EQ(commands_of<transport::Accept>(s.create(a, who("alice"), 0)).size(), 1u);
  s.on_dialog_event(event(a.dialog, DialogEventKind::Confirmed), 0);
  EXPECT_EQ(s.state().subject, "Team chat");
  auto dan = s.on_request(invite("dan", "sip:team@im.example.com"), who("dan"), 0);
  auto refused = commands_of<transport::Respond>(dan);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].status, 403);
  EXPECT_TRUE(commands_of<transport::Accept>(s.on_request(invite("bob", "sip:team@im.example.com"), who("bob"), 0))
                  .size() == 1u);
  s.update_group({"sip:alice@example.com", "sip:bob@example.com", "sip:dan@example.com"}, false, false);
  EXPECT_EQ(commands_of<transport::Accept>(s.on_request(invite("dan", "sip:team@im.example.com"), who("dan"), 0)).size(),
            1u);
}

// ------------------------------------------------------------ dial-out
// SESSIONS.md §2.3-§2.7 as state-machine steps.
namespace {

codec::Invitee invitee(const std::string& user) {
  codec::Invitee i;
  i.uri = "sip:" + user + "@example.com";
  i.target = i.uri;
  i.copy = codec::CopyControl::To;
  return i;
}

const char* kInviteeAnswer =
    "v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=message 40002 TCP/MSRP *\r\na=accept-types:message/cpim\r\n"
    "a=path:msrp://127.0.0.1:40002/bOb00002;tcp\r\na=setup:active\r\n";

transport::DialEvent dial_event(uint64_t token, transport::DialEventKind kind, uint16_t status = 0,
                                uint64_t dialog = 0) {
  transport::DialEvent e;
  e.owner = kIdentity;
  e.token = token;
  e.kind = kind;
  e.status = status;
  e.dialog = dialog;
  if (kind == transport::DialEventKind::Answered) {
    e.content_type = "application/sdp";
    e.body = kInviteeAnswer;
    e.headers = {{"contact", "<sip:bob@127.0.0.1:5070>"}};
  }
  return e;
}

struct DialFixture {
  GroupSession s;
  uint64_t alice_dialog = 0;
  session::Effects created;
  explicit DialFixture(const std::vector<std::string>& invitees, session::SessionConfig c = config())
      : s(c, kIdentity, policy::SessionKind::AdHoc, kIdentity, 7) {
    auto r = invite("alice", "sip:conference-factory@im.example.com");
    r.headers.push_back({"subject", "Project sync"});
    std::vector<codec::Invitee> list;
    for (const auto& u : invitees) list.push_back(invitee(u));
    created = s.create(r, who("alice"), 0, list);
    alice_dialog = r.dialog;
    s.on_dialog_event(event(r.dialog, DialogEventKind::Confirmed), 0);
  }
};

}  // namespace

// §2.3 step 4, §2.4, §2.6: the creator's 2xx first, then one Dial per
// invitee with the §2.4 headers; invitees reported dialing-out.
TEST(GroupSessionDialOut, CreationAcceptsThenDials) {
  DialFixture f({"bob", "carol"});
  const auto& cmds = f.created.commands;
  ASSERT_GE(cmds.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<transport::Accept>(cmds[0]));
  auto dials = commands_of<transport::Dial>(f.created);
  ASSERT_EQ(dials.size(), 2u);
  EXPECT_EQ(dials[0].request_uri, "sip:bob@example.com");
  EXPECT_EQ(dials[0].from_uri, kIdentity);
  EXPECT_EQ(dials[0].from_display, "Project sync");
  EXPECT_NE(dials[0].headers.find("Referred-By: <sip:alice@example.com>\r\n"), std::string::npos);
  EXPECT_NE(dials[0].headers.find("Subject: Project sync\r\n"), std::string::npos);
  EXPECT_EQ(dials[0].headers.find("P-Asserted-Identity"), std::string::npos) << "no PAI without the trusted proxy";
  EXPECT_NE(dials[0].content_type.find("multipart/mixed;boundary="), std::string::npos);
  EXPECT_NE(dials[0].token, dials[1].token);
  ASSERT_TRUE(f.created.roster);
  int dialing = 0;
  for (const auto& e : f.created.roster->changed)
    if (e.pending_status == "dialing-out") {
      ++dialing;
      EXPECT_EQ(e.referred_by, "sip:alice@example.com");
    }
  EXPECT_EQ(dialing, 2);
  EXPECT_TRUE(f.created.wake_at_ms) << "the no-answer timer";
}

// §2.4: dialout.max_parallel; the rest follow as outcomes come in.
TEST(GroupSessionDialOut, MaxParallelQueues) {
  auto c = config();
  c.dialout.max_parallel = 1;
  DialFixture f({"bob", "carol"}, c);
  auto dials = commands_of<transport::Dial>(f.created);
  ASSERT_EQ(dials.size(), 1u);
  auto fx = f.s.on_dial_event(dial_event(dials[0].token, transport::DialEventKind::Failed, 603), 10);
  auto next = commands_of<transport::Dial>(fx);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].request_uri, "sip:carol@example.com");
}

// §2.5, §2.6 J2: a 2xx makes a connected dialed-out endpoint keyed by the
// Contact, registers its MSRP leg, and withdraws the provisional endpoint.
TEST(GroupSessionDialOut, AnswerConnects) {
  DialFixture f({"bob", "carol"});
  auto dials = commands_of<transport::Dial>(f.created);
  auto fx = f.s.on_dial_event(dial_event(dials[0].token, transport::DialEventKind::Answered, 200, 900), 10);
  ASSERT_TRUE(fx.roster);
  ASSERT_EQ(fx.roster->changed.size(), 2u);
  EXPECT_TRUE(fx.roster->changed[0].withdrawn);
  EXPECT_EQ(fx.roster->changed[0].entity, "sip:bob@example.com");
  EXPECT_EQ(fx.roster->changed[1].entity, "sip:bob@127.0.0.1:5070");
  EXPECT_EQ(fx.roster->changed[1].joining_method, "dialed-out");
  EXPECT_TRUE(fx.roster->changed[1].connected);
  EXPECT_TRUE(fx.roster->changed[1].pending_status.empty());
  ASSERT_EQ(fx.msrp.size(), 1u);
  const auto& leg = std::get<transport::MsrpAddLeg>(fx.msrp[0]).leg;
  EXPECT_FALSE(leg.connect_out) << "the invitee answered active: it connects";
  // The dialog keeps describing our side with the offer as sent (same o= version).
  const auto& ep = f.s.state().endpoints.back();
  const std::string& body = dials[0].body;
  const size_t sdp = body.find("v=0");
  EXPECT_EQ(f.s.our_sdp(ep), body.substr(sdp, body.find("\r\n--", sdp) - sdp));
  EXPECT_EQ(f.s.participating_users(), 2);
}

// §2.5, §2.7, E36: failures are reported (busy for 486); when nobody is left
// the session is released and pending dials are cancelled.
TEST(GroupSessionDialOut, FailuresThenRelease) {
  DialFixture f({"bob", "carol"});
  auto dials = commands_of<transport::Dial>(f.created);
  auto fx = f.s.on_dial_event(dial_event(dials[1].token, transport::DialEventKind::Failed, 486, 0), 10);
  ASSERT_TRUE(fx.roster);
  EXPECT_EQ(fx.roster->changed.at(0).disconnection_method, "busy");
  EXPECT_EQ(fx.release, policy::ReleaseReason::None) << "Bob is pending: R1 counts him";
  fx = f.s.on_dial_event(dial_event(dials[0].token, transport::DialEventKind::Failed, 603, 0), 20);
  EXPECT_EQ(fx.release, policy::ReleaseReason::BelowMinimum);
  ASSERT_TRUE(fx.roster);
  EXPECT_NE(fx.roster->changed.at(0).disconnection_reason.find("cause=603"), std::string::npos);
  EXPECT_EQ(commands_of<transport::Hangup>(fx).size(), 1u);
}

// §9.2: the no-answer timer cancels; the 487 that follows says "No answer".
TEST(GroupSessionDialOut, NoAnswerCancels) {
  auto c = config();
  c.dialout.no_answer_timeout_s = 5;
  DialFixture f({"bob", "carol"}, c);
  auto dials = commands_of<transport::Dial>(f.created);
  EXPECT_TRUE(commands_of<transport::CancelDial>(f.s.on_tick(4000)).empty());
  auto fx = f.s.on_tick(5000);
  EXPECT_EQ(commands_of<transport::CancelDial>(fx).size(), 2u);
  fx = f.s.on_dial_event(dial_event(dials[0].token, transport::DialEventKind::Failed, 487), 5100);
  ASSERT_TRUE(fx.roster);
  EXPECT_NE(fx.roster->changed.at(0).disconnection_reason.find("text=\"No answer\""), std::string::npos);
}

// E38: a dial-in by a pending invitee cancels the dial-out; the provisional
// endpoint is withdrawn when the dial-in is connected; a late 2xx is BYEd.
TEST(GroupSessionDialOut, DialInSupersedesDialOut) {
  DialFixture f({"bob", "carol"});
  auto dials = commands_of<transport::Dial>(f.created);
  auto r = invite("bob");
  auto fx = f.s.on_request(r, who("bob"), 10);
  ASSERT_EQ(commands_of<transport::CancelDial>(fx).size(), 1u);
  EXPECT_EQ(commands_of<transport::CancelDial>(fx)[0].token, dials[0].token);
  fx = f.s.on_dialog_event(event(r.dialog, DialogEventKind::Confirmed), 20);
  ASSERT_TRUE(fx.roster);
  ASSERT_EQ(fx.roster->changed.size(), 2u);
  EXPECT_TRUE(fx.roster->changed[0].withdrawn);
  EXPECT_EQ(fx.roster->changed[1].joining_method, "dialed-in");
  fx = f.s.on_dial_event(dial_event(dials[0].token, transport::DialEventKind::Answered, 200, 901), 30);
  ASSERT_EQ(commands_of<transport::Hangup>(fx).size(), 1u);
  EXPECT_EQ(commands_of<transport::Hangup>(fx)[0].dialog, 901u);
  EXPECT_FALSE(fx.roster);
}

// E40: an unusable answer is BYEd and reported failed with cause 488.
TEST(GroupSessionDialOut, UnusableAnswer) {
  DialFixture f({"bob", "carol"});
  auto dials = commands_of<transport::Dial>(f.created);
  auto ev = dial_event(dials[0].token, transport::DialEventKind::Answered, 200, 902);
  ev.body = "v=0\r\n";
  auto fx = f.s.on_dial_event(ev, 10);
  ASSERT_EQ(commands_of<transport::Hangup>(fx).size(), 1u);
  ASSERT_TRUE(fx.roster);
  EXPECT_NE(fx.roster->changed.at(0).disconnection_reason.find("cause=488"), std::string::npos);
}
