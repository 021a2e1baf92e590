// Smoke tests of the test client itself: its parsers on hand-written input,
// and a whole session life cycle against the real server over UDP and TCP
// (create, two joins, two leaves, release with the focus's BYE).

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/client/conference_doc.hpp"
#include "tests/client/server_process.hpp"
#include "tests/client/sip_message.hpp"
#include "tests/client/sip_ua.hpp"

namespace imserver::testclient {
namespace {

using namespace std::chrono_literals;

constexpr const char* kFactory = "sip:conference-factory@im.example.com";
constexpr const char* kSession1 = "sip:gs-1@im.example.com";

// ------------------------------------------------------------ parsers

TEST(SipMessageTest, ParsesRequestWithCompactHeadersAndFolding) {
  std::string raw =
      "NOTIFY sip:alice@127.0.0.1:5070 SIP/2.0\r\n"
      "v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport\r\n"
      "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKdef\r\n"
      "f: <sip:gs-1@im.example.com>;tag=focus1\r\n"
      "t: \"Alice\" <sip:alice@example.com>;tag=a1\r\n"
      "i: call-1@127.0.0.1\r\n"
      "CSeq: 7 NOTIFY\r\n"
      "o: conference\r\n"
      "Subscription-State: active;\r\n"
      "  expires=3600\r\n"
      "c: application/conference-info+xml\r\n"
      "l: 5\r\n"
      "\r\n"
      "hello-and-more";
  std::string error;
  auto m = parse_sip_message(raw, &error);
  ASSERT_TRUE(m) << error;
  EXPECT_TRUE(m->is_request);
  EXPECT_EQ(m->method, "NOTIFY");
  EXPECT_EQ(m->request_uri, "sip:alice@127.0.0.1:5070");
  EXPECT_EQ(m->header("Call-ID").value_or(""), "call-1@127.0.0.1");
  EXPECT_EQ(m->header("i").value_or(""), "call-1@127.0.0.1");
  EXPECT_EQ(m->header("event").value_or(""), "conference");
  EXPECT_EQ(m->headers_named("Via").size(), 2u);
  EXPECT_EQ(m->top_via_branch(), "z9hG4bKabc");
  EXPECT_EQ(m->cseq_number(), 7u);
  EXPECT_EQ(m->cseq_method(), "NOTIFY");
  EXPECT_EQ(m->from_tag(), "focus1");
  EXPECT_EQ(m->to_tag(), "a1");
  EXPECT_EQ(uri_of(*m->header("To")), "sip:alice@example.com");
  EXPECT_EQ(m->header("Subscription-State").value_or(""), "active; expires=3600");
  EXPECT_EQ(m->body, "hello");
  EXPECT_FALSE(m->has_header("Contact"));

  EXPECT_EQ(uri_of("sip:gs-1@im.example.com;tag=x"), "sip:gs-1@im.example.com");
  EXPECT_EQ(tag_of("sip:gs-1@im.example.com;tag=x"), "x");
  EXPECT_EQ(tag_of("<sip:a@b;tag=inside>"), "");
  EXPECT_EQ(uri_of("<sip:gs-1@im.example.com>;isfocus;+g.oma.sip-im"), "sip:gs-1@im.example.com");
  EXPECT_EQ(header_param("<sip:gs-1@im.example.com>;isfocus", "isfocus").value_or("absent"), "");

  auto resp = parse_sip_message("SIP/2.0 405 Method Not Allowed\r\nCSeq: 1 SUBSCRIBE\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(resp);
  EXPECT_FALSE(resp->is_request);
  EXPECT_EQ(resp->status, 405);
  EXPECT_EQ(resp->reason, "Method Not Allowed");
  EXPECT_FALSE(parse_sip_message("garbage\r\n\r\n"));
}

TEST(SipMessageTest, StreamParserSplitsByContentLength) {
  SipStreamParser p;
  std::string a = "SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\nContent-Length: 3\r\n\r\nabc";
  std::string b = "BYE sip:x SIP/2.0\r\nl: 0\r\n\r\n";
  std::string stream = "\r\n\r\n" + a + "\r\n" + b;
  // Byte by byte: nothing pops early.
  std::vector<SipMessage> got;
  for (char c : stream) {
    p.feed(&c, 1);
    while (auto m = p.pop()) got.push_back(*m);
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].status, 200);
  EXPECT_EQ(got[0].body, "abc");
  EXPECT_EQ(got[1].method, "BYE");
  EXPECT_EQ(p.buffered(), 0u);
  EXPECT_GE(p.keepalives(), 2u);
}

TEST(SubscriptionStateTest, Parses) {
  auto t = parse_subscription_state("terminated;reason=noresource");
  EXPECT_EQ(t.state, "terminated");
  EXPECT_EQ(t.reason, "noresource");
  EXPECT_FALSE(t.expires);
  auto a = parse_subscription_state("active;expires=3600");
  EXPECT_EQ(a.state, "active");
  EXPECT_EQ(a.reason, "");
  ASSERT_TRUE(a.expires);
  EXPECT_EQ(*a.expires, 3600u);
  EXPECT_EQ(a.params.at("expires"), "3600");
  auto p = parse_subscription_state(" Pending ; retry-after=5 ");
  EXPECT_EQ(p.state, "pending");
  EXPECT_EQ(p.retry_after.value_or(0), 5u);
}

TEST(ConferenceDocTest, ParsesFullDocument) {
  std::string xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:gs-1@im.example.com" state="full" version="1">
  <conference-description>
    <subject>Project sync</subject>
    <conf-uris><entry><uri>sip:gs-1@im.example.com</uri><purpose>participation</purpose></entry></conf-uris>
    <maximum-user-count>100</maximum-user-count>
  </conference-description>
  <conference-state><user-count>2</user-count><active>true</active><locked>false</locked></conference-state>
  <users>
    <user entity="sip:alice@example.com" state="full">
      <endpoint entity="sip:alice@127.0.0.1:5070">
        <status>connected</status>
        <joining-method>dialed-in</joining-method>
        <joining-info><when>2025-01-15T10:15:30Z</when></joining-info>
        <media id="1"><type>message</type><status>sendrecv</status></media>
      </endpoint>
    </user>
    <user entity="sip:bob@example.com" state="full">
      <endpoint entity="sip:bob@127.0.0.1:5071"><status>connected</status></endpoint>
    </user>
  </users>
</conference-info>)";
  ConferenceDoc d = parse_conference_doc(xml);
  ASSERT_TRUE(d.well_formed) << d.error;
  EXPECT_EQ(d.ns, kConferenceInfoNs);
  EXPECT_EQ(d.entity, "sip:gs-1@im.example.com");
  EXPECT_EQ(d.state, "full");
  EXPECT_EQ(d.version.value_or(0), 1u);
  EXPECT_EQ(d.root_children, (std::vector<std::string>{"conference-description", "conference-state", "users"}));
  EXPECT_TRUE(d.has_description);
  EXPECT_EQ(d.subject, "Project sync");
  ASSERT_EQ(d.conf_uris.size(), 1u);
  EXPECT_EQ(d.conf_uris[0].first, "sip:gs-1@im.example.com");
  EXPECT_EQ(d.conf_uris[0].second, "participation");
  EXPECT_EQ(d.maximum_user_count.value_or(0), 100u);
  EXPECT_TRUE(d.has_conference_state);
  EXPECT_EQ(d.user_count.value_or(0), 2u);
  EXPECT_EQ(d.active, std::optional<bool>(true));
  EXPECT_EQ(d.locked, std::optional<bool>(false));
  EXPECT_TRUE(d.has_users);
  EXPECT_EQ(d.users_state, "");
  ASSERT_EQ(d.users.size(), 2u);
  const DocUser* alice = d.find_user("sip:alice@example.com");
  ASSERT_NE(alice, nullptr);
  ASSERT_EQ(alice->endpoints.size(), 1u);
  const DocEndpoint& ep = alice->endpoints[0];
  EXPECT_EQ(ep.status, "connected");
  EXPECT_EQ(ep.joining_method, "dialed-in");
  EXPECT_EQ(ep.joining_when, "2025-01-15T10:15:30Z");
  EXPECT_TRUE(is_utc_datetime(ep.joining_when));
  EXPECT_TRUE(ep.has_media);
  EXPECT_EQ(ep.children, (std::vector<std::string>{"status", "joining-method", "joining-info", "media"}));
  EXPECT_EQ(d.find_user("sip:nobody@example.com"), nullptr);
  EXPECT_TRUE(schema_order_errors(d).empty()) << ::testing::PrintToString(schema_order_errors(d));
}

TEST(ConferenceDocTest, ParsesPartialAndDeleted) {
  std::string partial = R"(<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
      entity="sip:gs-1@im.example.com" state="partial" version="2">
    <conference-state><user-count>1</user-count><active>true</active><locked>false</locked></conference-state>
    <users state="partial">
      <user entity="sip:bob@example.com" state="partial">
        <endpoint entity="sip:bob@127.0.0.1:5071" state="partial">
          <status>disconnected</status>
          <disconnection-method>departed</disconnection-method>
          <disconnection-info><when>2025-01-15T10:16:00.125Z</when><by>sip:bob@example.com</by></disconnection-info>
        </endpoint>
      </user>
      <user entity="sip:carol@example.com" state="deleted"/>
    </users>
  </conference-info>)";
  ConferenceDoc d = parse_conference_doc(partial);
  ASSERT_TRUE(d.well_formed) << d.error;
  EXPECT_EQ(d.state, "partial");
  EXPECT_EQ(d.version.value_or(0), 2u);
  EXPECT_FALSE(d.has_description);
  EXPECT_EQ(d.users_state, "partial");
  const DocUser* bob = d.find_user("sip:bob@example.com");
  ASSERT_NE(bob, nullptr);
  ASSERT_EQ(bob->endpoints.size(), 1u);
  EXPECT_EQ(bob->endpoints[0].disconnection_method, "departed");
  EXPECT_EQ(bob->endpoints[0].disconnection_by, "sip:bob@example.com");
  EXPECT_TRUE(is_utc_datetime(bob->endpoints[0].disconnection_when));
  const DocUser* carol = d.find_user("sip:carol@example.com");
  ASSERT_NE(carol, nullptr);
  EXPECT_EQ(carol->state, "deleted");
  EXPECT_TRUE(carol->children.empty());
  EXPECT_TRUE(schema_order_errors(d).empty()) << ::testing::PrintToString(schema_order_errors(d));

