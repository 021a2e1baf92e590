// The MSRP switch without sockets: frames in through on_bytes, what it
// writes captured per connection by a fake ConnectionIo and parsed back.

#include "transport/msrp/msrp_switch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

using namespace imserver;
using codec::msrp::EndFlag;
using codec::msrp::Frame;
using transport::ConnId;
using transport::MsrpLeg;
using transport::MsrpSwitch;
using transport::MsrpSwitchConfig;

namespace {

struct FakeIo : transport::ConnectionIo {
  std::map<ConnId, std::string> written;
  std::map<ConnId, size_t> backlog_of;
  std::vector<ConnId> closed;
  std::vector<transport::MsrpLegFailed> failures;
  struct Dial {
    std::string host;
    uint16_t port;
    ConnId conn;
  };
  std::vector<Dial> dials;  // connect requests, in order
  ConnId next_dial = 1000;
  bool refuse_connect = false;

  ConnId connect(const std::string& host, uint16_t port) override {
    if (refuse_connect) return 0;
    dials.push_back(Dial{host, port, next_dial});
    return next_dial++;
  }
  void write(ConnId conn, std::string bytes) override { written[conn] += bytes; }
  size_t backlog(ConnId conn) const override {
    auto it = backlog_of.find(conn);
    return it == backlog_of.end() ? 0 : it->second;
  }
  void close(ConnId conn) override { closed.push_back(conn); }
  void leg_failed(transport::MsrpLegFailed e) override { failures.push_back(std::move(e)); }

  // Everything written to `conn` since the last call, as frames.
  std::vector<Frame> take(ConnId conn) {
    codec::msrp::StreamParser parser(1 << 24);
    parser.feed(written[conn]);
    written[conn].clear();
    std::vector<Frame> out;
    while (auto f = parser.next()) out.push_back(std::move(*f));
    EXPECT_FALSE(parser.broken()) << parser.error();
    return out;
  }
};

const std::string kGroup = "sip:gs-1@im.example.com";

std::string local(const std::string& name) { return "msrp://127.0.0.1:2855/focus" + name + "0000000;tcp"; }
std::string remote(const std::string& name) { return "msrp://127.0.0.1:4000/" + name + "-path;tcp"; }

MsrpLeg leg(const std::string& name) {
  MsrpLeg l;
  l.leg_id = "focus" + name + "0000000";
  l.group = kGroup;
  l.local_uri = local(name);
  l.remote_path = {remote(name)};
  l.aor = "sip:" + name + "@example.com";
  l.accept_types = {"message/cpim"};
  l.accept_wrapped_types = {"text/plain"};
  l.owner = kGroup;
  l.dialog = name.size();
  return l;
}

std::string cpim(const std::string& from, const std::string& to, const std::string& text,
                 const std::string& type = "text/plain") {
  return "From: <" + from + ">\r\nTo: <" + to + ">\r\nDateTime: 2025-01-15T10:00:00Z\r\n\r\nContent-Type: " + type +
         "\r\n\r\n" + text;
}

std::string send(const std::string& from_name, const std::string& tid, const std::string& message_id,
                 const std::string& body, std::vector<std::pair<std::string, std::string>> extra = {},
                 const std::string& byte_range = "", EndFlag flag = EndFlag::Complete) {
  Frame f;
  f.tid = tid;
  f.method = "SEND";
  f.headers = {{"To-Path", local(from_name)}, {"From-Path", remote(from_name)}};
  if (!message_id.empty()) f.headers.emplace_back("Message-ID", message_id);
  f.headers.emplace_back("Byte-Range", byte_range.empty() ? "1-" + std::to_string(body.size()) + "/" +
                                                                 std::to_string(body.size())
                                                           : byte_range);
  for (auto& h : extra) f.headers.push_back(h);
  if (!body.empty()) {
    f.headers.emplace_back("Content-Type", "message/cpim");
    f.has_body_section = true;
    f.body = body;
  }
  f.flag = flag;
  return codec::msrp::serialize(f);
}

struct Fixture {
  FakeIo io;
  MsrpSwitchConfig config;
  std::unique_ptr<MsrpSwitch> sw;
  std::map<std::string, ConnId> conn;

  explicit Fixture(MsrpSwitchConfig c = {}) : config(c) { sw = std::make_unique<MsrpSwitch>(config, io); }

  // Registers the users' legs and binds each on its own connection.
  void join(const std::vector<std::string>& names) {
    for (const auto& n : names) {
      sw->add_leg(leg(n), 0);
      const ConnId id = conn.size() + 1;
      conn[n] = id;
      sw->on_connection(id, 0);
      sw->on_bytes(id, send(n, "bind" + n, "b-" + n, ""), 0);
      auto r = io.take(id);
      ASSERT_EQ(r.size(), 1u) << n;
      ASSERT_EQ(r[0].status, 200) << n;
    }
  }
};

}  // namespace

