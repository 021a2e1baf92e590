#pragma once
// Message types the actors exchange. They stay inside one process for now,
// so they are allowed without serializers; the cluster issue replaces this
// with inspect() overloads and a type-ID block.

#include <caf/all.hpp>

#include <vector>

#include "transport/sip/sip_messages.hpp"

namespace imserver::actors {

// Commands a session holds back on purpose (the test hook that delays join
// answers so CANCEL and early BYE can be exercised on the wire).
struct HeldCommands {
  std::vector<transport::Command> commands;
};

}  // namespace imserver::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::transport::InboundRequest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::transport::DialogEvent)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(imserver::actors::HeldCommands)
