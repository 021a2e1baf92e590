// REFER method=BYE races, retransmissions, timeouts, release and the
// optional eject mode (PROTOCOL.md §3.3-§3.8, §5.2-§5.5, §6 E8, E15-E19,
// §9.3 TC-B32..B38, B43, B44), plus the refer-NOTIFY rate rule (§3.6,
// RFC 3515 §3.10).
//
// Note on identities: the test profile numbers sessions sequentially, so
// the only session of F-PAIR is sip:gs-1@im.example.com here (the spec
// calls it gs-2).

#include <set>
#include <thread>

#include "tests/refer/refer_fixture.hpp"

namespace imserver::testclient {
namespace {

inline constexpr const char* kAlice = "sip:alice@example.com";
inline constexpr const char* kBob = "sip:bob@example.com";
inline constexpr const char* kCarol = "sip:carol@example.com";
inline constexpr const char* kDan = "sip:dan@example.com";

std::string refer_to(const std::string& uri) { return "Refer-To: <" + uri + ">\r\n"; }

std::string describe(const ReferResult& r) {
  return r.final ? r.final->raw : std::string("no final response to the REFER");
}

// "refer;id=5" -> true for id 5 (spaces and case of the package ignored).
bool is_refer_event(const std::string& value, uint32_t id) {
  std::string v;
  for (char ch : value)
    if (ch != ' ' && ch != '\t') v += ch;
  v = to_lower(v);
  if (v.rfind("refer", 0) != 0) return false;
  return v.find(";id=" + std::to_string(id)) != std::string::npos;
}

bool body_starts(const SipMessage& m, const std::string& status_line) {
  return m.body.rfind(status_line, 0) == 0;
}

// Refer-NOTIFY #1 of pair(id) (§9.1).
void expect_refer_notify_1(const SipMessage& n, uint32_t id) {
  EXPECT_TRUE(is_refer_event(n.header("Event").value_or(""), id)) << n.raw;
  EXPECT_EQ(to_lower(n.header("Content-Type").value_or("")), "message/sipfrag;version=2.0") << n.raw;
  auto ss = parse_subscription_state(n.header("Subscription-State").value_or(""));
  EXPECT_EQ(ss.state, "active") << n.raw;
  EXPECT_EQ(ss.expires, std::optional<uint32_t>(60)) << n.raw;
  EXPECT_TRUE(body_starts(n, "SIP/2.0 100 Trying")) << n.raw;
}

// Refer-NOTIFY #2 of pair(id) (§9.1).
void expect_refer_notify_2(const SipMessage& n, uint32_t id) {
  EXPECT_TRUE(is_refer_event(n.header("Event").value_or(""), id)) << n.raw;
  EXPECT_EQ(to_lower(n.header("Content-Type").value_or("")), "message/sipfrag;version=2.0") << n.raw;
  auto ss = parse_subscription_state(n.header("Subscription-State").value_or(""));
  EXPECT_EQ(ss.state, "terminated") << n.raw;
  EXPECT_EQ(ss.reason, "noresource") << n.raw;
  EXPECT_FALSE(ss.expires.has_value()) << n.raw;
  EXPECT_TRUE(body_starts(n, "SIP/2.0 200 OK")) << n.raw;
}

// `aor`'s endpoints are all disconnected and booted, with
// disconnection-info/by = `by` ("" = no <by>, as on release, §5.2).
void expect_booted(const ConferenceDoc& doc, const std::string& aor, const std::string& by, const std::string& body) {
  const DocUser* u = doc.find_user(aor);
  ASSERT_TRUE(u) << aor << " not in the document\n" << body;
  ASSERT_FALSE(u->endpoints.empty()) << aor << "\n" << body;
  for (const auto& ep : u->endpoints) {
    EXPECT_EQ(ep.status, "disconnected") << aor << "\n" << body;
    EXPECT_EQ(ep.disconnection_method, "booted") << aor << "\n" << body;
    EXPECT_TRUE(is_utc_datetime(ep.disconnection_when)) << aor << ": '" << ep.disconnection_when << "'\n" << body;
    EXPECT_EQ(ep.disconnection_by, by) << aor << ": disconnection-info/by\n" << body;
  }
}

class ReferRacesTest : public ReferTest {
 protected:
  // The focus's BYE in `name`'s INVITE dialog.
  std::optional<SipMessage> focus_bye(const std::string& name, std::chrono::milliseconds timeout = 5s) {
    auto& u = user(name);
    const std::string call_id = u.invite.call_id;
    return u.ua->wait_for(
        [&](const SipMessage& m) { return m.is_request && m.method == "BYE" && m.call_id() == call_id; }, timeout);
  }

