#pragma once
// Shared fixtures of the conference-subscription wire tests (PROTOCOL.md
// §9.1, SESSIONS.md §12.1), against the real imserver binary:
//   F-BASE: session gs-1 created by Alice; Bob, Carol and Dan joined; each of
//           them and the watcher Wendy holds a conference subscription whose
//           first NOTIFY was answered 200 (last version recorded per user).
//   F-PAIR: the same with Alice and Bob only.
// Every user is a SipUa on 127.0.0.1 with its own ephemeral port, so tests
// run in parallel without sharing addresses. Parameterised by transport.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/client/conference_doc.hpp"
#include "tests/client/server_process.hpp"
#include "tests/client/sip_message.hpp"
#include "tests/client/sip_ua.hpp"

namespace imserver::testclient {

using namespace std::chrono_literals;

inline constexpr const char* kFactory = "sip:conference-factory@im.example.com";
inline constexpr const char* kGs1 = "sip:gs-1@im.example.com";

// One simulated user: its UA, its INVITE dialog (if joined), its
// subscription dialog (if subscribed) and the last version it saw.
struct User {
  std::unique_ptr<SipUa> ua;
  Dialog invite;
  Dialog sub;
  bool joined = false;
  bool subscribed = false;
  uint32_t version = 0;
};

class ConferenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Flags every conference test runs with: the test profile (§8) plus what
  // the fixtures need. Extra flags are appended (later ones win in CAF).
  std::vector<std::string> base_flags() const {
    return {"--join.adhoc-policy=anyone", "--conf.min-notify-interval-ms=0", "--conf.watchers=sip:wendy@example.com",
            "--session.max-participants=5", "--release.min-participants=2"};
  }

  void start(std::vector<std::string> extra = {}) {
    auto flags = base_flags();
    flags.insert(flags.end(), extra.begin(), extra.end());
    std::string error;
    ASSERT_TRUE(server_.start(flags, &error)) << error;
  }

  void TearDown() override {
    if (HasFailure()) {
      for (auto& [name, u] : users_)
        if (u.ua) std::fprintf(stderr, "---- %s transcript ----\n%s\n", name.c_str(), u.ua->transcript().c_str());
      std::fprintf(stderr, "---- server stderr ----\n%s\n", server_.stderr_text().c_str());
    }
    users_.clear();
    if (server_.running()) server_.stop();
  }

  User& user(const std::string& name) {
    auto& u = users_[name];
    if (!u.ua) {
      SipUa::Options o;
      o.transport = GetParam();
      o.server_port = server_.port();
      o.aor = "sip:" + name + "@example.com";
      u.ua = std::make_unique<SipUa>(o);
      u.ua->answer_bye_automatically(true);
    }
    return u;
  }

  // INVITE to `target` (the factory for the creator), expecting 2xx.
  void join(const std::string& name, const std::string& target = kGs1) {
    auto& u = user(name);
    auto r = u.ua->join(target);
    ASSERT_TRUE(r.ok) << name << " could not join " << target << ": " << r.error << "\n" << r.final.raw;
    u.invite = r.dialog;
    u.joined = true;
  }

  // SUBSCRIBE to gs-1, 200, then the first NOTIFY (full, version 0),
  // answered 200. Returns that NOTIFY.
  SipMessage subscribe(const std::string& name, uint32_t expires = 3600) {
    auto& u = user(name);
    auto r = u.ua->subscribe(kGs1, expires);
    EXPECT_EQ(r.final.status, 200) << name << " SUBSCRIBE: " << r.error << "\n" << r.final.raw;
    u.sub = r.dialog;
    u.subscribed = true;
    auto n = u.ua->wait_in_dialog(u.sub, "NOTIFY", 5s);
    EXPECT_TRUE(n) << name << ": no first NOTIFY";
    if (!n) return SipMessage{};
    u.ua->respond(*n, 200, "OK");
    auto doc = parse_conference_doc(n->body);
    EXPECT_TRUE(doc.well_formed) << doc.error;
    u.version = doc.version.value_or(0);
    return *n;
  }

