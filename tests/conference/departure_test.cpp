// Departures as conference subscribers see them (PROTOCOL.md §9.2 TC-A02,
// A04-A13, A24 and §9.4 TC-N01, N06-N08; N02-N05 are checked by
// check_notify() on every NOTIFY read here).
//
// Note: the fixture's session is sip:gs-1@im.example.com; the spec's F-PAIR
// names it gs-2, the tests here use gs-1 throughout.

#include <set>
#include <thread>

#include "tests/conference/fixture.hpp"

namespace imserver::testclient {
namespace {

inline constexpr const char* kAlice = "sip:alice@example.com";
inline constexpr const char* kBob = "sip:bob@example.com";
inline constexpr const char* kCarol = "sip:carol@example.com";
inline constexpr const char* kDan = "sip:dan@example.com";

class DepartureTest : public ConferenceTest {
 protected:
  // BYE in `name`'s INVITE dialog; the final response (asserted 200 by the
  // caller).
  std::optional<SipMessage> leave(const std::string& name) {
    auto& u = user(name);
    auto r = u.ua->bye(u.invite);
    if (r && r->status == 200) u.joined = false;
    return r;
  }

  // The next NOTIFY of `name`'s subscription, checked with check_notify().
  // ADD_FAILUREs (and returns nullopt) when none arrives.
  std::optional<ConferenceDoc> notify_doc(const std::string& name, bool terminated = false,
                                          SipMessage* out = nullptr,
                                          std::chrono::milliseconds timeout = 5s) {
    auto n = next_notify(name, 200, timeout);
    if (!n) {
      ADD_FAILURE() << name << ": no NOTIFY in its conference subscription";
      return std::nullopt;
    }
    if (out) *out = *n;
    return check_notify(name, *n, terminated);
  }

  // NOTIFYs of `name`'s subscription still queued (not consumed).
  size_t queued_notifies(const std::string& name) {
    auto& u = user(name);
    size_t count = 0;
    for (const auto& m : u.ua->pending())
      if (m.is_request && m.method == "NOTIFY" && m.call_id() == u.sub.call_id) ++count;
    return count;
  }

