#pragma once
// The focus as an MSRP switch (RFC 7701; SESSIONS.md §8) as a plain state
// machine: bytes from connections and leg registrations in, writes, closes
// and leg failures out through ConnectionIo. No sockets, no threads, no
// clock of its own, so every rule is unit-testable; MsrpWorker drives it
// from a libre loop.
//
// What it does: binds connections to legs by the To-Path session-id (481,
// 506), answers per the Failure-Report rules, validates SEND (400, 403, 413,
// 415, 501), reassembles chunks (store-and-forward), checks CPIM From/To
// (400, 403, 404, 428), sends success REPORTs, and fans each complete
// message out as fresh SENDs (new tid and Message-ID, chunks of at most
// out_chunk_size) through one bounded FIFO per leg. A full queue drops new
// copies for that leg only; a leg congested too long, or silent to a copy
// past the response timeout, fails.
//
// When a leg says connect_out (the focus is the active side, SESSIONS.md
// §7.3) the switch asks the I/O for a connection to the first URI of the
// leg's remote path, or reuses an outgoing one to the same host and port
// (§8.2), binds the leg to it at once and, once it is connected, sends the
// bodiless SEND that binds the session at the peer (RFC 4975 §5.4). From
// then on that connection is treated like an accepted one.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "transport/codec/cpim.hpp"
#include "transport/codec/msrp_frame.hpp"
#include "transport/msrp/msrp_messages.hpp"

namespace imserver::transport {

using ConnId = uint64_t;

enum class PrivateMessages { Off, ChatroomAware, All };

struct MsrpSwitchConfig {
  uint64_t max_message_size = 1048576;  // msrp.max_message_size
  size_t max_inflight_per_leg = 8;      // incomplete incoming messages per leg
  size_t out_chunk_size = 2048;
  size_t queue_max_messages = 500;      // per leg
  size_t queue_max_bytes = 8u << 20;
  double congestion_high_water = 0.8;   // congested at this fraction, clear below 0.5
  uint32_t congestion_kick_ms = 120000;
  uint32_t response_timeout_ms = 30000;
  uint32_t bind_timeout_ms = 30000;
  uint32_t chunk_timeout_ms = 540000;
  size_t dedupe_window = 256;
  PrivateMessages private_messages = PrivateMessages::ChatroomAware;
  bool private_copy_to_sender = true;
  bool anonymous_to_is_group = true;
  std::vector<std::string> directed_types = {"message/imdn+xml"};
  bool cpim_from_check = true;
  // Bytes the connection may hold unsent (the socket's own queue) before
  // the switch stops handing it chunks; what does not fit waits in the
  // legs' queues, where it is bounded and fair.
  size_t connection_backlog_bytes = 256u << 10;
  uint64_t seed = 1;  // transaction ids and Message-IDs (64+ random bits each)
};

// What the switch asks of the I/O around it.
class ConnectionIo {
 public:
  virtual ~ConnectionIo() = default;
  virtual void write(ConnId conn, std::string bytes) = 0;
  // Bytes written but not yet taken by the peer: ours, libre's and the
  // kernel's send queue.
  virtual size_t backlog(ConnId conn) const = 0;
  virtual void close(ConnId conn) = 0;
  // Starts a TCP connection to host:port (a numeric address) for the
  // switch. Returns the id the connection will be known by (never one in
  // use), or 0 when no attempt could be started. Must not call back into
  // the switch: the outcome arrives later as MsrpSwitch::on_connected or
  // on_connect_failed. close() on that id abandons the attempt.
  virtual ConnId connect(const std::string& host, uint16_t port) = 0;
  virtual void leg_failed(MsrpLegFailed event) = 0;
};

// A std::deque that holds no memory while it is empty. libstdc++'s deque
// allocates its map and a 512-byte node as soon as it is constructed, and
// every leg has two that mostly stay empty (an idle participant's leg has
// nothing queued and never sent a message): ~1.2 kB per participant
// (issue 7). Emptied, it gives its memory back; a burst of copies costs one
// deque allocation, not one per copy.
template <class T>
class LazyDeque {
 public:
  using iterator = typename std::deque<T>::iterator;
  bool empty() const { return !items_ || items_->empty(); }
  size_t size() const { return items_ ? items_->size() : 0; }
  T& front() { return items_->front(); }
  void push_back(T item) {
    if (!items_) items_ = std::make_unique<std::deque<T>>();
    items_->push_back(std::move(item));
  }
  void pop_front() {
    items_->pop_front();
    if (items_->empty()) items_.reset();
  }
  iterator begin() { return items_ ? items_->begin() : iterator(); }
  iterator end() { return items_ ? items_->end() : iterator(); }
  void erase(iterator it) {
    items_->erase(it);
    if (items_->empty()) items_.reset();
  }

