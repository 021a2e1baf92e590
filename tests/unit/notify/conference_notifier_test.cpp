// ConferenceNotifier as a plain state machine: each test feeds it
// subscriptions, roster changes and NOTIFY results, and checks the SIP
// commands it produces (PROTOCOL.md §4, §5.4; SESSIONS.md §6, §9.4).

#include "actors/notify/conference_notifier.hpp"

#include <gtest/gtest.h>

#include <regex>

#include "tests/client/conference_doc.hpp"

namespace imserver::notify {
namespace {

using session::AuthorizedSubscribe;
using session::ConferenceConfig;
using session::EndpointReport;
using session::RosterUpdate;
using transport::Command;
using transport::DialogEvent;
using transport::DialogEventKind;
using transport::SendInDialog;

const char* kIdentity = "sip:gs-1@im.example.com";

session::ConferenceDescription description() { return {kIdentity, "Project sync", 5}; }

EndpointReport joined(const std::string& user) {
  EndpointReport e;
  e.aor = "sip:" + user + "@example.com";
  e.entity = "sip:" + user + "@127.0.0.1:5060";
  e.joining_method = "dialed-in";
  e.joining_when = "2025-01-15T10:00:00Z";
  return e;
}

EndpointReport left(const std::string& user, const std::string& how = "departed") {
  EndpointReport e = joined(user);
  e.connected = false;
  e.disconnection_method = how;
  e.disconnection_when = "2025-01-15T10:15:30Z";
  return e;
}

RosterUpdate update(std::vector<EndpointReport> changed) {
  RosterUpdate u;
  u.description = description();
  u.changed = std::move(changed);
  return u;
}

std::vector<SendInDialog> notifies(const std::vector<Command>& out) {
  std::vector<SendInDialog> n;
  for (const auto& c : out)
    if (const auto* s = std::get_if<SendInDialog>(&c)) n.push_back(*s);
  return n;
}

int version_of(const SendInDialog& n) {
  std::smatch m;
  if (!std::regex_search(n.body, m, std::regex("version=\"([0-9]+)\""))) return -1;
  return std::stoi(m[1]);
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class NotifierTest : public ::testing::Test {
 protected:
  void make(ConferenceConfig conf = {}) { n = std::make_unique<ConferenceNotifier>(conf, "notify:0"); }

  // Subscribes `user` on dialog `dialog` and answers the first NOTIFY 200.
  SendInDialog subscribe(transport::DialogId dialog, const std::string& user, uint32_t expires = 3600) {
    AuthorizedSubscribe a;
    a.description = description();
    a.request.id = dialog * 100;
    a.request.dialog = dialog;
    a.subscriber = "sip:" + user + "@example.com";
    a.expires = expires;
    std::vector<Command> out;
    n->on_subscribe(a, now, out);
    EXPECT_TRUE(std::holds_alternative<transport::AcceptSubscription>(out.at(0)));
    auto ns = notifies(out);
    EXPECT_EQ(ns.size(), 1u);
    return ns.at(0);
  }

  std::vector<Command> answer(const SendInDialog& notify, uint16_t status = 200) {
    std::vector<Command> out;
    n->on_request_done(DialogEvent{notify.dialog, "notify:0", DialogEventKind::RequestDone, status, notify.token},
                       now, out);
    return out;
  }

  std::vector<SendInDialog> roster(RosterUpdate u) {
    std::vector<Command> out;
    n->on_roster(u, now, out);
    return notifies(out);
  }

  std::unique_ptr<ConferenceNotifier> n;
  int64_t now = 1000000;
};

TEST_F(NotifierTest, FirstNotifyIsFullVersionZeroAndActive) {
  make();
  roster(update({joined("alice"), joined("bob")}));
  auto first = subscribe(1, "alice");
  EXPECT_EQ(version_of(first), 0);
  EXPECT_TRUE(has(first.headers, "Subscription-State: active;expires=3600\r\n"));
  EXPECT_TRUE(has(first.headers, "Event: conference\r\n"));
  EXPECT_EQ(first.content_type, "application/conference-info+xml");
  EXPECT_TRUE(has(first.body, "state=\"full\""));
  EXPECT_TRUE(has(first.body, "<maximum-user-count>5</maximum-user-count>"));
  EXPECT_TRUE(has(first.body, "<user-count>2</user-count>"));
  EXPECT_TRUE(has(first.body, "entity=\"sip:bob@example.com\""));
}

TEST_F(NotifierTest, DepartureIsReportedThenPurgedWithTheNextPartial) {
  make();
  roster(update({joined("alice"), joined("bob"), joined("carol"), joined("dan")}));
  answer(subscribe(1, "alice"));
  auto report = roster(update({left("carol")}));
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(version_of(report[0]), 1);
  EXPECT_TRUE(has(report[0].body, "<users state=\"partial\">"));
  EXPECT_TRUE(has(report[0].body, "<user entity=\"sip:carol@example.com\" state=\"partial\">"));
  EXPECT_TRUE(has(report[0].body, "<disconnection-method>departed</disconnection-method>"));
  EXPECT_TRUE(has(report[0].body, "<user-count>3</user-count>"));
  EXPECT_FALSE(has(report[0].body, "sip:bob@example.com"));
  answer(report[0]);
  EXPECT_EQ(n->roster_records(), 3u) << "carol's record is purged once reported";
  auto next = roster(update({left("dan")}));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(version_of(next[0]), 2);
  EXPECT_TRUE(has(next[0].body, "<user entity=\"sip:carol@example.com\" state=\"deleted\"/>"));
  EXPECT_TRUE(has(next[0].body, "<user-count>2</user-count>"));
}

TEST_F(NotifierTest, ImmediatePurgeSendsTheDeletionRightAfterTheReport) {
  ConferenceConfig conf;
  conf.purge_mode = session::PurgeMode::Immediate;
  make(conf);
  roster(update({joined("alice"), joined("carol")}));
  answer(subscribe(1, "alice"));
  auto report = roster(update({left("carol")}));
  ASSERT_EQ(report.size(), 1u);
  auto purge = notifies(answer(report[0]));
  ASSERT_EQ(purge.size(), 1u);
  EXPECT_EQ(version_of(purge[0]), 2);
  EXPECT_TRUE(has(purge[0].body, "<user entity=\"sip:carol@example.com\" state=\"deleted\"/>"));
  EXPECT_TRUE(notifies(answer(purge[0])).empty());
}

TEST_F(NotifierTest, ChangesWhileANotifyIsInFlightMergeIntoOneDocument) {
  make();
  roster(update({joined("alice")}));
  auto first = subscribe(1, "alice");
  EXPECT_TRUE(roster(update({joined("bob")})).empty());
  EXPECT_TRUE(roster(update({joined("carol")})).empty());
  EXPECT_TRUE(roster(update({left("carol")})).empty());
  auto merged = notifies(answer(first));
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(version_of(merged[0]), 1);
  EXPECT_TRUE(has(merged[0].body, "<user entity=\"sip:bob@example.com\" state=\"full\">"));
  // Carol came and went before this subscriber heard of her: nothing to say.
  EXPECT_FALSE(has(merged[0].body, "carol"));
}

TEST_F(NotifierTest, RateLimitDefersAndMergesUntilTheWindowEnds) {
  ConferenceConfig conf;
  conf.min_notify_interval_ms = 5000;
  make(conf);
  roster(update({joined("alice"), joined("carol"), joined("dan"), joined("bob")}));
  answer(subscribe(1, "alice"));
  EXPECT_TRUE(roster(update({left("carol")})).empty());
  now += 200;
  EXPECT_TRUE(roster(update({left("dan")})).empty());
  EXPECT_EQ(n->next_wakeup(), 1000000 + 5000);
  EXPECT_EQ(n->take_new_wakeup(), 1000000 + 5000) << "the held-back send is announced to the actor";
  EXPECT_EQ(n->take_new_wakeup(), ConferenceNotifier::kNever) << "once";
  now = n->next_wakeup();
  std::vector<Command> out;
  n->on_timer(now, out);
  auto ns = notifies(out);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(version_of(ns[0]), 1);
  EXPECT_TRUE(has(ns[0].body, "sip:carol@example.com"));
  EXPECT_TRUE(has(ns[0].body, "sip:dan@example.com"));
}

TEST_F(NotifierTest, LeaverSubscriptionEndsWithTheDepartureDocument) {
  make();
  roster(update({joined("alice"), joined("carol"), joined("bob")}));
  auto a = subscribe(1, "alice");
  auto c = subscribe(2, "carol");
  answer(a);
  answer(c);
  auto u = update({left("carol")});
  u.terminate_subscribers = {"sip:carol@example.com"};
  auto ns = roster(u);
  ASSERT_EQ(ns.size(), 2u);
  for (const auto& x : ns) {
    EXPECT_EQ(version_of(x), 1);
    if (x.dialog == 2) EXPECT_TRUE(has(x.headers, "Subscription-State: terminated;reason=noresource\r\n"));
    else EXPECT_TRUE(has(x.headers, "Subscription-State: active;expires="));
  }
  auto done = answer(ns[0].dialog == 2 ? ns[0] : ns[1]);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<transport::ForgetDialog>(done[0]));
  EXPECT_EQ(n->subscription_count(), 1u);
}

TEST_F(NotifierTest, ReleaseWithDeletedBodyEndsEverySubscription) {
  ConferenceConfig conf;
  conf.release_final_body = session::FinalBody::Deleted;
  make(conf);
  roster(update({joined("alice"), joined("bob")}));
  answer(subscribe(1, "alice"));
  auto u = update({left("bob"), left("alice", "booted")});
  u.released = true;
  auto ns = roster(u);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_TRUE(has(ns[0].headers, "terminated;reason=noresource"));
  EXPECT_TRUE(has(ns[0].body, "state=\"deleted\" version=\"1\"/>"));
  answer(ns[0]);
  EXPECT_TRUE(n->finished());
}

TEST_F(NotifierTest, ReleaseWithRosterBodyShowsWhoLeftAndHow) {
  make();
  roster(update({joined("alice"), joined("bob")}));
  answer(subscribe(1, "alice"));
  auto u = update({left("bob"), left("alice", "booted")});
  u.released = true;
  auto ns = roster(u);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_TRUE(has(ns[0].body, "<active>false</active>"));
  EXPECT_TRUE(has(ns[0].body, "<user-count>0</user-count>"));
  EXPECT_TRUE(has(ns[0].body, "<disconnection-method>booted</disconnection-method>"));
  EXPECT_TRUE(has(ns[0].body, "<disconnection-method>departed</disconnection-method>"));
}

TEST_F(NotifierTest, NotifyAnswered481EndsTheSubscriptionSilently) {
  make();
  roster(update({joined("alice"), joined("bob"), joined("carol")}));
  answer(subscribe(1, "alice"));
  auto ns = roster(update({left("carol")}));
  auto out = answer(ns.at(0), 481);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<transport::ForgetDialog>(out[0]));
  EXPECT_TRUE(roster(update({left("bob")})).empty());
}

TEST_F(NotifierTest, NotifyAnswered500MakesTheNextDocumentFull) {
  make();
  roster(update({joined("alice"), joined("bob"), joined("carol"), joined("dan")}));
  answer(subscribe(1, "alice"));
  auto ns = roster(update({left("carol")}));
  EXPECT_TRUE(answer(ns.at(0), 500).empty());
  auto next = roster(update({left("dan")}));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(version_of(next[0]), 2);
  EXPECT_TRUE(has(next[0].body, "state=\"full\""));
  EXPECT_TRUE(has(next[0].headers, "active;expires="));
}

TEST_F(NotifierTest, ExpiryEndsWithTimeoutAndNoBody) {
  make();
  roster(update({joined("alice")}));
  answer(subscribe(1, "alice", 60));
  EXPECT_EQ(n->next_wakeup(), now + 60000);
  EXPECT_EQ(n->take_new_wakeup(), now + 60000);
  now += 60000;
  std::vector<Command> out;
  n->on_timer(now, out);
  auto ns = notifies(out);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_TRUE(has(ns[0].headers, "Subscription-State: terminated;reason=timeout\r\n"));
  EXPECT_TRUE(ns[0].body.empty());
}

TEST_F(NotifierTest, RefreshGetsAFullDocumentWithoutThePurgedUser) {
  make();
  roster(update({joined("alice"), joined("bob"), joined("carol")}));
  answer(subscribe(1, "alice"));
  answer(roster(update({left("carol")})).at(0));
  transport::InboundRequest refresh;
  refresh.id = 77;
  refresh.method = "SUBSCRIBE";
  refresh.dialog = 1;
  refresh.in_dialog = true;
  refresh.headers = {{"event", "conference"}, {"expires", "600"}};
  std::vector<Command> out;
  n->on_request(refresh, now, out);
  ASSERT_EQ(out.size(), 2u);
  const auto& ok = std::get<transport::Respond>(out[0]);
  EXPECT_EQ(ok.status, 200);
  EXPECT_TRUE(has(ok.headers, "Expires: 600\r\n"));
  auto ns = notifies(out);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(version_of(ns[0]), 2);
  EXPECT_TRUE(has(ns[0].body, "state=\"full\""));
  EXPECT_FALSE(has(ns[0].body, "carol"));
  EXPECT_TRUE(has(ns[0].headers, "active;expires=600"));
}

TEST_F(NotifierTest, RejoinBeforeThePurgeDropsTheDeletion) {
  make();
  roster(update({joined("alice"), joined("carol")}));
  answer(subscribe(1, "alice"));
  answer(roster(update({left("carol")})).at(0));
  auto back = roster(update({joined("carol")}));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_FALSE(has(back[0].body, "state=\"deleted\""));
  EXPECT_TRUE(has(back[0].body, "<user entity=\"sip:carol@example.com\" state=\"partial\">"));
  EXPECT_TRUE(has(back[0].body, "<status>connected</status>"));
}

// E26: a rejoin and a second departure while the report is still in flight
// are not lost; the subscriber ends up told, then purged.
TEST_F(NotifierTest, RejoinAndLeaveWhileTheReportIsInFlightAreStillReported) {
  make();
  roster(update({joined("alice"), joined("bob"), joined("carol")}));
  answer(subscribe(1, "wendy"));
  auto report = roster(update({left("carol")}));
  ASSERT_EQ(report.size(), 1u);
  EXPECT_TRUE(roster(update({joined("carol")})).empty());
  EXPECT_TRUE(roster(update({left("carol")})).empty());
  auto next = notifies(answer(report[0]));
  ASSERT_EQ(next.size(), 1u) << "the second departure must reach the subscriber";
  EXPECT_EQ(version_of(next[0]), 2);
  EXPECT_TRUE(has(next[0].body, "<disconnection-method>departed</disconnection-method>"));
  answer(next[0]);
  auto later = roster(update({left("bob")}));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_TRUE(has(later[0].body, "<user entity=\"sip:carol@example.com\" state=\"deleted\"/>"));
}

TEST_F(NotifierTest, SecondDeviceLeavingReportsOnlyThatEndpoint) {
  make();
  auto dev2 = joined("carol");
  dev2.entity = "sip:carol@127.0.0.2:5060";
  roster(update({joined("alice"), joined("carol"), dev2}));
  answer(subscribe(1, "alice"));
  auto ns = roster(update({left("carol")}));
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_TRUE(has(ns[0].body, "<user-count>2</user-count>"));
  EXPECT_TRUE(has(ns[0].body, "<endpoint entity=\"sip:carol@127.0.0.1:5060\" state=\"partial\">"));
  EXPECT_FALSE(has(ns[0].body, "127.0.0.2"));
  answer(ns[0]);
  auto next = roster(update({joined("bob")}));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_TRUE(has(next[0].body, "<endpoint entity=\"sip:carol@127.0.0.1:5060\" state=\"deleted\"/>"));
}

TEST_F(NotifierTest, PollGetsOneFullTerminatingNotify) {
  make();
  roster(update({joined("alice")}));
  auto poll = subscribe(1, "wendy", 0);
  EXPECT_EQ(version_of(poll), 0);
  EXPECT_TRUE(has(poll.headers, "Subscription-State: terminated;reason=timeout\r\n"));
  EXPECT_TRUE(has(poll.body, "state=\"full\""));
  auto out = answer(poll);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<transport::ForgetDialog>(out[0]));
}

