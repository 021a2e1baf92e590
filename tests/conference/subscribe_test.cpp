// Conference-event subscriptions on the wire (SESSIONS.md §6, §12.3 TC-S01..
// S14; PROTOCOL.md §4.1, §5.4), against the real imserver binary over UDP
// and TCP.
//
// Not covered here:
//   * TC-S10 (invitee subscription) needs a dial-out (CREATE with a
//     recipient list answered by a simulated invitee), and TC-S13 (group
//     URI) needs the groups file and a PREDEFINED session; both belong to
//     another issue.
//   * TC-S01..S04 start from "CREATE(A; bob)". Without the dial-out
//     machinery, A creates the session with a plain INVITE to the factory;
//     what those tests assert does not depend on Bob being invited.
//
// Timers are shortened where the spec allows it (§12.0): TC-S12 runs with
// conf.sub-min-expires=1 and Expires: 2 instead of 60, and its tolerance
// is scaled from ±2 s to ±1 s.

#include <algorithm>
#include <thread>

#include "tests/conference/fixture.hpp"

namespace imserver::testclient {
namespace {

class SubscribeTest : public ConferenceTest {};
class SubscribeUdpTest : public ConferenceTest {};  // TC-S14: UDP only

constexpr const char* kConfInfoType = "application/conference-info+xml";

std::string hdr(const SipMessage& m, std::string_view name) { return m.header(name).value_or(""); }

// The NOTIFY that follows a 200 to SUBSCRIBE: answered 200, active, with an
// expires parameter between 1 and `max_expires`.
std::optional<SipMessage> expect_active_notify(SipUa& ua, const Dialog& dialog, uint32_t max_expires) {
  auto n = ua.wait_in_dialog(dialog, "NOTIFY", 5s);
  if (!n) {
    ADD_FAILURE() << "no NOTIFY after the 200";
    return n;
  }
  ua.respond(*n, 200, "OK");
  auto ss = parse_subscription_state(hdr(*n, "Subscription-State"));
  EXPECT_EQ(ss.state, "active") << n->raw;
  EXPECT_TRUE(ss.expires && *ss.expires >= 1 && *ss.expires <= max_expires) << n->raw;
  return n;
}

std::string conference_headers_with_expires(uint32_t expires) {
  return std::string(kConferenceSubscribeHeaders) + "Expires: " + std::to_string(expires) + "\r\n";
}

// True when some Allow-Events header lists the `conference` package.
bool allow_events_has_conference(const SipMessage& m) {
  for (const auto& line : m.headers_named("Allow-Events")) {
    for (const auto& item : split_header_list(line)) {
      std::string token = trim(item);
      auto semi = token.find(';');
      if (semi != std::string::npos) token = trim(token.substr(0, semi));
      if (token == "conference") return true;
    }
  }
  return false;
}

// An out-of-dialog SUBSCRIBE to gs-1 with exactly these headers (no
// Expires added) and optional body; its final response.
std::optional<SipMessage> subscribe_raw(SipUa& ua, const std::string& headers, const std::string& content_type = "",
                                        const std::string& body = "") {
  Transaction tx = ua.send_request("SUBSCRIBE", kGs1, kGs1, headers, content_type, body);
  return ua.final_response(tx, 5s);
}

// The full-document checks of TC-S01 (and the body of TC-S07).
void expect_full_document(const SipMessage& n, uint32_t version) {
  EXPECT_EQ(hdr(n, "Content-Type"), kConfInfoType) << n.raw;
  auto doc = parse_conference_doc(n.body);
  ASSERT_TRUE(doc.well_formed) << doc.error << "\n" << n.body;
  for (const auto& e : schema_order_errors(doc)) ADD_FAILURE() << "schema: " << e << "\n" << n.body;
  EXPECT_EQ(doc.ns, kConferenceInfoNs);
  EXPECT_EQ(doc.root_name, "conference-info");
  ASSERT_TRUE(doc.version.has_value()) << n.body;
  EXPECT_EQ(*doc.version, version) << n.body;
  EXPECT_EQ(doc.state, "full") << n.body;
  EXPECT_EQ(doc.entity, kGs1) << n.body;
  EXPECT_TRUE(doc.has_description) << "a full document has <conference-description>\n" << n.body;
  EXPECT_TRUE(doc.has_users) << "a full document has <users>\n" << n.body;
  bool participation = std::any_of(doc.conf_uris.begin(), doc.conf_uris.end(), [](const auto& e) {
    return e.first == kGs1 && e.second == "participation";
  });
  EXPECT_TRUE(participation) << "no conf-uris entry " << kGs1 << " with purpose participation\n" << n.body;
  EXPECT_EQ(doc.maximum_user_count, std::optional<uint32_t>(5)) << n.body;
}

// ---------------------------------------------------------------- TC-S01
// A subscribes as in §6.4: 200 (never 202) with To tag, Contact gs-1;isfocus,
// Expires: 3600; then a NOTIFY (active;expires 3590..3600) with the full
// document, version 0.
TEST_P(SubscribeTest, S01BasicSubscription) {
  start();
  join("alice", kFactory);
  ASSERT_FALSE(HasFailure());
  auto& ua = *user("alice").ua;
  auto r = ua.subscribe(kGs1, 3600);
  ASSERT_EQ(r.final.status, 200) << r.error << "\n" << r.final.raw;
  EXPECT_EQ(r.final.reason, "OK") << r.final.raw;
  EXPECT_FALSE(r.final.to_tag().empty()) << "200 without a To tag\n" << r.final.raw;
  auto contact = r.final.header("Contact");
  ASSERT_TRUE(contact) << "200 without Contact\n" << r.final.raw;
  EXPECT_EQ(uri_of(*contact), kGs1) << r.final.raw;
  EXPECT_TRUE(header_param(*contact, "isfocus").has_value()) << "Contact without isfocus\n" << r.final.raw;
  EXPECT_EQ(hdr(r.final, "Expires"), "3600") << r.final.raw;

  auto n = ua.wait_in_dialog(r.dialog, "NOTIFY", 5s);
  ASSERT_TRUE(n) << "no NOTIFY after the 200";
  ua.respond(*n, 200, "OK");
  EXPECT_EQ(hdr(*n, "Event"), "conference") << n->raw;
  auto ss = parse_subscription_state(hdr(*n, "Subscription-State"));
  EXPECT_EQ(ss.state, "active") << n->raw;
  ASSERT_TRUE(ss.expires.has_value()) << n->raw;
  EXPECT_GE(*ss.expires, 3590u) << n->raw;
  EXPECT_LE(*ss.expires, 3600u) << n->raw;
  // §6.1 / §6.4: the NOTIFY comes from the dialog's focus side.
  EXPECT_EQ(uri_of(hdr(*n, "From")), kGs1) << n->raw;
  EXPECT_EQ(n->from_tag(), r.final.to_tag()) << n->raw;
  expect_full_document(*n, 0);
}

// ---------------------------------------------------------------- TC-S02
// No Expires header: conf.sub-default-expires (3600) is granted.
TEST_P(SubscribeTest, S02DefaultDuration) {
  start();
  join("alice", kFactory);
  ASSERT_FALSE(HasFailure());
  auto& ua = *user("alice").ua;
  auto r = ua.subscribe(kGs1, std::nullopt);
  ASSERT_EQ(r.final.status, 200) << r.error << "\n" << r.final.raw;
  EXPECT_EQ(r.request.raw.find("Expires:"), std::string::npos) << "test sent an Expires header";
  EXPECT_EQ(hdr(r.final, "Expires"), "3600") << r.final.raw;
  auto n = expect_active_notify(ua, r.dialog, 3600);
  ASSERT_TRUE(n);
}

// ---------------------------------------------------------------- TC-S03
// Expires: 59 -> 423 + Min-Expires: 60 and no NOTIFY within 2 s;
// Expires: 60 -> 200.
TEST_P(SubscribeTest, S03IntervalTooBrief) {
  start();
  join("alice", kFactory);
  ASSERT_FALSE(HasFailure());
  auto& ua = *user("alice").ua;
  auto r = ua.subscribe(kGs1, 59);
  EXPECT_EQ(r.final.status, 423) << r.error << "\n" << r.final.raw;
  EXPECT_EQ(hdr(r.final, "Min-Expires"), "60") << r.final.raw;
  EXPECT_TRUE(ua.nothing_arrives("NOTIFY", 2s)) << "a NOTIFY arrived after the 423";

  auto ok = ua.subscribe(kGs1, 60);
  ASSERT_EQ(ok.final.status, 200) << ok.error << "\n" << ok.final.raw;
  auto granted = hdr(ok.final, "Expires");
  EXPECT_EQ(granted, "60") << ok.final.raw;
  auto n = expect_active_notify(ua, ok.dialog, 60);
  ASSERT_TRUE(n);
}

// ---------------------------------------------------------------- TC-S04
// Expires: 7200 -> 200 with Expires: 3600 (conf.sub-max-expires), NOTIFY
// expires <= 3600.
TEST_P(SubscribeTest, S04IntervalTooLong) {
  start();
  join("alice", kFactory);
  ASSERT_FALSE(HasFailure());
  auto& ua = *user("alice").ua;
  auto r = ua.subscribe(kGs1, 7200);
  ASSERT_EQ(r.final.status, 200) << r.error << "\n" << r.final.raw;
  EXPECT_EQ(hdr(r.final, "Expires"), "3600") << r.final.raw;
  auto n = ua.wait_in_dialog(r.dialog, "NOTIFY", 5s);
  ASSERT_TRUE(n) << "no NOTIFY after the 200";
  ua.respond(*n, 200, "OK");
  auto ss = parse_subscription_state(hdr(*n, "Subscription-State"));
  EXPECT_EQ(ss.state, "active") << n->raw;
  ASSERT_TRUE(ss.expires.has_value()) << n->raw;
  EXPECT_LE(*ss.expires, 3600u) << n->raw;
  EXPECT_GE(*ss.expires, 1u) << n->raw;
}

// ---------------------------------------------------------------- TC-S05
// F-BASE. A refreshes in its dialog: 200 (Expires <= 3600), then a full
// document at vA + 1, active.
TEST_P(SubscribeTest, S05Refresh) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto& a = user("alice");
  auto r = a.ua->resubscribe(a.sub, 3600);
  ASSERT_TRUE(r) << "no final response to the refresh";
  ASSERT_EQ(r->status, 200) << r->raw;
  auto expires = r->header("Expires");
  ASSERT_TRUE(expires) << "200 to the refresh without Expires\n" << r->raw;
  EXPECT_LE(std::stoul(*expires), 3600ul) << r->raw;
  EXPECT_GE(std::stoul(*expires), 1ul) << r->raw;
  auto n = next_notify("alice");
  ASSERT_TRUE(n) << "no NOTIFY after the refresh";
  auto doc = check_notify("alice", *n);
  EXPECT_EQ(doc.state, "full") << n->body;
  EXPECT_EQ(doc.user_count.value_or(0), 4u) << n->body;
}

// ---------------------------------------------------------------- TC-S06
// F-BASE. W unsubscribes (Expires: 0): 200 + Expires: 0; NOTIFY
// terminated;reason=timeout, no expires, Content-Length: 0; nothing for W
// when C leaves; a refresh by W -> 481.
TEST_P(SubscribeTest, S06Unsubscribe) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto& w = user("wendy");
  auto r = w.ua->resubscribe(w.sub, 0);
  ASSERT_TRUE(r) << "no final response to the unsubscribe";
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(hdr(*r, "Expires"), "0") << r->raw;

