#include "policy/identity.hpp"

#include <cstddef>
#include <string_view>

namespace imserver::policy {

namespace {

enum class Scheme { Sip, Tel, Other };

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// Schemes are case-insensitive (RFC 3261 §19.1.4); a bare "sip:" with nothing
// after it identifies nobody and is treated like an unusable scheme.
Scheme classify(std::string_view uri) {
  for (std::string_view p : {std::string_view("sip:"), std::string_view("sips:")}) {
    if (istarts_with(uri, p)) return uri.size() > p.size() ? Scheme::Sip : Scheme::Other;
  }
  if (istarts_with(uri, "tel:")) return uri.size() > 4 ? Scheme::Tel : Scheme::Other;
  return Scheme::Other;
}

}  // namespace

std::optional<AssertedIdentity> authenticated_originator(bool source_trusted,
                                                         const std::vector<std::string>& pai_uris) {
  // RFC 3325 §8: PAI from outside the trust domain carries no meaning and
  // must not be used, otherwise any client could impersonate anyone.
  if (!source_trusted) return std::nullopt;

  // RFC 3325 §9.1: at most two values. A malformed assertion is rejected as a
  // whole rather than guessing which value the asserting proxy meant.
  if (pai_uris.size() > 2) return std::nullopt;

  const std::string* sip = nullptr;
  const std::string* tel = nullptr;
  AssertedIdentity id;
  for (const std::string& uri : pai_uris) {
    switch (classify(uri)) {
      case Scheme::Sip:
        // §9.1 again: two values must be one SIP/SIPS and one tel; two of
        // the same kind would make the identity ambiguous.
        if (sip) return std::nullopt;
        sip = &uri;
        break;
      case Scheme::Tel:
        if (tel) return std::nullopt;
        tel = &uri;
        break;
      case Scheme::Other:
        continue;  // unknown schemes are ignored, not fatal
    }
    id.aliases.push_back(uri);
  }

  // The SIP URI is preferred because sessions key users by SIP AoR; the tel
  // URI is kept as an alias so either form resolves to the same user.
  if (sip) {
    id.aor = *sip;
  } else if (tel) {
    id.aor = *tel;
  } else {
    return std::nullopt;
  }
  return id;
}

}  // namespace imserver::policy
