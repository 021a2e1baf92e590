#pragma once
// The arithmetic of the SIP worker's own client transactions (non-INVITE,
// RFC 3261 §17.1.2, and INVITE, §17.1.1), kept free of libre and of clocks so it can be tested
// as plain functions. The worker (sip_worker.cpp) drives it from its timer
// wheel; see there for why it does not use libre's client transactions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imserver::transport {

// Timers of one non-INVITE client transaction, from the worker's T1 and T2
// (SipWorkerConfig::t1_ms / t2_ms, i.e. --sip.t1-ms / --sip.t2-ms).
struct NictTimers {
  uint32_t t1_ms = 500;
  uint32_t t2_ms = 4000;

  // Timer E after the first send (UDP only).
  uint32_t first_retransmit_ms() const { return t1_ms; }
  // Timer E after a retransmission that was sent `previous` ms after the
  // copy before it: doubling up to T2 while Trying, T2 once a provisional
  // response moved the transaction to Proceeding (§17.1.2.2).
  uint32_t next_retransmit_ms(uint32_t previous, bool proceeding) const {
    if (proceeding) return t2_ms;
    const uint64_t doubled = 2ull * previous;
    return doubled < t2_ms ? static_cast<uint32_t>(doubled) : t2_ms;
  }
  // Timer F, on every transport: no final response by then means 408.
  uint64_t timeout_ms() const { return 64ull * t1_ms; }
};

// Timers of one INVITE client transaction (RFC 3261 §17.1.1, SESSIONS.md
// §9.1), from the same T1.
struct IctTimers {
  uint32_t t1_ms = 500;

  // Timer A after the first send (UDP only).
  uint32_t first_retransmit_ms() const { return t1_ms; }
  // Timer A doubles with no cap (unlike Timer E): Timer B ends the run long
  // before the interval could overflow; saturate anyway.
  uint32_t next_retransmit_ms(uint32_t previous) const {
    const uint64_t doubled = 2ull * previous;
    return doubled < UINT32_MAX ? static_cast<uint32_t>(doubled) : UINT32_MAX;
  }
  // Timer B: no response at all by then means 408. Also how long the
  // transaction lingers after a final response to absorb its retransmissions
  // (Timer D for non-2xx on UDP, Timer M of RFC 6026 for 2xx), and how long
  // it waits for the INVITE's final response after our CANCEL (§9.1).
  uint64_t timeout_ms() const { return 64ull * t1_ms; }
};

// When an unanswered INVITE over UDP sends its copies, in ms after the first
// one (included as 0): 0, T1, 3*T1, 7*T1, ..., all strictly before Timer B.
std::vector<uint64_t> ict_udp_send_offsets(const IctTimers& timers);

// When an unanswered transaction over UDP sends its copies, in ms after the
// first one (which is included as 0): 0, T1, 3*T1, 7*T1, ... with steps
// capped at T2, all strictly before Timer F (64*T1) ends it.
std::vector<uint64_t> nict_udp_send_offsets(const NictTimers& timers);

// The branch parameter of the first Via header of an encoded SIP message
// (empty when there is none). The worker uses it to match responses to the
// requests libre encoded for it (§17.1.3: branch plus CSeq method).
std::string_view first_via_branch(std::string_view message);

// Via branches for requests the worker encodes itself: "z9hG4bK" (RFC 3261
// §8.1.1.7) and 16 hex digits, like libre's. A bijective mix of a counter
// started at a random seed, so every branch of this process is distinct
// (2^64 of them) and a restart starts elsewhere; libre asks OpenSSL's RAND
// for each one (two 4-byte RAND_bytes calls, each with a getpid() syscall
// for OpenSSL's fork check): with the 200's decode (see
// tools/imserver/libre_rand.cpp), the SIP thread's largest single item in a
// NOTIFY fan-out.
class BranchSource {
 public:
  explicit BranchSource(uint64_t seed) : next_(seed) {}
  std::string next();

 private:
  uint64_t next_;
};

// A request inside one dialog usage, encoded once by libre and then reused
// as a template for the later ones (SipWorker: the NOTIFYs of a
// subscription). libre writes the request line, Via, Max-Forwards, the
// dialog's To, From, Call-ID (and Route set), CSeq and User-Agent; only the
// method, the branch and the CSeq number change from one request to the
// next, so the template keeps the bytes around them. The caller owns the
// CSeq from then on: libre's counter of that dialog is no longer advanced,
// so a dialog with a template must never go back to libre for a request.
class InDialogTemplate {
 public:
  // `request` as libre sent it; its first `libre_part` bytes are what libre
  // wrote (the rest is the caller's headers and body). Empty when the bytes
  // do not have the expected shape (no branch, no CSeq line).
  static std::optional<InDialogTemplate> learn(std::string_view request, size_t libre_part);

  // The next request of the dialog: `method`, `branch`, then the caller's
  // header lines and body exactly as given to libre the first time.
  std::string encode(std::string_view method, std::string_view branch, std::string_view tail,
                     std::string_view body);
  uint32_t next_cseq() const { return next_cseq_; }

 private:
  std::string after_method_;  // " <Request-URI> SIP/2.0\r\nVia: ...;branch="
  std::string after_branch_;  // ";rport\r\n...Call-ID: ...\r\nCSeq: "
  std::string after_cseq_;    // "\r\nUser-Agent: ...\r\n" (after "<number> <method>")
  uint32_t next_cseq_ = 0;
};

}  // namespace imserver::transport
