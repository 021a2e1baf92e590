// Long-lived bytes per participant, component by component (issue 7: RSS
// per joined participant). Builds S sessions of P participants through the
// state machines' public APIs, the way the server would drive them for
// `imbench --setup-only`: each GroupSession takes P INVITEs (imbench's SDP
// offer, Contact and PAI) and their ACKs; its roster updates go to a
// ConferenceNotifier per session and its MSRP legs to one MsrpSwitch; then,
// with --subscribers=K, K conference subscriptions per session, each first
// NOTIFY answered 200.
//
// Every heap block is charged to the component whose step allocated it (a
// tag kept in a small header in front of the block), and to the chunk glibc
// malloc would really use for it (request + 8, rounded up to 16, at least
// 32), so "bytes" is what the component costs in RSS terms, not just what it
// asked for. Objects themselves (sizeof GroupSession, ...) are heap blocks
// here too, as they are in the server (a CAF actor's state).
//
// What it leaves out: the SIP worker (libre dialogs and transactions), CAF
// mailboxes and actor overhead, the MSRP connections (none bind here).
//
//   memory_bench [--sessions=100] [--participants=100] [--subscribers=0]

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "actors/notify/conference_notifier.hpp"
#include "actors/session/group_session.hpp"
#include "bench/bench_support.hpp"
#include "transport/msrp/msrp_switch.hpp"

// ------------------------------------------------------------ accounting

namespace {

enum Component : uint8_t { kOther, kSession, kNotifierRoster, kNotifierSubscriptions, kMsrpSwitch, kComponents };
const char* const kComponentNames[kComponents] = {"other (transient)", "session (GroupSession)",
                                                  "notifier roster", "notifier subscriptions",
                                                  "MSRP switch legs"};

Component g_current = kOther;
long long g_live[kComponents] = {};

// A header keeps the alignment of what operator new must return.
constexpr size_t kHeader = 16;

size_t malloc_chunk(size_t n) {
  const size_t chunk = (n + 8 + 15) & ~size_t{15};
  return chunk < 32 ? 32 : chunk;
}

void* counted_new(size_t n) {
  auto* raw = static_cast<unsigned char*>(std::malloc(n + kHeader));
  if (!raw) throw std::bad_alloc();
  raw[0] = g_current;
  *reinterpret_cast<size_t*>(raw + 8) = n;
  g_live[g_current] += static_cast<long long>(malloc_chunk(n));
  return raw + kHeader;
}

void counted_delete(void* p) noexcept {
  if (!p) return;
  auto* raw = static_cast<unsigned char*>(p) - kHeader;
  g_live[raw[0]] -= static_cast<long long>(malloc_chunk(*reinterpret_cast<size_t*>(raw + 8)));
  std::free(raw);
}

// Charges everything allocated in its scope to `c`.
class Charge {
 public:
  explicit Charge(Component c) : previous_(g_current) { g_current = c; }
  ~Charge() { g_current = previous_; }

 private:
  Component previous_;
};

}  // namespace

void* operator new(size_t n) { return counted_new(n); }
void* operator new[](size_t n) { return counted_new(n); }
void operator delete(void* p) noexcept { counted_delete(p); }
void operator delete[](void* p) noexcept { counted_delete(p); }
void operator delete(void* p, size_t) noexcept { counted_delete(p); }
void operator delete[](void* p, size_t) noexcept { counted_delete(p); }

// ------------------------------------------------------------ the set-up

