#pragma once
// One IM Group Session as a plain state machine: requests and dialog events
// in, transport commands out. No CAF, no libre, no clock, no randomness of
// its own (the seed and the time come in), so it runs the same in a unit
// test, in the session actor, and when replayed from a msgpack journal.

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <msgpack.hpp>

#include "actors/session/conference_events.hpp"
#include "actors/session/on_demand.hpp"
#include "actors/session/session_config.hpp"
#include "policy/identity.hpp"
#include "policy/release_policy.hpp"
#include "transport/codec/resource_list.hpp"
#include "transport/codec/sip_uri.hpp"
#include "transport/msrp/msrp_messages.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::session {

enum class Phase : uint8_t { Active, Releasing, Released };

// PROTOCOL.md §1.4 endpoint states. Disconnected endpoints leave the roster
// at once for now; the report-then-purge rule arrives with conference state.
enum class EndpointStatus : uint8_t { Joining, Connected, Disconnecting };

// What few endpoints ever have: how it left (set only once it is leaving),
// who invited it (dial-out), the provisional endpoint it replaces (§4.3) and
// its anonymous name. Kept apart so the usual endpoint pays one pointer.
struct EndpointRare {
  std::string disconnection_method;  // "departed" | "booted" once leaving
  std::string disconnected_by;
  std::string disconnection_reason;
  std::string referred_by;  // the inviter of a dialled-out endpoint
  // A dial-in that superseded this user's pending dial-out (§4.3): the
  // provisional endpoint shown for the dial-out goes when this one is connected.
  std::string withdraws_entity;
  // Privacy: id/user (SESSIONS.md §5, E51): the anonymous <user entity>
  // shown instead of the AoR; empty when the user is not anonymous.
  std::string shown_as;
  MSGPACK_DEFINE(disconnection_method, disconnected_by, disconnection_reason, referred_by, withdraws_entity,
                 shown_as);
};

struct Endpoint {
  uint64_t dialog = 0;
  uint64_t join_request = 0;  // the INVITE being answered while Joining
  std::string aor;            // canonical IM address of the user
  std::string entity;         // RFC 4575 endpoint key: the Contact URI
  EndpointStatus status = EndpointStatus::Joining;
  int64_t joined_ms = 0;
  OnDemand<EndpointRare> rare;
  // MSRP leg as negotiated. Our path is not kept: GroupSession::msrp_local_path()
  // derives it from the leg id (and msrp_tls), like the SDP below.
  std::vector<std::string> msrp_remote_path;
  std::string last_offer;
  // Our side of the dialog's SDP is not kept (~300 bytes a participant,
  // issue 7): GroupSession::our_sdp() rebuilds it, byte for byte, from what
  // made it (a pure function of the offer, the config, the leg id and the
  // o= version), for the rare re-INVITE that needs it.
  uint64_t our_sdp_version = 0;  // o= version of our SDP
  bool focus_offered = false;    // our SDP is our own offer (delayed offer, dial-out), not an answer to last_offer
  bool msrp_tls = false;         // the leg is TCP/TLS/MSRP: our path is msrps:
  // What the MSRP switch needs about the leg (SESSIONS.md §7.1, §8.5).
  std::string msrp_leg_id;  // session-id of our path
  // Space-separated, as in the SDP: one string costs no heap for the usual
  // one or two short types, a vector of them did.
  std::string msrp_accept_types, msrp_accept_wrapped_types;
  uint64_t msrp_max_size = 0;  // 0: the participant gave no a=max-size
  bool msrp_private_messages = false;
  bool msrp_may_send = true, msrp_may_receive = true;
  bool msrp_registered = false;  // the switch knows the leg
  bool dialed_out = false;       // RFC 4575 §5.7.4 joining-method: dialed-out, else dialed-in
  bool msrp_connect_out = false;  // the focus opens the MSRP connection (SESSIONS.md §7.3)
  // The user's asserted identities other than `aor` (PAI values, the
  // anonymous name; CPIM From may be any of them or the AoR).
  std::vector<std::string> aliases;
  // Delayed offer (SESSIONS.md §7.4): our 2xx carried the offer; the answer
  // comes in the ACK.
  bool awaiting_answer = false;
  MSGPACK_DEFINE(dialog, join_request, aor, entity, status, joined_ms, rare, msrp_remote_path, last_offer,
                 our_sdp_version, focus_offered, msrp_tls, msrp_leg_id, msrp_accept_types, msrp_accept_wrapped_types,
                 msrp_max_size, msrp_private_messages, msrp_may_send, msrp_may_receive, msrp_registered, dialed_out,
                 msrp_connect_out, aliases, awaiting_answer);
};

