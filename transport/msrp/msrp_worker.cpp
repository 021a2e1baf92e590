#include "transport/msrp/msrp_worker.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <thread>
#include <unordered_map>
#include <unordered_set>

extern "C" {
#include <re.h>
}

#include "transport/loop/event_loop_thread.hpp"

namespace imserver::transport {

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void* id_arg(uint64_t id) { return reinterpret_cast<void*>(static_cast<uintptr_t>(id)); }
uint64_t arg_id(void* arg) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(arg)); }

// How often the switch's timeouts are looked at; they are all in seconds.
constexpr uint32_t kTickMs = 250;

}  // namespace

struct MsrpWorker::Impl final : ConnectionIo {
  Impl(MsrpWorkerConfig c, MsrpEventSink& s) : cfg(std::move(c)), sink(s) {
    cfg.relay.seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  }

  MsrpWorkerConfig cfg;
  MsrpEventSink& sink;
  EventLoopThread loop{EventLoopThread::Kind::OwnLoop, cfg.max_fds, "im.msrp"};
  uint16_t bound_port = 0;
  std::vector<MsrpCommand> queue;  // guarded by the loop's lock

  // Worker-thread state.
  tcp_sock* listener = nullptr;
  tmr tick{};
  std::unique_ptr<MsrpSwitch> relay;
  std::unordered_map<ConnId, tcp_conn*> conns;
  // Outgoing connections (connect_out legs) whose TCP handshake has not
  // finished: a close before it is a failed connect, not a lost connection.
  std::unordered_set<ConnId> connecting;
  ConnId next_conn = 1;  // accepted and outgoing connections share the numbering
  // What the switch wrote during the current event, per connection: handed
  // to libre in one tcp_send (one syscall) when the event is done, instead
  // of one per frame (a 200 and its REPORT, several copies to one leg).
  std::unordered_map<ConnId, mbuf*> unsent;

  static thread_local Impl* current;

  // ---------------------------------------------------------------- loop
  bool start(std::string* error) {
    EventLoopThread::Hooks hooks;
    hooks.setup = [this](std::string* why) {
      current = this;
      return setup(why);
    };
    hooks.on_wake = [this] { drain(); };
    hooks.teardown = [this] {
      teardown();
      current = nullptr;
    };
    return loop.start(std::move(hooks), error);
  }

  int setup(std::string* start_error) {
    relay = std::make_unique<MsrpSwitch>(cfg.relay, *this);
    sa local;
    int err = sa_set_str(&local, cfg.host.c_str(), cfg.port);
    if (err) {
      *start_error = "bad --msrp.host '" + cfg.host + "'";
      return err;
    }
    // Not tcp_listen(): its backlog is 5 (STACK.md §5), too few for a
    // session whose participants all connect at once.
    err = tcp_sock_alloc(&listener, &local, &Impl::on_connect_cb, this);
    if (!err) err = tcp_sock_bind(listener, &local);
    if (!err) err = tcp_sock_listen(listener, 1024);
    if (err) {
      *start_error = "cannot listen on MSRP " + cfg.host + ":" + std::to_string(cfg.port) + ": " + std::strerror(err);
      return err;
    }
    sa bound;
    if (tcp_local_get(listener, &bound) == 0) bound_port = sa_port(&bound);
    tmr_init(&tick);
    tmr_start(&tick, kTickMs, &Impl::on_tick_cb, this);
    return 0;
  }

  void teardown() {
    tmr_cancel(&tick);
    relay.reset();
    for (auto& [id, mb] : unsent) mem_deref(mb);
    unsent.clear();
    for (auto& [id, c] : conns) mem_deref(c);
    conns.clear();
    connecting.clear();
    listener = static_cast<tcp_sock*>(mem_deref(listener));
  }

  static void on_tick_cb(void* arg) {
    auto* self = static_cast<Impl*>(arg);
    self->relay->on_tick(now_ms());
    self->flush();
    tmr_start(&self->tick, kTickMs, &Impl::on_tick_cb, self);
  }

  // Hands a connection's collected bytes to libre (one send) and drops them.
  static void send_now(tcp_conn* tc, mbuf* mb) {
    if (tc && mb && mb->end > 0) {
      mb->pos = 0;
      (void)tcp_send(tc, mb);  // a failing connection reports itself through on_close
    }
    mem_deref(mb);
  }

  void flush() {
    for (auto& [id, mb] : unsent) {
      auto it = conns.find(id);
      send_now(it == conns.end() ? nullptr : it->second, mb);
    }
    unsent.clear();
  }

  // ------------------------------------------------------------ commands
  void drain() {
    std::vector<MsrpCommand> batch;
    loop.take([&] { batch.swap(queue); });
    const int64_t now = now_ms();
    for (auto& c : batch) {
      if (auto* add = std::get_if<MsrpAddLeg>(&c)) relay->add_leg(std::move(add->leg), now);
      else if (auto* rel = std::get_if<MsrpReleaseLeg>(&c)) relay->release_leg(rel->leg_id);
      else if (auto* gone = std::get_if<MsrpReleaseDialog>(&c)) relay->release_dialog(gone->dialog);
    }
    flush();
  }

  void push(std::vector<MsrpCommand>&& cmds) {
    loop.post([&] {
      for (auto& c : cmds) queue.push_back(std::move(c));
    });
  }

  // ---------------------------------------------------------- connections
  static void on_connect_cb(const sa*, void* arg) { static_cast<Impl*>(arg)->on_connect(); }

  void on_connect() {
    const ConnId id = next_conn++;
    tcp_conn* tc = nullptr;
    if (tcp_accept(&tc, listener, nullptr, &Impl::on_recv_cb, &Impl::on_close_cb, id_arg(id)) != 0) {
      tcp_reject(listener);
      return;
    }
    prepare(tc);
    conns.emplace(id, tc);
    relay->on_connection(id, now_ms());
  }

