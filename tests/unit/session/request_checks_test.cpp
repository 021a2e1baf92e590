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
      {"delayed offer", [](InboundRequest& r) { r.body.clear(); }, 488, "Warning: 399"},
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
