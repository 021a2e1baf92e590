#include "policy/trust.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using imserver::policy::TrustedPeers;

TEST(TrustedPeers, ParseValidNormalizes) {
  struct {
    const char* csv;
    const char* normalized;
  } const table[] = {
      {"", ""},
      {"   ", ""},
      {"127.0.0.0/8,::1/128", "127.0.0.0/8,::1/128"},
      {"10.0.0.1", "10.0.0.1/32"},
      {"::1", "::1/128"},
      {"  10.0.0.0/8 ,\t192.168.1.0/24  ", "10.0.0.0/8,192.168.1.0/24"},
      {"10.1.2.3/8", "10.0.0.0/8"},                      // host bits cleared
      {"192.168.1.255/23", "192.168.0.0/23"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"1.2.3.4/32", "1.2.3.4/32"},
      {"::/0", "::/0"},
      {"2001:DB8:0:0::1/32", "2001:db8::/32"},
      {"2001:db8::1/128", "2001:db8::1/128"},
      {"2001:db8:ffff::/33", "2001:db8:8000::/33"},
      {"[::1]", "::1/128"},                              // brackets tolerated
      {"[2001:db8::]/32", "2001:db8::/32"},
      {"::ffff:10.0.0.0/104", "10.0.0.0/8"},             // mapped entries become IPv4
      {"::ffff:1.2.3.4", "1.2.3.4/32"},
      {"::ffff:0:0/96", "0.0.0.0/0"},                    // the whole mapped space = all IPv4
      {"::ffff:0:0/80", "::/80"},                        // wider than the mapped space stays IPv6
      {"10.0.0.0/008", "10.0.0.0/8"},
  };
  for (const auto& row : table) {
    SCOPED_TRACE(row.csv);
    std::string error = "untouched";
    const auto peers = TrustedPeers::parse(row.csv, &error);
    ASSERT_TRUE(peers.has_value());
    EXPECT_EQ(peers->to_string(), row.normalized);
    EXPECT_EQ(error, "untouched");
  }
}

TEST(TrustedPeers, ParseInvalid) {
  struct {
    const char* csv;
    const char* item_in_message;
  } const table[] = {
      {"10.0.0.0/33", "'10.0.0.0/33'"},
      {"::1/129", "'::1/129'"},
      {"abc", "'abc'"},
      {"1.2.3.4/", "'1.2.3.4/'"},
      {"/8", "'/8'"},
      {"1.2.3.4/-1", "'1.2.3.4/-1'"},
      {"1.2.3.4/+8", "'1.2.3.4/+8'"},
      {"1.2.3.4/8x", "'1.2.3.4/8x'"},
      {"1.2.3.4/8/8", "'1.2.3.4/8/8'"},
      {"1.2.3.4/ 8", "'1.2.3.4/ 8'"},
      {"1.2.3.4/1000", "'1.2.3.4/1000'"},
      {"1.2.3", "'1.2.3'"},
      {"256.0.0.1", "'256.0.0.1'"},
      {"1.2.3.4.5", "'1.2.3.4.5'"},
      {"::1::2", "'::1::2'"},
      {"[::1", "'[::1'"},
      {"10.0.0.0/8,bogus,::1", "'bogus'"},
      {"127.0.0.0/8 ::1/128", "'127.0.0.0/8 ::1/128'"},
      {"10.0.0.0/8,", "empty item"},
      {",10.0.0.0/8", "empty item"},
      {"10.0.0.0/8,,::1", "empty item"},
      {"10.0.0.0/8, ,::1", "empty item"},
  };
  for (const auto& row : table) {
    SCOPED_TRACE(row.csv);
    std::string error;
    EXPECT_FALSE(TrustedPeers::parse(row.csv, &error).has_value());
    EXPECT_NE(error.find(row.item_in_message), std::string::npos) << "error was: " << error;
  }
}

TEST(TrustedPeers, ParseInvalidWithoutErrorPointer) {
  EXPECT_FALSE(TrustedPeers::parse("10.0.0.0/33").has_value());
}

TEST(TrustedPeers, PrefixRangeMessageNamesLimit) {
  std::string error;
  ASSERT_FALSE(TrustedPeers::parse("10.0.0.0/33", &error).has_value());
  EXPECT_NE(error.find("0..32"), std::string::npos) << error;
  ASSERT_FALSE(TrustedPeers::parse("::/129", &error).has_value());
  EXPECT_NE(error.find("0..128"), std::string::npos) << error;
}

struct ContainsCase {
  const char* list;
  const char* ip;
  bool expected;
};

