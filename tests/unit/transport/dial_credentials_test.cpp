// dialout.credentials parsing and the Digest answer to a challenge
// (SESSIONS.md §9.2, E85), as plain functions.

#include "transport/sip/dial_credentials.hpp"
#include "transport/sip/digest_auth.hpp"

#include <gtest/gtest.h>

namespace imserver::transport {
namespace {

TEST(ParseDialCredentials, EmptyValueIsEmptyList) {
  auto none = parse_dial_credentials("");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  auto blank = parse_dial_credentials("  ");
  ASSERT_TRUE(blank.has_value());
  EXPECT_TRUE(blank->empty());
}

TEST(ParseDialCredentials, OneAndSeveralEntries) {
  auto one = parse_dial_credentials("example.com:imserver:pw");
  ASSERT_TRUE(one.has_value());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].realm, "example.com");
  EXPECT_EQ((*one)[0].username, "imserver");
  EXPECT_EQ((*one)[0].password, "pw");

  auto two = parse_dial_credentials("example.com:imserver:pw, sip.example.net:gs:s3cr:et");
  ASSERT_TRUE(two.has_value());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].realm, "sip.example.net");
  EXPECT_EQ((*two)[1].username, "gs");
  EXPECT_EQ((*two)[1].password, "s3cr:et") << "the password is the rest of the entry";
}

TEST(ParseDialCredentials, EmptyPasswordIsAllowed) {
  auto c = parse_dial_credentials("example.com:imserver:");
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].password, "");
}

TEST(ParseDialCredentials, MalformedEntriesAreRefused) {
  EXPECT_FALSE(parse_dial_credentials("example.com").has_value());
  EXPECT_FALSE(parse_dial_credentials("example.com:imserver").has_value());
  EXPECT_FALSE(parse_dial_credentials(":imserver:pw").has_value());
  EXPECT_FALSE(parse_dial_credentials("example.com::pw").has_value());
  EXPECT_FALSE(parse_dial_credentials("example.com:imserver:pw,").has_value()) << "empty last entry";
  EXPECT_FALSE(parse_dial_credentials("a.com:u:p,,b.com:u:p").has_value()) << "empty middle entry";
  EXPECT_FALSE(parse_dial_credentials("a.com:u:p,b.com").has_value()) << "one bad entry spoils the list";
  EXPECT_FALSE(parse_dial_credentials("a.com:u:p,a.com:v:q").has_value()) << "a realm twice";
}

TEST(DigestAuth, Md5Hex) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
}

TEST(DigestAuth, ParsesChallenges) {
  auto ch = parse_digest_challenge(
      "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
  ASSERT_TRUE(ch.has_value());
  EXPECT_EQ(ch->realm, "testrealm@host.com");
  EXPECT_EQ(ch->nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
  EXPECT_EQ(ch->qop, "auth,auth-int");
  EXPECT_EQ(ch->opaque, "5ccc069c403ebaf9f0171e9517f40e41");
  EXPECT_EQ(ch->algorithm, "");

  auto esc = parse_digest_challenge("digest REALM=\"a \\\"b\\\"\", nonce=\"n,1\", algorithm=md5");
  ASSERT_TRUE(esc.has_value());
  EXPECT_EQ(esc->realm, "a \"b\"") << "quoted-pairs undone";
  EXPECT_EQ(esc->nonce, "n,1");
  EXPECT_EQ(esc->algorithm, "md5");

  EXPECT_FALSE(parse_digest_challenge("Basic realm=\"x\"").has_value());
  EXPECT_FALSE(parse_digest_challenge("Digest realm=\"x\"").has_value()) << "no nonce";
}

// RFC 2617 §3.5's example, with qop=auth.
TEST(DigestAuth, Rfc2617Example) {
  auto ch = parse_digest_challenge(
      "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
  ASSERT_TRUE(ch.has_value());
  auto v = digest_credentials(*ch, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v,
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
            "uri=\"/dir/index.html\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, "
            "cnonce=\"0a4f113b\", qop=auth, nc=00000001, opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
}

// Without qop: RFC 2069's response = MD5(HA1:nonce:HA2), no cnonce/nc.
TEST(DigestAuth, Rfc2069FormWithoutQop) {
  DigestChallenge ch;
  ch.realm = "example.com";
  ch.nonce = "abc";
  auto v = digest_credentials(ch, "INVITE", "sip:bob@example.com", "imserver", "pw", "ignored", 1);
  ASSERT_TRUE(v.has_value());
  const std::string ha1 = md5_hex("imserver:example.com:pw");
  const std::string ha2 = md5_hex("INVITE:sip:bob@example.com");
  EXPECT_EQ(*v, "Digest username=\"imserver\", realm=\"example.com\", nonce=\"abc\", uri=\"sip:bob@example.com\", "
                "response=\"" + md5_hex(ha1 + ":abc:" + ha2) + "\", algorithm=MD5");
}

TEST(DigestAuth, UnanswerableChallenges) {
  DigestChallenge ch;
  ch.realm = "example.com";
  ch.nonce = "abc";
  ch.algorithm = "SHA-256";
  EXPECT_FALSE(digest_credentials(ch, "INVITE", "sip:b@x", "u", "p", "c", 1).has_value());
  ch.algorithm = "MD5-sess";
  EXPECT_FALSE(digest_credentials(ch, "INVITE", "sip:b@x", "u", "p", "c", 1).has_value());
  ch.algorithm = "MD5";
  ch.qop = "auth-int";
  EXPECT_FALSE(digest_credentials(ch, "INVITE", "sip:b@x", "u", "p", "c", 1).has_value());
  ch.qop = "auth-int, auth";
  EXPECT_TRUE(digest_credentials(ch, "INVITE", "sip:b@x", "u", "p", "c", 1).has_value());
}

}  // namespace
}  // namespace imserver::transport
