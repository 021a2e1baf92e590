#include "actors/notifier_actor.hpp"

#include <chrono>
#include <memory>
#include <unordered_map>

#include "actors/caf_types.hpp"
#include "actors/notify/conference_notifier.hpp"
#include "actors/session/request_checks.hpp"

namespace imserver::actors {
namespace {

using notify::ConferenceNotifier;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct NotifierState {
  session::ConferenceConfig conf;
  std::string owner;
  transport::CommandSink* sink = nullptr;
  std::unordered_map<std::string, std::unique_ptr<ConferenceNotifier>> sessions;  // by identity
  std::unordered_map<transport::DialogId, std::string> session_of;                  // subscription dialog -> identity
  int64_t tick_at = ConferenceNotifier::kNever;
  static inline const char* name = "im-notifier";
};

using Notifier = caf::stateful_actor<NotifierState>;
using Sessions = std::unordered_map<std::string, std::unique_ptr<ConferenceNotifier>>;

// The session's notifier, made on first use.
Sessions::iterator notifier_for(NotifierState& st, const std::string& identity) {
  auto it = st.sessions.try_emplace(identity).first;
  if (!it->second) it->second = std::make_unique<ConferenceNotifier>(st.conf, st.owner);
  return it;
}

void arm(Notifier* self, int64_t when) {
  auto& st = self->state;
  if (when >= st.tick_at || when == ConferenceNotifier::kNever) return;
  st.tick_at = when;
  const int64_t delay = std::max<int64_t>(0, when - steady_ms());
  self->delayed_send(self, std::chrono::milliseconds(delay), TickAtom::value);
}

// Posts one batch, keeps the dialog index in step, drops a finished
// session's notifier and arms the timer for what it still has to do.
void finish(Notifier* self, Sessions::iterator it, std::vector<transport::Command>& out) {
  auto& st = self->state;
  for (const auto& c : out) {
    if (const auto* f = std::get_if<transport::ForgetDialog>(&c)) st.session_of.erase(f->dialog);
    if (const auto* a = std::get_if<transport::AcceptSubscription>(&c)) st.session_of[a->dialog] = it->first;
  }
  if (!out.empty()) st.sink->post(std::move(out));
  if (it->second->finished()) {
    st.sessions.erase(it);
    return;
  }
  // Wake-ups that existed before this message are already armed; only a
  // new one can be earlier.
  arm(self, it->second->take_new_wakeup());
}

void finish(Notifier* self, const std::string& identity, std::vector<transport::Command>& out) {
  auto& st = self->state;
  auto it = st.sessions.find(identity);
  if (it == st.sessions.end()) {
    if (!out.empty()) st.sink->post(std::move(out));
    return;
  }
  finish(self, it, out);
}

caf::behavior notifier_behavior(Notifier* self, session::ConferenceConfig conf, size_t index,
                                transport::CommandSink* sink) {
  self->state.conf = std::move(conf);
  self->state.owner = notifier_owner(index);
  self->state.sink = sink;
  return {
      // The most frequent messages first (roster changes; the answers to
      // NOTIFYs in a fan-out): CAF tries the handlers in order.
      [=](session::RosterUpdate& u) {
        // One lookup of the session per update, and no copy of its identity:
        // every join and departure comes this way.
        auto& st = self->state;
        // A released session nobody subscribed to leaves nothing behind.
        if (u.released && !st.sessions.count(u.description.identity)) return;
        auto it = notifier_for(st, u.description.identity);
        std::vector<transport::Command> out;
        it->second->on_roster(std::move(u), steady_ms(), out);
        finish(self, it, out);
      },
      [=](transport::DialogEvent& ev) {
        auto& st = self->state;
        if (ev.kind != transport::DialogEventKind::RequestDone) return;
        auto it = st.session_of.find(ev.dialog);
        if (it == st.session_of.end()) return;
        // The session's own key stays valid through finish() (the dialog's
        // entry may not), so no copy of the identity per NOTIFY answer.
        auto session = st.sessions.find(it->second);
        if (session == st.sessions.end()) return;
        std::vector<transport::Command> out;
        session->second->on_request_done(ev, steady_ms(), out);
        finish(self, session, out);
      },
      [=](session::AuthorizedSubscribe& s) {
        std::vector<transport::Command> out;
        auto it = notifier_for(self->state, s.description.identity);
        it->second->on_subscribe(s, steady_ms(), out);
        finish(self, it, out);
      },
      [=](transport::InboundRequest& r) {
        auto& st = self->state;
        auto it = st.session_of.find(r.dialog);
        auto session = it == st.session_of.end() ? st.sessions.end() : st.sessions.find(it->second);
        if (session == st.sessions.end()) {
          st.sink->post({session::respond(r, 481, "Subscription Does Not Exist")});
          return;
        }
        std::vector<transport::Command> out;
        session->second->on_request(r, steady_ms(), out);
        finish(self, session, out);
      },
      [=](TickAtom) {
        auto& st = self->state;
        st.tick_at = ConferenceNotifier::kNever;
        const int64_t now = steady_ms();
        std::vector<std::string> due;
        for (auto& [identity, n] : st.sessions)
          if (n->next_wakeup() <= now) due.push_back(identity);
        for (const auto& identity : due) {
          std::vector<transport::Command> out;
          st.sessions[identity]->on_timer(now, out);
          finish(self, identity, out);
        }
        int64_t next = ConferenceNotifier::kNever;
        for (auto& [identity, n] : st.sessions) {
          n->take_new_wakeup();  // covered by the full scan
          next = std::min(next, n->next_wakeup());
        }
        arm(self, next);
      },
  };
}

}  // namespace

std::string notifier_owner(size_t index) { return "notify:" + std::to_string(index); }

long notifier_index(const std::string& owner) {
  static const std::string prefix = "notify:";
  if (owner.compare(0, prefix.size(), prefix) != 0 || owner.size() == prefix.size()) return -1;
  long v = 0;
  for (size_t i = prefix.size(); i < owner.size(); ++i) {
    if (owner[i] < '0' || owner[i] > '9' || v > 1000000) return -1;
    v = v * 10 + (owner[i] - '0');
  }
  return v;
}

caf::actor spawn_notifier(caf::actor_system& sys, session::ConferenceConfig conf, size_t index,
                          transport::CommandSink* sink) {
  return sys.spawn(notifier_behavior, std::move(conf), index, sink);
}

}  // namespace imserver::actors
