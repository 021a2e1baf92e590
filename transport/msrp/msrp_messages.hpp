#pragma once
// The typed boundary between session actors and the MSRP worker, like
// sip/sip_messages.hpp for SIP: plain data, no libre, no CAF. A session
// registers a leg once the participant's INVITE dialog is confirmed and
// releases it when the participant leaves (PROTOCOL.md §1.7); the worker
// reports legs that failed (congestion, timeout, MSRP errors) so the
// session can remove the participant.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace imserver::transport {

// Everything the MSRP switch needs to know about one participant leg.
struct MsrpLeg {
  std::string leg_id;       // session-id of the focus's path (unique per leg)
  std::string group;        // the session identity: CPIM To of a regular message
  std::string local_uri;    // the focus's a=path URI for this leg
  std::vector<std::string> remote_path;  // the participant's a=path list
  std::string aor;          // the participant's canonical AoR (CPIM From check)
  std::vector<std::string> aliases;  // other identities of the participant (the AoR need not be repeated)
  std::vector<std::string> accept_types, accept_wrapped_types;
  std::optional<uint64_t> max_size;  // a=max-size of the participant
  bool private_messages = false;     // a=chatroom:...private-messages
  bool may_send = true;              // the participant may send payloads (it did not offer recvonly)
  bool may_receive = true;           // the focus may send to it (it did not offer sendonly)
  // The focus is the active side (SESSIONS.md §7.3: the participant answered
  // or offered a=setup:passive, or is an RFC 4975-only answerer): the worker
  // connects to the first URI of remote_path and binds the leg with a
  // bodiless SEND instead of waiting for the participant to connect.
  bool connect_out = false;
  // Echoed in MsrpLegFailed so the report reaches the owning session.
  std::string owner;
  uint64_t dialog = 0;
};

struct MsrpAddLeg {
  MsrpLeg leg;
};

// PROTOCOL.md §1.7: later requests to the leg's path get 481, queued copies
// are dropped, and the TCP connection closes unless another leg uses it.
struct MsrpReleaseLeg {
  std::string leg_id;
};

// Every leg of an INVITE dialog the peer ended with BYE (from the SIP
// worker, ahead of the BYE's 200); the session's own release follows later
// and finds nothing left to do.
struct MsrpReleaseDialog {
  uint64_t dialog = 0;
};

using MsrpCommand = std::variant<MsrpAddLeg, MsrpReleaseLeg, MsrpReleaseDialog>;

// A leg the switch gave up on; it is already released.
struct MsrpLegFailed {
  std::string owner;
  uint64_t dialog = 0;
  std::string leg_id;
  std::string reason;  // "MSRP congestion", "MSRP timeout", "MSRP failure"
};

class MsrpCommandSink {
 public:
  virtual ~MsrpCommandSink() = default;
  virtual void post(std::vector<MsrpCommand> commands) = 0;
};

class MsrpEventSink {
 public:
  virtual ~MsrpEventSink() = default;
  virtual void on_leg_failed(MsrpLegFailed event) = 0;
};

}  // namespace imserver::transport