// The roster. A deque, not a vector: an endpoint is ~300 bytes, so each sits
// in a node of its own and the roster never holds the up to 100% (28% at 100
// participants) spare capacity of a doubling vector (issue 7). References
// stay valid across push_back; iterators are invalidated as with a vector.
using Endpoints = std::deque<Endpoint>;

// SESSIONS.md §1.3 dial-out states of an invitee until its INVITE has a
// final outcome; then the invitation becomes an Endpoint (2xx) or is
// reported failed and dropped.
enum class DialState : uint8_t {
  Queued,   // waiting for a free slot (dialout.max_parallel)
  Calling,  // INVITE sent: DIALING_OUT
  Ringing,  // 180/183 seen: ALERTING
};

struct Invitation {
  uint64_t token = 0;      // Dial token, unique in the session
  std::string aor;         // canonical AoR of the invitee
  std::string target;      // Request-URI and To; the provisional endpoint entity (§2.6)
  std::string inviter;     // Referred-By and <referred><by>
  DialState state = DialState::Queued;
  bool shown = false;      // subscribers were told about the provisional endpoint
  bool cancelled = false;  // CancelDial sent (no answer, superseded, release)
  bool no_answer = false;  // cancelled by dialout.no_answer_timeout_s
  bool superseded = false; // the invitee dialed in (E38): this dial is no longer reported
  int64_t no_answer_at_ms = 0;
  std::string leg_id;      // session-id of the focus's path in the offer
  uint64_t offer_version = 0;  // o= version of that offer, so the dialog keeps describing it
  MSGPACK_DEFINE(token, aor, target, inviter, state, shown, cancelled, no_answer, superseded, no_answer_at_ms,
                 leg_id, offer_version);
};

// The implicit subscription of an accepted REFER (PROTOCOL.md §3.6): it
// lives in the dialog the 2xx created or in the dialog the REFER arrived in,
// reports 100 Trying, then 200 OK once every focus BYE of the removal is done.
struct ReferSubscription {
  uint64_t dialog = 0;
  std::string event_id;            // the REFER's CSeq: Event: refer;id=<it>
  std::vector<uint64_t> removing;  // dialogs whose focus BYE has not finished
  bool removal_done = false;
  bool terminate = false;          // unsubscribed or expired: end it before the removal is done
  bool notify_due = true;          // something the subscriber has not been told
  bool terminated_sent = false;    // the final NOTIFY is out
  uint64_t in_flight = 0;          // token of the NOTIFY awaiting its answer (one at a time)
  bool ever_sent = false;
  int64_t last_notify_ms = 0;
  int64_t expires_at_ms = 0;
  MSGPACK_DEFINE(dialog, event_id, removing, removal_done, terminate, notify_due, terminated_sent, in_flight,
                 ever_sent, last_notify_ms, expires_at_ms);
};

struct SessionState {
  std::string identity;  // sip:gs-...@domain
  policy::SessionKind kind = policy::SessionKind::AdHoc;
  Phase phase = Phase::Active;
  std::string initiator;             // AoR of the creator (role initiator/host)
  std::string subject;
  std::vector<std::string> allowed;  // join.adhoc_policy=invited: who may dial in
  Endpoints endpoints;
  uint64_t sdp_session_id = 0;
  uint64_t sdp_version = 0;
  std::vector<ReferSubscription> refer_subs;
  uint64_t next_token = 1;  // SendInDialog tokens of the session's own NOTIFYs
  // PREDEFINED sessions (SESSIONS.md §3): the group as it was when the
  // session started (a reload of the groups file does not touch it).
  std::string group;
  std::vector<std::string> group_members;
  bool group_allows_non_members = false;
  bool locked = false;
  // Dial-out (SESSIONS.md §2.4): invitations without a final outcome, and
  // what every dial-out INVITE of this session carries.
  std::vector<Invitation> invitations;
  uint64_t next_dial_token = 1;
  std::string dial_headers;          // copied Subject, Contribution-ID, Conversation-ID lines
  std::string recipient_list_history;  // body part for the §2.4 multipart; empty: SDP only
  uint32_t next_anonymous = 1;         // N of the next sip:anonymousN@anonymous.invalid
  MSGPACK_DEFINE(identity, kind, phase, initiator, subject, allowed, endpoints, sdp_session_id, sdp_version,
                 refer_subs, next_token, group, group_members, group_allows_non_members, locked, invitations,
                 next_dial_token, dial_headers, recipient_list_history, next_anonymous);
};

