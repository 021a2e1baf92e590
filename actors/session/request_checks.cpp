#include "actors/session/request_checks.hpp"

#include <algorithm>
#include <cctype>

#include "actors/session/session_config.hpp"
#include "transport/codec/multipart.hpp"
#include "transport/codec/name_addr.hpp"
#include "transport/codec/sip_uri.hpp"

namespace imserver::session {
namespace {

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::vector<std::string> split_tokens(const std::string& value) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    std::string tok = trim(value.substr(start, comma - start));
    if (!tok.empty()) out.push_back(tok);
    start = comma + 1;
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const char* kAcceptBodies = "Accept: application/sdp, multipart/mixed, application/resource-lists+xml\r\n";

}  // namespace

Respond respond(const InboundRequest& r, uint16_t status, std::string reason, std::string headers) {
  Respond out;
  out.request = r.id;
  out.status = status;
  out.reason = std::move(reason);
  out.headers = std::move(headers);
  return out;
}

std::string warning_line(int code, const std::string& agent, const std::string& text) {
  return "Warning: " + std::to_string(code) + " " + agent + " \"" + text + "\"\r\n";
}

std::optional<Respond> check_require(const InboundRequest& r, const std::set<std::string>& supported) {
  std::vector<std::string> unsupported;
  for (const auto& value : r.all("require"))
    for (const auto& tag : split_tokens(value))
      if (!supported.count(lower(tag))) unsupported.push_back(tag);
  if (unsupported.empty()) return std::nullopt;
  std::string list;
  for (const auto& t : unsupported) list += (list.empty() ? "" : ", ") + t;
  return respond(r, 420, "Bad Extension", "Unsupported: " + list + "\r\n");
}

std::optional<policy::AssertedIdentity> identify(const InboundRequest& r, const policy::TrustedPeers& trusted) {
  const bool source_trusted = trusted.contains(r.peer.ip);
  if (!source_trusted) return std::nullopt;  // PAI from outside is never used (RFC 3325 §8)
  std::vector<std::string> aors;
  for (const auto& h : r.headers) {  // every P-Asserted-Identity, read in place (no copy of the values)
    if (h.name != "p-asserted-identity") continue;
    auto list = codec::parse_name_addr_list(h.value);
    if (!list) return std::nullopt;  // a broken PAI is no identity
    for (const auto& na : *list) {
      auto uri = codec::parse_uri(na.uri);
      if (!uri) return std::nullopt;
      aors.push_back(codec::canonical_aor(*uri));
    }
  }
  return policy::authenticated_originator(true, aors);
}

bool digest_applies(const InboundRequest& r) {
  return !r.in_dialog && (r.method == "INVITE" || r.method == "SUBSCRIBE" || r.method == "REFER");
}

Respond digest_challenge(const InboundRequest& r, const policy::DigestConfig& digest, int64_t now_s, bool stale) {
  std::string realm;
  for (char c : digest.realm) {
    if (c == '"' || c == '\\') realm += '\\';
    realm += c;
  }
  std::string header = "WWW-Authenticate: Digest realm=\"" + realm + "\", nonce=\"" +
                       policy::make_nonce(digest.secret, now_s) + "\", qop=\"auth\", algorithm=MD5";
  if (stale) header += ", stale=true";
  return respond(r, 401, "Unauthorized", header + "\r\n");
}

std::variant<policy::AssertedIdentity, Respond> check_digest(const InboundRequest& r,
                                                             const policy::DigestConfig& digest, int64_t now_s) {
  // Credentials for another realm (or another scheme) are not ours to judge;
  // without any Digest credentials the client is challenged.
  std::vector<policy::DigestCredentials> offered;
  for (const auto& value : r.all("authorization"))
    if (auto creds = policy::parse_digest_credentials(value)) offered.push_back(std::move(*creds));
  if (offered.empty()) return digest_challenge(r, digest, now_s);
  auto ours = std::find_if(offered.begin(), offered.end(),
                           [&](const policy::DigestCredentials& c) { return c.realm == digest.realm; });
  if (ours == offered.end()) return respond(r, 403, "Forbidden");
  const auto& creds = *ours;
  auto user = digest.users.find(creds.username);
  if (user == digest.users.end()) return respond(r, 403, "Forbidden");
  if (!creds.algorithm.empty() && lower(creds.algorithm) != "md5") return respond(r, 403, "Forbidden");
  const std::string qop = lower(creds.qop);
  if (!qop.empty() && (qop != "auth" || creds.nc.empty() || creds.cnonce.empty()))
    return respond(r, 403, "Forbidden");
  const std::string expected =
      policy::digest_response(user->second.ha1, r.method, creds.uri, creds.nonce, creds.qop, creds.nc, creds.cnonce);
  const std::string given = lower(creds.response);
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < std::min(given.size(), expected.size()); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ expected[i]);
  if (diff != 0) return respond(r, 403, "Forbidden");
  // The password was right: a nonce we no longer accept only needs a new one.
  switch (policy::check_nonce(creds.nonce, digest.secret, now_s, digest.nonce_lifetime_s)) {
    case policy::NonceCheck::Fresh:
      break;
    case policy::NonceCheck::Stale:
      return digest_challenge(r, digest, now_s, true);
    case policy::NonceCheck::Invalid:
      return digest_challenge(r, digest, now_s, false);
  }
  // RFC 7616 §3.4.6: the digest-uri names the Request-URI.
  if (creds.uri != r.request_uri) {
    auto a = codec::parse_uri(creds.uri);
    auto b = codec::parse_uri(r.request_uri);
    if (!a || !b || codec::canonical_aor(*a) != codec::canonical_aor(*b))
      return respond(r, 400, "Authorization URI Mismatch");
  }
  if (digest.from_must_match) {
    auto from = codec::parse_uri(r.from_uri);
    if (!from || codec::canonical_aor(*from) != user->second.aor)
      return respond(r, 403, "Forbidden",
                     warning_line(399, digest.realm, "From does not match the authenticated user"));
  }
  policy::AssertedIdentity who;
  who.aor = user->second.aor;
  who.aliases = {who.aor};
  return who;
}