  auto n = next_notify("wendy");
  ASSERT_TRUE(n) << "no NOTIFY after the unsubscribe";
  EXPECT_EQ(hdr(*n, "Event"), "conference") << n->raw;
  auto ss = parse_subscription_state(hdr(*n, "Subscription-State"));
  EXPECT_EQ(ss.state, "terminated") << n->raw;
  EXPECT_EQ(ss.reason, "timeout") << n->raw;
  EXPECT_FALSE(ss.expires.has_value()) << n->raw;
  EXPECT_EQ(hdr(*n, "Content-Length"), "0") << n->raw;
  EXPECT_TRUE(n->body.empty()) << n->raw;

  auto& c = user("carol");
  auto bye = c.ua->bye(c.invite);
  ASSERT_TRUE(bye && bye->status == 200) << (bye ? bye->raw : "no answer to Carol's BYE");
  // Alice's report shows the server has handled the departure.
  auto an = next_notify("alice");
  ASSERT_TRUE(an) << "Alice got no departure NOTIFY";
  check_notify("alice", *an);
  EXPECT_TRUE(w.ua->nothing_arrives("NOTIFY", 1s)) << "W got a NOTIFY after unsubscribing";

  auto refresh = w.ua->resubscribe(w.sub, 3600);
  ASSERT_TRUE(refresh) << "no final response to W's refresh";
  EXPECT_EQ(refresh->status, 481) << refresh->raw;
}

