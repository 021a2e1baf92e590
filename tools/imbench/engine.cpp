// The SIP engine of imbench: every mode that talks to a server.
//
// Work is split into lanes. A lane is one thread with one socket: a UDP
// socket (datagrams read and written in batches with recvmmsg/sendmmsg) or
// one TCP connection that carries the traffic of every user of the lane.
// Session s belongs to lane s % lanes, with its participants and its
// conference subscribers, so a lane never touches another lane's objects
// and no locks are needed; the lanes only share atomic counters with the
// main thread.
//
// Users are distinguished by their AoR (sip:p<N>@domain for participants,
// sip:w<N>@domain for subscribers) and by the user part of their Contact
// (sip:p<N>@<local ip>:<lane port>): on TCP the server reaches them through
// the lane's connection, whose address that Contact names. Every Call-ID and
// branch carries the object's index and this run's random id, so a message
// finds its user or transaction by parsing, without a lookup table, and
// traffic of an earlier run is ignored.
//
// Transactions are deliberately simple: each request we send is retransmitted
// on UDP with Timer E (500 ms doubling to 4 s; an INVITE stops on a 1xx) and
// given up after Timer F (32 s) as a 408. Requests from the server (NOTIFY,
// BYE) are answered 200 every time they arrive, retransmissions included;
// a NOTIFY counts once per CSeq.

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/sip_lean.hpp"
#include "tools/imbench/imbench.hpp"

namespace imbench {
namespace {

using imserver::bench::Lean;
using imserver::bench::lean_parse;
using imserver::bench::now_ns;
using imserver::bench::RecvBatch;
using imserver::bench::tag_param;
using imserver::bench::uri_in;

constexpr int64_t kMs = 1000000;
constexpr int64_t kT1 = 500 * kMs, kT2 = 4000 * kMs, kTimerF = 64 * kT1;
// After the last retransmission of a SUBSCRIBE's 200, how long we wait for
// the subscription's first NOTIFY before counting it failed.
constexpr int64_t kFirstNotifyWait = 10000 * kMs;
constexpr size_t kMaxErrorSamples = 8;

enum class PState : uint8_t { None, Joining, In, Leaving, Rejoining, JoinWait, TearingDown, Out, Lost };
enum class SState : uint8_t { None, Subscribing, Active, Unsubscribing, Done, Lost };
enum class Stage : uint8_t { Create, Join, Subscribe, Ready, Failed };
enum TxKind : uint8_t { kInvite, kBye, kRefer, kSubscribe, kUnsubscribe, kPublish };
enum TimerKind : uint8_t { kTxTimer, kOpTimeout, kPubTimeout, kFirstNotifyTimeout };
enum Event : uint8_t { kNoEvent = 0, kDeparture = 1, kJoin = 2 };

struct Participant {
  uint32_t session = 0;
  uint32_t gen = 0;     // dialog generation, part of the Call-ID
  uint32_t op_seq = 0;  // operation counter (stale timers and answers)
  PState state = PState::None;
  bool final_done = false, final_ok = false, bye_seen = false;
  Event event = kNoEvent;
  int32_t need = 0;  // conference NOTIFYs still awaited for `event`
  uint32_t cseq = 1;
  int64_t op_start = 0;
  std::string from_tag, to_value, target;
};

struct Subscriber {
  uint32_t session = 0;
  SState state = SState::None;
  bool got_200 = false, got_notify = false, setup_counted = false;
  uint32_t last_cseq = 0;
  uint32_t counted_seq = 0;  // publish-fanout: the PUBLISH whose NOTIFY counted last
  std::string from_tag, to_value, target;
};

struct Session {
  Stage stage = Stage::Create;
  std::string identity;
  uint32_t next_join = 1, joins_done = 0, next_sub = 0, subs_done = 0;
  int out = 0;  // participants busy with an operation or its rejoin (or lost in one)
  int active_subs = 0;
  int awaiting = 0;  // participants waiting for conference NOTIFYs
  std::deque<uint32_t> idle;
  bool queued = false;
  // publish-fanout
  bool publishing = false, pub_final = false, pub_ok = false;
  uint32_t pub_seq = 0, pub_cseq = 0;
  int pub_need = 0;
  int64_t pub_start = 0;
  std::string etag, pub_tag;
};

struct Tx {
  uint32_t gen = 0;
  bool used = false, provisional = false;
  TxKind kind = kInvite;
  uint32_t obj = 0, obj_seq = 0;
  int64_t deadline = 0, interval = 0;
  std::string wire;  // UDP: kept for retransmission
};

struct Timer {
  int64_t at;
  TimerKind kind;
  uint32_t idx, seq;
  bool operator>(const Timer& o) const { return at > o.at; }
};

struct Datagram {
  std::string data;
  sockaddr_in to;
};

class SipEngine;

class Lane {
 public:
  Lane(SipEngine& e, int id) : e_(e), id_(id) {}
  bool open(std::string* error);
  void run();
  Live live;
  Result result;
  void add_session(uint32_t s) { sessions_.push_back(s); }

 private:
  // ---- I/O
  void read_udp();
  void read_tcp();
  void flush();
  void send(std::string data, const sockaddr_in* to = nullptr);
  void handle(std::string_view msg, const sockaddr_in& from);
  // ---- transactions
  uint32_t new_tx(TxKind kind, uint32_t obj, uint32_t obj_seq, std::string* branch);
  void send_tx(uint32_t slot, std::string wire);
  void on_response(const Lean& m);
  void complete(uint32_t slot, int status, const Lean* m);
  void on_timer(const Timer& t);
  void ack_2xx(const Lean& m, std::string_view ruri_fallback);
  // ---- requests from the server
  void answer(const Lean& m, const sockaddr_in& from, int status);
  void on_notify(const Lean& m, uint32_t si);
  void on_focus_bye(uint32_t pi, uint32_t gen);
  void scan_conference(const Lean& m, uint32_t session);
  // ---- set-up, operations, teardown
  void pump();
  void pump_setup();
  void pump_ops();
  void pump_teardown();
  void send_invite(uint32_t pi, const std::string& ruri);
  void send_bye(uint32_t pi);
  void send_refer(uint32_t pi);
  void send_subscribe(uint32_t wi, bool unsubscribe);
  void send_publish(uint32_t si);
  void on_invite_final(uint32_t pi, int status, const Lean* m, const std::string& ruri);
  void session_progress(uint32_t si);
  void sub_setup_done(uint32_t wi, bool ok);
  void start_leave(uint32_t pi);
  void maybe_finish(uint32_t pi);
  void finish_op(uint32_t pi, bool ok);
  void rejoin(uint32_t pi);
  void become_idle(uint32_t pi);
  void lose(uint32_t pi);
  void start_publish(uint32_t si);
  void maybe_finish_publish(uint32_t si);
  void enqueue_ops(uint32_t si);
  void on_phase(int phase);
  void error(const std::string& what, uint64_t* counter);
  void check_setup_done();
  std::string new_tag();
  std::string via(const std::string& branch) const;
  std::string contact(char kind, uint32_t idx) const;
  std::string aor(char kind, uint32_t idx) const;
  std::string call_id(char kind, uint32_t idx, uint32_t gen) const;
  int64_t now() const { return now_; }
  void timer(int64_t at, TimerKind k, uint32_t idx, uint32_t seq) { timers_.push(Timer{at, k, idx, seq}); }
  void op_latency(int64_t start) {
    uint64_t us = static_cast<uint64_t>(std::max<int64_t>(0, now_ - start) / 1000);
    result.latency_us.push_back(static_cast<uint32_t>(us));
    live.latency.add(us);
  }

