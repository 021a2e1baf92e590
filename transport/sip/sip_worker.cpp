#include "transport/sip/sip_worker.hpp"

#include <re.h>

#include <algorithm>
#include <cstring>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace imserver::transport {
namespace {

std::string to_str(const pl& p) {
  return p.p && p.l ? std::string(p.p, p.l) : std::string();
}

uint64_t now_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// RFC 3261 §7.3.3 and the extensions we meet: compact forms become the long
// name so the layers above look headers up by one spelling only.
std::string canonical_header_name(const pl& name) {
  std::string n = to_str(name);
  std::transform(n.begin(), n.end(), n.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (n.size() != 1) return n;
  switch (n[0]) {
    case 'i': return "call-id";
    case 'm': return "contact";
    case 'e': return "content-encoding";
    case 'l': return "content-length";
    case 'c': return "content-type";
    case 'f': return "from";
    case 's': return "subject";
    case 'k': return "supported";
    case 't': return "to";
    case 'v': return "via";
    case 'r': return "refer-to";
    case 'b': return "referred-by";
    case 'o': return "event";
    case 'u': return "allow-events";
    case 'x': return "session-expires";
    case 'a': return "accept-contact";
    case 'j': return "reject-contact";
    case 'd': return "request-disposition";
    case 'y': return "identity";
    case 'n': return "identity-info";
    default: return n;
  }
}

void* id_arg(uint64_t id) { return reinterpret_cast<void*>(static_cast<uintptr_t>(id)); }
uint64_t arg_id(void* arg) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(arg)); }

}  // namespace

struct SipWorker::Impl {
  // One dialog usage created by an INVITE we received.
  struct Dialog {
    enum class State { Early, AwaitAck, Confirmed, Closing };
    DialogId id = 0;
    sip_dialog* dlg = nullptr;
    std::string owner;
    std::string call_id;
    State state = State::Early;
    bool invite_usage = true;      // false: created by SUBSCRIBE (no ACK, no BYE)
    RequestId pending_invite = 0;  // an INVITE of this dialog without final answer
    // Our 2xx, retransmitted until the ACK (RFC 3261 §13.3.1.4).
    mbuf* ok_mb = nullptr;
    const sip_msg* ok_req = nullptr;
    uint32_t ok_cseq = 0;
    uint32_t retrans_ms = 0;
    tmr retrans_tmr{};
    tmr ack_tmr{};
    bool initial_confirmed = false;
    bool hangup_after_ack = false;
    std::string hangup_reason;

    Dialog() {
      tmr_init(&retrans_tmr);
      tmr_init(&ack_tmr);
    }
    ~Dialog() {
      tmr_cancel(&retrans_tmr);
      tmr_cancel(&ack_tmr);
      mem_deref(ok_mb);
      mem_deref(const_cast<sip_msg*>(ok_req));
      mem_deref(dlg);
    }
    void stop_retransmissions() {
      tmr_cancel(&retrans_tmr);
      tmr_cancel(&ack_tmr);
      ok_mb = static_cast<mbuf*>(mem_deref(ok_mb));
      ok_req = static_cast<const sip_msg*>(mem_deref(const_cast<sip_msg*>(ok_req)));
    }
  };

  struct Pending {
    const sip_msg* msg = nullptr;
    sip_strans* st = nullptr;
    DialogId dialog = 0;
    bool invite = false;
    uint64_t deadline_ms = 0;
  };

  Impl(SipWorkerConfig c, SipEventSink& s) : cfg(std::move(c)), sink(s) {}

  SipWorkerConfig cfg;
  SipEventSink& sink;
  std::thread thread;

  std::mutex start_mu;
  std::condition_variable start_cv;
  bool start_done = false;
  bool start_ok = false;
  std::string start_error;
  uint16_t bound_port = 0;

  std::mutex queue_mu;
  std::vector<Command> queue;
  bool wake_pending = false;
  bool stop_requested = false;
  bool stopped = false;

  // Worker-thread state below.
  sip* stack = nullptr;
  sip_lsnr* listener = nullptr;
  mqueue* wake = nullptr;
  tmr sweep_tmr{};
  uint64_t next_id = 1;
  std::unordered_map<RequestId, Pending> pending;
  std::unordered_map<DialogId, std::unique_ptr<Dialog>> dialogs;
  // Requests we sent inside dialogs (SendInDialog), by the id libre hands
  // back to our response handler.
  struct OutRequest {
    DialogId dialog = 0;
    std::string owner;
    uint64_t token = 0;
  };
  std::unordered_map<uint64_t, OutRequest> out_requests;
  std::unordered_multimap<std::string, DialogId> dialogs_by_call_id;

