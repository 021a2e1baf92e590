#include "transport/codec/sip_uri.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace {

using imserver::codec::canonical_aor;
using imserver::codec::param;
using imserver::codec::parse_uri;
using imserver::codec::percent_decode;
using imserver::codec::same_session_uri;
using imserver::codec::to_string;
using imserver::codec::Uri;

TEST(SipUri, ParsesAllComponents) {
  const auto u = parse_uri("SIP:alice:secret@Example.COM:5070;transport=tcp;lr?Subject=hi&Priority=urgent");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "sip");
  EXPECT_EQ(u->user, "alice");
  EXPECT_EQ(u->password, "secret");
  EXPECT_EQ(u->host, "Example.COM");
  ASSERT_TRUE(u->port);
  EXPECT_EQ(*u->port, 5070);
  ASSERT_EQ(u->params.size(), 2u);
  EXPECT_EQ(u->params[0], (std::pair<std::string, std::string>{"transport", "tcp"}));
  EXPECT_EQ(u->params[1], (std::pair<std::string, std::string>{"lr", ""}));
  ASSERT_EQ(u->headers.size(), 2u);
  EXPECT_EQ(u->headers[0], (std::pair<std::string, std::string>{"Subject", "hi"}));
  EXPECT_EQ(u->headers[1], (std::pair<std::string, std::string>{"Priority", "urgent"}));
}

TEST(SipUri, HostOnlyAndIpv6) {
  auto u = parse_uri("sips:im.example.com");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "sips");
  EXPECT_EQ(u->user, "");
  EXPECT_EQ(u->host, "im.example.com");
  EXPECT_FALSE(u->port);

  u = parse_uri("sip:bob@[2001:DB8::1]:5061;maddr=x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "[2001:DB8::1]");
  EXPECT_EQ(u->port, 5061);
  EXPECT_EQ(param(*u, "maddr"), "x");
}

TEST(SipUri, UserMayContainSemicolon) {
  // RFC 3261 §19.1.1 user-unreserved includes ';': the '@' ends the user part.
  const auto u = parse_uri("sip:alice;day=tuesday@atlanta.com;transport=udp");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->user, "alice;day=tuesday");
  EXPECT_EQ(u->host, "atlanta.com");
  EXPECT_EQ(param(*u, "transport"), "udp");
}

TEST(SipUri, EscapedSemicolonInUserIsNotAParameter) {
  // PROTOCOL.md §3.2: <sip:gs-1%3Bmethod%3DBYE@im.example.com> has no method parameter.
  const auto u = parse_uri("sip:gs-1%3Bmethod%3DBYE@im.example.com");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->user, "gs-1%3Bmethod%3DBYE");
  EXPECT_FALSE(param(*u, "method"));
  EXPECT_EQ(percent_decode(u->user), "gs-1;method=BYE");
}

TEST(SipUri, MethodParamLookupIsCaseInsensitiveButValueIsNot) {
  const auto u = parse_uri("sip:gs-1@im.example.com;METHOD=BYE");
  ASSERT_TRUE(u);
  EXPECT_EQ(param(*u, "method"), "BYE");
  const auto l = parse_uri("sip:gs-1@im.example.com;method=bye");
  ASSERT_TRUE(l);
  EXPECT_EQ(param(*l, "Method"), "bye");  // RFC 3261 §25.1: method names are case-sensitive; caller decides
  const auto e = parse_uri("sip:gs-1@im.example.com;method=%42YE");
  ASSERT_TRUE(e);
  EXPECT_EQ(percent_decode(*param(*e, "method")), "BYE");
}

TEST(SipUri, TelAndOtherSchemes) {
  auto u = parse_uri("tel:+1-201-555-0123;phone-context=example.com");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "tel");
  EXPECT_EQ(u->user, "+1-201-555-0123");
  EXPECT_EQ(param(*u, "phone-context"), "example.com");
  EXPECT_EQ(u->host, "");

  u = parse_uri("IM:gs-1@im.example.com");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "im");
  EXPECT_EQ(u->opaque, "gs-1@im.example.com");

  u = parse_uri("http://example.com/x?y=1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->opaque, "//example.com/x?y=1");
}

