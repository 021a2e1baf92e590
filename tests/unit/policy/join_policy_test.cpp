#include "policy/join_policy.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using imserver::policy::AdhocJoinPolicy;
using imserver::policy::decide_join;
using imserver::policy::JoinDecision;
using imserver::policy::JoinRequestFacts;
using imserver::policy::parse_adhoc_join_policy;
using imserver::policy::SessionKind;
using imserver::policy::warning_text;

constexpr SessionKind A = SessionKind::AdHoc;
constexpr SessionKind P = SessionKind::Predefined;
constexpr AdhocJoinPolicy INV = AdhocJoinPolicy::Invited;
constexpr AdhocJoinPolicy DOM = AdhocJoinPolicy::Domain;
constexpr AdhocJoinPolicy ANY = AdhocJoinPolicy::Anyone;
constexpr JoinDecision ALLOW = JoinDecision::Allow;
constexpr JoinDecision NOAUTH = JoinDecision::NotAuthorized;
constexpr JoinDecision LOCKED = JoinDecision::Locked;
constexpr JoinDecision FULL = JoinDecision::Full;

const std::vector<std::string> kAllowed = {"sip:alice@example.com", "sip:bob@example.com", "tel:+15551234"};
const std::vector<std::string> kMembers = {"sip:carol@example.com", "tel:+15550100"};
const std::vector<std::string> kDomains = {"example.com", "corp.example.net"};

struct Case {
  const char* name;
  SessionKind kind;
  AdhocJoinPolicy policy;
  const char* user;
  bool allows_non_members;
  bool in_roster;
  bool locked;
  int current;
  int max;
  JoinDecision expected;
};

// clang-format off
const Case kCases[] = {
  // J-d AdHoc + Invited: exact match against allowed_list.
  {"invited_listed",                 A, INV, "sip:bob@example.com",      false, false, false, 1, 100, ALLOW},
  {"invited_tel_listed",             A, INV, "tel:+15551234",            false, false, false, 1, 100, ALLOW},
  {"invited_not_listed",             A, INV, "sip:eve@example.com",      false, false, false, 1, 100, NOAUTH},
  {"invited_case_differs",           A, INV, "sip:Bob@example.com",      false, false, false, 1, 100, NOAUTH},
  {"invited_prefix_not_match",       A, INV, "sip:bob@example.co",       false, false, false, 1, 100, NOAUTH},
  {"invited_empty_user",             A, INV, "",                         false, false, false, 1, 100, NOAUTH},
  {"invited_in_roster_not_listed",   A, INV, "sip:eve@example.com",      false, true,  false, 1, 100, ALLOW},
  {"invited_ignores_group_members",  A, INV, "sip:carol@example.com",    false, false, false, 1, 100, NOAUTH},
  {"invited_ignores_non_members",    A, INV, "sip:eve@example.com",      true,  false, false, 1, 100, NOAUTH},
  // J-d AdHoc + Domain: host after last '@', case-insensitive; tel never.
  {"domain_local",                   A, DOM, "sip:eve@example.com",      false, false, false, 1, 100, ALLOW},
  {"domain_second_local",            A, DOM, "sip:eve@corp.example.net", false, false, false, 1, 100, ALLOW},
  {"domain_sips",                    A, DOM, "sips:eve@example.com",     false, false, false, 1, 100, ALLOW},
  {"domain_upper_case_host",         A, DOM, "sip:eve@EXAMPLE.Com",      false, false, false, 1, 100, ALLOW},
  {"domain_last_at_wins",            A, DOM, "sip:a@evil.org@example.com", false, false, false, 1, 100, ALLOW},
  {"domain_user_looks_local",        A, DOM, "sip:example.com@evil.org", false, false, false, 1, 100, NOAUTH},
  {"domain_foreign",                 A, DOM, "sip:eve@evil.org",         false, false, false, 1, 100, NOAUTH},
  {"domain_subdomain_not_local",     A, DOM, "sip:eve@sub.example.com",  false, false, false, 1, 100, NOAUTH},
  {"domain_suffix_not_local",        A, DOM, "sip:eve@badexample.com",   false, false, false, 1, 100, NOAUTH},
  {"domain_tel_no_domain",           A, DOM, "tel:+15551234",            false, false, false, 1, 100, NOAUTH},
  {"domain_no_at",                   A, DOM, "sip:example.com",          false, false, false, 1, 100, NOAUTH},
  {"domain_empty_host",              A, DOM, "sip:eve@",                 false, false, false, 1, 100, NOAUTH},
  {"domain_other_scheme",            A, DOM, "mailto:eve@example.com",   false, false, false, 1, 100, NOAUTH},
  {"domain_port_stripped",           A, DOM, "sip:eve@example.com:5060", false, false, false, 1, 100, ALLOW},
  {"domain_params_stripped",         A, DOM, "sip:eve@example.com;transport=tcp", false, false, false, 1, 100, ALLOW},
  {"domain_foreign_in_roster",       A, DOM, "sip:eve@evil.org",         false, true,  false, 1, 100, ALLOW},
  // J-d AdHoc + Anyone.
  {"anyone_foreign",                 A, ANY, "sip:eve@evil.org",         false, false, false, 1, 100, ALLOW},
  {"anyone_tel",                     A, ANY, "tel:+1999",                false, false, false, 1, 100, ALLOW},
  // J-d Predefined: members, or open group; the AdHoc policy is irrelevant.
  {"predef_member",                  P, INV, "sip:carol@example.com",    false, false, false, 1, 100, ALLOW},
  {"predef_member_tel",              P, INV, "tel:+15550100",            false, false, false, 1, 100, ALLOW},
  {"predef_non_member",              P, INV, "sip:eve@example.com",      false, false, false, 1, 100, NOAUTH},
  {"predef_allowed_list_irrelevant", P, INV, "sip:alice@example.com",    false, false, false, 1, 100, NOAUTH},
  {"predef_anyone_policy_ignored",   P, ANY, "sip:eve@example.com",      false, false, false, 1, 100, NOAUTH},
  {"predef_domain_policy_ignored",   P, DOM, "sip:eve@example.com",      false, false, false, 1, 100, NOAUTH},
  {"predef_open_group",              P, INV, "sip:eve@evil.org",         true,  false, false, 1, 100, ALLOW},
  {"predef_non_member_in_roster",    P, INV, "sip:eve@evil.org",         false, true,  false, 1, 100, ALLOW},
  // J-e Locked: only new users; checked after authorization.
  {"locked_new_user",                A, INV, "sip:bob@example.com",      false, false, true,  1, 100, LOCKED},
  {"locked_in_roster_device",        A, INV, "sip:bob@example.com",      false, true,  true,  1, 100, ALLOW},
  {"locked_unauthorized_first",      A, INV, "sip:eve@example.com",      false, false, true,  1, 100, NOAUTH},
  {"locked_predef_member",           P, INV, "sip:carol@example.com",    false, false, true,  1, 100, LOCKED},
  // J-f Full: only a new user that would exceed max; boundaries.
  {"full_n_minus_1_allowed",         A, INV, "sip:bob@example.com",      false, false, false, 9, 10,  ALLOW},
  {"full_exactly_max",               A, INV, "sip:bob@example.com",      false, false, false, 10, 10, FULL},
  {"full_above_max",                 A, INV, "sip:bob@example.com",      false, false, false, 11, 10, FULL},
  {"full_in_roster_device",          A, INV, "sip:bob@example.com",      false, true,  false, 10, 10, ALLOW},
  {"full_max_one_empty",             A, ANY, "sip:x@y",                  false, false, false, 0, 1,   ALLOW},
  {"full_max_one_taken",             A, ANY, "sip:x@y",                  false, false, false, 1, 1,   FULL},
  {"full_max_zero",                  A, ANY, "sip:x@y",                  false, false, false, 0, 0,   FULL},
  {"full_unauthorized_first",        A, INV, "sip:eve@example.com",      false, false, false, 10, 10, NOAUTH},
  {"full_locked_first",              A, INV, "sip:bob@example.com",      false, false, true,  10, 10, LOCKED},
  {"full_predef",                    P, INV, "sip:carol@example.com",    false, false, false, 10, 10, FULL},
  {"full_int_max_no_overflow",       A, ANY, "sip:x@y",                  false, false, false, 2147483647, 2147483647, FULL},
};
// clang-format on