TEST(MsrpSwitch, BindingAnswers200FromTheLegsPath) {
  Fixture f;
  f.sw->add_leg(leg("alice"), 0);
  f.sw->on_connection(1, 0);
  f.sw->on_bytes(1, send("alice", "bind0001", "bind-m0", ""), 0);
  auto frames = f.io.take(1);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_FALSE(frames[0].is_request);
  EXPECT_EQ(frames[0].tid, "bind0001");
  EXPECT_EQ(frames[0].status, 200);
  EXPECT_EQ(*frames[0].header("To-Path"), remote("alice"));
  EXPECT_EQ(*frames[0].header("From-Path"), local("alice"));
}

TEST(MsrpSwitch, UnknownSessionIs481AndBoundElsewhereIs506) {
  Fixture f;
  f.join({"alice", "carol"});
  f.sw->on_connection(9, 0);
  Frame unknown;
  unknown.tid = "nosuch01";
  unknown.method = "SEND";
  unknown.headers = {{"To-Path", "msrp://127.0.0.1:2855/NoSuchSession000;tcp"},
                     {"From-Path", remote("alice")},
                     {"Message-ID", "x"},
                     {"Byte-Range", "1-0/0"}};
  f.sw->on_bytes(9, codec::msrp::serialize(unknown), 0);
  auto r = f.io.take(9);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 481);
  f.sw->on_bytes(9, send("carol", "steal001", "s-1", ""), 0);
  r = f.io.take(9);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 506);
}

TEST(MsrpSwitch, RegularMessageReachesEveryoneElseInOrderWithFreshIds) {
  Fixture f;
  f.join({"alice", "bob", "carol"});
  for (const char* text : {"one", "two", "three"})
    f.sw->on_bytes(f.conn["alice"], send("alice", std::string("t-") + text, std::string("m-") + text,
                                         cpim("sip:alice@example.com", kGroup, text)),
                   0);
  auto acks = f.io.take(f.conn["alice"]);
  ASSERT_EQ(acks.size(), 3u);
  for (const auto& a : acks) EXPECT_EQ(a.status, 200);
  for (const char* name : {"bob", "carol"}) {
    auto copies = f.io.take(f.conn[name]);
    ASSERT_EQ(copies.size(), 3u) << name;
    const char* texts[] = {"one", "two", "three"};
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(copies[i].method, "SEND");
      EXPECT_EQ(copies[i].body, cpim("sip:alice@example.com", kGroup, texts[i])) << "byte-identical";
      EXPECT_EQ(*copies[i].header("To-Path"), remote(name));
      EXPECT_EQ(*copies[i].header("From-Path"), local(name));
      EXPECT_NE(*copies[i].header("Message-ID"), std::string("m-") + texts[i]);
      EXPECT_GE(copies[i].header("Message-ID")->size(), 16u);
      EXPECT_EQ(*copies[i].header("Failure-Report"), "yes");
    }
  }
}

TEST(MsrpSwitch, LargeCopiesGoOutInChunksOfAtMost2048) {
  Fixture f;
  f.join({"alice", "bob"});
  const std::string body = cpim("sip:alice@example.com", kGroup, std::string(5000, 'x'));
  f.sw->on_bytes(f.conn["alice"], send("alice", "big00001", "m-big", body), 0);
  auto chunks = f.io.take(f.conn["bob"]);
  ASSERT_EQ(chunks.size(), 3u);
  std::string joined;
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LE(chunks[i].body.size(), 2048u);
    EXPECT_EQ(chunks[i].flag, i + 1 == chunks.size() ? EndFlag::Complete : EndFlag::More);
    joined += chunks[i].body;
  }
  EXPECT_EQ(joined, body);
}

TEST(MsrpSwitch, IncomingChunksAreReassembledBeforeFanOut) {
  Fixture f;
  f.join({"alice", "bob"});
  const std::string body = cpim("sip:alice@example.com", kGroup, std::string(3000, 'y'));
  const std::string total = std::to_string(body.size());
  f.sw->on_bytes(f.conn["alice"],
                 send("alice", "chunk001", "m-chunked", body.substr(0, 2048), {}, "1-2048/" + total, EndFlag::More), 0);
  EXPECT_TRUE(f.io.take(f.conn["bob"]).empty()) << "store and forward";
  f.sw->on_bytes(f.conn["alice"],
                 send("alice", "chunk002", "m-chunked", body.substr(2048), {}, "2049-" + total + "/" + total), 0);
  auto acks = f.io.take(f.conn["alice"]);
  ASSERT_EQ(acks.size(), 2u);
  std::string joined;
  for (const auto& c : f.io.take(f.conn["bob"])) joined += c.body;
  EXPECT_EQ(joined, body);
}

