// REFER method=BYE requests the server must refuse (PROTOCOL.md §3.1-§3.4,
// §6 E9-E14, E22-E24, §9.3 TC-B13..B19, B22..B31, B42). Every refused
// REFER must also leave no trace: no BYE reaches anybody and no NOTIFY is
// sent within ~1 s, and (where the case names it) the roster is unchanged,
// which Wendy's refresh SUBSCRIBE shows as a full document.
//
// Note on identities: the test profile numbers sessions sequentially in
// creation order (--session.identity-mode=sequential), so the first session
// is always sip:gs-1@im.example.com. The spec's F-PAIR session "gs-2" is
// therefore gs-1 here, and F-TWO's "gs-3" is the second session, gs-2; the
// tests take that identity from the Contact of the creating INVITE's 200.

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

// Option tags of every Unsupported header line, lower-cased.
std::set<std::string> unsupported_tags(const SipMessage& m) {
  std::set<std::string> out;
  for (const auto& line : m.headers_named("Unsupported"))
    for (const auto& item : split_header_list(line)) out.insert(to_lower(trim(item)));
  return out;
}

class ReferErrorsTest : public ReferTest {
 protected:
  using Mark = std::map<std::string, size_t>;

  // How many messages each UA has received so far.
  Mark mark() const {
    Mark m;
    for (const auto& [name, u] : users_)
      if (u.ua) m[name] = u.ua->history().size();
    return m;
  }

  // Waits `quiet`, then fails for every BYE or NOTIFY that reached any UA
  // since `since` (refused requests have no side effects, §3.4 B0/B1/B2b).
  void expect_no_side_effects(const Mark& since, const std::string& what,
                              std::chrono::milliseconds quiet = 1000ms) {
    std::this_thread::sleep_for(quiet);
    for (const auto& [name, u] : users_) {
      if (!u.ua) continue;
      auto hist = u.ua->history();
      auto it = since.find(name);
      size_t from = it == since.end() ? 0 : it->second;
      // Retransmissions of requests that arrived before the mark (history
      // keeps absorbed copies too) are not side effects.
      std::set<std::string> earlier;
      for (size_t i = 0; i < from && i < hist.size(); ++i)
        if (hist[i].is_request)
          earlier.insert(hist[i].method + "|" + hist[i].call_id() + "|" + std::to_string(hist[i].cseq_number()));
      for (size_t i = from; i < hist.size(); ++i) {
        const auto& m = hist[i];
        if (!m.is_request || earlier.count(m.method + "|" + m.call_id() + "|" + std::to_string(m.cseq_number())))
          continue;
        if (m.method == "BYE" || m.method == "NOTIFY")
          ADD_FAILURE() << what << ": a " << m.method << " reached " << name << " after the refused request\n"
                        << m.raw;
      }
    }
  }

  // Wendy refreshes her conference subscription; the full document must
  // list exactly `aors`, every one of them connected (roster unchanged).
  void expect_roster(const std::set<std::string>& aors, const std::string& what) {
    auto& w = user("wendy");
    auto r = w.ua->resubscribe(w.sub, 3600);
    ASSERT_TRUE(r) << what << ": no response to Wendy's refresh SUBSCRIBE";
    ASSERT_EQ(r->status, 200) << what << ": " << r->raw;
    auto n = next_notify("wendy");
    ASSERT_TRUE(n) << what << ": no NOTIFY after Wendy's refresh";
    auto doc = check_notify("wendy", *n);
    EXPECT_EQ(doc.state, "full") << n->body;
    std::set<std::string> listed;
    for (const auto& u : doc.users) listed.insert(u.entity);
    EXPECT_EQ(listed, aors) << what << ": roster changed\n" << n->body;
    for (const auto& u : doc.users) {
      EXPECT_FALSE(u.endpoints.empty()) << u.entity << "\n" << n->body;
      for (const auto& ep : u.endpoints)
        EXPECT_EQ(ep.status, "connected") << what << ": " << u.entity << " " << ep.entity << "\n" << n->body;
    }
    EXPECT_EQ(doc.user_count.value_or(0), aors.size()) << n->body;
  }

  void expect_full_roster(const std::string& what) { expect_roster({kAlice, kBob, kCarol, kDan}, what); }

