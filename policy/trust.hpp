#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imserver::policy {

// Trusted-peer CIDR list (knob auth.trusted_peers, default "127.0.0.0/8,::1/128").
// Only requests from these peers may assert an identity via P-Asserted-Identity.
class TrustedPeers {
 public:
  // Comma-separated CIDRs, whitespace around items allowed; a bare address means /32 or /128;
  // empty string = nobody trusted. On error returns nullopt and sets *error to a human message naming the bad item.
  static std::optional<TrustedPeers> parse(std::string_view csv, std::string* error = nullptr);

  // "127.0.0.1", "::1", "[::1]" (brackets tolerated); unparsable -> false.
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) matches IPv4 entries.
  bool contains(std::string_view ip_text) const;

  // Normalized "a/b,c/d": host bits cleared, explicit prefix, canonical address text.
  std::string to_string() const;

 private:
  struct Cidr {
    bool v6 = false;
    std::array<std::uint8_t, 16> addr{};  // IPv4 uses the first 4 bytes
    int prefix = 0;
  };
  std::vector<Cidr> entries_;
};

}  // namespace imserver::policy