TEST(MsrpSwitch, RefusalsAndTheirCodes) {
  struct Case {
    const char* name;
    std::string body;
    std::string message_id;
    uint16_t status;
  };
  const Case cases[] = {
      {"spoofed From", cpim("sip:bob@example.com", kGroup, "spoofed?"), "m1", 403},
      {"two To", "From: <sip:alice@example.com>\r\nTo: <" + kGroup + ">\r\nTo: <sip:bob@example.com>\r\n\r\n"
                 "Content-Type: text/plain\r\n\r\nhi", "m2", 403},
      {"no To", "From: <sip:alice@example.com>\r\n\r\nContent-Type: text/plain\r\n\r\nhi", "m3", 400},
      {"unknown recipient", cpim("sip:alice@example.com", "sip:henry@example.com", "x"), "m4", 404},
      {"private to a non chat-room client", cpim("sip:alice@example.com", "sip:bob@example.com", "x"), "m5", 428},
      {"no Message-ID", cpim("sip:alice@example.com", kGroup, "x"), "", 400},
  };
  for (const auto& c : cases) {
    Fixture f;
    f.join({"alice", "bob"});
    f.sw->on_bytes(f.conn["alice"], send("alice", "ref00001", c.message_id, c.body), 0);
    auto r = f.io.take(f.conn["alice"]);
    ASSERT_EQ(r.size(), 1u) << c.name;
    EXPECT_EQ(r[0].status, c.status) << c.name;
    EXPECT_TRUE(f.io.take(f.conn["bob"]).empty()) << c.name << ": no copies";
  }
}

TEST(MsrpSwitch, PrivateMessageReachesOnlyItsRecipient) {
  Fixture f;
  auto bob = leg("bob");
  bob.private_messages = true;
  f.sw->add_leg(bob, 0);
  f.join({"alice", "carol"});
  f.conn["bob"] = 99;
  f.sw->on_connection(99, 0);
  f.sw->on_bytes(99, send("bob", "bindbob1", "b-bob", ""), 0);
  f.io.take(99);
  const std::string body = cpim("sip:alice@example.com", "sip:bob@example.com", "Only for you, Bob");
  f.sw->on_bytes(f.conn["alice"], send("alice", "priv0001", "m-priv", body), 0);
  auto r = f.io.take(f.conn["alice"]);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(f.io.take(99).size(), 1u);
  EXPECT_TRUE(f.io.take(f.conn["carol"]).empty());
}

TEST(MsrpSwitch, ReportRulesAndDuplicates) {
  Fixture f;
  f.join({"alice", "bob"});
  const std::string body = cpim("sip:alice@example.com", kGroup, "Hello team");
  // Failure-Report: no -> no response at all; the copy still goes.
  f.sw->on_bytes(f.conn["alice"], send("alice", "fr-no001", "m-a", body, {{"Failure-Report", "no"}}), 0);
  EXPECT_TRUE(f.io.take(f.conn["alice"]).empty());
  EXPECT_EQ(f.io.take(f.conn["bob"]).size(), 1u);
  // Success-Report: yes -> 200, then a REPORT with the original Message-ID.
  f.sw->on_bytes(f.conn["alice"], send("alice", "sr-yes01", "m-b", body, {{"Success-Report", "yes"}}), 0);
  auto r = f.io.take(f.conn["alice"]);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[1].method, "REPORT");
  EXPECT_EQ(*r[1].header("Message-ID"), "m-b");
  EXPECT_EQ(r[1].header("Status")->rfind("000 200", 0), 0u);
  EXPECT_EQ(*r[1].header("Byte-Range"), "1-" + std::to_string(body.size()) + "/" + std::to_string(body.size()));
  auto copies = f.io.take(f.conn["bob"]);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].header("Success-Report"), nullptr);
  // The same Message-ID again: 200, no second copy.
  f.sw->on_bytes(f.conn["alice"], send("alice", "again001", "m-b", body), 0);
  r = f.io.take(f.conn["alice"]);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_TRUE(f.io.take(f.conn["bob"]).empty());
}

// The duplicate check remembers the last dedupe_window completed
// Message-IDs of a leg (a ring): older ones are relayed again.
TEST(MsrpSwitch, DuplicateWindowForgetsTheOldest) {
  MsrpSwitchConfig c;
  c.dedupe_window = 3;
  Fixture f(c);
  f.join({"alice", "bob"});
  const std::string body = cpim("sip:alice@example.com", kGroup, "Hello team");
  auto copies_of = [&](const std::string& tid, const std::string& mid) {
    f.sw->on_bytes(f.conn["alice"], send("alice", tid, mid, body), 0);
    auto r = f.io.take(f.conn["alice"]);
    EXPECT_EQ(r.size(), 1u) << mid;
    if (!r.empty()) {
      EXPECT_EQ(r[0].status, 200) << mid;
    }
    return f.io.take(f.conn["bob"]).size();
  };
  for (const char* mid : {"m-1", "m-2", "m-3", "m-4"}) EXPECT_EQ(copies_of(std::string("t") + mid + "xxxx", mid), 1u);
  EXPECT_EQ(copies_of("again-m4", "m-4"), 0u);  // still remembered
  EXPECT_EQ(copies_of("again-m2", "m-2"), 0u);
  EXPECT_EQ(copies_of("again-m1", "m-1"), 1u);  // pushed out by m-4
}

