// Departures as conference subscribers see them (PROTOCOL.md §9.2 TC-A02,
// A04-A10, A12, A24 and §9.4 TC-N01-N08).

#include "tests/conference/fixture.hpp"

namespace imserver::testclient {
namespace {

using DepartureTest = ConferenceTest;

// TC-A04: Carol's BYE is reported to A, B, D and W as departed.
TEST_P(DepartureTest, A04DepartureReportToTheOthers) {
  f_base();
  ASSERT_FALSE(HasFailure());
  auto ok = user("carol").ua->bye(user("carol").invite);
  ASSERT_TRUE(ok && ok->status == 200);
  for (const char* name : {"alice", "bob", "dan", "wendy"}) {
    auto n = next_notify(name);
    ASSERT_TRUE(n) << name;
    auto doc = check_notify(name, *n);
    EXPECT_EQ(doc.state, "partial");
    EXPECT_EQ(doc.user_count.value_or(0), 3u);
    ASSERT_EQ(doc.users.size(), 1u) << n->body;
    const auto& carol = doc.users[0];
    EXPECT_EQ(carol.entity, "sip:carol@example.com");
    EXPECT_EQ(carol.state, "partial");
    ASSERT_EQ(carol.endpoints.size(), 1u);
    EXPECT_EQ(carol.endpoints[0].state, "partial");
    EXPECT_EQ(carol.endpoints[0].status, "disconnected");
    EXPECT_EQ(carol.endpoints[0].disconnection_method, "departed");
    EXPECT_TRUE(is_utc_datetime(carol.endpoints[0].disconnection_when)) << carol.endpoints[0].disconnection_when;
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, DepartureTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