  // Distinct BYE transactions (by CSeq) the focus sent in `name`'s INVITE
  // dialog so far (retransmissions counted once).
  size_t focus_bye_count(const std::string& name) {
    auto& u = user(name);
    std::set<uint32_t> cseqs;
    for (const auto& m : u.ua->history())
      if (m.is_request && m.method == "BYE" && m.call_id() == u.invite.call_id) cseqs.insert(m.cseq_number());
    return cseqs.size();
  }

  // The next conference NOTIFY of `name`, checked (check_notify), which
  // must report `aor` booted by `by`. Returns the document.
  std::optional<ConferenceDoc> expect_booted_report(const std::string& name, const std::string& aor,
                                                    const std::string& by, bool terminated = false) {
    auto n = next_notify(name);
    if (!n) {
      ADD_FAILURE() << name << ": no conference NOTIFY reporting " << aor;
      return std::nullopt;
    }
    auto doc = check_notify(name, *n, terminated);
    expect_booted(doc, aor, by, n->body);
    return doc;
  }

  // Both refer NOTIFYs of an accepted REFER (pair(id)); returns them.
  std::pair<std::optional<SipMessage>, std::optional<SipMessage>> refer_pair(const std::string& name,
                                                                             const ReferResult& r, uint32_t id) {
    auto n1 = next_refer_notify(name, r.dialog);
    EXPECT_TRUE(n1) << name << ": no refer NOTIFY #1";
    if (n1) expect_refer_notify_1(*n1, id);
    auto n2 = next_refer_notify(name, r.dialog);
    EXPECT_TRUE(n2) << name << ": no refer NOTIFY #2";
    if (n2) expect_refer_notify_2(*n2, id);
    return {n1, n2};
  }

  // No further refer NOTIFY in `dialog` within `quiet`.
  void expect_no_more_refer_notifies(const std::string& name, const Dialog& dialog,
                                     std::chrono::milliseconds quiet = 1000ms) {
    auto extra = next_refer_notify(name, dialog, 200, quiet);
    EXPECT_FALSE(extra) << name << ": unexpected refer NOTIFY\n" << (extra ? extra->raw : "");
  }
};

// ---------------------------------------------------------------- TC-B32
// E15: Carol leaves by BYE, then sends a REFER BYE -> 403 (no longer
// participating), no BYE and no NOTIFY.
TEST_P(ReferRacesTest, B32ByeThenRefer) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  auto ok = c.ua->bye(c.invite);
  ASSERT_TRUE(ok && ok->status == 200) << (ok ? ok->raw : "no response to Carol's BYE");
  for (const char* name : {"alice", "bob", "carol", "dan", "wendy"})
    ASSERT_TRUE(next_notify(name)) << name << ": no departure NOTIFY";

  auto r = refer("carol");
  ASSERT_TRUE(r.final) << "no final response to the REFER";
  EXPECT_EQ(r.status(), 403) << describe(r);
  for (const char* name : {"alice", "bob", "carol", "dan", "wendy"})
    EXPECT_TRUE(user(name).ua->nothing_arrives("NOTIFY", name == std::string("alice") ? 1000ms : 0ms))
        << name << " got a NOTIFY after the refused REFER";
  EXPECT_TRUE(c.ua->nothing_arrives("BYE", 0ms)) << "a BYE reached Carol after the refused REFER";
}

// ---------------------------------------------------------------- TC-B33
// E16: the focus's BYE (caused by Carol's REFER) is held; Carol's own BYE
// crosses it and gets 200; then the held BYE is answered 481. Exactly one
// departure report (booted), refer NOTIFY #2 body "SIP/2.0 200 OK".
TEST_P(ReferRacesTest, B33CrossingByes) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  c.ua->answer_bye_automatically(false);
  auto r = refer("carol");
  ASSERT_EQ(r.status(), 202) << describe(r);
  auto held = focus_bye("carol");
  ASSERT_TRUE(held) << "no focus BYE to Carol";
  auto own = c.ua->bye(c.invite);
  ASSERT_TRUE(own) << "no response to Carol's crossing BYE";
  EXPECT_EQ(own->status, 200) << own->raw;
  c.ua->respond(*held, 481, "Call/Transaction Does Not Exist");