  SipEngine& e_;
  int id_;
  int fd_ = -1;
  bool tcp_ = false;
  uint16_t port_ = 0;
  std::string port_str_;
  std::vector<uint32_t> sessions_;
  int64_t now_ = 0;
  int phase_ = -1;
  bool done_ = false;
  std::mt19937_64 rng_{std::random_device{}()};

  // I/O buffers
  std::vector<Datagram> out_;
  std::string tcp_in_, tcp_out_;
  size_t tcp_in_off_ = 0;
  bool closed_ = false;

  std::vector<Tx> txs_;
  std::vector<uint32_t> free_txs_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;

  // set-up
  std::deque<uint32_t> setup_q_;
  int pending_setup_ = 0;
  uint32_t sessions_settled_ = 0;
  // operations
  std::deque<uint32_t> ops_q_;  // sessions with an idle participant (or ready to publish)
  int busy_ = 0;
  int64_t next_start_ = 0, interval_ = 0;
  bool count_exhausted_ = false;
  // teardown
  std::vector<std::pair<bool, uint32_t>> teardown_q_;  // (is_subscriber, index)
  size_t teardown_next_ = 0;
  int pending_teardown_ = 0;
};

class SipEngine : public Engine {
 public:
  explicit SipEngine(const Config& cfg) : cfg(cfg) {}

  bool start(std::string* error) override {
    std::mt19937_64 rng{std::random_device{}()};
    run_id = imserver::bench::random_hex(rng, 8);
    S = static_cast<uint32_t>(cfg.sessions);
    publish = cfg.mode == Mode::PublishFanout;
    P = publish ? 0 : static_cast<uint32_t>(cfg.participants);
    K = static_cast<uint32_t>(cfg.subscribers);
    track_events = K > 0 && !publish;
    max_out = P >= 3 ? static_cast<int>(P) - 2 : 1;
    parts.resize(static_cast<size_t>(S) * P);
    subs.resize(static_cast<size_t>(S) * K);
    sessions.resize(S);
    int lanes_n = cfg.sockets > 0 ? cfg.sockets : std::min(cfg.sessions, 2);
    lanes_n = std::max(1, std::min(lanes_n, cfg.sessions));
    for (int i = 0; i < lanes_n; ++i) lanes.push_back(std::make_unique<Lane>(*this, i));
    for (uint32_t s = 0; s < S; ++s) {
      lanes[s % lanes_n]->add_session(s);
      for (uint32_t i = 0; i < P; ++i) parts[s * P + i].session = s;
      for (uint32_t k = 0; k < K; ++k) subs[s * K + k].session = s;
      if (publish) {
        sessions[s].stage = Stage::Subscribe;
        sessions[s].identity = "sip:conf-" + std::to_string(s + 1) + "@" + cfg.domain;
      }
    }
    factory = "sip:conference-factory@" + cfg.domain;
    for (auto& l : lanes)
      if (!l->open(error)) return false;
    for (auto& l : lanes) threads.emplace_back([&l] { l->run(); });
    return true;
  }
  void join() override {
    for (auto& t : threads) t.join();
    threads.clear();
  }
  Result results() override {
    Result r;
    for (auto& l : lanes) {
      Result& x = l->result;
      r.latency_us.insert(r.latency_us.end(), x.latency_us.begin(), x.latency_us.end());
      r.notify_us.insert(r.notify_us.end(), x.notify_us.begin(), x.notify_us.end());
      r.bye_us.insert(r.bye_us.end(), x.bye_us.begin(), x.bye_us.end());
      r.ops_ok += x.ops_ok;
      r.ops_failed += x.ops_failed;
      r.notifies += x.notifies;
      r.setup_failed += x.setup_failed;
      r.teardown_failed += x.teardown_failed;
      r.other_errors += x.other_errors;
      r.retransmissions += x.retransmissions;
      for (auto& s : x.error_samples)
        if (r.error_samples.size() < kMaxErrorSamples) r.error_samples.push_back(s);
    }
    return r;
  }
  std::vector<Live*> lives() override {
    std::vector<Live*> v;
    for (auto& l : lanes) v.push_back(&l->live);
    return v;
  }
  uint64_t setup_items() const override { return static_cast<uint64_t>(S) * (P + K); }

