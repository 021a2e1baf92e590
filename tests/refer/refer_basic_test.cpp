// REFER method=BYE, success path, on the wire (PROTOCOL.md §3, §5.3, §9.3):
// TC-B01..B12, B20 (a)-(e), B21, B39, B40, B41.
//
// Every test runs against a fresh server (F-BASE, or F-PAIR, with refer
// NOTIFYs unthrottled: ReferTest::f_refer()) over UDP and over TCP.
//
// Orderings are asserted on one socket where possible (Carol's UA receives
// the 2xx, the refer NOTIFYs, the focus's BYE and her own conference
// NOTIFYs through one reader thread), because arrival times compared across
// different UAs are only as good as the scheduling of their reader threads.
//
// "No NOTIFY within 5 s" (TC-B07, B09, B11, B12) is checked over a shorter
// window (kQuietWindow) to keep the suite fast.

#include <algorithm>
#include <thread>

#include "tests/refer/refer_fixture.hpp"

namespace imserver::testclient {
namespace {

inline constexpr const char* kCarol = "sip:carol@example.com";
inline constexpr auto kQuietWindow = 1500ms;

// ------------------------------------------------------------ header helpers

bool header_list_has_token(const SipMessage& m, const std::string& name, const std::string& token) {
  for (const auto& line : m.headers_named(name))
    for (const auto& item : split_header_list(line))
      if (iequals(trim(item), token)) return true;
  return false;
}

std::string without_spaces_lower(const std::string& s) {
  std::string out;
  for (char ch : s)
    if (ch != ' ' && ch != '\t') out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// "refer;id=5" -> type "refer", params {"id": "5"} (names lowercased).
struct EventValue {
  std::string type;
  std::map<std::string, std::string> params;
};

EventValue parse_event(const std::string& value) {
  EventValue out;
  size_t pos = 0;
  bool first = true;
  while (pos <= value.size()) {
    size_t semi = value.find(';', pos);
    std::string part = trim(value.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos));
    if (first) {
      out.type = to_lower(part);
      first = false;
    } else if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string::npos)
        out.params[to_lower(part)] = "";
      else
        out.params[to_lower(trim(part.substr(0, eq)))] = trim(part.substr(eq + 1));
    }
    if (semi == std::string::npos) break;
    pos = semi + 1;
  }
  return out;
}

