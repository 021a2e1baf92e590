#include "actors/session/subscribe_checks.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <vector>

namespace imserver::session {
namespace {

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// delta-seconds (RFC 3261 §25.1: 1*DIGIT); values beyond 2^32-1 saturate.
std::optional<uint32_t> parse_delta_seconds(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = std::min<uint64_t>(value * 10 + static_cast<uint64_t>(c - '0'), std::numeric_limits<uint32_t>::max());
  }
  return static_cast<uint32_t>(value);
}

// Whether an Accept value lists a range covering conference-info+xml.
bool accept_covers_conference_info(std::string_view value) {
  for (auto range : split(value, ',')) {
    const std::string type = lower(trim(range.substr(0, range.find(';'))));
    if (type == "application/conference-info+xml" || type == "application/*" || type == "*/*") return true;
  }
  return false;
}

}  // namespace

std::optional<Respond> check_conference_event(const InboundRequest& r) {
  const auto events = r.all("event");
  if (events.size() == 1) {
    const std::string_view value = events.front();
    if (trim(value.substr(0, value.find(';'))) == "conference") return std::nullopt;
  }
  return respond(r, 489, "Bad Event", "Allow-Events: conference\r\n");
}

std::string event_id(const InboundRequest& r) {
  const std::string* value = r.header("event");
  if (!value) return "";
  auto parts = split(*value, ';');
  for (size_t i = 1; i < parts.size(); ++i) {
    const auto param = parts[i];
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos || lower(trim(param.substr(0, eq))) != "id") continue;
    std::string_view id = trim(param.substr(eq + 1));
    if (id.size() >= 2 && id.front() == '"' && id.back() == '"') id = id.substr(1, id.size() - 2);
    return std::string(id);
  }
  return "";
}

std::variant<SubscribeTerms, Respond> check_subscribe_terms(const InboundRequest& r, const ConferenceConfig& conf,
                                                            bool check_accept) {
  if (check_accept) {
    // S-f: with no Accept header at all the package default applies (RFC 4575 §3.4).
    const auto accepts = r.all("accept");
    if (!accepts.empty() && std::none_of(accepts.begin(), accepts.end(), [](const std::string& v) {
          return accept_covers_conference_info(v);
        }))
      return respond(r, 406, "Not Acceptable");
    // S-g: RFC 4575 §3.2 defines no filter bodies.
    if (!r.body.empty()) return respond(r, 415, "Unsupported Media Type");
  }
  // S-h
  SubscribeTerms terms;
  const auto expires = r.all("expires");
  if (expires.empty()) {
    terms.expires = std::min(conf.sub_default_expires, conf.sub_max_expires);
    return terms;
  }
  if (expires.size() > 1) return respond(r, 400, "Multiple Expires Headers");
  const auto requested = parse_delta_seconds(expires.front());
  if (!requested) return respond(r, 400, "Invalid Expires");
  if (*requested == 0) {
    terms.poll = true;
    return terms;
  }
  // An hour is RFC 4575 §3.3's default, so it is never "too brief".
  if (*requested < conf.sub_min_expires && *requested < 3600)
    return respond(r, 423, "Interval Too Brief", "Min-Expires: " + std::to_string(conf.sub_min_expires) + "\r\n");
  terms.expires = std::min(*requested, conf.sub_max_expires);
  return terms;
}

bool is_watcher(const ConferenceConfig& conf, const std::string& canonical_aor) {
  const bool sip = canonical_aor.rfind("sip:", 0) == 0 || canonical_aor.rfind("sips:", 0) == 0;
  const size_t at = canonical_aor.rfind('@');
  const std::string host = sip && at != std::string::npos ? lower(canonical_aor.substr(at + 1)) : "";
  for (const auto& entry : conf.watchers) {
    if (entry == canonical_aor) return true;
    if (entry.rfind("*@", 0) == 0 && !host.empty() && lower(entry.substr(2)) == host) return true;
  }
  return false;
}

bool may_subscribe(SubscribePolicy policy, const SubscriberFacts& facts) {
  switch (policy) {
    case SubscribePolicy::Anyone:
      return true;
    case SubscribePolicy::Participants:
      return facts.connected_participant || facts.watcher;
    case SubscribePolicy::Roster:
      return facts.connected_participant || facts.pending_invitee || facts.group_member || facts.watcher;
  }
  return false;
}

std::optional<NotifyMode> parse_notify_mode(std::string_view text) {
  if (text == "partial") return NotifyMode::Partial;
  if (text == "full") return NotifyMode::Full;
  return std::nullopt;
}

std::optional<PurgeMode> parse_purge_mode(std::string_view text) {
  if (text == "lazy") return PurgeMode::Lazy;
  if (text == "immediate") return PurgeMode::Immediate;
  return std::nullopt;
}

std::optional<FinalBody> parse_final_body(std::string_view text) {
  if (text == "roster") return FinalBody::Roster;
  if (text == "deleted") return FinalBody::Deleted;
  return std::nullopt;
}

std::optional<UnsubscribeBody> parse_unsubscribe_body(std::string_view text) {
  if (text == "none") return UnsubscribeBody::None;
  if (text == "full") return UnsubscribeBody::Full;
  return std::nullopt;
}

std::optional<SubscribePolicy> parse_subscribe_policy(std::string_view text) {
  if (text == "roster") return SubscribePolicy::Roster;
  if (text == "participants") return SubscribePolicy::Participants;
  if (text == "anyone") return SubscribePolicy::Anyone;
  return std::nullopt;
}

}  // namespace imserver::session
