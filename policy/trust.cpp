#include "policy/trust.hpp"

#include <arpa/inet.h>

#include <cstddef>
#include <cstring>
#include <utility>

namespace imserver::policy {

namespace {

constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

struct Address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Brackets are how IPv6 hosts appear in SIP URIs and Via headers (RFC 3261
// §25.1), so callers may hand us "[::1]" straight from the message.
std::string_view strip_brackets(std::string_view s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') return s.substr(1, s.size() - 2);
  return s;
}

std::optional<Address> parse_address(std::string_view text) {
  // inet_pton needs a NUL-terminated string; it is strict (dotted quad only,
  // no octal/hex shorthands), which is what we want for a security list.
  const std::string buf(text);
  if (buf.empty() || buf.find('\0') != std::string::npos) return std::nullopt;
  Address a;
  if (inet_pton(AF_INET, buf.c_str(), a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, buf.c_str(), a.bytes.data()) == 1) {
    a.v6 = true;
    return a;
  }
  return std::nullopt;
}

bool is_mapped(const Address& a) {
  return a.v6 && std::memcmp(a.bytes.data(), kMappedPrefix, sizeof kMappedPrefix) == 0;
}

Address unmap(const Address& a) {
  Address v4;
  std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
  return v4;
}

void clear_host_bits(std::array<std::uint8_t, 16>& bytes, int prefix) {
  for (int i = 0; i < 16; ++i) {
    const int bits_in_byte = prefix - i * 8;
    if (bits_in_byte >= 8) continue;
    if (bits_in_byte <= 0) {
      bytes[static_cast<std::size_t>(i)] = 0;
    } else {
      bytes[static_cast<std::size_t>(i)] &= static_cast<std::uint8_t>(0xff << (8 - bits_in_byte));
    }
  }
}

bool prefix_matches(const std::array<std::uint8_t, 16>& net, const std::array<std::uint8_t, 16>& addr,
                    int prefix) {
  const int full = prefix / 8;
  if (std::memcmp(net.data(), addr.data(), static_cast<std::size_t>(full)) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  const auto idx = static_cast<std::size_t>(full);
  return (net[idx] & mask) == (addr[idx] & mask);
}

// Digits only, so "+8", "-1", " 8" or "8x" are rejected instead of being
// half-parsed by a lenient strtol.
std::optional<int> parse_prefix(std::string_view s) {
  if (s.empty() || s.size() > 3) return std::nullopt;
  int value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

std::optional<TrustedPeers> TrustedPeers::parse(std::string_view csv, std::string* error) {
  const auto fail = [error](std::string message) -> std::optional<TrustedPeers> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };

  TrustedPeers peers;
  // An empty knob is a legitimate "trust nobody" setting (PAI always ignored).
  if (trim(csv).empty()) return peers;

  std::size_t start = 0;
  while (start <= csv.size()) {
    std::size_t comma = csv.find(',', start);
    if (comma == std::string_view::npos) comma = csv.size();
    const std::string_view item = trim(csv.substr(start, comma - start));
    start = comma + 1;

    // Empty items ("a,,b", trailing comma) are most likely an editing
    // mistake; refusing them beats silently trusting less or more than meant.
    if (item.empty()) return fail("trusted peer list contains an empty item");

    const std::size_t slash = item.find('/');
    const std::string_view addr_text = strip_brackets(item.substr(0, slash));
    const std::optional<Address> addr = parse_address(addr_text);
    if (!addr) return fail("invalid trusted peer " + quoted(item) + ": not an IPv4/IPv6 address");

    Cidr cidr;
    cidr.v6 = addr->v6;
    cidr.addr = addr->bytes;
    const int max_prefix = addr->v6 ? 128 : 32;
    cidr.prefix = max_prefix;  // bare address = single host
    if (slash != std::string_view::npos) {
      const std::optional<int> prefix = parse_prefix(item.substr(slash + 1));
      if (!prefix || *prefix > max_prefix) {
        return fail("invalid trusted peer " + quoted(item) + ": prefix length must be 0.." +
                    std::to_string(max_prefix));
      }
      cidr.prefix = *prefix;
    }

    // An IPv6 entry wholly inside ::ffff:0:0/96 really describes IPv4 peers;
    // storing it as IPv4 lets plain IPv4 sources match it too.
    if (cidr.v6 && cidr.prefix >= 96 && is_mapped(*addr)) {
      cidr.v6 = false;
      cidr.addr = unmap(*addr).bytes;
      cidr.prefix -= 96;
    }
    clear_host_bits(cidr.addr, cidr.prefix);
    peers.entries_.push_back(cidr);
  }
  return peers;
}

bool TrustedPeers::contains(std::string_view ip_text) const {
  const std::optional<Address> addr = parse_address(strip_brackets(trim(ip_text)));
  if (!addr) return false;  // fail closed: an unknown source is never trusted

  // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they must be
  // judged by the IPv4 entries or the default 127.0.0.0/8 would not work there.
  std::optional<Address> as_v4;
  if (!addr->v6) {
    as_v4 = addr;
  } else if (is_mapped(*addr)) {
    as_v4 = unmap(*addr);
  }
  for (const Cidr& c : entries_) {
    if (c.v6) {
      if (addr->v6 && prefix_matches(c.addr, addr->bytes, c.prefix)) return true;
    } else {
      if (as_v4 && prefix_matches(c.addr, as_v4->bytes, c.prefix)) return true;
    }
  }
  return false;
}

std::string TrustedPeers::to_string() const {
  std::string out;
  for (const Cidr& c : entries_) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(c.v6 ? AF_INET6 : AF_INET, c.addr.data(), buf, sizeof buf) == nullptr) continue;
    if (!out.empty()) out += ',';
    out += buf;
    out += '/';
    out += std::to_string(c.prefix);
  }
  return out;
}

}  // namespace imserver::policy