  static thread_local Impl* current;

  // ---------------------------------------------------------------- loop
  void run() {
    current = this;
    int err = libre_init();
    if (!err) err = fd_setsize(cfg.max_fds);
    if (!err) err = setup_stack();
    {
      std::lock_guard<std::mutex> lk(start_mu);
      start_done = true;
      start_ok = !err;
      if (err && start_error.empty()) start_error = std::string("libre setup failed: ") + std::strerror(err);
    }
    start_cv.notify_all();
    if (!err) re_main(nullptr);
    {
      // From here on posters must not touch the wake-up queue.
      std::lock_guard<std::mutex> lk(queue_mu);
      stopped = true;
    }
    teardown();
    libre_close();
    current = nullptr;
  }

  int setup_stack() {
    int err = sip_alloc(&stack, nullptr, 1024, 1024, 1024, cfg.software.c_str(), nullptr, nullptr);
    if (err) return err;
    // UDP and TCP share the port. With port 0 the kernel picks the UDP port;
    // we then ask TCP for the same one and retry if TCP has it taken.
    for (int attempt = 0; attempt < 20; ++attempt) {
      sa laddr;
      err = sa_set_str(&laddr, cfg.host.c_str(), cfg.port);
      if (err) {
        start_error = "bad --sip.host '" + cfg.host + "'";
        return err;
      }
      err = sip_transp_add(stack, SIP_TRANSP_UDP, &laddr);
      if (err) {
        start_error = "cannot bind UDP " + cfg.host + ":" + std::to_string(cfg.port) + ": " + std::strerror(err);
        return err;
      }
      sa bound;
      err = sip_transp_laddr(stack, &bound, SIP_TRANSP_UDP, &laddr);
      if (err) return err;
      uint16_t port = sa_port(&bound);
      sa tcp_addr = laddr;
      sa_set_port(&tcp_addr, port);
      err = sip_transp_add(stack, SIP_TRANSP_TCP, &tcp_addr);
      if (!err) {
        bound_port = port;
        break;
      }
      sip_transp_flush(stack);
      if (cfg.port != 0) {
        start_error = "cannot bind TCP " + cfg.host + ":" + std::to_string(cfg.port) + ": " + std::strerror(err);
        return err;
      }
    }
    if (err) {
      start_error = "no port free for both UDP and TCP";
      return err;
    }
    err = sip_listen(&listener, stack, true, &Impl::on_request_cb, this);
    if (err) return err;
    err = mqueue_alloc(&wake, &Impl::on_wake_cb, this);
    if (err) return err;
    tmr_init(&sweep_tmr);
    tmr_start(&sweep_tmr, 1000, &Impl::on_sweep_cb, this);
    return 0;
  }

  void teardown() {
    tmr_cancel(&sweep_tmr);
    for (auto& [id, p] : pending) {
      if (p.st) sip_treply(&p.st, stack, p.msg, 503, "Service Unavailable");
      mem_deref(const_cast<sip_msg*>(p.msg));
    }
    pending.clear();
    out_requests.clear();
    dialogs.clear();
    dialogs_by_call_id.clear();
    listener = static_cast<sip_lsnr*>(mem_deref(listener));
    wake = static_cast<mqueue*>(mem_deref(wake));
    if (stack) sip_close(stack, true);
    stack = static_cast<sip*>(mem_deref(stack));
  }

  // ------------------------------------------------------------ commands
  static void on_wake_cb(int, void*, void* arg) { static_cast<Impl*>(arg)->drain(); }

  void drain() {
    std::vector<Command> batch;
    bool stop_now;
    {
      std::lock_guard<std::mutex> lk(queue_mu);
      batch.swap(queue);
      wake_pending = false;
      stop_now = stop_requested;
    }
    for (auto& c : batch) std::visit([this](auto& cmd) { execute(cmd); }, c);
    if (stop_now) re_cancel();
  }

