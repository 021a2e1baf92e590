// imbench: the load generator for imserver (and for the Kamailio baselines
// it is compared with). See tools/imbench/README.md for the modes, the JSON
// it writes and how its figures are defined; `imbench --help` lists the
// flags.
//
// The main thread only moves the engine through its phases (set-up, load,
// drain, teardown), prints the progress line and the results; the engine's
// own threads do all the traffic.

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.hpp"
#include "bench/sip_lean.hpp"
#include "tools/imbench/imbench.hpp"

namespace imbench {

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::LeaveBye: return "leave-bye";
    case Mode::LeaveRefer: return "leave-refer";
    case Mode::Fanout: return "fanout";
    case Mode::PublishFanout: return "publish-fanout";
    case Mode::RawUdp: return "raw-udp";
  }
  return "?";
}

int LiveHistogram::bucket(uint64_t us) {
  if (us < 16) return static_cast<int>(us);
  int e = 63 - __builtin_clzll(us);  // 4.. for us >= 16
  int sub = static_cast<int>((us >> (e - 3)) & 7);
  int b = 16 + (e - 4) * 8 + sub;
  return std::min(b, kBuckets - 1);
}

double LiveHistogram::bucket_ms(int b) {
  if (b < 16) return b / 1000.0;
  int e = (b - 16) / 8 + 4, sub = (b - 16) % 8;
  double lo = std::ldexp(1.0, e) * (1 + sub / 8.0);
  return (lo + std::ldexp(1.0, e - 3) / 2) / 1000.0;
}

double histogram_quantile(const std::array<uint64_t, LiveHistogram::kBuckets>& now,
                          const std::array<uint64_t, LiveHistogram::kBuckets>& before, double q) {
  uint64_t total = 0;
  for (int i = 0; i < LiveHistogram::kBuckets; ++i) total += now[i] - before[i];
  if (total == 0) return -1;
  const uint64_t want = static_cast<uint64_t>(std::ceil(q * total));
  uint64_t seen = 0;
  for (int i = 0; i < LiveHistogram::kBuckets; ++i) {
    seen += now[i] - before[i];
    if (seen >= want && seen > 0) return LiveHistogram::bucket_ms(i);
  }
  return LiveHistogram::bucket_ms(LiveHistogram::kBuckets - 1);
}

// Nearest-rank percentiles.
Quantiles quantiles(std::vector<uint32_t> us) {
  Quantiles q;
  if (us.empty()) return q;
  std::sort(us.begin(), us.end());
  auto rank = [&](double p) {
    size_t r = static_cast<size_t>(std::ceil(p * us.size()));
    return us[std::min(us.size() - 1, r ? r - 1 : 0)] / 1000.0;
  };
  q.empty = false;
  q.p50 = rank(0.50);
  q.p99 = rank(0.99);
  q.max = us.back() / 1000.0;
  return q;
}

}  // namespace imbench

