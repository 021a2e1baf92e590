// One simulated MSRP endpoint (RFC 4975) on one TCP connection, for wire
// tests of the focus's MSRP switch (SESSIONS.md §8, TC-M).
//
//   MsrpClient alice("msrp://127.0.0.1:40001/aLiCe0001;tcp");
//   ASSERT_TRUE(alice.connect("127.0.0.1", focus_port)) << alice.transcript();
//   std::string tid = alice.bodiless_send(focus_path);          // binds the leg
//   auto ok = alice.wait_response(tid);
//   ASSERT_TRUE(ok && ok->status == 200) << alice.transcript();
//   std::string body = cpim_body("sip:alice@example.com", "sip:gs-1@im.example.com", "Hello team");
//   alice.send(alice.make_send(focus_path, "m-alice-0001", body));
//
// Framing is done by codec::msrp (StreamParser / serialize), the same code
// the server uses; byte-level surprises can still be sent with send_raw().
//
// Receiving: a background thread reads the socket, cuts frames and queues
// them with their arrival time. wait_frame() and its shortcuts take the
// first matching frame out of the queue and leave the others, so a test can
// look at frames in any order. By default every incoming SEND is answered
// by the reader thread itself with 200 (RFC 4975 §7.2: nothing for
// Failure-Report: no, only non-200 codes for partial), and still queued.
// REPORTs and other requests are only queued.
//
// A second side can be simulated with listen() + accept() (a=setup:passive:
// the focus connects) or adopt() (a socket the test made itself).
// add_local_path() lets one connection carry several legs, as a
// Participating Function does (TC-M21).
//
// Thread safety: all public members may be called from any thread, except
// connect/listen/accept/adopt/close, which belong to the test thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "transport/codec/msrp_frame.hpp"

namespace imserver::testclient {

struct ReceivedFrame {
  codec::msrp::Frame frame;
  std::chrono::steady_clock::time_point received_at;
  uint16_t answered_with = 0;  // status the reader thread answered with; 0 = not answered
};

// Pass as make_send()'s byte_range to send no Byte-Range header at all.
inline constexpr const char* kOmitByteRange = "-";

class MsrpClient {
 public:
  using Frame = codec::msrp::Frame;
  using EndFlag = codec::msrp::EndFlag;
  using Headers = std::vector<std::pair<std::string, std::string>>;
  using Predicate = std::function<bool(const Frame&)>;

  // local_path: this endpoint's own URI (its From-Path), e.g.
  // "msrp://127.0.0.1:40001/aLiCe0001;tcp". It need not match the socket's
  // address: the focus matches it against the SDP path, not the TCP peer.
  explicit MsrpClient(std::string local_path, size_t max_frame_bytes = 16u << 20);
  ~MsrpClient();
  MsrpClient(const MsrpClient&) = delete;
  MsrpClient& operator=(const MsrpClient&) = delete;

  const std::string& local_path() const { return local_path_; }
  // Another URI of this endpoint (another leg on the same connection).
  // Incoming SENDs whose last To-Path URI is one of these are answered
  // with it as From-Path.
  void add_local_path(const std::string& uri);
  // SO_RCVBUF for the next connect/accept/adopt (small values make a
  // paused reader congest the sender sooner). 0 = system default.
  void set_receive_buffer(int bytes) { rcvbuf_ = bytes; }
  // SO_SNDTIMEO: how long send() may block on a full socket (default 10 s).
  void set_send_timeout(std::chrono::milliseconds t) { send_timeout_ = t; }

