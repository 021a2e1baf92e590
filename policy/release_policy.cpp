#include "policy/release_policy.hpp"

namespace imserver::policy {

ReleaseReason evaluate_release(const ReleaseRules& rules, const RosterAfterDeparture& roster) {
  // Pending users (dial-out still ringing/joining) count as present: releasing
  // a session while someone is about to answer would drop that call (R1 note).
  const int present = roster.participating_users + roster.pending_users;

  // R3: an empty session is always released, whatever its kind or knobs.
  // `<= 0` rather than `== 0` so corrupt negative counts fail towards release
  // instead of leaving a zombie session behind.
  if (present <= 0) return ReleaseReason::Empty;

  if (roster.kind == SessionKind::AdHoc) {
    // R2: only ad-hoc sessions are "owned" by their initiator; predefined
    // groups outlive any single member.
    if (rules.on_initiator_leave && roster.initiator_left) return ReleaseReason::InitiatorLeft;
    // R1: an ad-hoc conference with too few users is pointless. A minimum of
    // 0 or 1 can never fire here because present >= 1 past R3.
    if (present < rules.min_participants_adhoc) return ReleaseReason::BelowMinimum;
    return ReleaseReason::None;
  }

  // R4: predefined groups use their own minimum (default 0 -> only R3 applies).
  if (present < rules.min_participants_predefined) return ReleaseReason::BelowMinimum;
  return ReleaseReason::None;
}

const char* to_string(ReleaseReason reason) {
  switch (reason) {
    case ReleaseReason::None: return "none";
    case ReleaseReason::Empty: return "empty";
    case ReleaseReason::InitiatorLeft: return "initiator_left";
    case ReleaseReason::BelowMinimum: return "below_minimum";
  }
  return "unknown";  // unreachable for valid enumerators; keeps -Wreturn-type quiet
}

}  // namespace imserver::policy