  const Config cfg;
  std::string run_id, factory;
  uint32_t S = 0, P = 0, K = 0;
  bool publish = false, track_events = false;
  int max_out = 1;
  std::vector<Participant> parts;
  std::vector<Subscriber> subs;
  std::vector<Session> sessions;
  std::vector<std::unique_ptr<Lane>> lanes;
  std::vector<std::thread> threads;
};

// ------------------------------------------------------------------ helpers

// Parses "<kind><idx>.<gen>.<run id>@..." (our Call-IDs).
bool parse_call_id(std::string_view cid, const std::string& run_id, char* kind, uint32_t* idx, uint32_t* gen) {
  if (cid.size() < 6) return false;
  *kind = cid[0];
  size_t i = 1;
  uint64_t a = 0, b = 0;
  size_t start = i;
  while (i < cid.size() && cid[i] >= '0' && cid[i] <= '9') a = a * 10 + (cid[i++] - '0');
  if (i == start || i >= cid.size() || cid[i] != '.') return false;
  start = ++i;
  while (i < cid.size() && cid[i] >= '0' && cid[i] <= '9') b = b * 10 + (cid[i++] - '0');
  if (i == start || i >= cid.size() || cid[i] != '.') return false;
  ++i;
  if (cid.compare(i, run_id.size(), run_id) != 0) return false;
  *idx = static_cast<uint32_t>(a);
  *gen = static_cast<uint32_t>(b);
  return true;
}

uint32_t cseq_number(std::string_view cseq) {
  uint32_t n = 0;
  for (char c : cseq) {
    if (c < '0' || c > '9') break;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return n;
}

// ------------------------------------------------------------------ Lane: I/O

bool Lane::open(std::string* error) {
  const Config& c = e_.cfg;
  tcp_ = c.transport == "tcp";
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, c.local_ip.c_str(), &local.sin_addr);
  if (!tcp_) {
    uint16_t port = 0;
    fd_ = imserver::bench::udp_socket(&port, ntohl(local.sin_addr.s_addr));
    if (fd_ < 0) {
      *error = std::string("UDP socket: ") + std::strerror(errno);
      return false;
    }
    port_ = port;
  } else {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int size = 8 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        connect(fd_, reinterpret_cast<const sockaddr*>(&c.target_addr), sizeof c.target_addr) != 0) {
      *error = "TCP connection to " + c.target + ": " + std::strerror(errno);
      return false;
    }
    socklen_t len = sizeof local;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
    port_ = ntohs(local.sin_port);
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  port_str_ = std::to_string(port_);
  return true;
}

void Lane::send(std::string data, const sockaddr_in* to) {
  if (tcp_) {
    tcp_out_ += data;
    return;
  }
  out_.push_back(Datagram{std::move(data), to ? *to : e_.cfg.target_addr});
}

void Lane::flush() {
  if (tcp_) {
    while (!tcp_out_.empty() && !closed_) {
      ssize_t n = ::send(fd_, tcp_out_.data(), tcp_out_.size(), MSG_NOSIGNAL);
      if (n > 0) {
        tcp_out_.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      closed_ = true;
      error("TCP connection lost while sending", &result.other_errors);
    }
    return;
  }
  constexpr size_t kBatch = 64;
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  size_t done = 0;
  int spins = 0;
  while (done < out_.size()) {
    size_t n = std::min(kBatch, out_.size() - done);
    for (size_t i = 0; i < n; ++i) {
      Datagram& d = out_[done + i];
      iov[i] = iovec{d.data.data(), d.data.size()};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &d.to;
      msgs[i].msg_hdr.msg_namelen = sizeof d.to;
    }
    int sent = sendmmsg(fd_, msgs, static_cast<unsigned>(n), 0);
    if (sent > 0) {
      done += static_cast<size_t>(sent);
      continue;
    }
    if (sent < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) && ++spins < 1000) {
      pollfd p{fd_, POLLOUT, 0};
      poll(&p, 1, 1);
      continue;
    }
    // A datagram that cannot go is as good as lost: Timer E resends ours.
    ++done;
  }
  out_.clear();
}

void Lane::read_udp() {
  constexpr int kBatch = 64;
  static thread_local RecvBatch in(kBatch, 65536);
  for (int round = 0; round < 16; ++round) {
    const int n = in.receive(fd_);
    if (n == 0) return;
    now_ = now_ns();
    for (int i = 0; i < n; ++i) handle(in.datagram(i), in.from(i));
    if (n < kBatch) return;
  }
}

void Lane::read_tcp() {
  char buf[65536];
  for (int round = 0; round < 16 && !closed_; ++round) {
    ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      closed_ = true;
      error("TCP connection closed by the server", &result.other_errors);
      return;
    }
    if (n < 0) return;
    tcp_in_.append(buf, static_cast<size_t>(n));
    now_ = now_ns();
    for (;;) {
      bool keepalive = false;
      std::string_view rest(tcp_in_.data() + tcp_in_off_, tcp_in_.size() - tcp_in_off_);
      size_t len = imserver::bench::sip_frame_length(rest, &keepalive);
      if (len == 0) break;
      if (!keepalive) handle(rest.substr(0, len), e_.cfg.target_addr);
      tcp_in_off_ += len;
    }
    if (tcp_in_off_ > 0 && tcp_in_off_ * 2 >= tcp_in_.size()) {
      tcp_in_.erase(0, tcp_in_off_);
      tcp_in_off_ = 0;
    }
    if (static_cast<size_t>(n) < sizeof buf) return;
  }
}

void Lane::handle(std::string_view msg, const sockaddr_in& from) {
  Lean m;
  if (!lean_parse(msg, m)) {
    ++result.other_errors;
    return;
  }
  if (m.is_response) {
    on_response(m);
    return;
  }
  char kind = 0;
  uint32_t idx = 0, gen = 0;
  const bool ours = parse_call_id(m.call_id, e_.run_id, &kind, &idx, &gen);
  if (m.method == "NOTIFY") {
    answer(m, from, 200);
    if (ours && kind == 'w' && idx < e_.subs.size()) on_notify(m, idx);
    return;
  }
  if (m.method == "BYE") {
    answer(m, from, 200);
    if (ours && kind == 'p' && idx < e_.parts.size()) on_focus_bye(idx, gen);
    return;
  }
  if (m.method == "ACK") return;
  if (m.method == "OPTIONS") {
    answer(m, from, 200);
    return;
  }
  answer(m, from, ours ? 501 : 481);
}

// ------------------------------------------------------------------ Lane: messages

std::string Lane::new_tag() { return imserver::bench::random_hex(rng_, 10); }

std::string Lane::via(const std::string& branch) const {
  return std::string("Via: SIP/2.0/") + (tcp_ ? "TCP " : "UDP ") + e_.cfg.local_ip + ":" + port_str_ +
         ";branch=" + branch + ";rport\r\n";
}
std::string Lane::aor(char kind, uint32_t idx) const {
  return std::string("sip:") + kind + std::to_string(idx) + "@" + e_.cfg.domain;
}
std::string Lane::contact(char kind, uint32_t idx) const {
  return std::string("Contact: <sip:") + kind + std::to_string(idx) + "@" + e_.cfg.local_ip + ":" + port_str_ +
         (tcp_ ? ";transport=tcp>\r\n" : ">\r\n");
}
std::string Lane::call_id(char kind, uint32_t idx, uint32_t gen) const {
  return std::string(1, kind) + std::to_string(idx) + "." + std::to_string(gen) + "." + e_.run_id + "@imbench";
}

void Lane::answer(const Lean& m, const sockaddr_in& from, int status) {
  std::string r;
  r.reserve(512);
  r += status == 200 ? "SIP/2.0 200 OK\r\n" : status == 481 ? "SIP/2.0 481 Call/Transaction Does Not Exist\r\n"
                                                            : "SIP/2.0 501 Not Implemented\r\n";
  for (auto v : m.via_lines) (r += v) += "\r\n";
  (r += m.from_line) += "\r\n";
  r += m.to_line;
  if (tag_param(m.to).empty()) r += ";tag=" + std::string("ib") + e_.run_id;
  r += "\r\n";
  (r += m.call_id_line) += "\r\n";
  (r += m.cseq_line) += "\r\n";
  r += "Content-Length: 0\r\n\r\n";
  send(std::move(r), &from);
}

uint32_t Lane::new_tx(TxKind kind, uint32_t obj, uint32_t obj_seq, std::string* branch) {
  uint32_t slot;
  if (!free_txs_.empty()) {
    slot = free_txs_.back();
    free_txs_.pop_back();
  } else {
    slot = static_cast<uint32_t>(txs_.size());
    txs_.emplace_back();
  }
  Tx& t = txs_[slot];
  t.used = true;
  t.provisional = false;
  ++t.gen;
  t.kind = kind;
  t.obj = obj;
  t.obj_seq = obj_seq;
  // The lane's id is part of the branch: transaction slots are per lane, and
  // a server may match requests on the branch alone (Kamailio's tm does not
  // look at the Via port), so two lanes must never send the same branch.
  *branch = "z9hG4bK" + e_.run_id + "l" + std::to_string(id_) + "x" + std::to_string(slot) + "x" +
            std::to_string(t.gen);
  return slot;
}

void Lane::send_tx(uint32_t slot, std::string wire) {
  Tx& t = txs_[slot];
  t.deadline = now_ + kTimerF;
  if (!tcp_) {
    t.interval = kT1;
    t.wire = wire;
    timer(now_ + kT1, kTxTimer, slot, t.gen);
  } else {
    timer(t.deadline, kTxTimer, slot, t.gen);
  }
  send(std::move(wire));
}

void Lane::on_timer(const Timer& tm) {
  switch (tm.kind) {
    case kTxTimer: {
      if (tm.idx >= txs_.size()) return;
      Tx& t = txs_[tm.idx];
      if (!t.used || t.gen != tm.seq) return;
      if (now_ >= t.deadline) {
        complete(tm.idx, 408, nullptr);
        return;
      }
      if (!tcp_ && !(t.provisional && t.kind == kInvite)) {
        send(t.wire);
        ++result.retransmissions;
        t.interval = t.kind == kInvite ? t.interval * 2 : std::min(t.interval * 2, kT2);
      }
      timer(std::min(t.deadline, now_ + (t.interval ? t.interval : kT2)), kTxTimer, tm.idx, t.gen);
      return;
    }
    case kOpTimeout: {
      Participant& p = e_.parts[tm.idx];
      if (p.op_seq != tm.seq) return;
      if (p.state == PState::Leaving) {
        error("operation timed out (p" + std::to_string(tm.idx) + ": final " + (p.final_done ? "yes" : "no") +
                  ", focus BYE " + (p.bye_seen ? "yes" : "no") + ", NOTIFYs missing " + std::to_string(p.need) + ")",
              nullptr);
        finish_op(tm.idx, false);
      } else if (p.state == PState::JoinWait) {
        error("rejoin NOTIFYs missing for p" + std::to_string(tm.idx) + ": " + std::to_string(p.need),
              &result.other_errors);
        Session& s = e_.sessions[p.session];
        --s.awaiting;
        p.event = kNoEvent;
        become_idle(tm.idx);
      }
      return;
    }
    case kPubTimeout: {
      Session& s = e_.sessions[tm.idx];
      if (!s.publishing || s.pub_seq != tm.seq) return;
      error("PUBLISH " + std::to_string(tm.seq) + " of " + s.identity + " timed out (NOTIFYs missing " +
                std::to_string(s.pub_need) + ")",
            nullptr);
      s.pub_final = true;
      s.pub_ok = false;
      s.pub_need = 0;
      maybe_finish_publish(tm.idx);
      return;
    }
    case kFirstNotifyTimeout: {
      Subscriber& w = e_.subs[tm.idx];
      if (w.setup_counted || w.got_notify) return;
      error("no first NOTIFY for w" + std::to_string(tm.idx), nullptr);
      sub_setup_done(tm.idx, false);
      return;
    }
  }
}

void Lane::on_response(const Lean& m) {
  // Our branches: z9hG4bK<run id>l<lane>x<slot>x<gen>.
  std::string_view b = m.branch;
  const std::string prefix = "z9hG4bK" + e_.run_id + "l" + std::to_string(id_) + "x";
  bool matched = false;
  uint32_t slot = 0, gen = 0;
  if (b.substr(0, prefix.size()) == prefix) {
    std::string_view rest = b.substr(prefix.size());
    size_t x = rest.find('x');
    if (x != std::string_view::npos) {
      slot = cseq_number(rest.substr(0, x));
      gen = cseq_number(rest.substr(x + 1));
      matched = slot < txs_.size() && txs_[slot].used && txs_[slot].gen == gen;
    }
  }
  const bool invite = imserver::bench::cseq_method(m.cseq) == "INVITE";
  if (!matched) {
    // A retransmitted 2xx whose transaction is over: ACK it again.
    if (invite && m.status >= 200 && m.status < 300) ack_2xx(m, {});
    return;
  }
  Tx& t = txs_[slot];
  if (m.status < 200) {
    t.provisional = true;
    return;
  }
  complete(slot, m.status, &m);
}

void Lane::ack_2xx(const Lean& m, std::string_view ruri_fallback) {
  std::string ruri(uri_in(m.contact));
  if (ruri.empty()) ruri = std::string(ruri_fallback.empty() ? uri_in(m.to) : ruri_fallback);
  std::string branch = "z9hG4bK" + e_.run_id + "a" + new_tag();
  std::string r;
  r.reserve(512);
  r += "ACK " + ruri + " SIP/2.0\r\n";
  r += via(branch);
  r += "Max-Forwards: 70\r\n";
  (r += m.from_line) += "\r\n";
  (r += m.to_line) += "\r\n";
  (r += m.call_id_line) += "\r\n";
  r += "CSeq: " + std::to_string(cseq_number(m.cseq)) + " ACK\r\n";
  r += "Content-Length: 0\r\n\r\n";
  send(std::move(r));
}

void Lane::complete(uint32_t slot, int status, const Lean* m) {
  Tx& t = txs_[slot];
  const TxKind kind = t.kind;
  const uint32_t obj = t.obj, seq = t.obj_seq;
  t.used = false;
  t.wire.clear();
  t.wire.shrink_to_fit();
  free_txs_.push_back(slot);
  const bool ok = status >= 200 && status < 300;
  switch (kind) {
    case kInvite: {
      Participant& p = e_.parts[obj];
      const Session& s = e_.sessions[p.session];
      const std::string ruri = obj % e_.P == 0 && s.stage == Stage::Create ? e_.factory : s.identity;
      if (m && ok) ack_2xx(*m, ruri);
      if (p.gen != seq) return;  // an older dialog's answer
      on_invite_final(obj, status, m, ruri);
      return;
    }
    case kBye:
    case kRefer: {
      Participant& p = e_.parts[obj];
      if (p.op_seq != seq) return;
      if (p.state == PState::TearingDown) {
        if (!ok && status != 481) error("teardown BYE answered " + std::to_string(status), &result.teardown_failed);
        p.state = PState::Out;
        --pending_teardown_;
        return;
      }
      if (p.state != PState::Leaving) return;
      p.final_done = true;
      p.final_ok = ok;
      if (ok) op_latency(p.op_start);
      else
        error(std::string(kind == kBye ? "BYE" : "REFER") + " of p" + std::to_string(obj) + " answered " +
                  std::to_string(status),
              nullptr);
      maybe_finish(obj);
      return;
    }
    case kSubscribe: {
      Subscriber& w = e_.subs[obj];
      if (w.state != SState::Subscribing) return;
      Session& s = e_.sessions[w.session];
      if (!ok) {
        error("SUBSCRIBE of w" + std::to_string(obj) + " answered " + std::to_string(status), nullptr);
        w.state = SState::Lost;
        sub_setup_done(obj, false);
        return;
      }
      w.state = SState::Active;
      w.got_200 = true;
      w.to_value = std::string(m->to);
      w.target = std::string(uri_in(m->contact));
      if (w.target.empty()) w.target = s.identity;
      ++s.active_subs;
      if (w.got_notify) sub_setup_done(obj, true);
      else timer(now_ + kFirstNotifyWait, kFirstNotifyTimeout, obj, 0);
      return;
    }
    case kUnsubscribe: {
      Subscriber& w = e_.subs[obj];
      if (!ok && status != 481) error("unSUBSCRIBE answered " + std::to_string(status), &result.teardown_failed);
      if (w.state == SState::Unsubscribing) w.state = SState::Done;
      --pending_teardown_;
      return;
    }
    case kPublish: {
      Session& s = e_.sessions[obj];
      if (!s.publishing || s.pub_seq != seq) return;
      s.pub_final = true;
      s.pub_ok = ok;
      if (ok) {
        op_latency(s.pub_start);
        if (m && !m->etag.empty()) s.etag = std::string(m->etag);
      } else {
        // 412: the ETag is gone; the next PUBLISH starts a new publication.
        s.etag.clear();
        error("PUBLISH answered " + std::to_string(status), nullptr);
      }
      maybe_finish_publish(obj);
      return;
    }
  }
}

// ------------------------------------------------------------------ requests we send

void Lane::send_invite(uint32_t pi, const std::string& ruri) {
  Participant& p = e_.parts[pi];
  p.from_tag = new_tag();
  p.cseq = 1;
  p.target = ruri;
  p.to_value.clear();
  std::string branch;
  uint32_t slot = new_tx(kInvite, pi, p.gen, &branch);
  const std::string& ip = e_.cfg.local_ip;
  std::string sess = std::to_string(1000000 + pi);
  std::string sdp;
  sdp.reserve(300);
  sdp += "v=0\r\no=p" + std::to_string(pi) + " " + sess + " " + sess + " IN IP4 " + ip + "\r\n";
  sdp += "s=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=message 40001 TCP/MSRP *\r\n";
  sdp += "a=accept-types:message/cpim\r\na=accept-wrapped-types:text/plain\r\n";
  sdp += "a=path:msrp://" + ip + ":40001/ib" + std::to_string(pi) + "x" + std::to_string(p.gen) + ";tcp\r\n";
  sdp += "a=setup:actpass\r\na=sendrecv\r\n";
  std::string r;
  r.reserve(1024);
  r += "INVITE " + ruri + " SIP/2.0\r\n";
  r += via(branch);
  r += "Max-Forwards: 70\r\n";
  r += "From: <" + aor('p', pi) + ">;tag=" + p.from_tag + "\r\n";
  r += "To: <" + ruri + ">\r\n";
  r += "Call-ID: " + call_id('p', pi, p.gen) + "\r\n";
  r += "CSeq: 1 INVITE\r\n";
  r += contact('p', pi);
  r += "P-Asserted-Identity: <" + aor('p', pi) + ">\r\n";
  r += "Content-Type: application/sdp\r\n";
  r += "Content-Length: " + std::to_string(sdp.size()) + "\r\n\r\n";
  r += sdp;
  send_tx(slot, std::move(r));
}

void Lane::send_bye(uint32_t pi) {
  Participant& p = e_.parts[pi];
  std::string branch;
  uint32_t slot = new_tx(kBye, pi, p.op_seq, &branch);
  std::string r;
  r.reserve(512);
  r += "BYE " + p.target + " SIP/2.0\r\n";
  r += via(branch);
  r += "Max-Forwards: 70\r\n";
  r += "From: <" + aor('p', pi) + ">;tag=" + p.from_tag + "\r\n";
  r += "To: " + p.to_value + "\r\n";
  r += "Call-ID: " + call_id('p', pi, p.gen) + "\r\n";
  r += "CSeq: " + std::to_string(++p.cseq) + " BYE\r\n";
  r += "Content-Length: 0\r\n\r\n";
  send_tx(slot, std::move(r));
}

void Lane::send_refer(uint32_t pi) {
  Participant& p = e_.parts[pi];
  const std::string& id = e_.sessions[p.session].identity;
  std::string branch;
  uint32_t slot = new_tx(kRefer, pi, p.op_seq, &branch);
  std::string r;
  r.reserve(640);
  r += "REFER " + id + " SIP/2.0\r\n";
  r += via(branch);
  r += "Max-Forwards: 70\r\n";
  r += "From: <" + aor('p', pi) + ">;tag=" + new_tag() + "\r\n";
  r += "To: <" + id + ">\r\n";
  r += "Call-ID: " + call_id('r', pi, p.op_seq) + "\r\n";
  r += "CSeq: 1 REFER\r\n";
  r += contact('p', pi);
  r += "P-Asserted-Identity: <" + aor('p', pi) + ">\r\n";
  r += "Refer-To: <" + id + ";method=BYE>\r\n";
  r += "Refer-Sub: false\r\n";
  r += "Content-Length: 0\r\n\r\n";
  send_tx(slot, std::move(r));
}

void Lane::send_subscribe(uint32_t wi, bool unsubscribe) {
  Subscriber& w = e_.subs[wi];
  const Session& s = e_.sessions[w.session];
  std::string branch;
  uint32_t slot = new_tx(unsubscribe ? kUnsubscribe : kSubscribe, wi, 0, &branch);
  const std::string& ruri = unsubscribe ? w.target : s.identity;
  if (!unsubscribe) w.from_tag = new_tag();
  std::string r;
  r.reserve(640);
  r += "SUBSCRIBE " + ruri + " SIP/2.0\r\n";
  r += via(branch);
  r += "Max-Forwards: 70\r\n";
  r += "From: <" + aor('w', wi) + ">;tag=" + w.from_tag + "\r\n";
  r += unsubscribe ? "To: " + w.to_value + "\r\n" : "To: <" + s.identity + ">\r\n";
  r += "Call-ID: " + call_id('w', wi, 0) + "\r\n";
  r += unsubscribe ? "CSeq: 2 SUBSCRIBE\r\n" : "CSeq: 1 SUBSCRIBE\r\n";
  r += contact('w', wi);
  r += "P-Asserted-Identity: <" + aor('w', wi) + ">\r\n";
  r += "Event: conference\r\nAccept: application/conference-info+xml\r\n";
  r += unsubscribe ? "Expires: 0\r\n" : "Expires: 3600\r\n";
  r += "Content-Length: 0\r\n\r\n";
  send_tx(slot, std::move(r));
}

void Lane::send_publish(uint32_t si) {
  Session& s = e_.sessions[si];
  if (s.pub_tag.empty()) s.pub_tag = new_tag();
  std::string branch;
  uint32_t slot = new_tx(kPublish, si, s.pub_seq, &branch);
  // The marker lets a NOTIFY be matched to its PUBLISH when the server
  // passes the document through (presence_conference does).
  const std::string marker = "imbench-" + e_.run_id + "-" + std::to_string(s.pub_seq);
  std::string body;
  body.reserve(600);
  body += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n";
  body += "<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"" + s.identity +
          "\" state=\"full\" version=\"" + std::to_string(s.pub_seq) + "\">\r\n";
  body += " <conference-description><subject>" + marker + "</subject></conference-description>\r\n";
  body += " <conference-state><user-count>1</user-count><active>true</active></conference-state>\r\n";
  body += " <users>\r\n  <user entity=\"sip:p" + std::to_string(si) + "@" + e_.cfg.domain + "\" state=\"full\">\r\n";
  body += "   <endpoint entity=\"sip:p" + std::to_string(si) + "@" + e_.cfg.local_ip +
          "\"><status>connected</status></endpoint>\r\n  </user>\r\n </users>\r\n</conference-info>\r\n";
  std::string r;
  r.reserve(1200);
  r += "PUBLISH " + s.identity + " SIP/2.0\r\n";
  r += via(branch);
  r += "Max-Forwards: 70\r\n";
  r += "From: <" + s.identity + ">;tag=" + s.pub_tag + "\r\n";
  r += "To: <" + s.identity + ">\r\n";
  r += "Call-ID: " + call_id('u', si, 0) + "\r\n";
  r += "CSeq: " + std::to_string(++s.pub_cseq) + " PUBLISH\r\n";
  r += "Event: conference\r\nExpires: 3600\r\n";
  if (!s.etag.empty()) r += "SIP-If-Match: " + s.etag + "\r\n";
  r += "Content-Type: application/conference-info+xml\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  r += body;
  send_tx(slot, std::move(r));
}

// ------------------------------------------------------------------ requests we receive

void Lane::on_notify(const Lean& m, uint32_t wi) {
  Subscriber& w = e_.subs[wi];
  const uint32_t n = cseq_number(m.cseq);
  if (w.last_cseq != 0 && n <= w.last_cseq) return;  // a retransmission, answered again
  w.last_cseq = n;
  if (phase_ == kLoad || phase_ == kDrain) {
    ++result.notifies;
    live.notifies.fetch_add(1, std::memory_order_relaxed);
  }
  Session& s = e_.sessions[w.session];
  const bool first = !w.got_notify;
  w.got_notify = true;
  if (m.subscription_state.substr(0, 10) == "terminated") {
    if (w.state == SState::Active) {
      --s.active_subs;
      if (phase_ == kLoad || phase_ == kDrain)
        error("subscription w" + std::to_string(wi) + " terminated by the server: " +
                  std::string(m.subscription_state),
              &result.other_errors);
    }
    if (w.state != SState::Unsubscribing) w.state = SState::Done;
  }
  if (first) {
    if (w.got_200 && !w.setup_counted) sub_setup_done(wi, true);
    return;  // the full document of a new subscription reports no event
  }
  if (e_.publish) {
    if (!s.publishing || w.counted_seq == s.pub_seq) return;
    const std::string marker = "imbench-" + e_.run_id + "-";
    size_t at = m.body.find(marker);
    if (at != std::string_view::npos && cseq_number(m.body.substr(at + marker.size())) != s.pub_seq) return;
    w.counted_seq = s.pub_seq;
    if (--s.pub_need == 0) result.notify_us.push_back(static_cast<uint32_t>((now_ - s.pub_start) / 1000));
    maybe_finish_publish(w.session);
    return;
  }
  if (s.awaiting > 0) scan_conference(m, w.session);
}

// Finds the participants a conference-info document reports as departed or
// connected, and counts the document for those waiting for that news.
void Lane::scan_conference(const Lean& m, uint32_t si) {
  std::string_view body = m.body;
  size_t pos = body.find("<user ");
  while (pos != std::string_view::npos) {
    size_t next = body.find("<user ", pos + 6);
    std::string_view el = body.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos);
    pos = next;
    size_t ent = el.find("entity=\"sip:p");
    size_t tag_end = el.find('>');
    if (ent == std::string_view::npos || ent > tag_end) continue;
    std::string_view digits = el.substr(ent + 13);
    if (digits.empty() || digits[0] < '0' || digits[0] > '9') continue;
    uint32_t pi = cseq_number(digits);
    if (pi >= e_.parts.size()) continue;
    Participant& p = e_.parts[pi];
    if (p.session != si || p.event == kNoEvent || p.need <= 0) continue;
    const bool disconnected = el.find("<status>disconnected</status>") != std::string_view::npos;
    const bool connected = el.find("<status>connected</status>") != std::string_view::npos;
    Session& s = e_.sessions[si];
    if (p.event == kDeparture && p.state == PState::Leaving && disconnected && !connected) {
      if (--p.need == 0) {
        --s.awaiting;
        result.notify_us.push_back(static_cast<uint32_t>((now_ - p.op_start) / 1000));
        maybe_finish(pi);
      }
    } else if (p.event == kJoin && p.state == PState::JoinWait && connected) {
      if (--p.need == 0) {
        --s.awaiting;
        p.event = kNoEvent;
        become_idle(pi);
      }
    }
  }
}

