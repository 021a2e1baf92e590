#pragma once
// One IM Group Session as a plain state machine: requests and dialog events
// in, transport commands out. No CAF, no libre, no clock, no randomness of
// its own (the seed and the time come in), so it runs the same in a unit
// test, in the session actor, and when replayed from a msgpack journal.

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "actors/session/conference_events.hpp"
#include "actors/session/session_config.hpp"
#include "policy/identity.hpp"
#include "policy/release_policy.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::session {

enum class Phase : uint8_t { Active, Releasing, Released };

// PROTOCOL.md §1.4 endpoint states. Disconnected endpoints leave the roster
// at once for now; the report-then-purge rule arrives with conference state.
enum class EndpointStatus : uint8_t { Joining, Connected, Disconnecting };

struct Endpoint {
  uint64_t dialog = 0;
  uint64_t join_request = 0;  // the INVITE being answered while Joining
  std::string aor;            // canonical IM address of the user
  std::string entity;         // RFC 4575 endpoint key: the Contact URI
  EndpointStatus status = EndpointStatus::Joining;
  int64_t joined_ms = 0;
  std::string disconnection_method;  // "departed" | "booted" once leaving
  std::string disconnected_by;
  // MSRP leg as negotiated (the relay arrives with the MSRP issue).
  std::string msrp_local_path;
  std::vector<std::string> msrp_remote_path;
  std::string last_offer;
  std::string sdp_answer;
  MSGPACK_DEFINE(dialog, join_request, aor, entity, status, joined_ms, disconnection_method, disconnected_by,
                 msrp_local_path, msrp_remote_path, last_offer, sdp_answer);
};

struct SessionState {
  std::string identity;  // sip:gs-...@domain
  policy::SessionKind kind = policy::SessionKind::AdHoc;
  Phase phase = Phase::Active;
  std::string initiator;             // AoR of the creator (role initiator/host)
  std::string subject;
  std::vector<std::string> allowed;  // join.adhoc_policy=invited: who may dial in
  std::vector<Endpoint> endpoints;
  uint64_t sdp_session_id = 0;
  uint64_t sdp_version = 0;
  MSGPACK_DEFINE(identity, kind, phase, initiator, subject, allowed, endpoints, sdp_session_id, sdp_version);
};

// What one step produced.
struct Effects {
  std::vector<transport::Command> commands;
  policy::ReleaseReason release = policy::ReleaseReason::None;  // set when this step started the release
  // For the session's notifier: roster changes and the termination policy's
  // decision (sent after `commands`), and a SUBSCRIBE to accept.
  std::optional<RosterUpdate> roster;
  std::optional<AuthorizedSubscribe> subscribe;
};

class GroupSession {
 public:
  // `owner` is the tag the transport echoes in this session's dialog events.
  GroupSession(SessionConfig config, std::string identity, policy::SessionKind kind, std::string owner,
               uint64_t seed);

  // The INVITE that created the session; check_creation already passed.
  Effects create(const transport::InboundRequest& invite, const policy::AssertedIdentity& creator, int64_t now_ms);

  // A request addressed to the session identity or inside one of its
  // dialogs. `originator` is identify()'s result for it.
  Effects on_request(const transport::InboundRequest& request,
                     const std::optional<policy::AssertedIdentity>& originator, int64_t now_ms);

  Effects on_dialog_event(const transport::DialogEvent& event, int64_t now_ms);

  // Released and every BYE answered: the actor may stop.
  bool finished() const { return state_.phase == Phase::Released; }

  const SessionState& state() const { return state_; }
  const SessionConfig& config() const { return config_; }

  // Users that currently participate (at least one connected endpoint).
  int participating_users() const;

 private:
  Effects join(const transport::InboundRequest& invite, const policy::AssertedIdentity& who, bool creating,
               int64_t now_ms);
  Effects reinvite(const transport::InboundRequest& invite, Endpoint& ep);
  Effects subscribe(const transport::InboundRequest& r, const std::optional<policy::AssertedIdentity>& originator);
  void depart(Effects& out, std::vector<Endpoint>::iterator ep, bool initiator_may_have_left, int64_t now_ms);
  void release(Effects& out, policy::ReleaseReason why, int64_t now_ms);
  RosterUpdate& roster(Effects& out) const;
  void report(Effects& out, const Endpoint& ep, bool connected, int64_t now_ms) const;
  ConferenceDescription description() const;
  void finish_if_done();
  std::string focus_contact() const;
  std::string new_leg_id();
  std::vector<Endpoint>::iterator find_endpoint(uint64_t dialog);

  SessionConfig config_;
  SessionState state_;
  std::string owner_;
  std::mt19937_64 rng_;
};

}  // namespace imserver::session

MSGPACK_ADD_ENUM(imserver::session::Phase);
MSGPACK_ADD_ENUM(imserver::session::EndpointStatus);
MSGPACK_ADD_ENUM(imserver::policy::SessionKind);
