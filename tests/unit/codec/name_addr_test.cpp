#include "transport/codec/name_addr.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace {

using imserver::codec::header_param;
using imserver::codec::NameAddr;
using imserver::codec::parse_name_addr;
using imserver::codec::parse_name_addr_list;

TEST(NameAddr, Forms) {
  struct Case {
    const char* in;
    const char* display;
    const char* uri;
    bool bracketed;
    size_t nparams;
  };
  const Case cases[] = {
      {"\"Alice\" <sip:a@x>;tag=1", "Alice", "sip:a@x", true, 1},
      {"<sip:a@x>", "", "sip:a@x", true, 0},
      {"  <sip:a@x;lr>  ", "", "sip:a@x;lr", true, 0},
      {"Alice Smith <sip:a@x>;tag=1;isfocus", "Alice Smith", "sip:a@x", true, 2},
      {"\"Smith, Alice\" <sip:a@x>", "Smith, Alice", "sip:a@x", true, 0},
      {"\"Say \\\"hi\\\" \\\\ bye\" <sip:a@x>", "Say \"hi\" \\ bye", "sip:a@x", true, 0},
      {"\"\" <sip:a@x>", "", "sip:a@x", true, 0},
      {"\"Team chat\" <sip:gs-1@im.example.com;method=BYE>", "Team chat", "sip:gs-1@im.example.com;method=BYE", true, 0},
      {"<sip:gs-1@im.example.com;method=BYE?Reason=SIP%3Bcause%3D200>", "",
       "sip:gs-1@im.example.com;method=BYE?Reason=SIP%3Bcause%3D200", true, 0},
      // addr-spec form: params after the URI belong to the header (RFC 3261 §20.10)
      {"sip:a@x;tag=1", "", "sip:a@x", false, 1},
      {"sip:gs-1@im.example.com;method=BYE", "", "sip:gs-1@im.example.com", false, 1},
      {"tel:+15551234", "", "tel:+15551234", false, 0},
      {"<tel:+1-555-1234;phone-context=x>", "", "tel:+1-555-1234;phone-context=x", true, 0},
      {"<sip:gs-1@im.example.com>;isfocus;+g.oma.sip-im", "", "sip:gs-1@im.example.com", true, 2},
      {"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>", "", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", true, 0},
  };
  for (const auto& c : cases) {
    const auto na = parse_name_addr(c.in);
    ASSERT_TRUE(na) << c.in;
    EXPECT_EQ(na->display_name, c.display) << c.in;
    EXPECT_EQ(na->uri, c.uri) << c.in;
    EXPECT_EQ(na->bracketed, c.bracketed) << c.in;
    EXPECT_EQ(na->params.size(), c.nparams) << c.in;
  }
}

TEST(NameAddr, HeaderParams) {
  const auto na = parse_name_addr(
      "<sip:a@x>; TAG = abc ;isfocus;+sip.instance=\"<urn:uuid:1;x>\";received=[2001:db8::1];expires=60");
  ASSERT_TRUE(na);
  EXPECT_EQ(header_param(*na, "tag"), "abc");
  EXPECT_EQ(header_param(*na, "IsFocus"), "");
  EXPECT_EQ(header_param(*na, "+sip.instance"), "<urn:uuid:1;x>");
  EXPECT_EQ(header_param(*na, "received"), "[2001:db8::1]");
  EXPECT_EQ(header_param(*na, "expires"), "60");
  EXPECT_FALSE(header_param(*na, "method"));
  EXPECT_EQ(na->params[0].first, "TAG");

  const auto unbr = parse_name_addr("sip:gs-1@im.example.com;METHOD=BYE");
  ASSERT_TRUE(unbr);
  EXPECT_EQ(header_param(*unbr, "method"), "BYE");
}

TEST(NameAddr, Lists) {
  auto l = parse_name_addr_list("<tel:+15551234>, <sip:alice@example.com>");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].uri, "tel:+15551234");
  EXPECT_EQ((*l)[1].uri, "sip:alice@example.com");

  l = parse_name_addr_list("\"Smith, Alice\" <sip:a@x>;p=\"a,b\" ,\"Bob\"<sip:b@y>,sip:c@z;tag=1");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 3u);
  EXPECT_EQ((*l)[0].display_name, "Smith, Alice");
  EXPECT_EQ(header_param((*l)[0], "p"), "a,b");
  EXPECT_EQ((*l)[1].display_name, "Bob");
  EXPECT_EQ((*l)[1].uri, "sip:b@y");
  EXPECT_EQ((*l)[2].uri, "sip:c@z");
  EXPECT_EQ(header_param((*l)[2], "tag"), "1");

  // Commas inside <...> do not split (PROTOCOL.md §3.2); the URI itself is then checked by parse_uri.
  l = parse_name_addr_list("<sip:a@x;method=BYE>, <sip:b@y;method=BYE>");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->size(), 2u);
  l = parse_name_addr_list("<sip:a@x?h=a,b>");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->size(), 1u);

  l = parse_name_addr_list("<sip:a@x>");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->size(), 1u);
}

TEST(NameAddr, RejectsMalformed) {
  const char* bad[] = {
      "",
      "   ",
      "<sip:a@x",                 // unterminated
      "\"Alice <sip:a@x>",        // unterminated quote
      "\"Alice\" sip:a@x",        // quoted display name needs <>
      "<>",
      "<sip:>",
      "<alice@example.com>",      // no scheme
      "<sip:a@x> junk",
      "<sip:a@x>;",
      "<sip:a@x>;=1",
      "<sip:a@x>;tag=",
      "<sip:a@x>;tag=\"open",
      "Al<ice <sip:a@x>",
      "sip:a@x;tag=1 junk",
      "sip:a@x y",
  };
  for (const char* s : bad) EXPECT_FALSE(parse_name_addr(s)) << s;

  const char* bad_lists[] = {
      "", ",", "<sip:a@x>,", ",<sip:a@x>", "<sip:a@x>,,<sip:b@y>", "<sip:a@x>, garbage", "\"a,b <sip:a@x>",
      "<sip:a@x>, \"x\\",
  };
  for (const char* s : bad_lists) EXPECT_FALSE(parse_name_addr_list(s)) << s;
}

TEST(NameAddr, GarbageNeverCrashes) {
  const std::string valid = "\"Smith, \\\"Al\\\"\" <sip:a%41@x:5060;lr>;tag=\"q;v\";x, <tel:+1>, sip:b@y;p=1";
  for (size_t n = 0; n <= valid.size(); ++n) {
    (void)parse_name_addr(valid.substr(0, n));
    (void)parse_name_addr_list(valid.substr(0, n));
  }
  const std::string fixed[] = {
      "\"", "\\", "\"\\", "<", ">", "<<>>", "\"\"\"", ";;;", "<sip:a@b>;\"", std::string(100000, '"'),
      std::string(100000, '<'), std::string(100000, ','), std::string("<sip:a@b>\0;x", 12),
  };
  for (const auto& s : fixed) {
    (void)parse_name_addr(s);
    (void)parse_name_addr_list(s);
  }
  std::mt19937 rng(777);
  const std::string alphabet = "\"\\<>,;=sip:a@x ";
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const size_t len = rng() % 80;
    for (size_t k = 0; k < len; ++k) s.push_back(i % 4 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()]);
    (void)parse_name_addr(s);
    (void)parse_name_addr_list(s);
  }
}

}  // namespace
