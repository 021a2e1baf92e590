#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/session_kind.hpp"

namespace imserver::policy {

enum class AdhocJoinPolicy { Invited, Domain, Anyone };  // knob join.adhoc_policy

// Accepts exactly "invited" | "domain" | "anyone" (lower-case); anything else -> nullopt.
std::optional<AdhocJoinPolicy> parse_adhoc_join_policy(std::string_view text);

// Inverse of parse_adhoc_join_policy().
const char* to_string(AdhocJoinPolicy policy);

struct JoinRequestFacts {
  SessionKind kind = SessionKind::AdHoc;
  AdhocJoinPolicy adhoc_policy = AdhocJoinPolicy::Invited;
  std::string user_aor;                    // canonical AoR, e.g. "sip:bob@example.com" or "tel:+15551234"
  std::vector<std::string> allowed_list;   // canonical AoRs: creator, invitees, anyone who joined before (rejoin allowed)
  std::vector<std::string> group_members;  // PREDEFINED only
  bool group_allows_non_members = false;   // PREDEFINED only
  std::vector<std::string> local_domains;  // for Domain policy (lower-case hosts)
  bool already_in_roster = false;          // the user already participates (another device) -> not a new user
  bool locked = false;
  int current_users = 0;                   // users CONNECTED + pending
  int max_participants = 100;              // knob session.max_participants
};

enum class JoinDecision { Allow, NotAuthorized, Locked, Full };

// Checks in SESSIONS.md §4.1 order: authorization (J-d) -> locked (J-e) -> full (J-f).
JoinDecision decide_join(const JoinRequestFacts& facts);

// Text for the Warning header of the rejection; "" for Allow.
const char* warning_text(JoinDecision decision);

}  // namespace imserver::policy
