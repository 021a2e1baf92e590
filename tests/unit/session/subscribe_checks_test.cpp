// The conference-event SUBSCRIBE checks of SESSIONS.md §6.1-§6.3, the
// subscribe policy table of §6.2, watchers, and the conf.* value parsers.

#include "actors/session/subscribe_checks.hpp"

#include <gtest/gtest.h>

using namespace imserver;
using namespace imserver::session;
using transport::InboundRequest;

namespace {

InboundRequest subscribe() {
  InboundRequest r;
  r.id = 7;
  r.method = "SUBSCRIBE";
  r.request_uri = "sip:gs-1@im.example.com";
  r.peer = {"192.0.2.10", 5060, "udp"};
  r.headers = {{"p-asserted-identity", "<sip:alice@example.com>"},
               {"event", "conference"},
               {"accept", "application/conference-info+xml"},
               {"expires", "3600"}};
  return r;
}

// Drops every header with that name, then adds the given values.
void set_headers(InboundRequest& r, const std::string& name, std::vector<std::string> values) {
  std::vector<transport::Header> kept;
  for (auto& h : r.headers)
    if (h.name != name) kept.push_back(h);
  for (auto& v : values) kept.push_back({name, v});
  r.headers = kept;
}

struct Case {
  const char* name;
  void (*mutate)(InboundRequest&);
  int status;              // 0: accepted
  const char* header_has;  // substring expected in the response headers
};

}  // namespace

