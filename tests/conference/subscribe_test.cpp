// Placeholder replaced by the cases of this file.
#include "tests/conference/fixture.hpp"

namespace imserver::testclient {
namespace {

using SmokeTest = ConferenceTest;

TEST_P(SmokeTest, FirstNotifyIsFullVersionZero) {
  start();
  join("alice", kFactory);
  auto n = subscribe("alice");
  auto doc = parse_conference_doc(n.body);
  EXPECT_EQ(doc.state, "full");
  EXPECT_EQ(doc.version.value_or(99), 0u);
}

INSTANTIATE_TEST_SUITE_P(Transports, SmokeTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
