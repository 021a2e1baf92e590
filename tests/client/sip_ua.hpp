// One simulated SIP user agent talking to the real server over UDP or TCP.
//
//   SipUa::Options o;
//   o.transport = "udp";
//   o.server_port = server.port();
//   o.aor = "sip:alice@example.com";
//   SipUa alice(o);
//   JoinResult j = alice.join("sip:conference-factory@im.example.com");
//   ASSERT_TRUE(j.ok) << j.final.raw;
//   auto bye = alice.wait_request("BYE", 5s);
//   alice.respond(*bye, 200, "OK");
//
// Receiving: a background thread reads the socket and queues every message
// (SipMessage::received_at is the arrival time). wait_for() and its
// shortcuts take the first matching message out of the queue and leave the
// others where they are, so the order in which a test looks at messages
// does not have to be the order in which they arrived.
//
// Transactions, kept deliberately thin (loopback loses nothing):
//   * no retransmission of our own requests;
//   * a request retransmitted by the server after we answered it is
//     answered again with the same response and NOT queued, and copies
//     queued before we answered are dropped when we answer
//     (Options::absorb_retransmissions; counted in absorbed()). To see the
//     server's retransmissions, wait for them before answering;
//   * a final response to an INVITE that we already ACKed (the server
//     retransmits its 2xx until the ACK arrives) is ACKed again and not
//     queued;
//   * optionally BYE and NOTIFY are answered by the reader thread itself
//     (they are still queued, with SipMessage::answered_with set).
//
// Every request goes to the server's address, whatever its Request-URI.
// Headers given in `extra_headers` (lines ending in CRLF; bare LF is
// accepted) replace generated headers of the same name, so a test can send
// e.g. its own Contact, Expires or Max-Forwards.
//
// Thread safety: all public members may be called from any thread.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/client/sip_message.hpp"

namespace imserver::testclient {

struct Dialog {
  std::string call_id;
  std::string local_tag;
  std::string remote_tag;
  std::string local_uri;      // our From URI (the UA's AoR)
  std::string remote_uri;     // the To URI of the initial request
  std::string remote_target;  // the peer's Contact URI (Request-URI of in-dialog requests)
  std::vector<std::string> route_set;  // Route header values, in order
  uint32_t local_cseq = 0;             // last CSeq we used
};

// A request we sent (fields as they appear in `raw`).
struct Transaction {
  std::string call_id;
  std::string branch;
  uint32_t cseq = 0;
  std::string method;
  std::string raw;
  std::string request_uri;
  std::string from_tag;
};

// Everything build_request() needs; empty strings mean "generate".
struct RequestSpec {
  std::string method;
  std::string request_uri;
  std::string to_uri;       // a bare URI, or a full name-addr if it contains '<'
  std::string to_tag;       // "" = no tag
  std::string from_uri;     // "" = the UA's AoR
  std::string from_tag;     // "" = a fresh tag
  std::string call_id;      // "" = a fresh Call-ID
  uint32_t cseq = 1;
  std::string branch;       // "" = a fresh z9hG4bK branch
  std::vector<std::string> route_set;
  bool contact = true;      // add Contact: <contact_uri()>
  bool pai = true;          // add P-Asserted-Identity when Options::send_pai
  std::string extra_headers;
  std::string content_type;
  std::string body;
};

struct JoinResult {
  SipMessage final;  // status 0 when no final response arrived
  Dialog dialog;     // filled when ok
  bool ok = false;   // a 2xx arrived (and was ACKed)
  Transaction invite;
  std::vector<SipMessage> provisional;  // 1xx seen before the final response
  std::string error;                    // why ok is false, for assertions
};

struct SubscribeResult {
  SipMessage final;  // status 0 when no final response arrived
  Dialog dialog;     // filled when ok
  bool ok = false;   // a 2xx arrived
  Transaction request;
  std::string error;
};

inline constexpr const char* kConferenceSubscribeHeaders =
    "Event: conference\r\nAccept: application/conference-info+xml\r\n";

class SipUa {
 public:
  struct Options {
    std::string transport = "udp";  // "udp" or "tcp"
    std::string bind_ip = "127.0.0.1";
    std::string server_ip = "127.0.0.1";
    uint16_t server_port = 0;
    std::string aor;  // e.g. "sip:alice@example.com"
    bool send_pai = true;
    // Timeout of the high-level calls (join, bye, subscribe, resubscribe).
    std::chrono::milliseconds timeout = std::chrono::seconds(5);
    bool absorb_retransmissions = true;
    // TCP only: listen instead of connecting, and take the server's first
    // connection in accept_server() (a proxy or UA the server dials out to,
    // SESSIONS.md §9.5). Nothing is read before that.
    bool tcp_listen = false;
  };

