#include "transport/msrp/msrp_switch.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "transport/codec/cpim.hpp"
#include "transport/codec/sip_uri.hpp"

namespace imserver::transport {

namespace msrp = codec::msrp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A media type without parameters, lower-cased: "Message/CPIM; x=1" -> "message/cpim".
std::string bare_type(std::string_view value) {
  std::string t = lower(value.substr(0, value.find(';')));
  t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }), t.end());
  return t;
}

// RFC 4975 §8.6 wildcards: "*" covers everything, "type/*" a whole type.
bool covers(const std::vector<std::string>& list, const std::string& type) {
  for (const auto& entry : list) {
    const std::string e = bare_type(entry);
    if (e == "*" || e == type) return true;
    if (e.size() > 2 && e.compare(e.size() - 2, 2, "/*") == 0 && type.compare(0, e.size() - 1, e, 0, e.size() - 1) == 0)
      return true;
  }
  return false;
}

// The session-id of an MSRP URI: msrp://host:port/<session-id>;tcp.
std::string session_id_of(std::string_view uri) {
  const size_t scheme = uri.find("://");
  if (scheme == std::string_view::npos) return {};
  const size_t slash = uri.find('/', scheme + 3);
  if (slash == std::string_view::npos) return {};
  const size_t semi = uri.find(';', slash);
  return std::string(uri.substr(slash + 1, semi == std::string_view::npos ? std::string_view::npos : semi - slash - 1));
}

// RFC 4975 §6.1: scheme, authority and transport compare case-insensitively,
// the session-id exactly.
bool same_msrp_uri(std::string_view a, std::string_view b) {
  auto split = [](std::string_view u) {
    const size_t scheme = u.find("://");
    const size_t slash = scheme == std::string_view::npos ? std::string_view::npos : u.find('/', scheme + 3);
    if (slash == std::string_view::npos) return std::make_pair(lower(u), std::string());
    const size_t semi = u.find(';', slash);
    std::string head = lower(u.substr(0, slash));
    std::string id(u.substr(slash + 1, semi == std::string_view::npos ? std::string_view::npos : semi - slash - 1));
    std::string params = semi == std::string_view::npos ? std::string() : lower(u.substr(semi));
    return std::make_pair(head + params, id);
  };
  return split(a) == split(b);
}

// An identity in a CPIM header, comparable with a canonical AoR: im: and
// sip: on the same user@host are the same user (SESSIONS.md §8.3 10b).
std::string identity_key(const std::string& header_value) {
  std::string uri = codec::cpim::header_uri(header_value);
  if (uri.size() > 3 && lower(uri.substr(0, 3)) == "im:") uri = "sip:" + uri.substr(3);
  auto parsed = codec::parse_uri(uri);
  return parsed ? codec::canonical_aor(*parsed) : lower(uri);
}

void append_hex16(std::string& out, uint64_t v) {
  static const char kHex[] = "0123456789abcdef";
  char buf[16];
  for (int i = 15; i >= 0; --i, v >>= 4) buf[i] = kHex[v & 15];
  out.append(buf, 16);
}