namespace {

using namespace imserver;

struct NoIo : transport::ConnectionIo {
  void write(transport::ConnId, std::string) override {}
  size_t backlog(transport::ConnId) const override { return 0; }
  void close(transport::ConnId) override {}
  transport::ConnId connect(const std::string&, uint16_t) override { return 0; }
  void leg_failed(transport::MsrpLegFailed) override {}
};

// The INVITE imbench sends (tools/imbench/engine.cpp), as the SIP worker hands it over.
transport::InboundRequest invite(const std::string& identity, uint64_t participant, uint64_t dialog) {
  const std::string ip = "127.0.0.1", pi = std::to_string(participant), sess = std::to_string(1000000 + participant);
  transport::InboundRequest r;
  r.id = dialog;
  r.dialog = dialog;
  r.method = "INVITE";
  r.request_uri = identity;
  r.from_uri = "sip:p" + pi + "@im.example.com";
  r.from_tag = "0123456789";
  r.to_uri = identity;
  r.call_id = "p" + pi + ".0.abcdef@imbench";
  r.cseq = 1;
  r.contacts = {"<sip:p" + pi + "@" + ip + ":40000>"};
  r.headers = {{"p-asserted-identity", "<sip:p" + pi + "@im.example.com>"}};
  r.content_type = "application/sdp";
  r.body = "v=0\r\no=p" + pi + " " + sess + " " + sess + " IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip +
           "\r\nt=0 0\r\nm=message 40001 TCP/MSRP *\r\na=accept-types:message/cpim\r\n"
           "a=accept-wrapped-types:text/plain\r\na=path:msrp://" + ip + ":40001/ib" + pi +
           "x0;tcp\r\na=setup:actpass\r\na=sendrecv\r\n";
  r.peer = {ip, 40000, "udp"};
  return r;
}

struct Site {
  std::unique_ptr<session::GroupSession> session;
  std::unique_ptr<notify::ConferenceNotifier> notifier;
};

// Hands a step's effects to the notifier and the switch, each charged to its own component.
void deliver(Site& site, transport::MsrpSwitch& msrp, session::Effects& fx, uint64_t* notify_token) {
  std::vector<transport::Command> out;
  if (fx.roster) {
    Charge c(kNotifierRoster);
    site.notifier->on_roster(*fx.roster, 0, out);
  }
  for (auto& m : fx.msrp) {
    Charge c(kMsrpSwitch);
    if (auto* add = std::get_if<transport::MsrpAddLeg>(&m)) msrp.add_leg(std::move(add->leg), 0);
  }
  for (const auto& c : out)
    if (const auto* n = std::get_if<transport::SendInDialog>(&c)) *notify_token = n->token;
}

void print_row(const char* name, long long bytes, double per) {
  std::printf("%-28s %14lld %12.0f\n", name, bytes, per);
}

}  // namespace