TEST(MsrpSwitch, SlowReceiverIsDroppedThenRemovedOthersUnaffected) {
  MsrpSwitchConfig c;
  c.queue_max_messages = 50;
  c.congestion_kick_ms = 10000;
  Fixture f(c);
  f.join({"alice", "bob", "carol"});
  f.io.backlog_of[f.conn["carol"]] = 1u << 30;  // carol stopped reading
  for (int i = 0; i < 300; ++i)
    f.sw->on_bytes(f.conn["alice"],
                   send("alice", "slow" + std::to_string(1000 + i), "m" + std::to_string(i),
                        cpim("sip:alice@example.com", kGroup, std::string(900, 'z'))),
                   100);
  EXPECT_EQ(f.io.take(f.conn["alice"]).size(), 300u);
  EXPECT_EQ(f.io.take(f.conn["bob"]).size(), 300u);
  EXPECT_TRUE(f.io.take(f.conn["carol"]).empty());
  EXPECT_GT(f.sw->stats().copies_dropped, 200u);
  f.sw->on_tick(100 + 9999);
  EXPECT_TRUE(f.io.failures.empty());
  f.sw->on_tick(100 + 10000);
  ASSERT_EQ(f.io.failures.size(), 1u);
  EXPECT_EQ(f.io.failures[0].leg_id, leg("carol").leg_id);
  EXPECT_EQ(f.io.failures[0].reason, "MSRP congestion");
  EXPECT_EQ(f.sw->leg_count(), 2u);
}

TEST(MsrpSwitch, UnansweredCopyFailsTheLegAfterTheResponseTimeout) {
  Fixture f;
  f.join({"alice", "bob"});
  f.sw->on_bytes(f.conn["alice"], send("alice", "tmo00001", "m-t", cpim("sip:alice@example.com", kGroup, "hi")), 0);
  ASSERT_EQ(f.io.take(f.conn["bob"]).size(), 1u);
  f.sw->on_tick(29999);
  EXPECT_TRUE(f.io.failures.empty());
  f.sw->on_tick(30000);
  ASSERT_EQ(f.io.failures.size(), 1u);
  EXPECT_EQ(f.io.failures[0].reason, "MSRP timeout");
}

TEST(MsrpSwitch, ReleasedLegGets481AndItsConnectionCloses) {
  Fixture f;
  f.join({"alice", "bob", "carol"});
  f.sw->release_leg(leg("carol").leg_id);
  ASSERT_EQ(f.io.closed.size(), 1u);
  EXPECT_EQ(f.io.closed[0], f.conn["carol"]);
  f.sw->on_bytes(f.conn["alice"], send("alice", "after001", "m-after", cpim("sip:alice@example.com", kGroup, "x")), 0);
  EXPECT_EQ(f.io.take(f.conn["bob"]).size(), 1u);
  EXPECT_TRUE(f.io.take(f.conn["carol"]).empty());
  f.sw->on_connection(50, 0);
  f.sw->on_bytes(50, send("carol", "late0001", "m-late", ""), 0);
  auto r = f.io.take(50);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 481);
}

TEST(MsrpSwitch, GarbageClosesOnlyThatConnection) {
  Fixture f;
  f.join({"alice", "bob"});
  f.sw->on_bytes(f.conn["bob"], "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0);
  ASSERT_EQ(f.io.closed.size(), 1u);
  EXPECT_EQ(f.io.closed[0], f.conn["bob"]);
  f.sw->on_bytes(f.conn["alice"], send("alice", "still001", "m-still", cpim("sip:alice@example.com", kGroup, "x")), 0);
  auto r = f.io.take(f.conn["alice"]);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 200);
}

