#include "transport/sip/sip_worker.hpp"

#include <re.h>

#include "transport/loop/event_loop_thread.hpp"
#include "transport/sip/client_transaction.hpp"
#include "transport/sip/digest_auth.hpp"
#include "transport/sip/server_transaction.hpp"
#include "transport/sip/timer_wheel.hpp"
#include "transport/sip/udp_batch.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <cctype>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
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

// RFC 3261's T4, Timer I of an ACKed non-2xx answer to an INVITE over UDP.
constexpr uint64_t kTimerT4Ms = 5000;

// The wheel is driven by one timerfd in libre's poll set, armed on this grid.
// It used to be one libre timer, but every tmr_start() walks libre's sorted
// timer list past all longer timers (the 32 s server transactions of
// incoming UDP requests were there while they were libre's), which cost a
// third of the SIP thread in a leave storm (perf, issue 7). The grid still
// bounds re-arming to 1000/kDriveGrainMs per second; a timer fires at most
// this much late.
constexpr uint64_t kDriveGrainMs = 4;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim_ws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// CANCEL (RFC 3261 §9.1) and the ACK of a non-2xx final response
// (§17.1.1.3) are copies of the INVITE we sent: its Request-URI, top Via
// (so the same branch: both belong to the INVITE's transaction), Route set,
// From, Call-ID and CSeq number, with their own method. The CANCEL keeps the
// INVITE's To; the ACK takes the response's (`to`, with its tag). Built from
// the INVITE's bytes because sip_drequestf would give each a new branch and
// a new CSeq number.
std::string derived_request(std::string_view invite, const char* method, uint32_t cseq, const std::string& to) {
  const size_t line_end = invite.find("\r\n");
  const std::string_view request_line = invite.substr(0, line_end);
  const size_t sp1 = request_line.find(' ');
  const size_t sp2 = request_line.rfind(' ');
  const std::string_view uri = request_line.substr(sp1 + 1, sp2 > sp1 ? sp2 - sp1 - 1 : 0);
  std::string via, max_forwards, routes, to_line, from, call_id;
  size_t pos = line_end;
  while (pos != std::string_view::npos) {
    const size_t start = pos + 2;
    const size_t end = invite.find("\r\n", start);
    if (end == std::string_view::npos || end == start) break;  // the body follows: it may hold "To:" lines
    const std::string_view line = invite.substr(start, end - start);
    pos = end;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string name = lower(trim_ws(line.substr(0, colon)));
    const std::string copy = std::string(line) + "\r\n";
    if (name == "via" && via.empty()) via = copy;
    else if (name == "max-forwards" && max_forwards.empty()) max_forwards = copy;
    else if (name == "route") routes += copy;
    else if (name == "to" && to_line.empty()) to_line = copy;
    else if (name == "from" && from.empty()) from = copy;
    else if (name == "call-id" && call_id.empty()) call_id = copy;
  }
  if (!to.empty()) to_line = "To: " + to + "\r\n";
  return std::string(method) + " " + std::string(uri) + " SIP/2.0\r\n" + via + max_forwards + routes + to_line + from +
         call_id + "CSeq: " + std::to_string(cseq) + " " + method + "\r\nContent-Length: 0\r\n\r\n";
}

// sip_dialog_alloc pre-loads the outbound proxy as "Route: <uri;lr>": take
// the configured URI without brackets and without its own ;lr, so it is
// neither bracketed twice nor given ;lr twice.
std::string proxy_route_uri(std::string_view proxy) {
  proxy = trim_ws(proxy);
  if (proxy.size() >= 2 && proxy.front() == '<' && proxy.back() == '>') proxy = proxy.substr(1, proxy.size() - 2);
  if (proxy.size() >= 3 && lower(proxy.substr(proxy.size() - 3)) == ";lr") proxy.remove_suffix(3);
  return std::string(proxy);
}

// sip_dialog_alloc puts the From display name between double quotes as
// given: escape what would end the quoted-string early (RFC 3261 §25.1
// quoted-pair) and drop line breaks, which would end the header.
std::string quoted_string_content(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\r' || c == '\n') continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

mbuf* text_mbuf(const std::string& text) {
  mbuf* mb = mbuf_alloc(text.size() + 1);
  if (!mb) return nullptr;
  if (mbuf_write_mem(mb, reinterpret_cast<const uint8_t*>(text.data()), text.size()) != 0) {
    mem_deref(mb);
    return nullptr;
  }
  mb->pos = 0;
  return mb;
}

// Calls visit(fd, socket type) for each socket descriptor of the process
// until it returns true. libre 1.1 hands out the sockets of its SIP transport
// neither for UDP nor for TCP; this is how the worker finds them.
template <typename Visit>
void for_each_socket(Visit&& visit) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (const dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    if (fd <= 2 || fd == dirfd(dir)) continue;
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) continue;  // not a socket
    if (visit(fd, type)) break;
  }
  closedir(dir);
}

sa local_address(int fd) {
  sa local;
  sa_init(&local, AF_UNSPEC);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    (void)sa_set_sa(&local, reinterpret_cast<sockaddr*>(&ss));
  return local;
}

// The descriptor of the process's socket of `type` bound to `addr`
// (address and port), or -1.
int find_bound_socket(int type, const sa& addr) {
  int found = -1;
  for_each_socket([&](int fd, int fd_type) {
    if (fd_type != type) return false;
    const sa local = local_address(fd);
    if (!sa_cmp(&local, &addr, SA_ALL)) return false;
    found = fd;
    return true;
  });
  return found;
}

// Sets TCP_NODELAY on the process's listening TCP socket(s) bound to
// `port`. libre 1.1 neither sets it on the connections of its SIP transport
// nor hands out their sockets, and with Nagle each NOTIFY of a fan-out over
// one connection waited for the ACK of the one before (the peer delays it
// up to 40 ms): 20 NOTIFYs took 46 ms. Linux copies TCP_NODELAY from a
// listener to every connection it accepts, so setting it once covers the
// connections clients open to us (those our NOTIFYs travel on).
void set_nodelay_on_listener(uint16_t port) {
  for_each_socket([&](int fd, int type) {
    if (type != SOCK_STREAM) return false;
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) return false;
    const sa local = local_address(fd);
    if (sa_port(&local) != port) return false;
    const int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return false;
  });
}

// Gives the calling thread the nice value `nice` (Linux: per thread).
void apply_thread_nice(int nice) {
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  if (setpriority(PRIO_PROCESS, tid, nice) != 0)
    std::fprintf(stderr, "imserver: sip.thread-nice=%d not applied: %s\n", nice, std::strerror(errno));
}

// recvmmsg batches the UDP reader takes per wake-up before the loop's other
// work (commands, timers, TCP) gets a turn: up to 4 x 32 datagrams.
constexpr size_t kUdpBatchesPerWake = 4;

// The requests of one dialog usage after its first (see send_client_tx):
// their bytes, and where libre sent the first one.
struct RequestTemplate {
  InDialogTemplate bytes;
  sip_transp tp = SIP_TRANSP_NONE;
  sa dst{};
};

}  // namespace

struct SipWorker::Impl {
  // One dialog usage: created by an INVITE or SUBSCRIBE/REFER we received,
  // or by a 2xx to an INVITE we sent (Dial).
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
    // On the worker's wheel, not libre's list (see kDriveGrainMs); they
    // cancel themselves when the dialog goes away.
    TimerWheel::Timer retrans_timer;
    TimerWheel::Timer ack_timer;
    bool initial_confirmed = false;
    bool hangup_after_ack = false;
    std::string hangup_reason;
    // Hangup::keep_dialog: a refer subscription shares this dialog, so our
    // BYE ends only the INVITE usage (RFC 5057).
    bool keep_after_bye = false;
    // A dial-out dialog nobody above knows: a forked 2xx, or a 2xx after
    // CancelDial. We only ACK and BYE it, and report nothing of it.
    bool unowned = false;
    // Client side, non-INVITE usages only: see send_client_tx.
    std::optional<RequestTemplate> request_template;