// ---------------------------------------------------------------- TC-S07
// F-BASE + H in conf.watchers. H polls (out-of-dialog, Expires: 0): 200 +
// Expires: 0, then exactly one NOTIFY: terminated;reason=timeout, full
// document, version 0. No subscription remains.
TEST_P(SubscribeTest, S07Poll) {
  f_base({"--conf.watchers=sip:wendy@example.com,sip:henry@example.com"});
  ASSERT_FALSE(HasFailure());
  auto& h = *user("henry").ua;
  auto r = h.subscribe(kGs1, 0);
  ASSERT_EQ(r.final.status, 200) << r.error << "\n" << r.final.raw;
  EXPECT_EQ(hdr(r.final, "Expires"), "0") << r.final.raw;
  auto n = h.wait_in_dialog(r.dialog, "NOTIFY", 5s);
  ASSERT_TRUE(n) << "no NOTIFY after the poll";
  h.respond(*n, 200, "OK");
  EXPECT_EQ(hdr(*n, "Event"), "conference") << n->raw;
  auto ss = parse_subscription_state(hdr(*n, "Subscription-State"));
  EXPECT_EQ(ss.state, "terminated") << n->raw;
  EXPECT_EQ(ss.reason, "timeout") << n->raw;
  EXPECT_FALSE(ss.expires.has_value()) << n->raw;
  expect_full_document(*n, 0);
  EXPECT_TRUE(h.nothing_arrives("NOTIFY", 1s)) << "more than one NOTIFY for the poll";

  // No subscription remains: Carol's departure is not reported to H.
  auto& c = user("carol");
  auto bye = c.ua->bye(c.invite);
  ASSERT_TRUE(bye && bye->status == 200);
  auto an = next_notify("alice");
  ASSERT_TRUE(an) << "Alice got no departure NOTIFY";
  EXPECT_TRUE(h.nothing_arrives("NOTIFY", 500ms)) << "H still gets NOTIFYs after the poll";
}