TEST_F(NotifierTest, EventIdIsEchoed) {
  make();
  AuthorizedSubscribe a;
  a.description = description();
  a.request.dialog = 9;
  a.subscriber = "sip:alice@example.com";
  a.event_id = "42";
  a.expires = 100;
  std::vector<Command> out;
  n->on_subscribe(a, now, out);
  EXPECT_TRUE(has(notifies(out).at(0).headers, "Event: conference;id=42\r\n"));
}


// ------------------------------------------------------------ dial-out
// Invitees in conference-info (SESSIONS.md §2.6, examples J1-J3; TC-J03,
// J04, J05, J17, J25, S10). Documents are parsed, so the checks are about
// structure (which user, which endpoint, which state), not substrings.

using testclient::ConferenceDoc;
using testclient::DocEndpoint;
using testclient::DocUser;

const char* kAlice = "sip:alice@example.com";

ConferenceDoc parse(const SendInDialog& n) {
  ConferenceDoc doc = testclient::parse_conference_doc(n.body);
  EXPECT_TRUE(doc.well_formed) << doc.error << "\n" << n.body;
  for (const auto& err : testclient::schema_order_errors(doc)) ADD_FAILURE() << err << "\n" << n.body;
  return doc;
}

std::string aor_of(const std::string& user) { return "sip:" + user + "@example.com"; }