void Lane::on_focus_bye(uint32_t pi, uint32_t gen) {
  Participant& p = e_.parts[pi];
  if (p.gen != gen) return;
  if (p.state == PState::Leaving && e_.cfg.mode == Mode::LeaveRefer) {
    if (!p.bye_seen) {
      p.bye_seen = true;
      result.bye_us.push_back(static_cast<uint32_t>((now_ - p.op_start) / 1000));
      maybe_finish(pi);
    }
    return;
  }
  if (p.state == PState::Out || p.state == PState::Lost || p.state == PState::None) return;
  if (p.state == PState::TearingDown) return;  // crossing BYEs at the end: both fine
  if (phase_ == kTeardown || phase_ == kExit) {
    p.state = PState::Out;  // the session was released under it
    return;
  }
  error("unexpected BYE from the server to p" + std::to_string(pi), &result.other_errors);
  if (p.state == PState::In) {
    p.state = PState::Out;
    ++e_.sessions[p.session].out;  // never idle again
  } else if (p.state == PState::Leaving || p.state == PState::JoinWait) {
    finish_op(pi, false);
  }
}

// ------------------------------------------------------------------ set-up

void Lane::check_setup_done() {
  if (sessions_settled_ == sessions_.size()) live.setup_done.store(true);
}

void Lane::session_progress(uint32_t si) {
  Session& s = e_.sessions[si];
  if (s.stage == Stage::Join && s.joins_done + 1 >= e_.P) s.stage = e_.K ? Stage::Subscribe : Stage::Ready;
  if (s.stage == Stage::Subscribe && s.subs_done >= e_.K) s.stage = Stage::Ready;
  if (s.stage == Stage::Subscribe || s.stage == Stage::Join) {
    if (!s.queued && (s.stage == Stage::Join ? s.next_join < e_.P : s.next_sub < e_.K)) {
      s.queued = true;
      setup_q_.push_back(si);
    }
  }
  if (s.stage == Stage::Ready || s.stage == Stage::Failed) {
    ++sessions_settled_;
    check_setup_done();
  }
}