  // `name` still participates: its own BYE gets 200 and Alice's next NOTIFY
  // reports it as departed (not booted: nobody removed it before).
  void expect_leaves_normally(const std::string& name, const std::string& aor) {
    auto& u = user(name);
    auto ok = u.ua->bye(u.invite);
    ASSERT_TRUE(ok) << name << ": no response to its BYE";
    ASSERT_EQ(ok->status, 200) << name << " no longer had a dialog: " << ok->raw;
    auto n = next_notify("alice");
    ASSERT_TRUE(n) << "Alice got no departure report for " << aor;
    auto doc = check_notify("alice", *n);
    const DocUser* du = doc.find_user(aor);
    ASSERT_TRUE(du) << n->body;
    ASSERT_FALSE(du->endpoints.empty()) << n->body;
    EXPECT_EQ(du->endpoints[0].status, "disconnected") << n->body;
    EXPECT_EQ(du->endpoints[0].disconnection_method, "departed") << n->body;
  }

  // One REFER from `name` that must be refused with `status`, without side
  // effects.
  void expect_refused(const std::string& name, const ReferSpec& spec, int status, const std::string& what) {
    auto before = mark();
    auto r = refer(name, spec);
    ASSERT_TRUE(r.final) << what << ": no final response\n" << r.tx.raw;
    EXPECT_EQ(r.status(), status) << what << "\nREFER:\n" << r.tx.raw << "\nresponse:\n" << describe(r);
    EXPECT_FALSE(r.final->has_header("Refer-Sub")) << what << ": " << r.final->raw;
    expect_no_side_effects(before, what);
  }

  // A second UA registered in users_ (so its transcript is printed on
  // failure) with its own options.
  User& extra_ua(const std::string& key, SipUa::Options o) {
    auto& u = users_[key];
    o.transport = GetParam();
    o.server_port = server_.port();
    u.ua = std::make_unique<SipUa>(o);
    u.ua->answer_bye_automatically(true);
    return u;
  }
};

// ---------------------------------------------------------------- TC-B13
// B1 / E13: with auth.trusted-peers=127.0.0.1/32, a REFER from 127.0.0.2
// has no usable P-Asserted-Identity (the PAI it carries is ignored, RFC
// 3325 §8); From is Carol. Expected: 403, no BYE, no NOTIFY, Carol still
// participates.
TEST_P(ReferErrorsTest, B13UntrustedSource) {
  f_refer({"--auth.trusted-peers=127.0.0.1/32"});
  ASSERT_FALSE(HasFailure());
  SipUa::Options o;
  o.bind_ip = "127.0.0.2";
  o.aor = kCarol;
  o.send_pai = true;  // claims Carol; must not be believed
  auto& mallory = extra_ua("carol@127.0.0.2", o);
  auto before = mark();
  RequestSpec rs;
  rs.method = "REFER";
  rs.request_uri = kGs1;
  rs.to_uri = kGs1;
  rs.cseq = 5;
  rs.extra_headers = kReferSelfGs1;
  auto tx = mallory.ua->send(rs);
  auto fin = mallory.ua->final_response(tx);
  ASSERT_TRUE(fin) << "no final response to the untrusted REFER";
  EXPECT_EQ(fin->status, 403) << fin->raw;
  EXPECT_FALSE(fin->has_header("Proxy-Authenticate")) << fin->raw;
  expect_no_side_effects(before, "B13 untrusted REFER");
  expect_full_roster("B13");
  expect_leaves_normally("carol", kCarol);
}

// ---------------------------------------------------------------- TC-B14
// B2b / E13: Eve is authenticated but in no session.
TEST_P(ReferErrorsTest, B14OriginatorNotParticipant) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  expect_refused("eve", {}, 403, "B14 REFER from Eve");
  expect_full_roster("B14");
}

// ---------------------------------------------------------------- TC-B15
// B2b / E12: Refer-To names a session that does not exist (Request-URI is
// the existing gs-1).
TEST_P(ReferErrorsTest, B15SessionDoesNotExist) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to("sip:gs-999@im.example.com;method=BYE");
  expect_refused("carol", spec, 403, "B15 Refer-To gs-999");
  expect_full_roster("B15");
  expect_leaves_normally("carol", kCarol);
}