// The provisional endpoint of an invitee: keyed by the invitee URI.
EndpointReport dialing(const std::string& user, const std::string& status = "dialing-out") {
  EndpointReport e;
  e.aor = aor_of(user);
  e.entity = e.aor;
  e.pending_status = status;
  e.referred_by = kAlice;
  return e;
}

// The invitee's 2xx: the real endpoint, keyed by its Contact.
EndpointReport answered(const std::string& user, const std::string& method = "dialed-out") {
  EndpointReport e;
  e.aor = aor_of(user);
  e.entity = "sip:" + user + "@198.51.100.20:5060";
  e.joining_method = method;
  e.joining_when = "2025-01-15T10:00:04Z";
  if (method == "dialed-out") e.referred_by = kAlice;
  return e;
}

EndpointReport failed(const std::string& user, const std::string& how = "failed",
                      const std::string& cause = "603;text=\"Decline\"") {
  EndpointReport e = dialing(user);
  e.connected = false;
  e.disconnection_method = how;
  e.disconnection_when = "2025-01-15T10:00:05Z";
  e.disconnection_reason = "Reason: SIP;cause=" + cause;
  return e;
}

EndpointReport withdrawn(EndpointReport e) {
  e.withdrawn = true;
  return e;
}

// Alice connected, Bob and Carol being dialled (example J1).
RosterUpdate j1_roster() { return update({joined("alice"), dialing("bob"), dialing("carol")}); }

