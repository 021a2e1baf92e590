#include "policy/release_policy.hpp"

#include <gtest/gtest.h>

namespace {

using imserver::policy::evaluate_release;
using imserver::policy::ReleaseReason;
using imserver::policy::ReleaseRules;
using imserver::policy::RosterAfterDeparture;
using imserver::policy::SessionKind;

constexpr SessionKind A = SessionKind::AdHoc;
constexpr SessionKind P = SessionKind::Predefined;

struct Case {
  const char* name;
  int min_adhoc;
  int min_predef;
  bool on_initiator_leave;
  SessionKind kind;
  int participating;
  int pending;
  bool initiator_left;
  ReleaseReason expected;
};

// clang-format off
const Case kCases[] = {
  // R3: empty always releases, whatever the kind and knobs.
  {"adhoc_empty",                       2, 0, false, A, 0, 0, false, ReleaseReason::Empty},
  {"predef_empty",                      2, 0, false, P, 0, 0, false, ReleaseReason::Empty},
  {"adhoc_empty_min0",                  0, 0, false, A, 0, 0, false, ReleaseReason::Empty},
  {"empty_beats_initiator_left",        2, 0, true,  A, 0, 0, true,  ReleaseReason::Empty},
  {"predef_empty_min5",                 2, 5, false, P, 0, 0, false, ReleaseReason::Empty},
  // R2: initiator leaves (AdHoc only, knob on).
  {"initiator_left_knob_on",            2, 0, true,  A, 5, 0, true,  ReleaseReason::InitiatorLeft},
  {"initiator_left_knob_off",           2, 0, false, A, 5, 0, true,  ReleaseReason::None},
  {"knob_on_other_user_left",           2, 0, true,  A, 5, 0, false, ReleaseReason::None},
  {"initiator_left_predef_ignored",     2, 0, true,  P, 5, 0, true,  ReleaseReason::None},
  {"initiator_left_beats_below_min",    2, 0, true,  A, 1, 0, true,  ReleaseReason::InitiatorLeft},
  // R1: AdHoc minimum, boundaries N and N-1; pending users count.
  {"adhoc_one_left_min2",               2, 0, false, A, 1, 0, false, ReleaseReason::BelowMinimum},
  {"adhoc_exactly_min2",                2, 0, false, A, 2, 0, false, ReleaseReason::None},
  {"adhoc_pending_counts",              2, 0, false, A, 1, 1, false, ReleaseReason::None},
  {"adhoc_only_pending_min2",           2, 0, false, A, 0, 2, false, ReleaseReason::None},
  {"adhoc_single_pending_min2",         2, 0, false, A, 0, 1, false, ReleaseReason::BelowMinimum},
  {"adhoc_min3_n_minus_1",              3, 0, false, A, 2, 0, false, ReleaseReason::BelowMinimum},
  {"adhoc_min3_exactly",                3, 0, false, A, 2, 1, false, ReleaseReason::None},
  {"adhoc_min3_above",                  3, 0, false, A, 4, 0, false, ReleaseReason::None},
  {"adhoc_min1_single_user",            1, 0, false, A, 1, 0, false, ReleaseReason::None},
  {"adhoc_min0_single_user",            0, 0, false, A, 1, 0, false, ReleaseReason::None},
  {"adhoc_uses_adhoc_min_not_predef",   2, 5, false, A, 3, 0, false, ReleaseReason::None},
  // R4: predefined minimum (default 0: only Empty releases).
  {"predef_default_single_user",        2, 0, false, P, 1, 0, false, ReleaseReason::None},
  {"predef_min3_n_minus_1",             2, 3, false, P, 2, 0, false, ReleaseReason::BelowMinimum},
  {"predef_min3_exactly",               2, 3, false, P, 3, 0, false, ReleaseReason::None},
  {"predef_min3_pending_counts",        2, 3, false, P, 1, 2, false, ReleaseReason::None},
  {"predef_uses_predef_min_not_adhoc",  5, 0, false, P, 1, 0, false, ReleaseReason::None},
};
// clang-format on

TEST(ReleasePolicy, Table) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    ReleaseRules rules;
    rules.min_participants_adhoc = c.min_adhoc;
    rules.min_participants_predefined = c.min_predef;
    rules.on_initiator_leave = c.on_initiator_leave;
    RosterAfterDeparture roster;
    roster.kind = c.kind;
    roster.participating_users = c.participating;
    roster.pending_users = c.pending;
    roster.initiator_left = c.initiator_left;
    EXPECT_EQ(evaluate_release(rules, roster), c.expected);
  }
}

TEST(ReleasePolicy, Defaults) {
  const ReleaseRules rules;
  EXPECT_EQ(rules.min_participants_adhoc, 2);
  EXPECT_EQ(rules.min_participants_predefined, 0);
  EXPECT_FALSE(rules.on_initiator_leave);
  // Default-constructed roster is an empty AdHoc session.
  EXPECT_EQ(evaluate_release(rules, RosterAfterDeparture{}), ReleaseReason::Empty);
}

TEST(ReleasePolicy, ToString) {
  struct {
    ReleaseReason reason;
    const char* text;
  } const table[] = {
      {ReleaseReason::None, "none"},
      {ReleaseReason::Empty, "empty"},
      {ReleaseReason::InitiatorLeft, "initiator_left"},
      {ReleaseReason::BelowMinimum, "below_minimum"},
  };
  for (const auto& row : table) {
    EXPECT_STREQ(imserver::policy::to_string(row.reason), row.text);
  }
}

}  // namespace
