// imserver: the Controlling IM Function (conference focus) for OMA SIMPLE IM
// group sessions. Wires the SIP worker to the directory actor, prints one
// ready line, and runs until SIGINT or SIGTERM.

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "actors/directory.hpp"
#include "actors/session/subscribe_checks.hpp"
#include "actors/caf_types.hpp"
#include "policy/digest.hpp"
#include "policy/groups.hpp"
#include "policy/join_policy.hpp"
#include "policy/trust.hpp"
#include "tools/imserver/server_config.hpp"
#include "transport/codec/sip_uri.hpp"
#include "transport/msrp/msrp_worker.hpp"
#include "transport/sip/dial_credentials.hpp"
#include "transport/sip/sip_worker.hpp"

namespace {

using imserver::server::ServerConfig;

std::vector<std::string> split_csv(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// conf.*: the problem with the flags, or nullopt once `conf` is filled.
std::optional<std::string> fill_conference_config(const ServerConfig& cfg, imserver::session::ConferenceConfig& conf) {
  namespace session = imserver::session;
  constexpr int64_t kMaxU32 = 0xffffffffLL;
  auto notify_mode = session::parse_notify_mode(cfg.conf_notify_mode);
  if (!notify_mode) return "--conf.notify-mode must be partial or full";
  conf.notify_mode = *notify_mode;
  auto purge_mode = session::parse_purge_mode(cfg.conf_purge_mode);
  if (!purge_mode) return "--conf.purge-mode must be lazy or immediate";
  conf.purge_mode = *purge_mode;
  if (cfg.conf_min_notify_interval_ms < 0 || cfg.conf_min_notify_interval_ms > kMaxU32)
    return "--conf.min-notify-interval-ms must be 0..4294967295";
  conf.min_notify_interval_ms = static_cast<uint32_t>(cfg.conf_min_notify_interval_ms);
  conf.subscription_requires_participation = cfg.conf_subscription_requires_participation;
  if (cfg.conf_leaver_subscription_reason != "noresource" && cfg.conf_leaver_subscription_reason != "rejected")
    return "--conf.leaver-subscription-reason must be noresource or rejected";
  conf.leaver_subscription_reason = cfg.conf_leaver_subscription_reason;
  auto final_body = session::parse_final_body(cfg.conf_release_final_body);
  if (!final_body) return "--conf.release-final-body must be roster or deleted";
  conf.release_final_body = *final_body;
  auto subscribe_policy = session::parse_subscribe_policy(cfg.conf_subscribe_policy);
  if (!subscribe_policy) return "--conf.subscribe-policy must be roster, participants or anyone";
  conf.subscribe_policy = *subscribe_policy;
  conf.watchers.clear();
  for (const auto& text : split_csv(cfg.conf_watchers)) {
    if (text.rfind("*@", 0) == 0) {
      const std::string domain = lower(text.substr(2));
      if (domain.empty() || domain.find_first_of("@*;:<> \t") != std::string::npos)
        return "--conf.watchers: '" + text + "' is not *@domain";
      conf.watchers.push_back("*@" + domain);
      continue;
    }
    auto uri = imserver::codec::parse_uri(text);
    const bool sip = uri && (uri->scheme == "sip" || uri->scheme == "sips");
    if (!uri || !((sip && !uri->user.empty()) || uri->scheme == "tel"))
      return "--conf.watchers: '" + text + "' is not a sip:/sips: AoR with a user part, a tel: URI or *@domain";
    conf.watchers.push_back(imserver::codec::canonical_aor(*uri));
  }
  if (cfg.conf_sub_default_expires < 1 || cfg.conf_sub_default_expires > kMaxU32)
    return "--conf.sub-default-expires must be 1..4294967295";
  if (cfg.conf_sub_max_expires < 1 || cfg.conf_sub_max_expires > kMaxU32)
    return "--conf.sub-max-expires must be 1..4294967295";
  if (cfg.conf_sub_min_expires < 0 || cfg.conf_sub_min_expires >= 3600)
    return "--conf.sub-min-expires must be 0..3599";
  if (cfg.conf_sub_min_expires > cfg.conf_sub_max_expires)
    return "--conf.sub-min-expires must not exceed --conf.sub-max-expires";
  conf.sub_default_expires = static_cast<uint32_t>(cfg.conf_sub_default_expires);
  conf.sub_min_expires = static_cast<uint32_t>(cfg.conf_sub_min_expires);
  conf.sub_max_expires = static_cast<uint32_t>(cfg.conf_sub_max_expires);
  auto unsubscribe_body = session::parse_unsubscribe_body(cfg.conf_unsubscribe_body);
  if (!unsubscribe_body) return "--conf.unsubscribe-body must be none or full";
  conf.unsubscribe_body = *unsubscribe_body;
  conf.include_media = cfg.conf_include_media;
  return std::nullopt;
}

// Turns the flags into the actors' configuration; nullopt after printing
// what is wrong, so a typo stops the server instead of changing behaviour.
std::optional<imserver::actors::DirectoryConfig> build_directory_config(const ServerConfig& cfg) {
  auto fail = [](const std::string& why) {
    std::cerr << "imserver: " << why << "\n";
    return std::nullopt;
  };
  imserver::actors::DirectoryConfig out;
  auto& s = out.session;
  s.domain = lower(cfg.session_domain);
  if (s.domain.empty()) return fail("--session.domain must not be empty");
  if (cfg.session_identity_mode != "random" && cfg.session_identity_mode != "sequential")
    return fail("--session.identity-mode must be random or sequential");
  out.sequential_identities = cfg.session_identity_mode == "sequential";
  if (cfg.session_max_participants < 1) return fail("--session.max-participants must be at least 1");
  s.max_participants = static_cast<int>(cfg.session_max_participants);
  auto policy = imserver::policy::parse_adhoc_join_policy(cfg.join_adhoc_policy);
  if (!policy) return fail("--join.adhoc-policy must be invited, domain or anyone");
  s.join_policy = *policy;
  if (cfg.join_full_response != 486 && cfg.join_full_response != 403)
    return fail("--join.full-response must be 486 or 403");
  s.full_response = static_cast<uint16_t>(cfg.join_full_response);
  if (cfg.join_same_contact != "replace" && cfg.join_same_contact != "new-endpoint")
    return fail("--join.same-contact must be replace or new-endpoint");
  s.replace_same_contact = cfg.join_same_contact == "replace";
  if (cfg.release_min_participants < 0) return fail("--release.min-participants must not be negative");
  s.release.min_participants_adhoc = static_cast<int>(cfg.release_min_participants);
  s.release.on_initiator_leave = cfg.release_on_initiator_leave;
  s.local_domains = cfg.auth_local_domains.empty() ? std::vector<std::string>{s.domain}
                                                    : split_csv(lower(cfg.auth_local_domains));
  if (cfg.msrp_port < 0 || cfg.msrp_port > 65535) return fail("--msrp.port must be 0..65535");
  if (cfg.sdp_answer_setup_for_actpass != "passive" && cfg.sdp_answer_setup_for_actpass != "active")
    return fail("--sdp.answer-setup-for-actpass must be passive or active");
  s.msrp.warn_agent = s.domain;
  s.msrp.msrp_host = cfg.msrp_advertise_host.empty() ? cfg.msrp_host : cfg.msrp_advertise_host;
  s.msrp.msrp_port = static_cast<uint16_t>(cfg.msrp_port);
  s.msrp.max_message_size = static_cast<uint64_t>(std::max<int64_t>(1, cfg.msrp_max_message_size));
  s.msrp.max_size_attribute = cfg.sdp_max_size_attribute;
  s.msrp.accept_wrapped_types = cfg.msrp_accept_wrapped_types;
  s.msrp.answer_passive_for_actpass = cfg.sdp_answer_setup_for_actpass == "passive";

  if (auto failure = fill_conference_config(cfg, s.conf)) return fail(*failure);
  if (cfg.refer_accept_code != 202 && cfg.refer_accept_code != 200)
    return fail("--refer.accept-code must be 202 or 200");
  s.refer.accept_code = static_cast<uint16_t>(cfg.refer_accept_code);
  // Shorter than the BYE's 64*T1 and the final NOTIFY could be cut off.
  if (cfg.refer_notify_expires < 1 || cfg.refer_notify_expires > 86400)
    return fail("--refer.notify-expires must be 1..86400 seconds");
  s.refer.notify_expires_s = static_cast<uint32_t>(cfg.refer_notify_expires);
  s.refer.lenient_unbracketed_method = cfg.refer_lenient_unbracketed_method;
  s.refer.allow_remove_others = cfg.refer_allow_remove_others;
  if (cfg.refer_min_notify_interval_ms < 0 || cfg.refer_min_notify_interval_ms > 60000)
    return fail("--refer.min-notify-interval-ms must be 0..60000");
  s.refer.min_notify_interval_ms = static_cast<uint32_t>(cfg.refer_min_notify_interval_ms);

  auto& d = s.dialout;
  d.report_dialing = cfg.conf_report_dialing;
  d.report_alerting = cfg.conf_report_alerting;
  if (!cfg.dialout_outbound_proxy.empty()) {
    auto proxy = imserver::codec::parse_uri(cfg.dialout_outbound_proxy);
    if (!proxy || (proxy->scheme != "sip" && proxy->scheme != "sips"))
      return fail("--dialout.outbound-proxy must be a sip: URI");
    d.outbound_proxy = cfg.dialout_outbound_proxy;
  }
  if (cfg.dialout_max_parallel < 1 || cfg.dialout_max_parallel > 10000)
    return fail("--dialout.max-parallel must be 1..10000");
  d.max_parallel = static_cast<int>(cfg.dialout_max_parallel);
  if (cfg.dialout_no_answer_timeout_s < 1 || cfg.dialout_no_answer_timeout_s > 86400)
    return fail("--dialout.no-answer-timeout-s must be 1..86400");
  d.no_answer_timeout_s = static_cast<uint32_t>(cfg.dialout_no_answer_timeout_s);
  if (cfg.dialout_pai != "session" && cfg.dialout_pai != "none") return fail("--dialout.pai must be session or none");
  d.pai_session = cfg.dialout_pai == "session";
  d.copy_headers = split_csv(cfg.dialout_copy_headers);
  for (const auto& h : d.copy_headers)
    if (h.empty() || h.find_first_of(": \t\r\n") != std::string::npos)
      return fail("--dialout.copy-headers: '" + h + "' is not a header name");

  std::string error;
  auto trusted = imserver::policy::TrustedPeers::parse(cfg.auth_trusted_peers, &error);
  if (!trusted) return fail("--auth.trusted-peers: " + error);
  out.trusted = *trusted;

  if (!cfg.auth_digest_users_file.empty()) {
    auto digest = std::make_shared<imserver::policy::DigestConfig>();
    digest->enabled = true;
    digest->realm = cfg.auth_digest_realm.empty() ? s.domain : cfg.auth_digest_realm;
    if (cfg.auth_nonce_lifetime_s < 1) return fail("--auth.nonce-lifetime-s must be at least 1");
    digest->nonce_lifetime_s = cfg.auth_nonce_lifetime_s;
    digest->from_must_match = cfg.auth_from_must_match;
    std::ifstream in(cfg.auth_digest_users_file, std::ios::binary);
    if (!in) return fail("--auth.digest-users-file: cannot open " + cfg.auth_digest_users_file);
    std::ostringstream text;
    text << in.rdbuf();
    auto users = imserver::policy::parse_digest_users(text.str());
    if (!users.error.empty()) return fail("--auth.digest-users-file: " + cfg.auth_digest_users_file + ": " + users.error);
    for (auto& u : users.users) digest->users.emplace(u.username, std::move(u));
    // Nonces are signed with a secret that lives as long as the process.
    std::random_device entropy;
    static const char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 32; ++i) digest->secret += kHex[entropy() & 15];
    out.digest = std::move(digest);
  }

  const std::vector<std::string> factories = cfg.adhoc_factory_uris.empty()
                                                 ? std::vector<std::string>{"sip:conference-factory@" + s.domain}
                                                 : split_csv(cfg.adhoc_factory_uris);
  for (const auto& text : factories) {
    auto uri = imserver::codec::parse_uri(text);
    if (!uri || (uri->scheme != "sip" && uri->scheme != "sips") || uri->user.empty())
      return fail("--adhoc.factory-uris: '" + text + "' is not a sip: URI with a user part");
    out.factory_aors.push_back(imserver::codec::canonical_aor(*uri));
  }
  out.served_hosts = {s.domain, lower(cfg.sip_host)};
  s.served_hosts = out.served_hosts;
  if (cfg.test_answer_delay_ms < 0) return fail("--test.answer-delay-ms must not be negative");
  out.answer_delay_ms = static_cast<uint32_t>(cfg.test_answer_delay_ms);
  out.test_hooks = cfg.test_hooks;
  return out;
}

// Reads and parses --group.file; nullopt with *why when it cannot be used.
std::optional<std::vector<imserver::policy::Group>> load_groups(const std::string& path, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = "cannot open " + path;
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = imserver::policy::parse_groups_xml(text.str());
  if (!parsed.error.empty()) {
    *why = parsed.error;
    return std::nullopt;
  }
  return std::move(parsed.groups);
}

// The MSRP switch's knobs (SESSIONS.md §8, §11).
std::optional<imserver::transport::MsrpWorkerConfig> build_msrp_config(const ServerConfig& cfg) {
  auto fail = [](const std::string& why) {
    std::cerr << "imserver: " << why << "\n";
    return std::nullopt;
  };
  imserver::transport::MsrpWorkerConfig out;
  out.host = cfg.msrp_host;
  out.port = static_cast<uint16_t>(cfg.msrp_port);
  auto& r = out.relay;
  auto positive = [](int64_t v) { return v > 0; };
  if (!positive(cfg.msrp_queue_max_messages) || !positive(cfg.msrp_queue_max_bytes))
    return fail("--msrp.queue-max-messages and --msrp.queue-max-bytes must be positive");
  if (!positive(cfg.msrp_congestion_kick_s) || !positive(cfg.msrp_response_timeout_s) ||
      !positive(cfg.msrp_bind_timeout_s) || !positive(cfg.msrp_chunk_timeout_s))
    return fail("--msrp.*-s timeouts must be positive");
  if (cfg.msrp_out_chunk_size < 1 || cfg.msrp_out_chunk_size > 65536)
    return fail("--msrp.out-chunk-size must be 1..65536");
  if (cfg.msrp_dedupe_window < 0 || !positive(cfg.msrp_max_inflight_per_leg))
    return fail("--msrp.dedupe-window must not be negative, --msrp.max-inflight-per-leg must be positive");
  r.max_message_size = static_cast<uint64_t>(std::max<int64_t>(1, cfg.msrp_max_message_size));
  r.queue_max_messages = static_cast<size_t>(cfg.msrp_queue_max_messages);
  r.queue_max_bytes = static_cast<size_t>(cfg.msrp_queue_max_bytes);
  r.congestion_kick_ms = static_cast<uint32_t>(std::min<int64_t>(cfg.msrp_congestion_kick_s, 86400) * 1000);
  r.response_timeout_ms = static_cast<uint32_t>(std::min<int64_t>(cfg.msrp_response_timeout_s, 86400) * 1000);
  r.bind_timeout_ms = static_cast<uint32_t>(std::min<int64_t>(cfg.msrp_bind_timeout_s, 86400) * 1000);
  r.chunk_timeout_ms = static_cast<uint32_t>(std::min<int64_t>(cfg.msrp_chunk_timeout_s, 86400) * 1000);
  r.out_chunk_size = static_cast<size_t>(cfg.msrp_out_chunk_size);
  r.dedupe_window = static_cast<size_t>(cfg.msrp_dedupe_window);
  r.max_inflight_per_leg = static_cast<size_t>(cfg.msrp_max_inflight_per_leg);
  if (cfg.msrp_private_messages == "chatroom-aware") r.private_messages = imserver::transport::PrivateMessages::ChatroomAware;
  else if (cfg.msrp_private_messages == "all") r.private_messages = imserver::transport::PrivateMessages::All;
  else if (cfg.msrp_private_messages == "off") r.private_messages = imserver::transport::PrivateMessages::Off;
  else return fail("--msrp.private-messages must be chatroom-aware, all or off");
  r.private_copy_to_sender = cfg.msrp_private_copy_to_sender;
  r.anonymous_to_is_group = cfg.msrp_anonymous_to_is_group;
  r.directed_types = split_csv(lower(cfg.msrp_directed_types));
  if (cfg.msrp_cpim_from_check != "reject" && cfg.msrp_cpim_from_check != "off")
    return fail("--msrp.cpim-from-check must be reject or off");
  r.cpim_from_check = cfg.msrp_cpim_from_check == "reject";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken synchronously by this thread only; every thread
  // started below (CAF's, libre's) inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // reloads --group.file
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // CAF's short help lists only its own global flags; ours live in groups,
  // so --help shows the long form.
  std::vector<char*> args(argv, argv + argc);
  static char long_help[] = "--long-help";
  for (auto& a : args)
    if (std::string(a) == "--help" || std::string(a) == "-h" || std::string(a) == "-?") a = long_help;

  ServerConfig cfg;
  // CAF 0.17 takes a boolean flag only bare (`--test.hooks`); users write
  // `--flag=true` / `--flag=false` too, so those are applied after parsing.
  const std::pair<const char*, bool ServerConfig::*> bool_flags[] = {
      {"--release.on-initiator-leave", &ServerConfig::release_on_initiator_leave},
      {"--conf.subscription-requires-participation", &ServerConfig::conf_subscription_requires_participation},
      {"--conf.include-media", &ServerConfig::conf_include_media},
      {"--conf.report-dialing", &ServerConfig::conf_report_dialing},
      {"--conf.report-alerting", &ServerConfig::conf_report_alerting},
      {"--refer.lenient-unbracketed-method", &ServerConfig::refer_lenient_unbracketed_method},
      {"--refer.allow-remove-others", &ServerConfig::refer_allow_remove_others},
      {"--sdp.max-size-attribute", &ServerConfig::sdp_max_size_attribute},
      {"--msrp.private-copy-to-sender", &ServerConfig::msrp_private_copy_to_sender},
      {"--msrp.anonymous-to-is-group", &ServerConfig::msrp_anonymous_to_is_group},
      {"--auth.from-must-match", &ServerConfig::auth_from_must_match},
      {"--test.hooks", &ServerConfig::test_hooks},
  };
  std::vector<std::pair<bool ServerConfig::*, bool>> bool_overrides;
  for (auto it = args.begin() + 1; it != args.end();) {
    const std::string arg = *it;
    bool consumed = false;
    for (const auto& [name, member] : bool_flags) {
      const std::string prefix = std::string(name) + "=";
      if (arg.rfind(prefix, 0) != 0) continue;
      const std::string value = arg.substr(prefix.size());
      if (value != "true" && value != "false") {
        std::cerr << "imserver: " << name << " takes true or false, not '" << value << "'\n";
        return 2;
      }
      bool_overrides.emplace_back(member, value == "true");
      consumed = true;
    }
    it = consumed ? args.erase(it) : it + 1;
  }
  if (auto err = cfg.parse(static_cast<int>(args.size()), args.data())) {
    std::cerr << "imserver: " << caf::to_string(err) << "\n";
    return 2;
  }
  if (cfg.cli_helptext_printed) return 0;
  for (const auto& [member, value] : bool_overrides) cfg.*member = value;
  auto directory_config = build_directory_config(cfg);
  if (!directory_config) return 2;
  if (cfg.sip_port < 0 || cfg.sip_port > 65535) {
    std::cerr << "imserver: --sip.port must be 0..65535\n";
    return 2;
  }

  auto msrp_config = build_msrp_config(cfg);
  if (!msrp_config) return 2;
  if (!cfg.group_file.empty()) {
    std::string why;
    auto groups = load_groups(cfg.group_file, &why);
    if (!groups) {
      std::cerr << "imserver: --group.file: " << why << "\n";
      return 2;
    }
    directory_config->groups = std::move(*groups);
  }

  imserver::transport::SipWorkerConfig sip_config;
  sip_config.host = cfg.sip_host;
  if (auto creds = imserver::transport::parse_dial_credentials(cfg.dialout_credentials)) {
    sip_config.dial_credentials = std::move(*creds);
  } else {
    std::cerr << "imserver: --dialout.credentials must be realm:username:password[,...]\n";
    return 2;
  }
  sip_config.port = static_cast<uint16_t>(cfg.sip_port);
  sip_config.t1_ms = static_cast<uint32_t>(std::max<int64_t>(1, cfg.sip_t1_ms));
  sip_config.t2_ms = static_cast<uint32_t>(std::max<int64_t>(sip_config.t1_ms, cfg.sip_t2_ms));
  sip_config.answer_timeout_ms = static_cast<uint32_t>(std::max<int64_t>(100, cfg.sip_answer_timeout_ms));
  sip_config.udp_buffer_bytes = static_cast<int>(std::clamp<int64_t>(cfg.sip_udp_buffer_bytes, 0, 1 << 30));
  sip_config.thread_nice = static_cast<int>(std::clamp<int64_t>(cfg.sip_thread_nice, -20, 19));
  sip_config.software = "imserver/0.1";

  // Lifetimes, outermost first: the sink and the worker outlive the actor
  // system, because sessions may still post commands while it drains.
  int exit_code = 0;
  imserver::actors::ActorEventSink sink;
  imserver::transport::SipWorker worker(sip_config, sink);
  imserver::transport::MsrpWorker msrp_worker(*msrp_config, sink);
  worker.set_dialog_end_listener(&msrp_worker);
  {
    std::string error;
    // MSRP first: the SDP answers name its actual port (--msrp.port=0).
    if (!msrp_worker.start(&error)) {
      std::cerr << "imserver: " << error << "\n";
      return 1;
    }
    directory_config->session.msrp.msrp_port = msrp_worker.port();
    caf::actor_system system{cfg};
    std::vector<caf::actor> notifiers;
    auto directory = imserver::actors::spawn_directory(system, *directory_config, &worker, &msrp_worker, &notifiers);
    sink.set_directory(directory, std::move(notifiers));
    if (!worker.start(&error)) {
      std::cerr << "imserver: " << error << "\n";
      exit_code = 1;
    } else {
      std::printf("imserver listening sip=udp+tcp:%s:%u msrp=tcp:%s:%u\n", cfg.sip_host.c_str(),
                  static_cast<unsigned>(worker.port()), cfg.msrp_host.c_str(),
                  static_cast<unsigned>(msrp_worker.port()));
      std::fflush(stdout);
      int sig = 0;
      for (;;) {
        sigwait(&stop_signals, &sig);
        if (sig != SIGHUP) break;
        // SESSIONS.md §3.1: the groups file is read again; a broken file
        // keeps the groups already loaded.
        if (cfg.group_file.empty()) continue;
        std::string why;
        if (auto groups = load_groups(cfg.group_file, &why)) {
          // The directory says when the groups are in effect.
          caf::anon_send(directory, imserver::actors::GroupsLoaded{std::move(*groups)});
        } else {
          std::fprintf(stderr, "imserver: %s not reloaded: %s\n", cfg.group_file.c_str(), why.c_str());
        }
      }
      std::fprintf(stderr, "imserver: signal %d, shutting down\n", sig);
    }
    // First no more input, then no more actors; the system's destructor
    // waits for every actor to finish.
    worker.stop();
    msrp_worker.stop();
    sink.set_directory(caf::actor{});
    caf::anon_send_exit(directory, caf::exit_reason::user_shutdown);
  }
  return exit_code;
}