std::vector<std::string> entities_of(const DocUser& u) {
  std::vector<std::string> v;
  for (const auto& e : u.endpoints) v.push_back(e.entity + "/" + e.state);
  return v;
}

TEST_F(NotifierTest, J1InviteesAreShownDialingOutAndDoNotCount) {
  make();
  roster(j1_roster());
  auto doc = parse(subscribe(1, "alice"));
  EXPECT_EQ(doc.state, "full");
  EXPECT_EQ(doc.user_count, 1u);
  ASSERT_EQ(doc.users.size(), 3u);
  EXPECT_EQ(doc.users[0].entity, kAlice);
  ASSERT_EQ(doc.users[0].endpoints.size(), 1u);
  EXPECT_EQ(doc.users[0].endpoints[0].status, "connected");
  EXPECT_TRUE(doc.users[0].endpoints[0].has_media);
  for (const char* who : {"bob", "carol"}) {
    const DocUser* u = doc.find_user(aor_of(who));
    ASSERT_NE(u, nullptr) << who;
    ASSERT_EQ(u->endpoints.size(), 1u) << who;
    const DocEndpoint& ep = u->endpoints[0];
    EXPECT_EQ(ep.entity, aor_of(who));
    EXPECT_EQ(ep.status, "dialing-out");
    EXPECT_EQ(ep.referred_by, kAlice);
    EXPECT_FALSE(ep.has_media) << "no media before the invitee answers";
    EXPECT_TRUE(ep.joining_method.empty());
    EXPECT_EQ(ep.children, (std::vector<std::string>{"referred", "status"}));
  }
}