TEST(MsrpSwitch, OneConnectionCarriesLegsOfTwoSessions) {
  Fixture f;
  f.join({"alice", "bob"});
  // Carol's device (or a Participating Function) carries her legs of gs-1
  // and of gs-2 on one connection; each binds with its own first request.
  auto carol1 = leg("carol");
  auto carol2 = leg("carol");
  carol2.leg_id = "focuscarol2000000";
  carol2.local_uri = "msrp://127.0.0.1:2855/focuscarol2000000;tcp";
  carol2.group = "sip:gs-2@im.example.com";
  auto dan2 = leg("dan");
  dan2.group = carol2.group;
  f.sw->add_leg(carol1, 0);
  f.sw->add_leg(carol2, 0);
  f.sw->add_leg(dan2, 0);
  f.sw->on_connection(7, 0);
  f.sw->on_bytes(7, send("carol", "bindc001", "b-c1", ""), 0);
  Frame bind2;
  bind2.tid = "bindc002";
  bind2.method = "SEND";
  bind2.headers = {{"To-Path", carol2.local_uri}, {"From-Path", remote("carol")}, {"Message-ID", "b-c2"},
                   {"Byte-Range", "1-0/0"}};
  f.sw->on_bytes(7, codec::msrp::serialize(bind2), 0);
  auto r = f.io.take(7);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[1].status, 200);
  f.sw->on_connection(8, 0);
  f.sw->on_bytes(8, send("dan", "bindd001", "b-d", ""), 0);
  f.io.take(8);
  // A message in gs-1 reaches Carol's gs-1 leg only; Dan (gs-2) hears nothing.
  f.sw->on_bytes(f.conn["alice"], send("alice", "two00001", "m-2s", cpim("sip:alice@example.com", kGroup, "hi")), 0);
  auto copies = f.io.take(7);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(*copies[0].header("From-Path"), carol1.local_uri);
  EXPECT_TRUE(f.io.take(8).empty());
  // Releasing one of the two legs keeps the shared connection open.
  f.sw->release_leg(carol1.leg_id);
  EXPECT_TRUE(f.io.closed.empty());
  EXPECT_EQ(f.sw->connection_count(), 4u);
}

// ------------------------------------------------ connect_out (SESSIONS.md §7.3)

namespace {

// Bob answered a=setup:passive: the focus connects to him. His path goes
// through a relay, so the connection is to the relay (the first URI) and
// the To-Path is the whole path.
const std::string kRelay = "msrp://10.0.0.7:7777/relay1;tcp";

MsrpLeg active_leg(const std::string& name) {
  MsrpLeg l = leg(name);
  l.connect_out = true;
  l.remote_path = {kRelay, remote(name)};
  return l;
}

// The peer's answer to `request`, from its own (last To-Path) URI.
std::string ok_to(const Frame& request, uint16_t status = 200) {
  return codec::msrp::serialize(
      codec::msrp::make_response(request, status, status == 200 ? "OK" : "Nope", request.to_path().back()));
}

}  // namespace

TEST(MsrpSwitch, ConnectOutLegOpensAConnectionAndBindsWithABodilessSend) {
  Fixture f;
  f.sw->add_leg(active_leg("bob"), 0);
  ASSERT_EQ(f.io.dials.size(), 1u);
  EXPECT_EQ(f.io.dials[0].host, "10.0.0.7");
  EXPECT_EQ(f.io.dials[0].port, 7777);
  const ConnId c = f.io.dials[0].conn;
  EXPECT_TRUE(f.io.written[c].empty()) << "nothing before the connection is up";
  f.sw->on_connected(c, 5);
  const std::string raw = f.io.written[c];
  auto frames = f.io.take(c);
  ASSERT_EQ(frames.size(), 1u);
  const Frame& bind = frames[0];
  EXPECT_TRUE(bind.is_request);
  EXPECT_EQ(bind.method, "SEND");
  EXPECT_EQ(bind.tid.size(), 16u);
  EXPECT_EQ(*bind.header("To-Path"), kRelay + " " + remote("bob"));
  EXPECT_EQ(*bind.header("From-Path"), local("bob"));
  ASSERT_NE(bind.header("Message-ID"), nullptr);
  EXPECT_GE(bind.header("Message-ID")->size(), 16u);
  EXPECT_EQ(*bind.header("Byte-Range"), "1-0/0");
  EXPECT_EQ(bind.header("Content-Type"), nullptr);
  EXPECT_FALSE(bind.has_body_section);
  EXPECT_TRUE(bind.body.empty());
  EXPECT_EQ(bind.flag, EndFlag::Complete);
  EXPECT_EQ(raw.find("\r\n\r\n"), std::string::npos) << "no empty line without a body: " << raw;
  EXPECT_EQ(raw.substr(raw.size() - 26), "-------" + bind.tid + "$\r\n");
  f.sw->on_bytes(c, ok_to(bind), 10);
  f.sw->on_tick(100000);
  EXPECT_TRUE(f.io.failures.empty());
  EXPECT_EQ(f.sw->leg_count(), 1u);
  EXPECT_TRUE(f.io.closed.empty());
}

