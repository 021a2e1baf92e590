#pragma once
// Who may remove whom with a REFER carrying method=BYE (PROTOCOL.md §3.3,
// §3.4 B1/B2b, §3.8): the seed's self-removal, and the optional RFC 4579
// eject by the session's initiator. A pure decision over facts the session
// gathered; every refusal is a 403 on the wire, the reason is for logs.

namespace imserver::policy {

struct ReferByeFacts {
  bool originator_identified = false;    // a usable Authenticated Originator (§1.5)
  bool session_active = false;           // exists and is not RELEASING/RELEASED
  bool originator_participates = false;  // at least one CONNECTED endpoint (§1.4)
  // Refer-To named the session identity, or (eject form) the originator's
  // own AoR: the seed's self-removal.
  bool targets_self = false;
  // Refer-To named a user's AoR other than the originator's.
  bool targets_other_user = false;
  bool allow_remove_others = false;      // knob refer.allow_remove_others
  bool originator_is_host = false;       // role initiator/host
  bool target_participates = false;      // only read for an eject
};

enum class ReferByeDecision {
  RemoveOriginator,        // self-removal (seed procedure 2)
  RemoveTarget,            // RFC 4579 §5.11 eject
  NoIdentity,              // B1
  NoSuchSession,           // B2b: unknown, released or releasing
  NotParticipant,          // B2b: the originator does not participate
  NotASession,             // Refer-To is neither the session nor (with the knob) a user
  NotHost,                 // eject asked by someone without the right
  TargetNotParticipant,    // eject of someone who is not in the session
};

ReferByeDecision authorize_refer_bye(const ReferByeFacts& facts);

// "remove_originator", "no_identity", ... for logs.
const char* to_string(ReferByeDecision decision);

}  // namespace imserver::policy