// ---------------------------------------------------------------- TC-S08
// F-BASE. A SUBSCRIBE from A with a bad Event -> 489 + Allow-Events with
// conference.
void expect_bad_event(SipUa& ua, const std::string& headers) {
  auto r = subscribe_raw(ua, headers + "Expires: 3600\r\n");
  ASSERT_TRUE(r) << "no final response";
  EXPECT_EQ(r->status, 489) << r->raw;
  EXPECT_TRUE(allow_events_has_conference(*r)) << "489 without Allow-Events: conference\n" << r->raw;
  EXPECT_TRUE(ua.nothing_arrives("NOTIFY", 300ms)) << "NOTIFY after a 489";
}

TEST_P(SubscribeTest, S08aEventPresence) {
  f_base();
  ASSERT_FALSE(HasFailure());
  expect_bad_event(*user("alice").ua, "Event: presence\r\nAccept: application/conference-info+xml\r\n");
}

TEST_P(SubscribeTest, S08bNoEvent) {
  f_base();
  ASSERT_FALSE(HasFailure());
  expect_bad_event(*user("alice").ua, "Accept: application/conference-info+xml\r\n");
}

TEST_P(SubscribeTest, S08cEventCapitalised) {
  f_base();
  ASSERT_FALSE(HasFailure());
  expect_bad_event(*user("alice").ua, "Event: Conference\r\nAccept: application/conference-info+xml\r\n");
}

// ---------------------------------------------------------------- TC-S09
// F-BASE. H (trusted identity, not on the roster, not a watcher) -> 403.
// W in a new dialog -> 200 (and its first NOTIFY).
TEST_P(SubscribeTest, S09Authorization) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto& h = *user("henry").ua;
  auto hr = h.subscribe(kGs1, 3600);
  EXPECT_EQ(hr.final.status, 403) << hr.error << "\n" << hr.final.raw;
  EXPECT_TRUE(h.nothing_arrives("NOTIFY", 300ms)) << "H got a NOTIFY after the 403";

  auto& w = *user("wendy").ua;
  auto wr = w.subscribe(kGs1, 3600);
  ASSERT_EQ(wr.final.status, 200) << wr.error << "\n" << wr.final.raw;
  EXPECT_NE(wr.dialog.call_id, user("wendy").sub.call_id);
  auto n = w.wait_in_dialog(wr.dialog, "NOTIFY", 5s);
  ASSERT_TRUE(n) << "no NOTIFY for W's second subscription";
  w.respond(*n, 200, "OK");
  auto ss = parse_subscription_state(hdr(*n, "Subscription-State"));
  EXPECT_EQ(ss.state, "active") << n->raw;
  auto doc = parse_conference_doc(n->body);
  EXPECT_EQ(doc.version, std::optional<uint32_t>(0)) << n->body;
  EXPECT_EQ(doc.state, "full") << n->body;
}