// ---------------------------------------------------------------- TC-B16
// B2b: F-TWO. Carol names the session of Eve and Frank (created second, so
// gs-2 in the test profile; the spec calls it gs-3). Expected: 403, both
// sessions unchanged.
TEST_P(ReferErrorsTest, B16AnotherSessionOriginatorIsNotIn) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  join("eve", kFactory);
  ASSERT_FALSE(HasFailure());
  const std::string s3 = user("eve").invite.remote_target;
  ASSERT_EQ(s3.rfind("sip:gs-", 0), 0u) << "Eve's session identity: " << s3;
  ASSERT_NE(s3, kGs1);
  join("frank", s3);
  ASSERT_FALSE(HasFailure());
  // Eve watches her own session.
  auto& e = user("eve");
  auto sr = e.ua->subscribe(s3, 3600);
  ASSERT_EQ(sr.final.status, 200) << sr.error << "\n" << sr.final.raw;
  e.sub = sr.dialog;
  e.subscribed = true;
  auto first = e.ua->wait_in_dialog(e.sub, "NOTIFY", 5s);
  ASSERT_TRUE(first) << "no first NOTIFY of Eve's subscription to " << s3;
  e.ua->respond(*first, 200, "OK");

  ReferSpec spec;
  spec.refer_to = refer_to(s3 + ";method=BYE");
  expect_refused("carol", spec, 403, "B16 Carol names " + s3);
  expect_full_roster("B16 S1");

  // S3 unchanged: Eve's refresh lists Eve and Frank, both connected.
  auto rr = e.ua->resubscribe(e.sub, 3600);
  ASSERT_TRUE(rr && rr->status == 200) << (rr ? rr->raw : "no response to Eve's refresh");
  auto n = e.ua->wait_in_dialog(e.sub, "NOTIFY", 5s);
  ASSERT_TRUE(n) << "no NOTIFY after Eve's refresh";
  e.ua->respond(*n, 200, "OK");
  auto doc = parse_conference_doc(n->body);
  EXPECT_EQ(doc.entity, s3) << n->body;
  std::set<std::string> listed;
  for (const auto& u : doc.users) {
    listed.insert(u.entity);
    for (const auto& ep : u.endpoints) EXPECT_EQ(ep.status, "connected") << u.entity << "\n" << n->body;
  }
  EXPECT_EQ(listed, (std::set<std::string>{"sip:eve@example.com", "sip:frank@example.com"})) << n->body;
  expect_leaves_normally("carol", kCarol);
}

// ---------------------------------------------------------------- TC-B17
// B2b / E12: F-PAIR (the only session, so gs-1 here; the spec's gs-2).
// Bob's BYE releases the session (TC-A11); then Bob's REFER naming it gets
// 403 (not 404), while an INVITE to it gets 404.
TEST_P(ReferErrorsTest, B17ReleasedSession) {
  f_refer({}, /*pair=*/true);
  ASSERT_FALSE(HasFailure());
  auto& b = user("bob");
  auto ok = b.ua->bye(b.invite);
  ASSERT_TRUE(ok && ok->status == 200) << (ok ? ok->raw : "no response to Bob's BYE");
  auto focus_bye = user("alice").ua->wait_request("BYE", 5s);
  ASSERT_TRUE(focus_bye) << "the session was not released: no BYE to Alice";
  ASSERT_TRUE(next_notify("alice")) << "no final NOTIFY to Alice";
  ASSERT_TRUE(next_notify("bob")) << "no final NOTIFY to Bob";

  ReferSpec spec;  // REFER sip:gs-1 with Refer-To gs-1;method=BYE
  expect_refused("bob", spec, 403, "B17 REFER naming the released session");

  auto j = user("eve").ua->join(kGs1);
  EXPECT_EQ(j.final.status, 404) << "INVITE to the released identity: " << j.error << "\n" << j.final.raw;
}

// ---------------------------------------------------------------- TC-B18
// E9: no Refer-To at all.
TEST_P(ReferErrorsTest, B18MissingReferTo) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = "";
  expect_refused("carol", spec, 400, "B18 no Refer-To");
  expect_full_roster("B18");
}

// ---------------------------------------------------------------- TC-B19
// E10: two Refer-To header lines -> 400.
TEST_P(ReferErrorsTest, B19aTwoReferToHeaders) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = std::string(kReferSelfGs1) + kReferSelfGs1;
  expect_refused("carol", spec, 400, "B19 two Refer-To lines");
  expect_full_roster("B19a");
}

