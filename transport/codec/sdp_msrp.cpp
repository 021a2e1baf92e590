#include "transport/codec/sdp_msrp.hpp"

#include "transport/codec/text_util.hpp"

namespace imserver::codec {

using detail::iequals;

namespace {

constexpr size_t npos = std::string_view::npos;

struct Attr {
  std::string_view name;
  std::string_view value;  // "" for property attributes (a=sendrecv)
};

struct Media {
  std::string_view media, port, proto;
  std::vector<std::string_view> fmts;
  std::vector<Attr> attrs;
};

struct Sdp {
  std::vector<std::string_view> times;  // t= values in order
  std::vector<Attr> session_attrs;
  std::vector<Media> media;
};

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < s.size()) {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
    const size_t start = pos;
    while (pos < s.size() && s[pos] != ' ' && s[pos] != '\t') ++pos;
    if (pos > start) out.push_back(s.substr(start, pos - start));
  }
  return out;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!detail::is_digit(c)) return false;
  return true;
}

// RFC 4566 §5: the description is a sequence of <type>=<value> lines, v= first. Lines end in CRLF, but LF alone
// and trailing white space are tolerated (RFC 4566 §5 asks parsers to be tolerant of LF). Control characters
// other than HTAB are refused inside a line: they are never valid in SDP and some values are echoed back.
std::optional<Sdp> parse_sdp(std::string_view text) {
  Sdp sdp;
  bool seen_v = false;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, (nl == npos ? text.size() : nl) - pos);
    pos = nl == npos ? text.size() : nl + 1;
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) continue;
    for (char c : line)
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') return std::nullopt;
    if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') return std::nullopt;
    const char type = line[0];
    const std::string_view value = line.substr(2);

    if (!seen_v) {
      if (type != 'v' || detail::trim(value) != "0") return std::nullopt;
      seen_v = true;
      continue;
    }
    switch (type) {
      case 'm': {
        // RFC 4566 §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ...
        const auto tok = split_ws(value);
        if (tok.size() < 4) return std::nullopt;
        const std::string_view port = tok[1].substr(0, tok[1].find('/'));
        if (!all_digits(port) || port.size() > 5) return std::nullopt;
        Media m;
        m.media = tok[0];
        m.port = port;
        m.proto = tok[2];
        m.fmts.assign(tok.begin() + 3, tok.end());
        sdp.media.push_back(std::move(m));
        break;
      }
      case 'a': {
        const size_t colon = value.find(':');
        Attr a{detail::trim(value.substr(0, colon)),
               colon == npos ? std::string_view() : detail::trim(value.substr(colon + 1))};
        if (sdp.media.empty()) sdp.session_attrs.push_back(a);
        else sdp.media.back().attrs.push_back(a);
        break;
      }
      case 't':
        if (sdp.media.empty()) sdp.times.push_back(detail::trim(value));
        break;
      default:
        break;  // o=, s=, c=, b=, ... carry nothing the focus needs
    }
  }
  if (!seen_v) return std::nullopt;
  return sdp;
}

std::vector<std::string_view> attr_values(const std::vector<Attr>& attrs, std::string_view name) {
  std::vector<std::string_view> out;
  for (const auto& a : attrs)
    if (iequals(a.name, name)) out.push_back(a.value);
  return out;
}

// All whitespace-separated tokens of every occurrence of the attribute.
std::vector<std::string> attr_tokens(const std::vector<Attr>& attrs, std::string_view name) {
  std::vector<std::string> out;
  for (const auto v : attr_values(attrs, name))
    for (const auto t : split_ws(v)) out.emplace_back(t);
  return out;
}