void Lane::sub_setup_done(uint32_t wi, bool ok) {
  Subscriber& w = e_.subs[wi];
  if (w.setup_counted) return;
  w.setup_counted = true;
  if (!ok) {
    ++result.setup_failed;
    if (w.state == SState::Active) --e_.sessions[w.session].active_subs;
    w.state = SState::Lost;
  }
  live.setup_done_items.fetch_add(1, std::memory_order_relaxed);
  --pending_setup_;
  Session& s = e_.sessions[w.session];
  ++s.subs_done;
  if (s.stage == Stage::Subscribe) session_progress(w.session);
}

void Lane::on_invite_final(uint32_t pi, int status, const Lean* m, const std::string& ruri) {
  Participant& p = e_.parts[pi];
  Session& s = e_.sessions[p.session];
  const bool ok = status >= 200 && status < 300;
  if (ok) {
    p.to_value = std::string(m->to);
    std::string target(uri_in(m->contact));
    p.target = target.empty() ? ruri : target;
  }
  if (p.state == PState::Joining) {
    --pending_setup_;
    live.setup_done_items.fetch_add(1, std::memory_order_relaxed);
    const bool creator = pi % e_.P == 0;
    if (!ok) {
      error("set-up INVITE of p" + std::to_string(pi) + " answered " + std::to_string(status), &result.setup_failed);
      p.state = PState::Lost;
      if (creator) {
        // Nobody can join a session that was not created.
        s.stage = Stage::Failed;
        result.setup_failed += e_.P - 1 + e_.K;
        live.setup_done_items.fetch_add(e_.P - 1 + e_.K, std::memory_order_relaxed);
        session_progress(p.session);
        return;
      }
    } else {
      p.state = PState::In;
      s.idle.push_back(pi);
      if (creator) {
        // The session identity is the 200's Contact (imserver:
        // <sip:gs-N@domain>;isfocus); a plain UAS may send anything, or
        // nothing, and then the joiners use the factory URI too.
        s.identity = p.target;
        s.stage = Stage::Join;
        session_progress(p.session);
        return;
      }
    }
    ++s.joins_done;
    session_progress(p.session);
    return;
  }
  if (p.state == PState::Rejoining) {
    if (!ok) {
      error("rejoin INVITE of p" + std::to_string(pi) + " answered " + std::to_string(status), &result.other_errors);
      lose(pi);
      return;
    }
    if (e_.track_events && s.active_subs > 0) {
      p.state = PState::JoinWait;
      p.event = kJoin;
      p.need = s.active_subs;
      ++s.awaiting;
      timer(now_ + static_cast<int64_t>(e_.cfg.op_timeout_s * 1e9), kOpTimeout, pi, ++p.op_seq);
      return;
    }
    become_idle(pi);
  }
}