bool is_refer_notify(const SipMessage& m) {
  return m.is_request && m.method == "NOTIFY" && parse_event(m.header("Event").value_or("")).type == "refer";
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Position of `m` in `hist` (matched by its raw text), -1 when absent.
long index_in(const std::vector<SipMessage>& hist, const SipMessage& m) {
  for (size_t i = 0; i < hist.size(); ++i)
    if (hist[i].raw == m.raw) return static_cast<long>(i);
  return -1;
}

// ------------------------------------------------------------ the fixture

class ReferBasicTest : public ReferTest {
 protected:
  // The common part of a successful REFER's final response: the status of
  // the active profile (§0.3, B2a-i), a Contact naming the session with
  // ;isfocus (B2a-i), CSeq/Call-ID echoed.
  void expect_accepted(const ReferResult& r, int code = 202) {
    ASSERT_TRUE(r.final) << "no final response to the REFER";
    const SipMessage& f = *r.final;
    EXPECT_EQ(f.status, code) << "TC-B01/B39 (§0.3, B2a-i): wrong status\n" << f.raw;
    EXPECT_EQ(f.reason, code == 202 ? "Accepted" : "OK") << f.raw;
    EXPECT_EQ(f.call_id(), r.tx.call_id) << f.raw;
    EXPECT_EQ(f.cseq_number(), r.tx.cseq) << f.raw;
    EXPECT_EQ(f.cseq_method(), "REFER") << f.raw;
    EXPECT_FALSE(f.to_tag().empty()) << "B2a-i: 2xx without a To tag\n" << f.raw;
    auto contact = f.header("Contact");
    ASSERT_TRUE(contact) << "B2a-i: a 2xx to REFER must carry a Contact\n" << f.raw;
    EXPECT_EQ(uri_of(*contact), kGs1) << "B2a-i: Contact is the session identity\n" << f.raw;
    EXPECT_TRUE(header_param(*contact, "isfocus").has_value()) << "B2a-i: Contact without ;isfocus\n" << f.raw;
  }

  // §3.5: out of dialog the 2xx lists norefersub; in dialog it does not.
  void expect_norefersub(const SipMessage& f, bool wanted) {
    bool has = header_list_has_token(f, "Supported", "norefersub");
    if (wanted) {
      EXPECT_TRUE(has) << "B2a-ii (§3.5): out-of-dialog 2xx without Supported: norefersub\n" << f.raw;
    } else {
      EXPECT_FALSE(has) << "B2a-ii (§3.5): in-dialog 2xx must not list norefersub\n" << f.raw;
    }
  }

  // §3.5: Refer-Sub: false echoed only when it was requested (B2a-iii).
  void expect_refer_sub_false(const SipMessage& f, bool echoed) {
    auto rs = f.header("Refer-Sub");
    if (echoed) {
      ASSERT_TRUE(rs) << "B2a-iii: Refer-Sub: false not echoed\n" << f.raw;
      auto value = trim(rs->substr(0, rs->find(';')));
      EXPECT_TRUE(iequals(value, "false")) << "B2a-iii: Refer-Sub: " << *rs << "\n" << f.raw;
    } else {
      EXPECT_FALSE(rs.has_value()) << "B2a-iii (§3.4): with Refer-Sub absent/true the 2xx carries no Refer-Sub\n"
                                   << f.raw;
    }
  }

  // One refer NOTIFY (§3.6, "Refer-NOTIFY pair(n)" of §9.1): in `dialog`
  // (From tag = the focus's tag, To tag = ours, Request-URI = our Contact),
  // Event refer;id=n, sipfrag body; #1 active;expires=60 + 100 Trying, #2
  // terminated;reason=noresource (no expires) + 200 OK.
  void check_refer_notify(const std::string& name, const SipMessage& n, uint32_t id, const Dialog& dialog,
                          bool final) {
    const std::string which = std::string(final ? "refer NOTIFY #2" : "refer NOTIFY #1");
    auto& u = user(name);
    EXPECT_EQ(n.call_id(), dialog.call_id) << which << "\n" << n.raw;
    EXPECT_EQ(n.from_tag(), dialog.remote_tag) << which << ": From tag is not the focus's tag of the dialog\n"
                                               << n.raw;
    EXPECT_EQ(n.to_tag(), dialog.local_tag) << which << "\n" << n.raw;
    EXPECT_EQ(n.request_uri, u.ua->contact_uri()) << which << ": Request-URI is not the REFER's Contact\n" << n.raw;
    EXPECT_TRUE(n.has_header("Contact")) << which << ": NOTIFY without Contact\n" << n.raw;
    auto ev = parse_event(n.header("Event").value_or(""));
    EXPECT_EQ(ev.type, "refer") << which << "\n" << n.raw;
    EXPECT_EQ(ev.params.count("id") ? ev.params["id"] : std::string("<none>"), std::to_string(id))
        << which << ": Event must be refer;id=<REFER CSeq> (§3.6)\n"
        << n.raw;
    EXPECT_EQ(without_spaces_lower(n.header("Content-Type").value_or("")), kSipfragType) << which << "\n" << n.raw;
    auto ss = parse_subscription_state(n.header("Subscription-State").value_or(""));
    if (final) {
      EXPECT_EQ(ss.state, "terminated") << which << "\n" << n.raw;
      EXPECT_EQ(ss.reason, "noresource") << which << "\n" << n.raw;
      EXPECT_FALSE(ss.expires.has_value()) << which << ": terminated with expires\n" << n.raw;
      EXPECT_TRUE(starts_with(n.body, "SIP/2.0 200 OK")) << which << ": body\n" << n.raw;
    } else {
      EXPECT_EQ(ss.state, "active") << which << "\n" << n.raw;
      EXPECT_EQ(ss.expires, std::optional<uint32_t>(60)) << which << ": expires (refer.notify-expires=60)\n" << n.raw;
      EXPECT_TRUE(starts_with(n.body, "SIP/2.0 100 Trying")) << which << ": body\n" << n.raw;
    }
  }

  // The next BYE `name`'s UA receives (any dialog, so that a BYE in the
  // wrong dialog is reported rather than timed out).
  std::optional<SipMessage> wait_bye(const std::string& name, std::chrono::milliseconds timeout = 5s) {
    return user(name).ua->wait_request("BYE", timeout);
  }

  // TC-B03 (§5.3 step 3): the focus's BYE is sent in `name`'s INVITE dialog.
  void expect_focus_bye(const std::string& name, const SipMessage& bye) {
    auto& u = user(name);
    const Dialog& d = u.invite;
    EXPECT_EQ(bye.call_id(), d.call_id) << "TC-B03: BYE outside " << name << "'s INVITE dialog\n" << bye.raw;
    EXPECT_EQ(bye.from_tag(), d.remote_tag) << "TC-B03: From tag is not the focus's tag in the INVITE dialog\n"
                                            << bye.raw;
    EXPECT_EQ(bye.to_tag(), d.local_tag) << "TC-B03: To tag is not " << name << "'s tag\n" << bye.raw;
    EXPECT_EQ(uri_of(bye.header("From").value_or("")), kGs1) << "§5.3: From = the dialog's local URI\n" << bye.raw;
    EXPECT_EQ(uri_of(bye.header("To").value_or("")), u.ua->aor()) << "§5.3: To = the dialog's remote URI\n"
                                                                  << bye.raw;
    EXPECT_EQ(bye.request_uri, u.ua->contact_uri())
        << "§5.3: Request-URI = remote target (" << name << "'s Contact)\n"
        << bye.raw;
    EXPECT_EQ(bye.cseq_method(), "BYE") << bye.raw;
    // CSeq greater than any earlier request of the focus in that dialog.
    uint32_t previous = 0;
    for (const auto& m : u.ua->history()) {
      if (m.raw == bye.raw) break;
      if (m.is_request && m.call_id() == d.call_id && m.from_tag() == d.remote_tag)
        previous = std::max(previous, m.cseq_number());
    }
    EXPECT_GT(bye.cseq_number(), previous) << "TC-B03: CSeq not above the focus's previous request in the dialog\n"
                                           << bye.raw;
    EXPECT_GE(bye.cseq_number(), 1u) << bye.raw;
  }

  // TC-B04 body: partial report of Carol's endpoint, disconnected/booted by
  // `by`. Also the TC-A04 shape (one user, user-count 3).
  void expect_booted_report(const std::string& name, const ConferenceDoc& doc, const SipMessage& n,
                            const std::string& by = kCarol) {
    const std::string& body = n.body;
    ASSERT_FALSE(body.empty()) << name << ": conference NOTIFY without a body\n" << n.raw;
    EXPECT_EQ(doc.state, "partial") << name << "\n" << body;
    EXPECT_EQ(doc.user_count.value_or(0), 3u) << name << "\n" << body;
    EXPECT_EQ(doc.users_state, "partial") << name << "\n" << body;
    const DocUser* c = doc.find_user(kCarol);
    ASSERT_TRUE(c) << name << ": Carol not in the report\n" << body;
    EXPECT_EQ(doc.users.size(), 1u) << name << ": other users in the report\n" << body;
    EXPECT_EQ(c->state, "partial") << name << "\n" << body;
    ASSERT_EQ(c->endpoints.size(), 1u) << name << "\n" << body;
    const auto& ep = c->endpoints[0];
    EXPECT_EQ(ep.state, "partial") << name << "\n" << body;
    EXPECT_EQ(ep.status, "disconnected") << name << ": TC-B04\n" << body;
    EXPECT_EQ(ep.disconnection_method, "booted") << name << ": TC-B04 (§4.3: the focus sent the BYE)\n" << body;
    EXPECT_EQ(ep.disconnection_by, by) << name << ": TC-B04 disconnection-info/by\n" << body;
    EXPECT_TRUE(is_utc_datetime(ep.disconnection_when)) << name << ": when '" << ep.disconnection_when << "'\n"
                                                        << body;
  }

  // The next conference NOTIFY of `name`, checked (Conference NOTIFY OK,
  // version +1) and with the booted report. Returns the NOTIFY.
  std::optional<SipMessage> expect_booted_notify(const std::string& name, bool terminated = false,
                                                 const std::string& by = kCarol) {
    auto n = next_notify(name, 200, 5s);
    if (!n) {
      ADD_FAILURE() << name << ": no conference NOTIFY reporting Carol's removal";
      return std::nullopt;
    }
    auto doc = check_notify(name, *n, terminated);
    if (terminated) {
      auto ss = parse_subscription_state(n->header("Subscription-State").value_or(""));
      EXPECT_EQ(ss.reason, "noresource") << name << ": TC-B06 (§5.4)\n" << n->raw;
    }
    expect_booted_report(name, doc, *n, by);
    return n;
  }

  // TC-B04 for the others, TC-B06 for Carol.
  void expect_all_booted_notifies() {
    for (const char* name : {"alice", "bob", "dan", "wendy"}) expect_booted_notify(name);
    expect_booted_notify("carol", /*terminated=*/true);
  }

  // The next refer NOTIFY in `dialog` not answered yet; nullopt if none in
  // `timeout`. Does not answer it.
  std::optional<SipMessage> peek_refer_notify(const std::string& name, const Dialog& dialog,
                                              std::chrono::milliseconds timeout) {
    auto& u = user(name);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      for (const auto& m : u.ua->pending())
        if (is_refer_notify(m) && m.call_id() == dialog.call_id && m.to_tag() == dialog.local_tag) return m;
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(20ms);
    }
  }

  // Any refer NOTIFY to `name` (any dialog) within `window`; consumed.
  std::optional<SipMessage> any_refer_notify(const std::string& name, std::chrono::milliseconds window) {
    return user(name).ua->wait_for(is_refer_notify, window);
  }

  // Full success flow with the refer subscription (TC-B01/B02/B39 shape):
  // the NOTIFYs are checked, the BYE is held for `hold` before Carol
  // answers it, and NOTIFY #2 must not arrive before her 200.
  void refer_pair_with_held_bye(const ReferResult& r, uint32_t id, std::chrono::milliseconds hold = 300ms) {
    auto& c = user("carol");
    auto n1 = next_refer_notify("carol", r.dialog, 200, 5s);
    ASSERT_TRUE(n1) << "B3: no refer NOTIFY #1 (100 Trying)";
    check_refer_notify("carol", *n1, id, r.dialog, /*final=*/false);
    auto bye = wait_bye("carol");
    ASSERT_TRUE(bye) << "TC-B03: no BYE from the focus to Carol";
    expect_focus_bye("carol", *bye);
    // Hold the BYE: NOTIFY #2 must wait for Carol's 200 (§9.1 pair(n)).
    auto early = peek_refer_notify("carol", r.dialog, hold);
    EXPECT_FALSE(early) << "TC-B02: refer NOTIFY #2 sent before Carol answered the focus's BYE\n"
                        << (early ? early->raw : "");
    auto answered_at = std::chrono::steady_clock::now();
    ASSERT_TRUE(c.ua->respond(*bye, 200, "OK"));
    auto n2 = next_refer_notify("carol", r.dialog, 200, 5s);
    ASSERT_TRUE(n2) << "B3: no refer NOTIFY #2 (200 OK, terminated)";
    check_refer_notify("carol", *n2, id, r.dialog, /*final=*/true);
    EXPECT_GT(n2->cseq_number(), n1->cseq_number()) << "NOTIFY CSeq must increase\n" << n2->raw;
    if (!early) {
      EXPECT_GE(n2->received_at, answered_at) << "TC-B02: NOTIFY #2 before Carol's 200 to the BYE";
    }
    // Nothing after the terminating NOTIFY.
    auto extra = any_refer_notify("carol", 500ms);
    EXPECT_FALSE(extra) << "a refer NOTIFY after the terminating one\n" << (extra ? extra->raw : "");
  }
};