  // A new UA for a second device of an existing user: registered under
  // `key` in users_ (so its transcript is printed on failure) with `aor`.
  User& second_device(const std::string& key, const std::string& aor) {
    auto& u = users_[key];
    SipUa::Options o;
    o.transport = GetParam();
    o.server_port = server_.port();
    o.aor = aor;
    u.ua = std::make_unique<SipUa>(o);
    u.ua->answer_bye_automatically(true);
    return u;
  }
};

const DocUser* find(const ConferenceDoc& doc, const std::string& aor) { return doc.find_user(aor); }

std::set<std::string> user_entities(const ConferenceDoc& doc) {
  std::set<std::string> out;
  for (const auto& u : doc.users) out.insert(u.entity);
  return out;
}

// `aor`'s (single) endpoint is disconnected with `method` and a UTC when.
void expect_disconnected(const ConferenceDoc& doc, const std::string& aor, const std::string& method,
                         const std::string& body) {
  const DocUser* u = doc.find_user(aor);
  ASSERT_TRUE(u) << aor << " missing\n" << body;
  ASSERT_EQ(u->endpoints.size(), 1u) << aor << "\n" << body;
  const auto& ep = u->endpoints[0];
  EXPECT_EQ(ep.status, "disconnected") << aor << "\n" << body;
  EXPECT_EQ(ep.disconnection_method, method) << aor << "\n" << body;
  EXPECT_TRUE(is_utc_datetime(ep.disconnection_when)) << aor << ": '" << ep.disconnection_when << "'\n" << body;
}

// `aor` is listed with every endpoint connected.
void expect_connected(const ConferenceDoc& doc, const std::string& aor, const std::string& body) {
  const DocUser* u = doc.find_user(aor);
  ASSERT_TRUE(u) << aor << " missing\n" << body;
  ASSERT_FALSE(u->endpoints.empty()) << aor << "\n" << body;
  for (const auto& ep : u->endpoints) EXPECT_EQ(ep.status, "connected") << aor << " " << ep.entity << "\n" << body;
}

// The partial report of Carol's departure (TC-A04 body).
void expect_carol_departed_partial(const ConferenceDoc& doc, const std::string& body) {
  EXPECT_EQ(doc.state, "partial") << body;
  EXPECT_EQ(doc.user_count.value_or(0), 3u) << body;
  EXPECT_EQ(doc.users_state, "partial") << body;
  ASSERT_EQ(doc.users.size(), 1u) << body;
  EXPECT_EQ(doc.users[0].entity, kCarol) << body;
  EXPECT_EQ(doc.users[0].state, "partial") << body;
  ASSERT_EQ(doc.users[0].endpoints.size(), 1u) << body;
  EXPECT_EQ(doc.users[0].endpoints[0].state, "partial") << body;
  expect_disconnected(doc, kCarol, "departed", body);
}

// TC-A04: Carol's BYE is reported to A, B, D and W as departed.
TEST_P(DepartureTest, A04DepartureReportToTheOthers) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto ok = user("carol").ua->bye(user("carol").invite);
  ASSERT_TRUE(ok && ok->status == 200);
  for (const char* name : {"alice", "bob", "dan", "wendy"}) {
    auto n = next_notify(name);
    ASSERT_TRUE(n) << name;
    auto doc = check_notify(name, *n);
    EXPECT_EQ(doc.state, "partial");
    EXPECT_EQ(doc.user_count.value_or(0), 3u);
    ASSERT_EQ(doc.users.size(), 1u) << n->body;
    const auto& carol = doc.users[0];
    EXPECT_EQ(carol.entity, "sip:carol@example.com");
    EXPECT_EQ(carol.state, "partial");
    ASSERT_EQ(carol.endpoints.size(), 1u);
    EXPECT_EQ(carol.endpoints[0].state, "partial");
    EXPECT_EQ(carol.endpoints[0].status, "disconnected");
    EXPECT_EQ(carol.endpoints[0].disconnection_method, "departed");
    EXPECT_TRUE(is_utc_datetime(carol.endpoints[0].disconnection_when)) << carol.endpoints[0].disconnection_when;
  }
}

// TC-A02: the 200 to Carol's BYE is sent before any NOTIFY it causes.
//
// The order is observed on one socket, so that it is the server's send
// order and not the scheduling of the test's reader threads: besides
// Carol's own subscription, Carol's UA holds a second subscription of
// Alice's (From/P-Asserted-Identity Alice, Contact = Carol's UA), and its
// single reader thread sees the 200 and both NOTIFYs in arrival order.
// (Comparing received_at across different UAs is not used for the
// assertion: the readers are separate threads, and on a loaded 2-core host
// one of them may be scheduled 0.1-2 ms late, which reversed the apparent
// order in about 1 run in 20 although the server wrote the 200 first.)
TEST_P(DepartureTest, A02OkBeforeNotifications) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  // Alice's second subscription, held by Carol's UA.
  RequestSpec spec;
  spec.method = "SUBSCRIBE";
  spec.request_uri = kGs1;
  spec.to_uri = kGs1;
  spec.from_uri = kAlice;
  spec.extra_headers = std::string(kConferenceSubscribeHeaders) + "Expires: 3600\r\nP-Asserted-Identity: <" +
                       kAlice + ">\r\n";
  auto tx = c.ua->send(spec);
  auto fin = c.ua->final_response(tx);
  ASSERT_TRUE(fin && fin->status == 200) << "Alice's second SUBSCRIBE (from Carol's UA): "
                                         << (fin ? fin->raw : "no response");
  Dialog shadow;
  shadow.call_id = tx.call_id;
  shadow.local_tag = tx.from_tag;
  shadow.remote_tag = fin->to_tag();
  shadow.local_uri = kAlice;
  shadow.remote_uri = kGs1;
  auto first = c.ua->wait_in_dialog(shadow, "NOTIFY", 5s);
  ASSERT_TRUE(first) << "no first NOTIFY in Alice's second subscription";
  c.ua->respond(*first, 200, "OK");
  const uint32_t v_shadow = parse_conference_doc(first->body).version.value_or(0);

