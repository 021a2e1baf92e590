#include "policy/digest.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace imserver::policy;

// ------------------------------------------------------------ credentials

struct ParseCase {
  const char* name;
  const char* value;
  bool ok;
  DigestCredentials expected;
};

DigestCredentials creds(std::string username, std::string realm, std::string nonce, std::string uri,
                        std::string response, std::string qop = "", std::string nc = "", std::string cnonce = "",
                        std::string algorithm = "", std::string opaque = "") {
  return {username, realm, nonce, uri, response, qop, nc, cnonce, algorithm, opaque};
}

const ParseCase kParseCases[] = {
    {"quoted_all",
     "Digest username=\"alice\", realm=\"im.example.com\", nonce=\"abc\", uri=\"sip:gs-1@im.example.com\", "
     "response=\"0123\", qop=auth, nc=00000001, cnonce=\"xyz\", algorithm=MD5",
     true,
     creds("alice", "im.example.com", "abc", "sip:gs-1@im.example.com", "0123", "auth", "00000001", "xyz", "MD5")},
    {"scheme_and_names_case_insensitive",
     "dIgEsT USERNAME=\"bob\",Realm=\"r\",NONCE=\"n\",Uri=\"sip:x@y\",Response=\"r1\",QOP=\"auth\",NC=1,CNonce=c",
     true, creds("bob", "r", "n", "sip:x@y", "r1", "auth", "1", "c")},
    {"no_qop_rfc2069", "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"x\"", true,
     creds("u", "r", "n", "sip:a@b", "x")},
    {"extra_whitespace_and_commas",
     "  Digest   username = \"u\" ,, realm=\"r\" , nonce=\"n\",uri=\"sip:a@b\",response=\"x\" , opaque=\"o\"  ", true,
     creds("u", "r", "n", "sip:a@b", "x", "", "", "", "", "o")},
    {"escaped_quote_in_value",
     "Digest username=\"a\\\"b\", realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"x\"", true,
     creds("a\"b", "r", "n", "sip:a@b", "x")},
    {"comma_inside_quotes", "Digest username=\"u\", realm=\"a,b\", nonce=\"n\", uri=\"sip:a@b\", response=\"x\"",
     true, creds("u", "a,b", "n", "sip:a@b", "x")},
    {"unknown_parameter_ignored",
     "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"x\", userhash=false", true,
     creds("u", "r", "n", "sip:a@b", "x")},
    {"empty_realm_allowed", "Digest username=\"u\", realm=\"\", nonce=\"n\", uri=\"sip:a@b\", response=\"x\"", true,
     creds("u", "", "n", "sip:a@b", "x")},
    {"basic_scheme", "Basic dXNlcjpwYXNz", false, {}},
    {"no_parameters", "Digest", false, {}},
    {"scheme_glued", "Digestusername=\"u\"", false, {}},
    {"missing_username", "Digest realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"x\"", false, {}},
    {"missing_realm", "Digest username=\"u\", nonce=\"n\", uri=\"sip:a@b\", response=\"x\"", false, {}},
    {"missing_nonce", "Digest username=\"u\", realm=\"r\", uri=\"sip:a@b\", response=\"x\"", false, {}},
    {"missing_uri", "Digest username=\"u\", realm=\"r\", nonce=\"n\", response=\"x\"", false, {}},
    {"missing_response", "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a@b\"", false, {}},
    {"unterminated_quote", "Digest username=\"u, realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"x\"", false,
     {}},
    {"no_equals", "Digest username \"u\", realm=\"r\"", false, {}},
    {"garbage_after_value", "Digest username=\"u\" junk, realm=\"r\", nonce=\"n\", uri=\"s\", response=\"x\"", false,
     {}},
    {"empty_token_value", "Digest username=, realm=\"r\", nonce=\"n\", uri=\"s\", response=\"x\"", false, {}},
};

class DigestParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(DigestParseTest, Parses) {
  const auto& c = GetParam();
  auto got = parse_digest_credentials(c.value);
  ASSERT_EQ(got.has_value(), c.ok) << c.value;
  if (!got) return;
  EXPECT_EQ(got->username, c.expected.username);
  EXPECT_EQ(got->realm, c.expected.realm);
  EXPECT_EQ(got->nonce, c.expected.nonce);
  EXPECT_EQ(got->uri, c.expected.uri);
  EXPECT_EQ(got->response, c.expected.response);
  EXPECT_EQ(got->qop, c.expected.qop);
  EXPECT_EQ(got->nc, c.expected.nc);
  EXPECT_EQ(got->cnonce, c.expected.cnonce);
  EXPECT_EQ(got->algorithm, c.expected.algorithm);
  EXPECT_EQ(got->opaque, c.expected.opaque);
}

INSTANTIATE_TEST_SUITE_P(Table, DigestParseTest, ::testing::ValuesIn(kParseCases),
                         [](const auto& info) { return std::string(info.param.name); });

// ------------------------------------------------------------ hashes

TEST(DigestHash, Md5KnownValues) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
}

TEST(DigestHash, Ha1) {
  EXPECT_EQ(digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life"), "939e7578ed9e3c518a452acee763bce9");
  EXPECT_EQ(digest_ha1("alice", "im.example.com", "secret"), "c04d13061c9508d7ac7bf1232f360d8a");
}

// RFC 2617 §3.5 (qop=auth) and RFC 2069 §2.4 (no qop) examples.
TEST(DigestHash, ResponseWithQopAuth) {
  const auto ha1 = digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
  EXPECT_EQ(digest_response(ha1, "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth",
                            "00000001", "0a4f113b"),
            "6629fae49393a05397450978507c4ef1");
}

TEST(DigestHash, ResponseWithoutQop) {
  const auto ha1 = digest_ha1("Mufasa", "testrealm@host.com", "CircleOfLife");
  EXPECT_EQ(digest_response(ha1, "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "", "", ""),
            "1949323746fe6a43ef61f9606e7febea");
}

// ------------------------------------------------------------ nonces

struct NonceCase {
  const char* name;
  int64_t issued_s;
  int64_t now_s;
  int64_t lifetime_s;
  NonceCheck expected;
};

const NonceCase kNonceCases[] = {
    {"same_second", 1000, 1000, 300, NonceCheck::Fresh},
    {"within_lifetime", 1000, 1299, 300, NonceCheck::Fresh},
    {"at_lifetime", 1000, 1300, 300, NonceCheck::Fresh},
    {"past_lifetime", 1000, 1301, 300, NonceCheck::Stale},
    {"long_past", 1000, 100000, 300, NonceCheck::Stale},
    {"one_second_lifetime_after_two", 1000, 1002, 1, NonceCheck::Stale},
    {"clock_slack_one_second", 1001, 1000, 300, NonceCheck::Fresh},
    {"from_the_future", 1010, 1000, 300, NonceCheck::Invalid},
};

class NonceTest : public ::testing::TestWithParam<NonceCase> {};

TEST_P(NonceTest, Checks) {
  const auto& c = GetParam();
  const auto nonce = make_nonce("s3cret", c.issued_s);
  EXPECT_EQ(check_nonce(nonce, "s3cret", c.now_s, c.lifetime_s), c.expected) << nonce;
}

INSTANTIATE_TEST_SUITE_P(Table, NonceTest, ::testing::ValuesIn(kNonceCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Nonce, ShapeAndUniquenessPerSecond) {
  const auto a = make_nonce("k", 1700000000);
  EXPECT_EQ(a.size(), 48u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, make_nonce("k", 1700000001));
  EXPECT_NE(a, make_nonce("other", 1700000000));
}

TEST(Nonce, ForgeriesAreInvalid) {
  const auto good = make_nonce("k", 5000);
  EXPECT_EQ(check_nonce(good, "k", 5000, 300), NonceCheck::Fresh);
  EXPECT_EQ(check_nonce(good, "another-secret", 5000, 300), NonceCheck::Invalid);
  // A newer time with the old MAC.
  auto moved = good;
  moved[15] = moved[15] == '8' ? '9' : '8';
  EXPECT_EQ(check_nonce(moved, "k", 5000, 300), NonceCheck::Invalid);
  // A flipped MAC digit.
  auto flipped = good;
  flipped[47] = flipped[47] == 'a' ? 'b' : 'a';
  EXPECT_EQ(check_nonce(flipped, "k", 5000, 300), NonceCheck::Invalid);
  EXPECT_EQ(check_nonce("", "k", 5000, 300), NonceCheck::Invalid);
  EXPECT_EQ(check_nonce(good.substr(0, 47), "k", 5000, 300), NonceCheck::Invalid);
  EXPECT_EQ(check_nonce(good + "0", "k", 5000, 300), NonceCheck::Invalid);
  EXPECT_EQ(check_nonce(std::string(48, 'z'), "k", 5000, 300), NonceCheck::Invalid);
  // Upper-case hex of a genuine nonce is still ours.
  std::string upper = good;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_EQ(check_nonce(upper, "k", 5000, 300), NonceCheck::Fresh);
}

// ------------------------------------------------------------ users file

struct UsersCase {
  const char* name;
  const char* text;
  std::vector<DigestUser> users;
  const char* error_part;  // "" = no error
};

const char* kHa1 = "c04d13061c9508d7ac7bf1232f360d8a";

const UsersCase kUsersCases[] = {
    {"one_user", "alice:c04d13061c9508d7ac7bf1232f360d8a:sip:alice@example.com\n",
     {{"alice", kHa1, "sip:alice@example.com"}}, ""},
    {"comments_blank_lines_crlf_no_final_newline",
     "# users\r\n\r\n  \nalice:c04d13061c9508d7ac7bf1232f360d8a:sip:alice@example.com\r\n"
     "   # indented comment\nbob:00000000000000000000000000000000:sip:bob@example.com",
     {{"alice", kHa1, "sip:alice@example.com"}, {"bob", "00000000000000000000000000000000", "sip:bob@example.com"}},
     ""},
    {"aor_canonicalised", "alice:C04D13061C9508D7AC7BF1232F360D8A:SIP:alice@EXAMPLE.COM;transport=tcp",
     {{"alice", kHa1, "sip:alice@example.com"}}, ""},
    {"tel_aor", "carol:c04d13061c9508d7ac7bf1232f360d8a:tel:+15550100",
     {{"carol", kHa1, "tel:+15550100"}}, ""},
    {"empty_file", "", {}, ""},
    {"only_comments", "# nothing\n\n", {}, ""},
    {"no_colon", "# c\nalice\n", {}, "line 2"},
    {"one_colon", "alice:c04d13061c9508d7ac7bf1232f360d8a\n", {}, "line 1"},
    {"short_ha1", "alice:c04d13:sip:alice@example.com\n", {}, "line 1"},
    {"non_hex_ha1", "alice:z04d13061c9508d7ac7bf1232f360d8a:sip:alice@example.com\n", {}, "line 1"},
    {"empty_username", ":c04d13061c9508d7ac7bf1232f360d8a:sip:alice@example.com\n", {}, "line 1"},
    {"empty_aor", "alice:c04d13061c9508d7ac7bf1232f360d8a:\n", {}, "line 1"},
    {"bad_aor", "\n\nalice:c04d13061c9508d7ac7bf1232f360d8a:not a uri\n", {}, "line 3"},
    {"duplicate_user",
     "alice:c04d13061c9508d7ac7bf1232f360d8a:sip:alice@example.com\n"
     "alice:c04d13061c9508d7ac7bf1232f360d8a:sip:alice2@example.com\n",
     {}, "line 2"},
};

class DigestUsersTest : public ::testing::TestWithParam<UsersCase> {};

TEST_P(DigestUsersTest, Parses) {
  const auto& c = GetParam();
  auto got = parse_digest_users(c.text);
  if (*c.error_part) {
    EXPECT_NE(got.error.find(c.error_part), std::string::npos) << got.error;
    EXPECT_TRUE(got.users.empty());
    return;
  }
  EXPECT_EQ(got.error, "");
  ASSERT_EQ(got.users.size(), c.users.size());
  for (size_t i = 0; i < c.users.size(); ++i) {
    EXPECT_EQ(got.users[i].username, c.users[i].username);
    EXPECT_EQ(got.users[i].ha1, c.users[i].ha1);
    EXPECT_EQ(got.users[i].aor, c.users[i].aor);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, DigestUsersTest, ::testing::ValuesIn(kUsersCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
