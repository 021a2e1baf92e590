#pragma once

// SDP offer/answer for the MSRP chat stream of an IM Group Session (SESSIONS.md §7.1–§7.3):
// accept a client's offer and build the focus's answer.
// Sources: RFC 4566 (SDP), RFC 3264 (offer/answer), RFC 4975 §8 (MSRP in SDP), RFC 6135 (a=setup),
// RFC 7701 §5.2, §8 (chat rooms), RFC 3261 §13.3.1.3 / §20.43 (488 + Warning).
//
// Pure function: no I/O, never throws on bad input.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imserver::codec {

struct MsrpAnswerConfig {
  std::string warn_agent = "localhost";   // host used in Warning headers (session.domain)
  std::string msrp_host = "127.0.0.1";    // msrp.advertise_host: goes in c= and a=path
  uint16_t msrp_port = 2855;
  std::string accept_wrapped_types = "*";
  uint64_t max_message_size = 1048576;    // a=max-size, when max_size_attribute
  bool max_size_attribute = true;
  bool tls_enabled = false;
  bool answer_passive_for_actpass = true; // sdp.answer_setup_for_actpass=passive
};

struct MsrpLeg {               // what the focus learned from the offer, for the MSRP switch later
  std::vector<std::string> remote_path;   // whole a=path list (first URI = connection target, RFC 4975 §8.2)
  std::vector<std::string> accept_types, accept_wrapped_types;  // tokens as written
  std::string offer_setup;                // "actpass", "active", "passive", "" (absent/holdconn/unknown)
  std::string answer_setup;               // what we answered: "passive" or "active"
  std::string offer_direction, answer_direction; // sendrecv/sendonly/recvonly/inactive (absent offer = sendrecv)
  std::optional<uint64_t> max_size;
  bool chatroom = false, private_messages = false;
  std::string local_path;                 // the focus's URI msrp://host:port/<session_id>;tcp
};

struct MsrpAnswer {
  bool ok = false;
  int status = 0;          // 488 on a rejected offer (500 if the caller passed an invalid session_id)
  std::string warning;     // full Warning header VALUE on failure, e.g. `305 localhost "Incompatible media format"`
  std::string sdp;         // the answer (CRLF line endings) when ok
  MsrpLeg leg;
};

// session_id: >= 16 chars [A-Za-z0-9] chosen by the caller (unique per leg, SESSIONS.md §7.2); sess_id/version
// go into o=. Failures (all 488):
//   304 "Media type not available"        no usable m=message TCP/MSRP * line
//   302 "Incompatible transport protocol" only TCP/TLS/MSRP while TLS is off, or a non-TCP message transport
//   305 "Incompatible media format"       a=accept-types missing or not covering message/cpim
//   399 "Bad or missing a=path"           a=path missing, or a URI that is not msrp(s)://host:port/... matching the proto
//   399 "Malformed SDP"                   no v= line first, a line that is not <letter>=<value>, a bad m= line
MsrpAnswer answer_msrp_offer(std::string_view offer, const MsrpAnswerConfig&, std::string_view session_id,
                             uint64_t sess_id, uint64_t sess_version);

// The focus's own offer (SESSIONS.md §7.4): the §7.2 template with a=setup:actpass and the real port
// (RFC 6135 §4.2.2), for dial-out INVITEs. `session_id` as for answer_msrp_offer; "" if it is invalid.
std::string make_msrp_offer(const MsrpAnswerConfig&, std::string_view session_id, uint64_t sess_id,
                            uint64_t sess_version);

// The focus's a=path URI for the leg `session_id` as answer_msrp_offer writes it (msrps: on a TLS
// stream), so callers can derive it instead of keeping a copy per leg.
std::string msrp_focus_path(const MsrpAnswerConfig&, std::string_view session_id, bool tls);

// Reads an invitee's answer to make_msrp_offer (SESSIONS.md §2.5, §7.3). ok=false when the answer is unusable
// (no MSRP stream or port 0, no message/cpim, no valid a=path): the caller ACKs, BYEs and reports cause 488.
// leg.offer_setup is the answerer's a=setup; leg.answer_setup is the focus's role: "passive" when the answerer is
// active (it connects), else "active" (passive or absent: the focus, as the offerer, connects). `sdp` stays empty.
MsrpAnswer read_msrp_answer(std::string_view answer, const MsrpAnswerConfig&, std::string_view session_id);

}  // namespace imserver::codec