// ------------------------------------------------------------ TC-B01

// Out-of-dialog REFER: 202 with To tag, Contact, Supported: norefersub, no
// Refer-Sub (B2a-i, B2a-ii, §3.5).
TEST_P(ReferBasicTest, B01OutOfDialogBasicResponse) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto r = refer("carol");
  ASSERT_TRUE(r.final) << "no final response to the REFER";
  expect_accepted(r, 202);
  expect_norefersub(*r.final, true);
  expect_refer_sub_false(*r.final, false);
  EXPECT_EQ(r.final->from_tag(), r.tx.from_tag) << r.final->raw;
  // The removal happens (and the fixture's UAs are left in a clean state).
  auto bye = wait_bye("carol");
  EXPECT_TRUE(bye) << "no BYE from the focus to Carol";
}

// ------------------------------------------------------------ TC-B02

// Refer-NOTIFY pair(5) on the dialog the 202 created; NOTIFY #2 after
// Carol's 200 to the focus's BYE.
TEST_P(ReferBasicTest, B02ReferNotifySequence) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  user("carol").ua->answer_bye_automatically(false);
  auto r = refer("carol");
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  // The refer dialog: the REFER's Call-ID, the 202's To tag.
  EXPECT_EQ(r.dialog.call_id, r.tx.call_id);
  EXPECT_NE(r.dialog.call_id, user("carol").invite.call_id) << "refer dialog must not be the INVITE dialog";
  refer_pair_with_held_bye(r, 5);
}