// The number behind the first 16 hex digits we wrote; nullopt for anything
// we did not write.
std::optional<uint64_t> leading_hex16(std::string_view text) {
  if (text.size() < 16) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < 16; ++i) {
    const char c = text[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

std::string join_path(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& p : path) {
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

// The ends of a path joined by join_path (URIs hold no spaces).
std::string_view first_uri(std::string_view joined) { return joined.substr(0, joined.find(' ')); }
std::string_view last_uri(std::string_view joined) {
  const size_t space = joined.rfind(' ');
  return space == std::string_view::npos ? joined : joined.substr(space + 1);
}

// Where to connect for a connect_out leg: host and port of an MSRP URI
// (RFC 4975 §6: msrp://[userinfo@]host:port/session-id;transport). Only the
// msrp scheme: the worker has no TLS client, so an msrps path cannot be
// served as the active side. The port must be explicit (a=path without one
// is refused at the SDP stage, SESSIONS.md §7.1).
bool connect_target(std::string_view uri, std::string* host, uint16_t* port) {
  const size_t scheme = uri.find("://");
  if (scheme == std::string_view::npos || lower(uri.substr(0, scheme)) != "msrp") return false;
  const size_t start = scheme + 3;
  const size_t slash = uri.find('/', start);
  if (slash == std::string_view::npos) return false;
  std::string_view authority = uri.substr(start, slash - start);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  size_t colon;
  if (!authority.empty() && authority.front() == '[') {  // IPv6 reference
    const size_t close = authority.find(']');
    if (close == std::string_view::npos || close + 1 >= authority.size() || authority[close + 1] != ':') return false;
    *host = std::string(authority.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = authority.rfind(':');
    if (colon == std::string_view::npos) return false;
    *host = std::string(authority.substr(0, colon));
  }
  const std::string_view digits = authority.substr(colon + 1);
  if (host->empty() || digits.empty() || digits.size() > 5) return false;
  uint32_t value = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace

MsrpSwitch::MsrpSwitch(MsrpSwitchConfig config, ConnectionIo& io) : config_(std::move(config)), io_(io) {
  id_state_ ^= config_.seed;
}

uint64_t MsrpSwitch::random64() {
  // splitmix64: cheap and well mixed; the seed comes from the worker's
  // random_device, so ids are not guessable from outside.
  uint64_t z = (id_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string MsrpSwitch::new_id(size_t hex_chars) {
  std::string out;
  while (out.size() < hex_chars) append_hex16(out, random64());
  out.resize(hex_chars);
  return out;
}

MsrpSwitch::Leg* MsrpSwitch::leg_by_serial(uint64_t serial) {
  auto it = leg_of_serial_.find(serial);
  return it == leg_of_serial_.end() ? nullptr : it->second;
}

void MsrpSwitch::add_pending(Leg& leg, uint64_t tid, PendingCopy pending) {
  if (!pending_order_.empty() && pending.sent_ms < pending_order_.back().first) pending_order_sorted_ = false;
  pending_order_.emplace_back(pending.sent_ms, tid);
  pending_[tid] = pending;
  leg.pending_tids.push_back(tid);
}

void MsrpSwitch::set_congested(Leg& leg, bool congested, int64_t now_ms) {
  leg.congested = congested;
  if (congested) {
    leg.congested_since = now_ms;
    congested_.insert(leg.serial);
  } else {
    congested_.erase(leg.serial);
  }
}

// That message is over for this leg (§8.7: 413/415, 400/403); the rest of
// its chunks stay home.
void MsrpSwitch::drop_copy(Leg& leg, uint64_t copy_id) {
  auto q = std::find_if(leg.queue.begin(), leg.queue.end(), [&](const Copy& c) { return c.id == copy_id; });
  if (q == leg.queue.end()) return;
  leg.queued_bytes -= q->body->size();
  leg.queue.erase(q);
}

// ------------------------------------------------------------------ legs

void MsrpSwitch::add_leg(MsrpLeg info, int64_t now_ms) {
  const std::string id = info.leg_id;
  if (id.empty() || legs_.count(id)) return;
  Leg leg;
  leg.group = shared_.acquire(std::move(info.group));
  leg.owner = shared_.acquire(std::move(info.owner));
  info.group.clear();
  info.owner.clear();
  // Every check looks at the AoR before the aliases: a copy of it among them is dead weight.
  info.aliases.erase(std::remove(info.aliases.begin(), info.aliases.end(), info.aor), info.aliases.end());
  if (info.aliases.empty()) info.aliases = {};
  leg.info = std::move(info);
  leg.serial = next_serial_++;
  // Kept joined only (the To-Path of every copy); the vector would be a
  // second copy of the same URIs.
  leg.remote_path_joined = join_path(leg.info.remote_path);
  leg.info.remote_path = {};
  // Re-keyed to view the id inside the node, which never moves.
  auto node = legs_.extract(legs_.emplace(id, std::move(leg)).first);
  node.key() = node.mapped().info.leg_id;
  Leg& added = legs_.insert(std::move(node)).position->second;
  groups_[*added.group].emplace(added.serial, &added);
  dialogs_[added.info.dialog].push_back(added.serial);
  leg_of_serial_.emplace(added.serial, &added);
  if (added.info.connect_out) connect_out(added, now_ms);
}

void MsrpSwitch::connect_out(Leg& leg, int64_t now_ms) {
  std::string host;
  uint16_t port = 0;
  if (leg.remote_path_joined.empty() || !connect_target(first_uri(leg.remote_path_joined), &host, &port))
    return fail(leg.info.leg_id, "MSRP failure");
  // §8.2: outgoing connections are reused for the same host and port (the
  // scheme is always msrp here), e.g. several legs behind one relay or
  // Participating Function; accepted ones are not, their peer's listening
  // address is unknown.
  const std::string target = lower(host) + ":" + std::to_string(port);
  ConnId conn = 0;
  if (auto out = outgoing_.find(target); out != outgoing_.end()) {
    conn = out->second;
  } else {
    conn = io_.connect(host, port);
    if (conn == 0 || conns_.count(conn)) return fail(leg.info.leg_id, "MSRP failure");
    Connection& c = conns_.try_emplace(conn, static_cast<size_t>(config_.max_message_size) + 16384).first->second;
    c.opened_ms = now_ms;  // the connect attempt is timed from here (on_tick)
    c.target = target;
    c.connecting = true;
    connecting_.insert(conn);
    outgoing_.emplace(target, conn);
  }
  // Bound at once, not when the peer answers: copies for the leg queue for
  // this connection and no participant connection can take the leg (506).
  Connection& c = conns_.at(conn);
  leg.conn = conn;
  c.legs.push_back(leg.info.leg_id);
  if (c.connecting) return;  // on_connected sends the binding SEND
  send_binding(leg, conn, now_ms);
  pump(conn, now_ms);
}

// The active side's first request on the leg (RFC 4975 §5.4, §7.1.1;
// RFC 6135 §4.2.2): bodiless, so no Content-Type and no body section, with
// the whole remote path in To-Path (relays in it forward it, §8.2).
void MsrpSwitch::send_binding(Leg& leg, ConnId conn, int64_t now_ms) {
  const uint64_t tid = random64();
  msrp::Frame f;
  f.is_request = true;
  append_hex16(f.tid, tid);
  f.method = "SEND";
  f.headers = {{"To-Path", leg.remote_path_joined},
               {"From-Path", leg.info.local_uri},
               {"Message-ID", new_id(32)},
               {"Byte-Range", "1-0/0"}};
  io_.write(conn, msrp::serialize(f));
  // Its response is awaited like a copy's: on_response fails the leg on a
  // non-2xx, on_tick after the response timeout.
  add_pending(leg, tid, PendingCopy{leg.serial, 0, now_ms, true});
}

void MsrpSwitch::release_leg(const std::string& leg_id) {
  auto it = legs_.find(leg_id);
  if (it == legs_.end()) return;
  Leg& leg = it->second;
  if (auto g = groups_.find(*leg.group); g != groups_.end()) {
    g->second.erase(leg.serial);
    if (g->second.empty()) groups_.erase(g);
  }
  if (auto d = dialogs_.find(leg.info.dialog); d != dialogs_.end()) {
    auto& serials = d->second;
    serials.erase(std::remove(serials.begin(), serials.end(), leg.serial), serials.end());
    if (serials.empty()) dialogs_.erase(d);
  }
  // Only this leg's transactions; their pending_order_ entries go stale.
  // The serial check keeps another leg's entry should a tid ever repeat.
  for (const uint64_t tid : leg.pending_tids) {
    auto p = pending_.find(tid);
    if (p != pending_.end() && p->second.leg_serial == leg.serial) pending_.erase(p);
  }
  congested_.erase(leg.serial);
  leg_of_serial_.erase(leg.serial);
  shared_.release(leg.group);
  shared_.release(leg.owner);
  const ConnId conn = leg.conn;
  const std::string id = leg_id;  // `leg_id` may be the leg's own id, gone with it
  legs_.erase(it);
  if (!conn) return;
  auto c = conns_.find(conn);
  if (c == conns_.end()) return;
  auto& bound = c->second.legs;
  bound.erase(std::remove(bound.begin(), bound.end(), id), bound.end());
  // PROTOCOL.md §1.7: the connection goes when no other leg uses it.
  if (bound.empty()) drop_connection(conn, true);
}

void MsrpSwitch::release_dialog(uint64_t dialog) {
  auto d = dialogs_.find(dialog);
  if (d == dialogs_.end()) return;
  const std::vector<uint64_t> serials = d->second;  // release_leg edits the index
  for (const uint64_t serial : serials)
    if (Leg* leg = leg_by_serial(serial)) release_leg(leg->info.leg_id);
}

void MsrpSwitch::fail(const std::string& leg_id, const char* reason) {
  auto it = legs_.find(leg_id);
  if (it == legs_.end()) return;
  MsrpLegFailed event{*it->second.owner, it->second.info.dialog, leg_id, reason};
  release_leg(leg_id);
  io_.leg_failed(std::move(event));
}

// ----------------------------------------------------------- connections

void MsrpSwitch::on_connection(ConnId conn, int64_t now_ms) {
  auto [it, fresh] = conns_.try_emplace(conn, static_cast<size_t>(config_.max_message_size) + 16384);
  if (!fresh) return;
  it->second.opened_ms = now_ms;
  unbound_.insert(conn);
}

void MsrpSwitch::on_closed(ConnId conn) { drop_connection(conn, false); }

void MsrpSwitch::on_connected(ConnId conn, int64_t now_ms) {
  auto c = conns_.find(conn);
  if (c == conns_.end() || !c->second.connecting) return;
  c->second.connecting = false;
  connecting_.erase(conn);
  // Each leg's binding SEND goes first, then whatever copies queued while
  // connecting, without waiting for the binding's 200: the peer reads the
  // connection in order, so it has bound the session before it sees the
  // first copy (MSRP does not need a transaction to finish before the next
  // one starts), and waiting would only add a round trip to every dial-out
  // join. Should the peer refuse the binding, the copies sent meanwhile are
  // refused as well and the leg fails on the first of those answers, which
  // is what would happen to them anyway.
  for (const auto& id : c->second.legs) send_binding(legs_.at(id), conn, now_ms);
  pump(conn, now_ms);
}

void MsrpSwitch::on_connect_failed(ConnId conn) {
  auto c = conns_.find(conn);
  if (c == conns_.end()) return;
  // Every leg that was waiting for it fails (§7.3: a connection failure
  // fails every session on it); the I/O has dropped the socket already.
  const std::vector<std::string> waiting = c->second.legs;
  drop_connection(conn, false);
  for (const auto& id : waiting) fail(id, "MSRP failure");
}

void MsrpSwitch::drop_connection(ConnId conn, bool close) {
  auto c = conns_.find(conn);
  if (c == conns_.end()) return;
  // Its legs stay registered but unbound: the participant may connect again
  // and bind anew; copies wait in the (bounded) queues meanwhile.
  for (const auto& id : c->second.legs) {
    auto l = legs_.find(id);
    if (l != legs_.end() && l->second.conn == conn) l->second.conn = 0;
  }
  if (!c->second.target.empty()) {
    auto out = outgoing_.find(c->second.target);
    if (out != outgoing_.end() && out->second == conn) outgoing_.erase(out);
  }
  conns_.erase(c);
  connecting_.erase(conn);
  unbound_.erase(conn);
  if (close) io_.close(conn);
}

void MsrpSwitch::on_bytes(ConnId conn, std::string_view bytes, int64_t now_ms) {
  auto c = conns_.find(conn);
  if (c == conns_.end()) return;
  c->second.parser.feed(bytes);
  for (;;) {
    c = conns_.find(conn);  // handling a frame may have closed it
    if (c == conns_.end()) return;
    auto frame = c->second.parser.next();
    if (!frame) {
      // §8.3 step 1: broken framing closes the connection.
      if (c->second.parser.broken()) drop_connection(conn, true);
      return;
    }
    on_frame(conn, *frame, now_ms);
  }
}

void MsrpSwitch::on_writable(ConnId conn, int64_t now_ms) { pump(conn, now_ms); }

// ------------------------------------------------------------- requests

void MsrpSwitch::answer(ConnId conn, const Leg& leg, const msrp::Frame& request, uint16_t status,
                        const char* comment) {
  // §8.3 R: Failure-Report "no" never gets a response, "partial" only errors.
  if (const auto* fr = request.header("Failure-Report")) {
    const std::string v = lower(*fr);
    if (v == "no" || (v == "partial" && status == 200)) return;
  }
  io_.write(conn, msrp::serialize(msrp::make_response(request, status, comment, leg.info.local_uri)));
}

void MsrpSwitch::on_frame(ConnId conn, msrp::Frame& frame, int64_t now_ms) {
  if (!frame.is_request) return on_response(frame, now_ms);
  const bool is_report = frame.method == "REPORT";  // never answered (RFC 4975 §7.1.2)
  const auto to = frame.to_path();
  auto refuse_unbound = [&](uint16_t status, const char* comment) {
    if (is_report) return;
    if (const auto* fr = frame.header("Failure-Report"); fr && lower(*fr) == "no") return;
    io_.write(conn, msrp::serialize(msrp::make_response(frame, status, comment, to.empty() ? "" : to.front())));
  };
  // §8.2: one URI naming a live leg (a relay in front would add more).
  if (to.size() != 1) return refuse_unbound(481, "No Such Session");
  auto it = legs_.find(session_id_of(to.front()));
  if (it == legs_.end() || !same_msrp_uri(to.front(), it->second.info.local_uri))
    return refuse_unbound(481, "No Such Session");
  Leg& leg = it->second;
  if (leg.conn != conn) {
    if (leg.conn != 0) return refuse_unbound(506, "Session Already Bound");
    const auto from = frame.from_path();
    if (from.empty() || leg.remote_path_joined.empty() || !same_msrp_uri(from.back(), last_uri(leg.remote_path_joined)))
      return refuse_unbound(481, "From-Path Does Not Match");
    leg.conn = conn;
    conns_.at(conn).legs.push_back(leg.info.leg_id);
  }
  if (is_report) return on_report(leg, frame);
  if (frame.method == "SEND") {
    on_send(conn, leg, frame, now_ms);
    pump(conn, now_ms);  // copies that waited for this leg to bind
    return;
  }
  // §8.3 step 3: NICKNAME is not offered (msrp.nicknames=false).
  if (frame.method == "NICKNAME") return answer(conn, leg, frame, 403, "Forbidden");
  answer(conn, leg, frame, 501, "Not Implemented");
}

void MsrpSwitch::on_send(ConnId conn, Leg& leg, msrp::Frame& f, int64_t now_ms) {
  // §8.3 step 4.
  const std::string* message_id = f.header("Message-ID");
  if (!message_id || message_id->empty()) return answer(conn, leg, f, 400, "Missing Message-ID");
  const std::string mid = *message_id;
  msrp::ByteRange range;
  if (const auto* br = f.header("Byte-Range")) {
    auto parsed = msrp::parse_byte_range(*br);
    if (!parsed) return answer(conn, leg, f, 400, "Bad Byte-Range");
    range = *parsed;
  } else {
    range.end = f.body.size();
    if (f.flag == msrp::EndFlag::Complete) range.total = f.body.size();
  }
  bool success_report = false;
  if (const auto* sr = f.header("Success-Report")) {
    const std::string v = lower(*sr);
    if (v != "yes" && v != "no") return answer(conn, leg, f, 400, "Bad Success-Report");
    success_report = v == "yes";
  }
  bool failure_report = true;
  if (const auto* fr = f.header("Failure-Report")) {
    const std::string v = lower(*fr);
    if (v != "yes" && v != "no" && v != "partial") return answer(conn, leg, f, 400, "Bad Failure-Report");
    failure_report = v != "no";
  }
  const std::string* content_type = f.header("Content-Type");
  if (!f.body.empty() && !content_type) return answer(conn, leg, f, 400, "Body Without Content-Type");

  if (f.flag == msrp::EndFlag::Abort) {  // §8.4: drop what was received
    leg.inbound.erase(mid);
    return answer(conn, leg, f, 200, "OK");
  }
  // Step 5: binding and keep-alive SENDs.
  if (f.body.empty()) return answer(conn, leg, f, 200, "OK");
  // Step 6: the participant's SDP said it only receives.
  if (!leg.info.may_send) return answer(conn, leg, f, 403, "Receive-Only Participant");
  // Step 7: a message this leg already completed is acknowledged again, not relayed again.
  if (seen_recently(leg, mid)) {
    answer(conn, leg, f, 200, "OK");
    if (success_report) report(leg, f.from_path(), mid, range.total.value_or(f.body.size()), 200, "OK");
    return;
  }
  // Step 8.
  if (bare_type(*content_type) != "message/cpim") return answer(conn, leg, f, 415, "Unsupported Media Type");
  // Step 9: a refused message stays refused, chunk after chunk.
  const uint64_t limit = config_.max_message_size;
  auto too_large = [&] {
    leg.inbound.erase(mid);
    leg.refused_ids.insert(mid);
    answer(conn, leg, f, 413, "Message Too Large");
  };
  if (leg.refused_ids.count(mid)) return answer(conn, leg, f, 413, "Message Too Large");
  if (range.total && *range.total > limit) return too_large();
  const uint64_t start = range.start;
  const uint64_t end = start + f.body.size() - 1;  // the body decides the real length
  if (start == 0 || end > limit) return too_large();
  auto in_it = leg.inbound.find(mid);
  if (in_it == leg.inbound.end()) {
    if (leg.inbound.size() >= config_.max_inflight_per_leg) return answer(conn, leg, f, 413, "Too Many Messages");
    in_it = leg.inbound.emplace(mid, Inbound{}).first;
    if (!leg.listed_inbound) {  // for the chunk timeout (on_tick)
      leg.listed_inbound = true;
      inbound_legs_.push_back(leg.serial);
    }
    in_it->second.success_report = success_report;
    in_it->second.failure_report = failure_report;
    in_it->second.from_path = f.from_path();
  }
  Inbound& in = in_it->second;
  in.last_chunk_ms = now_ms;
  if (in.data.size() < end) in.data.resize(end);
  in.data.replace(start - 1, f.body.size(), f.body);  // overlaps take the last chunk's bytes
  in.ranges.emplace_back(start, end);
  std::sort(in.ranges.begin(), in.ranges.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (const auto& r : in.ranges) {
    if (!merged.empty() && r.first <= merged.back().second + 1) merged.back().second = std::max(merged.back().second, r.second);
    else merged.push_back(r);
  }
  in.ranges = std::move(merged);
  if (range.total) in.total = range.total;
  else if (f.flag == msrp::EndFlag::Complete) in.total = end;
  uint64_t received = 0;
  for (const auto& r : in.ranges) received += r.second - r.first + 1;
  if (received > limit || (in.total && *in.total > limit)) return too_large();

  // Step 10 as soon as the CPIM headers are in (they may span chunks). The
  // recipients found then are used when the message completes in the same
  // chunk (the usual case); a message completed later is routed again,
  // against the roster of that moment.
  const bool have_prefix = !in.ranges.empty() && in.ranges.front().first == 1;
  const bool complete = in.total && in.ranges.size() == 1 && in.ranges.front().first == 1 &&
                        in.ranges.front().second == *in.total;
  std::optional<std::vector<std::string>> recipients;
  if (!in.checked && have_prefix) {
    const std::string_view prefix(in.data.data(), in.ranges.front().second);
    const auto parsed = codec::cpim::parse_cpim(prefix);
    if (parsed.status != codec::cpim::CpimStatus::Incomplete || complete) {
      const char* comment = "";
      recipients.emplace();
      const uint16_t refusal = route(leg, parsed, prefix.size(), &*recipients, &comment);
      if (refusal) {
        const bool earlier_chunks_accepted = received > f.body.size();
        const auto from_path = in.from_path;
        const bool wants_failure = in.failure_report;
        leg.inbound.erase(mid);
        leg.refused_ids.insert(mid);
        answer(conn, leg, f, refusal, comment);
        if (earlier_chunks_accepted && wants_failure) report(leg, from_path, mid, received, refusal, comment);
        return;
      }
      in.checked = true;
    }
  }
  answer(conn, leg, f, 200, "OK");
  if (!complete) return;

  // Step 12: accepted by the switch (not "delivered to everyone").
  auto message = std::make_shared<const std::string>(std::move(in.data));
  const bool wants_success = in.success_report;
  const auto from_path = in.from_path;
  leg.inbound.erase(mid);
  remember(leg, mid);
  ++stats_.messages_in;
  if (wants_success) report(leg, from_path, mid, message->size(), 200, "OK");
  if (!recipients) {
    const char* comment = "";
    recipients.emplace();
    if (route(leg, codec::cpim::parse_cpim(*message), message->size(), &*recipients, &comment) != 0) return;
  }
  fan_out(std::move(message), *recipients, now_ms);
}

void MsrpSwitch::remember(Leg& leg, const std::string& message_id) {
  if (config_.dedupe_window == 0) return;
  // The ring fills up to the window, then the oldest slot is overwritten.
  const uint64_t hash = std::hash<std::string>{}(message_id);
  if (leg.recent_hashes.size() < config_.dedupe_window) {
    if (leg.recent_hashes.empty()) leg.recent_hashes.reserve(config_.dedupe_window);
    leg.recent_hashes.push_back(hash);
    return;
  }
  leg.recent_hashes[leg.recent_next] = hash;
  leg.recent_next = (leg.recent_next + 1) % leg.recent_hashes.size();
}

bool MsrpSwitch::seen_recently(const Leg& leg, const std::string& message_id) const {
  if (leg.recent_hashes.empty()) return false;
  const uint64_t hash = std::hash<std::string>{}(message_id);
  return std::find(leg.recent_hashes.begin(), leg.recent_hashes.end(), hash) != leg.recent_hashes.end();
}

void MsrpSwitch::report(const Leg& leg, const std::vector<std::string>& to_path, const std::string& message_id,
                        uint64_t total, uint16_t status, const char* comment) {
  if (!leg.conn || to_path.empty()) return;
  msrp::Frame r;
  r.is_request = true;
  r.tid = new_id(16);
  r.method = "REPORT";
  r.headers = {{"To-Path", join_path(to_path)},
               {"From-Path", leg.info.local_uri},
               {"Message-ID", message_id},
               {"Byte-Range", "1-" + std::to_string(total) + "/" + std::to_string(total)},
               {"Status", "000 " + std::to_string(status) + " " + comment}};
  io_.write(leg.conn, msrp::serialize(r));
}

// ---------------------------------------------------------------- routing

uint16_t MsrpSwitch::route(const Leg& from, const codec::cpim::CpimParse& parsed, uint64_t size,
                           std::vector<std::string>* recipients, const char** comment) const {
  *comment = "Bad CPIM Message";
  if (parsed.status == codec::cpim::CpimStatus::Malformed) return 400;
  const auto froms = parsed.message.all("From");
  const auto tos = parsed.message.all("To");
  if (froms.empty() || tos.empty()) return 400;  // 10a
  if (config_.cpim_from_check) {                 // 10b
    const std::string sender = identity_key(froms.front());
    const bool own = sender == from.info.aor ||
                     std::find(from.info.aliases.begin(), from.info.aliases.end(), sender) != from.info.aliases.end();
    if (!own) {
      *comment = "From Is Not The Sender";
      return 403;
    }
  }
  if (tos.size() != 1) {  // 10c
    *comment = "Exactly One To Allowed";
    return 403;
  }
  const std::string to = identity_key(tos.front());
  const std::string wrapped = bare_type(parsed.message.content_type());
  auto group = groups_.find(*from.group);
  if (group == groups_.end()) return 0;
  auto accepts = [&](const Leg& l) {
    const auto& list = l.info.accept_wrapped_types.empty() ? l.info.accept_types : l.info.accept_wrapped_types;
    return l.info.may_receive && (wrapped.empty() || covers(list, wrapped)) && (!l.info.max_size || size <= *l.info.max_size);
  };

  // 10d: the session (or the RCS anonymous group address) means everyone.
  const bool anonymous = to == "sip:anonymous@anonymous.invalid";
  if (to == identity_key(*from.group) || (anonymous && config_.anonymous_to_is_group)) {
    for (const auto& [serial, l] : group->second) {
      if (serial == from.serial) continue;
      if (accepts(*l)) recipients->push_back(l->info.leg_id);
    }
    return 0;
  }
  std::vector<const Leg*> target;
  for (const auto& [serial, l] : group->second) {
    if (l->info.aor == to || std::find(l->info.aliases.begin(), l->info.aliases.end(), to) != l->info.aliases.end())
      target.push_back(l);
  }
  if (target.empty()) {
    *comment = "Recipient Not In Session";
    return 404;
  }
  // 10e: directed types (IMDN) reach the user whatever its chat-room caps.
  const bool directed = std::find(config_.directed_types.begin(), config_.directed_types.end(), wrapped) !=
                        config_.directed_types.end();
  if (!directed) {
    if (config_.private_messages == PrivateMessages::Off) {
      *comment = "Private Messages Not Allowed";
      return 403;
    }
    if (config_.private_messages == PrivateMessages::ChatroomAware &&
        std::none_of(target.begin(), target.end(), [](const Leg* l) { return l->info.private_messages; })) {
      *comment = "Private Messages Not Supported";
      return 428;
    }
  }
  for (const Leg* l : target) {
    if (l->info.leg_id == from.info.leg_id || !accepts(*l)) continue;
    if (!directed && config_.private_messages == PrivateMessages::ChatroomAware && !l->info.private_messages) continue;
    recipients->push_back(l->info.leg_id);
  }
  if (config_.private_copy_to_sender) {  // the sender's other devices keep the conversation
    for (const auto& [serial, l] : group->second) {
      const std::string& id = l->info.leg_id;
      if (serial != from.serial && l->info.aor == from.info.aor && accepts(*l) &&
          std::find(recipients->begin(), recipients->end(), id) == recipients->end())
        recipients->push_back(id);
    }
  }
  return 0;
}

// -------------------------------------------------------------- fan-out

void MsrpSwitch::fan_out(std::shared_ptr<const std::string> body, const std::vector<std::string>& recipients,
                         int64_t now_ms) {
  // One shared, byte-identical body for every copy (RFC 7701 §6.1).
  std::vector<ConnId> touched;
  for (const auto& id : recipients) {
    auto it = legs_.find(id);
    if (it == legs_.end()) continue;
    enqueue(it->second, body, now_ms);
    if (it->second.conn) touched.push_back(it->second.conn);
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (ConnId c : touched) pump(c, now_ms);
}

void MsrpSwitch::enqueue(Leg& leg, std::shared_ptr<const std::string> body, int64_t now_ms) {
  // §8.7: a congested leg loses new copies; the sender and the others do not wait.
  if (leg.congested) {
    ++stats_.copies_dropped;
    return;
  }
  leg.queued_bytes += body->size();
  leg.queue.push_back(Copy{std::move(body), random64(), random64(), 0});
  ++stats_.copies_queued;
  if (!leg.listed_queued) {  // on_tick pumps what is still waiting then
    leg.listed_queued = true;
    queued_legs_.push_back(leg.serial);
  }
  const double high = config_.congestion_high_water;
  if (leg.queue.size() >= high * static_cast<double>(config_.queue_max_messages) ||
      leg.queued_bytes >= high * static_cast<double>(config_.queue_max_bytes))
    set_congested(leg, true, now_ms);
}

void MsrpSwitch::pump(ConnId conn, int64_t now_ms) {
  auto c = conns_.find(conn);
  if (c == conns_.end()) return;
  Connection& connection = c->second;
  if (connection.connecting) return;  // on_connected pumps
  // Legs sharing the connection take turns chunk by chunk (§8.5), until the
  // connection holds enough unsent bytes; the rest waits in the legs'
  // bounded queues, where a receiver that stopped reading shows up as
  // congestion. The backlog is asked once (it may cost a syscall) and then
  // counted here.
  size_t backlog = io_.backlog(conn);
  while (!connection.legs.empty() && backlog < config_.connection_backlog_bytes) {
    bool sent = false;
    for (size_t i = 0; i < connection.legs.size() && !sent; ++i) {
      const size_t index = (connection.next_leg + i) % connection.legs.size();
      Leg& leg = legs_.at(connection.legs[index]);
      if (leg.queue.empty()) continue;
      connection.next_leg = index + 1;
      sent = true;

      Copy& copy = leg.queue.front();
      const size_t total = copy.body->size();
      const size_t n = std::min(config_.out_chunk_size, total - copy.sent);
      const bool last = copy.sent + n == total;
      // The copy's chunk written straight into one buffer (this is the hot
      // loop of the relay; msrp::serialize would build a Frame per chunk).
      // The unit tests parse it back with the codec.
      const uint64_t tid = random64();
      std::string bytes;
      bytes.reserve(200 + leg.info.local_uri.size() + leg.remote_path_joined.size() + n);
      bytes += "MSRP ";
      append_hex16(bytes, tid);
      bytes += " SEND\r\nTo-Path: ";
      bytes += leg.remote_path_joined;
      bytes += "\r\nFrom-Path: ";
      bytes += leg.info.local_uri;
      bytes += "\r\nMessage-ID: ";
      append_hex16(bytes, copy.id);
      append_hex16(bytes, copy.id_low);
      bytes += "\r\nByte-Range: ";
      bytes += std::to_string(copy.sent + 1);
      bytes += '-';
      bytes += std::to_string(copy.sent + n);
      bytes += '/';
      bytes += std::to_string(total);
      bytes += "\r\nFailure-Report: yes\r\nContent-Type: message/cpim\r\n\r\n";
      bytes.append(*copy.body, copy.sent, n);
      bytes += "\r\n-------";
      append_hex16(bytes, tid);
      bytes += last ? "$\r\n" : "+\r\n";
      if (copy.sent == 0) {
        copy_owner_[copy.id] = leg.serial;
        copy_order_.push_back(copy.id);
        while (copy_order_.size() > 65536) {
          copy_owner_.erase(copy_order_.front());
          copy_order_.pop_front();
        }
      }
      add_pending(leg, tid, PendingCopy{leg.serial, copy.id, now_ms});
      copy.sent += n;
      ++stats_.chunks_sent;
      backlog += bytes.size();
      io_.write(conn, std::move(bytes));
      if (last) {
        leg.queued_bytes -= total;
        leg.queue.pop_front();
        if (leg.congested && leg.queue.size() < 0.5 * static_cast<double>(config_.queue_max_messages) &&
            leg.queued_bytes < 0.5 * static_cast<double>(config_.queue_max_bytes))
          set_congested(leg, false, now_ms);
      }
    }
    if (!sent) break;
  }
}

void MsrpSwitch::on_response(const msrp::Frame& frame, int64_t now_ms) {
  if (frame.tid.size() != 16) return;  // not one of ours
  const auto tid = leading_hex16(frame.tid);
  if (!tid) return;
  auto p = pending_.find(*tid);
  if (p == pending_.end()) return;
  const PendingCopy pending = p->second;
  pending_.erase(p);
  Leg* leg = leg_by_serial(pending.leg_serial);
  if (!leg) return;
  // Answers mostly come in the order sent, so this finds it at the front.
  auto& tids = leg->pending_tids;
  if (auto t = std::find(tids.begin(), tids.end(), *tid); t != tids.end()) tids.erase(t);
  if (pending.binding) {  // the peer refused to bind the session to this connection
    if (frame.status < 200 || frame.status >= 300) fail(leg->info.leg_id, "MSRP failure");
    return;
  }
  if (frame.status < 300) {
    // The receiver is reading again: what waited for room can go.
    if (!leg->queue.empty() && leg->conn) pump(leg->conn, now_ms);
    return;
  }
  switch (frame.status) {
    case 400:
    case 403:
    case 413:
    case 415:
      drop_copy(*leg, pending.copy_id);
      return;
    default:
      fail(leg->info.leg_id, "MSRP failure");  // 481, 408 and the rest: the leg is gone (§8.8)
  }
}

void MsrpSwitch::on_report(Leg& leg, const msrp::Frame& frame) {
  // §8.6: REPORTs about copies are consumed here, never forwarded.
  const std::string* message_id = frame.header("Message-ID");
  const std::string* status = frame.header("Status");
  if (!message_id || !status) return;
  const auto copy_id = message_id->size() == 32 ? leading_hex16(*message_id) : std::nullopt;
  if (!copy_id) return;
  auto owner = copy_owner_.find(*copy_id);
  if (owner == copy_owner_.end() || owner->second != leg.serial) return;
  // Status: 000 <code> [comment]
  const size_t space = status->find(' ');
  const int code = space == std::string::npos ? 0 : std::atoi(status->c_str() + space + 1);
  if (code == 200) return;
  if (code == 413 || code == 415) return drop_copy(leg, *copy_id);
  fail(leg.info.leg_id, "MSRP failure");
}

// ---------------------------------------------------------------- timers

void MsrpSwitch::on_tick(int64_t now_ms) {
  // Everything here walks the indexes, never all legs or connections: with
  // 100,000 legs a tick must not cost a pass over each of them.
  std::vector<std::pair<std::string, const char*>> failing;

  // Response timeouts, oldest first; stop at the first one not yet due.
  if (!pending_order_sorted_) {
    std::stable_sort(pending_order_.begin(), pending_order_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    pending_order_sorted_ = true;
  }
  // Answered and released transactions leave stale entries behind the
  // oldest live one; once they outnumber the live ones, drop them all.
  if (pending_order_.size() > 2 * pending_.size() + 1024) {
    std::deque<std::pair<int64_t, uint64_t>> live;
    for (const auto& e : pending_order_) {
      auto p = pending_.find(e.second);
      if (p != pending_.end() && p->second.sent_ms == e.first) live.push_back(e);
    }
    pending_order_ = std::move(live);
  }
  while (!pending_order_.empty()) {
    const auto [sent_ms, tid] = pending_order_.front();
    auto p = pending_.find(tid);
    if (p != pending_.end() && p->second.sent_ms == sent_ms) {
      if (now_ms - sent_ms < config_.response_timeout_ms) break;
      // Its leg fails below, which drops the transaction from pending_.
      if (Leg* leg = leg_by_serial(p->second.leg_serial)) failing.emplace_back(leg->info.leg_id, "MSRP timeout");
    }
    pending_order_.pop_front();
  }
  // An outgoing connection that is not up within the response timeout
  // (the kernel would keep trying for minutes) fails its legs the same way.
  for (const ConnId id : connecting_) {
    auto c = conns_.find(id);
    if (c == conns_.end() || now_ms - c->second.opened_ms < config_.response_timeout_ms) continue;
    for (const auto& leg_id : c->second.legs) failing.emplace_back(leg_id, "MSRP timeout");
  }
  for (const uint64_t serial : congested_) {
    const Leg* leg = leg_by_serial(serial);
    if (leg && now_ms - leg->congested_since >= config_.congestion_kick_ms)
      failing.emplace_back(leg->info.leg_id, "MSRP congestion");
  }
  // Chunk timeouts: only legs that started reassembling a message since
  // they were last seen here with nothing in progress.
  std::vector<uint64_t> inbound;
  inbound.swap(inbound_legs_);
  for (const uint64_t serial : inbound) {
    Leg* leg = leg_by_serial(serial);
    if (!leg) continue;
    for (auto in = leg->inbound.begin(); in != leg->inbound.end();) {
      if (now_ms - in->second.last_chunk_ms >= config_.chunk_timeout_ms) in = leg->inbound.erase(in);
      else ++in;
    }
    leg->listed_inbound = !leg->inbound.empty();
    if (leg->listed_inbound) inbound_legs_.push_back(serial);
  }
  for (const auto& [id, reason] : failing) fail(id, reason);

  // Connections that never bound a leg within the bind timeout. A
  // connection in unbound_ that has bound one is done with the list.
  std::vector<ConnId> idle;
  for (auto u = unbound_.begin(); u != unbound_.end();) {
    auto c = conns_.find(*u);
    if (c == conns_.end() || !c->second.legs.empty()) {
      u = unbound_.erase(u);
      continue;
    }
    if (now_ms - c->second.opened_ms >= config_.bind_timeout_ms) idle.push_back(*u);
    ++u;
  }
  for (ConnId id : idle) drop_connection(id, true);

  // Connections whose socket drained without telling us (the kernel took
  // it all) get their waiting copies now: those of legs that had copies
  // queued since the last tick and still have.
  std::vector<uint64_t> queued;
  queued.swap(queued_legs_);
  std::vector<ConnId> waiting;
  for (const uint64_t serial : queued) {
    Leg* leg = leg_by_serial(serial);
    if (!leg) continue;
    leg->listed_queued = !leg->queue.empty();
    if (!leg->listed_queued) continue;
    queued_legs_.push_back(serial);
    if (leg->conn && conns_.count(leg->conn)) waiting.push_back(leg->conn);
  }
  std::sort(waiting.begin(), waiting.end());
  waiting.erase(std::unique(waiting.begin(), waiting.end()), waiting.end());
  for (ConnId id : waiting) pump(id, now_ms);
}

}  // namespace imserver::transport
