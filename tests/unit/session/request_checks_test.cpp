// The creation checks of SESSIONS.md §2.1, applied in their documented order.

#include "actors/session/request_checks.hpp"

#include <gtest/gtest.h>

using namespace imserver;
using transport::InboundRequest;

namespace {

const char* kOffer =
    "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=message 40001 TCP/MSRP *\r\na=accept-types:message/cpim\r\n"
    "a=path:msrp://127.0.0.1:40001/abc;tcp\r\n";

const char* kList =
    "<?xml version=\"1.0\"?><resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\">"
    "<list><entry uri=\"sip:bob@example.com\"/></list></resource-lists>";

InboundRequest factory_invite() {
  InboundRequest r;
  r.id = 1;
  r.method = "INVITE";
  r.request_uri = "sip:conference-factory@im.example.com";
  r.peer = {"192.0.2.10", 5060, "udp"};
  r.headers = {{"p-asserted-identity", "<sip:alice@example.com>"}};
  r.content_type = "application/sdp";
  r.body = kOffer;
  return r;
}

std::string multipart(const std::string& list_disposition) {
  return "--b1\r\nContent-Type: application/sdp\r\n\r\n" + std::string(kOffer) +
         "\r\n--b1\r\nContent-Type: application/resource-lists+xml\r\n" + list_disposition + "\r\n" + kList +
         "\r\n--b1--\r\n";
}

struct Case {
  const char* name;
  void (*mutate)(InboundRequest&);
  int status;              // 0: accepted
  const char* header_has;  // substring expected in the response headers
};

}  // namespace

TEST(CheckCreation, FirstFailingCheckDecides) {
  const auto trusted = *policy::TrustedPeers::parse("192.0.2.10/32");
  codec::MsrpAnswerConfig msrp;
  msrp.warn_agent = "im.example.com";
  const Case cases[] = {
      {"plain SDP offer is accepted", [](InboundRequest&) {}, 0, ""},
      {"unknown Require tag", [](InboundRequest& r) { r.headers.push_back({"require", "foo, recipient-list-invite"}); },
       420, "Unsupported: foo"},
      {"Require beats identity (C2 before C3)",
       [](InboundRequest& r) {
         r.headers.push_back({"require", "bar"});
         r.peer.ip = "198.51.100.10";
       },
       420, "Unsupported: bar"},
      {"untrusted source, PAI ignored", [](InboundRequest& r) { r.peer.ip = "198.51.100.10"; }, 403, ""},
      {"trusted source without PAI", [](InboundRequest& r) { r.headers.clear(); }, 403, ""},
      {"text/plain body", [](InboundRequest& r) { r.content_type = "text/plain"; }, 415, "Accept: application/sdp"},
      {"list required but absent",
       [](InboundRequest& r) { r.headers.push_back({"require", "recipient-list-invite"}); }, 400, ""},
      {"multipart with a list and the option tag",
       [](InboundRequest& r) {
         r.headers.push_back({"require", "recipient-list-invite"});
         r.content_type = "multipart/mixed;boundary=\"b1\"";
         r.body = multipart("Content-Disposition: recipient-list\r\n");
       },
       0, ""},
      {"multipart list with another disposition is no list",
       [](InboundRequest& r) {
         r.headers.push_back({"require", "recipient-list-invite"});
         r.content_type = "multipart/mixed;boundary=b1";
         r.body = multipart("Content-Disposition: render\r\n");
       },
       400, ""},
      {"offer without MSRP", [](InboundRequest& r) { r.body = "v=0\r\nm=audio 4000 RTP/AVP 0\r\n"; }, 488,
       "Warning: 304 im.example.com"},
      // SESSIONS.md §7.4: no offer is a delayed offer, answered in the ACK.
      {"delayed offer", [](InboundRequest& r) { r.body.clear(); }, 0, ""},
  };
  for (const auto& c : cases) {
    auto r = factory_invite();
    c.mutate(r);
    auto result = session::check_creation(r, trusted, msrp);
    if (c.status == 0) {
      ASSERT_TRUE(std::holds_alternative<policy::AssertedIdentity>(result)) << c.name;
      EXPECT_EQ(std::get<policy::AssertedIdentity>(result).aor, "sip:alice@example.com") << c.name;
    } else {
      ASSERT_TRUE(std::holds_alternative<transport::Respond>(result)) << c.name;
      const auto& resp = std::get<transport::Respond>(result);
      EXPECT_EQ(resp.status, c.status) << c.name;
      EXPECT_EQ(resp.request, 1u) << c.name;
      EXPECT_NE(resp.headers.find(c.header_has), std::string::npos) << c.name << ": " << resp.headers;
    }
  }
}

