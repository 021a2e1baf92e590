// HTTP Digest authentication on the wire (SESSIONS.md §5; E48-E50, TC-J22):
// the server trusts only 127.0.0.10, so the users here (127.0.0.1) must
// authenticate with the users file; a 401 challenge (never 407), 403 for bad
// credentials or a From that is not the user's, 401 stale=true for an
// expired nonce, SUBSCRIBE and REFER challenged, OPTIONS and in-dialog
// requests not.

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <thread>

#include "policy/digest.hpp"
#include "tests/conference/fixture.hpp"

namespace imserver::testclient {
namespace {

constexpr const char* kRealm = "im.example.com";
constexpr const char* kTrustedIp = "127.0.0.10";

// The value of parameter `name` in a `Digest a="b", c=d` challenge; nullopt
// when absent.
std::optional<std::string> challenge_param(const std::string& header, const std::string& name) {
  size_t i = header.find(' ');
  while (i != std::string::npos && i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',' || header[i] == '\t')) ++i;
    const size_t eq = header.find('=', i);
    if (eq == std::string::npos) return std::nullopt;
    std::string key = trim(header.substr(i, eq - i));
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t j = eq + 1;
    while (j < header.size() && header[j] == ' ') ++j;
    std::string value;
    if (j < header.size() && header[j] == '"') {
      ++j;
      while (j < header.size() && header[j] != '"') {
        if (header[j] == '\\' && j + 1 < header.size()) ++j;
        value += header[j++];
      }
      ++j;  // closing quote
    } else {
      while (j < header.size() && header[j] != ',') value += header[j++];
      value = trim(value);
    }
    if (key == name) return value;
    i = j;
  }
  return std::nullopt;
}

// `Authorization: Digest ...` line (CRLF included) answering the challenge
// in `r401` for `method` on `uri`, computed with the server's own policy
// functions: qop=auth when the challenge offers it, else the RFC 2069 form.
std::string authorization(const SipMessage& r401, const std::string& username, const std::string& password,
                          const std::string& method, const std::string& uri, const std::string& realm_override = "") {
  const std::string challenge = r401.header("WWW-Authenticate").value_or("");
  const std::string realm = realm_override.empty() ? challenge_param(challenge, "realm").value_or("") : realm_override;
  const std::string nonce = challenge_param(challenge, "nonce").value_or("");
  const bool auth_qop = challenge_param(challenge, "qop").value_or("").find("auth") != std::string::npos;
  const std::string cnonce = "0a4f113b", nc = "00000001";
  const std::string ha1 = policy::digest_ha1(username, realm, password);
  const std::string response =
      policy::digest_response(ha1, method, uri, nonce, auth_qop ? "auth" : "", nc, cnonce);
  std::string line = "Authorization: Digest username=\"" + username + "\", realm=\"" + realm + "\", nonce=\"" +
                     nonce + "\", uri=\"" + uri + "\", response=\"" + response + "\", algorithm=MD5";
  if (auth_qop) line += ", qop=auth, nc=" + nc + ", cnonce=\"" + cnonce + "\"";
  return line + "\r\n";
}

std::string users_file_text() {
  auto line = [](const std::string& user, const std::string& password, const std::string& aor) {
    return user + ":" + policy::digest_ha1(user, kRealm, password) + ":" + aor + "\n";
  };
  return "# Digest users of the wire tests\n\n" + line("alice", "alice-pw", "sip:alice@example.com") +
         line("bob", "bob-pw", "sip:bob@example.com") + line("carol", "carol-pw", "sip:carol@example.com");
}

class DigestTest : public ConferenceTest {
 protected:
  void SetUp() override {
    char name[] = "/tmp/imserver-digest-users-XXXXXX";
    const int fd = mkstemp(name);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = name;
    std::ofstream(path_, std::ios::trunc) << users_file_text();
  }
  void TearDown() override {
    ConferenceTest::TearDown();
    std::remove(path_.c_str());
  }

  void start_digest(std::vector<std::string> extra = {}) {
    std::vector<std::string> flags = {"--auth.trusted-peers=" + std::string(kTrustedIp) + "/32",
                                      "--auth.digest-users-file=" + path_};
    flags.insert(flags.end(), extra.begin(), extra.end());
    start(flags);
  }