TEST(MsrpSwitch, ConnectOutCopiesQueuedWhileConnectingFollowTheBindingAndTheConnectionWorksBothWays) {
  Fixture f;
  f.join({"alice"});
  f.sw->add_leg(active_leg("bob"), 0);
  const ConnId c = f.io.dials.at(0).conn;
  // A message while Bob's connection is still being made: it waits.
  f.sw->on_bytes(f.conn["alice"], send("alice", "early001", "m-early", cpim("sip:alice@example.com", kGroup, "early")),
                 1);
  EXPECT_EQ(f.io.take(f.conn["alice"]).size(), 1u);
  EXPECT_TRUE(f.io.written[c].empty());
  // A participant connection cannot take the leg meanwhile.
  f.sw->on_connection(50, 1);
  f.sw->on_bytes(50, send("bob", "steal001", "b-steal", ""), 1);
  auto r = f.io.take(50);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 506);

  f.sw->on_connected(c, 2);
  auto out = f.io.take(c);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].header("Byte-Range") ? *out[0].header("Byte-Range") : "", "1-0/0") << "the binding SEND first";
  EXPECT_TRUE(out[0].body.empty());
  EXPECT_EQ(out[1].method, "SEND");
  EXPECT_EQ(out[1].body, cpim("sip:alice@example.com", kGroup, "early"));
  EXPECT_EQ(*out[1].header("To-Path"), kRelay + " " + remote("bob"));
  f.sw->on_bytes(c, ok_to(out[0]) + ok_to(out[1]), 3);

  // Later copies go straight out.
  f.sw->on_bytes(f.conn["alice"], send("alice", "later001", "m-later", cpim("sip:alice@example.com", kGroup, "later")),
                 4);
  EXPECT_EQ(f.io.take(f.conn["alice"]).size(), 1u);
  out = f.io.take(c);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body, cpim("sip:alice@example.com", kGroup, "later"));
  f.sw->on_bytes(c, ok_to(out[0]), 5);

  // Bob's own messages on the focus's connection are routed like any.
  Frame from_bob;
  from_bob.tid = "frombob1";
  from_bob.method = "SEND";
  const std::string body = cpim("sip:bob@example.com", kGroup, "hi from bob");
  from_bob.headers = {{"To-Path", local("bob")},
                      {"From-Path", kRelay + " " + remote("bob")},
                      {"Message-ID", "m-bob"},
                      {"Byte-Range", "1-" + std::to_string(body.size()) + "/" + std::to_string(body.size())},
                      {"Content-Type", "message/cpim"}};
  from_bob.has_body_section = true;
  from_bob.body = body;
  f.sw->on_bytes(c, codec::msrp::serialize(from_bob), 6);
  r = f.io.take(c);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(*r[0].header("To-Path"), kRelay) << "a response goes to the previous hop";
  auto copies = f.io.take(f.conn["alice"]);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].body, body);
  f.sw->on_bytes(f.conn["alice"], ok_to(copies[0]), 7);
  f.sw->on_tick(100000);
  EXPECT_TRUE(f.io.failures.empty()) << f.io.failures[0].reason;
}

TEST(MsrpSwitch, ConnectOutFailures) {
  const std::string bob_id = leg("bob").leg_id;
  auto expect_failed = [&](Fixture& f, const char* reason, const char* what) {
    ASSERT_EQ(f.io.failures.size(), 1u) << what;
    EXPECT_EQ(f.io.failures[0].leg_id, bob_id) << what;
    EXPECT_EQ(f.io.failures[0].reason, reason) << what;
    EXPECT_EQ(f.io.failures[0].dialog, leg("bob").dialog) << what;
    EXPECT_EQ(f.sw->leg_count(), 1u) << what << ": only alice is left";
  };
  {
    Fixture f;
    f.join({"alice"});
    f.sw->add_leg(active_leg("bob"), 0);
    f.sw->on_connect_failed(f.io.dials.at(0).conn);
    expect_failed(f, "MSRP failure", "connection refused");
    EXPECT_EQ(f.sw->connection_count(), 1u);
  }
  {
    Fixture f;
    f.join({"alice"});
    f.io.refuse_connect = true;
    f.sw->add_leg(active_leg("bob"), 0);
    expect_failed(f, "MSRP failure", "no connect attempt possible");
  }
  {
    Fixture f;
    f.join({"alice"});
    auto tls = active_leg("bob");
    tls.remote_path = {"msrps://10.0.0.7:7777/bob-path;tcp"};
    f.sw->add_leg(tls, 0);
    EXPECT_TRUE(f.io.dials.empty());
    expect_failed(f, "MSRP failure", "msrps: no TLS client");
  }
  {
    Fixture f;
    f.join({"alice"});
    f.sw->add_leg(active_leg("bob"), 0);
    const ConnId c = f.io.dials.at(0).conn;
    f.sw->on_connected(c, 0);
    auto out = f.io.take(c);
    ASSERT_EQ(out.size(), 1u);
    f.sw->on_bytes(c, ok_to(out[0], 481), 1);
    expect_failed(f, "MSRP failure", "binding refused");
    ASSERT_EQ(f.io.closed.size(), 1u);
    EXPECT_EQ(f.io.closed[0], c);
  }
  {
    Fixture f;
    f.join({"alice"});
    f.sw->add_leg(active_leg("bob"), 0);
    const ConnId c = f.io.dials.at(0).conn;
    f.sw->on_connected(c, 1000);
    f.sw->on_tick(1000 + 29999);
    EXPECT_TRUE(f.io.failures.empty());
    f.sw->on_tick(1000 + 30000);
    expect_failed(f, "MSRP timeout", "binding unanswered");
    ASSERT_EQ(f.io.closed.size(), 1u);
  }
  {
    Fixture f;
    f.join({"alice"});
    f.sw->add_leg(active_leg("bob"), 1000);
    f.sw->on_tick(1000 + 29999);
    EXPECT_TRUE(f.io.failures.empty());
    f.sw->on_tick(1000 + 30000);
    expect_failed(f, "MSRP timeout", "connect never completes");
    ASSERT_EQ(f.io.closed.size(), 1u) << "the attempt is abandoned";
    EXPECT_EQ(f.io.closed[0], f.io.dials.at(0).conn);
  }
}