  // What accepted and outgoing connections have in common.
  static void prepare(tcp_conn* tc) {
    // Our own per-leg queues bound what waits; libre's queue only has to
    // hold what the switch handed over (its backlog limit plus one chunk).
    tcp_conn_txqsz_set(tc, 16u << 20);
    // Chat is interactive: a lone 200 or copy must not wait for Nagle.
    const int one = 1;
    (void)setsockopt(tcp_conn_fd(tc), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tcp_set_send(tc, &Impl::on_send_ready_cb);
  }

  // The switch's request for a connect_out leg (SESSIONS.md §7.3). libre
  // connects without blocking and reports through on_estab_cb or, when the
  // attempt fails, on_close_cb; nothing is called back from in here.
  ConnId connect(const std::string& host, uint16_t port) override {
    sa peer;
    // Numeric addresses only: this loop has no DNS client, and a blocking
    // lookup here would stall every connection of the worker.
    if (sa_set_str(&peer, host.c_str(), port) != 0) return 0;
    const ConnId id = next_conn++;
    tcp_conn* tc = nullptr;
    if (tcp_connect(&tc, &peer, &Impl::on_estab_cb, &Impl::on_recv_cb, &Impl::on_close_cb, id_arg(id)) != 0)
      return 0;
    prepare(tc);
    conns.emplace(id, tc);
    connecting.insert(id);
    return id;
  }

  static void on_estab_cb(void* arg) {
    const ConnId id = arg_id(arg);
    if (current->connecting.erase(id) == 0) return;
    current->relay->on_connected(id, now_ms());
    current->flush();
  }

  // Commands already posted go before bytes that arrived meanwhile: a
  // release posted ahead of a BYE's 200 must win over a SEND its sender
  // wrote after seeing that 200, even when epoll reports both at once.
  void drain_if_pending() {
    bool pending = false;
    loop.locked([&] { pending = !queue.empty(); });
    if (pending) drain();
  }

  static void on_recv_cb(mbuf* mb, void* arg) {
    current->drain_if_pending();
    current->relay->on_bytes(arg_id(arg),
                             std::string_view(reinterpret_cast<const char*>(mbuf_buf(mb)), mbuf_get_left(mb)),
                             now_ms());
    current->flush();
  }

  static void on_close_cb(int, void* arg) {
    const ConnId id = arg_id(arg);
    auto it = current->conns.find(id);
    if (it == current->conns.end()) return;
    mem_deref(it->second);
    current->conns.erase(it);
    if (auto u = current->unsent.find(id); u != current->unsent.end()) {
      mem_deref(u->second);
      current->unsent.erase(u);
    }
    if (current->connecting.erase(id)) current->relay->on_connect_failed(id);
    else current->relay->on_closed(id);
    current->flush();
  }

  // libre calls this once its send queue drained, with the argument given
  // to tcp_accept or tcp_connect; more chunks can go.
  static void on_send_ready_cb(void* arg) {
    current->relay->on_writable(arg_id(arg), now_ms());
    current->flush();
  }

  // ------------------------------------------------------ ConnectionIo
  void write(ConnId conn, std::string bytes) override {
    if (!conns.count(conn)) return;
    mbuf*& mb = unsent[conn];
    if (!mb) mb = mbuf_alloc(std::max<size_t>(bytes.size(), 4096));
    if (mb) mbuf_write_mem(mb, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }

  size_t backlog(ConnId conn) const override {
    auto it = conns.find(conn);
    if (it == conns.end()) return 0;
    auto pending = unsent.find(conn);
    // SIOCOUTQ: bytes the kernel holds for a peer that has not read them.
    // Without it a stopped reader hides megabytes in the socket buffer and
    // is never seen as congested (SESSIONS.md §8.7).
    int kernel = 0;
    if (ioctl(tcp_conn_fd(it->second), SIOCOUTQ, &kernel) != 0) kernel = 0;
    return tcp_conn_txqsz(it->second) + static_cast<size_t>(std::max(kernel, 0)) +
           (pending == unsent.end() || !pending->second ? 0 : pending->second->end);
  }

  void close(ConnId conn) override {
    auto it = conns.find(conn);
    if (it == conns.end()) return;
    // What the switch wrote before deciding to close (a 481, say) goes first.
    auto pending = unsent.find(conn);
    if (pending != unsent.end()) {
      send_now(it->second, pending->second);
      unsent.erase(pending);
    }
    mem_deref(it->second);  // also abandons a connect still in progress
    conns.erase(it);
    connecting.erase(conn);
  }

  void leg_failed(MsrpLegFailed event) override { sink.on_leg_failed(std::move(event)); }
};

thread_local MsrpWorker::Impl* MsrpWorker::Impl::current = nullptr;

MsrpWorker::MsrpWorker(MsrpWorkerConfig config, MsrpEventSink& sink)
    : impl_(std::make_unique<Impl>(std::move(config), sink)) {}

MsrpWorker::~MsrpWorker() { stop(); }

bool MsrpWorker::start(std::string* error) { return impl_->start(error); }

uint16_t MsrpWorker::port() const { return impl_->bound_port; }

void MsrpWorker::post(std::vector<MsrpCommand> commands) {
  if (!commands.empty()) impl_->push(std::move(commands));
}

void MsrpWorker::on_peer_bye(DialogId dialog) {
  std::vector<MsrpCommand> one;
  one.push_back(MsrpReleaseDialog{dialog});
  impl_->push(std::move(one));
}

void MsrpWorker::stop() {
  if (impl_) impl_->loop.stop();
}

}  // namespace imserver::transport
