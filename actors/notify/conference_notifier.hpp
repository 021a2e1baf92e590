#pragma once
// The conference-state notifier of one session (PROTOCOL.md §4, §5.4;
// SESSIONS.md §6, §9.4) as a plain state machine: roster changes and
// subscription requests in, SIP commands out. No CAF, no sockets, no clock
// (time comes in), so every rule is unit-tested directly; the notifier
// actor only wraps it and batches the resulting commands.
//
// Memory is bounded by roster size, never by event count: a subscriber that
// has not been told yet holds a *set* of changed endpoint keys, and the
// document is rendered from the current roster when its NOTIFY can go. Many
// changes between two NOTIFYs therefore merge into one document with one
// version step (E26, §4.5).

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/session/conference_config.hpp"
#include "actors/session/conference_events.hpp"
#include "actors/notify/name_keys.hpp"
#include "transport/codec/conference_info.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::notify {

using EndpointKey = std::pair<std::string, std::string>;  // (user AoR, endpoint entity)

class ConferenceNotifier {
 public:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  // `owner` is the dialog owner tag of every subscription dialog this
  // notifier accepts; the transport echoes it so events find their way back.
  ConferenceNotifier(session::ConferenceConfig conf, std::string owner);

  void on_subscribe(const session::AuthorizedSubscribe& s, int64_t now_ms, std::vector<transport::Command>& out);
  // A request inside one of this notifier's subscription dialogs.
  void on_request(const transport::InboundRequest& r, int64_t now_ms, std::vector<transport::Command>& out);
  // By value: the records are moved into the roster (the actor hands over
  // the message's own update).
  void on_roster(session::RosterUpdate u, int64_t now_ms, std::vector<transport::Command>& out);
  // RequestDone for a NOTIFY this notifier sent.
  void on_request_done(const transport::DialogEvent& ev, int64_t now_ms, std::vector<transport::Command>& out);
  // Expiries and rate-limited sends that are due.
  void on_timer(int64_t now_ms, std::vector<transport::Command>& out);

  // When on_timer has something to do next (kNever: nothing). O(subscriptions).
  int64_t next_wakeup() const;
  // The earliest wake-up that came into being since the last call (a new or
  // refreshed expiry, a send held back by the rate limit), then reset. O(1),
  // so the actor can keep its timer armed after every message without the
  // scan; next_wakeup() is only needed when the timer fires.
  int64_t take_new_wakeup();
  // The session is released and every subscription has ended.
  bool finished() const { return released_ && subs_.empty(); }
  bool owns(transport::DialogId dialog) const { return subs_.count(dialog) != 0; }
  size_t subscription_count() const { return subs_.size(); }
  size_t roster_records() const;

 private:
  enum class FinalBody : uint8_t { None, Document, Deleted };

  struct Subscription {
    transport::DialogId dialog = 0;
    std::string subscriber;
    std::string event_id;
    uint32_t version = 0;          // of the last document sent
    bool sent_document = false;
    int64_t expires_at_ms = 0;
    int64_t last_sent_ms = std::numeric_limits<int64_t>::min() / 2;
    bool in_flight = false;        // at most one NOTIFY transaction (E26)
    uint64_t token = 0;
    bool need_full = false;        // refresh, or a NOTIFY that may not have been applied (§9.4)
    bool send_now = false;         // refresh: answer at once, whatever the rate limit
    bool purge_followup = false;   // conf.purge_mode=immediate: deletions to send right away
    bool state_changed = false;    // <conference-state> changed (locked): a partial says so
    // Termination queued (sent as soon as no NOTIFY is in flight) or sent.
    bool terminating = false;
    bool final_sent = false;
    std::string final_reason;
    FinalBody final_body = FinalBody::None;
    // What this subscriber has not been told yet, and what it knows.
    // Both as compact sets over names_ (see name_keys.hpp): they are as
    // big as the roster, for every subscription.
    KeySet dirty;
    ShownSet known;  // user -> endpoint entities reported present
    // Report sent; `deleted` goes with the next partial. The endpoints the
    // subscriber last saw are kept, so a rejoin can restore the one coming
    // back and turn the others into endpoint deletions (see reappear()).
    std::map<std::string, std::set<std::string>> pending_user_deletions;
    std::map<std::string, std::set<std::string>> pending_endpoint_deletions;
    // Endpoints this subscriber was shown that left the roster without a
    // report (EndpointReport::withdrawn). Unlike a purge, they call for a
    // NOTIFY of their own: the subscriber would otherwise keep showing a
    // provisional endpoint that no longer exists.
    std::map<std::string, std::set<std::string>> withdrawn;
  };

  void pump(Subscription& s, int64_t now_ms, std::vector<transport::Command>& out);
  void pump_all(int64_t now_ms, std::vector<transport::Command>& out);
  void send(Subscription& s, int64_t now_ms, std::vector<transport::Command>& out, bool terminal);
  // Renders the next document for `s` and updates what it knows. Returns
  // false when a partial document would say nothing.
  bool render(Subscription& s, bool full, bool force, codec::ConferenceInfo& doc);
  codec::ConfEndpoint full_endpoint(const session::EndpointReport& e) const;
  codec::ConfStateBlock conference_state() const;
  std::string headers(const Subscription& s, const std::string& state) const;
  void forget(transport::DialogId dialog, std::vector<transport::Command>& out);
  void collect_garbage();
  const session::EndpointReport* find(const EndpointKey& key) const;
  void withdraw(const EndpointKey& key);
  // A connected (or pending) report for `key`: what each subscriber still
  // shows of that user decides whether older endpoints are restored or deleted.
  void reappear(Subscription& s, const EndpointKey& key);
  // Before a subscription is dropped: its sets let go of their names.
  void release_names(Subscription& s);
  bool has_changes(const Subscription& s) const {
    return !s.dirty.empty() || !s.withdrawn.empty() || s.purge_followup || s.state_changed;
  }

  session::ConferenceConfig conf_;
  std::string owner_;
  session::ConferenceDescription description_;
  bool released_ = false;
  uint64_t next_token_ = 1;
  int64_t new_wakeup_ = kNever;  // see take_new_wakeup()
  // The roster as reported: users in join order, endpoints per user. Records
  // of departed endpoints stay until every subscriber that must hear about
  // the departure has been sent it (report, then purge: §4.3).
  // Join order is a map from a counter to the user's key in users_ (node
  // keys do not move), so a user comes and goes in O(log n) integer steps;
  // a vector of addresses cost a string compare per user for each of them,
  // a leave storm's largest notifier cost once garbage collection was fixed.
  struct UserRecords {
    uint64_t order = 0;  // key in user_order_
    std::vector<session::EndpointReport> endpoints;
  };
  std::map<uint64_t, const std::string*> user_order_;
  std::unordered_map<std::string, UserRecords> users_;
  uint64_t next_user_order_ = 0;
  void add_user_order(std::unordered_map<std::string, UserRecords>::iterator user);
  void erase_user(std::unordered_map<std::string, UserRecords>::iterator user);
  // Users with a departed record that collect_garbage() has not dropped yet:
  // the only ones it needs to look at (it runs after every roster change,
  // and a scan of the whole roster each time was a leave storm's largest
  // notifier cost).
  std::set<std::string> garbage_candidates_;
  // The names the subscriptions' sets refer to (declared before subs_).
  NameTable names_;
  std::map<transport::DialogId, Subscription> subs_;
};

}  // namespace imserver::notify