  auto ok = leave("carol");
  ASSERT_TRUE(ok && ok->status == 200) << (ok ? ok->raw : "no response");
  SipMessage own;
  ASSERT_TRUE(notify_doc("carol", /*terminated=*/true, &own));
  auto shadow_n = c.ua->wait_in_dialog(shadow, "NOTIFY", 5s);
  ASSERT_TRUE(shadow_n) << "no departure NOTIFY in Alice's second subscription";
  c.ua->respond(*shadow_n, 200, "OK");
  auto sdoc = parse_conference_doc(shadow_n->body);
  EXPECT_EQ(sdoc.version, std::optional<uint32_t>(v_shadow + 1)) << shadow_n->body;
  expect_carol_departed_partial(sdoc, shadow_n->body);

  // Arrival order at Carol's UA (one socket, one reader thread).
  auto hist = c.ua->history();
  auto index_of = [&](const SipMessage& m) -> long {
    for (size_t i = 0; i < hist.size(); ++i)
      if (hist[i].raw == m.raw) return static_cast<long>(i);
    return -1;
  };
  long i_ok = index_of(*ok), i_own = index_of(own), i_shadow = index_of(*shadow_n);
  ASSERT_GE(i_ok, 0);
  EXPECT_LT(i_ok, i_own) << "Carol's own terminating NOTIFY arrived before the 200 to her BYE (A1)";
  EXPECT_LT(i_ok, i_shadow) << "Alice's departure NOTIFY arrived before the 200 to Carol's BYE (A1)";
  EXPECT_LE(ok->received_at, own.received_at);
  EXPECT_LE(ok->received_at, shadow_n->received_at);

  // The other subscribers get their (valid) reports as usual.
  for (const char* name : {"alice", "bob", "dan", "wendy"}) ASSERT_TRUE(notify_doc(name)) << name;
}

// TC-A05: the leaver's own subscription ends with noresource; a later
// refresh in that dialog gets 481.
TEST_P(DepartureTest, A05LeaverSubscriptionTerminated) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto ok = leave("carol");
  ASSERT_TRUE(ok && ok->status == 200);
  SipMessage n;
  auto doc = notify_doc("carol", /*terminated=*/true, &n);
  ASSERT_TRUE(doc);
  auto ss = parse_subscription_state(n.header("Subscription-State").value_or(""));
  EXPECT_EQ(ss.state, "terminated");
  EXPECT_EQ(ss.reason, "noresource");
  EXPECT_FALSE(ss.expires.has_value());
  ASSERT_FALSE(n.body.empty()) << "terminating NOTIFY without the departure document";
  expect_carol_departed_partial(*doc, n.body);
  // Exactly one NOTIFY on that subscription.
  EXPECT_FALSE(next_notify("carol", 200, 300ms)) << "a second NOTIFY after the terminating one";
  auto& c = user("carol");
  auto r = c.ua->resubscribe(c.sub, 3600);
  ASSERT_TRUE(r) << "no response to the refresh SUBSCRIBE";
  EXPECT_EQ(r->status, 481) << r->raw;
}

// TC-A06: the watcher's subscription stays active; a refresh returns a
// full document without Carol.
TEST_P(DepartureTest, A06WatcherKeepsSubscription) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto ok = leave("carol");
  ASSERT_TRUE(ok && ok->status == 200);
  SipMessage n;
  auto doc = notify_doc("wendy", false, &n);
  ASSERT_TRUE(doc);
  expect_carol_departed_partial(*doc, n.body);
  auto& w = user("wendy");
  auto r = w.ua->resubscribe(w.sub, 3600);
  ASSERT_TRUE(r) << "no response to Wendy's refresh";
  ASSERT_EQ(r->status, 200) << r->raw;
  SipMessage full;
  auto fdoc = notify_doc("wendy", false, &full);
  ASSERT_TRUE(fdoc);
  EXPECT_EQ(fdoc->state, "full") << full.body;
  EXPECT_TRUE(fdoc->has_description) << full.body;
  EXPECT_TRUE(fdoc->has_users) << full.body;
  EXPECT_EQ(user_entities(*fdoc), (std::set<std::string>{kAlice, kBob, kDan})) << full.body;
  EXPECT_EQ(find(*fdoc, kCarol), nullptr) << "Carol not purged\n" << full.body;
  EXPECT_EQ(fdoc->user_count.value_or(0), 3u) << full.body;
  for (const char* aor : {kAlice, kBob, kDan}) expect_connected(*fdoc, aor, full.body);
}

