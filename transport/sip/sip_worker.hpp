#pragma once
// A SIP worker: one libre event loop on its own thread that owns the sockets,
// the transactions and the INVITE dialog usages. It hands typed events to a
// sink and executes typed commands posted from any thread. It knows nothing
// about sessions: dialogs carry an opaque owner tag chosen above.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "transport/sip/dial_credentials.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::transport {

struct SipWorkerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 5060;  // UDP and TCP; 0 picks a free port for both
  // RFC 3261 T1 and T2 for every timer the worker runs itself: our 2xx
  // retransmission (T1 doubling to T2) and ACK wait (64*T1), and the client
  // transactions of the requests we send in dialogs (SendInDialog, our BYE):
  // Timer E on UDP at T1, 2*T1, 4*T1, ... capped at T2 (every T2 after a
  // provisional response), Timer F = 64*T1 on every transport, reported as
  // 408 (see client_transaction.hpp); and our dial-out INVITEs (Dial):
  // Timer A on UDP at T1, 2*T1, 4*T1, ... with no cap until any response,
  // Timer B = 64*T1 on every transport (Failed 408), Timer D / Timer M =
  // 64*T1 to absorb copies of the final response. libre's own server
  // transactions keep libre's compiled-in values.
  uint32_t t1_ms = 500;
  uint32_t t2_ms = 4000;
  // A request still unanswered after this long gets 500: a stuck or crashed
  // session actor must never leave a client waiting forever.
  uint32_t answer_timeout_ms = 16000;
  std::string software = "imserver";
  int max_fds = 16384;
  // SO_RCVBUF/SO_SNDBUF of the UDP socket. The kernel default (~208 KiB)
  // overflows when a NOTIFY fan-out's 200s come back all at once, and every
  // dropped 200 costs a retransmission T1 later. Capped by net.core.rmem_max.
  int udp_buffer_bytes = 4 << 20;
  // Nice value of the SIP thread (sip.thread_nice); 0 leaves it alone.
  // Negative values need CAP_SYS_NICE; without it the worker says so on
  // stderr and runs at the default. On a machine shared with the CAF
  // workers, a SIP thread that preempts them answers sooner (the BYE's 200
  // is the transport's own), as Kamailio's real_time/rt_prio settings do
  // for its processes.
  int thread_nice = 0;
  // dialout.credentials (SESSIONS.md §9.2): a dial-out INVITE answered 401
  // or 407 with a Digest challenge for one of these realms is sent once
  // more with Authorization / Proxy-Authorization. parse_dial_credentials
  // reads the flag's value.
  std::vector<DialCredential> dial_credentials;
};

class SipWorker final : public CommandSink {
 public:
  SipWorker(SipWorkerConfig config, SipEventSink& sink);
  ~SipWorker() override;
  SipWorker(const SipWorker&) = delete;
  SipWorker& operator=(const SipWorker&) = delete;

  // Starts the loop thread and binds UDP and TCP. Returns false and fills
  // *error when binding fails. On success port() is the bound port.
  bool start(std::string* error);
  uint16_t port() const;
  // After a successful start(): whether the worker reads and writes its UDP
  // socket itself in batches (UdpBatch) rather than leaving it to libre.
  bool udp_batched() const;

  // Before start(): who hears of peer BYEs ahead of their 200 (optional).
  void set_dialog_end_listener(DialogEndListener* listener);

  // Thread-safe. Commands run on the worker thread in the order posted.
  void post(Command command);
  void post(std::vector<Command> commands) override;

  // Thread-safe; idempotent. Stops the loop and joins the thread.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace imserver::transport
