#pragma once
// The checks of a conference-event SUBSCRIBE (SESSIONS.md §6.1-§6.3,
// PROTOCOL.md §4) that depend only on the request and the conf.* knobs, as
// pure functions. Each returns the response to send when the check fails, so
// the session applies them in the documented order. Also the parsers for the
// conf.* flag values (SESSIONS.md §11, PROTOCOL.md §8).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "actors/session/conference_config.hpp"
#include "actors/session/request_checks.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::session {

// S-b: exactly one Event header whose package is byte-for-byte "conference"
// (parameters such as ";id=7" allowed). Missing, several, another package or
// "Conference" -> 489 Bad Event with "Allow-Events: conference".
std::optional<Respond> check_conference_event(const InboundRequest& r);

// The id parameter of the (first) Event header, "" when there is none; it is
// echoed in every NOTIFY (RFC 6665 §8.2.3).
std::string event_id(const InboundRequest& r);

struct SubscribeTerms {
  uint32_t expires = 0;  // granted
  bool poll = false;     // Expires: 0 (a fetch out of dialog, an unsubscribe in dialog)
};

// In order: S-f Accept (when any Accept header is present, the union of its
// media ranges must cover application/conference-info+xml; parameters are
// ignored, comparison is case-insensitive) -> 406; S-g a non-empty body ->
// 415; S-h Expires: absent -> conf.sub_default_expires (capped at
// sub_max_expires); 0 -> poll; 0 < e < sub_min_expires (and e < 3600) -> 423
// with Min-Expires; otherwise min(e, sub_max_expires). An Expires that is not
// delta-seconds, or several Expires headers -> 400. `check_accept` false skips
// S-f and S-g.
std::variant<SubscribeTerms, Respond> check_subscribe_terms(const InboundRequest& r, const ConferenceConfig& conf,
                                                            bool check_accept = true);

// Whether `canonical_aor` (codec::canonical_aor form) is listed in
// conf.watchers: an exact entry, or "*@domain" matching the host of a sip/sips
// AoR case-insensitively.
bool is_watcher(const ConferenceConfig& conf, const std::string& canonical_aor);

// SESSIONS.md §6.2: what is known about the subscriber.
struct SubscriberFacts {
  bool connected_participant = false;  // has a CONNECTED endpoint
  bool pending_invitee = false;        // AD_HOC invitee whose dial-out is pending
  bool group_member = false;           // PREDEFINED group member
  bool watcher = false;                // is_watcher()
};
// false means 403.
bool may_subscribe(SubscribePolicy policy, const SubscriberFacts& facts);

// Flag values, exact lower-case spellings; nullopt when invalid.
std::optional<NotifyMode> parse_notify_mode(std::string_view text);            // partial | full
std::optional<PurgeMode> parse_purge_mode(std::string_view text);              // lazy | immediate
std::optional<FinalBody> parse_final_body(std::string_view text);              // roster | deleted
std::optional<UnsubscribeBody> parse_unsubscribe_body(std::string_view text);  // none | full
std::optional<SubscribePolicy> parse_subscribe_policy(std::string_view text);  // roster | participants | anyone

}  // namespace imserver::session