  auto doc = expect_booted_report("alice", kCarol, kCarol);
  EXPECT_TRUE(user("alice").ua->nothing_arrives("NOTIFY", 1000ms)) << "Alice got a second departure report";
  for (const char* name : {"bob", "dan", "wendy"}) expect_booted_report(name, kCarol, kCarol);
  expect_booted_report("carol", kCarol, kCarol, /*terminated=*/true);

  auto [n1, n2] = refer_pair("carol", r, 5);
  expect_no_more_refer_notifies("carol", r.dialog, 300ms);
  EXPECT_EQ(focus_bye_count("carol"), 1u);
}

// ---------------------------------------------------------------- TC-B34
// E18: the REFER is resent byte for byte (same branch). Over UDP the server
// transaction is still there (Timer J = 64*T1) and resends the same 202.
// Over TCP Timer J is 0 (RFC 3261 §17.2.2), so the copy may be a new
// request; Carol is then DISCONNECTING and 403 is right (E17). Either
// way: one BYE, one departure report, one refer-NOTIFY pair.
TEST_P(ReferRacesTest, B34RetransmittedRefer) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  auto r = refer("carol");
  ASSERT_EQ(r.status(), 202) << describe(r);
  ASSERT_TRUE(c.ua->send_raw(r.tx.raw));
  auto again = c.ua->final_response(r.tx, 3s);
  if (GetParam() == "udp") {
    ASSERT_TRUE(again) << "no response to the retransmitted REFER";
    EXPECT_EQ(again->status, 202) << again->raw;
    EXPECT_EQ(again->to_tag(), r.final->to_tag()) << "not the same 202\n" << r.final->raw << "\n" << again->raw;
  } else if (again) {
    EXPECT_TRUE(again->status == 202 || again->status == 403) << again->raw;
    if (again->status == 202) {
      EXPECT_EQ(again->to_tag(), r.final->to_tag()) << again->raw;
    }
    std::printf("[ B34/tcp ] the byte-identical REFER was answered %d\n", again->status);
  }
  auto bye = focus_bye("carol");
  ASSERT_TRUE(bye) << "no focus BYE to Carol";
  expect_booted_report("alice", kCarol, kCarol);
  EXPECT_TRUE(user("alice").ua->nothing_arrives("NOTIFY", 1000ms)) << "Alice got a second departure report";
  refer_pair("carol", r, 5);
  expect_no_more_refer_notifies("carol", r.dialog, 300ms);
  EXPECT_EQ(focus_bye_count("carol"), 1u) << "the removal ran more than once";
}

// ---------------------------------------------------------------- TC-B35
// E17: while Carol holds her answer to the focus's BYE (DISCONNECTING), a
// second, distinct REFER BYE (new Call-ID) -> 403. The first REFER still
// completes normally.
TEST_P(ReferRacesTest, B35SecondReferWhileDisconnecting) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  c.ua->answer_bye_automatically(false);
  auto r = refer("carol");
  ASSERT_EQ(r.status(), 202) << describe(r);
  auto held = focus_bye("carol");
  ASSERT_TRUE(held) << "no focus BYE to Carol";
  ReferSpec second;
  second.cseq = 9;
  auto r2 = refer("carol", second);
  ASSERT_TRUE(r2.final) << "no final response to the second REFER";
  EXPECT_EQ(r2.status(), 403) << describe(r2);
  c.ua->respond(*held, 200, "OK");

  expect_booted_report("alice", kCarol, kCarol);
  EXPECT_TRUE(user("alice").ua->nothing_arrives("NOTIFY", 1000ms)) << "Alice got a second departure report";
  refer_pair("carol", r, 5);
  expect_no_more_refer_notifies("carol", r.dialog, 300ms);
  // Nothing at all in the refused REFER's would-be dialog.
  auto stray = c.ua->wait_for(
      [&](const SipMessage& m) { return m.is_request && m.call_id() == r2.tx.call_id; }, 0ms);
  EXPECT_FALSE(stray) << "request in the refused REFER's Call-ID\n" << (stray ? stray->raw : "");
  EXPECT_EQ(focus_bye_count("carol"), 1u);
}