  // Opens the socket (and for TCP connects it); throws std::runtime_error
  // when that fails.
  explicit SipUa(Options options);
  ~SipUa();
  SipUa(const SipUa&) = delete;
  SipUa& operator=(const SipUa&) = delete;

  const Options& options() const { return options_; }
  const std::string& local_ip() const { return local_ip_; }
  uint16_t local_port() const { return local_port_; }
  const std::string& user() const { return user_; }
  const std::string& aor() const { return options_.aor; }
  bool is_tcp() const { return tcp_; }
  // "sip:<user>@<ip>:<port>" (+ ";transport=tcp").
  std::string contact_uri() const;
  // "UDP" / "TCP" as written in Via.
  std::string via_transport() const { return tcp_ ? "TCP" : "UDP"; }
  // UDP: where requests go from now on (a UA made before the server started,
  // e.g. the outbound proxy whose address the server's flags name).
  void set_server_port(uint16_t port);
  // With Options::tcp_listen: waits for the server to connect, then reads
  // from that connection as from a connected UA. False on timeout.
  bool accept_server(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // TCP: false once the server closed the connection. UDP: always true.
  bool connected() const { return !closed_.load(); }

  // ------------------------------------------------------------ receiving
  using Predicate = std::function<bool(const SipMessage&)>;
  // Removes and returns the first queued or arriving message matching pred.
  std::optional<SipMessage> wait_for(const Predicate& pred,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));
  std::optional<SipMessage> wait_request(const std::string& method,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // A response with this Call-ID and CSeq method. 1xx responses of that
  // Call-ID/method are consumed and skipped unless allow_provisional.
  std::optional<SipMessage> wait_response(const std::string& call_id, const std::string& cseq_method,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                          bool allow_provisional = false);
  // A request of this method inside `dialog` (same Call-ID, To tag = our
  // local tag); e.g. the NOTIFYs of one subscription.
  std::optional<SipMessage> wait_in_dialog(const Dialog& dialog, const std::string& method,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Everything queued plus everything arriving until nothing arrived for
  // `quiet` (or max_total passed). Removes them from the queue.
  std::vector<SipMessage> drain(std::chrono::milliseconds quiet,
                                std::chrono::milliseconds max_total = std::chrono::seconds(30));
  // True when no request with this method ("" = no message at all) is queued
  // or arrives within timeout. Consumes nothing.
  bool nothing_arrives(const std::string& method, std::chrono::milliseconds timeout);
  // Snapshot of the queue (not consumed).
  std::vector<SipMessage> pending() const;
  // Every message received so far, in arrival order (including consumed,
  // absorbed and auto-answered ones).
  std::vector<SipMessage> history() const;
  // Human-readable log of everything sent and received (for failure output).
  std::string transcript() const;
  // Retransmissions answered/ACKed again by the reader (not queued).
  size_t absorbed() const;
  // Datagrams / stream messages that did not parse.
  size_t unparsable() const;

  // ------------------------------------------------------------ sending
  bool send_raw(const std::string& data);
  // Response to `req`: every Via in order, Record-Route, From, To (with
  // this UA's stable tag added when the request had none, except for 100),
  // Call-ID, CSeq, Contact for a 2xx to INVITE/SUBSCRIBE, extra headers,
  // Content-Type/body when given, Content-Length.
  bool respond(const SipMessage& req, int status, const std::string& reason,
               const std::string& extra_headers = "", const std::string& content_type = "",
               const std::string& body = "");
  // The To tag respond() adds.
  const std::string& local_to_tag() const { return to_tag_; }

  std::string build_request(const RequestSpec& spec);
  Transaction send(const RequestSpec& spec);
  // Out of dialog: fresh Call-ID, fresh From tag, CSeq 1, Contact, PAI.
  Transaction send_request(const std::string& method, const std::string& request_uri,
                           const std::string& to_uri, const std::string& extra_headers = "",
                           const std::string& content_type = "", const std::string& body = "");
  // In dialog: CSeq = ++dialog.local_cseq, Request-URI = remote target,
  // tags and route set from the dialog. Contact on all but BYE/CANCEL/ACK.
  Transaction send_in_dialog(Dialog& dialog, const std::string& method, const std::string& extra_headers = "",
                             const std::string& content_type = "", const std::string& body = "");
  // The first non-1xx response to this transaction (Call-ID, CSeq, method
  // and branch must match); its 1xx are consumed (and appended to
  // *provisional when given).
  std::optional<SipMessage> final_response(const Transaction& tx,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                           std::vector<SipMessage>* provisional = nullptr);
  // ACK for a final response to INVITE `invite`: for a 2xx a new
  // transaction to the Contact of the response; otherwise the same branch
  // and Request-URI as the INVITE. Also remembers it, to ACK retransmissions.
  void send_ack(const Transaction& invite, const SipMessage& final);

  // ------------------------------------------------------------ high level
  // The MSRP SDP offer join() sends.
  std::string sdp_offer();
  // INVITE with any body, wait for the final response (skipping 1xx), ACK
  // it (2xx or not). ok when 2xx.
  JoinResult invite(const std::string& target_uri, const std::string& extra_headers,
                    const std::string& content_type, const std::string& body);
  // invite() with the MSRP offer.
  JoinResult join(const std::string& target_uri, const std::string& extra_headers = "");
  // BYE in the dialog; its final response.
  std::optional<SipMessage> bye(Dialog& dialog);
  SubscribeResult subscribe(const std::string& target_uri, std::optional<uint32_t> expires = 3600,
                            const std::string& extra_headers = kConferenceSubscribeHeaders);
  std::optional<SipMessage> resubscribe(Dialog& dialog, std::optional<uint32_t> expires,
                                        const std::string& extra_headers = kConferenceSubscribeHeaders);

  void answer_bye_automatically(bool on) { auto_bye_.store(on); }
  // Status for incoming NOTIFYs; 0 = off.
  void answer_notify_automatically(int status) { auto_notify_.store(status); }

  // Fresh identifiers.
  std::string new_branch();
  std::string new_tag();
  std::string new_call_id();
  std::string random_hex(size_t chars);

 private:
  void reader_loop();
  void handle_incoming(std::string raw, const sockaddr_in& from);
  bool send_to(const std::string& data, const sockaddr_in* to);
  void log_line(const std::string& direction, const std::string& text);
  std::optional<SipMessage> take_first(const Predicate& pred, std::chrono::steady_clock::time_point deadline,
                                       bool remove);
  static std::string response_key(const SipMessage& m);

  Options options_;
  bool tcp_ = false;
  std::string user_;
  std::string local_ip_;
  uint16_t local_port_ = 0;
  std::string to_tag_;
  int fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  sockaddr_in server_addr_{};

  std::atomic<bool> stop_{false};
  std::atomic<bool> closed_{false};
  std::atomic<bool> auto_bye_{false};
  std::atomic<int> auto_notify_{0};
  std::thread reader_;

  std::mutex send_mutex_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  std::deque<SipMessage> queue_;
  std::vector<SipMessage> history_;
  std::vector<std::string> log_;
  uint64_t arrivals_ = 0;  // messages queued so far
  size_t absorbed_ = 0;
  size_t unparsable_ = 0;
  // request key -> our last response (for retransmitted requests)
  std::map<std::string, std::string> responses_;
  // "call-id|cseq" of an INVITE -> our ACK (for retransmitted final responses)
  std::map<std::string, std::string> acks_;
};

// Reason phrase for common status codes ("" for unknown ones).
std::string default_reason(int status);

}  // namespace imserver::testclient