// ------------------------------------------------------------ TC-B03

// The focus's BYE goes in Carol's INVITE dialog, after the 202.
TEST_P(ReferBasicTest, B03FocusByeToOriginator) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  auto r = refer("carol");
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  auto bye = wait_bye("carol");
  ASSERT_TRUE(bye) << "TC-B03: no BYE from the focus to Carol";
  expect_focus_bye("carol", *bye);
  EXPECT_EQ(bye->answered_with, 200);
  // The 202 came first (same socket, same reader thread).
  auto hist = c.ua->history();
  long i202 = index_in(hist, *r.final), ibye = index_in(hist, *bye);
  ASSERT_GE(i202, 0);
  EXPECT_LT(i202, ibye) << "B2a-iv: the BYE reached Carol before the 202";
  // Exactly one BYE.
  EXPECT_TRUE(c.ua->nothing_arrives("BYE", 500ms)) << "a second BYE to Carol";
  // MSRP part of TC-B03 (C's MSRP leg released after the BYE, checked as in
  // TC-A03) is not covered: the test client has no MSRP leg yet.
}

// ------------------------------------------------------------ TC-B04

// A, B, D and W get a booted report with by = Carol.
TEST_P(ReferBasicTest, B04BootedWithBy) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto r = refer("carol");
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  for (const char* name : {"alice", "bob", "dan", "wendy"}) expect_booted_notify(name);
  ASSERT_TRUE(wait_bye("carol")) << "no BYE from the focus to Carol";
}