// clang-format off
const ContainsCase kContains[] = {
  // Default knob.
  {"127.0.0.0/8,::1/128", "127.0.0.1",          true},
  {"127.0.0.0/8,::1/128", "127.255.255.255",    true},
  {"127.0.0.0/8,::1/128", "128.0.0.1",          false},
  {"127.0.0.0/8,::1/128", "126.255.255.255",    false},
  {"127.0.0.0/8,::1/128", "::1",                true},
  {"127.0.0.0/8,::1/128", "[::1]",              true},
  {"127.0.0.0/8,::1/128", " ::1 ",              true},
  {"127.0.0.0/8,::1/128", "::2",                false},
  {"127.0.0.0/8,::1/128", "::ffff:127.0.0.1",   true},   // mapped matches IPv4 entry
  {"127.0.0.0/8,::1/128", "[::ffff:127.0.0.1]", true},
  {"127.0.0.0/8,::1/128", "::ffff:7f00:1",      true},   // same address, hex form
  {"127.0.0.0/8,::1/128", "::ffff:10.0.0.1",    false},
  {"127.0.0.0/8,::1/128", "::127.0.0.1",        false},  // IPv4-compatible is not mapped
  {"127.0.0.0/8,::1/128", "64:ff9b::127.0.0.1", false},
  // Unparsable input never matches.
  {"0.0.0.0/0,::/0",      "",                   false},
  {"0.0.0.0/0,::/0",      "localhost",          false},
  {"0.0.0.0/0,::/0",      "127.0.0.1:5060",     false},
  {"0.0.0.0/0,::/0",      "[::1]:5060",         false},
  {"0.0.0.0/0,::/0",      "[::1",               false},
  {"0.0.0.0/0,::/0",      "1.2.3",              false},
  {"0.0.0.0/0,::/0",      "10.0.0.0/8",         false},
  // Empty list: nobody trusted.
  {"",                    "127.0.0.1",          false},
  {"",                    "::1",                false},
  // IPv4 boundaries, non-octet prefix.
  {"192.168.0.0/23",      "192.168.0.0",        true},
  {"192.168.0.0/23",      "192.168.1.255",      true},
  {"192.168.0.0/23",      "192.168.2.0",        false},
  {"192.168.0.0/23",      "192.167.255.255",    false},
  {"10.0.0.1",            "10.0.0.1",           true},
  {"10.0.0.1",            "10.0.0.2",           false},
  {"10.0.0.1/31",         "10.0.0.0",           true},
  {"0.0.0.0/0",           "203.0.113.9",        true},
  {"0.0.0.0/0",           "::ffff:203.0.113.9", true},
  {"0.0.0.0/0",           "2001:db8::1",        false},  // IPv4 entries never match real IPv6
  // IPv6 boundaries.
  {"2001:db8::/32",       "2001:db8::1",        true},
  {"2001:db8::/32",       "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true},
  {"2001:db8::/32",       "2001:db9::",         false},
  {"2001:db8::/32",       "2001:db7:ffff::",    false},
  {"2001:db8::/33",       "2001:db8:7fff::1",   true},
  {"2001:db8::/33",       "2001:db8:8000::1",   false},
  {"2001:DB8::/32",       "2001:DB8::ABCD",     true},
  {"::/0",                "fe80::1",            true},
  {"::/0",                "10.0.0.1",           false},  // IPv6 entries never match plain IPv4
  {"::/0",                "::ffff:10.0.0.1",    true},   // ...but a mapped address is IPv6 text
  {"fe80::/10",           "febf::1",            true},
  {"fe80::/10",           "fec0::1",            false},
  // Mapped entries (normalized to IPv4) match plain and mapped sources.
  {"::ffff:10.0.0.0/104", "10.20.30.40",        true},
  {"::ffff:10.0.0.0/104", "::ffff:10.20.30.40", true},
  {"::ffff:10.0.0.0/104", "11.0.0.1",           false},
  // Multiple entries.
  {"10.0.0.0/8, 2001:db8::/32 ,192.168.1.1", "192.168.1.1", true},
  {"10.0.0.0/8, 2001:db8::/32 ,192.168.1.1", "192.168.1.2", false},
  {"10.0.0.0/8, 2001:db8::/32 ,192.168.1.1", "2001:db8::5", true},
};
// clang-format on

TEST(TrustedPeers, ContainsTable) {
  for (const ContainsCase& c : kContains) {
    SCOPED_TRACE(std::string("list=") + c.list + " ip=" + c.ip);
    const auto peers = TrustedPeers::parse(c.list);
    ASSERT_TRUE(peers.has_value());
    EXPECT_EQ(peers->contains(c.ip), c.expected);
  }
}

}  // namespace
