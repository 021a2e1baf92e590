#include "transport/sip/client_transaction.hpp"

#include <cctype>

namespace imserver::transport {

std::vector<uint64_t> nict_udp_send_offsets(const NictTimers& timers) {
  std::vector<uint64_t> out{0};
  const uint64_t end = timers.timeout_ms();
  if (timers.t1_ms == 0) return out;
  uint64_t at = timers.first_retransmit_ms();
  uint32_t step = timers.first_retransmit_ms();
  while (at < end) {
    out.push_back(at);
    step = timers.next_retransmit_ms(step, false);
    at += step;
  }
  return out;
}

std::vector<uint64_t> ict_udp_send_offsets(const IctTimers& timers) {
  std::vector<uint64_t> out{0};
  const uint64_t end = timers.timeout_ms();
  if (timers.t1_ms == 0) return out;
  uint64_t at = timers.first_retransmit_ms();
  uint32_t step = timers.first_retransmit_ms();
  while (at < end) {
    out.push_back(at);
    step = timers.next_retransmit_ms(step);
    at += step;
  }
  return out;
}

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view first_via_branch(std::string_view message) {
  // Header lines start after the start line and end at the blank line.
  size_t pos = message.find("\r\n");
  while (pos != std::string_view::npos) {
    const size_t start = pos + 2;
    const size_t end = message.find("\r\n", start);
    if (end == std::string_view::npos || end == start) return {};
    const std::string_view line = message.substr(start, end - start);
    pos = end;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = trim(line.substr(0, colon));
    if (!iequals(name, "via") && !iequals(name, "v")) continue;
    // First value of the first Via: stop at a comma (a second via-parm).
    std::string_view value = line.substr(colon + 1);
    value = value.substr(0, value.find(','));
    size_t p = 0;
    while ((p = value.find(';', p)) != std::string_view::npos) {
      ++p;
      const size_t next = value.find(';', p);
      std::string_view param = trim(value.substr(p, next == std::string_view::npos ? next : next - p));
      const size_t eq = param.find('=');
      if (eq != std::string_view::npos && iequals(trim(param.substr(0, eq)), "branch"))
        return trim(param.substr(eq + 1));
    }
    return {};
  }
  return {};
}

}  // namespace imserver::transport