// RFC 3264 §6.1 / RFC 4566 §6: the last direction attribute of the media section wins, else the session-level
// one, else sendrecv.
std::string direction_of(const std::vector<Attr>& attrs) {
  std::string dir;
  for (const auto& a : attrs)
    for (const char* d : {"sendrecv", "sendonly", "recvonly", "inactive"})
      if (iequals(a.name, d)) dir = d;
  return dir;
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  s = detail::trim(s);
  if (!all_digits(s) || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// RFC 4975 §8.6: accept-types entries are "*", "type/*" or "type/subtype", possibly with parameters, which
// are ignored for matching (SESSIONS.md §7.1). Media types are case-insensitive (RFC 2045 §5.1).
bool covers_cpim(const std::vector<std::string>& types) {
  for (const auto& t : types) {
    const std::string base = detail::to_lower(detail::trim(std::string_view(t).substr(0, t.find(';'))));
    if (base == "message/cpim" || base == "message/*" || base == "*") return true;
  }
  return false;
}

// RFC 4975 §9: MSRP-URI = msrp-scheme "://" authority ["/" session-id] ";" transport *( ";" URI-parameter ).
// The focus needs an explicit port to connect (RFC 4975 §6 has no default port for path URIs), and the
// scheme must agree with the m-line proto: msrps <=> TCP/TLS/MSRP (RFC 4975 §8.1).
bool valid_path_uri(std::string_view uri, bool tls) {
  const std::string_view scheme = tls ? "msrps://" : "msrp://";
  if (!detail::istarts_with(uri, scheme)) return false;
  std::string_view rest = uri.substr(scheme.size());
  std::string_view authority = rest.substr(0, rest.find_first_of("/;"));
  const size_t at = authority.rfind('@');
  if (at != npos) authority.remove_prefix(at + 1);
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == npos || close + 1 >= authority.size() || authority[close + 1] != ':') return false;
    host = authority.substr(0, close + 1);
    port = authority.substr(close + 2);
    if (host.size() < 3) return false;
  } else {
    const size_t colon = authority.find(':');
    if (colon == npos) return false;
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (host.empty()) return false;
    for (char c : host)
      if (!detail::is_alnum(c) && c != '-' && c != '.' && c != '_') return false;
  }
  const auto p = parse_u64(port);
  return p && *p >= 1 && *p <= 65535;
}

bool valid_session_id(std::string_view s) {
  if (s.size() < 16) return false;
  for (char c : s)
    if (!detail::is_alnum(c)) return false;
  return true;
}

MsrpAnswer fail(const MsrpAnswerConfig& cfg, int code, std::string_view text, MsrpLeg leg = {}) {
  // RFC 3261 §20.43: warn-code SP warn-agent SP warn-text (quoted).
  MsrpAnswer a;
  a.status = 488;
  a.warning = std::to_string(code) + " " + cfg.warn_agent + " \"" + std::string(text) + "\"";
  a.leg = std::move(leg);
  return a;
}

// The focus's own address: IPv6 literals are bare in c=/o= (RFC 4566 §5.7) and bracketed in URIs.
struct FocusAddress {
  std::string uri_host;  // for a=path
  std::string addr;      // "IN IP4 host" for c= and o=
};
FocusAddress focus_address(const MsrpAnswerConfig& cfg) {
  std::string host = cfg.msrp_host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const bool ip6 = host.find(':') != std::string::npos;
  return {ip6 ? "[" + host + "]" : host, std::string(ip6 ? "IN IP6 " : "IN IP4 ") + host};
}

}  // namespace

std::string msrp_focus_path(const MsrpAnswerConfig& cfg, std::string_view session_id, bool tls) {
  return std::string(tls ? "msrps://" : "msrp://") + focus_address(cfg).uri_host + ":" +
         std::to_string(cfg.msrp_port) + "/" + std::string(session_id) + ";tcp";
}