int main(int argc, char** argv) {
  int sessions = 100, participants = 100, subscribers = 0;
  bench::FlagReader flags(argc, argv, [](const std::string& why) {
    std::fprintf(stderr, "%s\nusage: memory_bench [--sessions=N] [--participants=P] [--subscribers=K]\n",
                 why.c_str());
  });
  flags.each([&](bench::FlagReader& f) {
    if (f.name() == "--sessions") sessions = f.number(1, 100000);
    else if (f.name() == "--participants") participants = f.number(2, 100000);
    else if (f.name() == "--subscribers") subscribers = f.number(0, 100000);
    else f.unknown();
  });
  if (subscribers > participants) subscribers = participants;

  session::SessionConfig cfg;
  cfg.domain = "im.example.com";
  cfg.join_policy = policy::AdhocJoinPolicy::Anyone;
  cfg.max_participants = 100000;
  cfg.served_hosts = {"im.example.com", "127.0.0.1"};
  cfg.conf.subscribe_policy = session::SubscribePolicy::Anyone;
  cfg.msrp.warn_agent = "im.example.com";

  NoIo io;
  std::unique_ptr<transport::MsrpSwitch> msrp;
  {
    Charge c(kMsrpSwitch);
    msrp = std::make_unique<transport::MsrpSwitch>(transport::MsrpSwitchConfig{}, io);
  }
  std::vector<Site> sites(static_cast<size_t>(sessions));
  uint64_t next_dialog = 1;
  for (int si = 0; si < sessions; ++si) {
    const std::string identity = "sip:gs-" + std::to_string(si + 1) + "@im.example.com";
    const std::string owner = "gs-" + std::to_string(si + 1);
    Site& site = sites[si];
    {
      Charge c(kSession);
      site.session = std::make_unique<session::GroupSession>(cfg, identity, policy::SessionKind::AdHoc, owner,
                                                             static_cast<uint64_t>(si + 1));
    }
    {
      Charge c(kNotifierRoster);
      site.notifier = std::make_unique<notify::ConferenceNotifier>(cfg.conf, "notify:0");
    }
    uint64_t token = 0;
    for (int p = 0; p < participants; ++p) {
      const uint64_t n = static_cast<uint64_t>(si) * participants + p;
      const uint64_t dialog = next_dialog++;
      const auto r = invite(identity, n, dialog);
      // As identify() gives it: the aliases list the AoR itself too.
      const std::string aor = "sip:p" + std::to_string(n) + "@im.example.com";
      const policy::AssertedIdentity who{aor, {aor}};
      session::Effects fx;
      {
        Charge c(kSession);
        fx = p == 0 ? site.session->create(r, who, 0) : site.session->on_request(r, who, 0);
      }
      deliver(site, *msrp, fx, &token);
      {
        Charge c(kSession);
        fx = site.session->on_dialog_event({dialog, owner, transport::DialogEventKind::Confirmed, 0, 0, "", ""}, 0);
      }
      deliver(site, *msrp, fx, &token);
    }
  }
  const long long session_bytes = g_live[kSession], roster_bytes = g_live[kNotifierRoster];

  // Subscriptions: participant k of each session subscribes; its first NOTIFY is answered 200.
  for (int si = 0; si < sessions && subscribers > 0; ++si) {
    Site& site = sites[si];
    const std::string identity = "sip:gs-" + std::to_string(si + 1) + "@im.example.com";
    for (int k = 0; k < subscribers; ++k) {
      const uint64_t n = static_cast<uint64_t>(si) * participants + k;
      session::AuthorizedSubscribe a;
      a.description.identity = identity;
      a.description.maximum_user_count = 100000;
      a.request.id = a.request.dialog = next_dialog++;
      a.request.method = "SUBSCRIBE";
      a.subscriber = "sip:p" + std::to_string(n) + "@im.example.com";
      a.expires = 3600;
      std::vector<transport::Command> out;
      Charge c(kNotifierSubscriptions);
      site.notifier->on_subscribe(a, 0, out);
      for (const auto& cmd : out) {
        const auto* notify = std::get_if<transport::SendInDialog>(&cmd);
        if (!notify) continue;
        std::vector<transport::Command> more;
        site.notifier->on_request_done(
            {a.request.dialog, "notify:0", transport::DialogEventKind::RequestDone, 200, notify->token, "", ""}, 0,
            more);
      }
    }
  }
  // What subscriptions added to the roster component (nothing, normally) counts for them.
  const long long subscription_bytes = g_live[kNotifierSubscriptions] + (g_live[kNotifierRoster] - roster_bytes);

  const double total = static_cast<double>(sessions) * participants;
  std::printf("%d sessions x %d participants, %d subscriptions per session\n", sessions, participants, subscribers);
  std::printf("%-28s %14s %12s\n", "component", "bytes", "per particip.");
  print_row(kComponentNames[kSession], session_bytes, session_bytes / total);
  print_row(kComponentNames[kNotifierRoster], roster_bytes, roster_bytes / total);
  if (subscribers > 0) {
    print_row(kComponentNames[kNotifierSubscriptions], subscription_bytes, subscription_bytes / total);
    std::printf("%-28s %14s %12.0f\n", "  per subscription", "",
                subscription_bytes / (static_cast<double>(sessions) * subscribers));
  }
  print_row(kComponentNames[kMsrpSwitch], g_live[kMsrpSwitch], g_live[kMsrpSwitch] / total);
  const long long all = session_bytes + roster_bytes + subscription_bytes + g_live[kMsrpSwitch];
  print_row("total", all, all / total);
  std::printf("sizeof: Endpoint %zu, EndpointReport %zu, MsrpLeg %zu\n", sizeof(session::Endpoint),
              sizeof(session::EndpointReport), sizeof(transport::MsrpLeg));
  return 0;
}