// E10: one Refer-To line with two comma-separated values -> 400.
TEST_P(ReferErrorsTest, B19bTwoCommaSeparatedValues) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = "Refer-To: <sip:gs-1@im.example.com;method=BYE>, <sip:gs-1@im.example.com;method=BYE>\r\n";
  expect_refused("carol", spec, 400, "B19 two values in one Refer-To");
  expect_full_roster("B19b");
}

// ---------------------------------------------------------------- TC-B22
// §3.1 / E11: a method other than BYE -> 403, no BYE.
TEST_P(ReferErrorsTest, B22aMethodOptions) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to("sip:gs-1@im.example.com;method=OPTIONS");
  expect_refused("carol", spec, 403, "B22 method=OPTIONS");
  expect_full_roster("B22a");
}

// Method names are case-sensitive (RFC 3261 §25.1): "bye" is not BYE.
TEST_P(ReferErrorsTest, B22bLowerCaseBye) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to("sip:gs-1@im.example.com;method=bye");
  expect_refused("carol", spec, 403, "B22 method=bye");
  expect_full_roster("B22b");
}

// No method: the add-participant procedure (not implemented) -> 403.
TEST_P(ReferErrorsTest, B22cNoMethod) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to(kGs1);
  expect_refused("carol", spec, 403, "B22 no method");
  expect_full_roster("B22c");
}

// ---------------------------------------------------------------- TC-B23
// §3.2: the ';' is escaped into the user part, so there is no method
// parameter and the user part names no session -> 403.
TEST_P(ReferErrorsTest, B23EscapedSemicolon) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to("sip:gs-1%3Bmethod%3DBYE@im.example.com");
  expect_refused("carol", spec, 403, "B23 escaped ;method=BYE");
  expect_full_roster("B23");
}

// ---------------------------------------------------------------- TC-B24
// §3.1: non-SIP Refer-To URIs -> 403.
TEST_P(ReferErrorsTest, B24aHttpReferTo) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to("http://im.example.com/gs-1");
  expect_refused("carol", spec, 403, "B24 http: Refer-To");
  expect_full_roster("B24a");
}

TEST_P(ReferErrorsTest, B24bTelReferTo) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to("tel:+15551234");
  expect_refused("carol", spec, 403, "B24 tel: Refer-To");
  expect_full_roster("B24b");
}

// ---------------------------------------------------------------- TC-B25
// E14: the initiator names Bob's AoR; the eject mode (§3.8) is off -> 403,
// Bob still participates.
TEST_P(ReferErrorsTest, B25SomeoneElsesAorDefaultMode) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to(std::string(kBob) + ";method=BYE");
  expect_refused("alice", spec, 403, "B25 Alice names Bob");
  expect_full_roster("B25");
  expect_leaves_normally("bob", kBob);
}

// ---------------------------------------------------------------- TC-B26
// E24: an RFC 5368 list REFER (Require: multiple-refer) -> 420 with
// Unsupported: multiple-refer (norefersub is supported, so it is not listed).
TEST_P(ReferErrorsTest, B26MultipleReferNotSupported) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.refer_to = refer_to("cid:x1@example.com");
  spec.extra_headers =
      "Require: multiple-refer, norefersub\r\nRefer-Sub: false\r\nContent-Disposition: recipient-list\r\n";
  spec.content_type = "application/resource-lists+xml";
  spec.body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
      "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\">\r\n"
      "  <list>\r\n"
      "    <entry uri=\"sip:bob@example.com?method=BYE\"/>\r\n"
      "    <entry uri=\"sip:dan@example.com?method=BYE\"/>\r\n"
      "  </list>\r\n"
      "</resource-lists>\r\n";
  auto before = mark();
  auto r = refer("alice", spec);
  ASSERT_TRUE(r.final) << "no final response";
  EXPECT_EQ(r.status(), 420) << describe(r);
  auto tags = unsupported_tags(*r.final);
  EXPECT_TRUE(tags.count("multiple-refer")) << "Unsupported must list multiple-refer\n" << r.final->raw;
  EXPECT_FALSE(tags.count("norefersub")) << "norefersub is supported (§3.5)\n" << r.final->raw;
  EXPECT_FALSE(r.final->has_header("Refer-Sub")) << r.final->raw;
  expect_no_side_effects(before, "B26");
  expect_full_roster("B26");
}

