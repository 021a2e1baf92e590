#pragma once

#include "policy/session_kind.hpp"

namespace imserver::policy {

struct ReleaseRules {
  int min_participants_adhoc = 2;       // knob release.min_participants (rule R1)
  int min_participants_predefined = 0;  // rule R4: predefined groups only release when empty
  bool on_initiator_leave = false;      // knob release.on_initiator_leave (rule R2, AD_HOC only)
};

// The roster as it is AFTER the leaver was removed.
struct RosterAfterDeparture {
  SessionKind kind = SessionKind::AdHoc;
  int participating_users = 0;  // users with at least one CONNECTED endpoint
  int pending_users = 0;        // users whose only endpoints are pending (dial-out ringing/joining); they count for R1
  bool initiator_left = false;  // the departure that triggered evaluation was the initiator's last endpoint
};

enum class ReleaseReason { None, Empty, InitiatorLeft, BelowMinimum };

// Evaluates R3 (Empty), R2 (InitiatorLeft), R1/R4 (BelowMinimum) in that
// order; the first rule that fires is returned, None if none fires.
ReleaseReason evaluate_release(const ReleaseRules& rules, const RosterAfterDeparture& roster);

// Stable lower-case token for logs/CDRs: "none", "empty", "initiator_left", "below_minimum".
const char* to_string(ReleaseReason reason);

}  // namespace imserver::policy