// ---------------------------------------------------------------- TC-B36
// E19 with T1 = 100 ms (Timer F = 64*T1 = 6.4 s): Carol never answers the
// focus's BYE. The conference NOTIFYs do not wait for it; refer NOTIFY #2
// (200 OK, terminated;reason=noresource) comes no later than 64*T1 + 2 s
// after the BYE was first sent.
TEST_P(ReferRacesTest, B36ParticipantNeverAnswersBye) {
  constexpr auto kTimerF = 6400ms;
  f_refer({"--sip.t1-ms=100"});
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  c.ua->answer_bye_automatically(false);
  auto r = refer("carol");
  ASSERT_EQ(r.status(), 202) << describe(r);
  auto bye = focus_bye("carol");
  ASSERT_TRUE(bye) << "no focus BYE to Carol";
  // Refer NOTIFY #1 must be answered quickly (T1 is short).
  auto n1 = next_refer_notify("carol", r.dialog);
  ASSERT_TRUE(n1) << "no refer NOTIFY #1";
  expect_refer_notify_1(*n1, 5);

  for (const char* name : {"alice", "bob", "dan", "wendy"}) {
    auto n = next_notify(name, 200, 2s);
    ASSERT_TRUE(n) << name << ": the conference NOTIFY waited for the BYE's answer";
    EXPECT_LE(n->received_at - bye->received_at, 2s) << name;
    auto doc = check_notify(name, *n);
    expect_booted(doc, kCarol, kCarol, n->body);
  }
  next_notify("carol", 200, 2s);  // Carol's own (terminated) subscription

  auto n2 = next_refer_notify("carol", r.dialog, 200, kTimerF + 3s);
  ASSERT_TRUE(n2) << "no refer NOTIFY #2 within 64*T1 + 3 s of the BYE";
  expect_refer_notify_2(*n2, 5);
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(n2->received_at - bye->received_at);
  EXPECT_LE(after, kTimerF + 2s) << "refer NOTIFY #2 " << after.count() << " ms after the BYE";
  std::printf("[ B36/%s ] refer NOTIFY #2 came %lld ms after the first BYE\n", GetParam().c_str(),
              static_cast<long long>(after.count()));
}

// ---------------------------------------------------------------- TC-B37
// B2a-vi / R1: F-PAIR; Bob's self-removal leaves fewer than 2, so the
// session is released: BYE to Bob and to Alice, both conference
// subscriptions terminated with noresource (final roster: Bob booted by
// Bob, Alice booted), refer-NOTIFY pair to Bob.
TEST_P(ReferRacesTest, B37SelfRemovalTriggersRelease) {
  f_refer({}, /*pair=*/true);
  ASSERT_FALSE(HasFailure());
  auto r = refer("bob");
  ASSERT_EQ(r.status(), 202) << describe(r);
  ASSERT_TRUE(focus_bye("bob")) << "no focus BYE to Bob";
  ASSERT_TRUE(focus_bye("alice")) << "no focus BYE to Alice (session not released)";
  for (const char* name : {"alice", "bob"}) {
    auto n = next_notify(name);
    ASSERT_TRUE(n) << name << ": no final conference NOTIFY";
    auto doc = check_notify(name, *n, /*terminated=*/true);
    auto ss = parse_subscription_state(n->header("Subscription-State").value_or(""));
    EXPECT_EQ(ss.reason, "noresource") << n->raw;
    ASSERT_FALSE(n->body.empty()) << name << ": final NOTIFY without a body";
    EXPECT_EQ(doc.active, std::optional<bool>(false)) << n->body;
    EXPECT_EQ(doc.user_count, std::optional<uint32_t>(0)) << n->body;
    expect_booted(doc, kBob, kBob, n->body);
    expect_booted(doc, kAlice, "", n->body);
  }
  refer_pair("bob", r, 5);
  auto j = user("eve").ua->join(kGs1);
  EXPECT_EQ(j.final.status, 404) << "INVITE to the released identity: " << j.error << "\n" << j.final.raw;
}