  void push(std::vector<Command>&& cmds, bool stop) {
    std::lock_guard<std::mutex> lk(queue_mu);
    if (stopped || !wake) return;
    for (auto& c : cmds) queue.push_back(std::move(c));
    if (stop) stop_requested = true;
    if (wake_pending) return;
    // One wake-up per batch: the pipe write is the expensive part, and the
    // drain takes everything queued meanwhile. The push happens under the
    // lock so the loop cannot free the queue in between.
    wake_pending = true;
    for (int tries = 0; tries < 1000; ++tries) {
      if (mqueue_push(wake, 0, nullptr) == 0) return;
      std::this_thread::yield();
    }
  }

  std::string body_headers(const std::string& content_type, const std::string& body) {
    std::string h;
    if (!content_type.empty()) h += "Content-Type: " + content_type + "\r\n";
    h += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    return h;
  }

  void execute(Respond& r) {
    auto it = pending.find(r.request);
    if (it == pending.end()) return;  // already answered (CANCEL, BYE, timeout)
    Pending p = it->second;
    pending.erase(it);
    std::string tail = r.headers + body_headers(r.content_type, r.body);
    sip_treplyf(&p.st, nullptr, stack, p.msg, false, r.status, r.reason.c_str(), "%s%b", tail.c_str(),
                r.body.data(), r.body.size());
    if (Dialog* d = find_dialog(p.dialog)) {
      if (d->pending_invite == r.request) d->pending_invite = 0;
      // Only Accept and AcceptSubscription turn an early dialog into a real
      // one; after any other final answer it never existed. A rejected
      // re-INVITE leaves its confirmed dialog as it was (RFC 3261 §14.2).
      if (d->state == Dialog::State::Early) erase_dialog(d->id);
    }
    mem_deref(const_cast<sip_msg*>(p.msg));
  }

  void execute(Provisional& r) {
    auto it = pending.find(r.request);
    if (it == pending.end() || !it->second.invite) {
      report_gone(r.dialog, r.owner);
      return;
    }
    if (r.status <= 100 || r.status >= 200) return;
    if (Dialog* d = find_dialog(it->second.dialog); d && d->state == Dialog::State::Early) d->owner = r.owner;
    sip_treplyf(&it->second.st, nullptr, stack, it->second.msg, true, r.status, r.reason.c_str(),
                "Content-Length: 0\r\n\r\n");
  }

  // The owner decided on a request that ended meanwhile: tell it, once.
  void report_gone(DialogId dialog, const std::string& owner) {
    if (dialog && !owner.empty() && !find_dialog(dialog))
      sink.on_dialog_event(DialogEvent{dialog, owner, DialogEventKind::Cancelled, 487});
  }

  void execute(Accept& a) {
    auto it = pending.find(a.request);
    if (it == pending.end() || !it->second.invite) {
      report_gone(a.dialog, a.owner);
      return;
    }
    Pending p = it->second;
    Dialog* d = find_dialog(p.dialog);
    if (!d) return;
    pending.erase(it);
    d->pending_invite = 0;
    const bool initial = d->state == Dialog::State::Early;
    if (initial) d->owner = a.owner;
    else sip_dialog_update(d->dlg, p.msg);  // re-INVITE refreshes the remote target
    std::string tail = "Contact: " + a.contact + "\r\n" + a.headers + body_headers(a.content_type, a.body);
    d->stop_retransmissions();
    mbuf* mb = nullptr;
    int err = sip_treplyf(&p.st, &mb, stack, p.msg, true, 200, "OK", "%s%b", tail.c_str(), a.body.data(),
                          a.body.size());
    if (err) {
      mem_deref(mb);
      mem_deref(const_cast<sip_msg*>(p.msg));
      return;
    }
    d->ok_mb = mb;
    d->ok_req = p.msg;  // keeps the reference taken when the INVITE arrived
    d->ok_cseq = p.msg->cseq.num;
    d->retrans_ms = cfg.t1_ms;
    if (initial) d->state = Dialog::State::AwaitAck;
    tmr_start(&d->retrans_tmr, d->retrans_ms, &Impl::on_retransmit_cb, d);
    tmr_start(&d->ack_tmr, 64ull * cfg.t1_ms, &Impl::on_ack_timeout_cb, d);
  }

