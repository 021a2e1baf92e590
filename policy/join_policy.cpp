#include "policy/join_policy.hpp"

#include <algorithm>
#include <cstddef>

namespace imserver::policy {

namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Host part of a sip:/sips: AoR, or empty when there is none. tel: URIs (and
// any other scheme) have no domain, so they can never satisfy the Domain
// policy. An AoR without '@' names a domain rather than a user; it yields no
// host so that authorization fails closed.
std::string_view domain_of(std::string_view aor) {
  if (!istarts_with(aor, "sip:") && !istarts_with(aor, "sips:")) return {};
  const std::size_t at = aor.rfind('@');
  if (at == std::string_view::npos) return {};
  std::string_view host = aor.substr(at + 1);
  // Canonical AoRs carry neither parameters nor a port, but stripping them is
  // cheap insurance against a caller passing a full URI.
  host = host.substr(0, host.find_first_of(";?"));
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    return close == std::string_view::npos ? std::string_view{} : host.substr(0, close + 1);
  }
  return host.substr(0, host.find(':'));
}

bool authorized(const JoinRequestFacts& f) {
  // A user already in the roster joins from another device; rejecting that
  // endpoint would be inconsistent with the first admission (J-d).
  if (f.already_in_roster) return true;

  if (f.kind == SessionKind::Predefined) {
    return f.group_allows_non_members || contains(f.group_members, f.user_aor);
  }

  switch (f.adhoc_policy) {
    case AdhocJoinPolicy::Invited:
      // Inputs are canonical, so exact comparison is both correct and avoids
      // accidental matches between distinct identities.
      return contains(f.allowed_list, f.user_aor);
    case AdhocJoinPolicy::Domain: {
      const std::string_view host = domain_of(f.user_aor);
      if (host.empty()) return false;
      // Host names are case-insensitive (RFC 3261 §19.1.4).
      return std::any_of(f.local_domains.begin(), f.local_domains.end(),
                         [host](const std::string& d) { return iequals(host, d); });
    }
    case AdhocJoinPolicy::Anyone:
      return true;
  }
  return false;  // unknown enumerator: fail closed
}

}  // namespace

std::optional<AdhocJoinPolicy> parse_adhoc_join_policy(std::string_view text) {
  // Exact lower-case match only: a typo in the config must surface as an
  // error instead of silently selecting a more permissive policy.
  if (text == "invited") return AdhocJoinPolicy::Invited;
  if (text == "domain") return AdhocJoinPolicy::Domain;
  if (text == "anyone") return AdhocJoinPolicy::Anyone;
  return std::nullopt;
}

const char* to_string(AdhocJoinPolicy policy) {
  switch (policy) {
    case AdhocJoinPolicy::Invited: return "invited";
    case AdhocJoinPolicy::Domain: return "domain";
    case AdhocJoinPolicy::Anyone: return "anyone";
  }
  return "unknown";
}

JoinDecision decide_join(const JoinRequestFacts& f) {
  // J-d first: an unauthorized user must not learn whether the session is
  // locked or full (SESSIONS.md §4.1 order).
  if (!authorized(f)) return JoinDecision::NotAuthorized;

  // J-e: a lock keeps new users out but must not stop a participant from
  // adding another device.
  if (f.locked && !f.already_in_roster) return JoinDecision::Locked;

  // J-f: the limit counts users, not endpoints, so only a new user can
  // overflow it. Compare as `current >= max` to avoid overflow of `current + 1`.
  if (!f.already_in_roster && f.current_users >= f.max_participants) return JoinDecision::Full;

  return JoinDecision::Allow;
}

const char* warning_text(JoinDecision decision) {
  switch (decision) {
    case JoinDecision::Allow: return "";
    case JoinDecision::NotAuthorized: return "Not authorized to join";
    case JoinDecision::Locked: return "Session locked";
    case JoinDecision::Full: return "Maximum number of participants reached";
  }
  return "";
}

}  // namespace imserver::policy