std::variant<std::optional<policy::AssertedIdentity>, Respond> authenticate(const InboundRequest& r,
                                                                            const policy::TrustedPeers& trusted,
                                                                            const policy::DigestConfig* digest,
                                                                            int64_t now_s) {
  auto who = identify(r, trusted);
  if (who || !digest || !digest->enabled || !digest_applies(r)) return who;
  auto checked = check_digest(r, *digest, now_s);
  if (auto* refusal = std::get_if<Respond>(&checked)) return std::move(*refusal);
  return std::optional<policy::AssertedIdentity>(std::get<policy::AssertedIdentity>(std::move(checked)));
}

std::variant<InviteBody, Respond> read_invite_body(const InboundRequest& r) {
  InviteBody out;
  if (r.body.empty()) return out;
  const std::string type = codec::media_type(r.content_type);
  if (type == "application/sdp") {
    out.sdp = r.body;
    return out;
  }
  if (type == "multipart/mixed") {
    auto parts = codec::split_multipart(r.content_type, r.body);
    if (!parts) return respond(r, 400, "Malformed multipart body");
    int sdp_parts = 0, list_parts = 0;
    for (const auto& part : *parts) {
      const std::string pt = codec::media_type(part.content_type);
      if (pt == "application/sdp") {
        ++sdp_parts;
        out.sdp = part.body;
      } else if (pt == "application/resource-lists+xml") {
        ++list_parts;
        // Only a recipient-list disposition (or none) makes it an invitee
        // list; other dispositions are ignored (SESSIONS.md §2.1).
        const std::string disp = lower(part.content_disposition);
        if (disp.empty() || disp.rfind("recipient-list", 0) == 0) {
          out.has_resource_list = true;
          out.resource_list = part.body;
        }
      } else {
        return respond(r, 415, "Unsupported Media Type", kAcceptBodies);
      }
    }
    if (sdp_parts > 1 || list_parts > 1) return respond(r, 415, "Unsupported Media Type", kAcceptBodies);
    return out;
  }
  return respond(r, 415, "Unsupported Media Type", kAcceptBodies);
}

bool is_known_method(const std::string& method) {
  static const std::set<std::string> known = {"INVITE",  "ACK",    "CANCEL", "BYE",    "OPTIONS",
                                              "REGISTER", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE",
                                              "INFO",    "UPDATE", "PRACK",  "PUBLISH"};
  return known.count(method) > 0;
}

Respond method_not_allowed(const InboundRequest& r) {
  const std::string allow = std::string("Allow: ") + kAllow + "\r\n";
  if (!is_known_method(r.method)) return respond(r, 501, "Not Implemented", allow);
  return respond(r, 405, "Method Not Allowed", allow);
}

std::variant<policy::AssertedIdentity, Respond> check_creation(const InboundRequest& r,
                                                                 const policy::TrustedPeers& trusted,
                                                                 const codec::MsrpAnswerConfig& msrp,
                                                                 const policy::DigestConfig* digest, int64_t now_s,
                                                                 CreationList* list) {
  // C2: the factory understands recipient lists (RFC 5366), nothing else.
  if (auto bad = check_require(r, {"recipient-list-invite"})) return *bad;
  // C3
  auto identified = authenticate(r, trusted, digest, now_s);
  if (auto* refusal = std::get_if<Respond>(&identified)) return *refusal;
  const auto& who = std::get<std::optional<policy::AssertedIdentity>>(identified);
  if (!who) return respond(r, 403, "Forbidden");
  // C4, C5
  auto body = read_invite_body(r);
  if (auto* err = std::get_if<Respond>(&body)) return *err;
  const auto& invite_body = std::get<InviteBody>(body);
  bool list_required = false;
  for (const auto& value : r.all("require"))
    for (const auto& tag : split_tokens(value))
      if (lower(tag) == "recipient-list-invite") list_required = true;
  if (list_required && !invite_body.has_resource_list) return respond(r, 400, "Missing Recipient List");
  // C6, C7.
  if (list && invite_body.has_resource_list) {
    const std::string creator = who->aor;
    const codec::ListExclude& more = list->exclude;
    codec::ListLimits limits;
    limits.max_entries = list->max_invitees;
    auto parsed = codec::parse_resource_list(
        invite_body.resource_list,
        [&](const std::string& aor) { return aor == creator || (more && more(aor)); }, limits);
    if (parsed.status == 403)
      return respond(r, 403, "Forbidden", warning_line(399, list->warn_agent, "Too many invitees"));
    if (!parsed.ok()) return respond(r, static_cast<uint16_t>(parsed.status), parsed.reason);
    list->invitees = std::move(parsed.invitees);
  }
  // C8: test the offer now so a refused one never allocates an identity. No
  // offer at all is a delayed offer: the focus offers in its 2xx (§7.4).
  if (invite_body.sdp.empty()) return *who;
  auto answer = codec::answer_msrp_offer(invite_body.sdp, msrp, "validationonly00", 0, 0);
  if (!answer.ok) return respond(r, 488, "Not Acceptable Here", "Warning: " + answer.warning + "\r\n");
  return *who;
}

}  // namespace imserver::session