  void execute(Hangup& h) {
    Dialog* d = find_dialog(h.dialog);
    if (!d || d->state == Dialog::State::Closing) return;
    if (!d->invite_usage) {  // nothing to BYE in a subscription usage
      erase_dialog(d->id);
      return;
    }
    d->hangup_reason = h.reason_header;
    switch (d->state) {
      case Dialog::State::Early:
        // Not answered yet: the nearest thing to a BYE is a final refusal.
        if (d->pending_invite) {
          Respond r{d->pending_invite, 480, "Temporarily Unavailable", "", "", ""};
          DialogId id = d->id;
          std::string owner = d->owner;
          execute(r);
          sink.on_dialog_event(DialogEvent{id, owner, DialogEventKind::ByeCompleted, 480});
        }
        return;
      case Dialog::State::AwaitAck:
        // RFC 3261 §15: no BYE before the ACK of our 2xx (or its timeout).
        d->hangup_after_ack = true;
        return;
      case Dialog::State::Confirmed:
        send_bye(d);
        return;
      case Dialog::State::Closing:
        return;
    }
  }

  void execute(AcceptSubscription& a) {
    auto it = pending.find(a.request);
    if (it == pending.end()) {
      report_gone(a.dialog, a.owner);
      return;
    }
    Pending p = it->second;
    Dialog* d = find_dialog(p.dialog);
    if (!d || d->state != Dialog::State::Early || d->invite_usage) return;
    pending.erase(it);
    d->owner = a.owner;
    d->state = Dialog::State::Confirmed;
    std::string tail = "Contact: " + a.contact + "\r\n" + a.headers + "Content-Length: 0\r\n\r\n";
    sip_treplyf(&p.st, nullptr, stack, p.msg, false, 200, "OK", "%s", tail.c_str());
    mem_deref(const_cast<sip_msg*>(p.msg));
  }

  void execute(SendInDialog& c) {
    Dialog* d = find_dialog(c.dialog);
    if (!d || d->state == Dialog::State::Closing || d->state == Dialog::State::Early) {
      sink.on_dialog_event(DialogEvent{c.dialog, d ? d->owner : std::string(), DialogEventKind::RequestDone, 481,
                                       c.token});
      return;
    }
    const uint64_t id = next_id++;
    out_requests[id] = OutRequest{d->id, d->owner, c.token};
    std::string tail = c.headers + body_headers(c.content_type, c.body);
    int err = sip_drequestf(nullptr, stack, true, c.method.c_str(), d->dlg, 0, nullptr, nullptr,
                            &Impl::on_out_response_cb, id_arg(id), "%s%b", tail.c_str(), c.body.data(),
                            c.body.size());
    if (err) finish_out_request(id, 503);
  }

  static void on_out_response_cb(int err, const sip_msg* msg, void* arg) {
    if (!err && msg && msg->scode < 200) return;
    current->finish_out_request(arg_id(arg), err || !msg ? 408 : msg->scode);
  }

  void finish_out_request(uint64_t id, uint16_t status) {
    auto it = out_requests.find(id);
    if (it == out_requests.end()) return;
    OutRequest o = it->second;
    out_requests.erase(it);
    sink.on_dialog_event(DialogEvent{o.dialog, o.owner, DialogEventKind::RequestDone, status, o.token});
  }

  void execute(ForgetDialog& f) {
    Dialog* d = find_dialog(f.dialog);
    if (d && !d->invite_usage) erase_dialog(d->id);
  }

  void execute(HangupOwner& h) {
    std::vector<DialogId> mine;
    for (auto& [id, d] : dialogs)
      if (d->owner == h.owner) mine.push_back(id);
    for (DialogId id : mine) {
      Hangup one{id, ""};
      execute(one);
    }
  }

  void send_bye(Dialog* d) {
    d->state = Dialog::State::Closing;
    d->stop_retransmissions();
    if (d->pending_invite) answer_pending(d->pending_invite, 487, "Request Terminated");
    d->pending_invite = 0;
    std::string reason = d->hangup_reason.empty() ? "" : "Reason: " + d->hangup_reason + "\r\n";
    // No handle kept: libre owns the client transaction and calls back once.
    int err = sip_drequestf(nullptr, stack, true, "BYE", d->dlg, 0, nullptr, nullptr, &Impl::on_bye_response_cb,
                            id_arg(d->id), "%sContent-Length: 0\r\n\r\n", reason.c_str());
    if (err) finish_bye(d->id, 503);
  }

  static void on_bye_response_cb(int err, const sip_msg* msg, void* arg) {
    if (!err && msg && msg->scode < 200) return;
    current->finish_bye(arg_id(arg), err || !msg ? 408 : msg->scode);
  }

