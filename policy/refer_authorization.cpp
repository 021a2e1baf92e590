#include "policy/refer_authorization.hpp"

namespace imserver::policy {

ReferByeDecision authorize_refer_bye(const ReferByeFacts& f) {
  // Seed order: identity (step 1), then the session and the originator's
  // participation (step 2b). The eject checks come last so an outsider
  // learns nothing about who is in the session.
  if (!f.originator_identified) return ReferByeDecision::NoIdentity;
  if (!f.session_active) return ReferByeDecision::NoSuchSession;
  if (!f.originator_participates) return ReferByeDecision::NotParticipant;
  if (f.targets_self) return ReferByeDecision::RemoveOriginator;
  if (!f.targets_other_user || !f.allow_remove_others) return ReferByeDecision::NotASession;
  if (!f.originator_is_host) return ReferByeDecision::NotHost;
  if (!f.target_participates) return ReferByeDecision::TargetNotParticipant;
  return ReferByeDecision::RemoveTarget;
}

const char* to_string(ReferByeDecision d) {
  switch (d) {
    case ReferByeDecision::RemoveOriginator: return "remove_originator";
    case ReferByeDecision::RemoveTarget: return "remove_target";
    case ReferByeDecision::NoIdentity: return "no_identity";
    case ReferByeDecision::NoSuchSession: return "no_such_session";
    case ReferByeDecision::NotParticipant: return "not_participant";
    case ReferByeDecision::NotASession: return "not_a_session";
    case ReferByeDecision::NotHost: return "not_host";
    case ReferByeDecision::TargetNotParticipant: return "target_not_participant";
  }
  return "unknown";
}

}  // namespace imserver::policy
