#include "actors/notify/conference_notifier.hpp"

#include <algorithm>

#include "actors/session/request_checks.hpp"
#include "actors/session/subscribe_checks.hpp"

namespace imserver::notify {

using codec::ConferenceInfo;
using codec::ConfEndpoint;
using codec::ConfUser;
using codec::ElementState;
using session::EndpointReport;
using transport::Command;
using transport::DialogId;
using transport::InboundRequest;

namespace {

constexpr const char* kContentType = "application/conference-info+xml";

// RFC 6665 §4.2.2: these answers mean the subscription is gone; 408 and a
// timeout end the dialog (RFC 3261 §12.2.1.2); 401/407: the focus does not
// authenticate its NOTIFYs (SESSIONS.md §9.4).
bool ends_subscription(uint16_t status) {
  switch (status) {
    case 401: case 404: case 405: case 407: case 408: case 410: case 416:
    case 480: case 481: case 482: case 483: case 484: case 485:
    case 489: case 501: case 604:
      return true;
    default:
      return false;
  }
}

}  // namespace

ConferenceNotifier::ConferenceNotifier(session::ConferenceConfig conf, std::string owner)
    : conf_(std::move(conf)), owner_(std::move(owner)) {}

size_t ConferenceNotifier::roster_records() const {
  size_t n = 0;
  for (const auto& [aor, user] : users_) n += user.endpoints.size();
  return n;
}

const EndpointReport* ConferenceNotifier::find(const EndpointKey& key) const {
  auto it = users_.find(key.first);
  if (it == users_.end()) return nullptr;
  for (const auto& e : it->second.endpoints)
    if (e.entity == key.second) return &e;
  return nullptr;
}

void ConferenceNotifier::reappear(Subscription& s, const EndpointKey& key) {
  const auto& [aor, entity] = key;
  // Withdrawn and back before the subscriber heard of it: it still shows the
  // endpoint, so nothing is deleted and the new record replaces it.
  auto wd = s.withdrawn.find(aor);
  if (wd != s.withdrawn.end() && wd->second.erase(entity)) {
    s.known.insert(names_, aor, entity);
    if (wd->second.empty()) s.withdrawn.erase(wd);
  }
  // PROTOCOL.md §4.3: back before the purge went out: no user deletion, the
  // user is reported again as present (partial). The subscriber still shows
  // the old endpoints as disconnected: the one coming back is known again
  // (so a new departure of it is reported); any other is deleted in the
  // same document as the new endpoint (TC-J17: an invitee whose dial-out
  // failed dials in with its own Contact).
  auto pu = s.pending_user_deletions.find(aor);
  if (pu != s.pending_user_deletions.end()) {
    s.known.add_user(names_, aor);  // possibly with no endpoint: the user is shown
    for (const auto& old : pu->second) {
      if (old == entity) s.known.insert(names_, aor, old);
      else s.pending_endpoint_deletions[aor].insert(old);
    }
    s.pending_user_deletions.erase(pu);
  }
  auto pe = s.pending_endpoint_deletions.find(aor);
  if (pe != s.pending_endpoint_deletions.end()) {
    pe->second.erase(entity);
    if (pe->second.empty()) s.pending_endpoint_deletions.erase(pe);
  }
}

void ConferenceNotifier::withdraw(const EndpointKey& key) {
  const auto& [aor, entity] = key;
  // The record goes at once: there is no report to keep it for.
  auto uit = users_.find(aor);
  if (uit != users_.end()) {
    auto& eps = uit->second.endpoints;
    eps.erase(std::remove_if(eps.begin(), eps.end(), [&](const EndpointReport& x) { return x.entity == entity; }),
              eps.end());
    if (eps.empty()) erase_user(uit);
  }
  for (auto& [dialog, s] : subs_) {
    if (s.final_sent) continue;
    // Not told yet: nothing to take back.
    s.dirty.erase(names_, aor, entity);
    // Shown: deleted in the next document. Whether that is the endpoint or
    // the whole user is decided when it is rendered, after the rest of the
    // batch (the real endpoint of J2 may come before or after this report).
    if (s.known.erase(names_, aor, entity)) s.withdrawn[aor].insert(entity);
  }
}

codec::ConfStateBlock ConferenceNotifier::conference_state() const {
  codec::ConfStateBlock st;
  // Users that participate now: an invitee still being dialled is shown but
  // does not count (SESSIONS.md §2.6, example J1).
  uint32_t count = 0;
  for (const auto& [aor, user] : users_)
    if (std::any_of(user.endpoints.begin(), user.endpoints.end(),
                    [](const EndpointReport& e) { return e.connected && e.pending_status.empty(); }))
      ++count;
  st.user_count = count;
  st.active = !released_;
  st.locked = description_.locked;
  return st;
}

ConfEndpoint ConferenceNotifier::full_endpoint(const EndpointReport& e) const {
  ConfEndpoint ep;
  ep.entity = e.entity;
  ep.referred_by = e.referred_by;
  if (!e.connected) ep.status = "disconnected";
  else ep.status = e.pending_status.empty() ? "connected" : e.pending_status;
  ep.joining_method = e.joining_method;
  ep.joining_when = e.joining_when;
  if (!e.connected) {
    ep.disconnection_method = e.disconnection_method;
    ep.disconnection_when = e.disconnection_when;
    ep.disconnection_by = e.disconnection_by;
    ep.disconnection_reason = e.disconnection_reason;
  } else if (conf_.include_media && e.pending_status.empty()) {
    // No media stream is negotiated before the invitee answers (example J1).
    ep.media.push_back(codec::ConfMedia{});
  }
  return ep;
}

std::string ConferenceNotifier::headers(const Subscription& s, const std::string& state) const {
  std::string h = "Event: conference";
  if (!s.event_id.empty()) h += ";id=" + s.event_id;
  h += "\r\nSubscription-State: " + state + "\r\nContact: <" + description_.identity + ">;isfocus\r\n";
  return h;
}

void ConferenceNotifier::forget(DialogId dialog, std::vector<Command>& out) {
  auto it = subs_.find(dialog);
  if (it != subs_.end()) {
    release_names(it->second);
    subs_.erase(it);
  }
  out.push_back(transport::ForgetDialog{dialog});
}

// ------------------------------------------------------------ subscriptions

void ConferenceNotifier::on_subscribe(const session::AuthorizedSubscribe& a, int64_t now_ms,
                                      std::vector<Command>& out) {
  description_ = a.description;
  const auto& r = a.request;
  transport::AcceptSubscription accept;
  accept.request = r.id;
  accept.dialog = r.dialog;
  accept.owner = owner_;
  accept.contact = "<" + description_.identity + ">;isfocus";
  accept.headers = "Expires: " + std::to_string(a.expires) + "\r\n";
  out.push_back(std::move(accept));

  Subscription s;
  s.dialog = r.dialog;
  s.subscriber = a.subscriber;
  s.event_id = a.event_id;
  s.expires_at_ms = now_ms + int64_t{a.expires} * 1000;
  new_wakeup_ = std::min(new_wakeup_, s.expires_at_ms);
  if (a.expires == 0) {
    // RFC 6665 §4.4.3 fetch: one full document, and the subscription ends.
    s.terminating = true;
    s.final_reason = "timeout";
    s.final_body = FinalBody::Document;
  }
  s.need_full = true;
  s.send_now = true;
  // PROTOCOL.md §4.1: the first document of a subscription is full, version 0.
  if (auto old = subs_.find(r.dialog); old != subs_.end()) release_names(old->second);
  Subscription& sub = subs_.insert_or_assign(r.dialog, std::move(s)).first->second;
  send(sub, now_ms, out, sub.terminating);
}

void ConferenceNotifier::on_request(const InboundRequest& r, int64_t now_ms, std::vector<Command>& out) {
  auto it = subs_.find(r.dialog);
  if (r.method != "SUBSCRIBE") {
    out.push_back(it == subs_.end() ? session::respond(r, 481, "Call/Transaction Does Not Exist")
                                    : session::method_not_allowed(r));
    return;
  }
  if (it == subs_.end() || it->second.terminating || it->second.final_sent) {
    out.push_back(session::respond(r, 481, "Subscription Does Not Exist"));
    return;
  }
  if (auto bad = session::check_conference_event(r)) {
    out.push_back(*bad);
    return;
  }
  auto terms = session::check_subscribe_terms(r, conf_, false);
  if (auto* refusal = std::get_if<transport::Respond>(&terms)) {
    out.push_back(*refusal);
    return;
  }
  const auto granted = std::get<session::SubscribeTerms>(terms);
  Subscription& s = it->second;
  const std::string contact = "Contact: <" + description_.identity + ">;isfocus\r\n";
  if (granted.expires == 0) {
    // RFC 6665 §4.2.1.4 unsubscribe: 200, then a final NOTIFY (no body by
    // default, conf.unsubscribe_body).
    out.push_back(session::respond(r, 200, "OK", "Expires: 0\r\n" + contact));
    s.terminating = true;
    s.final_reason = "timeout";
    s.final_body = conf_.unsubscribe_body == session::UnsubscribeBody::Full ? FinalBody::Document : FinalBody::None;
    if (s.final_body == FinalBody::Document) s.need_full = true;
  } else {
    // Refresh: a full document at once with version + 1 (§4.1).
    out.push_back(session::respond(r, 200, "OK", "Expires: " + std::to_string(granted.expires) + "\r\n" + contact));
    s.expires_at_ms = now_ms + int64_t{granted.expires} * 1000;
    new_wakeup_ = std::min(new_wakeup_, s.expires_at_ms);
    s.need_full = true;
    s.send_now = true;
  }
  pump(s, now_ms, out);
}

// ------------------------------------------------------------ roster

void ConferenceNotifier::add_user_order(std::unordered_map<std::string, UserRecords>::iterator user) {
  user->second.order = next_user_order_++;
  user_order_.emplace_hint(user_order_.end(), user->second.order, &user->first);
}

void ConferenceNotifier::erase_user(std::unordered_map<std::string, UserRecords>::iterator user) {
  user_order_.erase(user->second.order);
  users_.erase(user);
}

void ConferenceNotifier::on_roster(session::RosterUpdate u, int64_t now_ms, std::vector<Command>& out) {
  // A bare "session gone" notice (identity only) keeps what we knew.
  if (u.description.maximum_user_count != 0) {
    // conference-state is sent whole in every document (PROTOCOL.md §4), so
    // a change of it alone is worth a partial document to everyone.
    if (u.description.locked != description_.locked)
      for (auto& [dialog, s] : subs_) s.state_changed = true;
    description_ = std::move(u.description);
  } else if (description_.identity.empty()) {
    description_.identity = u.description.identity;
  }
  for (auto& change : u.changed) {
    if (change.withdrawn) {
      withdraw({change.aor, change.entity});
      continue;
    }
    auto [uit, added] = users_.try_emplace(change.aor);
    // A user in users_ always has a record (the last one going takes the
    // user with it), so a new entry is exactly a user not in user_order_.
    if (added) add_user_order(uit);
    auto& eps = uit->second.endpoints;
    auto rec =
        std::find_if(eps.begin(), eps.end(), [&](const EndpointReport& x) { return x.entity == change.entity; });
    if (rec == eps.end()) rec = eps.insert(eps.end(), std::move(change));
    else *rec = std::move(change);
    const EndpointReport& e = *rec;
    if (!e.connected) garbage_candidates_.insert(e.aor);
    const EndpointKey key{e.aor, e.entity};
    for (auto& [dialog, s] : subs_) {
      if (s.final_sent) continue;
      s.dirty.insert(names_, e.aor, e.entity);
      if (e.connected) reappear(s, key);
    }
  }
  // The leavers of one step: one user as a rule, so a search of the list
  // beats building a set of it.
  const auto& leavers = u.terminate_subscribers;
  for (auto& [dialog, s] : subs_) {
    if (s.terminating || s.final_sent) continue;
    if (u.released) {
      // PROTOCOL.md §5.4, §5.5: every subscription ends with noresource and
      // the final document.
      s.terminating = true;
      s.final_reason = "noresource";
      s.final_body = conf_.release_final_body == session::FinalBody::Deleted ? FinalBody::Deleted
                                                                            : FinalBody::Document;
    } else if (std::find(leavers.begin(), leavers.end(), s.subscriber) != leavers.end()) {
      s.terminating = true;
      s.final_reason = u.terminate_reason;
      s.final_body = FinalBody::Document;
    }
  }
  if (u.released) released_ = true;
  pump_all(now_ms, out);
}

// ------------------------------------------------------------ NOTIFY results

void ConferenceNotifier::on_request_done(const transport::DialogEvent& ev, int64_t now_ms,
                                         std::vector<Command>& out) {
  auto it = subs_.find(ev.dialog);
  if (it == subs_.end()) return;
  Subscription& s = it->second;
  if (!s.in_flight || ev.token != s.token) return;
  s.in_flight = false;
  if (s.final_sent || ends_subscription(ev.status)) {
    // A terminating NOTIFY is not retried, whatever its answer; a failed one
    // ends the subscription silently (§9.4).
    forget(ev.dialog, out);
    collect_garbage();
    return;
  }
  if (ev.status >= 300) {
    // 500, 503, 491, ...: the subscriber may not have applied that document,
    // so the next one is full (SESSIONS.md §9.4, E84).
    s.need_full = true;
  } else if (conf_.purge_mode == session::PurgeMode::Immediate &&
             (!s.pending_user_deletions.empty() || !s.pending_endpoint_deletions.empty())) {
    s.purge_followup = true;
  }
  pump(s, now_ms, out);
}

void ConferenceNotifier::on_timer(int64_t now_ms, std::vector<Command>& out) {
  for (auto& [dialog, s] : subs_) {
    if (!s.terminating && !s.final_sent && s.expires_at_ms <= now_ms) {
      // RFC 6665 §4.2.1.4: not refreshed in time.
      s.terminating = true;
      s.final_reason = "timeout";
      s.final_body = FinalBody::None;
    }
  }
  pump_all(now_ms, out);
}

int64_t ConferenceNotifier::take_new_wakeup() {
  const int64_t w = new_wakeup_;
  new_wakeup_ = kNever;
  return w;
}

int64_t ConferenceNotifier::next_wakeup() const {
  int64_t next = kNever;
  const int64_t interval = conf_.min_notify_interval_ms;
  for (const auto& [dialog, s] : subs_) {
    if (s.final_sent) continue;
    if (!s.terminating) next = std::min(next, s.expires_at_ms);
    if (!s.in_flight && !s.terminating && has_changes(s))
      next = std::min(next, s.last_sent_ms + interval);
  }
  return next;
}

// ------------------------------------------------------------ sending

void ConferenceNotifier::pump_all(int64_t now_ms, std::vector<Command>& out) {
  for (auto& [dialog, s] : subs_) pump(s, now_ms, out);
  collect_garbage();
}

void ConferenceNotifier::pump(Subscription& s, int64_t now_ms, std::vector<Command>& out) {
  if (s.in_flight || s.final_sent) return;
  if (s.terminating) {
    // A NOTIFY that ends a subscription skips the rate limit (§4.5).
    send(s, now_ms, out, true);
    return;
  }
  const bool changes = has_changes(s) || s.send_now;
  if (!changes) return;
  const int64_t allowed_at = s.last_sent_ms + int64_t{conf_.min_notify_interval_ms};
  if (!s.send_now && now_ms < allowed_at) {
    new_wakeup_ = std::min(new_wakeup_, allowed_at);  // on_timer sends it
    return;
  }
  send(s, now_ms, out, false);
}

void ConferenceNotifier::send(Subscription& s, int64_t now_ms, std::vector<Command>& out, bool terminal) {
  transport::SendInDialog notify;
  notify.dialog = s.dialog;
  notify.method = "NOTIFY";
  std::string state;
  if (terminal) {
    state = "terminated;reason=" + s.final_reason;  // no expires (RFC 6665 §4.1.3)
  } else {
    const int64_t left_ms = std::max<int64_t>(0, s.expires_at_ms - now_ms);
    state = "active;expires=" + std::to_string((left_ms + 999) / 1000);
  }
  bool has_body = true;
  ConferenceInfo doc;
  if (terminal && s.final_body == FinalBody::None) {
    has_body = false;
  } else if (terminal && s.final_body == FinalBody::Deleted) {
    doc.entity = description_.identity;
    doc.state = ElementState::Deleted;
  } else {
    const bool full = s.need_full || conf_.notify_mode == session::NotifyMode::Full;
    if (!render(s, full, terminal || s.send_now, doc)) {
      s.purge_followup = false;  // render() already consumed the changes
      return;
    }
  }
  if (has_body) {
    // The first document is version 0; every later one is previous + 1 (§4.1).
    doc.version = s.sent_document ? s.version + 1 : 0;
    s.version = doc.version;
    s.sent_document = true;
    notify.content_type = kContentType;
    notify.body = codec::render_conference_info(doc);
  }
  notify.headers = headers(s, state);
  s.token = next_token_++;
  notify.token = s.token;
  s.in_flight = true;
  s.send_now = false;
  s.state_changed = false;
  s.purge_followup = false;
  s.last_sent_ms = now_ms;
  if (terminal) s.final_sent = true;
  out.push_back(std::move(notify));
}

bool ConferenceNotifier::render(Subscription& s, bool full, bool force, ConferenceInfo& doc) {
  doc.entity = description_.identity;
  doc.conference_state = conference_state();
  doc.has_users = true;
  std::vector<EndpointKey> reported_gone;  // disconnected endpoints this document reports
  if (full) {
    doc.state = ElementState::Full;
    codec::ConfDescription d;
    d.subject = description_.subject;
    d.conf_uris.push_back(codec::ConfUri{description_.identity, "participation"});
    if (description_.maximum_user_count) d.maximum_user_count = description_.maximum_user_count;
    doc.description = d;
    s.known.clear(names_);
    s.pending_user_deletions.clear();
    s.pending_endpoint_deletions.clear();
    s.withdrawn.clear();  // a full document simply leaves them out
    for (const auto& [order, key] : user_order_) {
      const std::string& aor = *key;
      auto it = users_.find(aor);
      if (it == users_.end()) continue;
      ConfUser user;
      user.entity = aor;
      for (const auto& e : it->second.endpoints) {
        // A departure this subscriber has not heard of yet is reported here
        // once (example 4); later full documents leave the user out.
        if (!e.connected && !s.dirty.contains(names_, aor, e.entity)) continue;
        user.endpoints.push_back(full_endpoint(e));
        if (e.connected) s.known.insert(names_, aor, e.entity);
        else reported_gone.emplace_back(aor, e.entity);
      }
      if (!user.endpoints.empty()) doc.users.push_back(std::move(user));
    }
    s.need_full = false;
  } else {
    doc.state = ElementState::Partial;
    doc.users_state = ElementState::Partial;
    for (const auto& [aor, entities] : s.pending_user_deletions) {
      ConfUser gone;
      gone.entity = aor;
      gone.state = ElementState::Deleted;
      doc.users.push_back(std::move(gone));
    }
    s.pending_user_deletions.clear();
    // Withdrawn endpoints are deleted in this document, like purged ones.
    for (const auto& [aor, entities] : s.withdrawn)
      s.pending_endpoint_deletions[aor].insert(entities.begin(), entities.end());
    s.withdrawn.clear();
    // Roster order, then users that left the roster without a report
    // (their last endpoint was withdrawn): the subscriber still shows them.
    // The latter are copied: their entries in pending_endpoint_deletions go
    // inside the loop. Roster users are pointed to (render changes no user).
    std::vector<std::string> gone_users;
    for (const auto& [aor, entities] : s.pending_endpoint_deletions)
      if (!users_.count(aor)) gone_users.push_back(aor);
    std::vector<const std::string*> order;
    order.reserve(user_order_.size() + gone_users.size());
    for (const auto& [n, key] : user_order_) order.push_back(key);
    for (const auto& aor : gone_users) order.push_back(&aor);
    static const std::vector<EndpointReport> kNoRecords;
    for (const std::string* key : order) {
      const std::string& aor = *key;
      auto it = users_.find(aor);
      const auto& records = it == users_.end() ? kNoRecords : it->second.endpoints;
      auto pe = s.pending_endpoint_deletions.find(aor);
      const bool has_dirty = std::any_of(records.begin(), records.end(),
                                         [&](const EndpointReport& e) { return s.dirty.contains(names_, aor, e.entity); });
      if (!has_dirty && pe == s.pending_endpoint_deletions.end()) continue;
      ConfUser user;
      user.entity = aor;
      if (!s.known.has_user(names_, aor)) {
        // New to this subscriber: the user in full, with what is present now
        // (SESSIONS.md §4.4).
        user.state = ElementState::Full;
        for (const auto& e : records) {
          if (!e.connected) continue;
          user.endpoints.push_back(full_endpoint(e));
          s.known.insert(names_, aor, e.entity);
        }
      } else {
        user.state = ElementState::Partial;
        if (pe != s.pending_endpoint_deletions.end()) {
          for (const auto& entity : pe->second) {
            ConfEndpoint gone;
            gone.entity = entity;
            gone.state = ElementState::Deleted;
            user.endpoints.push_back(std::move(gone));
          }
          s.pending_endpoint_deletions.erase(pe);
        }
        bool reports_departure = false;
        for (const auto& e : records) {
          if (!s.dirty.contains(names_, aor, e.entity)) continue;
          if (e.connected) {
            ConfEndpoint ep = full_endpoint(e);
            ep.state = ElementState::Full;
            user.endpoints.push_back(std::move(ep));
            s.known.insert(names_, aor, e.entity);
          } else if (s.known.contains(names_, aor, e.entity)) {
            // Example 1/2, J3: only what changed.
            ConfEndpoint ep;
            ep.entity = e.entity;
            ep.state = ElementState::Partial;
            ep.status = "disconnected";
            ep.disconnection_method = e.disconnection_method;
            ep.disconnection_when = e.disconnection_when;
            ep.disconnection_by = e.disconnection_by;
            ep.disconnection_reason = e.disconnection_reason;
            user.endpoints.push_back(std::move(ep));
            s.known.erase(names_, aor, e.entity);
            reported_gone.emplace_back(aor, e.entity);
            reports_departure = true;
          }
        }
        if (s.known.user_has_no_entity(names_, aor) && !reports_departure) {
          // After this document the subscriber would show the user with no
          // endpoint at all (its last one was withdrawn): the user goes.
          user.endpoints.clear();
          user.state = ElementState::Deleted;
          s.known.erase_user(names_, aor);
          doc.users.push_back(std::move(user));
          continue;
        }
      }
      if (!user.endpoints.empty()) doc.users.push_back(std::move(user));
    }
  }
  s.dirty.clear(names_);
  // Report sent: purge follows (lazy: with the next partial document;
  // immediate: right after this one is answered).
  for (const auto& [aor, entity] : reported_gone) {
    if (conf_.notify_mode == session::NotifyMode::Full) {
      if (s.known.user_has_no_entity(names_, aor)) s.known.erase_user(names_, aor);
      continue;
    }
    if (!s.known.has_user(names_, aor) || s.known.user_has_no_entity(names_, aor)) {
      s.known.erase_user(names_, aor);
      s.pending_user_deletions[aor].insert(entity);
      s.pending_endpoint_deletions.erase(aor);
    } else {
      s.pending_endpoint_deletions[aor].insert(entity);
    }
  }
  if (!full && !force && doc.users.empty() && !s.state_changed) return false;
  return true;
}

void ConferenceNotifier::release_names(Subscription& s) {
  s.dirty.clear(names_);
  s.known.clear(names_);
}

// Drops departed endpoint records nobody still has to hear about (§4.3).
void ConferenceNotifier::collect_garbage() {
  for (auto cit = garbage_candidates_.begin(); cit != garbage_candidates_.end();) {
    const std::string& aor = *cit;
    auto uit = users_.find(aor);
    if (uit == users_.end()) {  // withdrawn meanwhile
      cit = garbage_candidates_.erase(cit);
      continue;
    }
    auto& eps = uit->second.endpoints;
    bool departed_left = false;
    eps.erase(std::remove_if(eps.begin(), eps.end(),
                             [&](const EndpointReport& e) {
                               if (e.connected) return false;
                               for (const auto& [dialog, s] : subs_)
                                 if (!s.final_sent && s.dirty.contains(names_, aor, e.entity)) {
                                   departed_left = true;
                                   return false;
                                 }
                               return true;
                             }),
              eps.end());
    if (eps.empty()) erase_user(uit);
    cit = departed_left ? std::next(cit) : garbage_candidates_.erase(cit);
  }
}

}  // namespace imserver::notify
