#pragma once
// The typed boundary between the SIP workers (libre) and everything above them.
// Plain data only: no libre, no CAF. Events flow up, commands flow down; both
// carry numeric handles the transport issued, so the layers above never touch
// a libre object and the transport never learns what a session is.

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace imserver::transport {

// A header as received: name lower-cased with compact forms expanded
// ("f" -> "from"), value trimmed. Repeated headers stay separate entries.
struct Header {
  std::string name;
  std::string value;
};

// Handles. 0 is never issued, so it can mean "none".
using RequestId = uint64_t;  // a server transaction waiting for its final answer
using DialogId = uint64_t;   // an INVITE dialog usage held by the transport

// Something a request arrived from. The IP decides trust (auth.trusted_peers).
struct Peer {
  std::string ip;
  uint16_t port = 0;
  std::string transport;  // "udp" or "tcp"
};

// A request that needs a decision above the transport. The transport already
// answered everything it can decide alone (parse errors, unknown dialogs,
// CSeq order, retransmissions).
struct InboundRequest {
  RequestId id = 0;
  std::string method;
  std::string request_uri;
  std::string from_uri, from_tag, to_uri, to_tag, call_id;
  uint32_t cseq = 0;
  std::vector<std::string> contacts;  // raw Contact values
  std::vector<Header> headers;
  std::string content_type;           // full value, empty when absent
  std::string body;
  Peer peer;
  // For an INVITE without To tag: the early dialog the transport created for
  // it (used if the request is accepted). For a request inside a known
  // dialog: that dialog, plus the owner tag that dialog was accepted with.
  DialogId dialog = 0;
  std::string owner;
  bool in_dialog = false;

  // First header with that (lower-case) name, or nullptr.
  const std::string* header(const std::string& lower_name) const {
    for (const auto& h : headers)
      if (h.name == lower_name) return &h.value;
    return nullptr;
  }
  std::vector<std::string> all(const std::string& lower_name) const {
    std::vector<std::string> out;
    for (const auto& h : headers)
      if (h.name == lower_name) out.push_back(h.value);
    return out;
  }
};

enum class DialogEventKind : uint8_t {
  Confirmed,     // the ACK for our 2xx arrived
  PeerBye,       // the peer's BYE was answered 200 by the transport
  Cancelled,     // the pending INVITE was CANCELled and answered 487
  AckTimeout,    // no ACK within 64*T1: the transport sent BYE itself
  ByeCompleted,  // our BYE finished (2xx, 481, 408 or timeout: all end the dialog)
  RequestDone,   // a SendInDialog request got its final answer (408 for a timeout)
};

struct DialogEvent {
  DialogId dialog = 0;
  std::string owner;
  DialogEventKind kind = DialogEventKind::Confirmed;
  uint16_t status = 0;  // ByeCompleted, RequestDone: final status (408 for a timeout)
  uint64_t token = 0;   // RequestDone: the token given to SendInDialog
  // Confirmed: the ACK's body, which holds the answer when our 2xx carried
  // the offer (delayed offer, SESSIONS.md §7.4).
  std::string content_type, body;
};

// --- commands (actors -> transport) ---

// Final answer to a pending request (any method). For a pending initial
// INVITE a non-2xx also discards its early dialog.
struct Respond {
  RequestId request = 0;
  uint16_t status = 0;
  std::string reason;
  std::string headers;  // extra header lines, each ending in CRLF
  std::string content_type;
  std::string body;
};

// Provisional answer (101-199) to a pending INVITE; creates the early dialog
// on the wire (To tag) so CANCEL and early BYE can match it.
struct Provisional {
  RequestId request = 0;
  DialogId dialog = 0;
  std::string owner;  // from now on the dialog's events carry this tag
  uint16_t status = 180;
  std::string reason = "Ringing";
};

// 2xx to a pending INVITE (initial or re-INVITE). The transport retransmits
// it until the ACK and reports Confirmed, or AckTimeout. `owner` is echoed in
// every later event of this dialog.
// If the request is already gone (CANCEL, early BYE, answer timeout), the
// transport reports Cancelled for `dialog` with this owner, so the owner
// never waits for an ACK that cannot come.
struct Accept {
  RequestId request = 0;
  DialogId dialog = 0;
  std::string owner;
  std::string contact;  // full Contact header value, e.g. "<sip:gs-1@x>;isfocus"
  std::string headers;
  std::string content_type;
  std::string body;
};

// End an INVITE dialog from our side: BYE now, or right after the ACK if our
// 2xx has not been acknowledged yet (RFC 3261 §15). Reports ByeCompleted.
struct Hangup {
  DialogId dialog = 0;
  std::string reason_header;  // optional RFC 3326 Reason value
  // Another usage shares the dialog (the refer subscription of a REFER that
  // arrived inside it, RFC 5057): the BYE ends only the INVITE usage, and
  // the dialog stays for SendInDialog and in-dialog SUBSCRIBE until
  // ForgetDialog.
  bool keep_dialog = false;
};

// 2xx to a pending out-of-dialog SUBSCRIBE or REFER: its early dialog
// becomes a subscription dialog owned by `owner` (no ACK in a non-INVITE
// usage).
struct AcceptSubscription {
  RequestId request = 0;
  DialogId dialog = 0;
  std::string owner;
  std::string contact;
  std::string headers;  // Expires etc.
  uint16_t status = 200;  // 202 for a REFER (RFC 3515)
  std::string reason = "OK";
};

// A request inside a dialog we hold (NOTIFY for now). Reports RequestDone
// with `token` when the transaction ends.
struct SendInDialog {
  DialogId dialog = 0;
  std::string method;
  std::string headers;  // each line ending in CRLF
  std::string content_type;
  std::string body;
  uint64_t token = 0;
};

// Drop a non-INVITE dialog usage (a subscription that ended); later
// requests in it get 481. On a dialog whose INVITE usage still lives it
// only withdraws Hangup's keep_dialog, so the BYE then ends the dialog.
struct ForgetDialog {
  DialogId dialog = 0;
};

// End every dialog carrying this owner tag: used when an owner died, so its
// participants are not left in dialogs nobody serves. Its unanswered Dials
// get CancelDial too.
struct HangupOwner {
  std::string owner;
};

// Dial out: an INVITE we send (SESSIONS.md §2.4, §9.2). Events come back as
// DialEvent with `owner` and `token`; (owner, token) must be unique among the
// dials still unanswered.
struct Dial {
  std::string owner;
  uint64_t token = 0;
  std::string request_uri;             // also the To URI (no tag)
  std::string from_uri, from_display;  // e.g. the session identity and its subject
  std::string contact;                 // full Contact value, e.g. "<sip:gs-1@x>;isfocus;+g.oma.sip-im"
  std::string outbound_proxy;          // optional "sip:host:port;lr"-style URI: sent there with a pre-loaded Route
  std::string headers;                 // extra header lines (Referred-By, Subject, P-Asserted-Identity...), each CRLF-terminated
  std::string content_type, body;      // the SDP offer or a multipart/mixed body
};

// Give up on a dial: CANCEL once a provisional response arrived (or as soon
// as one does); a 2xx that still arrives is ACKed and BYEd.
struct CancelDial {
  std::string owner;
  uint64_t token = 0;
};

enum class DialEventKind : uint8_t { Provisional, Answered, Failed };

// Exactly one Answered or Failed per Dial; Provisional (101-199) any number
// of times before it.
struct DialEvent {
  std::string owner;
  uint64_t token = 0;
  DialEventKind kind = DialEventKind::Failed;
  uint16_t status = 0;  // Failed: final status (408 for Timer B, 487 after our CANCEL)
  std::string reason;
  DialogId dialog = 0;  // Answered: the confirmed dialog (usable with Hangup, SendInDialog; peer BYE -> DialogEvent PeerBye)
  std::string content_type, body;  // Answered: the answer; Provisional: body if any
  std::vector<Header> headers;     // the response's headers
};

using Command = std::variant<Respond, Provisional, Accept, Hangup, HangupOwner, AcceptSubscription, SendInDialog,
                             ForgetDialog, Dial, CancelDial>;

// Where commands go. SipWorker implements it; tests can record instead.
class CommandSink {
 public:
  virtual ~CommandSink() = default;
  virtual void post(std::vector<Command> commands) = 0;
};

// Told on the SIP worker thread that a peer's BYE ended an INVITE dialog,
// just before its 200 goes out: media tied to the dialog (the MSRP leg) can
// stop at once, before the peer or anyone it tells can observe the 200
// (PROTOCOL.md A2). Must not block.
class DialogEndListener {
 public:
  virtual ~DialogEndListener() = default;
  virtual void on_peer_bye(DialogId dialog) = 0;
};

// Receives events on the SIP worker thread. Implementations must not block: hand
// the event on (e.g. to an actor) and return.
class SipEventSink {
 public:
  virtual ~SipEventSink() = default;
  virtual void on_request(InboundRequest request) = 0;
  virtual void on_dialog_event(DialogEvent event) = 0;
  // Outcome of a Dial. Empty by default: sinks that never dial need not care.
  virtual void on_dial_event(DialEvent event) { (void)event; }
};

}  // namespace imserver::transport
