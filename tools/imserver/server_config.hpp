#pragma once
// imserver's knobs, read by CAF's config system: command-line flags and
// --config-file. A knob written `a.b_c` in the protocol docs is the flag
// `--a.b-c`. Every help text names its default, because CAF's --help does not.

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <thread>

namespace imserver::server {

struct ServerConfig : caf::actor_system_config {
  // sip.*
  std::string sip_host = "127.0.0.1";
  int64_t sip_port = 5060;
  int64_t sip_t1_ms = 500;
  int64_t sip_t2_ms = 4000;
  int64_t sip_answer_timeout_ms = 16000;
  int64_t sip_udp_buffer_bytes = 4 << 20;
  int64_t sip_thread_nice = 0;
  // session.*
  std::string session_domain = "localhost";
  std::string session_identity_mode = "random";
  int64_t session_max_participants = 100;
  // adhoc.*, auth.*, join.*, release.*
  std::string adhoc_factory_uris;  // empty: sip:conference-factory@<domain>
  std::string auth_trusted_peers = "127.0.0.0/8,::1/128";
  std::string auth_local_domains;  // empty: <domain>
  std::string auth_digest_users_file;  // empty: Digest off
  std::string auth_digest_realm;       // empty: <session.domain>
  int64_t auth_nonce_lifetime_s = 300;
  bool auth_from_must_match = true;
  std::string join_adhoc_policy = "invited";
  int64_t join_full_response = 486;
  std::string join_same_contact = "replace";
  int64_t release_min_participants = 2;
  bool release_on_initiator_leave = false;
  // conf.* (defaults as in actors/session/conference_config.hpp, except the
  // production notify interval)
  std::string conf_notify_mode = "partial";
  std::string conf_purge_mode = "lazy";
  int64_t conf_min_notify_interval_ms = 5000;
  bool conf_subscription_requires_participation = true;
  std::string conf_leaver_subscription_reason = "noresource";
  std::string conf_release_final_body = "roster";
  std::string conf_subscribe_policy = "roster";
  std::string conf_watchers;  // comma-separated AoRs or *@domain
  int64_t conf_sub_default_expires = 3600;
  int64_t conf_sub_min_expires = 60;
  int64_t conf_sub_max_expires = 3600;
  std::string conf_unsubscribe_body = "none";
  bool conf_include_media = true;
  bool conf_report_dialing = true;
  bool conf_report_alerting = false;
  // dialout.* (SESSIONS.md §2.4, §9.2, §11)
  std::string dialout_outbound_proxy;
  int64_t dialout_max_parallel = 20;
  int64_t dialout_no_answer_timeout_s = 60;
  std::string dialout_pai = "session";
  std::string dialout_copy_headers = "Subject,Contribution-ID,Conversation-ID";
  std::string dialout_credentials;  // realm:username:password[,...]
  // group.*
  std::string group_file;  // empty: no pre-defined groups
  // refer.* (PROTOCOL.md §8)
  int64_t refer_accept_code = 202;
  int64_t refer_notify_expires = 60;
  bool refer_lenient_unbracketed_method = true;
  bool refer_allow_remove_others = false;
  int64_t refer_min_notify_interval_ms = 1000;
  // msrp.*, sdp.*
  std::string msrp_host = "127.0.0.1";
  int64_t msrp_port = 2855;
  std::string msrp_advertise_host;  // empty: msrp.host
  int64_t msrp_max_message_size = 1048576;
  std::string msrp_accept_wrapped_types = "*";
  int64_t msrp_queue_max_messages = 500;
  int64_t msrp_queue_max_bytes = 8388608;
  int64_t msrp_congestion_kick_s = 120;
  int64_t msrp_response_timeout_s = 30;
  int64_t msrp_bind_timeout_s = 30;
  int64_t msrp_chunk_timeout_s = 540;
  int64_t msrp_out_chunk_size = 2048;
  int64_t msrp_dedupe_window = 256;
  int64_t msrp_max_inflight_per_leg = 8;
  std::string msrp_private_messages = "chatroom-aware";
  bool msrp_private_copy_to_sender = true;
  bool msrp_anonymous_to_is_group = true;
  std::string msrp_directed_types = "message/imdn+xml";
  std::string msrp_cpim_from_check = "reject";
  std::string sdp_answer_setup_for_actpass = "passive";
  bool sdp_max_size_attribute = true;
  // test.* (for the conformance suite; leave off in production)
  int64_t test_answer_delay_ms = 0;
  bool test_hooks = false;