  // A user, by default on 127.0.0.1 (untrusted) without PAI. `aor` defaults
  // to sip:<name>@example.com.
  User& make_user(const std::string& name, bool send_pai = false, const std::string& aor = "",
                  const std::string& bind_ip = "127.0.0.1") {
    auto& u = users_[name];
    if (!u.ua) {
      SipUa::Options o;
      o.transport = GetParam();
      o.server_port = server_.port();
      o.aor = aor.empty() ? "sip:" + name + "@example.com" : aor;
      o.send_pai = send_pai;
      o.bind_ip = bind_ip;
      u.ua = std::make_unique<SipUa>(o);
      u.ua->answer_bye_automatically(true);
    }
    return u;
  }

  // A challenge as SESSIONS.md §5 describes it.
  static void expect_challenge(const SipMessage& m, bool stale = false) {
    EXPECT_EQ(m.status, 401) << m.raw;
    EXPECT_FALSE(m.has_header("Proxy-Authenticate")) << "never 407 / Proxy-Authenticate\n" << m.raw;
    const std::string h = m.header("WWW-Authenticate").value_or("");
    EXPECT_EQ(h.rfind("Digest ", 0), 0u) << m.raw;
    EXPECT_EQ(challenge_param(h, "realm").value_or(""), kRealm) << h;
    EXPECT_EQ(challenge_param(h, "nonce").value_or("").size(), 48u) << h;
    EXPECT_NE(h.find("qop=\"auth\""), std::string::npos) << h;
    EXPECT_EQ(challenge_param(h, "algorithm").value_or(""), "MD5") << h;
    EXPECT_EQ(challenge_param(h, "stale").value_or("false"), stale ? "true" : "false") << h;
  }

  // Alice creates gs-1 through a challenge; her INVITE dialog is recorded.
  void alice_creates() {
    auto& a = make_user("alice");
    auto first = a.ua->join(kFactory);
    expect_challenge(first.final);
    auto r = a.ua->join(kFactory, authorization(first.final, "alice", "alice-pw", "INVITE", kFactory));
    ASSERT_TRUE(r.ok) << r.error << "\n" << r.final.raw;
    EXPECT_EQ(uri_of(r.final.header("Contact").value_or("")), kGs1);
    a.invite = r.dialog;
    a.joined = true;
  }

  // Out-of-dialog REFER BYE of gs-1 from `name`.
  std::optional<SipMessage> refer_bye(const std::string& name, const std::string& extra = "") {
    auto& u = users_[name];
    RequestSpec rs;
    rs.method = "REFER";
    rs.request_uri = kGs1;
    rs.to_uri = kGs1;
    rs.extra_headers = "Refer-To: <sip:gs-1@im.example.com;method=BYE>\r\n" + extra;
    auto tx = u.ua->send(rs);
    return u.ua->final_response(tx);
  }

  std::optional<SipMessage> options(const std::string& name, const std::string& target) {
    auto& u = users_[name];
    auto tx = u.ua->send_request("OPTIONS", target, target);
    return u.ua->final_response(tx);
  }

  std::string path_;
};

// TC-J22: no credentials -> 401 challenge; the retry with alice's password
// -> 200 and gs-1 exists (OPTIONS, itself never challenged, finds it).
TEST_P(DigestTest, CreateIsChallengedThenAccepted) {
  start_digest();
  alice_creates();
  auto o = options("alice", kGs1);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->status, 200) << o->raw;
  auto of = options("alice", kFactory);
  ASSERT_TRUE(of);
  EXPECT_EQ(of->status, 200) << of->raw;
}

// The RFC 2069 form (no qop in the credentials) is accepted too.
TEST_P(DigestTest, CredentialsWithoutQopAreAccepted) {
  start_digest();
  auto& a = make_user("alice");
  auto first = a.ua->join(kFactory);
  expect_challenge(first.final);
  const std::string h = first.final.header("WWW-Authenticate").value_or("");
  const std::string nonce = challenge_param(h, "nonce").value_or("");
  const std::string response = policy::digest_response(policy::digest_ha1("alice", kRealm, "alice-pw"), "INVITE",
                                                       kFactory, nonce, "", "", "");
  auto r = a.ua->join(kFactory, "Authorization: Digest username=\"alice\", realm=\"im.example.com\", nonce=\"" +
                                    nonce + "\", uri=\"" + kFactory + "\", response=\"" + response + "\"\r\n");
  EXPECT_TRUE(r.ok) << r.error << "\n" << r.final.raw;
}