  // ------------------------------------------------------------ connection
  // Blocking TCP connect (host: a numeric address or a name). False (with
  // last_error()) on failure or timeout, or when already connected.
  bool connect(const std::string& host, uint16_t port,
               std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Passive side: open a listening socket; returns its port (0 on failure).
  uint16_t listen(const std::string& host = "127.0.0.1", uint16_t port = 0);
  // Accept one connection on the listening socket (which stays open).
  bool accept(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Use an already connected stream socket (e.g. one end of a socketpair);
  // the client owns it from now on.
  bool adopt(int fd);
  // Closes the connection (the peer sees EOF) and stops the reader. Queued
  // frames, history and transcript are kept. Idempotent.
  void close();
  // A connection is open and the peer has not closed it.
  bool connected() const { return fd_ >= 0 && !peer_closed_.load(); }
  // The incoming byte stream did not parse (the reader stopped; see
  // last_error()).
  bool broken() const { return broken_.load(); }
  std::string last_error() const;

  // ------------------------------------------------------------ sending
  bool send_raw(std::string_view bytes);
  bool send(const Frame& frame);
  // A SEND: To-Path = to_path (one URI or several separated by spaces),
  // From-Path = local_path(), Message-ID, Byte-Range (default "1-N/N" with
  // N = the body size, or "1-N/*" when flag is not Complete;
  // kOmitByteRange = none), the extra headers, Content-Type: message/cpim,
  // then the body. An extra header named like a generated one (To-Path,
  // From-Path, Message-ID, Byte-Range, Content-Type; case-insensitive)
  // replaces it, and an empty value removes it. Fresh tid.
  Frame make_send(const std::string& to_path, const std::string& message_id, const std::string& cpim_body,
                  std::string byte_range = "", EndFlag flag = EndFlag::Complete, const Headers& extra = {}) const;
  // A bodiless SEND (binding / keep-alive, RFC 4975 §5.4, §7.1.1):
  // Message-ID (fresh when ""), Byte-Range: 1-0/0, no Content-Type.
  Frame make_bodiless_send(const std::string& to_path, const std::string& message_id = "") const;
  // Sends make_bodiless_send(); returns its tid ("" when sending failed).
  std::string bodiless_send(const std::string& to_path);
  // Sends make_send() for a complete message; returns its tid ("" on
  // failure). message_id "" = a fresh one.
  std::string send_message(const std::string& to_path, const std::string& cpim_body,
                           const std::string& message_id = "", const Headers& extra = {});
  // One message cut into chunks of at most chunk_size octets: Byte-Range
  // "s-e/total", flag '+' except '$' on the last, Content-Type on each,
  // a fresh tid each. An empty body gives one chunk "1-0/0".
  std::vector<Frame> make_chunks(const std::string& to_path, const std::string& message_id, const std::string& body,
                                 size_t chunk_size, const Headers& extra = {}) const;
  // Response to `request` (RFC 4975 §7.2) from the local URI it was sent to.
  Frame make_response(const Frame& request, uint16_t status, const std::string& comment = "") const;
  bool respond(const Frame& request, uint16_t status, const std::string& comment = "");
  // A REPORT about `send` (RFC 4975 §7.1.2): To-Path = its whole From-Path,
  // From-Path = the local URI it was sent to, its Message-ID,
  // Byte-Range 1-N/N (N = its Byte-Range total, else its body size),
  // Status: <status>.
  Frame make_report(const Frame& send, const std::string& status = "000 200 OK") const;

  // ------------------------------------------------------------ receiving
  // Removes and returns the first queued or arriving frame matching pred.
  std::optional<Frame> wait_frame(const Predicate& pred, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  std::optional<ReceivedFrame> wait_received(const Predicate& pred,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The response with this transaction id.
  std::optional<Frame> wait_response(const std::string& tid,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The first request with this method ("SEND", "REPORT", ...).
  std::optional<Frame> wait_request(const std::string& method,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Everything queued plus everything arriving until nothing arrived for
  // `quiet` (or max_total passed). Removes them from the queue.
  std::vector<Frame> drain(std::chrono::milliseconds quiet,
                           std::chrono::milliseconds max_total = std::chrono::seconds(30));
  // True when no frame (matching pred) is queued or arrives within timeout.
  // Consumes nothing.
  bool nothing_arrives(std::chrono::milliseconds timeout);
  bool nothing_arrives(const Predicate& pred, std::chrono::milliseconds timeout);
  // Snapshot of the queue (not consumed).
  std::vector<Frame> pending() const;
  // Every frame received so far, in arrival order (consumed ones included).
  std::vector<ReceivedFrame> history() const;

  // Status the reader answers incoming SENDs with: 200 (default) or any
  // other code; 0 = do not answer (a peer that reads but never answers).
  void answer_sends_automatically(bool on) { auto_status_.store(on ? 200 : 0); }
  void answer_sends_with(uint16_t status) { auto_status_.store(status); }
  // true: stop calling recv() but keep the socket open (a slow receiver,
  // SESSIONS.md §8.7); false: read again.
  void pause_reading(bool paused);
  bool reading_paused() const { return paused_.load(); }

  // Human-readable log of everything sent and received (bodies longer than
  // 2 KiB are shortened), for failure output.
  std::string transcript() const;

 private:
  bool start_connection(int fd, const std::string& peer);
  void reader_loop(int fd);
  void handle_frame(Frame frame);
  bool write_all(std::string_view bytes);
  void log_line(const std::string& direction, std::string_view text);
  void set_error(const std::string& e);
  std::string local_uri_for(const Frame& request) const;
  std::optional<ReceivedFrame> take_first(const Predicate& pred, std::chrono::steady_clock::time_point deadline,
                                          bool remove);

  std::string local_path_;
  std::string label_;
  size_t max_frame_bytes_;
  int rcvbuf_ = 0;
  std::chrono::milliseconds send_timeout_{10000};

  std::atomic<int> fd_{-1};
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> peer_closed_{false};
  std::atomic<bool> broken_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int> auto_status_{200};

  std::mutex send_mutex_;

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  std::vector<std::string> local_paths_;  // local_path_ first
  std::deque<ReceivedFrame> queue_;
  std::vector<ReceivedFrame> history_;
  std::vector<std::string> log_;
  std::string error_;
};

// A message/cpim body in the SESSIONS.md §8.9 layout, CRLF line endings:
//   From: <from>, To: <to>, DateTime: <datetime>, empty line,
//   Content-Type: <wrapped_type>, empty line, text (no trailing CRLF).
// URIs without '<' are bracketed; an empty from/to/datetime leaves that
// header out. With the defaults, CPIM(alice, gs-1, "Hello team") is the 148
// octets of §8.9.
std::string cpim_body(const std::string& from_uri, const std::string& to_uri, const std::string& text,
                      const std::string& wrapped_type = "text/plain;charset=UTF-8",
                      const std::string& datetime = "2025-01-15T10:00:00Z");

// 16 random hex digits (64 bits): a valid transaction id (RFC 4975 §9).
std::string random_tid();
// "m-" + 16 random hex digits.
std::string random_message_id();

}  // namespace imserver::testclient