// TC-S10: the invitee itself subscribes while it is still being dialled.
TEST_F(NotifierTest, InviteeSubscribingSeesItsOwnEndpointDialingOut) {
  make();
  roster(update({joined("alice"), dialing("bob", "alerting")}));
  auto doc = parse(subscribe(1, "bob"));
  const DocUser* bob = doc.find_user(aor_of("bob"));
  ASSERT_NE(bob, nullptr);
  ASSERT_EQ(bob->endpoints.size(), 1u);
  EXPECT_EQ(bob->endpoints[0].status, "alerting");
  EXPECT_EQ(doc.user_count, 1u);
}

// A later report for the provisional key is an ordinary endpoint change.
TEST_F(NotifierTest, ProvisionalEndpointChangesLikeAnyEndpoint) {
  struct Case {
    const char* name;
    EndpointReport next;
    const char* endpoint_state;
    const char* status;
    uint32_t user_count;
  };
  EndpointReport connected_same_key = dialing("bob");
  connected_same_key.pending_status.clear();
  connected_same_key.joining_method = "dialed-out";
  const Case cases[] = {
      {"alerting", dialing("bob", "alerting"), "full", "alerting", 1},
      {"connected under the same key", connected_same_key, "full", "connected", 2},
      {"declined (J3)", failed("bob"), "partial", "disconnected", 1},
      {"busy", failed("bob", "busy", "486"), "partial", "disconnected", 1},
  };
  for (const auto& c : cases) {
    make();
    roster(j1_roster());
    answer(subscribe(1, "alice"));
    auto ns = roster(update({c.next}));
    ASSERT_EQ(ns.size(), 1u) << c.name;
    EXPECT_EQ(version_of(ns[0]), 1) << c.name;
    auto doc = parse(ns[0]);
    EXPECT_EQ(doc.state, "partial") << c.name;
    EXPECT_EQ(doc.user_count, c.user_count) << c.name;
    ASSERT_EQ(doc.users.size(), 1u) << c.name;
    EXPECT_EQ(doc.users[0].state, "partial") << c.name;
    ASSERT_EQ(doc.users[0].endpoints.size(), 1u) << c.name;
    const DocEndpoint& ep = doc.users[0].endpoints[0];
    EXPECT_EQ(ep.entity, aor_of("bob")) << c.name;
    EXPECT_EQ(ep.state, c.endpoint_state) << c.name;
    EXPECT_EQ(ep.status, c.status) << c.name;
    if (std::string(c.status) == "disconnected") {
      // Example J3: only what changed.
      EXPECT_EQ(ep.disconnection_method, c.next.disconnection_method) << c.name;
      EXPECT_TRUE(has(ep.disconnection_reason, "cause=")) << c.name;
      EXPECT_EQ(ep.children, (std::vector<std::string>{"status", "disconnection-method", "disconnection-info"}))
          << c.name;
    } else {
      EXPECT_EQ(ep.referred_by, kAlice) << c.name;
      EXPECT_EQ(ep.has_media, std::string(c.status) == "connected") << c.name;
    }
  }
}

// TC-J05 then the purge: the failed invitee goes like any departure.
TEST_F(NotifierTest, DeclinedInviteeIsReportedThenPurged) {
  make();
  roster(j1_roster());
  answer(subscribe(1, "alice"));
  answer(roster(update({failed("carol")})).at(0));
  EXPECT_EQ(n->roster_records(), 2u) << "carol's record goes once reported";
  auto next = roster(update({dialing("bob", "alerting")}));
  ASSERT_EQ(next.size(), 1u);
  auto doc = parse(next[0]);
  const DocUser* carol = doc.find_user(aor_of("carol"));
  ASSERT_NE(carol, nullptr);
  EXPECT_EQ(carol->state, "deleted");
}