void Lane::pump_setup() {
  while (pending_setup_ < e_.cfg.window && !setup_q_.empty()) {
    uint32_t si = setup_q_.front();
    Session& s = e_.sessions[si];
    const uint32_t P = e_.P, K = e_.K;
    if (s.stage == Stage::Create) {
      Participant& p = e_.parts[si * P];
      p.state = PState::Joining;
      send_invite(si * P, e_.factory);
      ++pending_setup_;
      setup_q_.pop_front();
      s.queued = false;
    } else if (s.stage == Stage::Join && s.next_join < P) {
      uint32_t pi = si * P + s.next_join++;
      e_.parts[pi].state = PState::Joining;
      send_invite(pi, s.identity);
      ++pending_setup_;
      if (s.next_join >= P) {
        setup_q_.pop_front();
        s.queued = false;
      }
    } else if (s.stage == Stage::Subscribe && s.next_sub < K) {
      uint32_t wi = si * K + s.next_sub++;
      e_.subs[wi].state = SState::Subscribing;
      send_subscribe(wi, false);
      ++pending_setup_;
      if (s.next_sub >= K) {
        setup_q_.pop_front();
        s.queued = false;
      }
    } else {
      setup_q_.pop_front();
      s.queued = false;
    }
  }
}

// ------------------------------------------------------------------ operations