  ServerConfig() {
    opt_group{custom_options_, "sip"}
        .add(sip_host, "host", "address for SIP over UDP and TCP (default 127.0.0.1)")
        .add(sip_port, "port", "SIP port, UDP and TCP alike; 0 picks a free one (default 5060)")
        .add(sip_t1_ms, "t1-ms", "RFC 3261 T1: 2xx retransmission, ACK wait, NOTIFY/BYE Timer E and F, Timer G and how long answered requests are remembered (64*T1) (default 500)")
        .add(sip_t2_ms, "t2-ms", "RFC 3261 T2, the retransmission cap (default 4000)")
        .add(sip_udp_buffer_bytes, "udp-buffer-bytes",
             "UDP socket receive/send buffer; absorbs the 200s of a NOTIFY fan-out, capped by "
             "net.core.rmem_max (default 4194304)")
        .add(sip_thread_nice, "thread-nice",
             "nice value of the SIP thread, -20..19; negative needs CAP_SYS_NICE (root); lets it "
             "preempt the CAF workers on a busy machine (default 0 = unchanged)")
        .add(sip_answer_timeout_ms, "answer-timeout-ms",
             "a request still unanswered after this gets 500 (default 16000)");
    opt_group{custom_options_, "session"}
        .add(session_domain, "domain", "host part of session identities and the factory URI (default localhost)")
        .add(session_identity_mode, "identity-mode",
             "random (gs- plus 64 random bits) or sequential (gs-1, gs-2...; tests only) (default random)")
        .add(session_max_participants, "max-participants", "users per session, connected plus pending (default 100)");
    opt_group{custom_options_, "adhoc"}.add(
        adhoc_factory_uris, "factory-uris",
        "comma-separated conference-factory URIs; INVITE there creates a session "
        "(default sip:conference-factory@<session.domain>)");
    opt_group{custom_options_, "auth"}
        .add(auth_trusted_peers, "trusted-peers",
             "CIDRs whose P-Asserted-Identity is trusted; others get 403, or a Digest challenge "
             "(default 127.0.0.0/8,::1/128)")
        .add(auth_local_domains, "local-domains",
             "comma-separated domains for join.adhoc-policy=domain (default <session.domain>)")
        .add(auth_digest_users_file, "digest-users-file",
             "Digest users, one `username:HA1:aor` per line; requests without a trusted PAI are "
             "challenged with 401 (default none = Digest off)")
        .add(auth_digest_realm, "digest-realm", "realm of the Digest challenge (default <session.domain>)")
        .add(auth_nonce_lifetime_s, "nonce-lifetime-s",
             "a Digest nonce older than this gets 401 stale=true (default 300)")
        .add(auth_from_must_match, "from-must-match",
             "a Digest-authenticated request's From must be the user's AoR, else 403 (default true)");
    opt_group{custom_options_, "join"}
        .add(join_adhoc_policy, "adhoc-policy", "who may dial in: invited, domain or anyone (default invited)")
        .add(join_full_response, "full-response", "answer when a session is full: 486 or 403 (default 486)")
        .add(join_same_contact, "same-contact",
             "same Contact in a new dialog: replace or new-endpoint (default replace)");
    opt_group{custom_options_, "release"}
        .add(release_min_participants, "min-participants",
             "an ad-hoc session is released when fewer users remain (default 2)")
        .add(release_on_initiator_leave, "on-initiator-leave",
             "release an ad-hoc session when its initiator leaves (default false)");
    opt_group{custom_options_, "conf"}
        .add(conf_notify_mode, "notify-mode",
             "conference-info NOTIFYs after the first: partial or full documents (default partial)")
        .add(conf_purge_mode, "purge-mode",
             "deletion of a departed user: lazy (in the next partial NOTIFY) or immediate (its own NOTIFY) (default lazy)")
        .add(conf_min_notify_interval_ms, "min-notify-interval-ms",
             "least time between NOTIFYs of one subscription; the test profile uses 0 (default 5000)")
        .add(conf_subscription_requires_participation, "subscription-requires-participation",
             "end a subscription when its subscriber stops taking part (default true)")
        .add(conf_leaver_subscription_reason, "leaver-subscription-reason",
             "Subscription-State reason when that happens: noresource or rejected (default noresource)")
        .add(conf_release_final_body, "release-final-body",
             "final NOTIFY body at release: roster or deleted (default roster)")
        .add(conf_subscribe_policy, "subscribe-policy",
             "who may subscribe to conference events: roster, participants or anyone (default roster)")
        .add(conf_watchers, "watchers",
             "comma-separated AoRs or *@domain that may always subscribe (default empty)")
        .add(conf_sub_default_expires, "sub-default-expires",
             "seconds granted to a SUBSCRIBE without Expires (default 3600)")
        .add(conf_sub_min_expires, "sub-min-expires",
             "shorter Expires gets 423; must be below 3600 (default 60)")
        .add(conf_sub_max_expires, "sub-max-expires", "longest subscription granted, in seconds (default 3600)")
        .add(conf_unsubscribe_body, "unsubscribe-body",
             "body of the NOTIFY answering an unsubscribe: none or full (default none)")
        .add(conf_include_media, "include-media",
             "<media> in conference-info endpoints; false for RCS clients (default true)")
        .add(conf_report_dialing, "report-dialing",
             "show invitees being dialled out as dialing-out endpoints (default true)")
        .add(conf_report_alerting, "report-alerting", "show ringing invitees as alerting (default false)");
    opt_group{custom_options_, "dialout"}
        .add(dialout_outbound_proxy, "outbound-proxy",
             "SIP URI every dial-out INVITE is sent through, as a pre-loaded Route, e.g. sip:10.0.0.1:5060;lr "
             "(default none: straight to the invitee's URI)")
        .add(dialout_max_parallel, "max-parallel", "dial-out INVITEs in flight per session; the rest wait (default 20)")
        .add(dialout_no_answer_timeout_s, "no-answer-timeout-s",
             "an invitee that has not answered after this gets a CANCEL (default 60)")
        .add(dialout_pai, "pai",
             "session: P-Asserted-Identity with the session identity towards the outbound proxy; none (default session)")
        .add(dialout_copy_headers, "copy-headers",
             "headers of the creating INVITE copied into dial-outs (default Subject,Contribution-ID,Conversation-ID)")
        .add(dialout_credentials, "credentials",
             "realm:username:password[,...]: a dial-out challenged with 401/407 for that realm is sent once more "
             "with Digest credentials (default none)");
    opt_group{custom_options_, "group"}.add(
        group_file, "file", "XML file of pre-defined groups (SESSIONS.md §3.1), reloaded on SIGHUP (default none)");
    opt_group{custom_options_, "refer"}
        .add(refer_accept_code, "accept-code",
             "2xx to an accepted REFER BYE: 202 (OMA) or 200 (RFC 7647) (default 202)")
        .add(refer_notify_expires, "notify-expires",
             "expires of the refer subscription in seconds, above 64*T1 (default 60)")
        .add(refer_lenient_unbracketed_method, "lenient-unbracketed-method",
             "take ;method=BYE after an unbracketed Refer-To URI as the URI's (default true)")
        .add(refer_allow_remove_others, "allow-remove-others",
             "the initiator may remove another participant by REFER (RFC 4579) (default false)")
        .add(refer_min_notify_interval_ms, "min-notify-interval-ms",
             "least time between two refer NOTIFYs of one subscription (default 1000)");
    opt_group{custom_options_, "msrp"}
        .add(msrp_host, "host", "MSRP listen address named in SDP answers (default 127.0.0.1)")
        .add(msrp_port, "port", "MSRP TCP port named in SDP answers (default 2855)")
        .add(msrp_advertise_host, "advertise-host", "host put in a=path and c= (default msrp.host)")
        .add(msrp_max_message_size, "max-message-size", "largest message in octets, a=max-size (default 1048576)")
        .add(msrp_accept_wrapped_types, "accept-wrapped-types", "a=accept-wrapped-types value (default *)")
        .add(msrp_queue_max_messages, "queue-max-messages", "copies queued per leg at most (default 500)")
        .add(msrp_queue_max_bytes, "queue-max-bytes", "octets queued per leg at most (default 8388608)")
        .add(msrp_congestion_kick_s, "congestion-kick-s",
             "a leg congested this long is removed from the session (default 120)")
        .add(msrp_response_timeout_s, "response-timeout-s",
             "a copy unanswered this long fails its leg (default 30)")
        .add(msrp_bind_timeout_s, "bind-timeout-s", "a connection that binds no leg is closed after (default 30)")
        .add(msrp_chunk_timeout_s, "chunk-timeout-s", "an incomplete message is dropped after (default 540)")
        .add(msrp_out_chunk_size, "out-chunk-size", "largest chunk body the focus sends (default 2048)")
        .add(msrp_dedupe_window, "dedupe-window", "Message-IDs remembered per leg (default 256)")
        .add(msrp_max_inflight_per_leg, "max-inflight-per-leg", "incomplete messages per leg (default 8)")
        .add(msrp_private_messages, "private-messages",
             "private messages: chatroom-aware, all or off (default chatroom-aware)")
        .add(msrp_private_copy_to_sender, "private-copy-to-sender",
             "copy private messages to the sender's other devices (default true)")
        .add(msrp_anonymous_to_is_group, "anonymous-to-is-group",
             "CPIM To sip:anonymous@anonymous.invalid means the whole session (RCS) (default true)")
        .add(msrp_directed_types, "directed-types",
             "comma-separated wrapped types delivered to the named user whatever its chat-room caps "
             "(default message/imdn+xml)")
        .add(msrp_cpim_from_check, "cpim-from-check", "CPIM From must be the sender: reject or off (default reject)");
    opt_group{custom_options_, "sdp"}
        .add(sdp_answer_setup_for_actpass, "answer-setup-for-actpass",
             "a=setup answered to actpass: passive or active (default passive)")
        .add(sdp_max_size_attribute, "max-size-attribute", "put a=max-size in our SDP (default true)");
    opt_group{custom_options_, "test"}
        .add(test_answer_delay_ms, "answer-delay-ms",
             "test hook: send 180 and hold each join's 2xx this long (default 0 = off)")
        .add(test_hooks, "hooks", "test hook: honour X-Imserver-Test request headers (default false)");
    // CAF would start max(cores, 4) workers; on a 2-core box the extra
    // threads only add stealing overhead (docs: STACK.md §7 numbers).
    set("scheduler.max-threads", static_cast<size_t>(std::max(1u, std::thread::hardware_concurrency())));
    // An idle worker polls 100 times, then by default 500 times more with a
    // 50 us nanosleep between polls before it waits on its condition
    // variable. Under a NOTIFY fan-out the workers fall idle between the
    // 200s that trickle in, and those sleeps were ~16 % of their samples
    // (each one a syscall and two context switches). Skipping that phase
    // (wait at once; the sender wakes the worker) cut server CPU per NOTIFY
    // by ~15 % and raised leave and NOTIFY rates (docs/PERFORMANCE.md).
    set("work-stealing.moderate-poll-attempts", size_t{0});
  }
};

}  // namespace imserver::server