// Example J2 / TC-J04, with the two reports in either order in the batch,
// and TC-J25 (the invitee dials in instead: the dial-in supersedes it).
TEST_F(NotifierTest, J2AnswerDeletesTheProvisionalEndpointAndAddsTheRealOne) {
  struct Case {
    const char* name;
    bool withdrawn_first;
    const char* joining_method;
  };
  const Case cases[] = {
      {"2xx, withdrawal first", true, "dialed-out"},
      {"2xx, withdrawal last", false, "dialed-out"},
      {"dial-in during the dial-out (TC-J25)", true, "dialed-in"},
  };
  for (const auto& c : cases) {
    make();
    roster(j1_roster());
    answer(subscribe(1, "alice"));
    const EndpointReport real = answered("bob", c.joining_method);
    auto u = c.withdrawn_first ? update({withdrawn(dialing("bob")), real}) : update({real, withdrawn(dialing("bob"))});
    auto ns = roster(u);
    ASSERT_EQ(ns.size(), 1u) << c.name;
    EXPECT_EQ(version_of(ns[0]), 1) << c.name;
    auto doc = parse(ns[0]);
    EXPECT_EQ(doc.state, "partial") << c.name;
    EXPECT_EQ(doc.users_state, "partial") << c.name;
    EXPECT_EQ(doc.user_count, 2u) << c.name;
    ASSERT_EQ(doc.users.size(), 1u) << c.name << "\n" << ns[0].body;
    const DocUser& bob = doc.users[0];
    EXPECT_EQ(bob.entity, aor_of("bob")) << c.name;
    EXPECT_EQ(bob.state, "partial") << c.name;
    ASSERT_EQ(entities_of(bob),
              (std::vector<std::string>{"sip:bob@example.com/deleted", "sip:bob@198.51.100.20:5060/full"}))
        << c.name;
    EXPECT_TRUE(bob.endpoints[0].children.empty()) << c.name;
    const DocEndpoint& ep = bob.endpoints[1];
    EXPECT_EQ(ep.status, "connected") << c.name;
    EXPECT_EQ(ep.joining_method, c.joining_method) << c.name;
    EXPECT_EQ(ep.joining_when, "2025-01-15T10:00:04Z") << c.name;
    EXPECT_EQ(ep.referred_by, real.referred_by) << c.name;
    EXPECT_TRUE(ep.has_media) << c.name;
    EXPECT_TRUE(has(ns[0].body, "<endpoint entity=\"sip:bob@example.com\" state=\"deleted\"/>")) << c.name;
    EXPECT_EQ(n->roster_records(), 3u) << c.name << ": the provisional record is dropped";
    // Nothing is left over for a later document.
    auto later = notifies(answer(ns[0]));
    EXPECT_TRUE(later.empty()) << c.name;
    auto next = roster(update({dialing("carol", "alerting")}));
    ASSERT_EQ(next.size(), 1u) << c.name;
    EXPECT_FALSE(has(next[0].body, "bob")) << c.name;
  }
}

// TC-J25 when the session reports the dial-in first and the withdrawal of
// the dial-out in a later step: never two connected endpoints, and the
// provisional one ends deleted (not the user).
TEST_F(NotifierTest, DialInThenWithdrawalInALaterStep) {
  make();
  roster(update({joined("alice"), dialing("bob", "alerting")}));
  answer(subscribe(1, "alice"));
  auto first = roster(update({answered("bob", "dialed-in")}));
  ASSERT_EQ(first.size(), 1u);
  auto d1 = parse(first[0]);
  ASSERT_EQ(d1.users.size(), 1u);
  EXPECT_EQ(entities_of(d1.users[0]), (std::vector<std::string>{"sip:bob@198.51.100.20:5060/full"}));
  answer(first[0]);
  auto second = roster(update({withdrawn(dialing("bob", "alerting"))}));
  ASSERT_EQ(second.size(), 1u) << "a withdrawal the subscriber was shown is a change of its own";
  EXPECT_EQ(version_of(second[0]), 2);
  auto d2 = parse(second[0]);
  ASSERT_EQ(d2.users.size(), 1u);
  EXPECT_EQ(d2.users[0].state, "partial");
  EXPECT_EQ(entities_of(d2.users[0]), (std::vector<std::string>{"sip:bob@example.com/deleted"}));
  EXPECT_EQ(d2.user_count, 2u);
}

// A withdrawn last endpoint: the subscriber that saw it loses the user; one
// that never saw it hears nothing at all.
TEST_F(NotifierTest, WithdrawnLastEndpointDeletesTheUserOnlyForThoseWhoSawIt) {
  make();
  roster(update({joined("alice"), joined("dan")}));
  answer(subscribe(1, "alice"));
  auto wendy_first = subscribe(2, "wendy");  // in flight: wendy is not told about bob yet
  auto shown = roster(update({dialing("bob")}));
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0].dialog, 1u);
  answer(shown[0]);
  auto ns = roster(update({withdrawn(dialing("bob"))}));
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].dialog, 1u);
  auto doc = parse(ns[0]);
  ASSERT_EQ(doc.users.size(), 1u) << ns[0].body;
  EXPECT_EQ(doc.users[0].entity, aor_of("bob"));
  EXPECT_EQ(doc.users[0].state, "deleted");
  EXPECT_TRUE(has(ns[0].body, "<user entity=\"sip:bob@example.com\" state=\"deleted\"/>"));
  EXPECT_EQ(n->roster_records(), 2u);
  EXPECT_TRUE(notifies(answer(wendy_first)).empty()) << "wendy never saw bob: no NOTIFY";
  // And later documents do not mention bob again.
  answer(ns[0]);
  for (const auto& later : roster(update({left("dan")}))) EXPECT_FALSE(has(later.body, "bob")) << later.body;
}

// A withdrawal before the subscriber was told merges away with the rest.
TEST_F(NotifierTest, ProvisionalEndpointAddedAndWithdrawnWhileInFlightIsNeverShown) {
  make();
  roster(update({joined("alice")}));
  auto first = subscribe(1, "alice");
  EXPECT_TRUE(roster(update({dialing("bob")})).empty());
  EXPECT_TRUE(roster(update({withdrawn(dialing("bob")), answered("bob")})).empty());
  auto merged = notifies(answer(first));
  ASSERT_EQ(merged.size(), 1u);
  auto doc = parse(merged[0]);
  ASSERT_EQ(doc.users.size(), 1u);
  EXPECT_EQ(doc.users[0].state, "full") << "bob is new to this subscriber";
  EXPECT_EQ(entities_of(doc.users[0]), (std::vector<std::string>{"sip:bob@198.51.100.20:5060/"}));
  EXPECT_FALSE(has(merged[0].body, "state=\"deleted\""));
}

