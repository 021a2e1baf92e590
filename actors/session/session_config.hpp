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

// refer.* (PROTOCOL.md §8, §3.6).
struct ReferConfig {
  uint16_t accept_code = 202;              // 202 (OMA-3515) or 200 (RFC 7647)
  uint32_t notify_expires_s = 60;          // expires of the refer subscription
  bool lenient_unbracketed_method = true;  // sip:x;method=BYE without <> counts
  bool allow_remove_others = false;        // RFC 4579 eject by the initiator/host
  uint32_t min_notify_interval_ms = 1000;  // RFC 3515 §3.10: at most one NOTIFY a second
};

// dialout.* and the conf.report_* knobs that show invitations (SESSIONS.md
// §2.4-§2.6, §9.2, §11).
struct DialoutConfig {
  std::string outbound_proxy;        // dialout.outbound_proxy: "sip:host:port;lr" (pre-loaded Route)
  int max_parallel = 20;             // dial-out INVITEs in flight per session; the rest wait
  uint32_t no_answer_timeout_s = 60; // provisional only for this long: CANCEL
  // dialout.pai=session: P-Asserted-Identity: <identity>, sent only towards
  // the outbound proxy (the trusted core); never straight to a client.
  bool pai_session = true;
  std::vector<std::string> copy_headers = {"Subject", "Contribution-ID", "Conversation-ID"};
  bool report_dialing = true;        // conf.report_dialing
  bool report_alerting = false;      // conf.report_alerting
};

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
  ReferConfig refer;                              // refer.*
  DialoutConfig dialout;                          // dialout.*
  // Hosts that stand for `domain` in a URI naming a session (lower-case):
  // the domain itself and the server's own address.
  std::vector<std::string> served_hosts;
};

// Methods this server implements today; Allow lists exactly these.
inline constexpr const char* kAllow = "INVITE, ACK, CANCEL, BYE, OPTIONS, SUBSCRIBE, REFER";
// Event packages this server notifies (RFC 6665 §8.2.2).
inline constexpr const char* kAllowEvents = "conference, refer";

}  // namespace imserver::session