TEST(MsrpSwitch, ConnectOutReusesTheConnectionToTheSameHostAndPort) {
  Fixture f;
  auto bob = active_leg("bob");
  auto carol = active_leg("carol");  // behind the same relay
  f.sw->add_leg(bob, 0);
  f.sw->add_leg(carol, 0);
  ASSERT_EQ(f.io.dials.size(), 1u);
  const ConnId c = f.io.dials[0].conn;
  f.sw->on_connected(c, 1);
  auto out = f.io.take(c);
  ASSERT_EQ(out.size(), 2u);
  std::vector<std::string> froms = {*out[0].header("From-Path"), *out[1].header("From-Path")};
  std::sort(froms.begin(), froms.end());
  EXPECT_EQ(froms, (std::vector<std::string>{local("bob"), local("carol")}));
  // A third leg on the live connection binds at once.
  auto dan = active_leg("dan");
  f.sw->add_leg(dan, 2);
  EXPECT_EQ(f.io.dials.size(), 1u);
  out = f.io.take(c);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(*out[0].header("From-Path"), local("dan"));
  // Releasing legs keeps the connection while another uses it.
  f.sw->release_leg(bob.leg_id);
  f.sw->release_leg(dan.leg_id);
  EXPECT_TRUE(f.io.closed.empty());
  f.sw->release_leg(carol.leg_id);
  ASSERT_EQ(f.io.closed.size(), 1u);
  EXPECT_EQ(f.io.closed[0], c);
  // A new leg afterwards opens a fresh connection.
  f.sw->add_leg(active_leg("erin"), 3);
  ASSERT_EQ(f.io.dials.size(), 2u);
  EXPECT_NE(f.io.dials[1].conn, c);
}

// The switch keeps indexes (dialog -> legs, group -> legs, per-leg
// transactions, what the tick must look at) instead of scanning every leg;
// these pin what the scans did.

TEST(MsrpSwitch, ReleaseDialogReleasesEveryLegOfThatDialogAndNoOther) {
  Fixture f;
  f.join({"alice", "bob", "carol"});  // dialogs 5, 3, 5 (leg() uses the name's length)
  f.sw->on_bytes(f.conn["bob"], send("bob", "rd000001", "m-rd1", cpim("sip:bob@example.com", kGroup, "one")), 0);
  ASSERT_EQ(f.io.take(f.conn["alice"]).size(), 1u);  // copies in flight to alice and carol
  ASSERT_EQ(f.io.take(f.conn["carol"]).size(), 1u);
  f.sw->release_dialog(5);
  EXPECT_EQ(f.sw->leg_count(), 1u);
  std::vector<ConnId> closed = f.io.closed;
  std::sort(closed.begin(), closed.end());
  EXPECT_EQ(closed, (std::vector<ConnId>{f.conn["alice"], f.conn["carol"]}));
  f.sw->release_dialog(5);  // nothing left to do
  f.sw->release_dialog(99);
  EXPECT_EQ(f.sw->leg_count(), 1u);
  // Their copies' transactions went with them: no timeout later.
  f.sw->on_tick(100000);
  EXPECT_TRUE(f.io.failures.empty());

  // alice again, on a new connection and a new leg of the same dialog:
  // she is in the group once and a later release_dialog finds her.
  f.sw->add_leg(leg("alice"), 100000);
  f.sw->on_connection(20, 100000);
  f.sw->on_bytes(20, send("alice", "rebind01", "b-again", ""), 100000);
  ASSERT_EQ(f.io.take(20).size(), 1u);
  f.sw->on_bytes(f.conn["bob"], send("bob", "rd000002", "m-rd2", cpim("sip:bob@example.com", kGroup, "two")), 100000);
  auto copies = f.io.take(20);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].body, cpim("sip:bob@example.com", kGroup, "two"));
  f.sw->release_dialog(5);
  EXPECT_EQ(f.sw->leg_count(), 1u);
  f.sw->release_dialog(3);
  EXPECT_EQ(f.sw->leg_count(), 0u);
  EXPECT_EQ(f.sw->connection_count(), 0u);
}