// What one step produced.
struct Effects {
  std::vector<transport::Command> commands;
  policy::ReleaseReason release = policy::ReleaseReason::None;  // set when this step started the release
  // For the session's notifier: roster changes and the termination policy's
  // decision (sent after `commands`), and a SUBSCRIBE to accept.
  std::optional<RosterUpdate> roster;
  std::optional<AuthorizedSubscribe> subscribe;
  // For the MSRP worker. Posted just before `commands`, so a leg is
  // registered before its 2xx leaves (the participant binds right after its
  // ACK); a leaver's leg goes together with its BYE (PROTOCOL.md §5.3 step 4).
  std::vector<transport::MsrpCommand> msrp;
  // Call on_tick() at this time (a rate-limited or expiring refer NOTIFY).
  std::optional<int64_t> wake_at_ms;
};

class GroupSession {
 public:
  // `owner` is the tag the transport echoes in this session's dialog events.
  GroupSession(SessionConfig config, std::string identity, policy::SessionKind kind, std::string owner,
               uint64_t seed);

  // Before create(): the session belongs to this pre-defined group
  // (membership authorizes joins and subscriptions; its subject is the default).
  void set_group(const std::string& group_uri, std::vector<std::string> members, bool allow_non_members,
                 bool locked, const std::string& subject);

  // The groups file was reloaded: membership for later joins and
  // subscriptions (nobody already in is removed).
  void update_group(std::vector<std::string> members, bool allow_non_members, bool locked);

  // The INVITE that created the session; check_creation already passed.
  // Every invitee is dialled out once the creator's 2xx is on its way
  // (SESSIONS.md §2.3 step 4); `invitees` come from the list (§2.2) or the
  // group's other members (§3.2 G2).
  Effects create(const transport::InboundRequest& invite, const policy::AssertedIdentity& creator, int64_t now_ms,
                 const std::vector<codec::Invitee>& invitees = {});

  // The outcome or a provisional response of one of this session's dial-outs.
  Effects on_dial_event(const transport::DialEvent& event, int64_t now_ms);

  // A request addressed to the session identity or inside one of its
  // dialogs. `originator` is identify()'s result for it.
  Effects on_request(const transport::InboundRequest& request,
                     const std::optional<policy::AssertedIdentity>& originator, int64_t now_ms);

  Effects on_dialog_event(const transport::DialogEvent& event, int64_t now_ms);

  // Locks or unlocks the roster (J-e: a locked session takes no new users;
  // conference-state/locked shows it). Moderation has no wire request yet,
  // so only the test hook uses it.
  Effects set_locked(bool locked);

  // The MSRP switch gave up on a leg (congestion, no answer, MSRP error):
  // the participant is removed like a booted one, with that reason.
  Effects on_msrp_failure(const transport::MsrpLegFailed& failure, int64_t now_ms);

  // The time an earlier Effects::wake_at_ms asked for (or later).
  Effects on_tick(int64_t now_ms);

  // Released and every BYE answered: the actor may stop.
  bool finished() const { return state_.phase == Phase::Released; }

  const SessionState& state() const { return state_; }
  const SessionConfig& config() const { return config_; }

  // Users that currently participate (at least one connected endpoint).
  int participating_users() const;

  // The per-user counts and the dialog index kept beside the roster agree
  // with the roster itself (for tests).
  bool user_counts_match_roster() const;

  // The focus's current SDP in `ep`'s dialog: the answer its 2xx carried,
  // or our offer when the focus offered.
  std::string our_sdp(const Endpoint& ep) const;

  // The focus's a=path URI of `ep`'s MSRP leg (what answer_msrp_offer put in our SDP).
  std::string msrp_local_path(const Endpoint& ep) const;

