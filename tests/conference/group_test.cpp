// Pre-defined groups without dial-out (SESSIONS.md §3, §6.1 S-a'; TC-J15,
// the dial-in parts of TC-J14/J16, TC-S13): the real server with a groups
// file, users joining and subscribing through the group URI.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "tests/conference/fixture.hpp"

namespace imserver::testclient {
namespace {

constexpr const char* kTeam = "sip:team@im.example.com";

std::string groups_xml(bool with_dan) {
  std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<im-groups xmlns=\"urn:example:imserver:groups:1\">\n"
      "  <group uri=\"sip:team@im.example.com\" max-participants=\"10\" dialout-on-create=\"false\">\n"
      "    <display-name>Team</display-name>\n"
      "    <subject>Team chat</subject>\n"
      "    <member uri=\"sip:alice@example.com\" role=\"host\"/>\n"
      "    <member uri=\"sip:bob@example.com\"/>\n"
      "    <member uri=\"sip:carol@example.com\"/>\n";
  if (with_dan) xml += "    <member uri=\"sip:dan@example.com\"/>\n";
  xml += "  </group>\n</im-groups>\n";
  return xml;
}

class GroupTest : public ConferenceTest {
 protected:
  void SetUp() override {
    char name[] = "/tmp/imserver-groups-XXXXXX";
    const int fd = mkstemp(name);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = name;
    write_groups(false);
  }
  void TearDown() override {
    ConferenceTest::TearDown();
    std::remove(path_.c_str());
  }
  void write_groups(bool with_dan) {
    std::ofstream out(path_, std::ios::trunc);
    out << groups_xml(with_dan);
  }
  void start_with_groups() { start({"--group.file=" + path_, "--join.adhoc-policy=invited"}); }

  std::string path_;
};

// TC-J15 and TC-S13 (a): a non-member cannot start the group's session, and
// without a session the group URI answers SUBSCRIBE with 480.
TEST_P(GroupTest, NonMemberIsRefusedAndNoSessionMeans480) {
  start_with_groups();
  auto r = user("dan").ua->join(kTeam);
  EXPECT_EQ(r.final.status, 403) << r.final.raw;
  EXPECT_NE(r.final.header("Warning").value_or("").find("399"), std::string::npos) << r.final.raw;
  auto sub = user("alice").ua->subscribe(kTeam);
  EXPECT_EQ(sub.final.status, 480) << sub.final.raw;
}

// TC-J14 (dial-in part), TC-J16 and TC-S13 (b): a member's INVITE to the group
// URI starts a PREDEFINED session whose identity, not the group URI, is the
// Contact; another member joins through the group URI; a member subscribes
// through it and gets the session's document from the group URI.
TEST_P(GroupTest, GroupUriCreatesThenJoinsAndSubscribes) {
  start_with_groups();
  auto a = user("alice").ua->join(kTeam);
  ASSERT_TRUE(a.ok) << a.error << "\n" << a.final.raw;
  EXPECT_EQ(uri_of(a.final.header("Contact").value_or("")), kGs1);
  EXPECT_TRUE(header_param(a.final.header("Contact").value_or(""), "isfocus").has_value());
  users_["alice"].invite = a.dialog;
  auto first = subscribe("alice");
  auto doc = parse_conference_doc(first.body);
  EXPECT_EQ(doc.entity, kGs1);
  EXPECT_NE(first.body.find("<maximum-user-count>10</maximum-user-count>"), std::string::npos) << first.body;
  EXPECT_NE(first.body.find("Team chat"), std::string::npos) << "the group's subject\n" << first.body;

  auto b = user("bob").ua->join(kTeam);
  ASSERT_TRUE(b.ok) << b.error << "\n" << b.final.raw;
  EXPECT_EQ(uri_of(b.final.header("Contact").value_or("")), kGs1) << "joins the active session";
  auto n = next_notify("alice");
  ASSERT_TRUE(n);
  EXPECT_NE(n->body.find("sip:bob@example.com"), std::string::npos);

  // Carol (a member, not in the session) subscribes through the group URI.
  auto sub = user("carol").ua->subscribe(kTeam);
  ASSERT_EQ(sub.final.status, 200) << sub.final.raw;
  auto carol_notify = user("carol").ua->wait_in_dialog(sub.dialog, "NOTIFY");
  ASSERT_TRUE(carol_notify);
  user("carol").ua->respond(*carol_notify, 200, "OK");
  EXPECT_EQ(uri_of(carol_notify->header("From").value_or("")), kTeam);
  EXPECT_EQ(parse_conference_doc(carol_notify->body).entity, kGs1);

  // R4: a pre-defined session is not released while anyone is left.
  users_["bob"].invite = b.dialog;
  auto bye = user("bob").ua->bye(users_["bob"].invite);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->status, 200);
  EXPECT_TRUE(user("alice").ua->nothing_arrives("BYE", std::chrono::milliseconds(1000)));
}

// SESSIONS.md §3.1: SIGHUP reloads the file for later requests; a broken
// file keeps the groups already loaded.
TEST_P(GroupTest, SighupReloadsMembership) {
  start_with_groups();
  ASSERT_TRUE(user("alice").ua->join(kTeam).ok);
  EXPECT_EQ(user("dan").ua->join(kTeam).final.status, 403);
  write_groups(true);
  ASSERT_TRUE(server_.signal(SIGHUP));
  ASSERT_TRUE(server_.wait_stderr_contains("reloaded, 1 groups", std::chrono::seconds(5)));
  auto d = user("dan").ua->join(kTeam);
  EXPECT_TRUE(d.ok) << d.final.raw;
  {
    std::ofstream out(path_, std::ios::trunc);
    out << "<not-groups/>";
  }
  ASSERT_TRUE(server_.signal(SIGHUP));
  ASSERT_TRUE(server_.wait_stderr_contains("not reloaded", std::chrono::seconds(5)));
  auto c = user("carol").ua->join(kTeam);
  EXPECT_TRUE(c.ok) << "the old groups still hold\n" << c.final.raw;
}

// G4: a group URI takes no lists.
TEST_P(GroupTest, RecipientListInviteToGroupIs420) {
  start_with_groups();
  auto r = user("alice").ua->join(kTeam, "Require: recipient-list-invite\r\n");
  EXPECT_EQ(r.final.status, 420) << r.final.raw;
}

INSTANTIATE_TEST_SUITE_P(Transports, GroupTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