// ---------------------------------------------------------------- TC-S11
// (a) Accept without conference-info -> 406.
TEST_P(SubscribeTest, S11aUnacceptableAccept) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto& ua = *user("alice").ua;
  auto r = subscribe_raw(ua, "Event: conference\r\nAccept: application/pidf+xml\r\nExpires: 3600\r\n");
  ASSERT_TRUE(r) << "no final response";
  EXPECT_EQ(r->status, 406) << r->raw;
  EXPECT_TRUE(ua.nothing_arrives("NOTIFY", 300ms)) << "NOTIFY after a 406";
}

// (b) SUBSCRIBE inside A's INVITE dialog -> 403 "Dialog sharing not
// supported".
TEST_P(SubscribeTest, S11bDialogSharing) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto& a = user("alice");
  Transaction tx = a.ua->send_in_dialog(a.invite, "SUBSCRIBE", conference_headers_with_expires(3600));
  auto r = a.ua->final_response(tx, 5s);
  ASSERT_TRUE(r) << "no final response";
  EXPECT_EQ(r->status, 403) << r->raw;
  EXPECT_EQ(r->reason, "Dialog sharing not supported") << r->raw;
  EXPECT_TRUE(a.ua->nothing_arrives("NOTIFY", 300ms)) << "NOTIFY after the 403";
}

// (c) A non-empty application/xml body -> 415.
TEST_P(SubscribeTest, S11cBody) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto& ua = *user("alice").ua;
  auto r = subscribe_raw(ua, conference_headers_with_expires(3600), "application/xml",
                         "<?xml version=\"1.0\"?><filter/>");
  ASSERT_TRUE(r) << "no final response";
  EXPECT_EQ(r->status, 415) << r->raw;
  EXPECT_TRUE(ua.nothing_arrives("NOTIFY", 300ms)) << "NOTIFY after a 415";
}

// (d) Straight from an untrusted address (127.0.0.2, outside
// auth.trusted-peers; no digest users configured) -> 403, never 407.
TEST_P(SubscribeTest, S11dUntrustedAddress) {
  f_base({"--auth.trusted-peers=127.0.0.1/32"});
  ASSERT_FALSE(HasFailure());
  SipUa::Options o;
  o.transport = GetParam();
  o.bind_ip = "127.0.0.2";
  o.server_port = server_.port();
  o.aor = "sip:alice@example.com";  // asserts a participant's identity
  SipUa ua(o);
  auto r = ua.subscribe(kGs1, 3600);
  EXPECT_EQ(r.final.status, 403) << r.error << "\n" << r.final.raw << "\n" << ua.transcript();
  EXPECT_NE(r.final.status, 407);
  EXPECT_FALSE(r.final.has_header("Proxy-Authenticate")) << r.final.raw;
  EXPECT_TRUE(ua.nothing_arrives("NOTIFY", 300ms)) << "NOTIFY to an untrusted address";
}