// TC-A07: full mode: A's NOTIFY is a full document with C departed.
TEST_P(DepartureTest, A07FullMode) {
  f_base({"--conf.notify-mode=full"});
  ASSERT_FALSE(HasFailure());
  auto ok = leave("carol");
  ASSERT_TRUE(ok && ok->status == 200);
  for (const char* name : {"alice", "bob", "dan", "wendy"}) {
    SipMessage n;
    auto doc = notify_doc(name, false, &n);
    ASSERT_TRUE(doc) << name;
    EXPECT_EQ(doc->state, "full") << name << "\n" << n.body;
    EXPECT_TRUE(doc->has_description) << name << "\n" << n.body;
    EXPECT_TRUE(doc->has_users) << name << "\n" << n.body;
    EXPECT_EQ(doc->users_state, "") << name << "\n" << n.body;
    EXPECT_EQ(user_entities(*doc), (std::set<std::string>{kAlice, kBob, kCarol, kDan})) << name << "\n" << n.body;
    EXPECT_EQ(doc->user_count.value_or(0), 3u) << name << "\n" << n.body;
    for (const char* aor : {kAlice, kBob, kDan}) expect_connected(*doc, aor, n.body);
    expect_disconnected(*doc, kCarol, "departed", n.body);
  }
}

// TC-A08: lazy purge: Carol's deletion rides on the next partial document
// (Dan's departure).
TEST_P(DepartureTest, A08LazyPurge) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto ok = leave("carol");
  ASSERT_TRUE(ok && ok->status == 200);
  SipMessage n1;
  auto d1 = notify_doc("alice", false, &n1);
  ASSERT_TRUE(d1);
  expect_carol_departed_partial(*d1, n1.body);
  // Lazy: no NOTIFY just for the purge.
  EXPECT_FALSE(next_notify("alice", 200, 300ms)) << "lazy purge mode sent an extra NOTIFY";
  ok = leave("dan");
  ASSERT_TRUE(ok && ok->status == 200);
  SipMessage n2;
  auto d2 = notify_doc("alice", false, &n2);
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->state, "partial") << n2.body;
  EXPECT_EQ(d2->user_count.value_or(0), 2u) << n2.body;
  EXPECT_EQ(d2->users_state, "partial") << n2.body;
  EXPECT_EQ(user_entities(*d2), (std::set<std::string>{kCarol, kDan})) << n2.body;
  const DocUser* c = find(*d2, kCarol);
  ASSERT_TRUE(c) << "no deletion of Carol\n" << n2.body;
  EXPECT_EQ(c->state, "deleted") << n2.body;
  EXPECT_TRUE(c->children.empty()) << n2.body;
  const DocUser* d = find(*d2, kDan);
  ASSERT_TRUE(d) << n2.body;
  EXPECT_EQ(d->state, "partial") << n2.body;
  expect_disconnected(*d2, kDan, "departed", n2.body);
}

// TC-A09: immediate purge: a second NOTIFY with only Carol's deletion.
TEST_P(DepartureTest, A09ImmediatePurge) {
  f_base({"--conf.purge-mode=immediate"});
  ASSERT_FALSE(HasFailure());
  auto ok = leave("carol");
  ASSERT_TRUE(ok && ok->status == 200);
  for (const char* name : {"alice", "bob", "dan", "wendy"}) {
    SipMessage n1;
    auto d1 = notify_doc(name, false, &n1);
    ASSERT_TRUE(d1) << name;
    expect_carol_departed_partial(*d1, n1.body);
    SipMessage n2;
    auto d2 = notify_doc(name, false, &n2);
    ASSERT_TRUE(d2) << name << ": no purge NOTIFY";
    EXPECT_EQ(d2->state, "partial") << name << "\n" << n2.body;
    for (const auto& child : d2->root_children)
      EXPECT_TRUE(child == "conference-state" || child == "users") << name << ": unexpected <" << child << ">\n"
                                                                   << n2.body;
    if (d2->has_conference_state) {
      EXPECT_EQ(d2->user_count.value_or(0), 3u) << name << "\n" << n2.body;
    }
    EXPECT_EQ(d2->users_state, "partial") << name << "\n" << n2.body;
    ASSERT_EQ(d2->users.size(), 1u) << name << "\n" << n2.body;
    EXPECT_EQ(d2->users[0].entity, kCarol) << name << "\n" << n2.body;
    EXPECT_EQ(d2->users[0].state, "deleted") << name << "\n" << n2.body;
    EXPECT_TRUE(d2->users[0].children.empty()) << name << "\n" << n2.body;
  }
}

