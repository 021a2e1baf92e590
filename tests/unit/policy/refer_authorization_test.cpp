#include "policy/refer_authorization.hpp"

#include <gtest/gtest.h>

namespace {

using imserver::policy::authorize_refer_bye;
using imserver::policy::ReferByeDecision;
using imserver::policy::ReferByeFacts;
using D = ReferByeDecision;

struct Case {
  const char* name;
  bool identified, active, participates, self, other, knob, host, target_in;
  ReferByeDecision expected;
};

// clang-format off
const Case kCases[] = {
  // Seed self-removal (B1, B2b).
  {"self_ok",                      true,  true,  true,  true,  false, false, false, false, D::RemoveOriginator},
  {"self_no_identity",             false, true,  true,  true,  false, false, false, false, D::NoIdentity},
  {"self_session_gone",            true,  false, true,  true,  false, false, false, false, D::NoSuchSession},
  {"self_not_participant",         true,  true,  false, true,  false, false, false, false, D::NotParticipant},
  {"identity_checked_first",       false, false, false, true,  false, false, false, false, D::NoIdentity},
  {"host_self_needs_no_rights",    true,  true,  true,  true,  false, true,  false, false, D::RemoveOriginator},
  // Someone else's AoR (E14, §3.8).
  {"other_knob_off",               true,  true,  true,  false, true,  false, true,  true,  D::NotASession},
  {"other_knob_on_host",           true,  true,  true,  false, true,  true,  true,  true,  D::RemoveTarget},
  {"other_knob_on_member",         true,  true,  true,  false, true,  true,  false, true,  D::NotHost},
  {"other_target_absent",          true,  true,  true,  false, true,  true,  true,  false, D::TargetNotParticipant},
  {"other_by_outsider",            true,  true,  false, false, true,  true,  true,  true,  D::NotParticipant},
  {"neither_session_nor_user",     true,  true,  true,  false, false, true,  true,  true,  D::NotASession},
};
// clang-format on

TEST(ReferAuthorization, Table) {
  for (const auto& c : kCases) {
    ReferByeFacts f;
    f.originator_identified = c.identified;
    f.session_active = c.active;
    f.originator_participates = c.participates;
    f.targets_self = c.self;
    f.targets_other_user = c.other;
    f.allow_remove_others = c.knob;
    f.originator_is_host = c.host;
    f.target_participates = c.target_in;
    EXPECT_EQ(authorize_refer_bye(f), c.expected) << c.name << ": got " << to_string(authorize_refer_bye(f));
  }
}

}  // namespace