 private:
  std::unique_ptr<std::deque<T>> items_;
};

// Strings many legs share, kept once: every leg of a session carries the
// session identity as its group and (in the server) as its owner tag, ~100
// bytes a leg when each kept its own copies (issue 7). A leg holds pointers
// to the table's keys, which stay put until the last user releases them.
class SharedStrings {
 public:
  const std::string* acquire(std::string value) {
    auto it = uses_.try_emplace(std::move(value), 0).first;
    ++it->second;
    return &it->first;
  }
  void release(const std::string* value) {
    auto it = uses_.find(*value);
    if (it != uses_.end() && --it->second == 0) uses_.erase(it);
  }
  size_t size() const { return uses_.size(); }

 private:
  std::unordered_map<std::string, size_t> uses_;
};

struct MsrpSwitchStats {
  uint64_t messages_in = 0;       // complete messages accepted
  uint64_t copies_queued = 0;
  uint64_t copies_dropped = 0;    // congested legs
  uint64_t chunks_sent = 0;
};

class MsrpSwitch {
 public:
  MsrpSwitch(MsrpSwitchConfig config, ConnectionIo& io);

  void add_leg(MsrpLeg leg, int64_t now_ms);
  void release_leg(const std::string& leg_id);
  void release_dialog(uint64_t dialog);

  void on_connection(ConnId conn, int64_t now_ms);
  // An outgoing connection asked for with ConnectionIo::connect is up (its
  // legs' binding SENDs and waiting copies go now), or could not be made
  // (its legs fail with "MSRP failure"; the I/O has already let it go).
  void on_connected(ConnId conn, int64_t now_ms);
  void on_connect_failed(ConnId conn);
  void on_bytes(ConnId conn, std::string_view bytes, int64_t now_ms);
  void on_closed(ConnId conn);
  // The connection's backlog drained: hand it more chunks.
  void on_writable(ConnId conn, int64_t now_ms);
  // Timeouts (response, congestion, binding, chunks); call a few times a second.
  void on_tick(int64_t now_ms);

  const MsrpSwitchStats& stats() const { return stats_; }
  size_t leg_count() const { return legs_.size(); }
  size_t connection_count() const { return conns_.size(); }

 private:
  struct Copy {
    std::shared_ptr<const std::string> body;  // byte-identical to what the sender sent
    // The copy's fresh Message-ID is these 128 random bits in hex; kept as
    // numbers so a copy costs no string of its own, and the first half keys
    // the tables that match REPORTs and responses back to it.
    uint64_t id = 0, id_low = 0;
    size_t sent = 0;                          // bytes already written
  };
  struct Inbound {  // an incoming message being reassembled
    std::string data;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;  // received [start, end], 1-based, merged
    std::optional<uint64_t> total;
    int64_t last_chunk_ms = 0;
    bool checked = false;  // CPIM checks passed (recipients fixed)
    bool success_report = false;
    bool failure_report = true;
    std::vector<std::string> from_path;
  };
  struct Leg {
    // As registered, except group and owner, interned (below), and
    // remote_path, kept only as remote_path_joined: those are left empty here.
    MsrpLeg info;
    const std::string* group = nullptr;  // in shared_
    const std::string* owner = nullptr;  // in shared_
    uint64_t serial = 0;  // never reused: stale table entries cannot hit a new leg
    std::string remote_path_joined;  // To-Path of every copy
    ConnId conn = 0;
    LazyDeque<Copy> queue;
    size_t queued_bytes = 0;
    bool congested = false;
    int64_t congested_since = 0;
    // Completed Message-IDs, as hashes in a ring of dedupe_window slots
    // (allocated with the leg's first message): one small array instead of a
    // deque and a hash set of the strings, ~50 kB per active sender. A hash
    // collision (~2^-56 per message with the default window) would
    // acknowledge a message without relaying it.
    std::vector<uint64_t> recent_hashes;
    size_t recent_next = 0;  // the slot the next completed message takes
    std::unordered_set<std::string> refused_ids;  // 413: later chunks get 413 too
    std::map<std::string, Inbound> inbound;
    // Transaction ids of this leg in pending_, so releasing the leg touches
    // only its own entries (one scan of pending_ per release was O(n²) over
    // a teardown).
    std::vector<uint64_t> pending_tids;
    // Listed in queued_legs_ / inbound_legs_ (see there).
    bool listed_queued = false;
    bool listed_inbound = false;
  };
  struct Connection {
    codec::msrp::StreamParser parser;
    std::vector<std::string> legs;  // bound legs, served round-robin
    size_t next_leg = 0;
    int64_t opened_ms = 0;
    // Opened by the focus (connect_out legs): the "host:port" it went to,
    // for reuse; connecting until the I/O says it is up, and nothing is
    // written before that.
    std::string target;
    bool connecting = false;
    explicit Connection(size_t max_frame) : parser(max_frame) {}
  };
  struct PendingCopy {  // a chunk we sent, awaiting its response
    uint64_t leg_serial = 0;
    uint64_t copy_id = 0;
    int64_t sent_ms = 0;
    bool binding = false;  // the bodiless SEND of a connect_out leg, not a copy
  };