// ------------------------------------------------------------ TC-B05

// Order: 202 < BYE(to C) <= conference NOTIFYs; refer NOTIFY #2 > C's
// 200(BYE). Conference NOTIFYs are not held back until the BYE's 200 (§3.4).
TEST_P(ReferBasicTest, B05OrderOfEvents) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  c.ua->answer_bye_automatically(false);
  auto r = refer("carol");
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  auto bye = wait_bye("carol");
  ASSERT_TRUE(bye) << "no BYE from the focus to Carol";
  expect_focus_bye("carol", *bye);
  // Conference NOTIFYs arrive while the BYE is still unanswered.
  auto own = expect_booted_notify("carol", /*terminated=*/true);
  ASSERT_TRUE(own);
  std::map<std::string, SipMessage> others;
  for (const char* name : {"alice", "bob", "dan", "wendy"}) {
    auto n = expect_booted_notify(name);
    if (n) others[name] = *n;
  }
  auto hist = c.ua->history();
  long i202 = index_in(hist, *r.final), ibye = index_in(hist, *bye), iown = index_in(hist, *own);
  ASSERT_GE(i202, 0);
  EXPECT_LT(i202, ibye) << "B2a-iv: 202 must come before the BYE to Carol";
  EXPECT_LT(ibye, iown) << "TC-B05: Carol's conference NOTIFY arrived before the BYE";
  // Across UAs only a loose check (reader threads are scheduled
  // independently): nobody hears of the removal before the 202 was sent.
  for (const auto& [name, n] : others)
    EXPECT_GE(n.received_at + 20ms, r.final->received_at) << name << "'s conference NOTIFY long before the 202";
  // Refer NOTIFY #1 came, #2 has not (the BYE is still unanswered).
  auto n1 = next_refer_notify("carol", r.dialog, 200, 5s);
  ASSERT_TRUE(n1) << "no refer NOTIFY #1";
  check_refer_notify("carol", *n1, 5, r.dialog, false);
  auto early = peek_refer_notify("carol", r.dialog, 300ms);
  EXPECT_FALSE(early) << "TC-B05: refer NOTIFY #2 before Carol's 200 to the BYE\n" << (early ? early->raw : "");
  auto answered_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.ua->respond(*bye, 200, "OK"));
  auto n2 = next_refer_notify("carol", r.dialog, 200, 5s);
  ASSERT_TRUE(n2) << "no refer NOTIFY #2";
  check_refer_notify("carol", *n2, 5, r.dialog, true);
  if (!early) {
    EXPECT_GE(n2->received_at, answered_at);
  }
  hist = c.ua->history();
  EXPECT_LT(index_in(hist, *bye), index_in(hist, *n2));
}

// ------------------------------------------------------------ TC-B06

// Carol's own conference subscription ends with noresource and carries the
// booted report (version vC+1, checked by check_notify).
TEST_P(ReferBasicTest, B06OriginatorSubscriptionTerminated) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  const uint32_t vc = user("carol").version;
  auto r = refer("carol");
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  auto n = expect_booted_notify("carol", /*terminated=*/true);
  ASSERT_TRUE(n);
  EXPECT_EQ(parse_conference_doc(n->body).version, std::optional<uint32_t>(vc + 1)) << n->body;
  // Nothing more on that subscription.
  EXPECT_FALSE(next_notify("carol", 200, 500ms)) << "a NOTIFY after the terminating one";
  auto& c = user("carol");
  auto rr = c.ua->resubscribe(c.sub, 3600);
  ASSERT_TRUE(rr) << "no response to the refresh SUBSCRIBE";
  EXPECT_EQ(rr->status, 481) << "the terminated subscription still exists\n" << rr->raw;
}

