#include "actors/session_actor.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>

#include "actors/caf_types.hpp"
#include "actors/session/group_session.hpp"
#include "actors/session/request_checks.hpp"

namespace imserver::actors {
namespace {

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct SessionActorState {
  std::unique_ptr<session::GroupSession> logic;
  policy::TrustedPeers trusted;
  std::shared_ptr<const policy::DigestConfig> digest;
  uint32_t answer_delay_ms = 0;
  bool test_hooks = false;
  caf::actor notifier;
  caf::actor directory;
  transport::MsrpCommandSink* msrp = nullptr;
  bool finish_reported = false;
  static inline const char* name = "im-session";
};

using SessionActor = caf::stateful_actor<SessionActorState>;

// The test hook that lets CANCEL and early BYE be exercised: join answers
// are preceded by 180 and held back for answer_delay_ms.
void apply(SessionActor* self, session::Effects effects, transport::CommandSink* sink) {
  auto& st = self->state;
  if (st.msrp && !effects.msrp.empty()) st.msrp->post(std::move(effects.msrp));
  if (st.answer_delay_ms > 0) {
    std::vector<transport::Command> now, later;
    for (auto& c : effects.commands) {
      if (auto* accept = std::get_if<transport::Accept>(&c)) {
        now.push_back(transport::Provisional{accept->request, accept->dialog, accept->owner, 180, "Ringing"});
        later.push_back(std::move(c));
      } else if (std::holds_alternative<transport::Dial>(c) && !later.empty()) {
        later.push_back(std::move(c));  // dial-outs follow the creator's 2xx (SESSIONS.md §2.3 step 4)
      } else {
        now.push_back(std::move(c));
      }
    }
    sink->post(std::move(now));
    if (!later.empty())
      self->delayed_send(self, std::chrono::milliseconds(st.answer_delay_ms), HeldCommands{std::move(later)});
  } else {
    sink->post(std::move(effects.commands));
  }
  if (effects.wake_at_ms) {
    const int64_t delay = std::max<int64_t>(0, *effects.wake_at_ms - wall_clock_ms());
    self->delayed_send(self, std::chrono::milliseconds(delay), TickAtom::value);
  }
  // The notifier hears after the transport has the commands, so a BYE's 200
  // and the focus's own BYEs are on their way before any NOTIFY (TC-A02).
  if (st.notifier) {
    if (effects.subscribe) self->send(st.notifier, std::move(*effects.subscribe));
    if (effects.roster) self->send(st.notifier, std::move(*effects.roster));
  }
  if (st.logic->finished() && !st.finish_reported) {
    // Not quit(): requests the directory routed here before it learns of
    // this still need an answer (404/481 from the released state machine).
    // The directory unregisters us, then stops us behind those requests.
    st.finish_reported = true;
    if (st.directory) self->send(st.directory, FinishedAtom::value, st.logic->state().identity);
    else self->quit();
  }
}

caf::behavior session_behavior(SessionActor* self, SessionSpawn spawn, transport::CommandSink* sink) {
  auto& st = self->state;
  st.trusted = spawn.trusted;
  st.digest = spawn.digest;
  st.answer_delay_ms = spawn.answer_delay_ms;
  st.test_hooks = spawn.test_hooks;
  st.notifier = spawn.notifier;
  st.directory = spawn.directory;
  st.msrp = spawn.msrp;
  st.logic = std::make_unique<session::GroupSession>(spawn.config, spawn.identity, spawn.kind, spawn.identity,
                                                     spawn.seed);
  if (spawn.group) {
    std::vector<std::string> members;
    for (const auto& m : spawn.group->members) members.push_back(m.aor);
    st.logic->set_group(spawn.group->uri, std::move(members), spawn.group->allow_non_members, spawn.group->locked,
                        spawn.group->subject);
  }
  apply(self, st.logic->create(spawn.creating_invite, spawn.creator, wall_clock_ms(), spawn.invitees), sink);
  return {
      [=](transport::InboundRequest& r) {
        auto& s = self->state;
        // test.hooks: lets the suite prove that a session failing in the
        // middle of its work does not take the server down.
        if (s.test_hooks) {
          if (const auto* hook = r.header("x-imserver-test"); hook && *hook == "crash") {
            sink->post({session::respond(r, 500, "Server Internal Error")});
            throw std::runtime_error("test hook: session crash requested");
          } else if (hook && (*hook == "lock" || *hook == "unlock")) {
            // TC-J20: "a test hook locks S1".
            sink->post({session::respond(r, 200, "OK")});
            apply(self, s.logic->set_locked(*hook == "lock"), sink);
            return;
          }
        }
        const int64_t now_ms = wall_clock_ms();
        std::optional<policy::AssertedIdentity> who;
        if (s.digest && s.digest->enabled) {
          // SESSIONS.md §5: joins, SUBSCRIBEs and REFERs without a trusted
          // PAI are challenged (401/403) before the state machine sees them.
          auto identified = session::authenticate(r, s.trusted, s.digest.get(), now_ms / 1000);
          if (auto* refusal = std::get_if<transport::Respond>(&identified)) {
            sink->post({transport::Command{std::move(*refusal)}});
            return;
          }
          who = std::get<std::optional<policy::AssertedIdentity>>(std::move(identified));
          // In-dialog requests inherit the identity bound to their dialog.
          if (!who && r.in_dialog) {
            for (const auto& ep : s.logic->state().endpoints)
              if (ep.dialog == r.dialog && r.dialog != 0) {
                who = policy::AssertedIdentity{ep.aor, {ep.aor}};
                break;
              }
          }
        } else {
          who = session::identify(r, s.trusted);
        }
        apply(self, s.logic->on_request(r, who, now_ms), sink);
      },
      [=](transport::DialogEvent& ev) {
        apply(self, self->state.logic->on_dialog_event(ev, wall_clock_ms()), sink);
      },
      [=](transport::DialEvent& ev) { apply(self, self->state.logic->on_dial_event(ev, wall_clock_ms()), sink); },
      [=](HeldCommands& held) { sink->post(std::move(held.commands)); },
      [=](transport::MsrpLegFailed& failure) {
        apply(self, self->state.logic->on_msrp_failure(failure, wall_clock_ms()), sink);
      },
      [=](GroupsLoaded& loaded) {
        // The groups file was reloaded: later requests see the new membership.
        if (loaded.groups.empty()) return;
        const auto& g = loaded.groups.front();
        std::vector<std::string> members;
        for (const auto& m : g.members) members.push_back(m.aor);
        self->state.logic->update_group(std::move(members), g.allow_non_members, g.locked);
      },
      [=](TickAtom) { apply(self, self->state.logic->on_tick(wall_clock_ms()), sink); },
      [=](FinishedAtom) { self->quit(); },
  };
}

}  // namespace

caf::actor spawn_session(caf::actor_system& sys, SessionSpawn spawn, transport::CommandSink* sink) {
  return sys.spawn(session_behavior, std::move(spawn), sink);
}

}  // namespace imserver::actors