// Withdrawn, then reported again under the same key before the subscriber
// heard of the withdrawal: it still shows the endpoint, nothing is deleted.
TEST_F(NotifierTest, WithdrawnAndBackUnderTheSameKeyIsNotDeleted) {
  make();
  roster(j1_roster());
  auto first = subscribe(1, "alice");
  EXPECT_TRUE(roster(update({withdrawn(dialing("bob"))})).empty());
  EXPECT_TRUE(roster(update({dialing("bob", "alerting")})).empty());
  auto ns = notifies(answer(first));
  ASSERT_EQ(ns.size(), 1u);
  auto doc = parse(ns[0]);
  ASSERT_EQ(doc.users.size(), 1u);
  EXPECT_EQ(doc.users[0].state, "partial");
  EXPECT_EQ(entities_of(doc.users[0]), (std::vector<std::string>{"sip:bob@example.com/full"}));
  EXPECT_EQ(doc.users[0].endpoints[0].status, "alerting");
}

// Full mode and full documents: withdrawn endpoints are simply absent.
TEST_F(NotifierTest, FullModeDocumentsLeaveWithdrawnEndpointsOut) {
  ConferenceConfig conf;
  conf.notify_mode = session::NotifyMode::Full;
  make(conf);
  roster(j1_roster());
  answer(subscribe(1, "alice"));
  auto ns = roster(update({withdrawn(dialing("bob")), answered("bob")}));
  ASSERT_EQ(ns.size(), 1u);
  auto doc = parse(ns[0]);
  EXPECT_EQ(doc.state, "full");
  EXPECT_EQ(doc.user_count, 2u);
  const DocUser* bob = doc.find_user(aor_of("bob"));
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(entities_of(*bob), (std::vector<std::string>{"sip:bob@198.51.100.20:5060/"}));
  answer(ns[0]);
  // Carol's provisional endpoint withdrawn with nothing else: a new full
  // document without her.
  auto gone = roster(update({withdrawn(dialing("carol"))}));
  ASSERT_EQ(gone.size(), 1u);
  auto d2 = parse(gone[0]);
  EXPECT_EQ(d2.find_user(aor_of("carol")), nullptr);
  EXPECT_EQ(d2.users.size(), 2u);
}

// TC-J17: the declined invitee dials in with its own Contact before the
// lazy purge went out: the old endpoint is deleted in the same document,
// and the user is not.
TEST_F(NotifierTest, J17DeclinedInviteeDialsInWithANewEndpoint) {
  make();
  roster(j1_roster());
  answer(subscribe(1, "alice"));
  answer(roster(update({failed("carol")})).at(0));
  auto ns = roster(update({answered("carol", "dialed-in")}));
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(version_of(ns[0]), 2);
  auto doc = parse(ns[0]);
  ASSERT_EQ(doc.users.size(), 1u) << ns[0].body;
  const DocUser& carol = doc.users[0];
  EXPECT_EQ(carol.entity, aor_of("carol"));
  EXPECT_EQ(carol.state, "partial");
  ASSERT_EQ(entities_of(carol),
            (std::vector<std::string>{"sip:carol@example.com/deleted", "sip:carol@198.51.100.20:5060/full"}));
  EXPECT_EQ(carol.endpoints[1].status, "connected");
  EXPECT_EQ(carol.endpoints[1].joining_method, "dialed-in");
  EXPECT_EQ(doc.user_count, 2u);
  // Nothing else is pending: she then leaves, and is reported and purged
  // as usual.
  answer(ns[0]);
  EndpointReport bye = answered("carol", "dialed-in");
  bye.connected = false;
  bye.disconnection_method = "departed";
  auto report = roster(update({bye}));
  ASSERT_EQ(report.size(), 1u);
  auto d3 = parse(report[0]);
  ASSERT_EQ(d3.users.size(), 1u);
  EXPECT_EQ(entities_of(d3.users[0]), (std::vector<std::string>{"sip:carol@198.51.100.20:5060/partial"}));
  answer(report[0]);
  auto purge = roster(update({dialing("bob", "alerting")}));
  ASSERT_EQ(purge.size(), 1u);
  const DocUser* gone = parse(purge[0]).find_user(aor_of("carol"));
  ASSERT_NE(gone, nullptr);
  EXPECT_EQ(gone->state, "deleted");
}

// The same rule when the dial-in arrives while the report of the failure
// is still in flight: report, then the old endpoint's purge rides with the
// next document, as for a second device.
TEST_F(NotifierTest, J17DialInWhileTheFailureReportIsInFlight) {
  make();
  roster(j1_roster());
  answer(subscribe(1, "alice"));
  auto report = roster(update({failed("carol")}));
  ASSERT_EQ(report.size(), 1u);
  EXPECT_TRUE(roster(update({answered("carol", "dialed-in")})).empty());
  auto ns = notifies(answer(report[0]));
  ASSERT_EQ(ns.size(), 1u);
  auto doc = parse(ns[0]);
  ASSERT_EQ(doc.users.size(), 1u) << ns[0].body;
  EXPECT_EQ(doc.users[0].state, "partial");
  EXPECT_EQ(entities_of(doc.users[0]),
            (std::vector<std::string>{"sip:carol@example.com/deleted", "sip:carol@198.51.100.20:5060/full"}));
  EXPECT_FALSE(has(ns[0].body, "<user entity=\"sip:carol@example.com\" state=\"deleted\"/>"));
}