  void finish_bye(DialogId id, uint16_t status) {
    Dialog* d = find_dialog(id);
    if (!d) return;
    std::string owner = d->owner;
    erase_dialog(id);
    sink.on_dialog_event(DialogEvent{id, owner, DialogEventKind::ByeCompleted, status});
  }

  // --------------------------------------------------------------- timers
  static void on_retransmit_cb(void* arg) {
    auto* d = static_cast<Dialog*>(arg);
    if (!d->ok_mb || !d->ok_req) return;
    sip_send(current->stack, d->ok_req->sock, d->ok_req->tp, &d->ok_req->src, d->ok_mb);
    d->retrans_ms = std::min(d->retrans_ms * 2, current->cfg.t2_ms);
    tmr_start(&d->retrans_tmr, d->retrans_ms, &Impl::on_retransmit_cb, d);
  }

  static void on_ack_timeout_cb(void* arg) {
    auto* d = static_cast<Dialog*>(arg);
    Impl* self = current;
    d->stop_retransmissions();
    if (d->state == Dialog::State::AwaitAck) {
      // RFC 3261 §13.3.1.4: no ACK within 64*T1 ends the dialog with a BYE.
      self->sink.on_dialog_event(DialogEvent{d->id, d->owner, DialogEventKind::AckTimeout, 408});
      self->send_bye(d);
    }
  }

  static void on_sweep_cb(void* arg) {
    auto* self = static_cast<Impl*>(arg);
    self->sweep();
    tmr_start(&self->sweep_tmr, 1000, &Impl::on_sweep_cb, self);
  }

  void sweep() {
    const uint64_t now = now_ms();
    std::vector<RequestId> late;
    for (auto& [id, p] : pending)
      if (p.deadline_ms <= now) late.push_back(id);
    for (RequestId id : late) {
      auto it = pending.find(id);
      DialogId dialog = it->second.dialog;
      answer_pending(id, 500, "Server Internal Error", "Retry-After: 5\r\n");
      if (Dialog* d = find_dialog(dialog); d && d->state == Dialog::State::Early) erase_dialog(dialog);
    }
  }

  void answer_pending(RequestId id, uint16_t status, const char* reason, const char* extra = "") {
    auto it = pending.find(id);
    if (it == pending.end()) return;
    Pending p = it->second;
    pending.erase(it);
    sip_treplyf(&p.st, nullptr, stack, p.msg, false, status, reason, "%sContent-Length: 0\r\n\r\n", extra);
    if (Dialog* d = find_dialog(p.dialog); d && d->pending_invite == id) d->pending_invite = 0;
    mem_deref(const_cast<sip_msg*>(p.msg));
  }

  // -------------------------------------------------------------- dialogs
  Dialog* find_dialog(DialogId id) {
    auto it = dialogs.find(id);
    return it == dialogs.end() ? nullptr : it->second.get();
  }

  Dialog* match_dialog(const sip_msg* msg) {
    auto range = dialogs_by_call_id.equal_range(to_str(msg->callid));
    for (auto it = range.first; it != range.second; ++it) {
      Dialog* d = find_dialog(it->second);
      if (d && sip_dialog_cmp(d->dlg, msg)) return d;
    }
    return nullptr;
  }

  void erase_dialog(DialogId id) {
    auto it = dialogs.find(id);
    if (it == dialogs.end()) return;
    auto range = dialogs_by_call_id.equal_range(it->second->call_id);
    for (auto r = range.first; r != range.second; ++r) {
      if (r->second == id) {
        dialogs_by_call_id.erase(r);
        break;
      }
    }
    dialogs.erase(it);
  }

  // ------------------------------------------------------------- requests
  static bool on_request_cb(const sip_msg* msg, void* arg) {
    static_cast<Impl*>(arg)->on_request(msg);
    return true;
  }

  static void on_cancel_cb(void* arg) { current->on_cancel(arg_id(arg)); }

  void on_cancel(RequestId id) {
    auto it = pending.find(id);
    if (it == pending.end()) return;
    DialogId dialog = it->second.dialog;
    bool invite = it->second.invite;
    answer_pending(id, 487, "Request Terminated");
    if (!invite) return;
    Dialog* d = find_dialog(dialog);
    if (d && d->state == Dialog::State::Early) {
      std::string owner = d->owner;
      erase_dialog(dialog);
      sink.on_dialog_event(DialogEvent{dialog, owner, DialogEventKind::Cancelled, 487});
    }
  }

