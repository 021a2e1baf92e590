#pragma once
// The directory: first stop for every request and dialog event from the SIP
// workers. It classifies the Request-URI (SESSIONS.md §1.1), creates ad-hoc
// sessions at the factory URI, and routes everything else to the session
// actor that owns the identity or dialog. It watches its sessions: one that
// dies is unregistered and its dialogs are hung up, the server carries on.

#include <caf/all.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actors/session/session_config.hpp"
#include "policy/digest.hpp"
#include "policy/groups.hpp"
#include "policy/trust.hpp"
#include "transport/msrp/msrp_messages.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::actors {

struct DirectoryConfig {
  session::SessionConfig session;
  std::vector<std::string> factory_aors;  // canonical AoRs of adhoc.factory_uris
  std::vector<std::string> served_hosts;  // lower-case: session.domain plus our own address
  policy::TrustedPeers trusted;
  std::shared_ptr<const policy::DigestConfig> digest;  // auth.digest_* (null or !enabled: Digest off)
  bool sequential_identities = false;     // session.identity_mode=sequential
  uint32_t answer_delay_ms = 0;           // test.answer_delay_ms
  bool test_hooks = false;                // test.hooks
  size_t notifiers = 2;                   // notifier actors sharing the NOTIFY fan-out
  std::vector<policy::Group> groups;      // group.file at start-up (GroupsLoaded replaces them)
};

// Spawns the directory and its notifiers (config.notifiers of them, which
// the directory ends when it exits); *notifiers_out, when given, gets their
// handles for ActorEventSink::set_directory.
caf::actor spawn_directory(caf::actor_system& sys, DirectoryConfig config, transport::CommandSink* sink,
                           transport::MsrpCommandSink* msrp = nullptr,
                           std::vector<caf::actor>* notifiers_out = nullptr);

// Bridges the SIP worker's callbacks into the directory's mailbox.
class ActorEventSink final : public transport::SipEventSink, public transport::MsrpEventSink {
 public:
  // Before the workers deliver anything (they read these unlocked).
  // Events owned by a notifier go to it directly, the rest to the directory.
  void set_directory(caf::actor directory, std::vector<caf::actor> notifiers = {});
  void on_request(transport::InboundRequest request) override;
  void on_dialog_event(transport::DialogEvent event) override;
  void on_dial_event(transport::DialEvent event) override;
  void on_leg_failed(transport::MsrpLegFailed event) override;

 private:
  caf::actor directory_;
  std::vector<caf::actor> notifiers_;
};

}  // namespace imserver::actors