// Immediate purge and full mode with TC-J17: consistent with their own
// purge rules (the user was already deleted, or is simply in full).
TEST_F(NotifierTest, J17UnderImmediatePurgeAndFullMode) {
  {
    ConferenceConfig conf;
    conf.purge_mode = session::PurgeMode::Immediate;
    make(conf);
    roster(j1_roster());
    answer(subscribe(1, "alice"));
    auto purge = notifies(answer(roster(update({failed("carol")})).at(0)));
    ASSERT_EQ(purge.size(), 1u);
    EXPECT_TRUE(has(purge[0].body, "<user entity=\"sip:carol@example.com\" state=\"deleted\"/>"));
    answer(purge[0]);
    auto ns = roster(update({answered("carol", "dialed-in")}));
    ASSERT_EQ(ns.size(), 1u);
    auto doc = parse(ns[0]);
    ASSERT_EQ(doc.users.size(), 1u);
    EXPECT_EQ(doc.users[0].state, "full") << "after the purge she is a new user";
    EXPECT_EQ(entities_of(doc.users[0]), (std::vector<std::string>{"sip:carol@198.51.100.20:5060/"}));
    EXPECT_TRUE(notifies(answer(ns[0])).empty()) << "nothing left to purge";
  }
  {
    ConferenceConfig conf;
    conf.notify_mode = session::NotifyMode::Full;
    make(conf);
    roster(j1_roster());
    answer(subscribe(1, "alice"));
    answer(roster(update({failed("carol")})).at(0));
    auto ns = roster(update({answered("carol", "dialed-in")}));
    ASSERT_EQ(ns.size(), 1u);
    auto doc = parse(ns[0]);
    EXPECT_EQ(doc.state, "full");
    const DocUser* carol = doc.find_user(aor_of("carol"));
    ASSERT_NE(carol, nullptr);
    EXPECT_EQ(entities_of(*carol), (std::vector<std::string>{"sip:carol@198.51.100.20:5060/"}));
  }
}

// Immediate purge with a withdrawal: the deletion is in the document
// itself, so no follow-up NOTIFY.
TEST_F(NotifierTest, ImmediatePurgeSendsNoFollowUpForAWithdrawal) {
  ConferenceConfig conf;
  conf.purge_mode = session::PurgeMode::Immediate;
  make(conf);
  roster(j1_roster());
  answer(subscribe(1, "alice"));
  auto ns = roster(update({withdrawn(dialing("bob")), answered("bob")}));
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_TRUE(has(ns[0].body, "<endpoint entity=\"sip:bob@example.com\" state=\"deleted\"/>"));
  EXPECT_TRUE(notifies(answer(ns[0])).empty());
}


// A withdrawal held back by the rate limit is announced and sent when the
// window ends, like any other change.
TEST_F(NotifierTest, RateLimitedWithdrawalIsSentWhenTheWindowEnds) {
  ConferenceConfig conf;
  conf.min_notify_interval_ms = 5000;
  make(conf);
  roster(j1_roster());
  answer(subscribe(1, "alice"));
  EXPECT_TRUE(roster(update({withdrawn(dialing("carol"))})).empty());
  EXPECT_EQ(n->take_new_wakeup(), 1000000 + 5000);
  EXPECT_EQ(n->next_wakeup(), 1000000 + 5000);
  now = n->next_wakeup();
  std::vector<Command> out;
  n->on_timer(now, out);
  auto ns = notifies(out);
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_TRUE(has(ns[0].body, "<user entity=\"sip:carol@example.com\" state=\"deleted\"/>"));
}

// Rejoin before the purge under one of several departed endpoints: that one
// is shown again, the others are deleted with it (the same-entity rule of
// PROTOCOL.md §4.3, extended to a user that had two devices).
TEST_F(NotifierTest, RejoinOfOneOfTwoDepartedDevicesDeletesTheOther) {
  make();
  auto dev2 = joined("carol");
  dev2.entity = "sip:carol@127.0.0.2:5060";
  auto dev2_left = left("carol");
  dev2_left.entity = dev2.entity;
  roster(update({joined("alice"), joined("carol"), dev2}));
  answer(subscribe(1, "alice"));
  answer(roster(update({left("carol"), dev2_left})).at(0));
  auto back = roster(update({joined("carol")}));
  ASSERT_EQ(back.size(), 1u);
  auto doc = parse(back[0]);
  ASSERT_EQ(doc.users.size(), 1u) << back[0].body;
  EXPECT_EQ(doc.users[0].state, "partial");
  EXPECT_EQ(entities_of(doc.users[0]),
            (std::vector<std::string>{"sip:carol@127.0.0.2:5060/deleted", "sip:carol@127.0.0.1:5060/full"}));
}

}  // namespace
}  // namespace imserver::notify