 private:
  Effects join(const transport::InboundRequest& invite, const policy::AssertedIdentity& who, bool creating,
               int64_t now_ms);
  Effects reinvite(const transport::InboundRequest& invite, Endpoint& ep);
  Effects subscribe(const transport::InboundRequest& r, const std::optional<policy::AssertedIdentity>& originator);
  void depart(Effects& out, Endpoints::iterator ep, bool initiator_may_have_left, int64_t now_ms);
  void after_departure(Effects& out, const std::string& aor, bool initiator_may_have_left, int64_t now_ms);
  // REFER method=BYE (PROTOCOL.md §3) and its implicit subscription.
  Effects refer(const transport::InboundRequest& r, const std::optional<policy::AssertedIdentity>& originator,
                int64_t now_ms);
  Effects refer_subscribe(const transport::InboundRequest& r, int64_t now_ms);
  // §5.3 for every endpoint of `aor`: booted by `by`, BYE, reported.
  void remove_user(Effects& out, const std::string& aor, const std::string& by, int64_t now_ms);
  void pump_refer(Effects& out, ReferSubscription& sub, int64_t now_ms);
  void end_refer(Effects& out, std::vector<ReferSubscription>::iterator sub);
  // An endpoint's dialog is over (our BYE done, a crossing BYE, ...).
  void endpoint_gone(Effects& out, uint64_t dialog, int64_t now_ms);
  bool user_participates(const std::string& aor) const;
  // Dial-out (SESSIONS.md §2.4-§2.7, §9.2).
  void invite_all(Effects& out, const std::vector<codec::Invitee>& invitees, const std::string& inviter,
                  int64_t now_ms);
  void pump_dials(Effects& out, int64_t now_ms);
  void dial(Effects& out, Invitation& inv, int64_t now_ms);
  void dial_failed(Effects& out, const Invitation& inv, uint16_t status, const std::string& phrase, int64_t now_ms);
  void dial_answered(Effects& out, const Invitation& inv, const transport::DialEvent& ev, int64_t now_ms);
  // A dial-in by `aor` was accepted: its pending dial-out is cancelled (E38).
  void supersede_dials(const std::string& aor, Endpoint& dial_in, Effects& out);
  void report_invitation(Effects& out, const Invitation& inv) const;
  bool take_ack_answer(Endpoint& ep, const transport::DialogEvent& ack) const;
  static void take_leg(Endpoint& ep, codec::MsrpLeg&& leg);
  // The provisional endpoint a dial-in superseded leaves the roster.
  void withdraw_superseded(Effects& out, Endpoint& ep);
  void wake_for_dials(Effects& out) const;
  bool has_pending_invitation(const std::string& aor) const;
  void remember_joiner(const std::string& aor);
  // Registers / releases the endpoint's leg at the MSRP switch.
  void msrp_add(Effects& out, Endpoint& ep) const;
  void msrp_release(Effects& out, Endpoint& ep) const;
  bool names_this_session(const codec::Uri& uri) const;
  void release(Effects& out, policy::ReleaseReason why, int64_t now_ms);
  RosterUpdate& roster(Effects& out) const;
  void report(Effects& out, const Endpoint& ep, bool connected, int64_t now_ms) const;
  ConferenceDescription description() const;
  void finish_if_done();
  std::string focus_contact() const;
  std::string new_leg_id();
  Endpoints::iterator find_endpoint(uint64_t dialog);

  // Every change to the roster goes through these three, so users_ below
  // stays in step with state_.endpoints.
  Endpoint& add_endpoint(Endpoint&& ep);
  void set_status(Endpoint& ep, EndpointStatus status);
  void erase_endpoint(Endpoints::iterator ep);
  void recount(const std::string& aor, EndpointStatus from, EndpointStatus to);

  // How many of a user's endpoints are Joining or Connected (Disconnecting
  // ones are not counted). Every join and departure asks who is in and how
  // many users remain; answering that from the roster meant hashing or
  // comparing every participant's address per step, which led the CAF
  // workers' profile in the leave storm. Derived from state_.endpoints, so
  // not part of SessionState.
  struct UserTally {
    uint32_t joining = 0;
    uint32_t connected = 0;
  };
  const UserTally* tally(const std::string& aor) const;
  bool user_active(const std::string& aor) const;  // an endpoint Joining or Connected
  // Distinct users of pending dial-outs that have no Joining or Connected
  // endpoint (what the invitations add to the roster's user counts).
  int invitation_only_users() const;

  SessionConfig config_;
  SessionState state_;
  std::string owner_;
  std::mt19937_64 rng_;
  std::unordered_map<std::string, UserTally> users_;  // only users with a Joining or Connected endpoint
  // The endpoints' dialogs in roster order: find_endpoint() (every BYE and
  // ACK) scans these 8 bytes apiece rather than one ~300-byte deque node
  // per endpoint.
  std::vector<uint64_t> dialogs_;
  int users_connected_ = 0;     // users with a Connected endpoint
  int users_joining_only_ = 0;  // users with a Joining endpoint and none Connected
  int users_active_ = 0;        // users with a Joining or Connected endpoint
};

}  // namespace imserver::session

MSGPACK_ADD_ENUM(imserver::session::Phase);
MSGPACK_ADD_ENUM(imserver::session::EndpointStatus);
MSGPACK_ADD_ENUM(imserver::session::DialState);
MSGPACK_ADD_ENUM(imserver::policy::SessionKind);
