#pragma once
// Notifier actors: between the session actors and the SIP workers. A
// session hands its notifier roster changes and authorized SUBSCRIBEs; the
// notifier keeps each session's subscriptions (one ConferenceNotifier state
// machine per session), builds the NOTIFYs and posts them to the transport
// in one batch per message it handles. The subscription dialogs carry the
// notifier's owner tag, so refreshes and NOTIFY results come straight back
// here through the directory, without waking the session.

#include <caf/all.hpp>

#include <string>

#include "actors/session/conference_config.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::actors {

// "notify:<index>": the owner tag of notifier `index`'s dialogs.
std::string notifier_owner(size_t index);
// The index in an owner tag made by notifier_owner(), or -1.
long notifier_index(const std::string& owner);

caf::actor spawn_notifier(caf::actor_system& sys, session::ConferenceConfig conf, size_t index,
                          transport::CommandSink* sink);

}  // namespace imserver::actors