// ---------------------------------------------------------------- TC-S12
// F-BASE (conf.sub-min-expires=1). W subscribes in a new dialog with
// Expires: 2 and never refreshes: ~2 s (±1 s) later a NOTIFY
// terminated;reason=timeout with no body; a later refresh -> 481.
TEST_P(SubscribeTest, S12Expiry) {
  f_base({"--conf.sub-min-expires=1"});
  ASSERT_FALSE(HasFailure());
  auto& w = *user("wendy").ua;
  auto r = w.subscribe(kGs1, 2);
  ASSERT_EQ(r.final.status, 200) << r.error << "\n" << r.final.raw;
  EXPECT_EQ(hdr(r.final, "Expires"), "2") << r.final.raw;
  auto first = w.wait_in_dialog(r.dialog, "NOTIFY", 5s);
  ASSERT_TRUE(first) << "no first NOTIFY";
  w.respond(*first, 200, "OK");
  auto ss0 = parse_subscription_state(hdr(*first, "Subscription-State"));
  EXPECT_EQ(ss0.state, "active") << first->raw;
  EXPECT_TRUE(ss0.expires && *ss0.expires >= 1 && *ss0.expires <= 2) << first->raw;

  auto n = w.wait_in_dialog(r.dialog, "NOTIFY", 6s);
  ASSERT_TRUE(n) << "no terminating NOTIFY within 6 s of the 200";
  w.respond(*n, 200, "OK");
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(n->received_at - r.final.received_at);
  EXPECT_GE(elapsed.count(), 1000) << "expiry NOTIFY too early: " << elapsed.count() << " ms";
  EXPECT_LE(elapsed.count(), 3000) << "expiry NOTIFY too late: " << elapsed.count() << " ms";
  EXPECT_EQ(hdr(*n, "Event"), "conference") << n->raw;
  auto ss = parse_subscription_state(hdr(*n, "Subscription-State"));
  EXPECT_EQ(ss.state, "terminated") << n->raw;
  EXPECT_EQ(ss.reason, "timeout") << n->raw;
  EXPECT_FALSE(ss.expires.has_value()) << n->raw;
  EXPECT_TRUE(n->body.empty()) << n->raw;
  EXPECT_EQ(hdr(*n, "Content-Length"), "0") << n->raw;

  Dialog d = r.dialog;
  auto refresh = w.resubscribe(d, 2);
  ASSERT_TRUE(refresh) << "no final response to the late refresh";
  EXPECT_EQ(refresh->status, 481) << refresh->raw;
}

// ---------------------------------------------------------------- TC-S14
// F-BASE over UDP. W sends a new SUBSCRIBE and a matching CANCEL 50 ms
// later: CANCEL -> 200 (or 481 when the transaction has completed);
// SUBSCRIBE -> 200, then a NOTIFY.
TEST_P(SubscribeUdpTest, S14CancelOfSubscribe) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto& w = *user("wendy").ua;
  RequestSpec s;
  s.method = "SUBSCRIBE";
  s.request_uri = kGs1;
  s.to_uri = kGs1;
  s.from_tag = w.new_tag();
  s.call_id = w.new_call_id();
  s.branch = w.new_branch();
  s.cseq = 1;
  s.extra_headers = conference_headers_with_expires(3600);
  Transaction sub = w.send(s);

  std::this_thread::sleep_for(50ms);
  RequestSpec c;
  c.method = "CANCEL";
  c.request_uri = s.request_uri;
  c.to_uri = s.to_uri;
  c.from_tag = s.from_tag;
  c.call_id = s.call_id;
  c.branch = s.branch;
  c.cseq = s.cseq;
  c.contact = false;
  c.pai = false;
  Transaction cancel = w.send(c);

  auto cr = w.final_response(cancel, 5s);
  ASSERT_TRUE(cr) << "no response to the CANCEL";
  EXPECT_TRUE(cr->status == 200 || cr->status == 481) << cr->raw;

  auto sr = w.final_response(sub, 5s);
  ASSERT_TRUE(sr) << "no final response to the SUBSCRIBE";
  ASSERT_EQ(sr->status, 200) << sr->raw;
  EXPECT_FALSE(sr->to_tag().empty()) << sr->raw;

  Dialog d;
  d.call_id = s.call_id;
  d.local_tag = s.from_tag;
  auto n = w.wait_in_dialog(d, "NOTIFY", 5s);
  ASSERT_TRUE(n) << "no NOTIFY after the SUBSCRIBE's 200";
  w.respond(*n, 200, "OK");
  EXPECT_EQ(hdr(*n, "Event"), "conference") << n->raw;
  auto ss = parse_subscription_state(hdr(*n, "Subscription-State"));
  EXPECT_EQ(ss.state, "active") << n->raw;
  auto doc = parse_conference_doc(n->body);
  EXPECT_EQ(doc.version, std::optional<uint32_t>(0)) << n->body;
  EXPECT_EQ(doc.state, "full") << n->body;
}

INSTANTIATE_TEST_SUITE_P(Transports, SubscribeTest, ::testing::Values("udp", "tcp"), transport_name);
INSTANTIATE_TEST_SUITE_P(Transports, SubscribeUdpTest, ::testing::Values("udp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