// ------------------------------------------------------------ TC-B07, B09, B12

// Out-of-dialog REFER with Refer-Sub false (value `value`) and `extra`
// headers: 202 with Refer-Sub: false and norefersub, no refer NOTIFY, no
// refer dialog (481 to a SUBSCRIBE and a NOTIFY on the 202's tags), the
// removal as in TC-B03/B04.
class ReferSubFalse : public ReferBasicTest {
 protected:
  void run(const std::string& headers) {
    f_refer();
    ASSERT_FALSE(HasFailure());
    ReferSpec spec;
    spec.extra_headers = headers;
    auto r = refer("carol", spec);
    expect_accepted(r, 202);
    ASSERT_FALSE(HasFailure());
    expect_refer_sub_false(*r.final, true);
    expect_norefersub(*r.final, true);
    auto bye = wait_bye("carol");
    ASSERT_TRUE(bye) << "no BYE from the focus to Carol";
    expect_focus_bye("carol", *bye);
    for (const char* name : {"alice", "bob", "dan", "wendy"}) expect_booted_notify(name);
    expect_booted_notify("carol", true);
    auto n = any_refer_notify("carol", kQuietWindow);
    EXPECT_FALSE(n) << "B2a-iii: refer NOTIFY although Refer-Sub: false\n" << (n ? n->raw : "");
    // No dialog was created.
    auto& c = user("carol");
    Dialog d = r.dialog;
    auto sub = c.ua->send_in_dialog(d, "SUBSCRIBE", "Event: refer;id=5\r\nExpires: 0\r\n");
    auto sub_r = c.ua->final_response(sub, 5s);
    ASSERT_TRUE(sub_r) << "no response to the SUBSCRIBE on the 202's tags";
    EXPECT_EQ(sub_r->status, 481) << "TC-B07: a refer dialog exists after Refer-Sub: false\n" << sub_r->raw;
    auto notify = c.ua->send_in_dialog(d, "NOTIFY",
                                       "Event: refer;id=5\r\nSubscription-State: terminated;reason=noresource\r\n",
                                       kSipfragType, "SIP/2.0 200 OK\r\n");
    auto notify_r = c.ua->final_response(notify, 5s);
    ASSERT_TRUE(notify_r) << "no response to the NOTIFY on the 202's tags";
    EXPECT_EQ(notify_r->status, 481) << "TC-B07: a refer dialog exists after Refer-Sub: false\n" << notify_r->raw;
  }
};

TEST_P(ReferSubFalse, B07ReferSubFalseOutOfDialog) { run("Refer-Sub: false\r\n"); }

TEST_P(ReferSubFalse, B09ReferSubFalseUpperCase) { run("Refer-Sub: FALSE\r\n"); }

TEST_P(ReferSubFalse, B12RequireNorefersub) { run("Require: norefersub\r\nRefer-Sub: false\r\n"); }

// ------------------------------------------------------------ TC-B08

TEST_P(ReferBasicTest, B08ReferSubTrue) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  user("carol").ua->answer_bye_automatically(false);
  ReferSpec spec;
  spec.extra_headers = "Refer-Sub: true\r\n";
  auto r = refer("carol", spec);
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  auto rs = r.final->header("Refer-Sub");
  EXPECT_FALSE(rs && iequals(trim(rs->substr(0, rs->find(';'))), "false")) << "TC-B08\n" << r.final->raw;
  expect_refer_sub_false(*r.final, false);  // §3.4: no Refer-Sub at all
  expect_norefersub(*r.final, true);
  refer_pair_with_held_bye(r, 5);
}

// ------------------------------------------------------------ TC-B10

// In-dialog REFER (CSeq 11): 202 without norefersub; pair(11) in the INVITE
// dialog; NOTIFY #2 after the focus's BYE on that dialog got its 200.
TEST_P(ReferBasicTest, B10InDialogRefer) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  c.ua->answer_bye_automatically(false);
  c.invite.local_cseq = 10;  // the REFER goes out with CSeq 11
  ReferSpec spec;
  spec.in_dialog = true;
  auto r = refer("carol", spec);
  ASSERT_EQ(r.tx.cseq, 11u);
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(r.final->to_tag(), c.invite.remote_tag) << "in-dialog 2xx with another To tag\n" << r.final->raw;
  expect_norefersub(*r.final, false);
  expect_refer_sub_false(*r.final, false);
  // The refer NOTIFYs use the INVITE dialog itself.
  ASSERT_EQ(r.dialog.call_id, c.invite.call_id);
  refer_pair_with_held_bye(r, 11);
}

// ------------------------------------------------------------ TC-B11