  void on_request(const sip_msg* msg) {
    const std::string method = to_str(msg->met);
    if (method == "ACK") return on_ack(msg);
    if (method == "CANCEL") {
      // A CANCEL that matched a live server transaction was consumed by
      // libre; anything reaching us matches nothing (RFC 3261 §9.2).
      sip_reply(stack, msg, 481, "Call/Transaction Does Not Exist");
      return;
    }
    // Generic UAS checks (RFC 3261 §8.2, §16.3).
    if (pl_strcmp(&msg->cseq.met, method.c_str()) != 0) {
      sip_treply(nullptr, stack, msg, 400, "CSeq Method Mismatch");
      return;
    }
    if (!pl_isset(&msg->callid) || !pl_isset(&msg->from.tag)) {
      sip_treply(nullptr, stack, msg, 400, "Missing Call-ID or From tag");
      return;
    }
    if (pl_isset(&msg->maxfwd) && pl_u32(&msg->maxfwd) == 0) {
      sip_treply(nullptr, stack, msg, 483, "Too Many Hops");
      return;
    }
    if (pl_isset(&msg->to.tag)) return on_in_dialog(msg, method);
    on_out_of_dialog(msg, method);
  }

  void on_ack(const sip_msg* msg) {
    Dialog* d = match_dialog(msg);
    if (!d || !d->ok_mb || msg->cseq.num != d->ok_cseq) return;
    d->stop_retransmissions();
    if (d->state == Dialog::State::AwaitAck) {
      d->state = Dialog::State::Confirmed;
      sink.on_dialog_event(DialogEvent{d->id, d->owner, DialogEventKind::Confirmed, 0});
      if (d->hangup_after_ack) send_bye(d);
    }
  }

  void on_in_dialog(const sip_msg* msg, const std::string& method) {
    Dialog* d = match_dialog(msg);
    if (!d) {
      sip_treply(nullptr, stack, msg, 481, "Call/Transaction Does Not Exist");
      return;
    }
    if (!sip_dialog_rseq_valid(d->dlg, msg)) {
      // RFC 3261 §12.2.2: a lower CSeq than the last one is out of order.
      sip_treply(nullptr, stack, msg, 500, "Server Internal Error");
      return;
    }
    if (method == "BYE") {
      if (!d->invite_usage) {
        sip_treply(nullptr, stack, msg, 481, "Call/Transaction Does Not Exist");
        return;
      }
      return on_peer_bye(d, msg);
    }
    if (d->state == Dialog::State::Closing) {
      sip_treply(nullptr, stack, msg, 481, "Call/Transaction Does Not Exist");
      return;
    }
    if (method == "INVITE") {
      if (d->pending_invite || d->ok_mb) {
        // RFC 3261 §14.2: an INVITE while ours or theirs is unfinished.
        sip_treplyf(nullptr, nullptr, stack, msg, false, d->pending_invite ? 500 : 491,
                    d->pending_invite ? "Server Internal Error" : "Request Pending",
                    "Retry-After: 2\r\nContent-Length: 0\r\n\r\n");
        return;
      }
    }
    RequestId id = hand_up(msg, method, d->id);
    if (!id) return;
    if (method == "INVITE") d->pending_invite = id;
  }

  void on_peer_bye(Dialog* d, const sip_msg* msg) {
    sip_treply(nullptr, stack, msg, 200, "OK");
    if (d->state == Dialog::State::Closing) return;  // crossing BYEs: ours reports completion
    // RFC 3261 §15.1.2: a request of this dialog still pending gets 487.
    if (d->pending_invite) answer_pending(d->pending_invite, 487, "Request Terminated");
    DialogId id = d->id;
    std::string owner = d->owner;
    erase_dialog(id);
    sink.on_dialog_event(DialogEvent{id, owner, DialogEventKind::PeerBye, 0});
  }

