#include "actors/session/group_session.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <string_view>
#include <unordered_set>

#include "actors/session/refer_checks.hpp"
#include "actors/session/request_checks.hpp"
#include "actors/session/subscribe_checks.hpp"
#include "policy/refer_authorization.hpp"
#include "transport/codec/multipart.hpp"
#include "transport/codec/name_addr.hpp"
#include "transport/codec/sdp_msrp.hpp"
#include "transport/codec/sip_uri.hpp"

namespace imserver::session {

using transport::Accept;
using transport::DialogEvent;
using transport::DialogEventKind;
using transport::Hangup;
using transport::InboundRequest;

namespace {

// a=accept-types tokens as the endpoint keeps them: one space-separated
// string (tokens never hold spaces), split again for the MSRP switch.
std::string join_types(const std::vector<std::string>& types) {
  std::string joined;
  for (const auto& t : types) {
    if (!joined.empty()) joined += ' ';
    joined += t;
  }
  return joined;
}

std::vector<std::string> split_types(const std::string& joined) {
  std::vector<std::string> types;
  for (size_t start = 0; start < joined.size();) {
    const size_t end = std::min(joined.find(' ', start), joined.size());
    types.emplace_back(joined, start, end - start);
    start = end + 1;
  }
  return types;
}

// The endpoint key (RFC 4575 §5.7 `entity`): the first Contact's URI.
std::string contact_entity(const InboundRequest& r) {
  if (r.contacts.empty()) return {};
  auto na = codec::parse_name_addr(r.contacts.front());
  return na ? na->uri : r.contacts.front();
}

// RFC 3323 Privacy: id or user asks that the user's identity not be shown.
bool wants_anonymity(const InboundRequest& r) {
  for (const auto& value : r.all("privacy")) {
    std::string v = value;
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t start = 0;
    while (start <= v.size()) {
      size_t end = v.find_first_of(";,", start);
      if (end == std::string::npos) end = v.size();
      std::string token = v.substr(start, end - start);
      token.erase(0, token.find_first_not_of(" \t"));
      token.erase(token.find_last_not_of(" \t") + 1);
      if (token == "id" || token == "user") return true;
      start = end + 1;
    }
  }
  return false;
}

// RFC 4575 <when>: an xs:dateTime in UTC.
std::string utc_datetime(int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

GroupSession::GroupSession(SessionConfig config, std::string identity, policy::SessionKind kind, std::string owner,
                           uint64_t seed)
    : config_(std::move(config)), owner_(std::move(owner)), rng_(seed) {
  state_.identity = std::move(identity);
  state_.kind = kind;
  state_.sdp_session_id = rng_() % 1000000000ull + 1;
}

std::string GroupSession::focus_contact() const {
  // RFC 4579 §4.2 isfocus, and the OMA IM feature tag clients look for.
  return "<" + state_.identity + ">;isfocus;+g.oma.sip-im";
}

std::string GroupSession::new_leg_id() {
  // RFC 4975 §14.1 wants session-ids hard to guess; 16 of 62 symbols is
  // about 95 bits (SESSIONS.md §7.2).
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string id(16, 'x');
  for (auto& c : id) c = kAlphabet[rng_() % 62];
  return id;
}

Endpoints::iterator GroupSession::find_endpoint(uint64_t dialog) {
  const auto at = std::find(dialogs_.begin(), dialogs_.end(), dialog);
  return state_.endpoints.begin() + (at - dialogs_.begin());
}

Endpoint& GroupSession::add_endpoint(Endpoint&& ep) {
  recount(ep.aor, EndpointStatus::Disconnecting, ep.status);
  dialogs_.push_back(ep.dialog);
  state_.endpoints.push_back(std::move(ep));
  return state_.endpoints.back();
}

void GroupSession::set_status(Endpoint& ep, EndpointStatus status) {
  if (ep.status == status) return;
  recount(ep.aor, ep.status, status);
  ep.status = status;
}

void GroupSession::erase_endpoint(Endpoints::iterator ep) {
  recount(ep->aor, ep->status, EndpointStatus::Disconnecting);
  dialogs_.erase(dialogs_.begin() + (ep - state_.endpoints.begin()));
  state_.endpoints.erase(ep);
}

// One endpoint of `aor` goes from `from` to `to`; Disconnecting stands for
// "not counted" (also for an endpoint that is added or erased).
void GroupSession::recount(const std::string& aor, EndpointStatus from, EndpointStatus to) {
  if (from == to) return;
  auto it = users_.find(aor);
  if (it == users_.end()) {
    if (to == EndpointStatus::Disconnecting) return;  // cannot happen: every counted endpoint was added first
    it = users_.emplace(aor, UserTally{}).first;
  }
  UserTally& t = it->second;
  const bool was_connected = t.connected > 0, was_joining_only = !was_connected && t.joining > 0,
             was_active = t.connected + t.joining > 0;
  if (from == EndpointStatus::Connected) --t.connected;
  if (from == EndpointStatus::Joining) --t.joining;
  if (to == EndpointStatus::Connected) ++t.connected;
  if (to == EndpointStatus::Joining) ++t.joining;
  const bool is_connected = t.connected > 0, is_joining_only = !is_connected && t.joining > 0,
             is_active = t.connected + t.joining > 0;
  users_connected_ += static_cast<int>(is_connected) - static_cast<int>(was_connected);
  users_joining_only_ += static_cast<int>(is_joining_only) - static_cast<int>(was_joining_only);
  users_active_ += static_cast<int>(is_active) - static_cast<int>(was_active);
  if (!is_active) users_.erase(it);
}

const GroupSession::UserTally* GroupSession::tally(const std::string& aor) const {
  auto it = users_.find(aor);
  return it == users_.end() ? nullptr : &it->second;
}

bool GroupSession::user_active(const std::string& aor) const { return tally(aor) != nullptr; }

int GroupSession::invitation_only_users() const {
  if (state_.invitations.empty()) return 0;
  std::unordered_set<std::string_view> users;
  for (const auto& inv : state_.invitations)
    if (!inv.superseded && !user_active(inv.aor)) users.insert(inv.aor);
  return static_cast<int>(users.size());
}

int GroupSession::participating_users() const { return users_connected_; }

bool GroupSession::user_counts_match_roster() const {
  if (dialogs_.size() != state_.endpoints.size()) return false;
  for (size_t i = 0; i < dialogs_.size(); ++i)
    if (dialogs_[i] != state_.endpoints[i].dialog) return false;
  std::unordered_map<std::string, UserTally> recount;
  for (const auto& e : state_.endpoints) {
    if (e.status == EndpointStatus::Connected) ++recount[e.aor].connected;
    if (e.status == EndpointStatus::Joining) ++recount[e.aor].joining;
  }
  int connected = 0, joining_only = 0;
  for (const auto& [aor, t] : recount) {
    auto it = users_.find(aor);
    if (it == users_.end() || it->second.connected != t.connected || it->second.joining != t.joining) return false;
    if (t.connected > 0) ++connected;
    else ++joining_only;
  }
  return recount.size() == users_.size() && connected == users_connected_ && joining_only == users_joining_only_ &&
         static_cast<int>(recount.size()) == users_active_;
}

void GroupSession::set_group(const std::string& group_uri, std::vector<std::string> members, bool allow_non_members,
                             bool locked, const std::string& subject) {
  state_.group = group_uri;
  state_.group_members = std::move(members);
  state_.group_allows_non_members = allow_non_members;
  state_.locked = locked;
  state_.subject = subject;
}

void GroupSession::update_group(std::vector<std::string> members, bool allow_non_members, bool locked) {
  if (state_.group.empty()) return;
  state_.group_members = std::move(members);
  state_.group_allows_non_members = allow_non_members;
  state_.locked = locked;
}

Effects GroupSession::create(const InboundRequest& invite, const policy::AssertedIdentity& creator, int64_t now_ms,
                             const std::vector<codec::Invitee>& invitees) {
  state_.initiator = creator.aor;
  if (const auto* subject = invite.header("subject")) state_.subject = *subject;
  state_.allowed.push_back(creator.aor);
  // §2.4: what every dial-out INVITE copies from the creating one. The
  // subject is the session's (a group's own subject when the INVITE had none).
  for (const auto& name : config_.dialout.copy_headers) {
    std::string key = name;
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (key == "subject") {
      if (!state_.subject.empty()) state_.dial_headers += "Subject: " + state_.subject + "\r\n";
    } else if (const auto* value = invite.header(key)) {
      state_.dial_headers += name + ": " + *value + "\r\n";
    }
  }
  state_.recipient_list_history = codec::render_recipient_list_history(invitees);
  Effects out = join(invite, creator, true, now_ms);
  // §2.3 step 4: the dial-outs go after the creator's 2xx (same batch, later
  // in it), and only when the creation was accepted.
  const bool accepted = std::any_of(out.commands.begin(), out.commands.end(),
                                    [](const transport::Command& c) { return std::holds_alternative<Accept>(c); });
  // §5: an anonymous creator is not named as the inviter.
  const bool anonymous = !state_.endpoints.empty() && !state_.endpoints.back().rare.get().shown_as.empty();
  if (accepted) invite_all(out, invitees, anonymous ? std::string() : creator.aor, now_ms);
  return out;
}

Effects GroupSession::on_request(const InboundRequest& r, const std::optional<policy::AssertedIdentity>& originator,
                                 int64_t now_ms) {
  Effects out;
  if (r.in_dialog) {
    // A refer subscription outlives its REFER's removal (and even the
    // session's release, §5.5 step 4), so its SUBSCRIBEs come first.
    if (r.method == "SUBSCRIBE" && r.header("event") && event_package(*r.header("event")) == "refer")
      return refer_subscribe(r, now_ms);
    auto ep = find_endpoint(r.dialog);
    const bool refer_dialog = std::any_of(state_.refer_subs.begin(), state_.refer_subs.end(),
                                          [&](const ReferSubscription& s) { return s.dialog == r.dialog; });
    if ((ep == state_.endpoints.end() && !refer_dialog) || state_.phase != Phase::Active) {
      out.commands.push_back(respond(r, 481, "Call/Transaction Does Not Exist"));
      return out;
    }
    if (r.method == "REFER") return refer(r, originator, now_ms);
    if (ep == state_.endpoints.end()) {  // a refer dialog carries nothing else
      out.commands.push_back(method_not_allowed(r));
      return out;
    }
    if (r.method == "INVITE") return reinvite(r, *ep);
    if (r.method == "SUBSCRIBE") {
      // RFC 6665 §4.5.2; clients subscribe outside the INVITE dialog
      // (RFC 4579 §3.4, SESSIONS.md E53).
      out.commands.push_back(respond(r, 403, "Dialog sharing not supported"));
      return out;
    }
    if (r.method == "OPTIONS") {
      out.commands.push_back(respond(r, 200, "OK", std::string("Allow: ") + kAllow + "\r\nAccept: application/sdp\r\n"));
      return out;
    }
    out.commands.push_back(method_not_allowed(r));
    return out;
  }

  // Out of dialog, addressed to the session identity (SESSIONS.md §1.1).
  if (r.method == "REFER") return refer(r, originator, now_ms);  // 403 once released (§5.5)
  if (state_.phase != Phase::Active) {
    out.commands.push_back(respond(r, 404, "Not Found"));
    return out;
  }
  if (r.method == "INVITE") {
    // J-b: lists belong to the factory, not to a session (RFC 5366 §5.1).
    if (auto bad = check_require(r, {})) {
      out.commands.push_back(*bad);
      return out;
    }
    if (!originator) {  // J-c
      out.commands.push_back(respond(r, 403, "Forbidden"));
      return out;
    }
    return join(r, *originator, false, now_ms);
  }
  if (r.method == "SUBSCRIBE") return subscribe(r, originator);
  if (r.method == "OPTIONS") {
    out.commands.push_back(respond(r, 200, "OK",
                                   "Contact: " + focus_contact() + "\r\nAllow: " + kAllow +
                                       "\r\nAllow-Events: " + kAllowEvents + "\r\nAccept: application/sdp\r\n"));
    return out;
  }
  out.commands.push_back(method_not_allowed(r));
  return out;
}

// SESSIONS.md §6.1 S-b..S-h in order (S-a, the URI class, was the
// directory's); the notifier answers what passes.
Effects GroupSession::subscribe(const InboundRequest& r, const std::optional<policy::AssertedIdentity>& originator) {
  Effects out;
  if (const auto* ev = r.header("event"); ev && event_package(*ev) == "refer") {
    // E22: a refer subscription exists only inside the dialog of its REFER.
    out.commands.push_back(respond(r, 403, "Forbidden"));
    return out;
  }
  if (auto bad = check_conference_event(r)) {  // S-b
    out.commands.push_back(*bad);
    return out;
  }
  if (auto bad = check_require(r, {})) {  // S-c
    out.commands.push_back(*bad);
    return out;
  }
  if (!originator) {  // S-d: never 407 (a Digest challenge, if configured, came before)
    out.commands.push_back(respond(r, 403, "Forbidden"));
    return out;
  }
  SubscriberFacts facts;  // S-e (§6.2)
  facts.connected_participant = user_participates(originator->aor);
  facts.pending_invitee = has_pending_invitation(originator->aor);  // TC-S10
  facts.watcher = is_watcher(config_.conf, originator->aor);
  facts.group_member = std::find(state_.group_members.begin(), state_.group_members.end(), originator->aor) !=
                       state_.group_members.end();
  if (!may_subscribe(config_.conf.subscribe_policy, facts)) {
    out.commands.push_back(respond(r, 403, "Forbidden"));
    return out;
  }
  auto terms = check_subscribe_terms(r, config_.conf);  // S-f, S-g, S-h
  if (auto* refusal = std::get_if<transport::Respond>(&terms)) {
    out.commands.push_back(*refusal);
    return out;
  }
  AuthorizedSubscribe a;
  a.description = description();
  a.request = r;
  a.subscriber = originator->aor;
  a.event_id = event_id(r);
  a.expires = std::get<SubscribeTerms>(terms).expires;
  out.subscribe = std::move(a);
  return out;
}

ConferenceDescription GroupSession::description() const {
  ConferenceDescription d;
  d.identity = state_.identity;
  d.subject = state_.subject;
  d.maximum_user_count = static_cast<uint32_t>(std::max(0, config_.max_participants));
  d.locked = state_.locked;
  return d;
}

RosterUpdate& GroupSession::roster(Effects& out) const {
  if (!out.roster) {
    out.roster.emplace();
    out.roster->description = description();
    out.roster->terminate_reason = config_.conf.leaver_subscription_reason;
  }
  return *out.roster;
}

void GroupSession::report(Effects& out, const Endpoint& ep, bool connected, int64_t now_ms) const {
  EndpointReport r;
  r.aor = ep.rare.get().shown_as.empty() ? ep.aor : ep.rare.get().shown_as;
  r.entity = ep.entity.empty() ? ep.aor : ep.entity;
  r.connected = connected;
  r.joining_method = ep.dialed_out ? "dialed-out" : "dialed-in";
  r.referred_by = ep.rare.get().referred_by;
  r.joining_when = utc_datetime(ep.joined_ms);
  if (!connected) {
    r.disconnection_method = ep.rare.get().disconnection_method;
    r.disconnection_when = utc_datetime(now_ms);
    r.disconnection_by = ep.rare.get().disconnected_by;
    r.disconnection_reason = ep.rare.get().disconnection_reason;
  }
  roster(out).changed.push_back(std::move(r));
}

Effects GroupSession::join(const InboundRequest& r, const policy::AssertedIdentity& who, bool creating,
                           int64_t now_ms) {
  Effects out;
  std::string entity = contact_entity(r);
  if (!creating) {
    // J-d, J-e, J-f (SESSIONS.md §4.1).
    policy::JoinRequestFacts facts;
    facts.kind = state_.kind;
    facts.adhoc_policy = config_.join_policy;
    facts.user_aor = who.aor;
    // decide_join reads each list only under the policy it belongs to; the
    // others stay empty rather than be copied for every join.
    if (state_.kind == policy::SessionKind::Predefined) {
      facts.group_members = state_.group_members;
    } else if (config_.join_policy == policy::AdhocJoinPolicy::Invited) {
      facts.allowed_list = state_.allowed;
    } else if (config_.join_policy == policy::AdhocJoinPolicy::Domain) {
      facts.local_domains = config_.local_domains;
    }
    facts.group_allows_non_members = state_.group_allows_non_members;
    facts.locked = state_.locked;
    facts.already_in_roster = user_active(who.aor) || has_pending_invitation(who.aor);
    // J-f: users with an endpoint that is not leaving, and pending invitees,
    // who hold their place (CONNECTED + pending users).
    facts.current_users = users_active_ + invitation_only_users();
    facts.max_participants = config_.max_participants;
    const auto decision = policy::decide_join(facts);
    if (decision != policy::JoinDecision::Allow) {
      const bool full = decision == policy::JoinDecision::Full;
      const uint16_t status = full ? config_.full_response : 403;
      const char* reason = status == 486 ? "Busy Here" : "Forbidden";
      out.commands.push_back(
          respond(r, status, reason, warning_line(399, config_.domain, policy::warning_text(decision))));
      return out;
    }
  }
  auto body = read_invite_body(r);
  if (auto* err = std::get_if<transport::Respond>(&body)) {
    out.commands.push_back(*err);
    return out;
  }
  // Ours to keep: it becomes the endpoint's last_offer below.
  std::string offer = std::move(std::get<InviteBody>(body).sdp);
  const bool delayed_offer = offer.empty();
  std::string leg_id = new_leg_id();
  codec::MsrpAnswer answer;
  if (delayed_offer) {
    // §7.4 delayed offer: we offer (actpass) in the 2xx; the ACK answers.
    answer.ok = true;
    answer.sdp = codec::make_msrp_offer(config_.msrp, leg_id, state_.sdp_session_id, ++state_.sdp_version);
  } else {
    answer = codec::answer_msrp_offer(offer, config_.msrp, leg_id, state_.sdp_session_id, ++state_.sdp_version);
  }
  if (!answer.ok) {
    out.commands.push_back(respond(r, answer.status ? answer.status : 488, "Not Acceptable Here",
                                   "Warning: " + answer.warning + "\r\n"));
    return out;
  }

  // SESSIONS.md §4.3: the same Contact in a new dialog is a restarted
  // client; the new dialog replaces the old one without a departure.
  // Only a user with a connected endpoint can have one to replace.
  if (config_.replace_same_contact && !entity.empty() && user_participates(who.aor)) {
    for (auto& e : state_.endpoints) {
      if (e.aor == who.aor && e.entity == entity && e.status == EndpointStatus::Connected) {
        set_status(e, EndpointStatus::Disconnecting);
        e.rare.set().disconnection_method = "replaced";
        out.commands.push_back(Hangup{e.dialog, ""});
        msrp_release(out, e);
      }
    }
  }

  Endpoint ep;
  ep.dialog = r.dialog;
  ep.join_request = r.id;
  ep.aor = who.aor;
  // The AoR itself is checked apart everywhere (CPIM From and To at the
  // switch), so only the other identities are kept (issue 7).
  for (const auto& alias : who.aliases)
    if (alias != who.aor) ep.aliases.push_back(alias);
  if (wants_anonymity(r)) {
    // E51: one anonymous name per user and session (a second device of the
    // same user shows as the same anonymous user).
    for (const auto& e : state_.endpoints)
      if (e.aor == who.aor && !e.rare.get().shown_as.empty()) ep.rare.set().shown_as = e.rare.get().shown_as;
    if (ep.rare.get().shown_as.empty())
      ep.rare.set().shown_as = "sip:anonymous" + std::to_string(state_.next_anonymous++) + "@anonymous.invalid";
    ep.aliases.push_back(ep.rare.get().shown_as);
  }
  ep.entity = std::move(entity);
  ep.status = EndpointStatus::Joining;
  ep.joined_ms = now_ms;
  take_leg(ep, std::move(answer.leg));
  ep.last_offer = std::move(offer);
  ep.our_sdp_version = state_.sdp_version;
  ep.focus_offered = delayed_offer;
  ep.msrp_leg_id = std::move(leg_id);
  ep.awaiting_answer = delayed_offer;
  // E38: the invitee dialed in while its dial-out is pending.
  supersede_dials(who.aor, ep, out);
  add_endpoint(std::move(ep));
  // SESSIONS.md §8.2: the leg can be bound once our 2xx is out, and the
  // participant connects right after its ACK; copies wait until it binds.
  // With a delayed offer the participant's path is known only from the ACK.
  if (!state_.endpoints.back().awaiting_answer) msrp_add(out, state_.endpoints.back());
  remember_joiner(who.aor);

  Accept accept;
  accept.request = r.id;
  accept.dialog = r.dialog;
  accept.owner = owner_;
  accept.contact = focus_contact();
  accept.headers = std::string("Allow: ") + kAllow + "\r\n";
  accept.content_type = "application/sdp";
  accept.body = std::move(answer.sdp);
  out.commands.push_back(std::move(accept));
  return out;
}

Effects GroupSession::reinvite(const InboundRequest& r, Endpoint& ep) {
  Effects out;
  if (auto bad = check_require(r, {})) {  // SESSIONS.md §7.5: no lists here either
    out.commands.push_back(*bad);
    return out;
  }
  auto body = read_invite_body(r);
  if (auto* err = std::get_if<transport::Respond>(&body)) {
    out.commands.push_back(*err);
    return out;
  }
  const std::string& offer = std::get<InviteBody>(body).sdp;
  if (!offer.empty() && offer != ep.last_offer) {
    // Keep our MSRP path (msrp.rotate_path_on_reinvite=false); only the
    // version moves when the answer changes (RFC 4975 §8.4).
    auto answer = codec::answer_msrp_offer(offer, config_.msrp, ep.msrp_leg_id, state_.sdp_session_id, ++state_.sdp_version);
    if (!answer.ok) {
      out.commands.push_back(respond(r, 488, "Not Acceptable Here", "Warning: " + answer.warning + "\r\n"));
      return out;
    }
    ep.last_offer = offer;
    ep.our_sdp_version = state_.sdp_version;
    ep.focus_offered = false;
    if (ep.msrp_remote_path != answer.leg.remote_path && ep.msrp_registered) {
      // §7.5: a new peer path re-binds the leg; the old binding goes.
      ep.msrp_remote_path = answer.leg.remote_path;
      msrp_release(out, ep);
      msrp_add(out, ep);
    }
    ep.msrp_remote_path = answer.leg.remote_path;
  }
  Accept accept;
  accept.request = r.id;
  accept.dialog = ep.dialog;
  accept.owner = owner_;
  accept.contact = focus_contact();
  accept.headers = std::string("Allow: ") + kAllow + "\r\n";
  accept.content_type = "application/sdp";
  accept.body = our_sdp(ep);
  out.commands.push_back(std::move(accept));
  return out;
}

Effects GroupSession::on_dialog_event(const DialogEvent& ev, int64_t now_ms) {
  Effects out;
  if (ev.kind == DialogEventKind::RequestDone) {
    // One of our refer NOTIFYs got its answer (408 for a timeout). Anything
    // but a 2xx ends the subscription silently (E20).
    auto sub = std::find_if(state_.refer_subs.begin(), state_.refer_subs.end(),
                            [&](const ReferSubscription& s) { return s.in_flight && s.in_flight == ev.token; });
    if (sub == state_.refer_subs.end()) return out;
    sub->in_flight = 0;
    if (sub->terminated_sent || ev.status >= 300) {
      end_refer(out, sub);
      finish_if_done();
    } else {
      pump_refer(out, *sub, now_ms);
    }
    return out;
  }
  auto ep = find_endpoint(ev.dialog);
  if (ep == state_.endpoints.end()) return out;  // duplicates and late reports are harmless
  switch (ev.kind) {
    case DialogEventKind::Confirmed:
      if (ep->status == EndpointStatus::Joining && ep->awaiting_answer && !take_ack_answer(*ep, ev)) {
        // §7.4: an ACK without a usable answer: BYE, never shown connected.
        const std::string aor = ep->aor;
        set_status(*ep, EndpointStatus::Disconnecting);
        ep->rare.set().disconnection_method = "booted";
        withdraw_superseded(out, *ep);
        out.commands.push_back(Hangup{ep->dialog, "SIP;cause=488;text=\"Not Acceptable Here\""});
        after_departure(out, aor, true, now_ms);
        break;
      }
      if (ep->status == EndpointStatus::Joining) {
        if (ep->awaiting_answer) {
          ep->awaiting_answer = false;
          msrp_add(out, *ep);
        }
        set_status(*ep, EndpointStatus::Connected);
        ep->joined_ms = now_ms;  // <joining-info><when>: the join completed now
        withdraw_superseded(out, *ep);
        report(out, *ep, true, now_ms);
      }
      break;
    case DialogEventKind::Cancelled:
      // E7, E6: a join that never completed (CANCEL, or BYE on the early
      // dialog) was never in the session: no report, and no release either;
      // only an empty session ends (a cancelled creation, R3).
      if (ep->status == EndpointStatus::Joining) {
        withdraw_superseded(out, *ep);
        msrp_release(out, *ep);
        erase_endpoint(ep);
        if (state_.endpoints.empty() && state_.phase == Phase::Active)
          release(out, policy::ReleaseReason::Empty, now_ms);
        finish_if_done();
      } else if (ep->status == EndpointStatus::Disconnecting) {
        endpoint_gone(out, ev.dialog, now_ms);  // removed while its join was still pending
      }
      break;
    case DialogEventKind::AckTimeout:
      // E35: the 2xx was never acknowledged; the user counts as gone and the
      // release rules look again.
      if (ep->status == EndpointStatus::Joining) depart(out, ep, true, now_ms);
      break;
    case DialogEventKind::PeerBye:
      if (ep->status == EndpointStatus::Joining) {
        // BYE before the join completed (early dialog, or before our ACK):
        // like a cancelled join.
        withdraw_superseded(out, *ep);
        msrp_release(out, *ep);
        erase_endpoint(ep);
        if (state_.endpoints.empty() && state_.phase == Phase::Active)
          release(out, policy::ReleaseReason::Empty, now_ms);
        finish_if_done();
      } else if (ep->status == EndpointStatus::Connected) {
        // A1 was sent by the transport; A2 (MSRP release) arrives with the
        // MSRP relay; A3-A6 here and in the notifier.
        ep->rare.set().disconnection_method = "departed";
        depart(out, ep, true, now_ms);
      } else {
        // Disconnecting: the peer's BYE ended what our removal started.
        endpoint_gone(out, ev.dialog, now_ms);
      }
      break;
    case DialogEventKind::ByeCompleted:
      // PROTOCOL.md §5.3 step 6: 2xx, 481, 408 or timeout all end it.
      endpoint_gone(out, ev.dialog, now_ms);
      break;
    case DialogEventKind::RequestDone:
      break;  // handled above
  }
  return out;
}

// The endpoint has left; apply the release policy to what remains (A3, B2a-vi).
void GroupSession::depart(Effects& out, Endpoints::iterator ep, bool initiator_may_have_left,
                          int64_t now_ms) {
  const std::string aor = ep->aor;
  // A4: only someone who was reported connected is reported as gone.
  if (ep->status == EndpointStatus::Connected) report(out, *ep, false, now_ms);
  msrp_release(out, *ep);  // A2
  erase_endpoint(ep);
  after_departure(out, aor, initiator_may_have_left, now_ms);
}

// What remains after `aor` left: the release policy, then the termination
// policy (A3-A5, B2a-vi..viii).
void GroupSession::after_departure(Effects& out, const std::string& aor, bool initiator_may_have_left,
                                   int64_t now_ms) {
  if (state_.phase != Phase::Active) {
    finish_if_done();
    return;
  }
  policy::RosterAfterDeparture roster;
  roster.kind = state_.kind;
  // Pending users: a dial-in still waiting for its ACK is on its way in, so
  // it counts like a pending invitee for R1, and so do users whose only
  // presence is a pending dial-out (SESSIONS.md §2.7). All from users_,
  // without a look at every endpoint.
  roster.participating_users = users_connected_;
  roster.pending_users = users_joining_only_ + invitation_only_users();
  if (initiator_may_have_left && aor == state_.initiator) {
    const UserTally* t = tally(aor);
    const bool participating = t && t->connected > 0;
    const bool pending = !participating && ((t && t->joining > 0) || has_pending_invitation(aor));
    roster.initiator_left = !participating && !pending;
  }
  const auto why = policy::evaluate_release(config_.release, roster);
  if (why != policy::ReleaseReason::None) {
    release(out, why, now_ms);
    return;
  }
  // A5, PROTOCOL.md §5.4: the leaver's own subscriptions end when it no
  // longer participates through any endpoint (E25).
  if (!user_active(aor) && config_.conf.subscription_requires_participation)
    this->roster(out).terminate_subscribers.push_back(aor);
}

// PROTOCOL.md §5.5: RELEASING, then Removal of Participant (§5.3) for every
// remaining endpoint; RELEASED once every BYE is done.
void GroupSession::release(Effects& out, policy::ReleaseReason why, int64_t now_ms) {
  state_.phase = Phase::Releasing;
  out.release = why;
  for (auto& e : state_.endpoints) {
    if (e.status == EndpointStatus::Disconnecting) continue;
    // §5.3 step 2: `booted`, reported at once (the roster does not wait
    // for the BYE to be answered, E19).
    if (e.status == EndpointStatus::Connected) {
      e.rare.set().disconnection_method = "booted";
      report(out, e, false, now_ms);
    }
    set_status(e, EndpointStatus::Disconnecting);
    e.rare.set().disconnection_method = "booted";
    out.commands.push_back(Hangup{e.dialog, ""});
    msrp_release(out, e);
  }
  // §2.7: pending dial-outs are cancelled (the transport CANCELs once a
  // provisional arrived, and ACKs and BYEs a 2xx that still comes); the
  // final document shows them failed.
  for (auto it = state_.invitations.begin(); it != state_.invitations.end();) {
    if (it->shown && !it->superseded) {
      EndpointReport r;
      r.aor = it->aor;
      r.entity = it->target;
      r.connected = false;
      r.disconnection_method = "failed";
      r.disconnection_when = utc_datetime(now_ms);
      r.disconnection_reason = "Reason: SIP;cause=487;text=\"Session released\"";
      r.referred_by = it->inviter;
      roster(out).changed.push_back(std::move(r));
      it->shown = false;
    }
    if (it->state == DialState::Queued) {
      it = state_.invitations.erase(it);
      continue;
    }
    if (!it->cancelled) {
      out.commands.push_back(transport::CancelDial{owner_, it->token});
      it->cancelled = true;
    }
    ++it;
  }
  // §5.4: every subscription ends with noresource and the final document.
  roster(out).released = true;
  finish_if_done();
}

void GroupSession::finish_if_done() {
  // A session nobody is in or on the way into is over (R3), e.g. a creation
  // that was CANCELled; a releasing one once every BYE is done. Refer
  // subscriptions still finish normally first (§5.5 step 4).
  // Dial-outs still waiting for their outcome keep it too: a 2xx that comes
  // must find someone to ACK and BYE it (the transport bounds the wait).
  if (state_.endpoints.empty() && state_.refer_subs.empty() && state_.invitations.empty())
    state_.phase = Phase::Released;
}

bool GroupSession::user_participates(const std::string& aor) const {
  const UserTally* t = tally(aor);
  return t && t->connected > 0;
}

// §3.3: the Refer-To, without method and URI headers, is this session's
// identity (our own address stands for the domain, as in the directory).
bool GroupSession::names_this_session(const codec::Uri& uri) const {
  if (uri.scheme != "sip" && uri.scheme != "sips") return false;
  std::string host = uri.host;
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto& served = config_.served_hosts;
  if (host != config_.domain && std::find(served.begin(), served.end(), host) == served.end()) return false;
  codec::Uri key = uri;
  key.host = config_.domain;
  auto mine = codec::parse_uri(state_.identity);
  return mine && codec::canonical_aor(key) == codec::canonical_aor(*mine);
}

// PROTOCOL.md §3.4: B0 (check_refer), B1 and B2b (the policy), then the 2xx
// before any side effect, the refer subscription's first NOTIFY, and the
// Removal of Participant (§5.3) with the release and termination policies.
Effects GroupSession::refer(const InboundRequest& r, const std::optional<policy::AssertedIdentity>& originator,
                            int64_t now_ms) {
  Effects out;
  auto checked = check_refer(r, config_.refer.lenient_unbracketed_method);
  if (auto* bad = std::get_if<transport::Respond>(&checked)) {
    out.commands.push_back(std::move(*bad));
    return out;
  }
  const ReferRequest& req = std::get<ReferRequest>(checked);
  const codec::Uri named = codec::refer_session_uri(req.target);

  policy::ReferByeFacts facts;
  facts.originator_identified = originator.has_value();
  facts.session_active = state_.phase == Phase::Active;
  facts.allow_remove_others = config_.refer.allow_remove_others;
  std::string target;
  if (originator) {
    facts.originator_participates = user_participates(originator->aor);
    facts.originator_is_host = originator->aor == state_.initiator;
    if (names_this_session(named)) {
      facts.targets_self = true;
      target = originator->aor;
    } else if (config_.refer.allow_remove_others) {
      // §3.8: a user's AoR; naming yourself that way needs no rights.
      target = codec::canonical_aor(named);
      facts.targets_self = target == originator->aor;
      facts.targets_other_user = !facts.targets_self;
      facts.target_participates = user_participates(target);
    }
  }
  const auto decision = policy::authorize_refer_bye(facts);
  if (decision != policy::ReferByeDecision::RemoveOriginator && decision != policy::ReferByeDecision::RemoveTarget) {
    out.commands.push_back(respond(r, 403, "Forbidden"));
    return out;
  }

  // B2a-i..iv: the 2xx goes out before anything else.
  const uint16_t code = config_.refer.accept_code;
  const char* reason = code == 202 ? "Accepted" : "OK";
  std::string headers;
  if (!r.in_dialog) headers += "Supported: norefersub\r\n";  // B2a-ii
  if (!req.refer_sub) headers += "Refer-Sub: false\r\n";     // B2a-iii
  uint64_t sub_dialog = 0;
  if (req.refer_sub && !r.in_dialog) {
    transport::AcceptSubscription a;
    a.request = r.id;
    a.dialog = r.dialog;
    a.owner = owner_;
    a.contact = focus_contact();
    a.headers = headers;
    a.status = code;
    a.reason = reason;
    out.commands.push_back(std::move(a));
    sub_dialog = r.dialog;
  } else {
    out.commands.push_back(respond(r, code, reason, "Contact: " + focus_contact() + "\r\n" + headers));
    if (req.refer_sub) sub_dialog = r.dialog;
  }

  // B3: the implicit subscription and its NOTIFY #1, ahead of the BYEs.
  if (sub_dialog) {
    ReferSubscription sub;
    sub.dialog = sub_dialog;
    sub.event_id = std::to_string(r.cseq);
    sub.expires_at_ms = now_ms + int64_t{config_.refer.notify_expires_s} * 1000;
    for (const auto& e : state_.endpoints)
      if (e.aor == target && (e.status == EndpointStatus::Connected || e.status == EndpointStatus::Joining))
        sub.removing.push_back(e.dialog);
    sub.removal_done = sub.removing.empty();
    state_.refer_subs.push_back(std::move(sub));
    pump_refer(out, state_.refer_subs.back(), now_ms);
  }

  // B2a-v..ix.
  remove_user(out, target, originator->aor, now_ms);
  after_departure(out, target, true, now_ms);
  return out;
}

void GroupSession::remove_user(Effects& out, const std::string& aor, const std::string& by, int64_t now_ms) {
  for (auto& e : state_.endpoints) {
    if (e.aor != aor || e.status == EndpointStatus::Disconnecting) continue;  // §5.3 step 1: idempotent
    const bool was_connected = e.status == EndpointStatus::Connected;
    set_status(e, EndpointStatus::Disconnecting);
    e.rare.set().disconnection_method = "booted";  // the focus sends the BYE (RFC 4575 §5.7.6)
    e.rare.set().disconnected_by = by;
    if (was_connected) report(out, e, false, now_ms);
    // A refer subscription sharing this dialog outlives its INVITE usage
    // (RFC 5057), so its final NOTIFY can still be sent in it.
    const bool shared = std::any_of(state_.refer_subs.begin(), state_.refer_subs.end(),
                                    [&](const ReferSubscription& s) { return s.dialog == e.dialog; });
    out.commands.push_back(Hangup{e.dialog, e.rare.get().disconnection_reason, shared});
    msrp_release(out, e);  // §5.3 step 4: as soon as the BYE is handed over
  }
}

void GroupSession::endpoint_gone(Effects& out, uint64_t dialog, int64_t now_ms) {
  auto ep = find_endpoint(dialog);
  if (ep != state_.endpoints.end()) erase_endpoint(ep);
  for (auto& sub : state_.refer_subs) {
    auto it = std::find(sub.removing.begin(), sub.removing.end(), dialog);
    if (it == sub.removing.end()) continue;
    sub.removing.erase(it);
    if (sub.removing.empty() && !sub.removal_done) {
      // §3.6 NOTIFY #2: 2xx, 481, 408, a timeout or a crossing BYE all mean
      // the participant is no longer in the session.
      sub.removal_done = true;
      sub.notify_due = true;
      pump_refer(out, sub, now_ms);
    }
  }
  finish_if_done();
}

// Sends the subscription's next NOTIFY when one is due, none is awaiting its
// answer, and the once-a-second rule (RFC 3515 §3.10) allows it.
void GroupSession::pump_refer(Effects& out, ReferSubscription& sub, int64_t now_ms) {
  auto wake = [&](int64_t at) { out.wake_at_ms = out.wake_at_ms ? std::min(*out.wake_at_ms, at) : at; };
  if (sub.terminated_sent || sub.in_flight) return;
  if (!sub.notify_due) {
    wake(sub.expires_at_ms);
    return;
  }
  if (sub.ever_sent && now_ms < sub.last_notify_ms + int64_t{config_.refer.min_notify_interval_ms}) {
    wake(sub.last_notify_ms + config_.refer.min_notify_interval_ms);
    return;
  }
  const bool final = sub.removal_done || sub.terminate;
  std::string state;
  if (sub.removal_done) {
    state = "terminated;reason=noresource";
  } else if (sub.terminate) {
    state = "terminated;reason=timeout";  // unsubscribed or expired before the removal finished
  } else {
    const int64_t left_s = std::max<int64_t>(1, (sub.expires_at_ms - now_ms + 999) / 1000);
    state = "active;expires=" + std::to_string(left_s);
  }
  transport::SendInDialog n;
  n.dialog = sub.dialog;
  n.method = "NOTIFY";
  n.headers = "Event: refer;id=" + sub.event_id + "\r\nSubscription-State: " + state + "\r\nContact: " +
              focus_contact() + "\r\n";
  n.content_type = "message/sipfrag;version=2.0";
  // §3.6: success means the participant is no longer in the session.
  n.body = sub.removal_done ? "SIP/2.0 200 OK\r\n" : "SIP/2.0 100 Trying\r\n";
  n.token = state_.next_token++;
  out.commands.push_back(std::move(n));
  sub.in_flight = state_.next_token - 1;
  sub.notify_due = false;
  sub.ever_sent = true;
  sub.last_notify_ms = now_ms;
  sub.terminated_sent = final;
}

void GroupSession::end_refer(Effects& out, std::vector<ReferSubscription>::iterator sub) {
  const uint64_t dialog = sub->dialog;
  state_.refer_subs.erase(sub);
  const bool still_used = std::any_of(state_.refer_subs.begin(), state_.refer_subs.end(),
                                      [&](const ReferSubscription& s) { return s.dialog == dialog; });
  // On a dialog whose INVITE usage still lives this only withdraws the
  // keep-after-BYE; otherwise the subscription dialog is gone (481 after).
  if (!still_used) out.commands.push_back(transport::ForgetDialog{dialog});
}

// SUBSCRIBE Event: refer inside the refer subscription's dialog: a refresh,
// or an early unsubscribe (E21) that ends the subscription but not the removal.
Effects GroupSession::refer_subscribe(const InboundRequest& r, int64_t now_ms) {
  Effects out;
  const std::string id = event_id(r);
  auto sub = std::find_if(state_.refer_subs.begin(), state_.refer_subs.end(), [&](const ReferSubscription& s) {
    return s.dialog == r.dialog && !s.terminated_sent && (id.empty() || id == s.event_id);
  });
  if (sub == state_.refer_subs.end()) {
    out.commands.push_back(respond(r, 481, "Subscription Does Not Exist"));
    return out;
  }
  uint32_t granted = config_.refer.notify_expires_s;
  if (const auto* e = r.header("expires")) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(e->c_str(), &end, 10);
    if (e->empty() || *end != '\0' || !std::isdigit(static_cast<unsigned char>((*e)[0]))) {
      out.commands.push_back(respond(r, 400, "Bad Expires"));
      return out;
    }
    granted = static_cast<uint32_t>(std::min<unsigned long>(v, granted));
  }
  out.commands.push_back(respond(r, 200, "OK", "Contact: " + focus_contact() + "\r\nExpires: " +
                                                   std::to_string(granted) + "\r\n"));
  if (granted == 0) sub->terminate = true;
  else sub->expires_at_ms = now_ms + int64_t{granted} * 1000;
  sub->notify_due = true;
  pump_refer(out, *sub, now_ms);
  return out;
}

Effects GroupSession::on_tick(int64_t now_ms) {
  Effects out;
  // §9.2: provisional only (or nothing) for dialout.no_answer_timeout_s:
  // CANCEL. Before any provisional the transport holds the CANCEL back
  // until one arrives, or Timer B ends the INVITE.
  for (auto& inv : state_.invitations) {
    if (inv.cancelled || inv.state == DialState::Queued || now_ms < inv.no_answer_at_ms) continue;
    out.commands.push_back(transport::CancelDial{owner_, inv.token});
    inv.cancelled = true;
    inv.no_answer = true;
  }
  wake_for_dials(out);
  for (auto& sub : state_.refer_subs) {
    if (!sub.terminated_sent && !sub.removal_done && !sub.terminate && now_ms >= sub.expires_at_ms) {
      sub.terminate = true;
      sub.notify_due = true;
    }
    pump_refer(out, sub, now_ms);
  }
  return out;
}

void GroupSession::msrp_add(Effects& out, Endpoint& ep) const {
  if (ep.msrp_leg_id.empty()) return;
  transport::MsrpLeg leg;
  leg.leg_id = ep.msrp_leg_id;
  leg.group = state_.identity;
  leg.local_uri = msrp_local_path(ep);
  leg.remote_path = ep.msrp_remote_path;
  leg.aor = ep.aor;
  leg.aliases = ep.aliases;
  leg.accept_types = split_types(ep.msrp_accept_types);
  leg.accept_wrapped_types = split_types(ep.msrp_accept_wrapped_types);
  if (ep.msrp_max_size) leg.max_size = ep.msrp_max_size;
  leg.private_messages = ep.msrp_private_messages;
  leg.may_send = ep.msrp_may_send;
  leg.may_receive = ep.msrp_may_receive;
  leg.owner = owner_;
  leg.dialog = ep.dialog;
  leg.connect_out = ep.msrp_connect_out;
  out.msrp.push_back(transport::MsrpAddLeg{std::move(leg)});
  ep.msrp_registered = true;
}

void GroupSession::msrp_release(Effects& out, Endpoint& ep) const {
  if (!ep.msrp_registered) return;
  out.msrp.push_back(transport::MsrpReleaseLeg{ep.msrp_leg_id});
  ep.msrp_registered = false;
}

Effects GroupSession::on_msrp_failure(const transport::MsrpLegFailed& failure, int64_t now_ms) {
  Effects out;
  auto ep = find_endpoint(failure.dialog);
  if (ep == state_.endpoints.end() || ep->msrp_leg_id != failure.leg_id) return out;
  ep->msrp_registered = false;  // the switch already let it go
  if (ep->status != EndpointStatus::Connected || state_.phase != Phase::Active) return out;
  // SESSIONS.md §8.2, §8.7: BYE, reported booted with the reason.
  const std::string aor = ep->aor;
  set_status(*ep, EndpointStatus::Disconnecting);
  ep->rare.set().disconnection_method = "booted";
  ep->rare.set().disconnection_reason = "SIP;text=\"" + failure.reason + "\"";
  report(out, *ep, false, now_ms);
  out.commands.push_back(Hangup{ep->dialog, ep->rare.get().disconnection_reason, false});
  after_departure(out, aor, true, now_ms);
  return out;
}

Effects GroupSession::set_locked(bool locked) {
  Effects out;
  if (state_.locked == locked || state_.phase != Phase::Active) return out;
  state_.locked = locked;
  roster(out);  // no endpoint changed; the description carries the new state
  return out;
}

// ------------------------------------------------------------ dial-out

bool GroupSession::has_pending_invitation(const std::string& aor) const {
  return std::any_of(state_.invitations.begin(), state_.invitations.end(),
                     [&](const Invitation& i) { return i.aor == aor && !i.superseded; });
}

// SESSIONS.md §2.4: one invitation per invitee that is neither connected nor
// already being dialled (E37); every invitee joins the allowed list (§4.2).
void GroupSession::invite_all(Effects& out, const std::vector<codec::Invitee>& invitees, const std::string& inviter,
                              int64_t now_ms) {
  for (const auto& invitee : invitees) {
    if (std::find(state_.allowed.begin(), state_.allowed.end(), invitee.uri) == state_.allowed.end())
      state_.allowed.push_back(invitee.uri);
    if (user_participates(invitee.uri) || has_pending_invitation(invitee.uri)) continue;
    Invitation inv;
    inv.token = state_.next_dial_token++;
    inv.aor = invitee.uri;
    inv.target = invitee.target.empty() ? invitee.uri : invitee.target;
    inv.inviter = inviter;
    state_.invitations.push_back(std::move(inv));
  }
  pump_dials(out, now_ms);
}

// At most dialout.max_parallel INVITEs in flight; the rest wait in order.
void GroupSession::pump_dials(Effects& out, int64_t now_ms) {
  if (state_.phase != Phase::Active) return;
  int in_flight = 0;
  for (const auto& inv : state_.invitations)
    if (inv.state != DialState::Queued) ++in_flight;
  for (auto& inv : state_.invitations) {
    if (in_flight >= std::max(1, config_.dialout.max_parallel)) break;
    if (inv.state != DialState::Queued) continue;
    dial(out, inv, now_ms);
    ++in_flight;
  }
  wake_for_dials(out);
}

void GroupSession::wake_for_dials(Effects& out) const {
  for (const auto& inv : state_.invitations) {
    if (inv.cancelled || inv.state == DialState::Queued) continue;
    out.wake_at_ms = out.wake_at_ms ? std::min(*out.wake_at_ms, inv.no_answer_at_ms) : inv.no_answer_at_ms;
  }
}

void GroupSession::dial(Effects& out, Invitation& inv, int64_t now_ms) {
  inv.leg_id = new_leg_id();
  inv.offer_version = ++state_.sdp_version;
  const std::string offer =
      codec::make_msrp_offer(config_.msrp, inv.leg_id, state_.sdp_session_id, inv.offer_version);
  transport::Dial d;
  d.owner = owner_;
  d.token = inv.token;
  d.request_uri = inv.target;
  d.from_uri = state_.identity;
  d.from_display = state_.subject;
  d.contact = focus_contact();
  d.outbound_proxy = config_.dialout.outbound_proxy;
  // §2.4 header set. Referred-By names who invited (RFC 3892; clients show
  // it); P-Asserted-Identity only towards the trusted core (RFC 3325 §5).
  if (!inv.inviter.empty()) d.headers += "Referred-By: <" + inv.inviter + ">\r\n";
  if (config_.dialout.pai_session && !config_.dialout.outbound_proxy.empty())
    d.headers += "P-Asserted-Identity: <" + state_.identity + ">\r\n";
  d.headers += "Accept-Contact: *;+g.oma.sip-im\r\n";
  d.headers += std::string("Allow: ") + kAllow + "\r\nAllow-Events: conference\r\n";
  d.headers += state_.dial_headers;
  if (state_.recipient_list_history.empty()) {
    d.content_type = "application/sdp";
    d.body = offer;
  } else {
    // RFC 5366 §5: the offer plus who else was invited (to/cc only).
    const std::string boundary = "imserver-" + inv.leg_id;
    d.content_type = "multipart/mixed;boundary=" + boundary;
    d.body = codec::build_multipart({{"application/sdp", "", offer},
                                     {"application/resource-lists+xml", "recipient-list-history; handling=optional",
                                      state_.recipient_list_history}},
                                    boundary);
  }
  out.commands.push_back(std::move(d));
  inv.state = DialState::Calling;
  inv.no_answer_at_ms = now_ms + int64_t{config_.dialout.no_answer_timeout_s} * 1000;
  if (config_.dialout.report_dialing) {
    inv.shown = true;
    report_invitation(out, inv);
  }
}

// §2.6: the provisional endpoint, keyed by the invitee URI until it answers.
void GroupSession::report_invitation(Effects& out, const Invitation& inv) const {
  EndpointReport r;
  r.aor = inv.aor;
  r.entity = inv.target;
  r.connected = true;
  r.pending_status = inv.state == DialState::Ringing ? "alerting" : "dialing-out";
  r.referred_by = inv.inviter;
  roster(out).changed.push_back(std::move(r));
}

Effects GroupSession::on_dial_event(const transport::DialEvent& ev, int64_t now_ms) {
  Effects out;
  auto it = std::find_if(state_.invitations.begin(), state_.invitations.end(),
                         [&](const Invitation& i) { return i.token == ev.token; });
  if (it == state_.invitations.end()) {
    // Not ours any more (a replayed or late report): nobody wants that dialog.
    if (ev.kind == transport::DialEventKind::Answered && ev.dialog) out.commands.push_back(Hangup{ev.dialog, ""});
    return out;
  }
  switch (ev.kind) {
    case transport::DialEventKind::Provisional:
      if (it->state == DialState::Calling) {
        it->state = DialState::Ringing;
        // ALERTING is transient and stays unreported by default (§2.5).
        if (config_.dialout.report_alerting && it->shown && !it->superseded) report_invitation(out, *it);
      }
      return out;
    case transport::DialEventKind::Answered: {
      const Invitation inv = *it;
      state_.invitations.erase(it);
      dial_answered(out, inv, ev, now_ms);
      break;
    }
    case transport::DialEventKind::Failed: {
      const Invitation inv = *it;
      state_.invitations.erase(it);
      if (!inv.superseded) dial_failed(out, inv, ev.status, ev.reason, now_ms);
      break;
    }
  }
  pump_dials(out, now_ms);
  finish_if_done();
  return out;
}

// §2.5: reported failed (busy for 486), then the release policy looks again
// (§2.7), and the invitee's own subscriptions end (§6.2).
void GroupSession::dial_failed(Effects& out, const Invitation& inv, uint16_t status, const std::string& phrase,
                               int64_t now_ms) {
  if (state_.phase != Phase::Active) return;  // release() already reported it
  if (inv.shown) {
    const uint16_t cause = inv.no_answer ? 487 : status;
    std::string text = inv.no_answer ? std::string("No answer") : phrase;
    // The phrase comes from the wire and goes into a quoted string.
    text.erase(std::remove_if(text.begin(), text.end(),
                              [](unsigned char c) { return c == '"' || c == '\\' || c < 0x20 || c == 0x7f; }),
               text.end());
    EndpointReport r;
    r.aor = inv.aor;
    r.entity = inv.target;
    r.connected = false;
    r.disconnection_method = status == 486 && !inv.no_answer ? "busy" : "failed";
    r.disconnection_when = utc_datetime(now_ms);
    r.disconnection_reason = "Reason: SIP;cause=" + std::to_string(cause) + ";text=\"" + text + "\"";
    r.referred_by = inv.inviter;
    roster(out).changed.push_back(std::move(r));
  }
  after_departure(out, inv.aor, false, now_ms);
}

void GroupSession::dial_answered(Effects& out, const Invitation& inv, const transport::DialEvent& ev,
                                 int64_t now_ms) {
  if (inv.superseded || state_.phase != Phase::Active) {
    out.commands.push_back(Hangup{ev.dialog, ""});  // E38, or released meanwhile
    return;
  }
  if (inv.cancelled) {
    // E41: the 2xx crossed our CANCEL: ACKed (by the transport), BYEd, and
    // the invitee stays failed with cause 487.
    out.commands.push_back(Hangup{ev.dialog, ""});
    dial_failed(out, inv, 487, "Request Terminated", now_ms);
    return;
  }
  std::string sdp;
  const std::string type = codec::media_type(ev.content_type);
  if (type == "application/sdp") {
    sdp = ev.body;
  } else if (type == "multipart/mixed") {
    if (auto parts = codec::split_multipart(ev.content_type, ev.body))
      for (const auto& p : *parts)
        if (codec::media_type(p.content_type) == "application/sdp") sdp = p.body;
  }
  auto answer = codec::read_msrp_answer(sdp, config_.msrp, inv.leg_id);
  if (!answer.ok) {
    // E40: ACK (done), BYE at once, failed with cause 488.
    out.commands.push_back(Hangup{ev.dialog, "SIP;cause=488;text=\"Not Acceptable Here\""});
    dial_failed(out, inv, 488, "Not Acceptable Here", now_ms);
    return;
  }
  Endpoint ep;
  ep.dialog = ev.dialog;
  ep.aor = inv.aor;
  ep.entity = inv.target;
  for (const auto& h : ev.headers) {
    if (h.name != "contact") continue;
    if (auto na = codec::parse_name_addr(h.value)) ep.entity = na->uri;
    break;
  }
  ep.status = EndpointStatus::Connected;  // our ACK is out (§1.3)
  ep.joined_ms = now_ms;
  ep.dialed_out = true;
  if (!inv.inviter.empty()) ep.rare.set().referred_by = inv.inviter;
  take_leg(ep, std::move(answer.leg));
  // Our side of the dialog's SDP is the offer exactly as sent (same o=
  // version), e.g. for a re-INVITE without body (RFC 3264 §8).
  ep.our_sdp_version = inv.offer_version;
  ep.focus_offered = true;
  ep.msrp_leg_id = inv.leg_id;
  add_endpoint(std::move(ep));
  msrp_add(out, state_.endpoints.back());
  // §2.6, example J2: the provisional endpoint goes and the real one comes
  // in the same document.
  if (inv.shown && state_.endpoints.back().entity != inv.target) {
    EndpointReport gone;
    gone.aor = inv.aor;
    gone.entity = inv.target;
    gone.withdrawn = true;
    roster(out).changed.push_back(std::move(gone));
  }
  report(out, state_.endpoints.back(), true, now_ms);
}

// §4.3, E38: the dial-in wins; the dial-out is cancelled (or BYEd if its 2xx
// still comes) and never reported again. Its provisional endpoint goes when
// the dial-in is connected (or gives up).
void GroupSession::supersede_dials(const std::string& aor, Endpoint& dial_in, Effects& out) {
  for (auto it = state_.invitations.begin(); it != state_.invitations.end();) {
    if (it->aor != aor || it->superseded) {
      ++it;
      continue;
    }
    if (it->shown) dial_in.rare.set().withdraws_entity = it->target;
    if (it->state == DialState::Queued) {
      it = state_.invitations.erase(it);
      continue;
    }
    it->superseded = true;
    it->shown = false;
    if (!it->cancelled) {
      out.commands.push_back(transport::CancelDial{owner_, it->token});
      it->cancelled = true;
    }
    ++it;
  }
}

void GroupSession::withdraw_superseded(Effects& out, Endpoint& ep) {
  if (ep.rare.get().withdraws_entity.empty()) return;
  if (ep.rare.get().withdraws_entity != ep.entity || ep.status != EndpointStatus::Connected) {
    EndpointReport gone;
    gone.aor = ep.aor;
    gone.entity = ep.rare.get().withdraws_entity;
    gone.withdrawn = true;
    roster(out).changed.push_back(std::move(gone));
  }
  ep.rare.set().withdraws_entity.clear();
}

// §7.4: the answer to the offer our 2xx carried, from the ACK. Fills the
// leg as answer_msrp_offer does for an offer; false when it is unusable.
bool GroupSession::take_ack_answer(Endpoint& ep, const transport::DialogEvent& ack) const {
  if (codec::media_type(ack.content_type) != "application/sdp") return false;
  auto a = codec::read_msrp_answer(ack.body, config_.msrp, ep.msrp_leg_id);
  if (!a.ok) return false;
  take_leg(ep, std::move(a.leg));
  ep.last_offer = ack.body;
  return true;
}

// "Anyone who joined before" may rejoin an invited-only session (J-d). Only
// that policy reads the list, so elsewhere it would copy every participant's
// address for nothing (issue 7).
void GroupSession::remember_joiner(const std::string& aor) {
  if (state_.kind != policy::SessionKind::AdHoc || config_.join_policy != policy::AdhocJoinPolicy::Invited) return;
  if (std::find(state_.allowed.begin(), state_.allowed.end(), aor) == state_.allowed.end())
    state_.allowed.push_back(aor);
}

std::string GroupSession::msrp_local_path(const Endpoint& ep) const {
  return codec::msrp_focus_path(config_.msrp, ep.msrp_leg_id, ep.msrp_tls);
}

std::string GroupSession::our_sdp(const Endpoint& ep) const {
  if (ep.focus_offered)
    return codec::make_msrp_offer(config_.msrp, ep.msrp_leg_id, state_.sdp_session_id, ep.our_sdp_version);
  return codec::answer_msrp_offer(ep.last_offer, config_.msrp, ep.msrp_leg_id, state_.sdp_session_id,
                                  ep.our_sdp_version)
      .sdp;
}

// What the MSRP switch needs from the participant's SDP, whichever side offered.
void GroupSession::take_leg(Endpoint& ep, codec::MsrpLeg&& leg) {
  ep.msrp_tls = leg.local_path.rfind("msrps:", 0) == 0;
  ep.msrp_remote_path = std::move(leg.remote_path);
  ep.msrp_accept_types = join_types(leg.accept_types);
  ep.msrp_accept_wrapped_types = join_types(leg.accept_wrapped_types);
  ep.msrp_max_size = leg.max_size.value_or(0);
  ep.msrp_private_messages = leg.private_messages;
  // RFC 3264 §6.1 from the focus's side: it sends unless the participant
  // only sends, and takes payloads unless the participant only receives.
  ep.msrp_may_send = leg.offer_direction != "recvonly" && leg.offer_direction != "inactive";
  ep.msrp_may_receive = leg.offer_direction != "sendonly" && leg.offer_direction != "inactive";
  // §7.3: the focus connects when the participant is passive (or, in an
  // answer to our offer, says nothing).
  ep.msrp_connect_out = leg.answer_setup == "active";
}

}  // namespace imserver::session
