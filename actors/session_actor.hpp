#pragma once
// The session actor: owns one GroupSession state machine, feeds it requests
// and dialog events, and hands the resulting commands to the SIP worker.
// All protocol logic lives in the state machine; this file is plumbing.

#include <caf/all.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/session/session_config.hpp"
#include "policy/digest.hpp"
#include "policy/groups.hpp"
#include "policy/identity.hpp"
#include "policy/trust.hpp"
#include "transport/codec/resource_list.hpp"
#include "transport/msrp/msrp_messages.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::actors {

struct SessionSpawn {
  session::SessionConfig config;
  std::string identity;
  policy::SessionKind kind = policy::SessionKind::AdHoc;
  uint64_t seed = 0;
  policy::TrustedPeers trusted;
  std::shared_ptr<const policy::DigestConfig> digest;  // null: Digest off
  uint32_t answer_delay_ms = 0;
  bool test_hooks = false;
  transport::InboundRequest creating_invite;
  policy::AssertedIdentity creator;
  caf::actor notifier;   // where roster changes and SUBSCRIBEs go
  caf::actor directory;  // told when the session is finished
  transport::MsrpCommandSink* msrp = nullptr;  // the MSRP worker (none in some tests)
  std::optional<policy::Group> group;          // PREDEFINED: the group it was started for
  // Whom to dial out to once the creator's 2xx is out (SESSIONS.md §2.4,
  // §3.2 G2): the list's invitees, or the group's other members.
  std::vector<codec::Invitee> invitees;
};

caf::actor spawn_session(caf::actor_system& sys, SessionSpawn spawn, transport::CommandSink* sink);

}  // namespace imserver::actors
