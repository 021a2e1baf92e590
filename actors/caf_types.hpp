#pragma once
// Message types the actors exchange. They stay inside one process for now,
// so they are allowed without serializers; the cluster issue replaces this
// with inspect() overloads and a type-ID block.

#include <caf/all.hpp>

#include <vector>

#include "actors/session/conference_events.hpp"
#include "policy/groups.hpp"
#include "transport/msrp/msrp_messages.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::actors {

// Commands a session holds back on purpose (the test hook that delays join
// answers so CANCEL and early BYE can be exercised on the wire).
struct HeldCommands {
  std::vector<transport::Command> commands;
};

// The groups file was (re)loaded (SIGHUP): later requests see these groups;
// running sessions keep what they started with (SESSIONS.md §3.1).
struct GroupsLoaded {
  std::vector<policy::Group> groups;
};

// A notifier's timer: expiries and rate-limited NOTIFYs are due.
using TickAtom = caf::atom_constant<caf::atom("tick")>;
// A session tells the directory it is done (released, every BYE answered).
using FinishedAtom = caf::atom_constant<caf::atom("finished")>;

}  // namespace imserver::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::transport::InboundRequest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::transport::DialogEvent)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::transport::DialEvent)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::transport::MsrpLegFailed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::actors::HeldCommands)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::actors::GroupsLoaded)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::session::RosterUpdate)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::session::AuthorizedSubscribe)