TEST(SipUri, PercentDecode) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"%42YE", "BYE"}, {"a%2fb%2Fc", "a/b/c"}, {"%", "%"},     {"%4", "%4"},
      {"%zz1", "%zz1"}, {"100%", "100%"},       {"%%41", "%A"}, {"", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(percent_decode(c.in), c.out) << c.in;
}

TEST(SipUri, RejectsInvalid) {
  const char* bad[] = {
      "",
      "   ",
      "alice@example.com",          // no scheme
      ":alice@example.com",         // empty scheme
      "1sip:a@b",                   // scheme must start with a letter
      "sip:",                       // no host
      "sip:alice@",                 // no host
      "sips:@example.com",          // empty user
      "sip:alice@example.com:",     // empty port
      "sip:alice@example.com:99999",
      "sip:alice@example.com:5x",
      "sip:alice@[::1",             // unterminated IPv6 reference
      "sip:alice@[::1]x",
      "sip:alice@exa mple.com",     // white space inside
      "sip:alice@example.com;=x",   // parameter without a name
      "sip:<alice@example.com>",
      "sip:a@b\r\nVia: x",
      "tel:",
      "tel:;phone-context=x",
  };
  for (const char* s : bad) EXPECT_FALSE(parse_uri(s)) << s;
}

TEST(SipUri, CanonicalAor) {
  struct Case {
    const char* in;
    const char* aor;
  };
  const Case cases[] = {
      {"sip:alice@Example.COM:5060;transport=tcp?Subject=x", "sip:alice@example.com"},
      {"sips:alice@example.com", "sips:alice@example.com"},
      {"sip:%61lice@example.com", "sip:alice@example.com"},
      {"sip:Alice@example.com", "sip:Alice@example.com"},  // user stays case-sensitive
      {"sip:+15551234@h;user=phone", "tel:+15551234"},
      {"sip:+1-555-1234@h.example.com;USER=Phone", "tel:+15551234"},
      {"sip:+1(555)123.4;phone-context=x@h;user=phone", "tel:+15551234"},
      {"sip:+15551234@h", "sip:+15551234@h"},  // no user=phone: stays a SIP AoR
      {"tel:+15551234", "tel:+15551234"},
      {"tel:+1-555-(123).4;phone-context=x", "tel:+15551234"},
      {"sip:im.example.com", "sip:im.example.com"},
      {"im:alice@example.com", "im:alice@example.com"},
  };
  for (const auto& c : cases) {
    const auto u = parse_uri(c.in);
    ASSERT_TRUE(u) << c.in;
    EXPECT_EQ(canonical_aor(*u), c.aor) << c.in;
  }
  EXPECT_EQ(canonical_aor(*parse_uri("sip:+15551234@h;user=phone")), canonical_aor(*parse_uri("tel:+15551234")));
}