namespace {

using namespace imbench;
using imserver::bench::now_ns;

void print_usage(FILE* out) {
  std::fprintf(out,
      "usage: imbench [--key=value]...\n"
      "  --target=HOST:PORT      SIP server, loopback only (127.0.0.1:5060)\n"
      "  --transport=udp|tcp     (udp)\n"
      "  --mode=MODE             leave-bye | leave-refer | fanout | publish-fanout | raw-udp (leave-bye)\n"
      "  --sessions=S            sessions (publish-fanout: presentities sip:conf-1..S@DOMAIN) (1)\n"
      "  --participants=P        participants per session (3; imserver needs P >= 3 to leave and rejoin)\n"
      "  --subscribers=K         conference subscribers per session (raw-udp: receiver sockets) (0)\n"
      "  --rate=R                operations/s over all sockets, 0 = flat out (0)\n"
      "  --count=N               at most N operations, 0 = no limit (0)\n"
      "  --duration-s=D          longest load phase in seconds (10)\n"
      "  --json=PATH             write the results as one JSON object\n"
      "  --progress=true|false   one line per second to stderr (false)\n"
      "  --local-ip=IP           our address, loopback only (127.0.0.1)\n"
      "  --domain=DOMAIN         host of sip:conference-factory@DOMAIN and of user AoRs (im.example.com)\n"
      "  --server-pid=PID        read the server's VmRSS before and after set-up\n"
      "  --setup-only=true|false set up, report memory, hold --duration-s, tear down (false)\n"
      "beyond the shared contract:\n"
      "  --sockets=N             UDP sockets / TCP connections, one thread each (min(S, 2))\n"
      "  --window=N              operations, and set-up transactions, in flight per socket (128)\n"
      "  --op-timeout-s=T        an operation not finished after T s failed (10)\n"
      "exit status: 0 when set-up, every operation and teardown succeeded, 1 otherwise, 2 on bad flags\n");
}

bool loopback_ip(const std::string& ip) {
  in_addr a{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1) return false;
  return (ntohl(a.s_addr) >> 24) == 127;
}

bool parse_bool(const std::string& v, bool* out) {
  if (v == "true" || v == "1" || v.empty()) *out = true;
  else if (v == "false" || v == "0") *out = false;
  else return false;
  return true;
}

Config parse_options(int argc, char** argv) {
  Config c;
  auto usage = [](const std::string& why) {
    if (why == "help") {
      print_usage(stdout);
      std::exit(0);
    }
    std::fprintf(stderr, "imbench: %s\n", why.c_str());
    print_usage(stderr);
    std::exit(2);
  };
  imserver::bench::FlagReader flags(argc, argv, usage);
  auto real = [&](imserver::bench::FlagReader& f, double min, double max) {
    std::string v = f.text();
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !(d >= min && d <= max)) usage("bad value for " + f.name() + ": " + v);
    return d;
  };
  auto boolean = [&](imserver::bench::FlagReader& f) {
    bool b = false;
    std::string v = f.text();
    if (!parse_bool(v, &b)) usage("bad value for " + f.name() + ": " + v);
    return b;
  };
  flags.each([&](imserver::bench::FlagReader& f) {
    const std::string& n = f.name();
    if (n == "--target") c.target = f.text();
    else if (n == "--transport") c.transport = f.text();
    else if (n == "--mode") {
      std::string m = f.text();
      if (m == "leave-bye") c.mode = Mode::LeaveBye;
      else if (m == "leave-refer") c.mode = Mode::LeaveRefer;
      else if (m == "fanout") c.mode = Mode::Fanout;
      else if (m == "publish-fanout") c.mode = Mode::PublishFanout;
      else if (m == "raw-udp") c.mode = Mode::RawUdp;
      else usage("unknown mode " + m);
    } else if (n == "--sessions") c.sessions = f.number(1, 1000000);
    else if (n == "--participants") c.participants = f.number(1, 100000);
    else if (n == "--subscribers") c.subscribers = f.number(0, 100000);
    else if (n == "--rate") c.rate = real(f, 0, 1e9);
    else if (n == "--count") c.count = f.number(0, 2000000000);
    else if (n == "--duration-s") c.duration_s = real(f, 0.001, 86400);
    else if (n == "--json") c.json = f.text();
    else if (n == "--progress") c.progress = boolean(f);
    else if (n == "--local-ip") c.local_ip = f.text();
    else if (n == "--domain") c.domain = f.text();
    else if (n == "--server-pid") c.server_pid = f.number(1, 1 << 30);
    else if (n == "--setup-only") c.setup_only = boolean(f);
    else if (n == "--sockets") c.sockets = f.number(1, 1024);
    else if (n == "--window") c.window = f.number(1, 1000000);
    else if (n == "--op-timeout-s") c.op_timeout_s = real(f, 0.01, 3600);
    else f.unknown();
  });
  if (c.transport != "udp" && c.transport != "tcp") usage("--transport must be udp or tcp");
  // Loopback only: this tool floods whatever it is pointed at.
  std::string host = c.target, port = "5060";
  if (size_t colon = c.target.rfind(':'); colon != std::string::npos) {
    host = c.target.substr(0, colon);
    port = c.target.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end || p < 1 || p > 65535) usage("bad port in --target=" + c.target);
  if (!loopback_ip(host)) usage("refusing --target=" + c.target + ": only loopback (127.0.0.0/8) targets");
  if (!loopback_ip(c.local_ip)) usage("refusing --local-ip=" + c.local_ip + ": only loopback addresses");
  c.target = host + ":" + port;
  c.target_addr.sin_family = AF_INET;
  c.target_addr.sin_port = htons(static_cast<uint16_t>(p));
  inet_pton(AF_INET, host.c_str(), &c.target_addr.sin_addr);
  if ((c.mode == Mode::PublishFanout || c.mode == Mode::RawUdp) && c.subscribers < 1)
    usage(std::string("--mode=") + mode_name(c.mode) + " needs --subscribers >= 1");
  if (c.mode == Mode::RawUdp) c.transport = "udp";
  return c;
}

