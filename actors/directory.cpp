#include "actors/directory.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <random>
#include <unordered_map>

#include "actors/caf_types.hpp"
#include "actors/notifier_actor.hpp"
#include "actors/session/refer_checks.hpp"
#include "actors/session/request_checks.hpp"
#include "actors/session_actor.hpp"
#include "actors/session_registry.hpp"
#include "transport/codec/sip_uri.hpp"

namespace imserver::actors {
namespace {

using session::respond;
using transport::InboundRequest;

struct DirectoryState {
  DirectoryConfig config;
  transport::CommandSink* sink = nullptr;
  transport::MsrpCommandSink* msrp = nullptr;
  std::unique_ptr<SessionRegistry> registry = std::make_unique<LocalSessionRegistry>();
  std::unordered_map<caf::actor_addr, std::string> identity_of;  // for down messages
  std::unordered_map<std::string, policy::Group> groups;           // by canonical group URI
  std::unordered_map<std::string, std::string> active_of_group;    // group URI -> its ACTIVE session
  std::unordered_map<std::string, std::string> group_of_session;   // and back
  std::vector<caf::actor> notifiers;
  uint64_t next_sequence = 1;
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "im-directory";
};

using Directory = caf::stateful_actor<DirectoryState>;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// SESSIONS.md §1.2: `gs-` plus at least 64 random bits in lower-case base32,
// or gs-1, gs-2, ... in the test profile.
std::string new_identity(DirectoryState& st) {
  std::string user;
  if (st.config.sequential_identities) {
    user = "gs-" + std::to_string(st.next_sequence++);
  } else {
    static const char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
    uint64_t bits = st.rng();
    user = "gs-";
    for (int i = 0; i < 13; ++i) {  // 13 symbols x 5 bits >= 64 bits
      user += kBase32[bits & 31];
      bits >>= 5;
      if (i == 11) bits ^= st.rng();  // the 13th symbol needs fresh bits
    }
  }
  return "sip:" + user + "@" + st.config.session.domain;
}

// Each session always uses the same notifier, so its roster changes and
// subscriptions stay in order.
const caf::actor& notifier_of(DirectoryState& st, const std::string& identity) {
  return st.notifiers[std::hash<std::string>{}(identity) % st.notifiers.size()];
}

// The session is gone: its notifier ends every subscription it still has
// (noresource) and drops the session's state.
void tell_notifier_gone(Directory* self, const std::string& identity) {
  session::RosterUpdate gone;
  gone.description.identity = identity;
  gone.released = true;
  self->send(notifier_of(self->state, identity), std::move(gone));
}

void reply(DirectoryState& st, transport::Respond r) { st.sink->post({transport::Command{std::move(r)}}); }

int64_t wall_clock_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// SESSIONS.md §2.2 rule 3 (loop protection): a factory, a group, or any
// session identity of this server is never dialled out to.
bool is_own_uri(const DirectoryState& st, const std::string& aor) {
  auto uri = codec::parse_uri(aor);
  if (!uri) return false;
  const auto& served = st.config.served_hosts;
  if (std::find(served.begin(), served.end(), lower(uri->host)) == served.end()) return false;
  codec::Uri key = *uri;
  key.host = st.config.session.domain;
  const std::string canonical = codec::canonical_aor(key);
  const auto& factories = st.config.factory_aors;
  if (std::find(factories.begin(), factories.end(), canonical) != factories.end()) return true;
  if (st.groups.count(canonical)) return true;
  return lower(key.user).rfind("gs-", 0) == 0;
}

void create_session(Directory* self, InboundRequest& r, const policy::Group* group = nullptr) {
  auto& st = self->state;
  // Only the factory reads lists (G4).
  session::CreationList list;
  list.exclude = [&st](const std::string& aor) { return is_own_uri(st, aor); };
  list.max_invitees = static_cast<size_t>(std::max(0, st.config.session.max_participants - 1));
  list.warn_agent = st.config.session.domain;
  auto checked = session::check_creation(r, st.config.trusted, st.config.session.msrp, st.config.digest.get(),
                                         wall_clock_s(), group ? nullptr : &list);
  if (auto* refusal = std::get_if<transport::Respond>(&checked)) return reply(st, *refusal);
  SessionSpawn spawn;
  spawn.config = st.config.session;
  spawn.identity = new_identity(st);
  spawn.kind = policy::SessionKind::AdHoc;
  if (group) {
    // SESSIONS.md §3.2 G1, G2.
    const auto& creator = std::get<policy::AssertedIdentity>(checked);
    if (!group->allow_non_members && !group->is_member(creator.aor))
      return reply(st, respond(r, 403, "Forbidden",
                               session::warning_line(399, st.config.session.domain, "Not a group member")));
    spawn.kind = policy::SessionKind::Predefined;
    spawn.group = *group;
    if (group->max_participants > 0) spawn.config.max_participants = group->max_participants;
    if (group->dialout_on_create) {
      // G2: every other member is invited, with an SDP-only body.
      for (const auto& m : group->members) {
        if (m.aor == creator.aor) continue;
        codec::Invitee invitee;
        invitee.uri = m.aor;
        invitee.target = m.aor;
        invitee.copy = codec::CopyControl::Bcc;
        spawn.invitees.push_back(std::move(invitee));
      }
    }
    st.active_of_group[group->uri] = spawn.identity;
    st.group_of_session[spawn.identity] = group->uri;
  }
  spawn.seed = st.rng();
  spawn.trusted = st.config.trusted;
  spawn.digest = st.config.digest;
  spawn.answer_delay_ms = st.config.answer_delay_ms;
  spawn.test_hooks = st.config.test_hooks;
  spawn.creator = std::get<policy::AssertedIdentity>(checked);
  if (!group) spawn.invitees = std::move(list.invitees);
  spawn.creating_invite = std::move(r);
  spawn.notifier = notifier_of(st, spawn.identity);
  spawn.directory = caf::actor_cast<caf::actor>(self);
  spawn.msrp = st.msrp;
  const std::string identity = spawn.identity;
  auto session = spawn_session(self->system(), std::move(spawn), st.sink);
  self->monitor(session);
  st.identity_of[session.address()] = identity;
  st.registry->add(identity, session);
}

void at_factory(Directory* self, InboundRequest& r) {
  auto& st = self->state;
  if (r.method == "INVITE") return create_session(self, r);
  if (r.method == "OPTIONS")
    return reply(st, respond(r, 200, "OK",
                             std::string("Allow: ") + session::kAllow +
                                 "\r\nAccept: application/sdp, multipart/mixed, application/resource-lists+xml"
                                 "\r\nSupported: recipient-list-invite\r\n"));
  // The factory has no conference state to subscribe to, and no session
  // a REFER could name (SESSIONS.md §1.1).
  if (r.method == "SUBSCRIBE") return reply(st, respond(r, 404, "Not Found"));
  if (r.method == "REFER") return reply(st, respond(r, 403, "Forbidden"));
  reply(st, session::method_not_allowed(r));
}

// PROTOCOL.md §3.3: the Request-URI only routes; the session a REFER BYE
// names in Refer-To decides, so the REFER goes to that session's actor. With
// refer.allow_remove_others a Refer-To naming a user goes to the session of
// the Request-URI (§3.8). Anything else is refused by the seed's step 2b.
void route_refer(Directory* self, InboundRequest& r, const std::string& request_key) {
  auto& st = self->state;
  auto checked = session::check_refer(r, st.config.session.refer.lenient_unbracketed_method);
  if (auto* refusal = std::get_if<transport::Respond>(&checked)) return reply(st, *refusal);
  codec::Uri named = codec::refer_session_uri(std::get<session::ReferRequest>(checked).target);
  const auto& served = st.config.served_hosts;
  if (std::find(served.begin(), served.end(), lower(named.host)) != served.end()) {
    named.host = st.config.session.domain;
    if (auto session = st.registry->find(codec::canonical_aor(named))) {
      self->send(*session, std::move(r));
      return;
    }
  }
  if (st.config.session.refer.allow_remove_others) {
    if (auto session = st.registry->find(request_key)) {
      self->send(*session, std::move(r));
      return;
    }
  }
  reply(st, respond(r, 403, "Forbidden"));
}

// Forgets which group a finished or failed session served.
void forget_group_session(DirectoryState& st, const std::string& identity) {
  auto it = st.group_of_session.find(identity);
  if (it == st.group_of_session.end()) return;
  auto active = st.active_of_group.find(it->second);
  if (active != st.active_of_group.end() && active->second == identity) st.active_of_group.erase(active);
  st.group_of_session.erase(it);
}

// SESSIONS.md §3.2 and §6.1 S-a': a pre-defined group's URI stands for its
// ACTIVE session, or creates one.
void at_group(Directory* self, InboundRequest& r, const policy::Group& group) {
  auto& st = self->state;
  std::optional<caf::actor> active;
  if (auto it = st.active_of_group.find(group.uri); it != st.active_of_group.end())
    active = st.registry->find(it->second);
  if (r.method == "INVITE") {
    // G4: lists belong to the factory.
    if (auto bad = session::check_require(r, {})) return reply(st, *bad);
    if (!active) return create_session(self, r, &group);
    // G3: the session checks membership like any join.
    self->send(*active, std::move(r));
    return;
  }
  if (r.method == "REFER") return route_refer(self, r, group.uri);
  if (active) {
    self->send(*active, std::move(r));
    return;
  }
  if (r.method == "SUBSCRIBE" || r.method == "OPTIONS")
    return reply(st, respond(r, 480, "Temporarily Unavailable"));
  reply(st, session::method_not_allowed(r));
}

void route_request(Directory* self, InboundRequest& r) {
  auto& st = self->state;
  if (r.in_dialog) {
    // Inside a dialog the dialog decides, not the Request-URI (PROTOCOL.md §2.1).
    if (long n = notifier_index(r.owner); n >= 0 && static_cast<size_t>(n) < st.notifiers.size()) {
      self->send(st.notifiers[n], std::move(r));
      return;
    }
    if (auto session = st.registry->find(r.owner); session && !r.owner.empty()) {
      self->send(*session, std::move(r));
      return;
    }
    return reply(st, respond(r, 481, "Call/Transaction Does Not Exist"));
  }
  // RFC 3261 §8.2.1 then §8.2.2.1: method, then Request-URI.
  if (!session::is_known_method(r.method)) return reply(st, session::method_not_allowed(r));
  if (r.method == "BYE") return reply(st, respond(r, 481, "Call/Transaction Does Not Exist"));
  auto uri = codec::parse_uri(r.request_uri);
  if (!uri) return reply(st, respond(r, 400, "Bad Request-URI"));
  if (uri->scheme != "sip" && uri->scheme != "sips") return reply(st, respond(r, 416, "Unsupported URI Scheme"));
  const std::string host = lower(uri->host);
  const auto& served = st.config.served_hosts;
  if (std::find(served.begin(), served.end(), host) == served.end()) return reply(st, respond(r, 404, "Not Found"));
  // Our own address stands for the served domain, so a peer that dials us
  // directly by IP reaches the same identities. (The parsed URI is ours:
  // changed in place rather than copied whole.)
  uri->host = st.config.session.domain;
  const std::string key = codec::canonical_aor(*uri);
  const auto& factories = st.config.factory_aors;
  if (std::find(factories.begin(), factories.end(), key) != factories.end()) return at_factory(self, r);
  if (auto group = st.groups.find(key); group != st.groups.end()) return at_group(self, r, group->second);
  if (r.method == "REFER") return route_refer(self, r, key);
  if (auto session = st.registry->find(key)) {
    self->send(*session, std::move(r));
    return;
  }
  // Unknown, RELEASING or released identity in a served domain.
  reply(st, respond(r, 404, "Not Found"));
}

caf::behavior directory_behavior(Directory* self, DirectoryConfig config, transport::CommandSink* sink,
                                transport::MsrpCommandSink* msrp, std::vector<caf::actor> notifiers) {
  self->state.config = std::move(config);
  self->state.sink = sink;
  self->state.msrp = msrp;
  for (auto& g : self->state.config.groups) self->state.groups.emplace(g.uri, g);
  self->state.notifiers = std::move(notifiers);  // the directory ends them
  self->set_down_handler([=](caf::down_msg& down) {
    auto& st = self->state;
    auto it = st.identity_of.find(down.source);
    if (it == st.identity_of.end()) return;
    const std::string identity = it->second;
    st.identity_of.erase(it);
    st.registry->remove(identity);
    forget_group_session(st, identity);
    if (down.reason) {
      // The session died with work unfinished: nobody will answer its
      // participants any more, so end their dialogs rather than leave them
      // talking to a ghost.
      std::cerr << "imserver: session " << identity << " failed: " << self->system().render(down.reason)
                << "; hanging up its dialogs\n";
      st.sink->post({transport::Command{transport::HangupOwner{identity}}});
      // Its subscribers learn that the conference is gone.
      tell_notifier_gone(self, identity);
    }
  });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    for (auto& [addr, identity] : self->state.identity_of) {
      (void)identity;
      if (auto session = caf::actor_cast<caf::actor>(addr)) self->send_exit(session, msg.reason);
    }
    for (auto& n : self->state.notifiers) self->send_exit(n, msg.reason);
    self->quit(msg.reason);
  });
  return {
      // The most frequent messages first: CAF tries the handlers in order,
      // and these unsafe message types are told apart by comparing RTTI.
      [=](transport::DialogEvent& ev) {
        auto& st = self->state;
        if (long n = notifier_index(ev.owner); n >= 0 && static_cast<size_t>(n) < st.notifiers.size()) {
          self->send(st.notifiers[n], std::move(ev));
          return;
        }
        if (auto session = self->state.registry->find(ev.owner); session && !ev.owner.empty())
          self->send(*session, std::move(ev));
      },
      [=](InboundRequest& r) { route_request(self, r); },
      [=](GroupsLoaded& loaded) {
        // Later requests only: active sessions keep the group they started with.
        auto& st = self->state;
        st.groups.clear();
        for (auto& g : loaded.groups) st.groups.emplace(g.uri, std::move(g));
        // Running sessions check later joins and subscriptions against the
        // new membership; nobody already in is removed.
        for (const auto& [group_uri, identity] : st.active_of_group) {
          auto group = st.groups.find(group_uri);
          auto session = st.registry->find(identity);
          if (group != st.groups.end() && session) self->send(*session, GroupsLoaded{{group->second}});
        }
        // Logged only now: every request routed after this line sees the new
        // groups, also inside running sessions (they get the update first).
        std::cerr << "imserver: groups file reloaded, " << st.groups.size() << " groups\n";
      },
      [=](FinishedAtom, const std::string& identity) {
        // From now on the directory answers for the identity itself (404),
        // and the acknowledgement reaches the session after everything routed
        // to it, so it answers those before it stops.
        auto& st = self->state;
        auto session = st.registry->find(identity);
        if (!session) return;
        st.identity_of.erase(session->address());
        st.registry->remove(identity);
        forget_group_session(st, identity);
        self->demonitor(*session);
        self->send(*session, FinishedAtom::value);
        // Whatever path ended it, its notifier state goes too (a no-op when
        // the release already ended every subscription).
        tell_notifier_gone(self, identity);
      },
      [=](transport::DialEvent& ev) {
        // A session that is gone left its dials to the transport: a 2xx
        // still arriving is ACKed; BYE it so the invitee is not left in a
        // call nobody serves.
        if (auto session = self->state.registry->find(ev.owner); session && !ev.owner.empty())
          self->send(*session, std::move(ev));
        else if (ev.kind == transport::DialEventKind::Answered && ev.dialog)
          self->state.sink->post({transport::Command{transport::Hangup{ev.dialog, ""}}});
      },
      [=](transport::MsrpLegFailed& failure) {
        if (auto session = self->state.registry->find(failure.owner); session && !failure.owner.empty())
          self->send(*session, std::move(failure));
      },
  };
}

}  // namespace