// ---------------------------------------------------------------- TC-B38
// R2: release.on-initiator-leave; Alice's self-removal releases the
// session: BYEs to A, B, C and D, every conference subscription ends with
// noresource, Alice still gets refer-NOTIFY pair(5).
TEST_P(ReferRacesTest, B38InitiatorSelfRemovalReleases) {
  f_refer({"--release.on-initiator-leave=true"});
  ASSERT_FALSE(HasFailure());
  auto r = refer("alice");
  ASSERT_EQ(r.status(), 202) << describe(r);
  for (const char* name : {"alice", "bob", "carol", "dan"}) EXPECT_TRUE(focus_bye(name)) << "no focus BYE to " << name;
  for (const char* name : {"alice", "bob", "carol", "dan", "wendy"}) {
    auto n = next_notify(name);
    ASSERT_TRUE(n) << name << ": no final conference NOTIFY";
    auto doc = check_notify(name, *n, /*terminated=*/true);
    auto ss = parse_subscription_state(n->header("Subscription-State").value_or(""));
    EXPECT_EQ(ss.reason, "noresource") << name << "\n" << n->raw;
    if (!n->body.empty()) {
      expect_booted(doc, kAlice, kAlice, n->body);
      for (const char* aor : {kBob, kCarol, kDan}) expect_booted(doc, aor, "", n->body);
    }
  }
  refer_pair("alice", r, 5);
  for (const char* name : {"bob", "carol", "dan", "wendy"})
    EXPECT_FALSE(next_notify(name, 200, name == std::string("bob") ? 500ms : 0ms))
        << name << ": NOTIFY after the terminating one";
}

// ---------------------------------------------------------------- TC-B43
// E8: over UDP, a CANCEL matching the REFER (same Call-ID, CSeq number,
// branch, From tag, To without tag, Request-URI; CSeq method CANCEL) sent
// right after the 202. The REFER's server transaction is completed, so
// the CANCEL has no effect: 200 (a live transaction) or 481 are both
// allowed by E8 (over TCP Timer J = 0, so 481 is the expected answer).
// The removal continues as in TC-B03/B04.
TEST_P(ReferRacesTest, B43CancelAimedAtRefer) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  auto r = refer("carol");
  ASSERT_EQ(r.status(), 202) << describe(r);
  RequestSpec cancel;
  cancel.method = "CANCEL";
  cancel.request_uri = r.tx.request_uri;
  cancel.to_uri = kGs1;
  cancel.from_tag = r.tx.from_tag;
  cancel.call_id = r.tx.call_id;
  cancel.cseq = r.tx.cseq;
  cancel.branch = r.tx.branch;
  cancel.contact = false;
  cancel.pai = false;
  auto ctx = c.ua->send(cancel);
  auto cfin = c.ua->final_response(ctx, 1000ms);
  ASSERT_TRUE(cfin) << "no response to the CANCEL within 1 s";
  EXPECT_TRUE(cfin->status == 200 || cfin->status == 481) << cfin->raw;
  std::printf("[ B43/%s ] CANCEL of the answered REFER got %d %s\n", GetParam().c_str(), cfin->status,
              cfin->reason.c_str());
  RecordProperty("cancel_status", cfin->status);

  ASSERT_TRUE(focus_bye("carol")) << "the removal stopped after the CANCEL: no BYE to Carol";
  for (const char* name : {"alice", "bob", "dan", "wendy"}) expect_booted_report(name, kCarol, kCarol);
  refer_pair("carol", r, 5);
}