MsrpAnswer answer_msrp_offer(std::string_view offer, const MsrpAnswerConfig& cfg, std::string_view session_id,
                             uint64_t sess_id, uint64_t sess_version) {
  if (!valid_session_id(session_id)) {
    // Caller error, not the offerer's: the id goes into a=path and must be safe there (RFC 4975 §14.1).
    MsrpAnswer a;
    a.status = 500;
    return a;
  }

  const auto sdp = parse_sdp(offer);
  if (!sdp) return fail(cfg, 399, "Malformed SDP");

  // §7.1: the first m=message line with fmt "*" and an MSRP proto we serve is the chat stream. A port of 0 marks
  // a stream the offerer has disabled (RFC 3264 §5.1), so it is never picked.
  std::optional<size_t> chat;
  bool tls_stream = false;
  bool bad_transport = false;
  for (size_t i = 0; i < sdp->media.size() && !chat; ++i) {
    const Media& m = sdp->media[i];
    if (!iequals(m.media, "message") || m.port.find_first_not_of('0') == npos) continue;
    const bool plain = iequals(m.proto, "TCP/MSRP");
    const bool tls = iequals(m.proto, "TCP/TLS/MSRP");
    if (plain || (tls && cfg.tls_enabled)) {
      if (m.fmts.size() == 1 && m.fmts[0] == "*") {
        chat = i;
        tls_stream = tls;
      }
    } else if (tls || !detail::istarts_with(m.proto, "TCP/")) {
      bad_transport = true;  // RFC 3261 §20.43 code 302
    }
  }
  if (!chat) {
    if (bad_transport) return fail(cfg, 302, "Incompatible transport protocol");
    return fail(cfg, 304, "Media type not available");
  }

  const Media& m = sdp->media[*chat];
  MsrpLeg leg;

  // a=accept-types is mandatory (RFC 4975 §8.6) and must admit message/cpim (RFC 7701 §5.2).
  leg.accept_types = attr_tokens(m.attrs, "accept-types");
  if (!covers_cpim(leg.accept_types)) return fail(cfg, 305, "Incompatible media format", std::move(leg));
  leg.accept_wrapped_types = attr_tokens(m.attrs, "accept-wrapped-types");

  // a=path is mandatory; the whole list is the remote path (RFC 4975 §8.2).
  leg.remote_path = attr_tokens(m.attrs, "path");
  bool path_ok = !leg.remote_path.empty();
  for (const auto& uri : leg.remote_path)
    if (!valid_path_uri(uri, tls_stream)) path_ok = false;
  if (!path_ok) return fail(cfg, 399, "Bad or missing a=path", std::move(leg));

  // a=setup (RFC 6135 §4.2.1, RFC 4145 §4): media level, else session level. holdconn and unknown values are
  // treated as absent.
  auto setup_values = attr_values(m.attrs, "setup");
  if (setup_values.empty()) setup_values = attr_values(sdp->session_attrs, "setup");
  if (!setup_values.empty()) {
    const std::string s = detail::to_lower(setup_values.front());
    if (s == "actpass" || s == "active" || s == "passive") leg.offer_setup = s;
  }
  // §7.3: we are passive unless the offerer insists on being passive (then we connect, RFC 6135 §4.2.2), or
  // configuration tells us to take the active role for actpass.
  if (leg.offer_setup == "passive" || (leg.offer_setup == "actpass" && !cfg.answer_passive_for_actpass))
    leg.answer_setup = "active";
  else
    leg.answer_setup = "passive";

  leg.offer_direction = direction_of(m.attrs);
  if (leg.offer_direction.empty()) leg.offer_direction = direction_of(sdp->session_attrs);
  if (leg.offer_direction.empty()) leg.offer_direction = "sendrecv";
  // RFC 3264 §6.1: the answer mirrors a one-way offer.
  if (leg.offer_direction == "sendonly") leg.answer_direction = "recvonly";
  else if (leg.offer_direction == "recvonly") leg.answer_direction = "sendonly";
  else leg.answer_direction = leg.offer_direction;

  const auto max_sizes = attr_values(m.attrs, "max-size");
  if (!max_sizes.empty()) leg.max_size = parse_u64(max_sizes.front());

  // RFC 7701 §8: a=chatroom marks a chat-room aware endpoint; the private-messages token allows them.
  for (const auto& a : m.attrs) {
    if (!iequals(a.name, "chatroom")) continue;
    leg.chatroom = true;
    for (const auto t : split_ws(a.value))
      if (iequals(t, "private-messages")) leg.private_messages = true;
  }

  const FocusAddress focus = focus_address(cfg);
  const std::string& addr = focus.addr;
  const std::string proto = tls_stream ? "TCP/TLS/MSRP" : "TCP/MSRP";
  leg.local_path = msrp_focus_path(cfg, session_id, tls_stream);

  // §7.2 template. The active side advertises the discard port 9 (RFC 6135 §4.2.2, RFC 4145 §4).
  std::string out;
  auto line = [&out](std::string_view l) {
    out.append(l);
    out.append("\r\n");
  };
  line("v=0");
  line("o=- " + std::to_string(sess_id) + " " + std::to_string(sess_version) + " " + addr);
  line("s=-");
  line("c=" + addr);
  // RFC 3264 §6: the t= line(s) of the answer equal the offer's.
  if (sdp->times.empty()) line("t=0 0");
  for (const auto t : sdp->times) line("t=" + std::string(t));
  // RFC 3264 §6: one m-line per offered m-line, same order; streams we do not take get port 0.
  for (size_t i = 0; i < sdp->media.size(); ++i) {
    const Media& om = sdp->media[i];
    if (i != *chat) {
      std::string rejected = "m=" + std::string(om.media) + " 0 " + std::string(om.proto);
      for (const auto f : om.fmts) rejected += " " + std::string(f);
      line(rejected);
      continue;
    }
    const uint16_t port = leg.answer_setup == "active" ? 9 : cfg.msrp_port;
    line("m=message " + std::to_string(port) + " " + proto + " *");
    line("a=accept-types:message/cpim");  // exactly this value (RFC 7701 §5.2)
    line("a=accept-wrapped-types:" + cfg.accept_wrapped_types);
    line("a=path:" + leg.local_path);
    line("a=setup:" + leg.answer_setup);  // always present (RFC 6135 §4.2.1)
    if (cfg.max_size_attribute) line("a=max-size:" + std::to_string(cfg.max_message_size));
    line("a=chatroom:private-messages");
    line("a=" + leg.answer_direction);
  }

  MsrpAnswer a;
  a.ok = true;
  a.status = 200;
  a.sdp = std::move(out);
  a.leg = std::move(leg);
  return a;
}

