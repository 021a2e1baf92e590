#pragma once
// Knobs of the conference event package (PROTOCOL.md §4, §5.4, §8;
// SESSIONS.md §6, §11), as plain data. The flag for knob `conf.a_b` is
// `--conf.a-b`.

#include <cstdint>
#include <string>
#include <vector>

namespace imserver::session {

enum class NotifyMode : uint8_t { Partial, Full };           // conf.notify_mode
enum class PurgeMode : uint8_t { Lazy, Immediate };          // conf.purge_mode
enum class FinalBody : uint8_t { Roster, Deleted };          // conf.release_final_body
enum class UnsubscribeBody : uint8_t { None, Full };         // conf.unsubscribe_body
enum class SubscribePolicy : uint8_t { Roster, Participants, Anyone };  // conf.subscribe_policy

struct ConferenceConfig {
  NotifyMode notify_mode = NotifyMode::Partial;
  PurgeMode purge_mode = PurgeMode::Lazy;
  uint32_t min_notify_interval_ms = 0;           // production 5000 (RFC 4575 §3.9)
  bool subscription_requires_participation = true;
  std::string leaver_subscription_reason = "noresource";  // noresource | rejected
  FinalBody release_final_body = FinalBody::Roster;
  SubscribePolicy subscribe_policy = SubscribePolicy::Roster;
  std::vector<std::string> watchers;             // canonical AoRs or "*@domain"
  uint32_t sub_default_expires = 3600;
  uint32_t sub_min_expires = 60;
  uint32_t sub_max_expires = 3600;
  UnsubscribeBody unsubscribe_body = UnsubscribeBody::None;
  bool include_media = true;
};

}  // namespace imserver::session