  // The next conference NOTIFY in `name`'s subscription, answered with
  // `status` (0: not answered).
  std::optional<SipMessage> next_notify(const std::string& name, int status = 200,
                                        std::chrono::milliseconds timeout = 5s) {
    auto& u = user(name);
    auto n = u.ua->wait_in_dialog(u.sub, "NOTIFY", timeout);
    if (n && status) u.ua->respond(*n, status, status == 200 ? "OK" : default_reason(status));
    return n;
  }

  // Checks "Conference NOTIFY OK(X, v)" (PROTOCOL.md §9.1) plus the
  // document invariants of §9.4 (TC-N02..N05), then records the version.
  ConferenceDoc check_notify(const std::string& name, const SipMessage& n, bool terminated = false) {
    auto& u = user(name);
    EXPECT_EQ(n.header("Event").value_or(""), "conference") << name;
    auto ss = parse_subscription_state(n.header("Subscription-State").value_or(""));
    if (terminated) {
      EXPECT_EQ(ss.state, "terminated") << name;
      EXPECT_FALSE(ss.reason.empty()) << name << ": TC-N05 reason";
      EXPECT_FALSE(ss.expires.has_value()) << name << ": TC-N05 no expires";
    } else {
      EXPECT_EQ(ss.state, "active") << name;
      EXPECT_TRUE(ss.expires && *ss.expires >= 1 && *ss.expires <= 3600) << name;
    }
    ConferenceDoc doc;
    if (n.body.empty()) return doc;
    EXPECT_EQ(n.header("Content-Type").value_or(""), "application/conference-info+xml") << name;
    doc = parse_conference_doc(n.body);
    EXPECT_TRUE(doc.well_formed) << name << ": " << doc.error;
    EXPECT_EQ(doc.entity, kGs1) << name;
    for (const auto& e : schema_order_errors(doc)) ADD_FAILURE() << name << ": TC-N04 " << e << "\n" << n.body;
    if (doc.has_conference_state) {
      EXPECT_TRUE(doc.user_count && doc.active && doc.locked) << name << ": TC-N02 conference-state whole";
    }
    if (doc.state == "partial") {
      EXPECT_EQ(doc.users_state, doc.has_users ? "partial" : "") << name << ": TC-N03";
      for (const auto& usr : doc.users) {
        EXPECT_FALSE(usr.state.empty()) << name << ": TC-N03 user " << usr.entity << " without state";
        if (usr.state == "partial") {
          for (const auto& ep : usr.endpoints)
            EXPECT_FALSE(ep.state.empty()) << name << ": TC-N03 endpoint " << ep.entity << " without state";
        }
      }
    }
    EXPECT_TRUE(doc.version.has_value()) << name;
    if (doc.version) {
      EXPECT_EQ(*doc.version, u.version + 1) << name << ": version must be previous + 1";
      u.version = *doc.version;
    }
    return doc;
  }

  // F-BASE: Alice creates gs-1; Bob, Carol and Dan join; all four and
  // Wendy subscribe. With `pair`, only Alice and Bob (F-PAIR).
  void f_base(std::vector<std::string> extra = {}, bool pair = false) {
    start(extra);
    join("alice", kFactory);
    join("bob");
    if (!pair) {
      join("carol");
      join("dan");
    }
    std::vector<std::string> subscribers = pair ? std::vector<std::string>{"alice", "bob"}
                                                : std::vector<std::string>{"alice", "bob", "carol", "dan", "wendy"};
    for (const auto& name : subscribers) {
      subscribe(name);
      if (HasFailure()) return;
    }
  }

  ServerProcess server_;
  std::map<std::string, User> users_;
};

inline std::string transport_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

}  // namespace imserver::testclient