std::optional<long> read_rss_kib(long pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return std::nullopt;
}

struct Totals {
  uint64_t ok = 0, failed = 0, errors = 0, notifies = 0, setup_items = 0;
  int busy = 0;
  bool setup_done = true, teardown_done = true;
  std::array<uint64_t, LiveHistogram::kBuckets> hist{};
};

Totals totals(Engine& e) {
  Totals t;
  std::array<uint64_t, LiveHistogram::kBuckets> h{};
  for (Live* l : e.lives()) {
    t.ok += l->ops_ok.load();
    t.failed += l->ops_failed.load();
    t.errors += l->errors.load();
    t.notifies += l->notifies.load();
    t.setup_items += l->setup_done_items.load();
    t.busy += l->busy.load();
    t.setup_done = t.setup_done && l->setup_done.load();
    t.teardown_done = t.teardown_done && l->teardown_done.load();
    l->latency.snapshot(h);
    for (int i = 0; i < LiveHistogram::kBuckets; ++i) t.hist[i] += h[i];
  }
  return t;
}

std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
std::string json_q(const Quantiles& q) {
  if (q.empty) return "{\"p50\": null, \"p99\": null, \"max\": null}";
  char buf[160];
  std::snprintf(buf, sizeof buf, "{\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}", q.p50, q.p99, q.max);
  return buf;
}
std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o + "\"";
}
std::string human_q(const Quantiles& q) {
  if (q.empty) return "-";
  char buf[128];
  std::snprintf(buf, sizeof buf, "p50 %.3f ms, p99 %.3f ms, max %.3f ms", q.p50, q.p99, q.max);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse_options(argc, argv);
  std::unique_ptr<Engine> engine(cfg.mode == Mode::RawUdp ? make_raw_udp_engine(cfg) : make_sip_engine(cfg));
  const std::optional<long> rss_before = read_rss_kib(cfg.server_pid);
  if (cfg.server_pid > 0 && !rss_before)
    std::fprintf(stderr, "imbench: cannot read VmRSS of pid %ld; memory not reported\n", cfg.server_pid);

  const int64_t t_start = now_ns();
  std::string error;
  if (!engine->start(&error)) {
    std::fprintf(stderr, "imbench: %s\n", error.c_str());
    engine->phase.store(kExit);
    return 1;
  }
  auto sleep_ms = [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  auto secs = [](int64_t ns) { return ns / 1e9; };

  // ---- set-up. Every step ends by itself (a transaction after Timer F,
  // 32 s; a subscription's first NOTIFY after 10 s more), so this wait is
  // bounded without a timeout of its own.
  int64_t next_line = t_start + 1000000000LL;
  for (;;) {
    Totals t = totals(*engine);
    if (t.setup_done) break;
    if (cfg.progress && now_ns() >= next_line) {
      next_line += 1000000000LL;
      std::fprintf(stderr, "[%6.1fs] set-up: %llu/%llu participants+subscriptions, %llu errors\n",
                   secs(now_ns() - t_start), static_cast<unsigned long long>(t.setup_items),
                   static_cast<unsigned long long>(engine->setup_items()), static_cast<unsigned long long>(t.errors));
    }
    sleep_ms(5);
  }
  const double setup_s = secs(now_ns() - t_start);
  engine->phase.store(kHold);
  // Let the server finish what the last set-up answers started (the
  // NOTIFYs of the last subscriptions, its own bookkeeping) before its
  // memory is read and before the load starts.
  sleep_ms(cfg.server_pid > 0 ? 1000 : 200);
  const std::optional<long> rss_after = read_rss_kib(cfg.server_pid);
  const uint64_t participants_total =
      cfg.mode == Mode::RawUdp || cfg.mode == Mode::PublishFanout
          ? 0
          : static_cast<uint64_t>(cfg.sessions) * static_cast<uint64_t>(cfg.participants);
  std::optional<double> rss_per_participant;
  if (rss_before && rss_after && participants_total > 0)
    rss_per_participant = (static_cast<double>(*rss_after) - *rss_before) * 1024.0 / participants_total;
  {
    Totals t = totals(*engine);
    std::fprintf(stderr, "imbench: set-up of %llu participants+subscriptions took %.2f s (%llu errors)",
                 static_cast<unsigned long long>(engine->setup_items()), setup_s,
                 static_cast<unsigned long long>(t.errors));
    if (rss_after)
      std::fprintf(stderr, "; server VmRSS %ld KiB (before set-up %ld KiB)", *rss_after, rss_before.value_or(0));
    std::fprintf(stderr, "\n");
  }

  // ---- load (or, with --setup-only, the hold)
  const int64_t load_start = now_ns();
  const int64_t load_end = load_start + static_cast<int64_t>(cfg.duration_s * 1e9);
  engine->load_end_ns.store(load_end);
  if (!cfg.setup_only) engine->phase.store(kLoad);
  Totals last = totals(*engine);
  int64_t last_t = load_start;
  next_line = load_start + 1000000000LL;
  auto progress_line = [&](const char* what) {
    Totals t = totals(*engine);
    const int64_t now = now_ns();
    const double dt = secs(now - last_t);
    const double ops = (t.ok + t.failed - last.ok - last.failed) / dt;
    const double p50 = histogram_quantile(t.hist, last.hist, 0.50), p99 = histogram_quantile(t.hist, last.hist, 0.99);
    std::fprintf(stderr, "[%6.1fs] %s: %.0f ops/s, %llu errors, latency p50 %s p99 %s", secs(now - t_start), what, ops,
                 static_cast<unsigned long long>(t.errors), p50 < 0 ? "-" : (num(p50) + " ms").c_str(),
                 p99 < 0 ? "-" : (num(p99) + " ms").c_str());
    if (cfg.subscribers > 0) std::fprintf(stderr, ", %.0f NOTIFY/s", (t.notifies - last.notifies) / dt);
    std::fprintf(stderr, "\n");
    last = t;
    last_t = now;
  };
  for (;;) {
    const int64_t now = now_ns();
    if (now >= load_end) break;
    if (!cfg.setup_only && cfg.count > 0) {
      Totals t = totals(*engine);
      if (static_cast<long>(t.ok + t.failed) >= cfg.count) break;
    }
    if (cfg.progress && now >= next_line) {
      next_line += 1000000000LL;
      progress_line(cfg.setup_only ? "hold" : "load");
    }
    sleep_ms(1);
  }
  // ---- drain: nothing new starts; what runs may finish (each operation
  // fails by itself after --op-timeout-s; its rejoin may take one more
  // transaction), then the rest is counted failed.
  engine->load_end_ns.store(0);
  engine->phase.store(kDrain);
  const int64_t drain_limit = now_ns() + static_cast<int64_t>((cfg.op_timeout_s + 2) * 1e9);
  while (totals(*engine).busy > 0 && now_ns() < drain_limit) {
    if (cfg.progress && now_ns() >= next_line) {
      next_line += 1000000000LL;
      progress_line("drain");
    }
    sleep_ms(1);
  }
  const int64_t load_stop = now_ns();
  // ---- teardown: unsubscribe, then BYE everyone still in; bounded by
  // Timer F plus a margin.
  engine->phase.store(kTeardown);
  const int64_t teardown_limit = now_ns() + 40 * 1000000000LL;
  while (!totals(*engine).teardown_done && now_ns() < teardown_limit) sleep_ms(5);
  const bool teardown_complete = totals(*engine).teardown_done;
  engine->phase.store(kExit);
  engine->join();

  Result r = engine->results();
  if (!teardown_complete) {
    ++r.teardown_failed;
    r.error_samples.push_back("teardown did not finish within 40 s");
  }
  const double duration_s = cfg.setup_only ? 0 : secs(load_stop - load_start);
  const double ops_per_s = duration_s > 0 ? r.ops_ok / duration_s : 0;
  const double notifies_per_s = duration_s > 0 ? r.notifies / duration_s : 0;
  const Quantiles lat = quantiles(r.latency_us), nlat = quantiles(r.notify_us), blat = quantiles(r.bye_us);
  const uint64_t errors = r.ops_failed + r.setup_failed + r.teardown_failed + r.other_errors;

  // ---- human summary
  std::printf("imbench %s over %s to %s: %d session(s) x %d participant(s), %d subscriber(s) each\n",
              mode_name(cfg.mode), cfg.transport.c_str(), cfg.target.c_str(), cfg.sessions, cfg.participants,
              cfg.subscribers);
  std::printf("  set-up            %.2f s\n", setup_s);
  if (!cfg.setup_only) {
    std::printf("  operations        %llu ok, %llu failed in %.2f s: %.1f ops/s (rate %s)\n",
                static_cast<unsigned long long>(r.ops_ok), static_cast<unsigned long long>(r.ops_failed), duration_s,
                ops_per_s, cfg.rate > 0 ? num(cfg.rate).c_str() : "flat out");
    const char* lat_name = cfg.mode == Mode::LeaveRefer      ? "REFER -> 2xx"
                           : cfg.mode == Mode::PublishFanout ? "PUBLISH -> 2xx"
                           : cfg.mode == Mode::RawUdp        ? "round -> last 200 back"
                                                             : "BYE -> 200";
    std::printf("  latency           %-24s %s\n", lat_name, human_q(lat).c_str());
    if (cfg.mode == Mode::LeaveRefer) std::printf("  latency           %-24s %s\n", "REFER -> focus BYE", human_q(blat).c_str());
    if (cfg.subscribers > 0) {
      const char* n_name = cfg.mode == Mode::RawUdp          ? "round -> last datagram"
                           : cfg.mode == Mode::PublishFanout ? "PUBLISH -> last NOTIFY"
                           : cfg.mode == Mode::LeaveRefer    ? "REFER -> last NOTIFY"
                                                             : "BYE -> last NOTIFY";
      std::printf("  notify latency    %-24s %s\n", n_name, human_q(nlat).c_str());
      std::printf("  %s  %llu received and answered: %.1f/s\n",
                  cfg.mode == Mode::RawUdp ? "datagrams       " : "NOTIFYs         ",
                  static_cast<unsigned long long>(r.notifies), notifies_per_s);
    }
  }
  if (rss_after) {
    std::printf("  server VmRSS      %ld KiB after set-up (%ld KiB before)", *rss_after, rss_before.value_or(0));
    if (rss_per_participant) std::printf(", %.0f bytes per participant", *rss_per_participant);
    std::printf("\n");
  }
  std::printf("  errors            %llu (set-up %llu, operations %llu, teardown %llu, other %llu); %llu retransmissions\n",
              static_cast<unsigned long long>(errors), static_cast<unsigned long long>(r.setup_failed),
              static_cast<unsigned long long>(r.ops_failed), static_cast<unsigned long long>(r.teardown_failed),
              static_cast<unsigned long long>(r.other_errors), static_cast<unsigned long long>(r.retransmissions));
  for (const auto& e : r.error_samples) std::printf("    e.g. %s\n", e.c_str());

  // ---- JSON
  if (!cfg.json.empty()) {
    std::ostringstream js;
    js << "{\"mode\": " << json_string(mode_name(cfg.mode)) << ", \"transport\": " << json_string(cfg.transport)
       << ", \"target\": " << json_string(cfg.target) << ", \"sessions\": " << cfg.sessions
       << ", \"participants\": " << cfg.participants << ", \"subscribers\": " << cfg.subscribers
       << ", \"rate\": " << num(cfg.rate) << ", \"ops_ok\": " << r.ops_ok << ", \"ops_failed\": " << r.ops_failed
       << ", \"duration_s\": " << num(duration_s) << ", \"ops_per_s\": " << num(ops_per_s)
       << ", \"latency_ms\": " << json_q(lat) << ", \"notifies_received\": " << r.notifies
       << ", \"notifies_per_s\": " << num(notifies_per_s) << ", \"notify_latency_ms\": " << json_q(nlat)
       << ", \"setup_s\": " << num(setup_s) << ", \"server_rss_kib\": "
       << (rss_after ? std::to_string(*rss_after) : std::string("null")) << ", \"rss_per_participant_bytes\": "
       << (rss_per_participant ? num(std::round(*rss_per_participant)) : std::string("null"));
    // Beyond the contract: the REFER mode's second latency and the error
    // breakdown.
    js << ", \"bye_latency_ms\": " << json_q(blat) << ", \"errors\": " << errors
       << ", \"setup_failed\": " << r.setup_failed << ", \"teardown_failed\": " << r.teardown_failed
       << ", \"retransmissions\": " << r.retransmissions << "}\n";
    std::ofstream out(cfg.json);
    out << js.str();
    if (!out) {
      std::fprintf(stderr, "imbench: cannot write %s\n", cfg.json.c_str());
      return 1;
    }
  }
  // A run in which no operation completed measured nothing: not a success.
  return errors == 0 && (cfg.setup_only || r.ops_ok > 0) ? 0 : 1;
}