// ---------------------------------------------------------------- TC-B44
// §3.8 eject mode (refer.allow-remove-others=true).
// (a) The initiator ejects Carol: 202, BYE to Carol, Carol booted by Alice.
TEST_P(ReferRacesTest, B44aInitiatorEjectsCarol) {
  f_refer({"--refer.allow-remove-others=true"});
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to(std::string(kCarol) + ";method=BYE");
  auto r = refer("alice", spec);
  ASSERT_EQ(r.status(), 202) << describe(r);
  ASSERT_TRUE(focus_bye("carol")) << "no focus BYE to Carol";
  for (const char* name : {"alice", "bob", "dan", "wendy"}) expect_booted_report(name, kCarol, kAlice);
  expect_booted_report("carol", kCarol, kAlice, /*terminated=*/true);
  refer_pair("alice", r, 5);
  EXPECT_EQ(focus_bye_count("alice"), 0u) << "Alice was removed instead of / besides Carol";
}

// (b) A member (Bob) may not eject Dan: 403, no BYE, no NOTIFY.
TEST_P(ReferRacesTest, B44bMemberMayNotEject) {
  f_refer({"--refer.allow-remove-others=true"});
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to(std::string(kDan) + ";method=BYE");
  auto r = refer("bob", spec);
  ASSERT_TRUE(r.final) << "no final response";
  EXPECT_EQ(r.status(), 403) << describe(r);
  EXPECT_TRUE(user("dan").ua->nothing_arrives("BYE", 1000ms)) << "a BYE reached Dan";
  for (const char* name : {"alice", "bob", "carol", "dan", "wendy"})
    EXPECT_TRUE(user(name).ua->nothing_arrives("NOTIFY", 0ms)) << name << " got a NOTIFY after the refused REFER";
  EXPECT_EQ(focus_bye_count("bob"), 0u);
}

// (c) Dan names his own AoR: removing yourself needs no rights -> 202, Dan
// removed (booted by Dan).
TEST_P(ReferRacesTest, B44cSelfByAor) {
  f_refer({"--refer.allow-remove-others=true"});
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to(std::string(kDan) + ";method=BYE");
  auto r = refer("dan", spec);
  ASSERT_EQ(r.status(), 202) << describe(r);
  ASSERT_TRUE(focus_bye("dan")) << "no focus BYE to Dan";
  for (const char* name : {"alice", "bob", "carol", "wendy"}) expect_booted_report(name, kDan, kDan);
  expect_booted_report("dan", kDan, kDan, /*terminated=*/true);
  refer_pair("dan", r, 5);
}

// §3.6 / RFC 3515 §3.10: with the default refer.min-notify-interval-ms
// (1000), refer NOTIFY #2 comes at least ~1 s after #1 even though Carol
// answers the focus's BYE at once.
TEST_P(ReferRacesTest, ReferNotifyRateLimit) {
  f_base();  // not f_refer(): keep the default 1000 ms refer NOTIFY interval
  ASSERT_FALSE(HasFailure());
  auto r = refer("carol");
  ASSERT_EQ(r.status(), 202) << describe(r);
  auto n1 = next_refer_notify("carol", r.dialog);
  ASSERT_TRUE(n1) << "no refer NOTIFY #1";
  expect_refer_notify_1(*n1, 5);
  ASSERT_TRUE(focus_bye("carol")) << "no focus BYE to Carol";
  auto n2 = next_refer_notify("carol", r.dialog);
  ASSERT_TRUE(n2) << "no refer NOTIFY #2";
  expect_refer_notify_2(*n2, 5);
  auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(n2->received_at - n1->received_at);
  EXPECT_GE(gap, 900ms) << "refer NOTIFY #2 only " << gap.count() << " ms after #1";
  EXPECT_LE(gap, 3000ms) << "refer NOTIFY #2 " << gap.count() << " ms after #1";
}

INSTANTIATE_TEST_SUITE_P(Transports, ReferRacesTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