// E48: a PAI from an untrusted source is ignored: still a challenge.
TEST_P(DigestTest, ForgedPaiIsIgnored) {
  start_digest();
  auto& m = make_user("mallory", /*send_pai=*/true, "sip:alice@example.com");
  auto r = m.ua->join(kFactory);
  expect_challenge(r.final);
  EXPECT_NE(m.ua->transcript().find("P-Asserted-Identity"), std::string::npos) << "the PAI must have been sent";
}

// A trusted peer with a valid PAI is not challenged; a trusted peer without
// one is (SESSIONS.md §5 table, E49).
TEST_P(DigestTest, TrustedPeerWithPaiIsNotChallenged) {
  start_digest();
  auto& a = make_user("alice", /*send_pai=*/true, "", kTrustedIp);
  auto r = a.ua->join(kFactory);
  EXPECT_TRUE(r.ok) << r.error << "\n" << r.final.raw;
  auto& b = make_user("bob", /*send_pai=*/false, "", kTrustedIp);
  auto rb = b.ua->join(kGs1);
  expect_challenge(rb.final);
}

TEST_P(DigestTest, WrongPasswordIs403) {
  start_digest();
  auto& a = make_user("alice");
  auto first = a.ua->join(kFactory);
  expect_challenge(first.final);
  auto r = a.ua->join(kFactory, authorization(first.final, "alice", "not-the-password", "INVITE", kFactory));
  EXPECT_EQ(r.final.status, 403) << r.final.raw;
}

TEST_P(DigestTest, UnknownUserIs403) {
  start_digest();
  auto& d = make_user("dave");
  auto first = d.ua->join(kFactory);
  expect_challenge(first.final);
  auto r = d.ua->join(kFactory, authorization(first.final, "dave", "dave-pw", "INVITE", kFactory));
  EXPECT_EQ(r.final.status, 403) << r.final.raw;
}

TEST_P(DigestTest, WrongRealmIs403) {
  start_digest();
  auto& a = make_user("alice");
  auto first = a.ua->join(kFactory);
  expect_challenge(first.final);
  auto r = a.ua->join(kFactory,
                      authorization(first.final, "alice", "alice-pw", "INVITE", kFactory, "other.example.com"));
  EXPECT_EQ(r.final.status, 403) << r.final.raw;
}

// An expired nonce with the right password: 401 stale=true and a new nonce
// that works.
TEST_P(DigestTest, StaleNonceIs401WithStaleTrue) {
  start_digest({"--auth.nonce-lifetime-s=1"});
  auto& a = make_user("alice");
  auto first = a.ua->join(kFactory);
  expect_challenge(first.final);
  std::this_thread::sleep_for(2200ms);
  auto second = a.ua->join(kFactory, authorization(first.final, "alice", "alice-pw", "INVITE", kFactory));
  expect_challenge(second.final, /*stale=*/true);
  EXPECT_NE(challenge_param(second.final.header("WWW-Authenticate").value_or(""), "nonce"),
            challenge_param(first.final.header("WWW-Authenticate").value_or(""), "nonce"));
  auto third = a.ua->join(kFactory, authorization(second.final, "alice", "alice-pw", "INVITE", kFactory));
  EXPECT_TRUE(third.ok) << third.error << "\n" << third.final.raw;
}

// E50: bob's credentials in a request whose From is eve -> 403, unless
// --auth.from-must-match=false.
TEST_P(DigestTest, FromNotMatchingTheUserIs403) {
  start_digest();
  auto& e = make_user("eve");
  auto first = e.ua->join(kFactory);
  expect_challenge(first.final);
  auto r = e.ua->join(kFactory, authorization(first.final, "bob", "bob-pw", "INVITE", kFactory));
  EXPECT_EQ(r.final.status, 403) << r.final.raw;
}

TEST_P(DigestTest, FromMayDifferWhenMatchingIsOff) {
  start_digest({"--auth.from-must-match=false"});
  auto& e = make_user("eve");
  auto first = e.ua->join(kFactory);
  expect_challenge(first.final);
  auto r = e.ua->join(kFactory, authorization(first.final, "alice", "alice-pw", "INVITE", kFactory));
  EXPECT_TRUE(r.ok) << r.error << "\n" << r.final.raw;
}