  // connect_out: find or open the outgoing connection and bind the leg to it.
  void connect_out(Leg& leg, int64_t now_ms);
  void send_binding(Leg& leg, ConnId conn, int64_t now_ms);
  void on_frame(ConnId conn, codec::msrp::Frame& frame, int64_t now_ms);
  void on_response(const codec::msrp::Frame& frame, int64_t now_ms);
  void on_report(Leg& leg, const codec::msrp::Frame& frame);
  void on_send(ConnId conn, Leg& leg, codec::msrp::Frame& frame, int64_t now_ms);
  // Answers `request` per its Failure-Report (R): nothing for "no", only
  // errors for "partial".
  void answer(ConnId conn, const Leg& leg, const codec::msrp::Frame& request, uint16_t status,
              const char* comment);
  void report(const Leg& leg, const std::vector<std::string>& to_path, const std::string& message_id,
              uint64_t total, uint16_t status, const char* comment);
  // CPIM checks (§8.3 step 10) and the recipients; 0 or the refusal code.
  uint16_t route(const Leg& from, const codec::cpim::CpimParse& message, uint64_t size,
                 std::vector<std::string>* recipients, const char** comment) const;
  void fan_out(std::shared_ptr<const std::string> body, const std::vector<std::string>& recipients,
               int64_t now_ms);
  void enqueue(Leg& leg, std::shared_ptr<const std::string> body, int64_t now_ms);
  void pump(ConnId conn, int64_t now_ms);
  void remember(Leg& leg, const std::string& message_id);
  bool seen_recently(const Leg& leg, const std::string& message_id) const;
  void fail(const std::string& leg_id, const char* reason);
  void drop_connection(ConnId conn, bool close);
  std::string new_id(size_t hex_chars);
  uint64_t random64();
  Leg* leg_by_serial(uint64_t serial);
  void drop_copy(Leg& leg, uint64_t copy_id);
  void add_pending(Leg& leg, uint64_t tid, PendingCopy pending);
  void set_congested(Leg& leg, bool congested, int64_t now_ms);

  MsrpSwitchConfig config_;
  ConnectionIo& io_;
  // Keyed by a view of the leg's own info.leg_id (add_leg re-keys the node
  // once the leg is in it), so the id is not kept twice.
  std::unordered_map<std::string_view, Leg> legs_;
  SharedStrings shared_;
  std::unordered_map<ConnId, Connection> conns_;
  std::unordered_map<std::string, ConnId> outgoing_;  // "host:port" -> our connection there
  // Indexes, so that no event scans every leg or connection: a release
  // costs O(legs involved) and a tick O(what is due or was recently busy).
  // Leg pointers stay valid while the leg is in legs_ (an unordered_map
  // never moves its elements) and each index drops the leg on release.
  // Group members are keyed by serial, i.e. in the order they were added,
  // which is the order fan-out and routing have always walked them in.
  std::unordered_map<std::string, std::map<uint64_t, Leg*>> groups_;
  std::unordered_map<uint64_t, std::vector<uint64_t>> dialogs_;  // dialog -> its legs' serials
  std::unordered_map<uint64_t, Leg*> leg_of_serial_;
  uint64_t next_serial_ = 1;
  std::unordered_map<uint64_t, PendingCopy> pending_;  // by transaction id (16 hex digits we chose)
  // pending_ in the order sent, for the response timeout: the front is the
  // oldest. Entries answered or released meanwhile stay until they reach
  // the front (or a compaction) and are skipped then. The worker's clock is
  // monotonic; should times ever go backwards the deque is sorted again
  // before use.
  std::deque<std::pair<int64_t, uint64_t>> pending_order_;
  bool pending_order_sorted_ = true;
  std::unordered_set<uint64_t> congested_;      // serials of congested legs
  std::unordered_set<ConnId> connecting_;       // outgoing connections not up yet
  std::unordered_set<ConnId> unbound_;          // connections with no leg bound yet (bind timeout)
  // Serials of legs that had copies queued, or an incoming message being
  // reassembled, since the last tick (a leg appears once: see Leg::listed_*);
  // the tick looks at these only and keeps those still waiting.
  std::vector<uint64_t> queued_legs_;
  std::vector<uint64_t> inbound_legs_;
  // Copy id -> leg serial, for REPORTs about copies; the oldest entries
  // are forgotten first so the map stays bounded.
  std::unordered_map<uint64_t, uint64_t> copy_owner_;
  std::deque<uint64_t> copy_order_;
  MsrpSwitchStats stats_;
  uint64_t id_state_ = 0x9e3779b97f4a7c15ull;
};

}  // namespace imserver::transport