    ~Dialog() {
      mem_deref(ok_mb);
      mem_deref(const_cast<sip_msg*>(ok_req));
      mem_deref(dlg);
    }
    void stop_retransmissions() {
      retrans_timer.cancel();
      ack_timer.cancel();
      ok_mb = static_cast<mbuf*>(mem_deref(ok_mb));
      ok_req = static_cast<const sip_msg*>(mem_deref(const_cast<sip_msg*>(ok_req)));
    }
  };

  // One of our own non-INVITE client transactions (RFC 3261 §17.1.2): a
  // SendInDialog request or our BYE. libre only encodes and sends the first
  // copy (stateless sip_drequestf); retransmission (Timer E), timeout
  // (Timer F) and response matching are done here, on the wheel. libre's own
  // client transaction would start two timers on its sorted list per request,
  // the 0.5 s one behind every 32 s one already there: O(n) per NOTIFY.
  struct ClientTx {
    enum class Kind { InDialog, Bye, Cancel };
    Kind kind = Kind::InDialog;
    std::string branch;  // of our Via: with the CSeq method, the match key
    std::string method;
    DialogId dialog = 0;
    std::string owner;   // as it was when the request was sent
    uint64_t token = 0;  // SendInDialog's, echoed in RequestDone
    // The request exactly as libre encoded and sent it; kept on UDP only,
    // where Timer E resends these bytes (same branch, same CSeq).
    mbuf* mb = nullptr;
    sip_transp tp = SIP_TRANSP_NONE;
    sa dst{};
    bool proceeding = false;     // a 1xx arrived: Timer E now runs every T2
    uint32_t retransmit_ms = 0;  // the interval Timer E was last started with
    TimerWheel::Timer timer_e;
    TimerWheel::Timer timer_f;

    ClientTx() = default;
    ClientTx(const ClientTx&) = delete;
    ClientTx& operator=(const ClientTx&) = delete;
    ~ClientTx() { mem_deref(mb); }
  };

  // One INVITE we sent (Dial): the INVITE client transaction of RFC 3261
  // §17.1.1 with the Accepted state of RFC 6026, run on the wheel for the
  // same reason as ClientTx. libre encodes the INVITE (and the ACKs of 2xx)
  // statelessly against `tmpl`; everything after the first send is ours.
  struct DialTx {
    enum class State {
      Calling,     // nothing heard yet: Timer A (UDP) and Timer B run
      Proceeding,  // a provisional arrived: only the final response ends it
      Completed,   // a non-2xx final was ACKed: re-ACK its copies until Timer D
      Accepted,    // a 2xx arrived: re-ACK 2xx copies, ACK+BYE forks until Timer M
    };
    State state = State::Calling;
    std::string owner;
    uint64_t token = 0;
    std::string branch;  // of the INVITE's Via; the CANCEL shares it (§9.1)
    uint32_t cseq = 0;
    // The unconfirmed dialog sip_dialog_alloc made (our From tag, Call-ID,
    // pre-loaded Route). Each 2xx To tag forks a confirmed dialog off it
    // (sip_dialog_fork). sip_dialog_create would confirm the template itself
    // and drop the part a fork copies, leaving a second, forked 2xx nothing
    // to build its dialog (for ACK and BYE) from.
    sip_dialog* tmpl = nullptr;
    std::string invite;  // as sent: CANCEL and the non-2xx ACK copy its lines
    // What the INVITE is made of besides the template's lines: the
    // Request-URI (the Digest's uri), and the headers after those libre
    // writes plus the body. Kept by the first attempt for the retry with
    // credentials (§9.2), which takes them over.
    std::string request_uri, tail, body;
    // The retry's Authorization / Proxy-Authorization lines (CRLF-ended):
    // its 2xx ACKs carry the same credentials (RFC 3261 §13.2.2.4).
    std::string credentials;
    bool is_retry = false;  // a second challenge fails the dial
    mbuf* mb = nullptr;  // the INVITE's bytes, kept on UDP for Timer A
    sip_transp tp = SIP_TRANSP_NONE;
    sa dst{};
    uint32_t retransmit_ms = 0;
    // Answered or Failed went up (exactly one does), or a retry with
    // credentials took the dial over: either way this transaction reports
    // nothing more and no longer owns the (owner, token) key.
    bool reported = false;
    bool cancel_wanted = false;
    bool cancel_sent = false;
    // The ACK sent for each 2xx To tag, re-sent for every copy of that 2xx
    // (RFC 3261 §13.2.2.4: the UAS core retransmits 2xx on every transport).
    struct Ack {
      std::string to_tag;
      mbuf* mb = nullptr;
      sip_transp tp = SIP_TRANSP_NONE;
      sa dst{};
    };
    std::vector<Ack> acks;
    mbuf* final_ack = nullptr;  // Completed: the ACK re-sent per copy of the final
    TimerWheel::Timer timer_a;
    // Timer B while Calling; after our CANCEL the wait for the INVITE's final
    // response (§9.1: 64*T1, then the transaction counts as cancelled).
    TimerWheel::Timer timer_b;
    TimerWheel::Timer timer_end;  // Timer D (Completed) or M (Accepted)

    DialTx() = default;
    DialTx(const DialTx&) = delete;
    DialTx& operator=(const DialTx&) = delete;
    ~DialTx() {
      mem_deref(mb);
      mem_deref(final_ack);
      for (auto& a : acks) mem_deref(a.mb);
      mem_deref(tmpl);
    }
  };

  // Filled by on_capture_send_cb while send_client_tx() is inside
  // sip_drequestf.
  struct SendCapture {
    mbuf* mb = nullptr;
    sip_transp tp = SIP_TRANSP_NONE;
    sa dst{};
  };

  // One of our server transactions (RFC 3261 §17.2, with RFC 6026's
  // Accepted state); see server_transaction.hpp for why they are not
  // libre's. While the request is pending it is also in `pending`; once
  // answered over UDP it stays for the retransmissions: Completed (non-2xx
  // to INVITE: Timer G resends, Timer H ends; anything else: Timer J),
  // Confirmed (its ACK came: absorbs ACK copies, Timer I), Accepted (INVITE
  // 2xx: absorbs INVITE copies, the dialog resends the 2xx; Timer L). Over
  // TCP a transaction ends with its final answer (Timers J, I, L are 0).
  struct ServerTx {
    enum class State { Trying, Proceeding, Completed, Confirmed, Accepted };
    State state = State::Trying;
    bool invite = false;
    RequestId request = 0;  // the pending request, 0 once answered
    // The last response sent (provisional while Proceeding, the final one
    // while Completed); what a retransmitted request gets again.
    std::string response;
    const std::string* key = nullptr;  // its key in server_txs
    uint64_t to_tag = 0;  // our To tag (the request's libre tag): CANCEL's 200 shares it (§9.2)
    sa dst{};  // where its responses went (sip_reply_addr)
    // Timer G only: the socket to resend on (referenced) and its transport.
    void* sock = nullptr;
    sip_transp tp = SIP_TRANSP_NONE;
    uint32_t retransmit_ms = 0;  // Timer G's current interval
    TimerWheel::Timer timer_g;
    TimerWheel::Timer timer_end;  // J, H, I or L: the transaction ends

    ServerTx() = default;
    ServerTx(const ServerTx&) = delete;
    ServerTx& operator=(const ServerTx&) = delete;
    ~ServerTx() { mem_deref(sock); }
  };

  struct Pending {
    const sip_msg* msg = nullptr;
    ServerTx* tx = nullptr;  // owned by server_txs
    DialogId dialog = 0;
    bool invite = false;
    uint64_t deadline_ms = 0;
  };

  Impl(SipWorkerConfig c, SipEventSink& s) : cfg(std::move(c)), sink(s), wheel(now_ms()) {
    // T1 = 0 would make Timer E spin; T2 below T1 would make it shrink.
    cfg.t1_ms = std::max<uint32_t>(cfg.t1_ms, 1);
    cfg.t2_ms = std::max(cfg.t2_ms, cfg.t1_ms);
  }

  SipWorkerConfig cfg;
  SipEventSink& sink;
  DialogEndListener* dialog_end_listener = nullptr;
  EventLoopThread loop{EventLoopThread::Kind::ProcessLoop, cfg.max_fds, "im.sip"};
  uint16_t bound_port = 0;
  std::vector<Command> queue;  // guarded by the loop's lock

  // Worker-thread state below.
  sip* stack = nullptr;
  // The UDP socket of libre's transport, read and written by the worker
  // itself in batches (take_udp_socket); empty if it could not be taken
  // over, and libre then reads it one datagram at a time as before.
  std::optional<UdpBatch> udp;
  sa udp_laddr{};
  int flush_depth = 0;  // > 0: inside an event handler, UDP sends wait for its end
  sip_lsnr* listener = nullptr;
  sip_lsnr* response_listener = nullptr;
  // All of the worker's own timers live on this wheel (declared before
  // everything that embeds a TimerWheel::Timer, so it outlives them). One
  // timerfd, drive_fd, is armed for its next deadline.
  TimerWheel wheel;
  int drive_fd = -1;             // timerfd that drives the wheel
  uint64_t drive_armed_at = 0;  // wheel time drive_fd fires at; 0: not armed
  bool driving = false;         // inside wheel.advance(): arm once, afterwards
  TimerWheel::Timer sweep_timer;
  uint64_t next_id = 1;
  std::unordered_map<RequestId, Pending> pending;
  std::unordered_map<std::string, std::unique_ptr<ServerTx>> server_txs;
  ServerTx* incoming_tx = nullptr;  // the new request's, while on_request handles it
  std::unordered_map<DialogId, std::unique_ptr<Dialog>> dialogs;
  // Our client transactions, by Via branch.
  std::unordered_map<std::string, std::unique_ptr<ClientTx>> client_txs;
  SendCapture* capture = nullptr;
  std::optional<BranchSource> branches;  // seeded on first use, on the worker thread
  // Our dial-out INVITE transactions, by Via branch, and the branch of each
  // one still unanswered by (owner, token), for CancelDial.
  std::unordered_map<std::string, std::unique_ptr<DialTx>> dial_txs;
  std::map<std::pair<std::string, uint64_t>, std::string> dial_keys;
  // Keys view each Dialog's own call_id (set once, before the dialog is
  // indexed; a Dialog never moves): no second copy per participant, and a
  // lookup needs no string made from the request.
  std::unordered_multimap<std::string_view, DialogId> dialogs_by_call_id;

  // ---------------------------------------------------------------- loop
  bool start(std::string* error) {
    EventLoopThread::Hooks hooks;
    hooks.setup = [this](std::string* why) {
      if (cfg.thread_nice != 0) apply_thread_nice(cfg.thread_nice);
      const int err = setup_stack(why);
      if (!err) {
        set_nodelay_on_listener(bound_port);
        take_udp_socket();
      }
      return err;
    };
    hooks.on_wake = [this] { drain(); };
    hooks.teardown = [this] { teardown(); };
    return loop.start(std::move(hooks), error);
  }

  int setup_stack(std::string* start_error) {
    // Transactions, both ways, are the project's own (ServerTx, ClientTx,
    // DialTx): libre's tables stay empty and get the smallest sizes.
    int err = sip_alloc(&stack, nullptr, 16, 16, 16, cfg.software.c_str(), nullptr, nullptr);
    if (err) return err;
    // UDP and TCP share the port. With port 0 the kernel picks the UDP port;
    // we then ask TCP for the same one and retry if TCP has it taken.
    for (int attempt = 0; attempt < 20; ++attempt) {
      sa laddr;
      err = sa_set_str(&laddr, cfg.host.c_str(), cfg.port);
      if (err) {
        *start_error = "bad --sip.host '" + cfg.host + "'";
        return err;
      }
      err = sip_transp_add(stack, SIP_TRANSP_UDP, &laddr);
      if (err) {
        *start_error = "cannot bind UDP " + cfg.host + ":" + std::to_string(cfg.port) + ": " + std::strerror(err);
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
        *start_error = "cannot bind TCP " + cfg.host + ":" + std::to_string(cfg.port) + ": " + std::strerror(err);
        return err;
      }
    }
    if (err) {
      *start_error = "no port free for both UDP and TCP";
      return err;
    }
    err = sip_listen(&listener, stack, true, &Impl::on_request_cb, this);
    if (err) return err;
    // Responses: sip_alloc registered libre's client-transaction listener
    // first, and sip_recv() offers a response to the next listener only when
    // that one found no transaction of its own (it returns false), so every
    // response to our stateless requests reaches this one.
    err = sip_listen(&response_listener, stack, false, &Impl::on_response_cb, this);
    if (err) return err;
    drive_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (drive_fd < 0) return errno;
    err = fd_listen(drive_fd, FD_READ, &Impl::on_drive_fd_cb, this);
    if (err) return err;
    start_sweep();
    return 0;
  }

  void teardown() {
    if (drive_fd >= 0) {
      fd_close(drive_fd);
      close(drive_fd);
      drive_fd = -1;
    }
    drive_armed_at = 0;
    sweep_timer.cancel();
    for (auto& [id, p] : pending) {
      send_response(p.msg, 503, "Service Unavailable", false, "", p.msg->tag);
      mem_deref(const_cast<sip_msg*>(p.msg));
    }
    pending.clear();
    // libre closes the socket itself (sip_close below).
    if (udp) udp->flush();
    udp.reset();
    server_txs.clear();
    // Unfinished client transactions end silently, as libre's did: their
    // owners are going away with the worker.
    client_txs.clear();
    dial_keys.clear();
    dial_txs.clear();
    dialogs.clear();
    dialogs_by_call_id.clear();
    listener = static_cast<sip_lsnr*>(mem_deref(listener));
    response_listener = static_cast<sip_lsnr*>(mem_deref(response_listener));
    if (stack) sip_close(stack, true);
    stack = static_cast<sip*>(mem_deref(stack));
  }

  // ------------------------------------------------------------ commands
  void drain() {
    FlushScope flush_at_end(*this);
    std::vector<Command> batch;
    loop.take([&] { batch.swap(queue); });
    for (auto& c : batch) std::visit([this](auto& cmd) { execute(cmd); }, c);
  }

  void push(std::vector<Command>&& cmds) {
    loop.post([&] {
      for (auto& c : cmds) queue.push_back(std::move(c));
    });
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
    std::string tail = r.headers + body_headers(r.content_type, r.body) + r.body;
    answer(p, r.status, r.reason, false, tail);
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
    answer(it->second, r.status, r.reason, true, "");
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
    std::string tail = "Contact: " + a.contact + "\r\n" + a.headers + body_headers(a.content_type, a.body) + a.body;
    d->stop_retransmissions();
    mbuf* mb = nullptr;
    answer(p, 200, "OK", true, tail, &mb);
    if (!mb) {
      mem_deref(const_cast<sip_msg*>(p.msg));
      return;
    }
    d->ok_mb = mb;
    d->ok_req = p.msg;  // keeps the reference taken when the INVITE arrived
    d->ok_cseq = p.msg->cseq.num;
    d->retrans_ms = cfg.t1_ms;
    if (initial) d->state = Dialog::State::AwaitAck;
    start_timer(d->retrans_timer, d->retrans_ms, [this, d] { on_retransmit(d); });
    start_timer(d->ack_timer, 64ull * cfg.t1_ms, [this, d] { on_ack_timeout(d); });
  }

  void execute(Hangup& h) {
    Dialog* d = find_dialog(h.dialog);
    if (!d || d->state == Dialog::State::Closing) return;
    if (!d->invite_usage) {  // nothing to BYE in a subscription usage
      erase_dialog(d->id);
      return;
    }
    d->hangup_reason = h.reason_header;
    d->keep_after_bye = d->keep_after_bye || h.keep_dialog;
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
    answer(p, a.status, a.reason, false, tail);
    mem_deref(const_cast<sip_msg*>(p.msg));
  }

  void execute(SendInDialog& c) {
    Dialog* d = find_dialog(c.dialog);
    const bool usable = d && (d->state == Dialog::State::AwaitAck || d->state == Dialog::State::Confirmed ||
                              (d->state == Dialog::State::Closing && d->keep_after_bye));
    if (!usable) {
      sink.on_dialog_event(DialogEvent{c.dialog, d ? d->owner : std::string(), DialogEventKind::RequestDone, 481,
                                       c.token});
      return;
    }
    auto tx = std::make_unique<ClientTx>();
    tx->kind = ClientTx::Kind::InDialog;
    tx->method = c.method;
    tx->dialog = d->id;
    tx->owner = d->owner;
    tx->token = c.token;
    std::string tail = c.headers + body_headers(c.content_type, c.body);
    if (send_client_tx(d, std::move(tx), tail, c.body) != 0)
      sink.on_dialog_event(DialogEvent{d->id, d->owner, DialogEventKind::RequestDone, 503, c.token});
  }

  void execute(ForgetDialog& f) {
    Dialog* d = find_dialog(f.dialog);
    if (!d) return;
    if (d->invite_usage) d->keep_after_bye = false;  // the BYE will end it
    else erase_dialog(d->id);
  }

  void execute(HangupOwner& h) {
    std::vector<DialogId> mine;
    for (auto& [id, d] : dialogs)
      if (d->owner == h.owner) mine.push_back(id);
    for (DialogId id : mine) {
      Hangup one{id, ""};
      execute(one);
    }
    // Its unanswered dials too: a dial still ringing would otherwise become
    // a dialog nobody serves.
    std::vector<uint64_t> tokens;
    for (auto& [key, branch] : dial_keys)
      if (key.first == h.owner) tokens.push_back(key.second);
    for (uint64_t token : tokens) {
      CancelDial c{h.owner, token};
      execute(c);
    }
  }

  void send_bye(Dialog* d) {
    d->state = Dialog::State::Closing;
    d->stop_retransmissions();
    if (d->pending_invite) answer_pending(d->pending_invite, 487, "Request Terminated");
    d->pending_invite = 0;
    std::string reason = d->hangup_reason.empty() ? "" : "Reason: " + d->hangup_reason + "\r\n";
    auto tx = std::make_unique<ClientTx>();
    tx->kind = ClientTx::Kind::Bye;
    tx->method = "BYE";
    tx->dialog = d->id;
    tx->owner = d->owner;
    if (send_client_tx(d, std::move(tx), reason + "Content-Length: 0\r\n\r\n", std::string()) != 0)
      finish_bye(d->id, 503);
  }

  void finish_bye(DialogId id, uint16_t status) {
    Dialog* d = find_dialog(id);
    if (!d) return;
    std::string owner = d->owner;
    const bool unowned = d->unowned;
    if (d->keep_after_bye) {
      // Only the INVITE usage ended; the subscription usage goes on until
      // its owner sends ForgetDialog.
      d->invite_usage = false;
      d->state = Dialog::State::Confirmed;
      d->keep_after_bye = false;
    } else {
      erase_dialog(id);
    }
    if (!unowned) sink.on_dialog_event(DialogEvent{id, owner, DialogEventKind::ByeCompleted, status});
  }

  // ---------------------------------------------------- client transactions
  NictTimers nict_timers() const { return NictTimers{cfg.t1_ms, cfg.t2_ms}; }

  // Sends `tx->method` inside `d` as one of our client transactions. Returns
  // 0, or an errno when nothing was sent (the caller reports 503 then).
  int send_client_tx(Dialog* d, std::unique_ptr<ClientTx> tx, const std::string& tail, const std::string& body) {
    // stateful=false: libre still does everything dialog-related exactly as
    // for its own transactions (Route set, From/To tags, Call-ID, the
    // dialog's next local CSeq via sip_dialog_encode's lseq++, Via with a
    // fresh branch, Max-Forwards, User-Agent) and sends on the transport and
    // TCP connection it would pick, but starts no client transaction and no
    // timer. Its sendh runs after the request line and Via are written into
    // the very mbuf that is then completed and sent; taking a reference there
    // gives us the encoded request for retransmission. With numeric hosts
    // (no DNS client) the whole call, sendh included, is synchronous.
    //
    // A dialog without INVITE usage (a subscription) only ever sends these
    // requests, and its route and remote target never change here, so libre
    // encodes its first one and the later ones are filled into that
    // template (InDialogTemplate): the same bytes, minus libre's per-request
    // cost (an OpenSSL random branch, allocations, URI parsing).
    SendCapture cap;
    if (d->request_template && !d->invite_usage) {
      if (int err = send_from_template(*d->request_template, tx->method, tail, body, cap)) return err;
    } else {
      if (int err = send_captured(tx->method.c_str(), d->dlg, 0, tail, body, cap)) return err;
      if (!d->invite_usage) learn_template(d, cap, tail.size() + body.size());
    }
    const std::string_view text(reinterpret_cast<const char*>(cap.mb->buf), cap.mb->end);
    tx->branch = std::string(first_via_branch(text));
    if (tx->branch.empty() || client_txs.count(tx->branch)) {
      // Cannot happen with libre's own Via and 64 random bits; without a
      // unique key no response could be matched, so report it as unsent.
      mem_deref(cap.mb);
      return EPROTO;
    }
    track_client_tx(std::move(tx), cap);
    return 0;
  }

  // Keeps the request libre just sent in `d` as the template of the next
  // ones; `caller_part` bytes at its end were the caller's headers and body.
  void learn_template(Dialog* d, const SendCapture& cap, size_t caller_part) {
    const std::string_view sent(reinterpret_cast<const char*>(cap.mb->buf), cap.mb->end);
    if (caller_part > sent.size()) return;
    auto bytes = InDialogTemplate::learn(sent, sent.size() - caller_part);
    if (bytes) d->request_template = RequestTemplate{std::move(*bytes), cap.tp, cap.dst};
  }

  // Sends the next request of a template's dialog, like send_captured.
  int send_from_template(RequestTemplate& t, const std::string& method, const std::string& tail,
                         const std::string& body, SendCapture& cap) {
    if (!branches) branches.emplace(rand_u64());
    mbuf* mb = text_mbuf(t.bytes.encode(method, branches->next(), tail, body));
    if (!mb) return ENOMEM;
    if (int err = send_wire(nullptr, t.tp, &t.dst, mb)) {
      mem_deref(mb);
      return err;
    }
    mb->pos = 0;
    cap.mb = mb;
    cap.tp = t.tp;
    cap.dst = t.dst;
    return 0;
  }

  // sip_drequestf without a client transaction (see send_client_tx): sends
  // `met` in `dlg` and fills `cap` with the bytes sent and where they went.
  // `cseq` is used for ACK only. Returns 0 (cap.mb then holds a reference)
  // or an errno.
  int send_captured(const char* met, sip_dialog* dlg, uint32_t cseq, const std::string& tail, const std::string& body,
                    SendCapture& cap) {
    capture = &cap;
    int err = sip_drequestf(nullptr, stack, false, met, dlg, cseq, nullptr, &Impl::on_capture_send_cb, nullptr, this,
                            "%s%b", tail.c_str(), body.data(), body.size());
    capture = nullptr;
    if (!err && !cap.mb) err = EPROTO;
    if (err) cap.mb = static_cast<mbuf*>(mem_deref(cap.mb));
    return err;
  }

  // Runs Timer E (UDP) and Timer F for a request already sent once as
  // `cap` describes, and matches its responses from now on. Takes over the
  // reference in cap.mb.
  void track_client_tx(std::unique_ptr<ClientTx> tx, const SendCapture& cap) {
    tx->tp = cap.tp;
    tx->dst = cap.dst;
    ClientTx* t = tx.get();
    const NictTimers timers = nict_timers();
    if (cap.tp == SIP_TRANSP_UDP) {
      // §17.1.2.2: Timer E only on unreliable transports.
      t->mb = cap.mb;
      t->retransmit_ms = timers.first_retransmit_ms();
      start_timer(t->timer_e, t->retransmit_ms, [this, t] { on_timer_e(t); });
    } else {
      mem_deref(cap.mb);  // TCP: the connection delivers it (or queues it until connected)
    }
    start_timer(t->timer_f, timers.timeout_ms(), [this, t] { finish_client_tx(t, 408); });
    client_txs.emplace(t->branch, std::move(tx));
  }

  static int on_capture_send_cb(enum sip_transp tp, const sa*, const sa* dst, mbuf* mb, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    // Only the synchronous send inside send_client_tx() may go out: a later
    // call (a DNS answer, were there a resolver) would be a request nobody
    // tracks, so it is refused.
    SendCapture* c = self->capture;
    if (!c || c->mb) return ECANCELED;
    c->mb = static_cast<mbuf*>(mem_ref(mb));
    c->tp = tp;
    c->dst = *dst;
    // libre sends this request itself, straight after this returns (it
    // finishes encoding it only then, so it cannot join the batch): what
    // the worker queued before it (the 202 before the BYE of a REFER BYE,
    // PROTOCOL.md B2a-iv) must leave first.
    if (tp == SIP_TRANSP_UDP && self->udp) self->udp->flush();
    return 0;
  }

  void on_timer_e(ClientTx* t) {
    // Resend the same bytes (same branch, same CSeq). A failed send is left
    // to the next Timer E; Timer F bounds the transaction either way.
    t->mb->pos = 0;
    (void)send_wire(nullptr, t->tp, &t->dst, t->mb);
    t->retransmit_ms = nict_timers().next_retransmit_ms(t->retransmit_ms, t->proceeding);
    start_timer(t->timer_e, t->retransmit_ms, [this, t] { on_timer_e(t); });
  }

  static bool on_response_cb(const sip_msg* msg, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    FlushScope flush_at_end(*self);
    self->on_response(msg);
    // Consumed either way: a response matching nothing is a late copy of a
    // final response we already acted on (what Timer K would absorb) or a
    // stray one; libre would only print "unhandled response" for it.
    return true;
  }

  void on_response(const sip_msg* msg) {
    if (pl_strcmp(&msg->cseq.met, "INVITE") == 0) {
      // Our INVITEs are all dials; their CANCEL shares the branch but has
      // CSeq method CANCEL, so it is a ClientTx below (§17.1.3).
      auto d = dial_txs.find(to_str(msg->via.branch));
      if (d != dial_txs.end()) on_dial_response(d->second.get(), msg);
      return;
    }
    auto it = client_txs.find(to_str(msg->via.branch));
    if (it == client_txs.end()) return;
    ClientTx* t = it->second.get();
    if (pl_strcmp(&msg->cseq.met, t->method.c_str()) != 0) return;  // §17.1.3
    if (msg->scode < 200) {
      t->proceeding = true;  // Timer E keeps its current run, then every T2
      return;
    }
    finish_client_tx(t, msg->scode);
  }

  // Final answer or Timer F (408): the transaction ends and its owner hears.
  void finish_client_tx(ClientTx* t, uint16_t status) {
    auto it = client_txs.find(t->branch);
    if (it == client_txs.end()) return;
    std::unique_ptr<ClientTx> done = std::move(it->second);
    client_txs.erase(it);
    if (done->kind == ClientTx::Kind::Bye) {
      finish_bye(done->dialog, status);
    } else if (done->kind == ClientTx::Kind::Cancel) {
      // Whatever the CANCEL got, the INVITE's own final response (or our
      // wait for it, DialTx::timer_b) decides the dial.
    } else {
      sink.on_dialog_event(
          DialogEvent{done->dialog, done->owner, DialogEventKind::RequestDone, status, done->token});
    }
  }

  // ------------------------------------------------------------- dial-out
  IctTimers ict_timers() const { return IctTimers{cfg.t1_ms}; }

  void execute(Dial& c) {
    auto key = std::make_pair(c.owner, c.token);
    // A second dial under a live key: its events could not be told from the
    // first one's, so it is not sent (see Dial).
    if (dial_keys.count(key)) return;
    auto tx = std::make_unique<DialTx>();
    tx->owner = c.owner;
    tx->token = c.token;
    const std::string proxy = proxy_route_uri(c.outbound_proxy);
    const char* routev[1] = {proxy.c_str()};
    const std::string display = quoted_string_content(c.from_display);
    int err = sip_dialog_alloc(&tx->tmpl, c.request_uri.c_str(), c.request_uri.c_str(),
                               display.empty() ? nullptr : display.c_str(), c.from_uri.c_str(), routev,
                               proxy.empty() ? 0 : 1);
    if (!err) {
      tx->request_uri = c.request_uri;
      tx->tail = "Contact: " + c.contact + "\r\n" + c.headers + body_headers(c.content_type, c.body);
      tx->body = std::move(c.body);
      err = send_dial_invite(std::move(tx));
    }
    if (err) {
      DialEvent e;
      e.owner = c.owner;
      e.token = c.token;
      e.kind = DialEventKind::Failed;
      e.status = 503;
      e.reason = std::string("Service Unavailable (") + std::strerror(err) + ")";
      sink.on_dial_event(std::move(e));
    }
  }

  // Sends the INVITE of `tx` (a dial's first attempt or its retry with
  // credentials) in tx->tmpl and runs its client transaction: Timer A on
  // UDP, Timer B, responses matched by its branch, CancelDial aimed at it.
  // Returns 0, or an errno when nothing was sent (nothing is kept then).
  int send_dial_invite(std::unique_ptr<DialTx> tx) {
    // sip_drequestf numbers the INVITE with the dialog's lseq, then counts
    // it up (so a retry gets CSeq + 1), and writes a fresh Via branch; the
    // template keeps Call-ID, From tag and the tagless To. CANCEL and every
    // ACK reuse this number.
    tx->cseq = sip_dialog_lseq(tx->tmpl);
    SendCapture cap;
    if (int err = send_captured("INVITE", tx->tmpl, 0, tx->credentials + tx->tail, tx->body, cap)) return err;
    tx->invite.assign(reinterpret_cast<const char*>(cap.mb->buf), cap.mb->end);
    tx->branch = std::string(first_via_branch(tx->invite));
    if (tx->branch.empty() || dial_txs.count(tx->branch)) {
      mem_deref(cap.mb);  // as in send_client_tx: unmatchable, so unsent
      return EPROTO;
    }
    tx->tp = cap.tp;
    tx->dst = cap.dst;
    // Only a first attempt that may still be challenged needs its parts
    // again; a dial's body can be a large multipart, so drop them otherwise.
    if (tx->is_retry || cfg.dial_credentials.empty()) {
      tx->tail = std::string();
      tx->body = std::string();
    }
    DialTx* t = tx.get();
    const IctTimers timers = ict_timers();
    if (cap.tp == SIP_TRANSP_UDP) {
      // §17.1.1.2: Timer A only on unreliable transports.
      t->mb = cap.mb;
      t->retransmit_ms = timers.first_retransmit_ms();
      start_timer(t->timer_a, t->retransmit_ms, [this, t] { on_timer_a(t); });
    } else {
      mem_deref(cap.mb);
    }
    start_timer(t->timer_b, timers.timeout_ms(), [this, t] { on_timer_b(t); });
    dial_keys[std::make_pair(t->owner, t->token)] = t->branch;
    dial_txs.emplace(t->branch, std::move(tx));
    return 0;
  }

  // §9.2, E85: the first attempt `t` of a dial got a 401/407 (already
  // ACKed). If we hold credentials for a Digest challenge in it, the INVITE
  // goes out once more in the same template (same Call-ID, From tag and
  // To, CSeq + 1, new branch) with Authorization (401) or
  // Proxy-Authorization (407), as a transaction of its own that now owns
  // the dial. Returns false when there is nothing to retry with, or the
  // retry could not be sent: the challenge then decides the dial.
  bool retry_with_credentials(DialTx* t, const sip_msg* msg) {
    if (t->is_retry || t->cancel_wanted || cfg.dial_credentials.empty()) return false;
    const bool proxy = msg->scode == 407;
    const sip_hdrid challenge_id = proxy ? SIP_HDR_PROXY_AUTHENTICATE : SIP_HDR_WWW_AUTHENTICATE;
    const char* answer_name = proxy ? "Proxy-Authorization: " : "Authorization: ";
    // RFC 3261 §22.3: a forking proxy may gather several challenges into
    // one response; answer each one we hold credentials for (one realm
    // once). The others are left out, and would only challenge again.
    std::string lines;
    std::vector<std::string> answered_realms;
    for (le* e = msg->hdrl.head; e; e = e->next) {
      const auto* h = static_cast<const sip_hdr*>(e->data);
      if (h->id != challenge_id) continue;
      const std::optional<DigestChallenge> ch = parse_digest_challenge(std::string_view(h->val.p, h->val.l));
      if (!ch) continue;
      if (std::find(answered_realms.begin(), answered_realms.end(), ch->realm) != answered_realms.end()) continue;
      auto cred = std::find_if(cfg.dial_credentials.begin(), cfg.dial_credentials.end(),
                               [&](const DialCredential& c) { return c.realm == ch->realm; });
      if (cred == cfg.dial_credentials.end()) continue;
      char cnonce[17];
      std::snprintf(cnonce, sizeof(cnonce), "%016llx", static_cast<unsigned long long>(rand_u64()));
      // A fresh nonce: this is its first use, so nc is 1.
      const std::optional<std::string> value =
          digest_credentials(*ch, "INVITE", t->request_uri, cred->username, cred->password, cnonce, 1);
      if (!value) continue;
      lines += answer_name + *value + "\r\n";
      answered_realms.push_back(ch->realm);
    }
    if (lines.empty()) return false;
    auto retry = std::make_unique<DialTx>();
    retry->owner = t->owner;
    retry->token = t->token;
    retry->tmpl = static_cast<sip_dialog*>(mem_ref(t->tmpl));  // both release it
    retry->request_uri = t->request_uri;
    retry->tail = std::move(t->tail);
    retry->body = std::move(t->body);
    retry->credentials = std::move(lines);
    retry->is_retry = true;
    return send_dial_invite(std::move(retry)) == 0;
  }

  void execute(CancelDial& c) {
    auto k = dial_keys.find(std::make_pair(c.owner, c.token));
    if (k == dial_keys.end()) return;  // already answered (Hangup ends it) or failed
    auto it = dial_txs.find(k->second);
    if (it == dial_txs.end()) return;
    DialTx* t = it->second.get();
    if (t->reported || t->cancel_wanted) return;
    t->cancel_wanted = true;
    // §9.1: no CANCEL before a provisional response, which proves the
    // INVITE reached a server that can match it. From Calling it goes out
    // with the first one (on_dial_response); Timer B still bounds the wait.
    if (t->state == DialTx::State::Proceeding) send_cancel(t);
  }

  // Answered or Failed (once per dial) or Provisional, to the owner.
  void report_dial(DialTx* t, DialEventKind kind, uint16_t status, std::string reason, DialogId dialog,
                   const sip_msg* msg) {
    DialEvent e;
    e.owner = t->owner;
    e.token = t->token;
    e.kind = kind;
    e.status = status;
    e.reason = std::move(reason);
    e.dialog = dialog;
    if (msg) {
      read_headers(msg, e.headers, e.content_type, nullptr);
      e.body = read_body(msg);
    }
    if (kind != DialEventKind::Provisional) {
      t->reported = true;
      // The outcome is known: CancelDial has nothing left to cancel, and
      // the owner may use the token again.
      dial_keys.erase(std::make_pair(t->owner, t->token));
    }
    sink.on_dial_event(std::move(e));
  }

  void erase_dial(DialTx* t) {
    if (!t->reported) dial_keys.erase(std::make_pair(t->owner, t->token));
    const std::string branch = t->branch;  // the key must outlive the erase
    dial_txs.erase(branch);
  }

  // Sends the bytes in `mb` (again) from its start; a failed send is left to
  // the peer's retransmission, which brings us back here.
  void resend(mbuf* mb, sip_transp tp, const sa& dst) {
    if (!mb) return;
    mb->pos = 0;
    (void)send_wire(nullptr, tp, &dst, mb);
  }

  void on_timer_a(DialTx* t) {
    resend(t->mb, t->tp, t->dst);
    t->retransmit_ms = ict_timers().next_retransmit_ms(t->retransmit_ms);
    start_timer(t->timer_a, t->retransmit_ms, [this, t] { on_timer_a(t); });
  }

  // Timer B while Calling: no response at all (§17.1.1.2), reported as 408.
  // After our CANCEL: no final response within 64*T1 of it, and §9.1 lets
  // the INVITE count as cancelled.
  void on_timer_b(DialTx* t) {
    if (!t->reported) {
      if (t->cancel_sent) report_dial(t, DialEventKind::Failed, 487, "Request Terminated", 0, nullptr);
      else report_dial(t, DialEventKind::Failed, 408, "Request Timeout", 0, nullptr);
    }
    erase_dial(t);
  }

  void send_cancel(DialTx* t) {
    t->cancel_sent = true;
    // §9.1: wait for the INVITE's final response (normally 487) at most
    // 64*T1 from now.
    start_timer(t->timer_b, ict_timers().timeout_ms(), [this, t] { on_timer_b(t); });
    SendCapture cap;
    cap.mb = text_mbuf(derived_request(t->invite, "CANCEL", t->cseq, std::string()));
    cap.tp = t->tp;
    cap.dst = t->dst;
    if (!cap.mb) return;
    // A CANCEL is a non-INVITE transaction of its own (Timer E/F) that
    // shares the INVITE's branch; the CSeq method keeps the responses apart.
    // A failed first send is left to Timer E, as for any ClientTx.
    resend(cap.mb, cap.tp, cap.dst);
    if (client_txs.count(t->branch)) {
      mem_deref(cap.mb);
      return;
    }
    auto tx = std::make_unique<ClientTx>();
    tx->kind = ClientTx::Kind::Cancel;
    tx->method = "CANCEL";
    tx->branch = t->branch;
    tx->owner = t->owner;
    tx->token = t->token;
    track_client_tx(std::move(tx), cap);
  }

  void on_dial_response(DialTx* t, const sip_msg* msg) {
    const uint16_t status = msg->scode;
    if (status < 200) {
      if (t->state != DialTx::State::Calling && t->state != DialTx::State::Proceeding) return;  // late
      t->timer_a.cancel();
      if (t->state == DialTx::State::Calling) {
        // Timer B bounds only the wait for a first response (§17.1.1.2);
        // from here the owner's no-answer timer decides, with CancelDial.
        t->timer_b.cancel();
        t->state = DialTx::State::Proceeding;
      }
      if (t->cancel_wanted && !t->cancel_sent) send_cancel(t);
      // 100 is hop-by-hop and says nothing about the callee (§2.5).
      if (status > 100 && !t->reported)
        report_dial(t, DialEventKind::Provisional, status, to_str(msg->reason), 0, msg);
      return;
    }
    if (status < 300) return on_dial_2xx(t, msg);
    switch (t->state) {
      case DialTx::State::Calling:
      case DialTx::State::Proceeding:
        t->timer_a.cancel();
        t->timer_b.cancel();
        t->state = DialTx::State::Completed;
        // §17.1.1.3: the transaction itself ACKs a non-2xx final.
        t->final_ack = text_mbuf(derived_request(t->invite, "ACK", t->cseq, to_str(msg->to.val)));
        resend(t->final_ack, t->tp, t->dst);
        if (!t->reported) {
          // A challenge we can answer is no outcome yet: the retry owns the
          // dial from here, and this transaction only re-ACKs copies.
          if ((status == 401 || status == 407) && retry_with_credentials(t, msg)) t->reported = true;
          else report_dial(t, DialEventKind::Failed, status, to_str(msg->reason), 0, msg);
        }
        // Timer D absorbs copies of the final on UDP; TCP has none.
        if (t->tp == SIP_TRANSP_UDP)
          start_timer(t->timer_end, ict_timers().timeout_ms(), [this, t] { erase_dial(t); });
        else
          erase_dial(t);
        return;
      case DialTx::State::Completed:
        resend(t->final_ack, t->tp, t->dst);  // a copy of the final: the same ACK again
        return;
      case DialTx::State::Accepted:
        return;  // a non-2xx from another branch after the answer: nothing to undo
    }
  }

  void on_dial_2xx(DialTx* t, const sip_msg* msg) {
    const std::string tag = to_str(msg->to.tag);
    for (auto& a : t->acks) {
      if (a.to_tag == tag) {
        // A copy of a 2xx we ACKed: the callee did not get that ACK (or
        // its copy crossed it), so the same ACK again (§13.2.2.4).
        resend(a.mb, a.tp, a.dst);
        return;
      }
    }
    if (t->state == DialTx::State::Calling || t->state == DialTx::State::Proceeding) {
      t->timer_a.cancel();
      t->timer_b.cancel();
      t->state = DialTx::State::Accepted;
      // RFC 6026 Timer M: stay 64*T1 for 2xx copies and forked 2xx.
      start_timer(t->timer_end, ict_timers().timeout_ms(), [this, t] { erase_dial(t); });
    }
    sip_dialog* dlg = nullptr;
    if (tag.empty() || sip_dialog_fork(&dlg, t->tmpl, msg) != 0) {
      // No To tag or no usable Contact: no dialog to ACK in. The callee
      // gets no ACK, gives up on its 2xx and ends the call itself.
      if (!t->reported) report_dial(t, DialEventKind::Failed, 502, "Bad Gateway", 0, msg);
      return;
    }
    // §13.2.2.4: the ACK of a 2xx is a request of its own in the dialog the
    // 2xx made (new branch, the 2xx's Record-Route and Contact), with the
    // INVITE's CSeq number and credentials.
    SendCapture cap;
    if (send_captured("ACK", dlg, t->cseq, t->credentials + "Content-Length: 0\r\n\r\n", std::string(), cap) == 0)
      t->acks.push_back(DialTx::Ack{tag, cap.mb, cap.tp, cap.dst});
    const bool wanted = !t->reported && !t->cancel_wanted;
    auto owned = std::make_unique<Dialog>();
    Dialog* d = owned.get();
    d->id = next_id++;
    d->dlg = dlg;
    d->call_id = sip_dialog_callid(dlg);
    d->state = Dialog::State::Confirmed;  // our ACK is out: nothing left to wait for
    d->invite_usage = true;
    d->unowned = !wanted;
    if (wanted) d->owner = t->owner;
    dialogs_by_call_id.emplace(std::string_view(d->call_id), d->id);
    dialogs.emplace(d->id, std::move(owned));
    if (wanted) {
      report_dial(t, DialEventKind::Answered, msg->scode, to_str(msg->reason), d->id, msg);
      return;
    }
    // A fork after the answer or after a failure (§2.5: the first 2xx
    // wins), or a 2xx that crossed our CANCEL (RFC 3261 §15): ACKed above,
    // ended now.
    if (!t->reported) report_dial(t, DialEventKind::Failed, 487, "Request Terminated", 0, nullptr);
    send_bye(d);
  }

  // --------------------------------------------------------------- timers
  // Schedules `timer` `delay_ms` from now on the wheel.
  void start_timer(TimerWheel::Timer& timer, uint64_t delay_ms, TimerWheel::Callback cb) {
    wheel.schedule(timer, now_ms() + delay_ms, std::move(cb));
    arm_drive();
  }

  // Makes drive_fd fire no later than the wheel's next deadline (rounded up
  // to the grain). Already armed at or before that: nothing to do, so a
  // fan-out that schedules thousands of later timers costs no tmr_start.
  void arm_drive() {
    if (driving) return;  // drive() arms once when the advance is over
    const std::optional<uint64_t> next = wheel.next_deadline();
    if (!next) return;  // an armed drive_fd may fire for nothing: harmless
    const uint64_t target = (*next + kDriveGrainMs - 1) / kDriveGrainMs * kDriveGrainMs;
    if (drive_armed_at != 0 && drive_armed_at <= target) return;
    const uint64_t now = now_ms();
    const uint64_t delay_ms = target > now ? target - now : 0;
    itimerspec when{};
    // A zero it_value disarms a timerfd: "now" is one nanosecond.
    when.it_value.tv_sec = static_cast<time_t>(delay_ms / 1000);
    when.it_value.tv_nsec = delay_ms ? static_cast<long>(delay_ms % 1000) * 1000000L : 1;
    if (drive_fd < 0 || timerfd_settime(drive_fd, 0, &when, nullptr) != 0) return;
    drive_armed_at = target;
  }

  static void on_drive_fd_cb(int flags, void* arg) {
    (void)flags;
    auto* self = static_cast<Impl*>(arg);
    FlushScope flush_at_end(*self);
    uint64_t expirations = 0;
    ssize_t n = read(self->drive_fd, &expirations, sizeof expirations);  // re-arms the level trigger
    (void)n;
    self->drive();
  }

  void drive() {
    drive_armed_at = 0;
    driving = true;
    wheel.advance(now_ms());
    driving = false;
    arm_drive();
  }

  void start_sweep() {
    start_timer(sweep_timer, 1000, [this] {
      sweep();
      start_sweep();
    });
  }

  void on_retransmit(Dialog* d) {
    if (!d->ok_mb || !d->ok_req) return;
    send_wire(d->ok_req->sock, d->ok_req->tp, &d->ok_req->src, d->ok_mb);
    d->retrans_ms = std::min(d->retrans_ms * 2, cfg.t2_ms);
    start_timer(d->retrans_timer, d->retrans_ms, [this, d] { on_retransmit(d); });
  }

  void on_ack_timeout(Dialog* d) {
    d->stop_retransmissions();
    if (d->state == Dialog::State::AwaitAck) {
      // RFC 3261 §13.3.1.4: no ACK within 64*T1 ends the dialog with a BYE.
      sink.on_dialog_event(DialogEvent{d->id, d->owner, DialogEventKind::AckTimeout, 408});
      send_bye(d);
    }
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

  // Answers pending request `p` in its transaction.
  void answer(Pending& p, uint16_t status, std::string_view reason, bool record_route, std::string_view tail,
              mbuf** sent = nullptr) {
    respond_in_tx(p.tx, p.msg, status, reason, record_route, tail, sent);
    if (status >= 200) p.tx = nullptr;  // finished; over TCP already gone
  }

  void answer_pending(RequestId id, uint16_t status, const char* reason, const char* extra = "") {
    auto it = pending.find(id);
    if (it == pending.end()) return;
    Pending p = it->second;
    pending.erase(it);
    answer(p, status, reason, false, std::string(extra) + "Content-Length: 0\r\n\r\n");
    if (Dialog* d = find_dialog(p.dialog); d && d->pending_invite == id) d->pending_invite = 0;
    mem_deref(const_cast<sip_msg*>(p.msg));
  }

  // -------------------------------------------------------------- dialogs
  Dialog* find_dialog(DialogId id) {
    auto it = dialogs.find(id);
    return it == dialogs.end() ? nullptr : it->second.get();
  }

  Dialog* match_dialog(const sip_msg* msg) {
    auto range = dialogs_by_call_id.equal_range(std::string_view(msg->callid.p, msg->callid.l));
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
    auto* self = static_cast<Impl*>(arg);
    FlushScope flush_at_end(*self);
    self->on_request(msg);
    return true;
  }

  // ------------------------------------------------------------------ UDP
  // Every message the worker sends goes through here. Over UDP it joins the
  // batch, which goes out in one sendmmsg when the event being handled is
  // done (FlushScope), or at once outside any handler; over TCP libre's
  // connection takes it.
  int send_wire(void* sock, sip_transp tp, const sa* dst, mbuf* mb) {
    if (tp == SIP_TRANSP_UDP && udp) {
      udp->queue(&dst->u.sa, dst->len, mbuf_buf(mb), mbuf_get_left(mb));
      if (flush_depth == 0) udp->flush();
      return 0;
    }
    return sip_send(stack, sock, tp, dst, mb);
  }

  // Opened by each entry point of the loop (a readable socket, the command
  // queue, the timer wheel, libre's TCP callbacks): what the handler queued
  // for UDP leaves when the outermost one closes.
  struct FlushScope {
    Impl& w;
    explicit FlushScope(Impl& worker) : w(worker) { ++w.flush_depth; }
    ~FlushScope() {
      if (--w.flush_depth == 0 && w.udp) w.udp->flush();
    }
    FlushScope(const FlushScope&) = delete;
    FlushScope& operator=(const FlushScope&) = delete;
  };

  // libre reads its UDP socket one datagram per wake-up and sends each
  // message with a sendto of its own; the worker takes both over
  // (UdpBatch). libre 1.1 hands out no handle on the socket of its
  // transport, so it is found by its bound address, and fd_listen on that
  // descriptor replaces libre's read handler. libre keeps the socket: it
  // still names our address in the requests it builds, and closes it at
  // sip_close.
  void take_udp_socket() {
    // Should this fail, libre keeps reading the socket: slower, still
    // correct, and said once on stderr.
    auto fall_back = [](const char* why) {
      std::fprintf(stderr, "imserver: UDP batching off (%s); libre reads the SIP socket itself\n", why);
    };
    if (sip_transp_laddr(stack, &udp_laddr, SIP_TRANSP_UDP, nullptr) != 0) return fall_back("no UDP address");
    const int fd = find_bound_socket(SOCK_DGRAM, udp_laddr);
    if (fd < 0) return fall_back("UDP socket not found in /proc/self/fd");
    if (cfg.udp_buffer_bytes > 0) {
      const int bytes = cfg.udp_buffer_bytes;
      (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
      (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    }
    if (fd_listen(fd, FD_READ, &Impl::on_udp_readable_cb, this) != 0) return fall_back("fd_listen failed");
    udp.emplace(fd);
  }

  static void on_udp_readable_cb(int flags, void* arg) {
    (void)flags;
    auto* self = static_cast<Impl*>(arg);
    FlushScope flush_at_end(*self);
    // At most kUdpBatchesPerWake batches, then the loop's other work (the
    // command queue, timers, TCP) gets its turn before more is read.
    self->udp->receive([self](const UdpBatch::Datagram& d) { self->on_datagram(d); }, kUdpBatchesPerWake);
  }

  // What libre's UDP transport did with a datagram: keep-alives dropped,
  // STUN Binding answered, SIP parsed and given to the request or response
  // handler.
  void on_datagram(const UdpBatch::Datagram& d) {
    if (d.size <= 4) return;  // CRLF keep-alives (RFC 5626 §3.5.1): no answer over UDP
    sa src;
    if (sa_set_sa(&src, d.from) != 0) return;
    // A copy of its own: a request waiting for its answer keeps its message.
    mbuf* mb = mbuf_alloc(d.size);
    if (!mb) return;
    (void)mbuf_write_mem(mb, d.data, d.size);
    mb->pos = 0;
    // RFC 7983 §7: a first byte of 0..3 is STUN; SIP starts with a letter.
    if (d.data[0] < 4) {
      answer_stun(mb, src);
      mem_deref(mb);
      return;
    }
    sip_msg* msg = nullptr;
    const int err = sip_msg_decode(&msg, mb);
    mem_deref(mb);  // the message holds its own reference
    if (err) return;  // not SIP: dropped, as libre did
    msg->src = src;
    msg->dst = udp_laddr;
    msg->tp = SIP_TRANSP_UDP;
    if (msg->req) on_request(msg);
    else on_response(msg);
    mem_deref(msg);
  }

  // A STUN Binding request on the SIP port (RFC 5626 §4.4.2 keep-alives)
  // gets its success response with the address it came from, as libre's
  // transport gave it; any other STUN message is dropped.
  void answer_stun(mbuf* mb, const sa& src) {
    stun_unknown_attr ua{};
    stun_msg* req = nullptr;
    if (stun_msg_decode(&req, mb, &ua) != 0) return;
    if (stun_msg_method(req) == STUN_METHOD_BINDING && stun_msg_class(req) == STUN_CLASS_REQUEST) {
      if (mbuf* out = mbuf_alloc(64)) {
        if (stun_msg_encode(out, STUN_METHOD_BINDING, STUN_CLASS_SUCCESS_RESP, stun_msg_tid(req), nullptr, nullptr, 0,
                            false, 0x00, 2, STUN_ATTR_XOR_MAPPED_ADDR, &src, STUN_ATTR_SOFTWARE,
                            cfg.software.c_str()) == 0) {
          out->pos = 0;
          (void)send_wire(nullptr, SIP_TRANSP_UDP, &src, out);
        }
        mem_deref(out);
      }
    }
    mem_deref(req);
  }

  // ---------------------------------------------------- server transactions
  // Formats the response to `msg`, sends it where §18.2.2 / RFC 3581 say,
  // and moves `tx` (null: none) on: a provisional keeps it Proceeding, a
  // final one finishes it (finish_tx). *sent, when asked for, gets the bytes
  // as an mbuf (the caller's reference), for the dialog's 2xx resends.
  void respond_in_tx(ServerTx* tx, const sip_msg* msg, uint16_t status, std::string_view reason,
                     bool record_route, std::string_view tail, mbuf** sent = nullptr) {
    SentResponse out = send_response(msg, status, reason, record_route, tail, tx ? tx->to_tag : msg->tag, sent);
    if (!tx) return;
    tx->dst = out.dst;
    if (status < 200) {
      tx->state = ServerTx::State::Proceeding;
      tx->response = std::move(out.bytes);
      return;
    }
    finish_tx(tx, msg, status, std::move(out.bytes));
  }

  struct SentResponse {
    std::string bytes;
    sa dst{};
  };

  // Formats the response to `msg` (our To tag `to_tag` where it needs one)
  // and sends it where §18.2.2 / RFC 3581 say, outside any transaction.
  SentResponse send_response(const sip_msg* msg, uint16_t status, std::string_view reason, bool record_route,
                             std::string_view tail, uint64_t to_tag, mbuf** sent = nullptr) {
    bool rport = false;
    SentResponse out;
    out.bytes = format_response(msg, status, reason, to_tag, record_route, cfg.software, tail, &rport);
    sip_reply_addr(&out.dst, msg, rport);
    mbuf* mb = text_mbuf(out.bytes);
    if (mb) send_wire(msg->sock, msg->tp, &out.dst, mb);
    if (sent) *sent = mb;
    else mem_deref(mb);
    return out;
  }

  // The final answer went out. Over TCP the transaction ends here; over UDP
  // it stays 64*T1 (Timers J, H, L) to answer or absorb the copies.
  void finish_tx(ServerTx* tx, const sip_msg* msg, uint16_t status, std::string bytes) {
    tx->request = 0;
    if (msg->tp != SIP_TRANSP_UDP) {
      erase_tx(tx);
      return;
    }
    if (tx->invite && status < 300) {
      tx->state = ServerTx::State::Accepted;  // the dialog resends the 2xx itself
      tx->response = std::string();
    } else {
      tx->state = ServerTx::State::Completed;
      tx->response = std::move(bytes);
      if (tx->invite) {  // Timer G: the non-2xx until its ACK
        tx->sock = mem_ref(msg->sock);
        tx->tp = msg->tp;
        tx->retransmit_ms = cfg.t1_ms;
        start_timer(tx->timer_g, tx->retransmit_ms, [this, tx] { on_timer_g(tx); });
      }
    }
    start_timer(tx->timer_end, 64ull * cfg.t1_ms, [this, tx] { erase_tx(tx); });
  }

  void erase_tx(ServerTx* tx) { server_txs.erase(*tx->key); }

  void on_timer_g(ServerTx* tx) {
    resend(tx->response, tx->sock, tx->tp, tx->dst);
    tx->retransmit_ms = std::min(tx->retransmit_ms * 2, cfg.t2_ms);
    start_timer(tx->timer_g, tx->retransmit_ms, [this, tx] { on_timer_g(tx); });
  }

  void resend(const std::string& bytes, void* sock, sip_transp tp, const sa& dst) {
    if (bytes.empty()) return;
    mbuf* mb = text_mbuf(bytes);
    if (mb) send_wire(sock, tp, &dst, mb);
    mem_deref(mb);
  }

  // A request of a transaction we have is a copy (§17.2.1, §17.2.2): it
  // gets the last response again, or nothing while none was sent (and
  // nothing in Accepted: the dialog resends the 2xx until the ACK).
  void on_retransmission(const ServerTx& tx, const sip_msg* msg) {
    if (tx.state == ServerTx::State::Proceeding || tx.state == ServerTx::State::Completed)
      resend(tx.response, msg->sock, msg->tp, tx.dst);
  }

  // An ACK for our non-2xx answer to an INVITE ends Timer G (§17.2.1);
  // Timer I (T4, or 64*T1 when the timers are shortened below that) then
  // absorbs its copies. Returns false for ACKs that belong to a dialog.
  bool absorb_ack(const sip_msg* msg) {
    auto it = server_txs.find(server_tx_key(msg, "INVITE"));
    if (it == server_txs.end()) return false;
    ServerTx* tx = it->second.get();
    if (tx->state == ServerTx::State::Completed) {  // the key names INVITE transactions only
      tx->state = ServerTx::State::Confirmed;
      tx->timer_g.cancel();
      tx->response = std::string();
      tx->sock = mem_deref(tx->sock);
      start_timer(tx->timer_end, std::min<uint64_t>(kTimerT4Ms, 64ull * cfg.t1_ms), [this, tx] { erase_tx(tx); });
      return true;
    }
    return tx->state == ServerTx::State::Confirmed;
  }

  // §9.2: a CANCEL matches the INVITE transaction with its branch. It gets
  // 200 whenever that exists (a CANCEL after the final answer changes
  // nothing), 481 otherwise; a pending INVITE is then answered 487. Its
  // copies meet the same checks again, so it needs no transaction of its own.
  void on_cancel_request(const sip_msg* msg) {
    auto it = server_txs.find(server_tx_key(msg, "INVITE"));
    if (it == server_txs.end()) {
      send_response(msg, 481, "Call/Transaction Does Not Exist", false, "", msg->tag);
      return;
    }
    const RequestId pending_invite = it->second->request;
    send_response(msg, 200, "OK", false, "", it->second->to_tag);
    if (pending_invite) on_cancel(pending_invite);
  }

  // Answers the request on_request is handling (its transaction is
  // `incoming_tx`) without handing it up.
  void reply_once(const sip_msg* msg, uint16_t status, std::string_view reason, std::string_view tail = "") {
    ServerTx* tx = incoming_tx;
    incoming_tx = nullptr;
    respond_in_tx(tx, msg, status, reason, false, tail);
  }

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
    if (method == "ACK") {
      if (!absorb_ack(msg)) on_ack(msg);
      return;
    }
    if (method == "CANCEL") return on_cancel_request(msg);
    auto [it, fresh] = server_txs.try_emplace(server_tx_key(msg, method));
    if (!fresh) return on_retransmission(*it->second, msg);
    it->second = std::make_unique<ServerTx>();
    ServerTx* tx = it->second.get();
    tx->key = &it->first;
    tx->invite = method == "INVITE";
    tx->to_tag = msg->tag;
    incoming_tx = tx;
    on_new_request(msg, method);
    // Whatever answered or handed the request up took incoming_tx; a path
    // that did neither dropped the request, and its transaction with it.
    if (incoming_tx) erase_tx(incoming_tx);
    incoming_tx = nullptr;
  }

  void on_new_request(const sip_msg* msg, const std::string& method) {
    // Generic UAS checks (RFC 3261 §8.2, §16.3).
    if (pl_strcmp(&msg->cseq.met, method.c_str()) != 0) {
      reply_once(msg, 400, "CSeq Method Mismatch");
      return;
    }
    if (!pl_isset(&msg->callid) || !pl_isset(&msg->from.tag)) {
      reply_once(msg, 400, "Missing Call-ID or From tag");
      return;
    }
    if (pl_isset(&msg->maxfwd) && pl_u32(&msg->maxfwd) == 0) {
      reply_once(msg, 483, "Too Many Hops");
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
      DialogEvent confirmed{d->id, d->owner, DialogEventKind::Confirmed, 0};
      confirmed.body = read_body(msg);
      if (!confirmed.body.empty()) {
        std::vector<Header> ignored;
        read_headers(msg, ignored, confirmed.content_type, nullptr);
      }
      sink.on_dialog_event(std::move(confirmed));
      if (d->hangup_after_ack) send_bye(d);
    }
  }

  void on_in_dialog(const sip_msg* msg, const std::string& method) {
    Dialog* d = match_dialog(msg);
    if (!d) {
      reply_once(msg, 481, "Call/Transaction Does Not Exist");
      return;
    }
    if (!sip_dialog_rseq_valid(d->dlg, msg)) {
      // RFC 3261 §12.2.2: a lower CSeq than the last one is out of order.
      reply_once(msg, 500, "Server Internal Error");
      return;
    }
    if (method == "BYE") {
      if (!d->invite_usage) {
        reply_once(msg, 481, "Call/Transaction Does Not Exist");
        return;
      }
      return on_peer_bye(d, msg);
    }
    if (d->state == Dialog::State::Closing && !(d->keep_after_bye && method == "SUBSCRIBE")) {
      // Our BYE is out; only the subscription usage that Hangup kept still
      // takes requests.
      reply_once(msg, 481, "Call/Transaction Does Not Exist");
      return;
    }
    if (method == "INVITE") {
      if (d->pending_invite || d->ok_mb) {
        // RFC 3261 §14.2: an INVITE while ours or theirs is unfinished.
        reply_once(msg, d->pending_invite ? 500 : 491, d->pending_invite ? "Server Internal Error" : "Request Pending",
                   "Retry-After: 2\r\nContent-Length: 0\r\n\r\n");
        return;
      }
    }
    RequestId id = hand_up(msg, method, d->id);
    if (!id) return;
    if (method == "INVITE") d->pending_invite = id;
  }

  void on_peer_bye(Dialog* d, const sip_msg* msg) {
    if (dialog_end_listener && d->state != Dialog::State::Closing) dialog_end_listener->on_peer_bye(d->id);
    reply_once(msg, 200, "OK");
    if (d->state == Dialog::State::Closing) return;  // crossing BYEs: ours reports completion
    // RFC 3261 §15.1.2: a request of this dialog still pending gets 487.
    if (d->pending_invite) answer_pending(d->pending_invite, 487, "Request Terminated");
    DialogId id = d->id;
    std::string owner = d->owner;
    const bool unowned = d->unowned;
    erase_dialog(id);
    if (!unowned) sink.on_dialog_event(DialogEvent{id, owner, DialogEventKind::PeerBye, 0});
  }

  void on_out_of_dialog(const sip_msg* msg, const std::string& method) {
    DialogId dialog_id = 0;
    // Dialog-creating requests get an early dialog now, so whoever decides
    // can accept into it and CANCEL or an early BYE can find it.
    // A REFER's 2xx creates the dialog of its implicit subscription
    // (RFC 3515 §2.4.4) unless Refer-Sub: false was accepted.
    if (method == "INVITE" || method == "SUBSCRIBE" || method == "REFER") {
      if (sip_msg_hdr(msg, SIP_HDR_CONTACT) == nullptr) {
        reply_once(msg, 400, "Missing Contact");
        return;
      }
      auto d = std::make_unique<Dialog>();
      d->invite_usage = method == "INVITE";
      if (sip_dialog_accept(&d->dlg, msg) != 0) {
        reply_once(msg, 400, "Bad Request");
        return;
      }
      d->id = dialog_id = next_id++;
      d->call_id = to_str(msg->callid);
      dialogs_by_call_id.emplace(std::string_view(d->call_id), d->id);
      dialogs.emplace(d->id, std::move(d));
    }
    RequestId id = hand_up(msg, method, dialog_id);
    if (dialog_id) {
      if (!id) erase_dialog(dialog_id);
      else if (method == "INVITE") find_dialog(dialog_id)->pending_invite = id;
    }
  }

  static void read_headers(const sip_msg* msg, std::vector<Header>& headers, std::string& content_type,
                           std::vector<std::string>* contacts) {
    for (le* e = msg->hdrl.head; e; e = e->next) {
      const auto* h = static_cast<const sip_hdr*>(e->data);
      Header out{canonical_header_name(h->name), to_str(h->val)};
      if (contacts && out.name == "contact") contacts->push_back(out.value);
      if (out.name == "content-type") content_type = out.value;
      headers.push_back(std::move(out));
    }
  }

  static std::string read_body(const sip_msg* msg) {
    if (!msg->mb || !mbuf_get_left(msg->mb)) return std::string();
    return std::string(reinterpret_cast<const char*>(mbuf_buf(msg->mb)), mbuf_get_left(msg->mb));
  }

  // Keeps the request in a server transaction (which absorbs retransmissions
  // and, for INVITE, matches CANCEL) and sends the event up.
  RequestId hand_up(const sip_msg* msg, const std::string& method, DialogId dialog) {
    RequestId id = next_id++;
    Pending p;
    p.invite = method == "INVITE";
    p.tx = incoming_tx;
    incoming_tx = nullptr;
    if (p.tx) p.tx->request = id;
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
    read_headers(msg, r.headers, r.content_type, &r.contacts);
    r.body = read_body(msg);
    char ip[64] = {0};
    sa_ntop(&msg->src, ip, sizeof(ip));
    r.peer.ip = ip;
    r.peer.port = sa_port(&msg->src);
    r.peer.transport = msg->tp == SIP_TRANSP_TCP ? "tcp" : msg->tp == SIP_TRANSP_TLS ? "tls" : "udp";
    sink.on_request(std::move(r));
    return id;
  }
};


SipWorker::SipWorker(SipWorkerConfig config, SipEventSink& sink)
    : impl_(std::make_unique<Impl>(std::move(config), sink)) {}

SipWorker::~SipWorker() { stop(); }

bool SipWorker::start(std::string* error) { return impl_->start(error); }

uint16_t SipWorker::port() const { return impl_->bound_port; }

// Set during start() on the loop thread, before start() returns (as port()).
bool SipWorker::udp_batched() const { return impl_->udp.has_value(); }

void SipWorker::set_dialog_end_listener(DialogEndListener* listener) { impl_->dialog_end_listener = listener; }

void SipWorker::post(Command command) {
  std::vector<Command> v;
  v.push_back(std::move(command));
  impl_->push(std::move(v));
}

void SipWorker::post(std::vector<Command> commands) {
  if (!commands.empty()) impl_->push(std::move(commands));
}

void SipWorker::stop() {
  if (impl_) impl_->loop.stop();
}

}  // namespace imserver::transport