// ---------------------------------------------------------------- TC-B27
// E24: an unknown Require option tag -> 420, Unsupported: foo-bar.
TEST_P(ReferErrorsTest, B27UnknownRequireTag) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.extra_headers = "Require: foo-bar\r\n";
  auto before = mark();
  auto r = refer("carol", spec);
  ASSERT_TRUE(r.final) << "no final response";
  EXPECT_EQ(r.status(), 420) << describe(r);
  EXPECT_EQ(unsupported_tags(*r.final), (std::set<std::string>{"foo-bar"})) << r.final->raw;
  expect_no_side_effects(before, "B27");
  expect_full_roster("B27");
}

// ---------------------------------------------------------------- TC-B28
// E23: an out-of-dialog REFER without Contact -> 400.
TEST_P(ReferErrorsTest, B28MissingContact) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.contact = false;
  expect_refused("carol", spec, 400, "B28 no Contact");
  expect_full_roster("B28");
}

// ---------------------------------------------------------------- TC-B29
// E23: Refer-Sub must be true or false (RFC 4488 §4) -> 400.
TEST_P(ReferErrorsTest, B29BadReferSubValue) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.extra_headers = "Refer-Sub: maybe\r\n";
  expect_refused("carol", spec, 400, "B29 Refer-Sub: maybe");
  expect_full_roster("B29");
}

// ---------------------------------------------------------------- TC-B30
// B0: a REFER with a To tag that matches no dialog -> 481 (RFC 3261
// §12.2.2). Two shapes: a fresh Call-ID, and Carol's INVITE Call-ID with
// her own From tag but a wrong To tag.
TEST_P(ReferErrorsTest, B30UnknownDialog) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  struct Shape {
    const char* what;
    std::string call_id, from_tag;
  };
  for (const Shape& shape : {Shape{"fresh Call-ID", "", ""},
                             Shape{"INVITE Call-ID, wrong To tag", c.invite.call_id, c.invite.local_tag}}) {
    auto before = mark();
    RequestSpec rs;
    rs.method = "REFER";
    rs.request_uri = c.invite.remote_target;
    rs.to_uri = kGs1;
    rs.to_tag = "no-such-dialog-7";
    rs.call_id = shape.call_id;
    rs.from_tag = shape.from_tag;
    rs.cseq = 40;
    rs.extra_headers = kReferSelfGs1;
    auto tx = c.ua->send(rs);
    auto fin = c.ua->final_response(tx);
    ASSERT_TRUE(fin) << shape.what << ": no final response";
    EXPECT_EQ(fin->status, 481) << shape.what << "\n" << fin->raw;
    expect_no_side_effects(before, std::string("B30 ") + shape.what);
  }
  expect_full_roster("B30");
  expect_leaves_normally("carol", kCarol);
}

// ---------------------------------------------------------------- TC-B31
// B0: a Request-URI outside the served domains -> 404 before any REFER
// logic (§3.3).
TEST_P(ReferErrorsTest, B31RequestUriNotServed) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  ReferSpec spec;
  spec.request_uri = "sip:nobody@other.example.net";
  expect_refused("carol", spec, 404, "B31 REFER sip:nobody@other.example.net");
  expect_full_roster("B31");
}

// ---------------------------------------------------------------- TC-B42
// E22: an out-of-dialog SUBSCRIBE for Event: refer (no such subscription)
// -> 403 (RFC 3515 §2.4.4); with and without an id parameter.
TEST_P(ReferErrorsTest, B42SubscribeToMissingReferSubscription) {
  f_refer();
  ASSERT_FALSE(HasFailure());
  auto& c = user("carol");
  for (const char* event : {"Event: refer\r\n", "Event: refer;id=5\r\n"}) {
    auto before = mark();
    auto r = c.ua->subscribe(kGs1, 60, std::string(event) + "Accept: message/sipfrag\r\n");
    ASSERT_NE(r.final.status, 0) << event << ": " << r.error;
    EXPECT_EQ(r.final.status, 403) << event << r.final.raw;
    expect_no_side_effects(before, std::string("B42 ") + event);
  }
  expect_full_roster("B42");
}

INSTANTIATE_TEST_SUITE_P(Transports, ReferErrorsTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
