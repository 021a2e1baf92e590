#include "transport/codec/refer_to.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "transport/codec/sip_uri.hpp"

namespace {

using imserver::codec::is_refer_to_header_name;
using imserver::codec::param;
using imserver::codec::parse_refer_to;
using imserver::codec::parse_uri;
using imserver::codec::refer_session_uri;
using imserver::codec::ReferToError;
using imserver::codec::same_session_uri;
using imserver::codec::to_string;

const char* name(ReferToError e) {
  switch (e) {
    case ReferToError::None: return "None";
    case ReferToError::Missing: return "Missing";
    case ReferToError::Several: return "Several";
    case ReferToError::Unparsable: return "Unparsable";
    case ReferToError::NotSip: return "NotSip";
  }
  return "?";
}

struct Case {
  const char* label;
  std::vector<std::string> values;
  bool lenient;
  ReferToError error;
  const char* method;  // decoded; checked only when error is None
  bool is_bye;
  const char* display;
};

// Every form and error named in PROTOCOL.md §3.1, §3.2, E9, E10, E11, E23.
TEST(ReferTo, Table) {
  const Case cases[] = {
      // §3.2 accepted forms (TC-B20)
      {"plain", {"<sip:gs-1@im.example.com;method=BYE>"}, true, ReferToError::None, "BYE", true, ""},
      {"plain, strict knob", {"<sip:gs-1@im.example.com;method=BYE>"}, false, ReferToError::None, "BYE", true, ""},
      {"compact r: (value identical)", {"<sip:gs-1@im.example.com;method=BYE>"}, true, ReferToError::None, "BYE", true, ""},
      {"quoted display name", {"\"Team chat\" <sip:gs-1@im.example.com;method=BYE>"}, true, ReferToError::None, "BYE",
       true, "Team chat"},
      {"token display name", {"Chat <sip:gs-1@im.example.com;method=BYE>"}, true, ReferToError::None, "BYE", true, "Chat"},
      {"display name with comma", {"\"Chat, team\" <sip:gs-1@im.example.com;method=BYE>"}, true, ReferToError::None, "BYE",
       true, "Chat, team"},
      {"upper-case param name", {"<sip:gs-1@im.example.com;METHOD=BYE>"}, true, ReferToError::None, "BYE", true, ""},
      {"mixed-case param name", {"<sip:gs-1@im.example.com;MeThOd=BYE>"}, true, ReferToError::None, "BYE", true, ""},
      {"escaped B", {"<sip:gs-1@im.example.com;method=%42YE>"}, true, ReferToError::None, "BYE", true, ""},
      {"fully escaped", {"<sip:gs-1@im.example.com;method=%42%59%45>"}, true, ReferToError::None, "BYE", true, ""},
      {"partially escaped", {"<sip:gs-1@im.example.com;method=BY%45>"}, true, ReferToError::None, "BYE", true, ""},
      {"URI headers", {"<sip:gs-1@im.example.com;method=BYE?Reason=SIP%3Bcause%3D200>"}, true, ReferToError::None, "BYE",
       true, ""},
      {"URI headers (TC-B21)", {"<sip:gs-1@im.example.com;method=BYE?X-Test=evil&Subject=x>"}, true, ReferToError::None,
       "BYE", true, ""},
      {"method not first param", {"<sip:gs-1@im.example.com;transport=tcp;method=BYE>"}, true, ReferToError::None, "BYE",
       true, ""},
      {"sips", {"<sips:gs-1@im.example.com;method=BYE>"}, true, ReferToError::None, "BYE", true, ""},
      {"surrounding white space", {"   <sip:gs-1@im.example.com;method=BYE>  "}, true, ReferToError::None, "BYE", true, ""},
      {"Refer-To header params", {"<sip:gs-1@im.example.com;method=BYE>;foo=bar"}, true, ReferToError::None, "BYE", true,
       ""},
      // §3.2 unbracketed form, knob refer.lenient_unbracketed_method
      {"unbracketed, lenient", {"sip:gs-1@im.example.com;method=BYE"}, true, ReferToError::None, "BYE", true, ""},
      {"unbracketed upper-case name, lenient", {"sip:gs-1@im.example.com;METHOD=BYE"}, true, ReferToError::None, "BYE",
       true, ""},
      {"unbracketed escaped, lenient", {"sip:gs-1@im.example.com;method=%42YE"}, true, ReferToError::None, "BYE", true, ""},
      {"unbracketed with other header param, lenient", {"sip:gs-1@im.example.com;foo=1;method=BYE"}, true,
       ReferToError::None, "BYE", true, ""},
      {"unbracketed, strict: header param only", {"sip:gs-1@im.example.com;method=BYE"}, false, ReferToError::None, "",
       false, ""},
      {"bracketed URI + header param method is never the URI's", {"<sip:gs-1@im.example.com>;method=BYE"}, true,
       ReferToError::None, "", false, ""},
      {"unbracketed no params", {"sip:gs-1@im.example.com"}, true, ReferToError::None, "", false, ""},
      // §3.1 / E11: parsed, but not a REFER BYE (caller: add-participant or 403)
      {"no method (TC-B22)", {"<sip:gs-1@im.example.com>"}, true, ReferToError::None, "", false, ""},
      {"method=INVITE", {"<sip:gs-1@im.example.com;method=INVITE>"}, true, ReferToError::None, "INVITE", false, ""},
      {"method=OPTIONS", {"<sip:gs-1@im.example.com;method=OPTIONS>"}, true, ReferToError::None, "OPTIONS", false, ""},
      {"method=MESSAGE", {"<sip:gs-1@im.example.com;method=MESSAGE>"}, true, ReferToError::None, "MESSAGE", false, ""},
      {"method=SUBSCRIBE", {"<sip:gs-1@im.example.com;method=SUBSCRIBE>"}, true, ReferToError::None, "SUBSCRIBE", false,
       ""},
      {"lower-case bye", {"<sip:gs-1@im.example.com;method=bye>"}, true, ReferToError::None, "bye", false, ""},
      {"mixed-case Bye", {"<sip:gs-1@im.example.com;method=Bye>"}, true, ReferToError::None, "Bye", false, ""},
      {"escaped lower-case bye", {"<sip:gs-1@im.example.com;method=%62ye>"}, true, ReferToError::None, "bye", false, ""},
      {"unbracketed lower-case bye, lenient", {"sip:gs-1@im.example.com;method=bye"}, true, ReferToError::None, "bye",
       false, ""},
      {"BYES is not BYE", {"<sip:gs-1@im.example.com;method=BYES>"}, true, ReferToError::None, "BYES", false, ""},
      {"escaped ; in user part (TC-B23)", {"<sip:gs-1%3Bmethod%3DBYE@im.example.com>"}, true, ReferToError::None, "",
       false, ""},
      {"method in a URI header is not the method param", {"<sip:gs-1@im.example.com?method=BYE>"}, true,
       ReferToError::None, "", false, ""},
      {"someone's AoR (classified BYE; 403 by §3.3)", {"<sip:bob@example.com;method=BYE>"}, true, ReferToError::None,
       "BYE", true, ""},
      // §3.1 / E11: non-SIP schemes (TC-B24, TC-B26)
      {"http", {"<http://im.example.com/gs-1>"}, true, ReferToError::NotSip, "", false, ""},
      {"tel", {"<tel:+15551234>"}, true, ReferToError::NotSip, "", false, ""},
      {"tel unbracketed", {"tel:+15551234"}, true, ReferToError::NotSip, "", false, ""},
      {"cid (multiple-refer)", {"<cid:cn35t8jf02@example.com>"}, true, ReferToError::NotSip, "", false, ""},
      {"im", {"<im:alice@example.com;method=BYE>"}, true, ReferToError::NotSip, "", false, ""},
      // E9
      {"no value", {}, true, ReferToError::Missing, "", false, ""},
      // E10 (TC-B19)
      {"two header lines", {"<sip:a@x;method=BYE>", "<sip:b@y;method=BYE>"}, true, ReferToError::Several, "", false, ""},
      {"two identical header lines", {"<sip:a@x;method=BYE>", "<sip:a@x;method=BYE>"}, true, ReferToError::Several, "",
       false, ""},
      {"one line, two values", {"<sip:a@x;method=BYE>, <sip:b@y;method=BYE>"}, true, ReferToError::Several, "", false,
       ""},
      {"one line, two unbracketed values", {"sip:a@x, sip:b@y"}, true, ReferToError::Several, "", false, ""},
      {"one line, three values", {"<sip:a@x>,\"B\" <sip:b@y>,sip:c@z"}, true, ReferToError::Several, "", false, ""},
      {"comma inside <...> does not split", {"<sip:gs-1@im.example.com;method=BYE?h=a,b>"}, true, ReferToError::None,
       "BYE", true, ""},
      // E23 (unparsable)
      {"empty value", {""}, true, ReferToError::Unparsable, "", false, ""},
      {"blank value", {"   "}, true, ReferToError::Unparsable, "", false, ""},
      {"unterminated <", {"<sip:gs-1@im.example.com;method=BYE"}, true, ReferToError::Unparsable, "", false, ""},
      {"unterminated quote", {"\"Chat <sip:gs-1@im.example.com;method=BYE>"}, true, ReferToError::Unparsable, "", false,
       ""},
      {"no scheme", {"<gs-1@im.example.com;method=BYE>"}, true, ReferToError::Unparsable, "", false, ""},
      {"sip without host", {"<sip:;method=BYE>"}, true, ReferToError::Unparsable, "", false, ""},
      {"bad port", {"<sip:gs-1@im.example.com:99999;method=BYE>"}, true, ReferToError::Unparsable, "", false, ""},
      {"junk after URI", {"<sip:gs-1@im.example.com;method=BYE> junk"}, true, ReferToError::Unparsable, "", false, ""},
      {"white space inside URI", {"<sip:gs-1@im.example.com; method=BYE>"}, true, ReferToError::Unparsable, "", false,
       ""},
      {"trailing comma", {"<sip:gs-1@im.example.com;method=BYE>,"}, true, ReferToError::Unparsable, "", false, ""},
      {"empty method", {"<sip:gs-1@im.example.com;method=>"}, true, ReferToError::Unparsable, "", false, ""},
      {"method without value", {"<sip:gs-1@im.example.com;method>"}, true, ReferToError::Unparsable, "", false, ""},
      {"method not a token", {"<sip:gs-1@im.example.com;method=B%20YE>"}, true, ReferToError::Unparsable, "", false, ""},
      {"method twice", {"<sip:gs-1@im.example.com;method=BYE;method=INVITE>"}, true, ReferToError::Unparsable, "", false,
       ""},
      {"method twice, different case", {"<sip:gs-1@im.example.com;method=BYE;METHOD=BYE>"}, true,
       ReferToError::Unparsable, "", false, ""},
      {"unbracketed: method header param twice, lenient", {"sip:gs-1@im.example.com;method=BYE;method=BYE"}, true,
       ReferToError::Unparsable, "", false, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const auto r = parse_refer_to(c.values, c.lenient);
    EXPECT_EQ(r.error, c.error) << name(r.error) << " expected " << name(c.error);
    if (c.error != ReferToError::None) continue;
    EXPECT_EQ(r.target.method, c.method);
    EXPECT_EQ(r.target.is_bye, c.is_bye);
    EXPECT_EQ(r.target.display_name, c.display);
  }
}

TEST(ReferTo, CompactHeaderName) {
  for (const char* n : {"Refer-To", "refer-to", "REFER-TO", "r", "R", " r "}) EXPECT_TRUE(is_refer_to_header_name(n)) << n;
  for (const char* n : {"", "Refer", "Referred-By", "rt", "Refer-Sub", "Refer_To"})
    EXPECT_FALSE(is_refer_to_header_name(n)) << n;
}

TEST(ReferTo, TargetDetails) {
  auto r = parse_refer_to({"\"Team chat\" <sip:gs-1@im.example.com;method=%42YE?Reason=SIP%3Bcause%3D200>;x=1"}, true);
  ASSERT_EQ(r.error, ReferToError::None);
  EXPECT_EQ(r.target.method, "BYE");
  EXPECT_EQ(r.target.method_raw, "%42YE");
  EXPECT_TRUE(r.target.bracketed);
  EXPECT_EQ(r.target.uri.scheme, "sip");
  EXPECT_EQ(r.target.uri.user, "gs-1");
  EXPECT_EQ(r.target.uri.host, "im.example.com");
  // URI headers are kept for inspection ...
  ASSERT_EQ(r.target.uri.headers.size(), 1u);
  EXPECT_EQ(r.target.uri.headers[0].first, "Reason");
  ASSERT_EQ(r.target.header_params.size(), 1u);
  EXPECT_EQ(r.target.header_params[0].first, "x");
  // ... and dropped, together with `method`, from the session identity (§3.3).
  const auto s = refer_session_uri(r.target);
  EXPECT_TRUE(s.headers.empty());
  EXPECT_FALSE(param(s, "method"));
  EXPECT_EQ(to_string(s), "sip:gs-1@im.example.com");
  const auto identity = parse_uri("sip:gs-1@im.example.com");
  ASSERT_TRUE(identity);
  EXPECT_TRUE(same_session_uri(r.target.uri, *identity));
  EXPECT_TRUE(same_session_uri(s, *identity));

  // Other URI parameters survive in the session identity.
  r = parse_refer_to({"<sip:gs-1@im.example.com;transport=tcp;METHOD=BYE;lr?X-Test=evil&Subject=x>"}, true);
  ASSERT_EQ(r.error, ReferToError::None);
  EXPECT_EQ(to_string(refer_session_uri(r.target)), "sip:gs-1@im.example.com;transport=tcp;lr");

  // Lenient unbracketed form: the method moves into the URI, other header params stay header params.
  r = parse_refer_to({"sip:gs-1@im.example.com;foo=1;Method=BYE"}, true);
  ASSERT_EQ(r.error, ReferToError::None);
  EXPECT_FALSE(r.target.bracketed);
  EXPECT_EQ(param(r.target.uri, "method"), "BYE");
  ASSERT_EQ(r.target.header_params.size(), 1u);
  EXPECT_EQ(r.target.header_params[0].first, "foo");
  EXPECT_EQ(to_string(refer_session_uri(r.target)), "sip:gs-1@im.example.com");

  // Strict: it stays a header parameter and the URI has no method.
  r = parse_refer_to({"sip:gs-1@im.example.com;method=BYE"}, false);
  ASSERT_EQ(r.error, ReferToError::None);
  EXPECT_FALSE(param(r.target.uri, "method"));
  ASSERT_EQ(r.target.header_params.size(), 1u);
  EXPECT_EQ(r.target.header_params[0].second, "BYE");

  // Escaped ';' stays in the user part: no method, and the user is not gs-1 (TC-B23).
  r = parse_refer_to({"<sip:gs-1%3Bmethod%3DBYE@im.example.com>"}, true);
  ASSERT_EQ(r.error, ReferToError::None);
  EXPECT_TRUE(r.target.method.empty());
  EXPECT_FALSE(same_session_uri(r.target.uri, *identity));

  // NotSip still reports the target, so the caller can tell a cid: list REFER apart (E24).
  r = parse_refer_to({"<cid:cn35t8jf02@example.com>"}, true);
  ASSERT_EQ(r.error, ReferToError::NotSip);
  EXPECT_EQ(r.target.uri.scheme, "cid");
  EXPECT_FALSE(r.target.is_bye);
}

TEST(ReferTo, GarbageNeverCrashes) {
  const std::string valid = "\"Team, \\\"chat\\\"\" <sip:gs-1@im.example.com;method=%42YE?h=a,b&x=y>;p=\"q;v\"";
  for (size_t n = 0; n <= valid.size(); ++n) {
    (void)parse_refer_to({valid.substr(0, n)}, true);
    (void)parse_refer_to({valid.substr(0, n)}, false);
  }
  std::mt19937 rng(4242);
  const std::string alphabet = "\"\\<>,;=?&%42sip:method=BYE@x ";
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const size_t len = rng() % 80;
    for (size_t k = 0; k < len; ++k) s.push_back(i % 4 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()]);
    const auto r = parse_refer_to({s}, i % 2 == 0);
    if (r.error == ReferToError::None) {
      EXPECT_EQ(r.target.is_bye, r.target.method == "BYE") << s;
    }
  }
}

}  // namespace