// TC-A10: a watcher subscribing after the departure gets a full document
// without Carol.
TEST_P(DepartureTest, A10NewSubscriberAfterDeparture) {
  f_base({"--conf.watchers=sip:wendy@example.com,sip:gina@example.com"});
  ASSERT_FALSE(HasFailure());
  auto ok = leave("carol");
  ASSERT_TRUE(ok && ok->status == 200);
  for (const char* name : {"alice", "bob", "dan", "wendy"}) ASSERT_TRUE(notify_doc(name)) << name;
  auto n = subscribe("gina");  // asserts the 200 and the first NOTIFY
  ASSERT_FALSE(HasFailure());
  auto doc = parse_conference_doc(n.body);
  for (const auto& e : schema_order_errors(doc)) ADD_FAILURE() << "TC-N04 " << e << "\n" << n.body;
  EXPECT_EQ(doc.entity, kGs1);
  EXPECT_EQ(doc.state, "full") << n.body;
  EXPECT_EQ(user_entities(doc), (std::set<std::string>{kAlice, kBob, kDan})) << n.body;
  EXPECT_EQ(doc.user_count.value_or(0), 3u) << n.body;
  auto ss = parse_subscription_state(n.header("Subscription-State").value_or(""));
  EXPECT_EQ(ss.state, "active") << n.raw;
}

// TC-A11: F-PAIR: Bob leaves, fewer than 2 remain, the session is released.
TEST_P(DepartureTest, A11ReleaseWhenFewerThanTwoRemain) {
  f_base({}, /*pair=*/true);
  ASSERT_FALSE(HasFailure());
  auto ok = leave("bob");
  ASSERT_TRUE(ok && ok->status == 200) << (ok ? ok->raw : "no response");
  auto& a = user("alice");
  auto bye = a.ua->wait_request("BYE", 5s);
  ASSERT_TRUE(bye) << "no BYE from the focus to Alice";
  EXPECT_EQ(bye->call_id(), a.invite.call_id) << "BYE outside Alice's INVITE dialog\n" << bye->raw;
  EXPECT_EQ(bye->to_tag(), a.invite.local_tag) << bye->raw;

  SipMessage n;
  auto doc = notify_doc("alice", /*terminated=*/true, &n);
  ASSERT_TRUE(doc);
  auto ss = parse_subscription_state(n.header("Subscription-State").value_or(""));
  EXPECT_EQ(ss.reason, "noresource") << n.raw;
  ASSERT_FALSE(n.body.empty()) << "final NOTIFY without body (release_final_body=roster)";
  ASSERT_TRUE(doc->has_conference_state) << n.body;
  EXPECT_EQ(doc->active, std::optional<bool>(false)) << n.body;
  EXPECT_EQ(doc->user_count, std::optional<uint32_t>(0)) << n.body;
  expect_disconnected(*doc, kBob, "departed", n.body);
  expect_disconnected(*doc, kAlice, "booted", n.body);

  SipMessage nb;
  auto docb = notify_doc("bob", /*terminated=*/true, &nb);
  ASSERT_TRUE(docb);
  EXPECT_EQ(parse_subscription_state(nb.header("Subscription-State").value_or("")).reason, "noresource") << nb.raw;

  auto& h = user("henry");
  auto j = h.ua->join(kGs1);
  EXPECT_EQ(j.final.status, 404) << "INVITE to the released identity: " << j.error << "\n" << j.final.raw;
}