  ConferenceDoc gone = parse_conference_doc(
      R"(<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:gs-1@im.example.com" state="deleted" version="3"/>)");
  ASSERT_TRUE(gone.well_formed);
  EXPECT_EQ(gone.state, "deleted");
  EXPECT_TRUE(gone.root_children.empty());
  EXPECT_TRUE(schema_order_errors(gone).empty());

  // A deleted user that still carries children is an error.
  ConferenceDoc bad_deleted = parse_conference_doc(
      R"(<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="e" state="partial" version="4">
         <users><user entity="sip:x@example.com" state="deleted"><display-text>x</display-text></user></users>
         </conference-info>)");
  ASSERT_TRUE(bad_deleted.well_formed);
  EXPECT_FALSE(schema_order_errors(bad_deleted).empty());
}

TEST(ConferenceDocTest, MalformedAndMisordered) {
  ConferenceDoc broken = parse_conference_doc("<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\"><users>");
  EXPECT_FALSE(broken.well_formed);
  EXPECT_FALSE(broken.error.empty());
  EXPECT_FALSE(schema_order_errors(broken).empty());

  // status after joining-method, wrong namespace, no version, a bad state.
  ConferenceDoc d = parse_conference_doc(R"(<conference-info xmlns="urn:example:wrong" entity="e" state="fullish">
      <users><user entity="u"><endpoint entity="ep">
        <joining-method>dialed-in</joining-method><status>connected</status>
      </endpoint></user></users></conference-info>)");
  ASSERT_TRUE(d.well_formed) << d.error;
  auto errors = schema_order_errors(d);
  auto has = [&](const std::string& needle) {
    for (const auto& e : errors) {
      if (e.find(needle) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("<status> after <joining-method>")) << ::testing::PrintToString(errors);
  EXPECT_TRUE(has("namespace")) << ::testing::PrintToString(errors);
  EXPECT_TRUE(has("no version")) << ::testing::PrintToString(errors);
  EXPECT_TRUE(has("fullish")) << ::testing::PrintToString(errors);

  // Root children out of order.
  ConferenceDoc root = parse_conference_doc(R"(<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="e" state="full" version="1">
      <users/><conference-state><active>true</active><user-count>1</user-count></conference-state></conference-info>)");
  auto root_errors = schema_order_errors(root);
  EXPECT_EQ(root_errors.size(), 2u) << ::testing::PrintToString(root_errors);

  EXPECT_TRUE(is_utc_datetime("2025-01-15T10:15:30Z"));
  EXPECT_TRUE(is_utc_datetime("2024-02-29T23:59:59.999Z"));
  EXPECT_FALSE(is_utc_datetime("2025-01-15T10:15:30"));
  EXPECT_FALSE(is_utc_datetime("2025-01-15T10:15:30+01:00"));
  EXPECT_FALSE(is_utc_datetime("2025-02-29T10:15:30Z"));
  EXPECT_FALSE(is_utc_datetime("2025-13-01T10:15:30Z"));
  EXPECT_FALSE(is_utc_datetime("2025-01-15 10:15:30Z"));
  EXPECT_FALSE(is_utc_datetime("2025-01-15T10:15:30.Z"));
}

// ------------------------------------------------------------ real server

class ClientSmoke : public ::testing::TestWithParam<std::string> {
 protected:
  SipUa& ua(const std::string& user) {
    SipUa::Options o;
    o.transport = GetParam();
    o.server_port = server_.port();
    o.aor = "sip:" + user + "@example.com";
    uas_.push_back(std::make_unique<SipUa>(o));
    return *uas_.back();
  }

  void TearDown() override {
    if (!HasFailure()) return;
    std::cerr << "==== server (" << server_.command_line() << ") stderr ====\n" << server_.stderr_text() << "\n";
    for (const auto& u : uas_) std::cerr << "==== " << u->aor() << " transcript ====\n" << u->transcript() << "\n";
  }

  ServerProcess server_;
  std::vector<std::unique_ptr<SipUa>> uas_;
};

TEST_P(ClientSmoke, CreateJoinLeaveRelease) {
  std::string error;
  ASSERT_TRUE(server_.start({"--join.adhoc-policy=anyone"}, &error)) << error;
  ASSERT_NE(server_.port(), 0);

  SipUa& alice = ua("alice");
  SipUa& bob = ua("bob");
  SipUa& carol = ua("carol");
  SipUa& dan = ua("dan");

  // The factory answers OPTIONS.
  Transaction options = alice.send_request("OPTIONS", kFactory, kFactory);
  auto options_answer = alice.final_response(options, 5s);
  ASSERT_TRUE(options_answer);
  EXPECT_EQ(options_answer->status, 200);

  JoinResult a = alice.join(kFactory);
  ASSERT_TRUE(a.ok) << a.error << "\n" << a.final.raw;
  EXPECT_EQ(a.final.status, 200);
  std::string contact = a.final.header("Contact").value_or("");
  EXPECT_EQ(contact.rfind("<sip:gs-1@im.example.com>;isfocus", 0), 0u) << contact;
  EXPECT_TRUE(header_param(contact, "isfocus").has_value()) << contact;
  EXPECT_EQ(a.dialog.remote_target, kSession1);
  EXPECT_FALSE(a.dialog.remote_tag.empty());
  EXPECT_EQ(a.final.header("Content-Type").value_or(""), "application/sdp");
  EXPECT_NE(a.final.body.find("m=message "), std::string::npos) << a.final.body;

  JoinResult b = bob.join(kSession1);
  ASSERT_TRUE(b.ok) << b.error << "\n" << b.final.raw;
  EXPECT_EQ(b.dialog.remote_target, kSession1);
  JoinResult c = carol.join(kSession1);
  ASSERT_TRUE(c.ok) << c.error << "\n" << c.final.raw;

  auto carol_bye = carol.bye(c.dialog);
  ASSERT_TRUE(carol_bye);
  EXPECT_EQ(carol_bye->status, 200);
  // Two users remain: no release yet.
  EXPECT_TRUE(alice.nothing_arrives("BYE", 300ms));

  auto bob_bye = bob.bye(b.dialog);
  ASSERT_TRUE(bob_bye);
  EXPECT_EQ(bob_bye->status, 200);

  // Fewer than two users remain: the focus releases the session and hangs
  // up on alice.
  auto focus_bye = alice.wait_request("BYE", 5s);
  ASSERT_TRUE(focus_bye);
  EXPECT_EQ(focus_bye->call_id(), a.dialog.call_id);
  EXPECT_EQ(focus_bye->to_tag(), a.dialog.local_tag);
  EXPECT_EQ(focus_bye->from_tag(), a.dialog.remote_tag);
  EXPECT_GT(focus_bye->cseq_number(), 0u);
  EXPECT_TRUE(alice.respond(*focus_bye, 200, "OK"));

  // Nothing else arrives for anyone.
  EXPECT_TRUE(alice.nothing_arrives("", 300ms)) << alice.pending().front().raw;
  EXPECT_TRUE(bob.pending().empty());
  EXPECT_TRUE(carol.pending().empty());

  // The session is gone. (Asked only after the quiet period above: an
  // INVITE that reaches the server within a few ms of the 200 to the
  // focus's BYE is not answered until --sip.answer-timeout-ms.)
  JoinResult late = dan.join(kSession1);
  EXPECT_FALSE(late.ok);
  EXPECT_EQ(late.final.status, 404) << late.final.raw;

  EXPECT_EQ(server_.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Transports, ClientSmoke, ::testing::Values("udp", "tcp"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace imserver::testclient