TEST_P(ReferBasicTest, B11InDialogReferSubFalse) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.in_dialog = true;
  spec.extra_headers = "Refer-Sub: false\r\n";
  auto r = refer("carol", spec);
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  expect_refer_sub_false(*r.final, true);
  expect_norefersub(*r.final, false);
  auto bye = wait_bye("carol");
  ASSERT_TRUE(bye) << "TC-B11: no BYE from the focus to Carol";
  expect_focus_bye("carol", *bye);
  for (const char* name : {"alice", "bob", "dan", "wendy"}) expect_booted_notify(name);
  expect_booted_notify("carol", true);
  auto n = any_refer_notify("carol", kQuietWindow);
  EXPECT_FALSE(n) << "TC-B11: refer NOTIFY although Refer-Sub: false\n" << (n ? n->raw : "");
}

// ------------------------------------------------------------ TC-B20

// Each accepted Refer-To form (§3.2) on a fresh server: 202 and Carol
// removed as in TC-B03 (plus the booted report at Alice).
class ReferToForms : public ReferBasicTest {
 protected:
  void run(const std::string& refer_to_line) {
    f_refer();
    ASSERT_FALSE(HasFailure());
    ReferSpec spec;
    spec.refer_to = refer_to_line;
    auto r = refer("carol", spec);
    expect_accepted(r, 202);
    ASSERT_FALSE(HasFailure()) << "Refer-To form: " << refer_to_line;
    auto bye = wait_bye("carol");
    ASSERT_TRUE(bye) << "no BYE to Carol for the form " << refer_to_line;
    expect_focus_bye("carol", *bye);
    expect_booted_notify("alice");
    auto n1 = next_refer_notify("carol", r.dialog, 200, 5s);
    ASSERT_TRUE(n1) << "no refer NOTIFY #1";
    check_refer_notify("carol", *n1, 5, r.dialog, false);
    auto n2 = next_refer_notify("carol", r.dialog, 200, 5s);
    ASSERT_TRUE(n2) << "no refer NOTIFY #2";
    check_refer_notify("carol", *n2, 5, r.dialog, true);
  }
};

TEST_P(ReferToForms, B20aCompactForm) { run("r: <sip:gs-1@im.example.com;method=BYE>\r\n"); }

TEST_P(ReferToForms, B20bDisplayName) { run("Refer-To: \"Chat\" <sip:gs-1@im.example.com;method=BYE>\r\n"); }

TEST_P(ReferToForms, B20cUpperCaseParameterName) { run("Refer-To: <sip:gs-1@im.example.com;METHOD=BYE>\r\n"); }

TEST_P(ReferToForms, B20dEscapedMethodValue) { run("Refer-To: <sip:gs-1@im.example.com;method=%42YE>\r\n"); }

TEST_P(ReferToForms, B20eNoBracketsLenient) { run("Refer-To: sip:gs-1@im.example.com;method=BYE\r\n"); }

// ------------------------------------------------------------ TC-B21

// URI headers of the Refer-To are not copied into the focus's BYE.
TEST_P(ReferBasicTest, B21UriHeadersNotCopied) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = "Refer-To: <sip:gs-1@im.example.com;method=BYE?X-Test=evil&Subject=x>\r\n";
  auto r = refer("carol", spec);
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  auto bye = wait_bye("carol");
  ASSERT_TRUE(bye) << "no BYE from the focus to Carol";
  expect_focus_bye("carol", *bye);
  EXPECT_FALSE(bye->has_header("X-Test")) << "TC-B21 (§5.3): URI header copied into the BYE\n" << bye->raw;
  EXPECT_FALSE(bye->has_header("Subject")) << "TC-B21 (§5.3): URI header copied into the BYE\n" << bye->raw;
  EXPECT_EQ(bye->raw.find("evil"), std::string::npos) << bye->raw;
}

// ------------------------------------------------------------ TC-B39

// refer.accept-code=200 (profile RFC7647): 200 OK instead of 202, the rest
// as TC-B01/B02.
TEST_P(ReferBasicTest, B39Rfc7647Profile) {
  f_refer({"--refer.accept-code=200"});
  ASSERT_FALSE(HasFailure());
  user("carol").ua->answer_bye_automatically(false);
  auto r = refer("carol");
  expect_accepted(r, 200);
  ASSERT_FALSE(HasFailure());
  expect_norefersub(*r.final, true);
  expect_refer_sub_false(*r.final, false);
  refer_pair_with_held_bye(r, 5);
}

// ------------------------------------------------------------ TC-B40