TEST(MethodNotAllowed, KnownMethods405UnknownMethods501BothWithAllow) {
  InboundRequest r;
  r.method = "PUBLISH";
  auto a = session::method_not_allowed(r);
  EXPECT_EQ(a.status, 405);
  EXPECT_NE(a.headers.find("Allow: INVITE"), std::string::npos);
  r.method = "BREW";
  auto b = session::method_not_allowed(r);
  EXPECT_EQ(b.status, 501);
  EXPECT_NE(b.headers.find("Allow: "), std::string::npos);
}

// SESSIONS.md §5 with Digest: authenticate() and check_digest().
namespace {

policy::DigestConfig digest_config() {
  policy::DigestConfig d;
  d.enabled = true;
  d.realm = "im.example.com";
  d.secret = "unit-secret";
  d.nonce_lifetime_s = 300;
  d.users["alice"] = {"alice", policy::digest_ha1("alice", "im.example.com", "pw"), "sip:alice@example.com"};
  return d;
}

InboundRequest untrusted_invite(const std::string& authorization = "") {
  InboundRequest r = factory_invite();
  r.peer = {"198.51.100.7", 5060, "udp"};
  r.from_uri = "sip:alice@example.com";
  r.headers = {{"p-asserted-identity", "<sip:bob@example.com>"}};  // untrusted: ignored
  if (!authorization.empty()) r.headers.push_back({"authorization", authorization});
  return r;
}

std::string credentials(const std::string& user, const std::string& password, const std::string& nonce,
                        const std::string& realm = "im.example.com",
                        const std::string& uri = "sip:conference-factory@im.example.com") {
  const auto response =
      policy::digest_response(policy::digest_ha1(user, realm, password), "INVITE", uri, nonce, "auth", "00000001", "c");
  return "Digest username=\"" + user + "\", realm=\"" + realm + "\", nonce=\"" + nonce + "\", uri=\"" + uri +
         "\", response=\"" + response + "\", qop=auth, nc=00000001, cnonce=\"c\"";
}

int status_of(const std::variant<policy::AssertedIdentity, transport::Respond>& v) {
  if (auto* r = std::get_if<transport::Respond>(&v)) return r->status;
  return 0;
}

TEST(CheckDigest, Table) {
  const auto d = digest_config();
  const int64_t now = 1000000;
  const auto nonce = policy::make_nonce(d.secret, now);
  const auto old_nonce = policy::make_nonce(d.secret, now - 301);
  const auto foreign_nonce = policy::make_nonce("other-secret", now);
  struct Row {
    const char* name;
    InboundRequest r;
    int status;  // 0: identity
  };
  InboundRequest from_eve = untrusted_invite(credentials("alice", "pw", nonce));
  from_eve.from_uri = "sip:eve@example.com";
  InboundRequest from_alice_upper = untrusted_invite(credentials("alice", "pw", nonce));
  from_alice_upper.from_uri = "sip:alice@EXAMPLE.com;transport=tcp";
  const Row rows[] = {
      {"no_credentials", untrusted_invite(), 401},
      {"basic_only", untrusted_invite("Basic YWxpY2U6cHc="), 401},
      {"good", untrusted_invite(credentials("alice", "pw", nonce)), 0},
      {"from_canonical_match", from_alice_upper, 0},
      {"wrong_password", untrusted_invite(credentials("alice", "bad", nonce)), 403},
      {"unknown_user", untrusted_invite(credentials("mallory", "pw", nonce)), 403},
      {"wrong_realm", untrusted_invite(credentials("alice", "pw", nonce, "elsewhere")), 403},
      {"stale", untrusted_invite(credentials("alice", "pw", old_nonce)), 401},
      {"foreign_nonce", untrusted_invite(credentials("alice", "pw", foreign_nonce)), 401},
      {"uri_mismatch",
       untrusted_invite(credentials("alice", "pw", nonce, "im.example.com", "sip:other@im.example.com")), 400},
      {"from_mismatch", from_eve, 403},
  };
  for (const auto& row : rows) {
    auto got = session::check_digest(row.r, d, now);
    EXPECT_EQ(status_of(got), row.status) << row.name;
    if (row.status == 0 && std::holds_alternative<policy::AssertedIdentity>(got)) {
      EXPECT_EQ(std::get<policy::AssertedIdentity>(got).aor, "sip:alice@example.com") << row.name;
    }
    if (auto* resp = std::get_if<transport::Respond>(&got); resp && resp->status == 401) {
      EXPECT_NE(resp->headers.find("WWW-Authenticate: Digest realm=\"im.example.com\", nonce=\""), std::string::npos);
      EXPECT_NE(resp->headers.find("qop=\"auth\", algorithm=MD5"), std::string::npos);
      EXPECT_EQ(resp->headers.find("stale=true") != std::string::npos, std::string(row.name) == "stale")
          << row.name << ": " << resp->headers;
    }
  }
}

TEST(Authenticate, DigestOnlyWhenConfiguredAndOutOfDialogInviteSubscribeRefer) {
  auto d = digest_config();
  policy::TrustedPeers trusted = *policy::TrustedPeers::parse("192.0.2.0/24");
  const int64_t now = 1000000;
  // Trusted PAI wins, no challenge.
  auto pai = session::authenticate(factory_invite(), trusted, &d, now);
  ASSERT_TRUE(std::holds_alternative<std::optional<policy::AssertedIdentity>>(pai));
  EXPECT_EQ(std::get<std::optional<policy::AssertedIdentity>>(pai)->aor, "sip:alice@example.com");
  // Untrusted: challenged for INVITE, SUBSCRIBE, REFER out of dialog.
  for (const char* method : {"INVITE", "SUBSCRIBE", "REFER"}) {
    auto r = untrusted_invite();
    r.method = method;
    auto got = session::authenticate(r, trusted, &d, now);
    ASSERT_TRUE(std::holds_alternative<transport::Respond>(got)) << method;
    EXPECT_EQ(std::get<transport::Respond>(got).status, 401) << method;
  }
  // Not challenged: OPTIONS, ACK, CANCEL, in-dialog, Digest off, no config.
  auto options = untrusted_invite();
  options.method = "OPTIONS";
  auto in_dialog = untrusted_invite();
  in_dialog.in_dialog = true;
  for (const auto& r : {options, in_dialog}) {
    auto got = session::authenticate(r, trusted, &d, now);
    ASSERT_TRUE(std::holds_alternative<std::optional<policy::AssertedIdentity>>(got)) << r.method;
    EXPECT_FALSE(std::get<std::optional<policy::AssertedIdentity>>(got)) << r.method;
  }
  EXPECT_TRUE(std::holds_alternative<std::optional<policy::AssertedIdentity>>(
      session::authenticate(untrusted_invite(), trusted, nullptr, now)));
  d.enabled = false;
  EXPECT_TRUE(std::holds_alternative<std::optional<policy::AssertedIdentity>>(
      session::authenticate(untrusted_invite(), trusted, &d, now)));
  // check_creation with Digest: the challenge comes after Require (C2).
  d.enabled = true;
  codec::MsrpAnswerConfig msrp;
  EXPECT_EQ(status_of(session::check_creation(untrusted_invite(), trusted, msrp, &d, now)), 401);
  EXPECT_EQ(status_of(session::check_creation(untrusted_invite(), trusted, msrp)), 403);
  auto bad_require = untrusted_invite();
  bad_require.headers.push_back({"require", "foo"});
  EXPECT_EQ(status_of(session::check_creation(bad_require, trusted, msrp, &d, now)), 420);
}

}  // namespace