// TC-A12: release.on-initiator-leave: Alice leaves, the session is
// released, every conference subscription ends with noresource.
TEST_P(DepartureTest, A12ReleaseWhenInitiatorLeaves) {
  f_base({"--release.on-initiator-leave=true"});
  ASSERT_FALSE(HasFailure());
  auto ok = leave("alice");
  ASSERT_TRUE(ok && ok->status == 200) << (ok ? ok->raw : "no response");
  for (const char* name : {"bob", "carol", "dan"}) {
    auto& u = user(name);
    auto bye = u.ua->wait_request("BYE", 5s);
    ASSERT_TRUE(bye) << "no BYE from the focus to " << name;
    EXPECT_EQ(bye->call_id(), u.invite.call_id) << name << "\n" << bye->raw;
  }
  for (const char* name : {"alice", "bob", "carol", "dan", "wendy"}) {
    SipMessage n;
    auto doc = notify_doc(name, /*terminated=*/true, &n);
    ASSERT_TRUE(doc) << name;
    EXPECT_EQ(parse_subscription_state(n.header("Subscription-State").value_or("")).reason, "noresource")
        << name << "\n" << n.raw;
    if (doc->has_conference_state) {
      EXPECT_EQ(doc->active, std::optional<bool>(false)) << name << "\n" << n.body;
    }
  }
  std::this_thread::sleep_for(500ms);
  for (const char* name : {"alice", "bob", "carol", "dan", "wendy"})
    EXPECT_EQ(queued_notifies(name), 0u) << name << " got a NOTIFY after its terminating one";
}

// TC-A13: the initiator leaves with release.on-initiator-leave off: the
// session continues.
TEST_P(DepartureTest, A13InitiatorLeavesPolicyOff) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto ok = leave("alice");
  ASSERT_TRUE(ok && ok->status == 200);
  for (const char* name : {"bob", "carol", "dan", "wendy"}) {
    SipMessage n;
    auto doc = notify_doc(name, false, &n);
    ASSERT_TRUE(doc) << name;
    EXPECT_EQ(doc->state, "partial") << name << "\n" << n.body;
    EXPECT_EQ(doc->user_count.value_or(0), 3u) << name << "\n" << n.body;
    ASSERT_EQ(doc->users.size(), 1u) << name << "\n" << n.body;
    EXPECT_EQ(doc->users[0].entity, kAlice) << name << "\n" << n.body;
    expect_disconnected(*doc, kAlice, "departed", n.body);
  }
  SipMessage na;
  auto doca = notify_doc("alice", /*terminated=*/true, &na);
  ASSERT_TRUE(doca);
  EXPECT_EQ(parse_subscription_state(na.header("Subscription-State").value_or("")).reason, "noresource") << na.raw;
  EXPECT_TRUE(user("bob").ua->nothing_arrives("BYE", 500ms)) << "the focus sent BYE to Bob";
  for (const char* name : {"carol", "dan", "wendy"})
    EXPECT_TRUE(user(name).ua->nothing_arrives("BYE", 0ms)) << "the focus sent BYE to " << name;
}

// TC-A24: rate limiting (2000 ms window here instead of 5000): C and D
// leave 200 ms apart; A sees at most one non-terminating NOTIFY after the
// first within the window, consecutive versions, both departures in the
// last document.
TEST_P(DepartureTest, A24RateLimitingMergesChanges) {
  constexpr auto kWindow = 2000ms;
  f_base({"--conf.min-notify-interval-ms=2000"});
  ASSERT_FALSE(HasFailure());
  auto ok_c = leave("carol");
  ASSERT_TRUE(ok_c && ok_c->status == 200);
  std::this_thread::sleep_for(200ms);
  auto ok_d = leave("dan");
  ASSERT_TRUE(ok_d && ok_d->status == 200);

  // Terminating NOTIFYs skip the limiter (§4.5): Carol's and Dan's come at
  // once although their subscriptions got their first NOTIFY just now.
  for (auto [name, ok] : {std::pair<const char*, SipMessage*>{"carol", &*ok_c}, {"dan", &*ok_d}}) {
    SipMessage n;
    auto doc = notify_doc(name, /*terminated=*/true, &n, 1000ms);
    ASSERT_TRUE(doc) << name << ": terminating NOTIFY not sent at once";
    auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(n.received_at - ok->received_at);
    EXPECT_LT(delay.count(), 500) << name << "'s terminating NOTIFY was delayed by the rate limiter";
  }

  std::vector<std::pair<SipMessage, ConferenceDoc>> got;
  SipMessage first;
  auto d = notify_doc("alice", false, &first, 5000ms);
  ASSERT_TRUE(d) << "Alice got no NOTIFY";
  got.emplace_back(first, *d);
  auto window_end = first.received_at + kWindow;
  // Everything within the window after the first, plus a margin to see the
  // changes that were merged for after the window.
  auto collect_end = window_end + 1500ms;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= collect_end) break;
    auto n = next_notify("alice", 200, std::chrono::duration_cast<std::chrono::milliseconds>(collect_end - now));
    if (!n) break;
    got.emplace_back(*n, check_notify("alice", *n));
  }
  size_t in_window = 0;
  for (size_t i = 1; i < got.size(); ++i)
    if (got[i].first.received_at < window_end) ++in_window;
  EXPECT_LE(in_window, 1u) << "more than one non-terminating NOTIFY after the first within the window";
  std::string bodies;
  for (const auto& [m, doc] : got) bodies += m.body + "\n";
  // Both departures reached Alice.
  bool carol_reported = false, dan_reported = false;
  for (const auto& [m, doc] : got) {
    if (auto u = doc.find_user(kCarol); u && !u->endpoints.empty() && u->endpoints[0].status == "disconnected")
      carol_reported = true;
    if (auto u = doc.find_user(kDan); u && !u->endpoints.empty() && u->endpoints[0].status == "disconnected")
      dan_reported = true;
  }
  EXPECT_TRUE(carol_reported) << bodies;
  EXPECT_TRUE(dan_reported) << bodies;
  const auto& [last_msg, last] = got.back();
  expect_disconnected(last, kCarol, "departed", last_msg.body);
  expect_disconnected(last, kDan, "departed", last_msg.body);
  EXPECT_EQ(last.user_count.value_or(0), 2u) << last_msg.body;
}