std::string make_msrp_offer(const MsrpAnswerConfig& cfg, std::string_view session_id, uint64_t sess_id,
                            uint64_t sess_version) {
  if (!valid_session_id(session_id)) return {};
  const FocusAddress focus = focus_address(cfg);
  const std::string& uri_host = focus.uri_host;
  const std::string& addr = focus.addr;
  std::string out;
  auto line = [&out](std::string_view l) {
    out.append(l);
    out.append("\r\n");
  };
  line("v=0");
  line("o=- " + std::to_string(sess_id) + " " + std::to_string(sess_version) + " " + addr);
  line("s=-");
  line("c=" + addr);
  line("t=0 0");
  line("m=message " + std::to_string(cfg.msrp_port) + " TCP/MSRP *");
  line("a=accept-types:message/cpim");
  line("a=accept-wrapped-types:" + cfg.accept_wrapped_types);
  line("a=path:msrp://" + uri_host + ":" + std::to_string(cfg.msrp_port) + "/" + std::string(session_id) + ";tcp");
  // RFC 6135 §4.2.2: an offerer that can be reached offers actpass; RCS
  // clients answer active and connect themselves.
  line("a=setup:actpass");
  if (cfg.max_size_attribute) line("a=max-size:" + std::to_string(cfg.max_message_size));
  line("a=chatroom:private-messages");
  line("a=sendrecv");
  return out;
}

MsrpAnswer read_msrp_answer(std::string_view answer, const MsrpAnswerConfig& cfg, std::string_view session_id) {
  // An answer has the shape of an offer as far as the focus cares (one MSRP
  // stream, its types, path, setup and direction), so the offer checks apply
  // as they are; only the roles differ.
  MsrpAnswerConfig plain = cfg;
  plain.answer_passive_for_actpass = true;
  MsrpAnswer a = answer_msrp_offer(answer, plain, session_id, 0, 0);
  a.sdp.clear();
  if (!a.ok) return a;
  // §7.3: an active answerer connects; a passive one, or one that says
  // nothing (the RFC 4975 model: the offerer connects), waits for the focus.
  a.leg.answer_setup = a.leg.offer_setup == "active" ? "passive" : "active";
  return a;
}

}  // namespace imserver::codec
