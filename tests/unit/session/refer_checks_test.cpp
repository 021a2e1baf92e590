// check_refer: PROTOCOL.md §3.4 B0 and §3.1, in the documented order.

#include "actors/session/refer_checks.hpp"

#include <gtest/gtest.h>

using imserver::session::check_refer;
using imserver::session::event_package;
using imserver::session::ReferRequest;
using imserver::transport::Header;
using imserver::transport::InboundRequest;
using imserver::transport::Respond;

namespace {

InboundRequest refer(std::vector<Header> headers, bool contact = true) {
  InboundRequest r;
  r.id = 1;
  r.method = "REFER";
  r.request_uri = "sip:gs-1@im.example.com";
  if (contact) r.contacts = {"<sip:carol@127.0.0.1:5060>"};
  r.headers = std::move(headers);
  return r;
}

const Header kSelf{"refer-to", "<sip:gs-1@im.example.com;method=BYE>"};

struct Case {
  const char* name;
  std::vector<Header> headers;
  bool contact;
  uint16_t status;             // 0: accepted
  const char* header_expected;  // in the refusal's headers
  bool refer_sub;               // when accepted
};

}  // namespace

TEST(ReferChecks, Table) {
  const Case cases[] = {
      {"plain", {kSelf}, true, 0, "", true},
      {"compact name", {{"r", "<sip:gs-1@im.example.com;method=BYE>"}}, true, 0, "", true},
      {"refer-sub true", {kSelf, {"refer-sub", "true"}}, true, 0, "", true},
      {"refer-sub FALSE", {kSelf, {"refer-sub", "FALSE"}}, true, 0, "", false},
      {"refer-sub with exten", {kSelf, {"refer-sub", "false;x=1"}}, true, 0, "", false},
      {"require norefersub", {kSelf, {"require", "norefersub"}, {"refer-sub", "false"}}, true, 0, "", false},
      {"require multiple-refer", {{"refer-to", "<cid:x1@example.com>"}, {"require", "multiple-refer, norefersub"}},
       true, 420, "Unsupported: multiple-refer", true},
      {"require unknown beats everything", {{"require", "foo-bar"}}, false, 420, "Unsupported: foo-bar", true},
      {"missing refer-to", {}, true, 400, "", true},
      {"two refer-to", {kSelf, kSelf}, true, 400, "", true},
      {"missing contact", {kSelf}, false, 400, "", true},
      {"bad refer-sub", {kSelf, {"refer-sub", "maybe"}}, true, 400, "", true},
      {"http", {{"refer-to", "<http://im.example.com/gs-1>"}}, true, 403, "", true},
      {"method INVITE", {{"refer-to", "<sip:gs-1@im.example.com;method=INVITE>"}}, true, 403, "", true},
  };
  for (const auto& c : cases) {
    auto result = check_refer(refer(c.headers, c.contact), true);
    if (c.status == 0) {
      ASSERT_TRUE(std::holds_alternative<ReferRequest>(result)) << c.name << ": " << std::get<Respond>(result).status;
      EXPECT_EQ(std::get<ReferRequest>(result).refer_sub, c.refer_sub) << c.name;
      EXPECT_TRUE(std::get<ReferRequest>(result).target.is_bye) << c.name;
    } else {
      ASSERT_TRUE(std::holds_alternative<Respond>(result)) << c.name;
      EXPECT_EQ(std::get<Respond>(result).status, c.status) << c.name;
      EXPECT_NE(std::get<Respond>(result).headers.find(c.header_expected), std::string::npos) << c.name;
    }
  }
}

TEST(ReferChecks, LenientUnbracketedMethodIsAKnob) {
  auto r = refer({{"refer-to", "sip:gs-1@im.example.com;method=BYE"}});
  EXPECT_TRUE(std::holds_alternative<ReferRequest>(check_refer(r, true)));
  auto strict = check_refer(r, false);
  ASSERT_TRUE(std::holds_alternative<Respond>(strict));
  EXPECT_EQ(std::get<Respond>(strict).status, 403);
}

TEST(ReferChecks, EventPackage) {
  EXPECT_EQ(event_package("refer;id=5"), "refer");
  EXPECT_EQ(event_package(" Refer "), "refer");
  EXPECT_EQ(event_package("conference"), "conference");
}
