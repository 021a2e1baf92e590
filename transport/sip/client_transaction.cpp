#include "transport/sip/client_transaction.hpp"

#include <cctype>
#include <charconv>

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

std::string BranchSource::next() {
  // splitmix64: the step is odd and every stage of the mix is invertible,
  // so 2^64 calls give 2^64 different values.
  uint64_t z = (next_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string branch = "z9hG4bK0000000000000000";
  for (size_t i = branch.size(); i-- > 7; z >>= 4) branch[i] = kHex[z & 0xF];
  return branch;
}

std::optional<InDialogTemplate> InDialogTemplate::learn(std::string_view request, size_t libre_part) {
  if (libre_part > request.size()) return std::nullopt;
  const size_t method_end = request.find(' ');
  const std::string_view branch = first_via_branch(request);
  if (method_end == std::string_view::npos || branch.empty()) return std::nullopt;
  const std::string_view method = request.substr(0, method_end);
  const size_t branch_at = static_cast<size_t>(branch.data() - request.data());
  const size_t branch_end = branch_at + branch.size();
  // libre writes "CSeq: <number> <method>" after the dialog's headers.
  static constexpr std::string_view kCSeq = "\r\nCSeq: ";
  const size_t cseq_line = request.substr(0, libre_part).find(kCSeq, branch_end);
  if (cseq_line == std::string_view::npos) return std::nullopt;
  const size_t number_at = cseq_line + kCSeq.size();
  const size_t line_end = request.find("\r\n", number_at);
  if (line_end == std::string_view::npos || line_end > libre_part) return std::nullopt;
  uint32_t cseq = 0;
  const auto [number_end, ec] = std::from_chars(request.data() + number_at, request.data() + line_end, cseq);
  const std::string_view rest(number_end, static_cast<size_t>(request.data() + line_end - number_end));
  if (ec != std::errc() || rest.size() != method.size() + 1 || rest[0] != ' ' || rest.substr(1) != method)
    return std::nullopt;
  InDialogTemplate t;
  t.after_method_ = std::string(request.substr(method_end, branch_at - method_end));
  t.after_branch_ = std::string(request.substr(branch_end, number_at - branch_end));
  t.after_cseq_ = std::string(request.substr(line_end, libre_part - line_end));
  t.next_cseq_ = cseq + 1;
  return t;
}

std::string InDialogTemplate::encode(std::string_view method, std::string_view branch, std::string_view tail,
                                     std::string_view body) {
  char number[10];
  const auto end = std::to_chars(number, number + sizeof number, next_cseq_++).ptr;
  const std::string_view cseq(number, static_cast<size_t>(end - number));
  std::string out;
  out.reserve(2 * method.size() + after_method_.size() + branch.size() + after_branch_.size() + cseq.size() + 1 +
              after_cseq_.size() + tail.size() + body.size());
  out.append(method).append(after_method_).append(branch).append(after_branch_).append(cseq);
  out.append(1, ' ').append(method).append(after_cseq_).append(tail).append(body);
  return out;
}

}  // namespace imserver::transport