// Joins, SUBSCRIBE and REFER at the session are challenged; OPTIONS is not.
TEST_P(DigestTest, JoinSubscribeAndReferAreChallenged) {
  start_digest();
  alice_creates();
  if (HasFailure()) return;
  auto& b = make_user("bob");
  auto join = b.ua->join(kGs1);
  expect_challenge(join.final);
  auto joined = b.ua->join(kGs1, authorization(join.final, "bob", "bob-pw", "INVITE", kGs1));
  ASSERT_TRUE(joined.ok) << joined.error << "\n" << joined.final.raw;
  b.invite = joined.dialog;
  b.joined = true;

  auto sub = b.ua->subscribe(kGs1);
  expect_challenge(sub.final);
  auto sub2 = b.ua->subscribe(kGs1, 3600,
                              std::string(kConferenceSubscribeHeaders) +
                                  authorization(sub.final, "bob", "bob-pw", "SUBSCRIBE", kGs1));
  EXPECT_EQ(sub2.final.status, 200) << sub2.error << "\n" << sub2.final.raw;
  if (sub2.ok) {
    auto n = b.ua->wait_in_dialog(sub2.dialog, "NOTIFY", 5s);
    EXPECT_TRUE(n) << "no first NOTIFY";
    if (n) b.ua->respond(*n, 200, "OK");
  }

  auto o = options("bob", kGs1);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->status, 200) << o->raw;

  auto refer = refer_bye("bob");
  ASSERT_TRUE(refer);
  expect_challenge(*refer);
  auto refer2 = refer_bye("bob", authorization(*refer, "bob", "bob-pw", "REFER", kGs1));
  ASSERT_TRUE(refer2);
  EXPECT_EQ(refer2->status, 202) << refer2->raw;
}

// In-dialog requests need no credentials: they inherit the dialog's
// identity. Bob leaves by BYE; Carol leaves by an in-dialog REFER BYE.
TEST_P(DigestTest, InDialogRequestsAreNotChallenged) {
  start_digest();
  alice_creates();
  if (HasFailure()) return;
  for (const std::string name : {"bob", "carol"}) {
    auto& u = make_user(name);
    auto first = u.ua->join(kGs1);
    expect_challenge(first.final);
    auto r = u.ua->join(kGs1, authorization(first.final, name, name + "-pw", "INVITE", kGs1));
    ASSERT_TRUE(r.ok) << name << ": " << r.error << "\n" << r.final.raw;
    u.invite = r.dialog;
    u.joined = true;
  }
  auto& b = users_["bob"];
  auto bye = b.ua->bye(b.invite);
  ASSERT_TRUE(bye) << "no answer to bob's BYE";
  EXPECT_EQ(bye->status, 200) << bye->raw;

  auto& c = users_["carol"];
  auto tx = c.ua->send_in_dialog(c.invite, "REFER", "Refer-To: <sip:gs-1@im.example.com;method=BYE>\r\n");
  auto refer = c.ua->final_response(tx);
  ASSERT_TRUE(refer) << "no answer to carol's REFER";
  EXPECT_EQ(refer->status, 202) << refer->raw;
}

// Without a users file nothing changes: an untrusted user gets 403, no
// challenge.
TEST_P(DigestTest, WithoutUsersFileUntrustedIs403) {
  start({"--auth.trusted-peers=" + std::string(kTrustedIp) + "/32"});
  auto& a = make_user("alice");
  auto r = a.ua->join(kFactory);
  EXPECT_EQ(r.final.status, 403) << r.final.raw;
  EXPECT_FALSE(r.final.has_header("WWW-Authenticate")) << r.final.raw;
}

// A broken users file stops the server at start, naming the line.
TEST_P(DigestTest, BadUsersFileStopsTheServer) {
  std::ofstream(path_, std::ios::trunc) << users_file_text() << "dave:not-a-hash:sip:dave@example.com\n";
  ServerProcess bad;
  std::string error;
  EXPECT_FALSE(bad.start({"--auth.digest-users-file=" + path_}, &error));
  EXPECT_NE((error + bad.stderr_text()).find("line 6"), std::string::npos) << error << "\n" << bad.stderr_text();
  if (bad.running()) bad.stop();
}

INSTANTIATE_TEST_SUITE_P(Transports, DigestTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
