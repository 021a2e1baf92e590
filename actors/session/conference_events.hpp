#pragma once
// What a session tells its notifier (PROTOCOL.md §4, §5.4): roster changes
// and subscription decisions, as plain data. The session decides *what*
// happened and *who* may subscribe; the notifier decides *when* and *how* each
// subscriber hears about it (documents, versions, merging, rate limits).

#include <cstdint>
#include <string>
#include <vector>

#include "transport/sip/sip_messages.hpp"

namespace imserver::session {

// One endpoint as conference-info shows it (RFC 4575 §5.7). The pair
// (aor, entity) is the key; the same key arriving again replaces the record
// (dialing-out -> alerting -> connected, or -> disconnected failed/busy).
struct EndpointReport {
  std::string aor;                   // <user entity>
  std::string entity;                // <endpoint entity>: the Contact URI
  bool connected = true;             // false: disconnected (departed/booted)
  std::string joining_method;        // dialed-in
  std::string joining_when;          // UTC dateTime
  std::string disconnection_method;  // departed | booted
  std::string disconnection_when;
  std::string disconnection_by;      // AoR that caused a `booted`, if any
  std::string disconnection_reason;  // <reason>, e.g. when the MSRP leg failed
  // Present but not connected yet (SESSIONS.md §2.6): "dialing-out" or "alerting". Only meaningful with
  // connected == true; empty means really connected.
  std::string pending_status;
  std::string referred_by;   // <referred><by> (RFC 4575 §5.7.2), in every full rendering of the endpoint
  // The endpoint leaves the roster WITHOUT a disconnection report: a provisional dial-out endpoint
  // replaced by the real one, or superseded by a dial-in. Subscribers that were shown it get
  // <endpoint entity="..." state="deleted"/> in the next document; others hear nothing.
  bool withdrawn = false;
};

// The static part of the conference description (SESSIONS.md §2.6).
struct ConferenceDescription {
  std::string identity;
  std::string subject;
  uint32_t maximum_user_count = 0;
  bool locked = false;  // <conference-state><locked> (RFC 4575 §5.5.3)
};

// A batch of roster changes from one session step, plus the termination
// policy's decision for it (PROTOCOL.md §5.4).
struct RosterUpdate {
  ConferenceDescription description;
  std::vector<EndpointReport> changed;
  // Subscriptions of these subscriber AoRs end with this update's document
  // (the leaver's own subscriptions), with `terminate_reason`.
  std::vector<std::string> terminate_subscribers;
  std::string terminate_reason = "noresource";
  // The session is released: every subscription ends with noresource and
  // the final document (conf.release_final_body).
  bool released = false;
};

// An out-of-dialog SUBSCRIBE the session has authorized (SESSIONS.md §6.1
// S-a..S-h passed). The notifier answers it and sends the first NOTIFY.
struct AuthorizedSubscribe {
  ConferenceDescription description;
  transport::InboundRequest request;
  std::string subscriber;  // canonical AoR of the authenticated subscriber
  std::string event_id;    // Event id parameter, echoed in every NOTIFY
  uint32_t expires = 0;    // granted; 0 = poll (fetch)
};

}  // namespace imserver::session