void Lane::enqueue_ops(uint32_t si) {
  Session& s = e_.sessions[si];
  if (s.queued || s.stage != Stage::Ready) return;
  const bool eligible = e_.publish ? !s.publishing : (!s.idle.empty() && s.out < e_.max_out);
  if (!eligible) return;
  s.queued = true;
  ops_q_.push_back(si);
}

void Lane::pump_ops() {
  if (phase_ != kLoad || count_exhausted_) return;
  if (e_.load_end_ns.load(std::memory_order_relaxed) <= now_) return;
  while (busy_ < e_.cfg.window && !ops_q_.empty()) {
    if (interval_ > 0 && now_ < next_start_) return;
    uint32_t si = ops_q_.front();
    ops_q_.pop_front();
    Session& s = e_.sessions[si];
    s.queued = false;
    uint32_t pi = 0;
    if (!e_.publish) {
      while (!s.idle.empty() && e_.parts[s.idle.front()].state != PState::In) s.idle.pop_front();
      if (s.idle.empty() || s.out >= e_.max_out) continue;
      pi = s.idle.front();
    } else if (s.publishing) {
      continue;
    }
    if (e_.cfg.count > 0 && e_.ops_started.fetch_add(1) >= e_.cfg.count) {
      count_exhausted_ = true;
      s.queued = true;  // keeps its place; nothing more starts
      ops_q_.push_front(si);
      return;
    }
    if (interval_ > 0) next_start_ = std::max(next_start_ + interval_, now_ - 100 * kMs);
    if (e_.publish) {
      start_publish(si);
    } else {
      s.idle.pop_front();
      start_leave(pi);
    }
    enqueue_ops(si);
  }
}

void Lane::start_leave(uint32_t pi) {
  Participant& p = e_.parts[pi];
  Session& s = e_.sessions[p.session];
  ++s.out;
  ++busy_;
  live.busy.store(busy_, std::memory_order_relaxed);
  p.state = PState::Leaving;
  ++p.op_seq;
  p.op_start = now_;
  p.final_done = p.final_ok = p.bye_seen = false;
  p.event = kNoEvent;
  p.need = 0;
  if (e_.track_events && s.active_subs > 0) {
    p.event = kDeparture;
    p.need = s.active_subs;
    ++s.awaiting;
  }
  if (e_.cfg.mode == Mode::LeaveRefer) send_refer(pi);
  else send_bye(pi);
  timer(now_ + static_cast<int64_t>(e_.cfg.op_timeout_s * 1e9), kOpTimeout, pi, p.op_seq);
}

void Lane::maybe_finish(uint32_t pi) {
  Participant& p = e_.parts[pi];
  if (p.state != PState::Leaving || !p.final_done) return;
  if (!p.final_ok) {
    finish_op(pi, false);
    return;
  }
  if (e_.cfg.mode == Mode::LeaveRefer && !p.bye_seen) return;
  if (p.event == kDeparture && p.need > 0) return;
  finish_op(pi, true);
}

void Lane::finish_op(uint32_t pi, bool ok) {
  Participant& p = e_.parts[pi];
  Session& s = e_.sessions[p.session];
  if (p.event != kNoEvent && p.need > 0) --s.awaiting;
  p.event = kNoEvent;
  p.need = 0;
  if (ok) {
    ++result.ops_ok;
    live.ops_ok.fetch_add(1, std::memory_order_relaxed);
  } else {
    ++result.ops_failed;
    live.ops_failed.fetch_add(1, std::memory_order_relaxed);
  }
  // The participant is out of the session only when its leave was answered
  // (and, for REFER, the focus hung up); then it joins again, so the number
  // of operations is not limited by the number of participants.
  const bool left = p.final_ok && (e_.cfg.mode != Mode::LeaveRefer || p.bye_seen);
  if (left && phase_ < kTeardown) rejoin(pi);
  else lose(pi);
}