// TC-N01: independent version counters.
TEST_P(DepartureTest, N01IndependentVersionCounters) {
  f_base();
  ASSERT_FALSE(HasFailure());
  // Alice refreshes once: her counter moves, Bob's does not.
  auto& a = user("alice");
  auto r = a.ua->resubscribe(a.sub, 3600);
  ASSERT_TRUE(r && r->status == 200) << (r ? r->raw : "no response");
  ASSERT_TRUE(notify_doc("alice"));
  uint32_t va = user("alice").version, vb = user("bob").version;
  ASSERT_NE(va, vb);
  auto ok = leave("carol");
  ASSERT_TRUE(ok && ok->status == 200);
  auto da = notify_doc("alice");
  auto db = notify_doc("bob");
  ASSERT_TRUE(da && db);
  EXPECT_EQ(da->version, std::optional<uint32_t>(va + 1));
  EXPECT_EQ(db->version, std::optional<uint32_t>(vb + 1));
}

// TC-N06: release_final_body=deleted: A's final NOTIFY is a bare deleted root.
TEST_P(DepartureTest, N06DeletedFinalBody) {
  f_base({"--conf.release-final-body=deleted"}, /*pair=*/true);
  ASSERT_FALSE(HasFailure());
  uint32_t va = user("alice").version;
  auto ok = leave("bob");
  ASSERT_TRUE(ok && ok->status == 200);
  SipMessage n;
  auto doc = notify_doc("alice", /*terminated=*/true, &n);
  ASSERT_TRUE(doc);
  EXPECT_EQ(parse_subscription_state(n.header("Subscription-State").value_or("")).reason, "noresource") << n.raw;
  ASSERT_FALSE(n.body.empty()) << n.raw;
  EXPECT_EQ(doc->root_name, "conference-info") << n.body;
  EXPECT_EQ(doc->ns, kConferenceInfoNs) << n.body;
  EXPECT_EQ(doc->state, "deleted") << n.body;
  EXPECT_EQ(doc->version, std::optional<uint32_t>(va + 1)) << n.body;
  EXPECT_TRUE(doc->root_children.empty()) << n.body;
  EXPECT_TRUE(doc->foreign_elements.empty()) << n.body;
  for (const auto& [attr, value] : doc->root_attributes)
    EXPECT_TRUE(attr == "entity" || attr == "state" || attr == "version") << "extra root attribute " << attr;
}

// TC-N07: leaver_subscription_reason=rejected.
TEST_P(DepartureTest, N07RejectedReasonForLeaver) {
  f_base({"--conf.leaver-subscription-reason=rejected"});
  ASSERT_FALSE(HasFailure());
  auto ok = leave("carol");
  ASSERT_TRUE(ok && ok->status == 200);
  SipMessage n;
  auto doc = notify_doc("carol", /*terminated=*/true, &n);
  ASSERT_TRUE(doc);
  auto ss = parse_subscription_state(n.header("Subscription-State").value_or(""));
  EXPECT_EQ(ss.state, "terminated") << n.raw;
  EXPECT_EQ(ss.reason, "rejected") << n.raw;
  EXPECT_FALSE(ss.expires.has_value()) << n.raw;
  // The others' subscriptions are not affected.
  SipMessage na;
  auto da = notify_doc("alice", false, &na);
  ASSERT_TRUE(da);
  expect_carol_departed_partial(*da, na.body);
}