// Carol unsubscribes from the refer subscription after NOTIFY #1: 200, a
// terminating NOTIFY with a sipfrag body, and the removal still happens.
TEST_P(ReferBasicTest, B40EarlyUnsubscribe) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  c.ua->answer_bye_automatically(false);  // NOTIFY #2 cannot overtake the unsubscribe
  auto r = refer("carol");
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  auto n1 = next_refer_notify("carol", r.dialog, 200, 5s);
  ASSERT_TRUE(n1) << "no refer NOTIFY #1";
  check_refer_notify("carol", *n1, 5, r.dialog, false);
  Dialog d = r.dialog;
  auto tx = c.ua->send_in_dialog(d, "SUBSCRIBE", "Event: refer;id=5\r\nExpires: 0\r\n");
  auto resp = c.ua->final_response(tx, 5s);
  ASSERT_TRUE(resp) << "no response to the unsubscribe";
  EXPECT_EQ(resp->status, 200) << "E21: unsubscribe must get 200\n" << resp->raw;
  auto fin = next_refer_notify("carol", r.dialog, 200, 5s);
  ASSERT_TRUE(fin) << "E21: no final NOTIFY after the unsubscribe";
  auto ss = parse_subscription_state(fin->header("Subscription-State").value_or(""));
  EXPECT_EQ(ss.state, "terminated") << fin->raw;
  EXPECT_FALSE(ss.expires.has_value()) << fin->raw;
  EXPECT_EQ(without_spaces_lower(fin->header("Content-Type").value_or("")), kSipfragType) << fin->raw;
  EXPECT_TRUE(starts_with(fin->body, "SIP/2.0 ")) << fin->raw;
  EXPECT_EQ(parse_event(fin->header("Event").value_or("")).params["id"], "5") << fin->raw;
  // The removal goes ahead.
  auto bye = wait_bye("carol");
  ASSERT_TRUE(bye) << "E21: no BYE to Carol after the unsubscribe";
  expect_focus_bye("carol", *bye);
  c.ua->respond(*bye, 200, "OK");
  for (const char* name : {"alice", "bob", "dan", "wendy"}) expect_booted_notify(name);
  expect_booted_notify("carol", true);
  // The subscription is over: no refer NOTIFY after the terminating one.
  auto extra = any_refer_notify("carol", kQuietWindow);
  EXPECT_FALSE(extra) << "refer NOTIFY after the subscription was terminated\n" << (extra ? extra->raw : "");
}

// ------------------------------------------------------------ TC-B41

// Carol answers refer NOTIFY #2 with 481: no more refer NOTIFYs, the
// server keeps working (Dan's BYE afterwards is handled as usual).
TEST_P(ReferBasicTest, B41ClientRejectsFinalNotify) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto r = refer("carol");
  expect_accepted(r, 202);
  ASSERT_FALSE(HasFailure());
  auto n1 = next_refer_notify("carol", r.dialog, 200, 5s);
  ASSERT_TRUE(n1) << "no refer NOTIFY #1";
  auto n2 = next_refer_notify("carol", r.dialog, 481, 5s);
  ASSERT_TRUE(n2) << "no refer NOTIFY #2";
  check_refer_notify("carol", *n2, 5, r.dialog, true);
  auto extra = any_refer_notify("carol", kQuietWindow);
  EXPECT_FALSE(extra) << "E20: refer NOTIFY after the 481\n" << (extra ? extra->raw : "");
  // Still working: Carol's report, then Dan leaves by BYE.
  expect_booted_notify("alice");
  auto& d = user("dan");
  auto ok = d.ua->bye(d.invite);
  ASSERT_TRUE(ok) << "no response to Dan's BYE";
  EXPECT_EQ(ok->status, 200) << ok->raw;
  auto n = next_notify("alice", 200, 5s);
  ASSERT_TRUE(n) << "Alice got no report of Dan's departure";
  auto doc = check_notify("alice", *n);
  const DocUser* du = doc.find_user("sip:dan@example.com");
  ASSERT_TRUE(du) << n->body;
  ASSERT_FALSE(du->endpoints.empty()) << n->body;
  EXPECT_EQ(du->endpoints[0].status, "disconnected") << n->body;
  EXPECT_EQ(du->endpoints[0].disconnection_method, "departed") << n->body;
  EXPECT_TRUE(server_.running()) << "the server exited";
}

INSTANTIATE_TEST_SUITE_P(Transports, ReferBasicTest, ::testing::Values("udp", "tcp"), transport_name);
INSTANTIATE_TEST_SUITE_P(Transports, ReferSubFalse, ::testing::Values("udp", "tcp"), transport_name);
INSTANTIATE_TEST_SUITE_P(Transports, ReferToForms, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
