// ConferenceNotifier as a plain state machine: each test feeds it
// subscriptions, roster changes and NOTIFY results, and checks the SIP
// commands it produces (PROTOCOL.md §4, §5.4; SESSIONS.md §6, §9.4).

#include "actors/notify/conference_notifier.hpp"

#include <gtest/gtest.h>

#include <regex>

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

}  // namespace
}  // namespace imserver::notify
