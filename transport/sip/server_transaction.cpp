#include "transport/sip/server_transaction.hpp"

#include <re.h>

#include <cctype>
#include <cstdio>

namespace imserver::transport {
namespace {

std::string_view view(const pl& p) { return p.p && p.l ? std::string_view(p.p, p.l) : std::string_view(); }

// The magic cookie of RFC 3261 §8.1.1.7 (compared case-sensitively, as
// §17.2.3 requires of branches).
constexpr std::string_view kMagicCookie = "z9hG4bK";

bool param_name_is(std::string_view params, size_t at, std::string_view name) {
  if (params.size() - at < name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(params[at + i])) != name[i]) return false;
  const size_t end = at + name.size();
  return end == params.size() || params[end] == ';' || params[end] == '=' || params[end] == ' ' ||
         params[end] == '\t';
}

// [begin, end) of the ";rport" parameter (with any value) in the top Via's
// parameters, or npos.
std::pair<size_t, size_t> find_rport(std::string_view params) {
  for (size_t semi = params.find(';'); semi != std::string_view::npos; semi = params.find(';', semi + 1)) {
    size_t name = semi + 1;
    while (name < params.size() && (params[name] == ' ' || params[name] == '\t')) ++name;
    if (!param_name_is(params, name, "rport")) continue;
    size_t end = params.find(';', name);
    return {semi, end == std::string_view::npos ? params.size() : end};
  }
  return {std::string_view::npos, std::string_view::npos};
}

void append_header(std::string& out, const sip_hdr& h) {
  out.append(h.name.p, h.name.l).append(": ").append(view(h.val)).append("\r\n");
}

// The top Via with RFC 3581's rport filled in (when the client asked for it)
// and received= added when the source differs from sent-by or rport is used.
void append_top_via(std::string& out, const sip_msg* msg, const sip_hdr& h, bool* rport) {
  out.append(h.name.p, h.name.l).append(": ");
  const std::string_view value = view(h.val);
  const std::string_view params = view(msg->via.params);
  const bool params_inside = !params.empty() && params.data() >= value.data() &&
                             params.data() + params.size() <= value.data() + value.size();
  auto [begin, end] = params_inside ? find_rport(params) : std::pair{std::string_view::npos, std::string_view::npos};
  *rport = begin != std::string_view::npos;
  if (*rport) {
    const size_t cut = static_cast<size_t>(params.data() - value.data()) + begin;
    const size_t resume = static_cast<size_t>(params.data() - value.data()) + end;
    out.append(value.substr(0, cut)).append(value.substr(resume));
    out.append(";rport=").append(std::to_string(sa_port(&msg->src)));
  } else {
    out.append(value);
  }
  if (*rport || !sa_cmp(&msg->src, &msg->via.addr, SA_ADDR)) {
    char ip[64] = {0};
    sa_ntop(&msg->src, ip, sizeof ip);
    out.append(";received=").append(ip);
  }
  out.append("\r\n");
}

}  // namespace

std::string server_tx_key(const sip_msg* msg, std::string_view method) {
  const std::string_view branch = view(msg->via.branch);
  std::string key;
  if (branch.substr(0, kMagicCookie.size()) == kMagicCookie) {
    key.reserve(branch.size() + msg->via.sentby.l + method.size() + 2);
    key.append(branch).append(1, '\x1f').append(view(msg->via.sentby)).append(1, '\x1f').append(method);
    return key;
  }
  key.append("2543\x1f").append(view(msg->callid)).append(1, '\x1f').append(view(msg->from.tag));
  key.append(1, '\x1f').append(std::to_string(msg->cseq.num)).append(1, '\x1f').append(view(msg->via.val));
  key.append(1, '\x1f').append(method);
  return key;
}

std::string format_response(const sip_msg* msg, uint16_t status, std::string_view reason, uint64_t to_tag,
                            bool record_route, std::string_view software, std::string_view tail, bool* rport) {
  std::string out;
  out.reserve(512 + tail.size());
  out.append("SIP/2.0 ").append(std::to_string(status)).append(1, ' ').append(reason).append("\r\n");
  *rport = false;
  bool top_via = true;
  for (const le* e = msg->hdrl.head; e; e = e->next) {
    const auto& h = *static_cast<const sip_hdr*>(e->data);
    switch (h.id) {
      case SIP_HDR_VIA:
        if (top_via) append_top_via(out, msg, h, rport);
        else append_header(out, h);
        top_via = false;
        break;
      case SIP_HDR_TO:
        out.append(h.name.p, h.name.l).append(": ").append(view(h.val));
        if (!pl_isset(&msg->to.tag) && status > 100) {
          char tag[24];
          std::snprintf(tag, sizeof tag, ";tag=%016llx", static_cast<unsigned long long>(to_tag));
          out.append(tag);
        }
        out.append("\r\n");
        break;
      case SIP_HDR_RECORD_ROUTE:
        if (record_route) append_header(out, h);
        break;
      case SIP_HDR_FROM:
      case SIP_HDR_CALL_ID:
      case SIP_HDR_CSEQ:
        append_header(out, h);
        break;
      default:
        break;
    }
  }
  if (!software.empty()) out.append("Server: ").append(software).append("\r\n");
  if (tail.empty()) out.append("Content-Length: 0\r\n\r\n");
  else out.append(tail);
  return out;
}

}  // namespace imserver::transport
