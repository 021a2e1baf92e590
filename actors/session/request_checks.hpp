#pragma once
// The UAS checks every entry point shares (RFC 3261 §8.2, SESSIONS.md §2.1,
// §4.1, §5), as pure functions of a request. Each returns the response to
// send when the check fails, so callers apply them in the documented order.

#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "policy/identity.hpp"
#include "policy/trust.hpp"
#include "transport/codec/sdp_msrp.hpp"
#include "transport/sip/sip_messages.hpp"

namespace imserver::session {

using transport::InboundRequest;
using transport::Respond;

// A final response to `r` (no body).
Respond respond(const InboundRequest& r, uint16_t status, std::string reason, std::string headers = "");

// `Warning: <code> <agent> "<text>"` line (RFC 3261 §20.43), CRLF included.
std::string warning_line(int code, const std::string& agent, const std::string& text);

// 420 + Unsupported when Require names a tag outside `supported` (§8.2.2.3).
std::optional<Respond> check_require(const InboundRequest& r, const std::set<std::string>& supported);

// The requester's identity (SESSIONS.md §5): P-Asserted-Identity, trusted
// only from auth.trusted_peers. nullopt means "answer 403".
std::optional<policy::AssertedIdentity> identify(const InboundRequest& r, const policy::TrustedPeers& trusted);

// What an INVITE body holds (SESSIONS.md §2.1 C4): the SDP offer and whether
// a resource list came along.
struct InviteBody {
  std::string sdp;  // empty: delayed offer
  bool has_resource_list = false;
};
// 415 (with Accept) for any other body.
std::variant<InviteBody, Respond> read_invite_body(const InboundRequest& r);

// Methods RFC 3261 and its extensions define; anything else gets 501.
bool is_known_method(const std::string& method);

// 405 with Allow, or 501 with Allow for a method we have never heard of.
Respond method_not_allowed(const InboundRequest& r);

// Checks of SESSIONS.md §2.1 that can fail before a session exists, in
// order: Require (C2), identity (C3), body (C4, C5), SDP (C8). On success the
// creator's identity; the SDP is answered by the session itself.
std::variant<policy::AssertedIdentity, Respond> check_creation(const InboundRequest& r,
                                                                 const policy::TrustedPeers& trusted,
                                                                 const codec::MsrpAnswerConfig& msrp);

}  // namespace imserver::session
