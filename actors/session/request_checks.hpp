#pragma once
// The UAS checks every entry point shares (RFC 3261 §8.2, SESSIONS.md §2.1,
// §4.1, §5), as pure functions of a request. Each returns the response to
// send when the check fails, so callers apply them in the documented order.

#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "policy/digest.hpp"
#include "policy/identity.hpp"
#include "policy/trust.hpp"
#include "transport/codec/resource_list.hpp"
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

// Whether Digest applies to `r` at all (SESSIONS.md §5): out-of-dialog
// INVITE, SUBSCRIBE and REFER only; never ACK, CANCEL, OPTIONS or anything
// inside a dialog.
bool digest_applies(const InboundRequest& r);

// The 401 with `WWW-Authenticate: Digest realm, nonce (fresh), qop="auth",
// algorithm=MD5` and, for a stale nonce, `stale=true`. Never 407: the focus
// is a UA (RFC 3261 §22.2).
Respond digest_challenge(const InboundRequest& r, const policy::DigestConfig& digest, int64_t now_s,
                         bool stale = false);

// Digest alone (SESSIONS.md §5, for a request with no trusted PAI): the
// Authorization for our realm decides. None -> 401; unknown user, wrong
// realm, algorithm or response -> 403; the right response over a stale (or
// no longer recognised) nonce -> 401 with a new nonce (stale=true when it
// was ours); digest-uri not the Request-URI -> 400; with from_must_match a
// From whose canonical AoR is not the user's -> 403. Otherwise the user's
// AoR as identity.
std::variant<policy::AssertedIdentity, Respond> check_digest(const InboundRequest& r,
                                                             const policy::DigestConfig& digest, int64_t now_s);

// identify() plus Digest: a trusted PAI wins; otherwise, when `digest` is
// configured and digest_applies(r), check_digest() decides (identity or the
// 401/403 to send). Anything else: identify()'s nullopt, which callers
// answer as today (403 where an identity is needed).
std::variant<std::optional<policy::AssertedIdentity>, Respond> authenticate(const InboundRequest& r,
                                                                            const policy::TrustedPeers& trusted,
                                                                            const policy::DigestConfig* digest,
                                                                            int64_t now_s);

// What an INVITE body holds (SESSIONS.md §2.1 C4): the SDP offer and whether
// a resource list came along.
struct InviteBody {
  std::string sdp;  // empty: delayed offer
  bool has_resource_list = false;
  std::string resource_list;  // the recipient-list part, when has_resource_list
};
// 415 (with Accept) for any other body.
std::variant<InviteBody, Respond> read_invite_body(const InboundRequest& r);

// Methods RFC 3261 and its extensions define; anything else gets 501.
bool is_known_method(const std::string& method);

// 405 with Allow, or 501 with Allow for a method we have never heard of.
Respond method_not_allowed(const InboundRequest& r);

// Checks of SESSIONS.md §2.1 that can fail before a session exists, in
// order: Require (C2), identity (C3, with Digest when `digest` is given and
// configured), body (C4, C5), SDP (C8). On success the creator's identity;
// the SDP is answered by the session itself.
//
// With `list`, the invitee list is read too (C6, C7: 400, 403 + Warning 399,
// 413) and the invitees are stored in list->invitees; the creator's own AoR
// is dropped besides what list->exclude drops (§2.2 rule 3).
struct CreationList {
  codec::ListExclude exclude;
  size_t max_invitees = 99;  // session.max_participants - 1
  std::string warn_agent;    // host in the Warning of a 403
  std::vector<codec::Invitee> invitees;
};
std::variant<policy::AssertedIdentity, Respond> check_creation(const InboundRequest& r,
                                                                 const policy::TrustedPeers& trusted,
                                                                 const codec::MsrpAnswerConfig& msrp,
                                                                 const policy::DigestConfig* digest = nullptr,
                                                                 int64_t now_s = 0, CreationList* list = nullptr);

}  // namespace imserver::session