TEST(MsrpSwitch, AnsweredCopiesDoNotTimeOutAndUnansweredOnesDoEvenWhenTimeGoesBack) {
  Fixture f;
  f.join({"alice", "bob", "carol"});
  f.sw->on_bytes(f.conn["alice"], send("alice", "ans00001", "m-a1", cpim("sip:alice@example.com", kGroup, "x")), 50000);
  // bob answers his copy, carol never does.
  auto bob_copy = f.io.take(f.conn["bob"]);
  ASSERT_EQ(bob_copy.size(), 1u);
  f.sw->on_bytes(f.conn["bob"], codec::msrp::serialize(codec::msrp::make_response(bob_copy[0], 200, "OK", local("bob"))),
                 50001);
  ASSERT_EQ(f.io.take(f.conn["carol"]).size(), 1u);
  // A later copy stamped with an earlier time (the clock went back): its
  // timeout counts from that time all the same.
  f.sw->on_bytes(f.conn["carol"], send("carol", "ans00002", "m-a2", cpim("sip:carol@example.com", kGroup, "y")), 0);
  auto bob_second = f.io.take(f.conn["bob"]);
  ASSERT_EQ(bob_second.size(), 1u);
  ASSERT_EQ(f.io.take(f.conn["alice"]).size(), 2u);  // her 200 and carol's message
  f.sw->on_tick(29999);
  EXPECT_TRUE(f.io.failures.empty());
  f.sw->on_tick(30000);  // alice and bob: carol's message at 0
  ASSERT_EQ(f.io.failures.size(), 2u);
  std::vector<std::string> failed = {f.io.failures[0].leg_id, f.io.failures[1].leg_id};
  std::sort(failed.begin(), failed.end());
  EXPECT_EQ(failed, (std::vector<std::string>{leg("alice").leg_id, leg("bob").leg_id}));
  f.sw->on_tick(79999);
  EXPECT_EQ(f.io.failures.size(), 2u);
  f.sw->on_tick(80000);  // carol: alice's message at 50000
  ASSERT_EQ(f.io.failures.size(), 3u);
  EXPECT_EQ(f.io.failures[2].leg_id, leg("carol").leg_id);
  EXPECT_EQ(f.io.failures[2].reason, "MSRP timeout");
  EXPECT_EQ(f.sw->leg_count(), 0u);
}

TEST(MsrpSwitch, TickClosesUnboundConnectionsDropsStaleChunksAndPumpsDrainedConnections) {
  MsrpSwitchConfig c;
  c.response_timeout_ms = 10000000;  // unanswered copies stay out of this test
  Fixture f(c);
  f.join({"alice", "bob"});
  f.sw->on_connection(30, 1000);  // never binds
  f.sw->on_connection(31, 1000);  // binds carol later
  f.sw->add_leg(leg("carol"), 1000);
  f.sw->on_bytes(31, send("carol", "bindc001", "b-c", ""), 1000);
  ASSERT_EQ(f.io.take(31).size(), 1u);
  // Half a message from alice, then silence past the chunk timeout.
  const std::string body = cpim("sip:alice@example.com", kGroup, "split in two");
  const std::string half = body.substr(0, 20);
  f.sw->on_bytes(f.conn["alice"],
                 send("alice", "half0001", "m-half", half, {}, "1-20/" + std::to_string(body.size()), EndFlag::More),
                 1000);
  ASSERT_EQ(f.io.take(f.conn["alice"]).size(), 1u);
  // bob's socket is full: his copy of another message waits in his queue.
  f.io.backlog_of[f.conn["bob"]] = 1u << 30;
  f.sw->on_bytes(f.conn["alice"], send("alice", "wait0001", "m-wait", cpim("sip:alice@example.com", kGroup, "w")), 1000);
  EXPECT_TRUE(f.io.take(f.conn["bob"]).empty());
  ASSERT_EQ(f.io.take(31).size(), 1u);  // carol's copy

  f.sw->on_tick(1000 + 29999);
  EXPECT_TRUE(f.io.closed.empty());
  EXPECT_TRUE(f.io.take(f.conn["bob"]).empty());
  f.io.backlog_of[f.conn["bob"]] = 0;  // drained without a writable event
  f.sw->on_tick(1000 + 30000);
  EXPECT_EQ(f.io.closed, std::vector<ConnId>{30});  // not 31, which bound a leg
  auto waited = f.io.take(f.conn["bob"]);
  ASSERT_EQ(waited.size(), 1u);
  EXPECT_EQ(waited[0].body, cpim("sip:alice@example.com", kGroup, "w"));

  // The rest of the first message after the chunk timeout: the first half
  // was dropped, so the message never completes and nobody gets it.
  f.sw->on_tick(1000 + 540000);
  f.sw->on_bytes(f.conn["alice"],
                 send("alice", "half0002", "m-half", body.substr(20), {},
                      "21-" + std::to_string(body.size()) + "/" + std::to_string(body.size())),
                 1000 + 540001);
  EXPECT_TRUE(f.io.take(f.conn["bob"]).empty());
  EXPECT_TRUE(f.io.take(31).empty());
  EXPECT_EQ(f.sw->stats().messages_in, 1u);  // only "w"
}