TEST(SipUri, SameSessionUri) {
  struct Case {
    const char* a;
    const char* b;
    bool equal;
  };
  const Case cases[] = {
      {"sip:gs-1@im.example.com", "sip:gs-1@im.example.com", true},
      // method and URI headers are ignored (PROTOCOL.md §0.3 item 3)
      {"sip:gs-1@im.example.com;method=BYE", "sip:gs-1@im.example.com", true},
      {"sip:gs-1@im.example.com;METHOD=BYE", "sip:gs-1@im.example.com", true},
      {"sip:gs-1@im.example.com;method=BYE?Reason=SIP%3Bcause%3D200", "sip:gs-1@im.example.com", true},
      {"sip:gs-1@im.example.com?Subject=x", "sip:gs-1@im.example.com?Subject=y", true},
      // sip and sips are different schemes
      {"sips:gs-1@im.example.com", "sip:gs-1@im.example.com", false},
      // host is case-insensitive, user is case-sensitive but compared after decoding
      {"sip:gs-1@IM.Example.Com", "sip:gs-1@im.example.com", true},
      {"sip:GS-1@im.example.com", "sip:gs-1@im.example.com", false},
      {"sip:%67s-1@im.example.com", "sip:gs-1@im.example.com", true},
      {"sip:gs-1%3Bmethod%3DBYE@im.example.com", "sip:gs-1@im.example.com", false},
      // ports: absent is not the default port
      {"sip:gs-1@im.example.com:5060", "sip:gs-1@im.example.com", false},
      {"sip:gs-1@im.example.com:5060", "sip:gs-1@im.example.com:5060", true},
      {"sip:gs-1@im.example.com:5061", "sip:gs-1@im.example.com:5060", false},
      // RFC 3261 §19.1.4 parameter rules
      {"sip:gs-1@im.example.com;transport=tcp", "sip:gs-1@im.example.com", true},
      {"sip:gs-1@im.example.com;transport=TCP", "sip:gs-1@im.example.com;Transport=tcp", true},
      {"sip:gs-1@im.example.com;transport=tcp", "sip:gs-1@im.example.com;transport=udp", false},
      {"sip:gs-1@im.example.com;user=ip", "sip:gs-1@im.example.com", false},
      {"sip:gs-1@im.example.com;ttl=1", "sip:gs-1@im.example.com", false},
      {"sip:gs-1@im.example.com;maddr=1.2.3.4", "sip:gs-1@im.example.com", false},
      {"sip:gs-1@im.example.com;foo=bar", "sip:gs-1@im.example.com;baz", true},
      {"sip:gs-1@im.example.com", "sip:gs-2@im.example.com", false},
      {"sip:gs-1@im.example.com", "sip:im.example.com", false},
      {"sip:a:pw@h", "sip:a@h", false},
      // tel and other schemes
      {"tel:+1-555-1234", "tel:+15551234", true},
      {"tel:+15551234", "sip:+15551234@h;user=phone", false},
      {"im:gs-1@im.example.com", "im:gs-1@im.example.com", true},
  };
  for (const auto& c : cases) {
    const auto a = parse_uri(c.a);
    const auto b = parse_uri(c.b);
    ASSERT_TRUE(a) << c.a;
    ASSERT_TRUE(b) << c.b;
    EXPECT_EQ(same_session_uri(*a, *b), c.equal) << c.a << " vs " << c.b;
    EXPECT_EQ(same_session_uri(*b, *a), c.equal) << c.b << " vs " << c.a << " (symmetry)";
  }
}

TEST(SipUri, ToStringRoundTrip) {
  const char* uris[] = {
      "sip:alice@example.com",
      "sips:alice:pw@Example.com:5061;transport=tcp;lr?Subject=hi&X=",
      "sip:[2001:db8::1]:5060",
      "sip:gs-1%3Bmethod%3DBYE@im.example.com",
      "tel:+1-555-1234;phone-context=example.com",
      "im:alice@example.com",
  };
  for (const char* s : uris) {
    const auto u = parse_uri(s);
    ASSERT_TRUE(u) << s;
    EXPECT_EQ(to_string(*u), s);
  }
  EXPECT_EQ(to_string(*parse_uri("SIP:a@h;lr=")), "sip:a@h;lr");
}

TEST(SipUri, GarbageNeverCrashes) {
  const std::string valid = "sips:al%41ce:pw@[2001:db8::1]:5061;transport=tls;method=BYE;lr?Subject=a%20b&h=1";
  for (size_t n = 0; n <= valid.size(); ++n) {
    const auto u = parse_uri(valid.substr(0, n));
    if (u) {
      (void)canonical_aor(*u);
      (void)to_string(*u);
      (void)same_session_uri(*u, *u);
    }
  }
  const std::string fixed[] = {
      "sip:@@@@", "sip:;;;;", "sip:a@b;;;?&&&", "sip:[]", "sip:[:]", "sip::", "tel:%", "sip:a@b:%35060",
      std::string(10000, '%'), "sip:" + std::string(100000, 'a'), "sip:a@" + std::string(50000, ';'),
      std::string("sip:a\0@b", 8),
  };
  for (const auto& s : fixed) {
    const auto u = parse_uri(s);
    if (u) (void)canonical_aor(*u);
  }
  std::mt19937 rng(12345);
  const std::string alphabet = "sip:@;=?&%[]<>\"0123456789abcdefABCDEF.-+ \t\r\n";
  for (int i = 0; i < 2000; ++i) {
    std::string s = (i % 2) ? "sip:" : "";
    const size_t len = rng() % 200;
    for (size_t k = 0; k < len; ++k) s.push_back(i % 5 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()]);
    const auto u = parse_uri(s);
    if (u) {
      (void)canonical_aor(*u);
      (void)same_session_uri(*u, *u);
      (void)to_string(*u);
    }
  }
}

}  // namespace