void Lane::rejoin(uint32_t pi) {
  Participant& p = e_.parts[pi];
  p.state = PState::Rejoining;
  ++p.gen;
  send_invite(pi, e_.sessions[p.session].identity);
}

void Lane::become_idle(uint32_t pi) {
  Participant& p = e_.parts[pi];
  Session& s = e_.sessions[p.session];
  p.state = PState::In;
  --s.out;
  --busy_;
  live.busy.store(busy_, std::memory_order_relaxed);
  s.idle.push_back(pi);
  enqueue_ops(p.session);
}

// A participant whose state we no longer know: it takes no further part
// (its session keeps counting it as busy, so the rule "at most P-2 out"
// still holds).
void Lane::lose(uint32_t pi) {
  e_.parts[pi].state = PState::Lost;
  --busy_;
  live.busy.store(busy_, std::memory_order_relaxed);
}

void Lane::start_publish(uint32_t si) {
  Session& s = e_.sessions[si];
  ++busy_;
  live.busy.store(busy_, std::memory_order_relaxed);
  s.publishing = true;
  s.pub_final = s.pub_ok = false;
  ++s.pub_seq;
  s.pub_start = now_;
  s.pub_need = s.active_subs;
  send_publish(si);
  timer(now_ + static_cast<int64_t>(e_.cfg.op_timeout_s * 1e9), kPubTimeout, si, s.pub_seq);
}

void Lane::maybe_finish_publish(uint32_t si) {
  Session& s = e_.sessions[si];
  if (!s.publishing || !s.pub_final || (s.pub_ok && s.pub_need > 0)) return;
  s.publishing = false;
  if (s.pub_ok) {
    ++result.ops_ok;
    live.ops_ok.fetch_add(1, std::memory_order_relaxed);
  } else {
    ++result.ops_failed;
    live.ops_failed.fetch_add(1, std::memory_order_relaxed);
  }
  --busy_;
  live.busy.store(busy_, std::memory_order_relaxed);
  enqueue_ops(si);
}

// ------------------------------------------------------------------ teardown

void Lane::pump_teardown() {
  while (pending_teardown_ < e_.cfg.window && teardown_next_ < teardown_q_.size()) {
    auto [is_sub, idx] = teardown_q_[teardown_next_++];
    if (is_sub) {
      Subscriber& w = e_.subs[idx];
      if (w.state != SState::Active) continue;
      w.state = SState::Unsubscribing;
      send_subscribe(idx, true);
    } else {
      Participant& p = e_.parts[idx];
      if (p.state != PState::In) continue;
      p.state = PState::TearingDown;
      ++p.op_seq;
      send_bye(idx);
    }
    ++pending_teardown_;
  }
  if (teardown_next_ >= teardown_q_.size() && pending_teardown_ == 0) live.teardown_done.store(true);
}

void Lane::on_phase(int phase) {
  const int was = phase_;
  phase_ = phase;
  if (phase == kSetup) {
    for (uint32_t s : sessions_) {
      e_.sessions[s].queued = true;
      setup_q_.push_back(s);
    }
    if (sessions_.empty()) live.setup_done.store(true);
  }
  if (phase == kLoad) {
    interval_ = e_.cfg.rate > 0 ? static_cast<int64_t>(1e9 * e_.lanes.size() / e_.cfg.rate) : 0;
    next_start_ = now_;
    for (uint32_t s : sessions_) {
      e_.sessions[s].queued = false;
      enqueue_ops(s);
    }
  }
  if (phase == kTeardown && was < kTeardown) {
    // Whatever is still in progress now did not finish in time.
    for (uint32_t si : sessions_) {
      Session& s = e_.sessions[si];
      for (uint32_t i = 0; i < e_.P; ++i) {
        uint32_t pi = si * e_.P + i;
        Participant& p = e_.parts[pi];
        if (p.state == PState::Leaving) {
          error("operation unfinished at the end (p" + std::to_string(pi) + ")", nullptr);
          finish_op(pi, false);
        } else if (p.state == PState::Rejoining || p.state == PState::JoinWait) {
          error("rejoin unfinished at the end (p" + std::to_string(pi) + ")", &result.other_errors);
          lose(pi);
        }
      }
      if (s.publishing) {
        s.pub_final = true;
        s.pub_ok = false;
        s.pub_need = 0;
        maybe_finish_publish(si);
      }
    }
    // Unsubscribe first, so the leaves below cause no NOTIFYs.
    for (uint32_t si : sessions_)
      for (uint32_t k = 0; k < e_.K; ++k) teardown_q_.emplace_back(true, si * e_.K + k);
    for (uint32_t si : sessions_)
      for (uint32_t i = 0; i < e_.P; ++i) teardown_q_.emplace_back(false, si * e_.P + i);
  }
  if (phase == kExit) done_ = true;
}

void Lane::pump() {
  if (phase_ == kSetup) pump_setup();
  else if (phase_ == kLoad) pump_ops();
  else if (phase_ == kTeardown) pump_teardown();
}

void Lane::error(const std::string& what, uint64_t* counter) {
  if (counter) ++*counter;
  live.errors.fetch_add(1, std::memory_order_relaxed);
  if (result.error_samples.size() < kMaxErrorSamples) result.error_samples.push_back(what);
}

void Lane::run() {
  now_ = now_ns();
  while (!done_) {
    const int ph = e_.phase.load(std::memory_order_acquire);
    if (ph != phase_) on_phase(ph);
    if (done_) break;
    // Sleep until the next timer or operation start, 20 ms at most (phase
    // changes are polled).
    int64_t wake = now_ + 20 * kMs;
    if (!timers_.empty()) wake = std::min(wake, timers_.top().at);
    if (phase_ == kLoad && interval_ > 0 && !ops_q_.empty() && busy_ < e_.cfg.window) wake = std::min(wake, next_start_);
    int timeout_ms = static_cast<int>(std::max<int64_t>(0, (wake - now_ + kMs - 1) / kMs));
    pollfd p{fd_, static_cast<short>(POLLIN | (tcp_ && !tcp_out_.empty() ? POLLOUT : 0)), 0};
    if (!closed_) poll(&p, 1, timeout_ms);
    else std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    now_ = now_ns();
    if (!closed_) {
      if (tcp_) read_tcp();
      else read_udp();
    }
    now_ = now_ns();
    while (!timers_.empty() && timers_.top().at <= now_) {
      Timer t = timers_.top();
      timers_.pop();
      on_timer(t);
    }
    pump();
    flush();
  }
  flush();
}

}  // namespace

Engine* make_sip_engine(const Config& cfg) { return new SipEngine(cfg); }

}  // namespace imbench
