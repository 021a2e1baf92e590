#pragma once

#include <optional>
#include <string>
#include <vector>

namespace imserver::policy {

struct AssertedIdentity {
  std::string aor;                   // the identity the request is attributed to
  std::vector<std::string> aliases;  // every accepted PAI value, in header order (includes aor)
};

// The Authenticated Originator rule (PROTOCOL.md §1.5, SESSIONS.md §5).
// pai_uris: the URIs (already canonical AoRs like "sip:alice@example.com", "tel:+15550100") taken from the
// P-Asserted-Identity header(s), in order. Untrusted source -> nullopt (PAI is ignored, RFC 3325 §8).
// Trusted: more than 2 values -> nullopt (RFC 3325 §9.1 allows at most one SIP/SIPS and one tel);
// likewise two SIP/SIPS values or two tel values -> nullopt.
// Identity = the first sip:/sips: value, else the tel: value; aliases = all accepted values.
// Other schemes ignored; none left -> nullopt.
std::optional<AssertedIdentity> authenticated_originator(bool source_trusted,
                                                         const std::vector<std::string>& pai_uris);

}  // namespace imserver::policy