TEST(CheckConferenceEvent, PackageMustBeExactlyConference) {
  const Case cases[] = {
      {"conference", [](InboundRequest&) {}, 0, ""},
      {"conference with id", [](InboundRequest& r) { set_headers(r, "event", {"conference;id=7"}); }, 0, ""},
      {"conference with spaces around ;", [](InboundRequest& r) { set_headers(r, "event", {"conference ; id=7"}); },
       0, ""},
      {"presence", [](InboundRequest& r) { set_headers(r, "event", {"presence"}); }, 489,
       "Allow-Events: conference\r\n"},
      {"missing", [](InboundRequest& r) { set_headers(r, "event", {}); }, 489, "Allow-Events: conference\r\n"},
      {"Conference (case differs)", [](InboundRequest& r) { set_headers(r, "event", {"Conference"}); }, 489,
       "Allow-Events: conference\r\n"},
      {"two Event headers", [](InboundRequest& r) { set_headers(r, "event", {"conference", "conference"}); }, 489,
       "Allow-Events: conference\r\n"},
      {"conference as a prefix", [](InboundRequest& r) { set_headers(r, "event", {"conference.winfo"}); }, 489,
       "Allow-Events: conference\r\n"},
      {"empty value", [](InboundRequest& r) { set_headers(r, "event", {""}); }, 489, "Allow-Events: conference\r\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = subscribe();
    c.mutate(r);
    auto out = check_conference_event(r);
    if (c.status == 0) {
      EXPECT_FALSE(out.has_value());
      continue;
    }
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(out->status, c.status);
    EXPECT_EQ(out->reason, "Bad Event");
    EXPECT_EQ(out->request, 7u);
    EXPECT_NE(out->headers.find(c.header_has), std::string::npos) << out->headers;
  }
}

TEST(EventId, EchoesTheIdParameter) {
  const std::pair<const char*, const char*> cases[] = {
      {"conference", ""},
      {"conference;id=7", "7"},
      {"conference;ID=abc", "abc"},
      {"conference; foo=1 ; id = x9 ", "x9"},
      {"conference;idx=1", ""},
      {"conference;id=\"q\"", "q"},
  };
  for (const auto& [value, id] : cases) {
    SCOPED_TRACE(value);
    auto r = subscribe();
    set_headers(r, "event", {value});
    EXPECT_EQ(event_id(r), id);
  }
  auto r = subscribe();
  set_headers(r, "event", {});
  EXPECT_EQ(event_id(r), "");
}

TEST(CheckSubscribeTerms, AcceptBodyAndExpiresInOrder) {
  ConferenceConfig conf;  // default 3600, min 60, max 3600
  struct TermsCase {
    const char* name;
    void (*mutate)(InboundRequest&);
    int status;        // 0: accepted
    uint32_t expires;  // granted, when accepted
    bool poll;
    const char* header_has;
  };
  const TermsCase cases[] = {
      {"plain", [](InboundRequest&) {}, 0, 3600, false, ""},
      {"Accept pidf only", [](InboundRequest& r) { set_headers(r, "accept", {"application/pidf+xml"}); }, 406, 0,
       false, ""},
      {"Accept application/*", [](InboundRequest& r) { set_headers(r, "accept", {"application/*"}); }, 0, 3600, false,
       ""},
      {"Accept */*", [](InboundRequest& r) { set_headers(r, "accept", {"*/*"}); }, 0, 3600, false, ""},
      {"Accept text/* is not enough", [](InboundRequest& r) { set_headers(r, "accept", {"text/*"}); }, 406, 0, false,
       ""},
      {"Accept upper case with q",
       [](InboundRequest& r) { set_headers(r, "accept", {"Application/Conference-Info+XML;q=0.5"}); }, 0, 3600, false,
       ""},
      {"Accept comma list",
       [](InboundRequest& r) {
         set_headers(r, "accept", {"application/pidf+xml, application/conference-info+xml;q=0.9"});
       },
       0, 3600, false, ""},
      {"Accept comma list without a match",
       [](InboundRequest& r) { set_headers(r, "accept", {"application/pidf+xml, text/plain"}); }, 406, 0, false, ""},
      {"several Accept headers, the second matches",
       [](InboundRequest& r) { set_headers(r, "accept", {"application/pidf+xml", "application/conference-info+xml"}); },
       0, 3600, false, ""},
      {"several Accept headers, none matches",
       [](InboundRequest& r) { set_headers(r, "accept", {"application/pidf+xml", "text/plain"}); }, 406, 0, false,
       ""},
      {"empty Accept accepts nothing", [](InboundRequest& r) { set_headers(r, "accept", {""}); }, 406, 0, false, ""},
      {"no Accept", [](InboundRequest& r) { set_headers(r, "accept", {}); }, 0, 3600, false, ""},
      {"body",
       [](InboundRequest& r) {
         r.content_type = "application/simple-filter+xml";
         r.body = "<filter-set/>";
       },
       415, 0, false, ""},
      {"Accept before body (S-f before S-g)",
       [](InboundRequest& r) {
         set_headers(r, "accept", {"application/pidf+xml"});
         r.body = "x";
       },
       406, 0, false, ""},
      {"body before Expires (S-g before S-h)",
       [](InboundRequest& r) {
         set_headers(r, "expires", {"59"});
         r.body = "x";
       },
       415, 0, false, ""},
      {"59 is too brief", [](InboundRequest& r) { set_headers(r, "expires", {"59"}); }, 423, 0, false,
       "Min-Expires: 60\r\n"},
      {"1 is too brief", [](InboundRequest& r) { set_headers(r, "expires", {"1"}); }, 423, 0, false,
       "Min-Expires: 60\r\n"},
      {"60 is fine", [](InboundRequest& r) { set_headers(r, "expires", {"60"}); }, 0, 60, false, ""},
      {"7200 is capped", [](InboundRequest& r) { set_headers(r, "expires", {"7200"}); }, 0, 3600, false, ""},
      {"huge is capped", [](InboundRequest& r) { set_headers(r, "expires", {"99999999999999999999"}); }, 0, 3600,
       false, ""},
      {"absent is the default", [](InboundRequest& r) { set_headers(r, "expires", {}); }, 0, 3600, false, ""},
      {"0 is a poll", [](InboundRequest& r) { set_headers(r, "expires", {"0"}); }, 0, 0, true, ""},
      {"abc", [](InboundRequest& r) { set_headers(r, "expires", {"abc"}); }, 400, 0, false, ""},
      {"negative", [](InboundRequest& r) { set_headers(r, "expires", {"-5"}); }, 400, 0, false, ""},
      {"empty", [](InboundRequest& r) { set_headers(r, "expires", {""}); }, 400, 0, false, ""},
      {"two Expires headers", [](InboundRequest& r) { set_headers(r, "expires", {"60", "120"}); }, 400, 0, false,
       ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = subscribe();
    c.mutate(r);
    auto out = check_subscribe_terms(r, conf);
    if (c.status == 0) {
      ASSERT_TRUE(std::holds_alternative<SubscribeTerms>(out)) << std::get<Respond>(out).status;
      EXPECT_EQ(std::get<SubscribeTerms>(out).expires, c.expires);
      EXPECT_EQ(std::get<SubscribeTerms>(out).poll, c.poll);
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<Respond>(out));
    const auto& resp = std::get<Respond>(out);
    EXPECT_EQ(resp.status, c.status);
    EXPECT_EQ(resp.request, 7u);
    EXPECT_FALSE(resp.reason.empty());
    EXPECT_NE(resp.headers.find(c.header_has), std::string::npos) << resp.headers;
  }
}

TEST(CheckSubscribeTerms, ReasonPhrases) {
  ConferenceConfig conf;
  auto r = subscribe();
  r.body = "x";
  EXPECT_EQ(std::get<Respond>(check_subscribe_terms(r, conf)).reason, "Unsupported Media Type");
  r = subscribe();
  set_headers(r, "expires", {"10"});
  EXPECT_EQ(std::get<Respond>(check_subscribe_terms(r, conf)).reason, "Interval Too Brief");
}

TEST(CheckSubscribeTerms, KnobsAndSkippingAccept) {
  ConferenceConfig conf;
  conf.sub_default_expires = 1800;
  conf.sub_min_expires = 120;
  conf.sub_max_expires = 2400;
  auto r = subscribe();
  set_headers(r, "expires", {});
  EXPECT_EQ(std::get<SubscribeTerms>(check_subscribe_terms(r, conf)).expires, 1800u);
  set_headers(r, "expires", {"119"});
  EXPECT_NE(std::get<Respond>(check_subscribe_terms(r, conf)).headers.find("Min-Expires: 120\r\n"),
            std::string::npos);
  set_headers(r, "expires", {"5000"});
  EXPECT_EQ(std::get<SubscribeTerms>(check_subscribe_terms(r, conf)).expires, 2400u);

  // A default above the maximum is capped as well.
  conf.sub_default_expires = 7200;
  set_headers(r, "expires", {});
  EXPECT_EQ(std::get<SubscribeTerms>(check_subscribe_terms(r, conf)).expires, 2400u);

  // An hour or more never gets 423, whatever the minimum.
  conf.sub_min_expires = 5000;
  conf.sub_max_expires = 7200;
  set_headers(r, "expires", {"3600"});
  EXPECT_EQ(std::get<SubscribeTerms>(check_subscribe_terms(r, conf)).expires, 3600u);
  set_headers(r, "expires", {"3599"});
  EXPECT_EQ(std::get<Respond>(check_subscribe_terms(r, conf)).status, 423);

  // check_accept=false skips S-f and S-g; S-h still applies.
  conf = ConferenceConfig{};
  r = subscribe();
  set_headers(r, "accept", {"application/pidf+xml"});
  r.body = "x";
  set_headers(r, "expires", {"600"});
  auto out = check_subscribe_terms(r, conf, false);
  ASSERT_TRUE(std::holds_alternative<SubscribeTerms>(out));
  EXPECT_EQ(std::get<SubscribeTerms>(out).expires, 600u);
  set_headers(r, "expires", {"30"});
  EXPECT_EQ(std::get<Respond>(check_subscribe_terms(r, conf, false)).status, 423);
  set_headers(r, "expires", {"0"});
  EXPECT_TRUE(std::get<SubscribeTerms>(check_subscribe_terms(r, conf, false)).poll);
}

TEST(IsWatcher, ExactAorAndDomainWildcard) {
  ConferenceConfig conf;
  EXPECT_FALSE(is_watcher(conf, "sip:wendy@example.com"));
  conf.watchers = {"sip:wendy@example.com", "*@watch.example.org"};
  const std::pair<const char*, bool> cases[] = {
      {"sip:wendy@example.com", true},
      {"sips:wendy@example.com", false},  // an exact entry names its scheme
      {"sip:walter@example.com", false},
      {"sip:wendy@example.co", false},
      {"sip:anyone@watch.example.org", true},
      {"sips:anyone@watch.example.org", true},
      {"sip:anyone@WATCH.example.org", true},
      {"sip:anyone@sub.watch.example.org", false},
      {"sip:watch.example.org", false},  // no user part
      {"tel:+15551234", false},
      {"", false},
  };
  for (const auto& [aor, expected] : cases) {
    SCOPED_TRACE(aor);
    EXPECT_EQ(is_watcher(conf, aor), expected);
  }
  conf.watchers = {"*@Watch.Example.org"};
  EXPECT_TRUE(is_watcher(conf, "sip:x@watch.example.org"));
}

TEST(MaySubscribe, PolicyTable) {
  // SESSIONS.md §6.2, one row per kind of subscriber.
  struct Row {
    const char* who;
    SubscriberFacts facts;
    bool roster, participants, anyone;
  };
  SubscriberFacts connected, pending, member, watcher, stranger;
  connected.connected_participant = true;
  pending.pending_invitee = true;
  member.group_member = true;
  watcher.watcher = true;
  const Row rows[] = {
      {"connected participant", connected, true, true, true},
      {"pending invitee", pending, true, false, true},
      {"group member", member, true, false, true},
      {"watcher", watcher, true, true, true},
      {"anyone else", stranger, false, false, true},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.who);
    EXPECT_EQ(may_subscribe(SubscribePolicy::Roster, row.facts), row.roster);
    EXPECT_EQ(may_subscribe(SubscribePolicy::Participants, row.facts), row.participants);
    EXPECT_EQ(may_subscribe(SubscribePolicy::Anyone, row.facts), row.anyone);
  }
}

TEST(ConfParsers, ExactLowerCaseSpellings) {
  EXPECT_EQ(parse_notify_mode("partial"), NotifyMode::Partial);
  EXPECT_EQ(parse_notify_mode("full"), NotifyMode::Full);
  EXPECT_EQ(parse_notify_mode("Full"), std::nullopt);
  EXPECT_EQ(parse_notify_mode(""), std::nullopt);

  EXPECT_EQ(parse_purge_mode("lazy"), PurgeMode::Lazy);
  EXPECT_EQ(parse_purge_mode("immediate"), PurgeMode::Immediate);
  EXPECT_EQ(parse_purge_mode("eager"), std::nullopt);

  EXPECT_EQ(parse_final_body("roster"), FinalBody::Roster);
  EXPECT_EQ(parse_final_body("deleted"), FinalBody::Deleted);
  EXPECT_EQ(parse_final_body("none"), std::nullopt);

  EXPECT_EQ(parse_unsubscribe_body("none"), UnsubscribeBody::None);
  EXPECT_EQ(parse_unsubscribe_body("full"), UnsubscribeBody::Full);
  EXPECT_EQ(parse_unsubscribe_body("partial"), std::nullopt);

  EXPECT_EQ(parse_subscribe_policy("roster"), SubscribePolicy::Roster);
  EXPECT_EQ(parse_subscribe_policy("participants"), SubscribePolicy::Participants);
  EXPECT_EQ(parse_subscribe_policy("anyone"), SubscribePolicy::Anyone);
  EXPECT_EQ(parse_subscribe_policy("Anyone"), std::nullopt);
  EXPECT_EQ(parse_subscribe_policy("roster "), std::nullopt);
}