TEST(JoinPolicy, Table) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    JoinRequestFacts f;
    f.kind = c.kind;
    f.adhoc_policy = c.policy;
    f.user_aor = c.user;
    f.allowed_list = kAllowed;
    f.group_members = kMembers;
    f.group_allows_non_members = c.allows_non_members;
    f.local_domains = kDomains;
    f.already_in_roster = c.in_roster;
    f.locked = c.locked;
    f.current_users = c.current;
    f.max_participants = c.max;
    EXPECT_EQ(decide_join(f), c.expected);
  }
}

TEST(JoinPolicy, Defaults) {
  // Default facts: AdHoc, Invited, empty allowed list -> nobody gets in.
  JoinRequestFacts f;
  EXPECT_EQ(f.max_participants, 100);
  EXPECT_EQ(f.adhoc_policy, INV);
  f.user_aor = "sip:alice@example.com";
  EXPECT_EQ(decide_join(f), NOAUTH);
  f.allowed_list = {"sip:alice@example.com"};
  EXPECT_EQ(decide_join(f), ALLOW);
}

TEST(JoinPolicy, DomainWithEmptyLocalDomains) {
  JoinRequestFacts f;
  f.adhoc_policy = DOM;
  f.user_aor = "sip:eve@example.com";
  EXPECT_EQ(decide_join(f), NOAUTH);
}

TEST(JoinPolicy, ParseAdhocJoinPolicy) {
  struct {
    const char* text;
    bool ok;
    AdhocJoinPolicy value;
  } const table[] = {
      {"invited", true, INV},  {"domain", true, DOM},  {"anyone", true, ANY},
      {"Invited", false, INV}, {"ANYONE", false, INV}, {" domain", false, INV},
      {"domain ", false, INV}, {"", false, INV},       {"any", false, INV},
      {"invitedx", false, INV},
  };
  for (const auto& row : table) {
    SCOPED_TRACE(row.text);
    const auto parsed = parse_adhoc_join_policy(row.text);
    ASSERT_EQ(parsed.has_value(), row.ok);
    if (row.ok) {
      EXPECT_EQ(*parsed, row.value);
    }
  }
}

TEST(JoinPolicy, ToStringRoundTrips) {
  for (AdhocJoinPolicy p : {INV, DOM, ANY}) {
    const auto parsed = parse_adhoc_join_policy(imserver::policy::to_string(p));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, p);
  }
  EXPECT_STREQ(imserver::policy::to_string(INV), "invited");
  EXPECT_STREQ(imserver::policy::to_string(DOM), "domain");
  EXPECT_STREQ(imserver::policy::to_string(ANY), "anyone");
}

TEST(JoinPolicy, WarningText) {
  struct {
    JoinDecision decision;
    const char* text;
  } const table[] = {
      {ALLOW, ""},
      {NOAUTH, "Not authorized to join"},
      {LOCKED, "Session locked"},
      {FULL, "Maximum number of participants reached"},
  };
  for (const auto& row : table) {
    EXPECT_STREQ(warning_text(row.decision), row.text);
  }
}

}  // namespace