caf::actor spawn_directory(caf::actor_system& sys, DirectoryConfig config, transport::CommandSink* sink,
                           transport::MsrpCommandSink* msrp, std::vector<caf::actor>* notifiers_out) {
  std::vector<caf::actor> notifiers;
  for (size_t i = 0; i < std::max<size_t>(1, config.notifiers); ++i)
    notifiers.push_back(spawn_notifier(sys, config.session.conf, i, sink));
  if (notifiers_out) *notifiers_out = notifiers;
  return sys.spawn(directory_behavior, std::move(config), sink, msrp, std::move(notifiers));
}

void ActorEventSink::set_directory(caf::actor directory, std::vector<caf::actor> notifiers) {
  directory_ = std::move(directory);
  notifiers_ = std::move(notifiers);
}

void ActorEventSink::on_request(transport::InboundRequest request) {
  caf::anon_send(directory_, std::move(request));
}

void ActorEventSink::on_dialog_event(transport::DialogEvent event) {
  // The answers to conference NOTIFYs (RequestDone) are most of the events
  // in a fan-out; they go straight to their notifier, one actor hop less
  // than through the directory, which would only forward them.
  if (long n = notifier_index(event.owner); n >= 0 && static_cast<size_t>(n) < notifiers_.size()) {
    caf::anon_send(notifiers_[n], std::move(event));
    return;
  }
  caf::anon_send(directory_, std::move(event));
}

void ActorEventSink::on_dial_event(transport::DialEvent event) { caf::anon_send(directory_, std::move(event)); }

void ActorEventSink::on_leg_failed(transport::MsrpLegFailed event) { caf::anon_send(directory_, std::move(event)); }

}  // namespace imserver::actors