// TC-N08: Carol joined from two devices; device 1 leaves. Endpoint 1 is
// reported departed, endpoint 2 stays connected, Carol still participates.
TEST_P(DepartureTest, N08UserWithTwoEndpoints) {
  start();
  ASSERT_FALSE(HasFailure());
  join("alice", kFactory);
  join("bob");
  join("carol");
  second_device("carol#2", kCarol);
  join("carol#2");
  join("dan");
  ASSERT_FALSE(HasFailure());
  // Carol's subscription is held by device 1's UA.
  for (const char* name : {"alice", "bob", "carol", "dan", "wendy"}) {
    subscribe(name);
    ASSERT_FALSE(HasFailure()) << name;
  }
  // The endpoints as the full document of Alice's first NOTIFY names them:
  // device 1's endpoint carries its contact (port) in its entity.
  const std::string dev1_port = ":" + std::to_string(user("carol").ua->local_port());
  const std::string dev2_port = ":" + std::to_string(user("carol#2").ua->local_port());
  auto is_dev = [](const DocEndpoint& ep, const std::string& port) {
    return ep.entity.find(port) != std::string::npos;
  };

  auto ok = leave("carol");
  ASSERT_TRUE(ok && ok->status == 200);
  for (const char* name : {"alice", "bob", "carol", "dan", "wendy"}) {
    SipMessage n;
    auto doc = notify_doc(name, /*terminated=*/false, &n);  // Carol's too: it stays active
    ASSERT_TRUE(doc) << name;
    EXPECT_EQ(doc->user_count.value_or(0), 4u) << name << ": user-count changed\n" << n.body;
    const DocUser* c = doc->find_user(kCarol);
    ASSERT_TRUE(c) << name << "\n" << n.body;
    if (doc->state == "partial") {
      EXPECT_EQ(c->state, "partial") << name << "\n" << n.body;
    }
    const DocEndpoint* ep1 = nullptr;
    const DocEndpoint* ep2 = nullptr;
    for (const auto& ep : c->endpoints) {
      if (is_dev(ep, dev1_port)) ep1 = &ep;
      if (is_dev(ep, dev2_port)) ep2 = &ep;
    }
    ASSERT_TRUE(ep1) << name << ": no endpoint for device 1 (" << dev1_port << ")\n" << n.body;
    EXPECT_EQ(ep1->status, "disconnected") << name << "\n" << n.body;
    EXPECT_EQ(ep1->disconnection_method, "departed") << name << "\n" << n.body;
    EXPECT_TRUE(is_utc_datetime(ep1->disconnection_when)) << name << "\n" << n.body;
    if (ep2) {
      EXPECT_EQ(ep2->status, "connected") << name << ": device 2 changed\n" << n.body;
    }
    EXPECT_EQ(c->endpoints.size(), ep2 ? 2u : 1u) << name << "\n" << n.body;
    EXPECT_EQ(doc->users.size(), doc->state == "partial" ? 1u : 4u) << name << "\n" << n.body;
  }
  // Carol's subscription is still alive: a refresh works and lists her
  // second device connected.
  auto& c = user("carol");
  auto r = c.ua->resubscribe(c.sub, 3600);
  ASSERT_TRUE(r) << "no response to Carol's refresh";
  EXPECT_EQ(r->status, 200) << r->raw;
  if (r->status == 200) {
    SipMessage n;
    auto doc = notify_doc("carol", false, &n);
    ASSERT_TRUE(doc);
    EXPECT_EQ(doc->user_count.value_or(0), 4u) << n.body;
    const DocUser* cu = doc->find_user(kCarol);
    ASSERT_TRUE(cu) << n.body;
    bool dev2_connected = false;
    for (const auto& ep : cu->endpoints)
      if (is_dev(ep, dev2_port) && ep.status == "connected") dev2_connected = true;
    EXPECT_TRUE(dev2_connected) << n.body;
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, DepartureTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