  void on_out_of_dialog(const sip_msg* msg, const std::string& method) {
    DialogId dialog_id = 0;
    // Dialog-creating requests get an early dialog now, so whoever decides
    // can accept into it and CANCEL or an early BYE can find it.
    if (method == "INVITE" || method == "SUBSCRIBE") {
      if (sip_msg_hdr(msg, SIP_HDR_CONTACT) == nullptr) {
        sip_treply(nullptr, stack, msg, 400, "Missing Contact");
        return;
      }
      auto d = std::make_unique<Dialog>();
      d->invite_usage = method == "INVITE";
      if (sip_dialog_accept(&d->dlg, msg) != 0) {
        sip_treply(nullptr, stack, msg, 400, "Bad Request");
        return;
      }
      d->id = dialog_id = next_id++;
      d->call_id = to_str(msg->callid);
      dialogs_by_call_id.emplace(d->call_id, d->id);
      dialogs.emplace(d->id, std::move(d));
    }
    RequestId id = hand_up(msg, method, dialog_id);
    if (dialog_id) {
      if (!id) erase_dialog(dialog_id);
      else if (method == "INVITE") find_dialog(dialog_id)->pending_invite = id;
    }
  }

  // Keeps the request in a server transaction (which absorbs retransmissions
  // and, for INVITE, matches CANCEL) and sends the event up.
  RequestId hand_up(const sip_msg* msg, const std::string& method, DialogId dialog) {
    RequestId id = next_id++;
    Pending p;
    p.invite = method == "INVITE";
    if (sip_strans_alloc(&p.st, stack, msg, p.invite ? &Impl::on_cancel_cb : nullptr, id_arg(id)) != 0) {
      sip_reply(stack, msg, 503, "Service Unavailable");
      return 0;
    }
    p.msg = static_cast<const sip_msg*>(mem_ref(const_cast<sip_msg*>(msg)));
    p.dialog = dialog;
    p.deadline_ms = now_ms() + cfg.answer_timeout_ms;
    pending.emplace(id, p);

    InboundRequest r;
    r.id = id;
    r.method = method;
    r.request_uri = to_str(msg->ruri);
    r.from_uri = to_str(msg->from.auri);
    r.from_tag = to_str(msg->from.tag);
    r.to_uri = to_str(msg->to.auri);
    r.to_tag = to_str(msg->to.tag);
    r.call_id = to_str(msg->callid);
    r.cseq = msg->cseq.num;
    r.dialog = dialog;
    r.in_dialog = pl_isset(&msg->to.tag);
    if (Dialog* d = find_dialog(dialog)) r.owner = d->owner;
    for (le* e = msg->hdrl.head; e; e = e->next) {
      const auto* h = static_cast<const sip_hdr*>(e->data);
      Header out{canonical_header_name(h->name), to_str(h->val)};
      if (out.name == "contact") r.contacts.push_back(out.value);
      if (out.name == "content-type") r.content_type = out.value;
      r.headers.push_back(std::move(out));
    }
    if (msg->mb && mbuf_get_left(msg->mb))
      r.body.assign(reinterpret_cast<const char*>(mbuf_buf(msg->mb)), mbuf_get_left(msg->mb));
    char ip[64] = {0};
    sa_ntop(&msg->src, ip, sizeof(ip));
    r.peer.ip = ip;
    r.peer.port = sa_port(&msg->src);
    r.peer.transport = msg->tp == SIP_TRANSP_TCP ? "tcp" : msg->tp == SIP_TRANSP_TLS ? "tls" : "udp";
    sink.on_request(std::move(r));
    return id;
  }
};

thread_local SipWorker::Impl* SipWorker::Impl::current = nullptr;

SipWorker::SipWorker(SipWorkerConfig config, SipEventSink& sink)
    : impl_(std::make_unique<Impl>(std::move(config), sink)) {}

SipWorker::~SipWorker() { stop(); }

bool SipWorker::start(std::string* error) {
  impl_->thread = std::thread([this] { impl_->run(); });
  std::unique_lock<std::mutex> lk(impl_->start_mu);
  impl_->start_cv.wait(lk, [this] { return impl_->start_done; });
  if (!impl_->start_ok) {
    if (error) *error = impl_->start_error;
    lk.unlock();
    impl_->thread.join();
    std::lock_guard<std::mutex> q(impl_->queue_mu);
    impl_->stopped = true;
    return false;
  }
  return true;
}

uint16_t SipWorker::port() const { return impl_->bound_port; }

void SipWorker::post(Command command) {
  std::vector<Command> v;
  v.push_back(std::move(command));
  impl_->push(std::move(v), false);
}

void SipWorker::post(std::vector<Command> commands) {
  if (!commands.empty()) impl_->push(std::move(commands), false);
}

void SipWorker::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->push({}, true);
  impl_->thread.join();
  std::lock_guard<std::mutex> lk(impl_->queue_mu);
  impl_->stopped = true;
}

}  // namespace imserver::transport
