#pragma once
// Everything a session's logic is configured with, as plain data, so the
// state machine can be built in a unit test without the server around it.

#include <cstdint>
#include <string>
#include <vector>

#include "actors/session/conference_config.hpp"
#include "policy/join_policy.hpp"
#include "policy/release_policy.hpp"
#include "transport/codec/sdp_msrp.hpp"

namespace imserver::session {

struct SessionConfig {
  std::string domain = "localhost";               // session.domain
  policy::ReleaseRules release;                   // release.*
  policy::AdhocJoinPolicy join_policy = policy::AdhocJoinPolicy::Invited;  // join.adhoc_policy
  int max_participants = 100;                     // session.max_participants
  uint16_t full_response = 486;                   // join.full_response
  bool replace_same_contact = true;               // join.same_contact=replace
  std::vector<std::string> local_domains;         // auth.local_domains (lower-case)
  codec::MsrpAnswerConfig msrp;                   // msrp.*, sdp.*
  ConferenceConfig conf;                          // conf.*
};

// Methods this server implements today; Allow lists exactly these.
inline constexpr const char* kAllow = "INVITE, ACK, CANCEL, BYE, OPTIONS, SUBSCRIBE";
// Event packages this server notifies (RFC 6665 §8.2.2).
inline constexpr const char* kAllowEvents = "conference";

}  // namespace imserver::session
