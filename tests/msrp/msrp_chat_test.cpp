// MSRP chat through the focus (SESSIONS.md §8.5, §12.4 TC-M01, M03..): the
// real server, SIP over UDP and TCP, MSRP over TCP.

#include "tests/msrp/msrp_fixture.hpp"

namespace imserver::testclient {
namespace {

class MsrpChatTest : public MsrpTest {};

// TC-M03: three messages from A reach B, C and D in order; A gets no copy.
TEST_P(MsrpChatTest, M03RegularFanOutInOrder) {
  f_msrp();
  if (HasFailure()) return;
  std::vector<std::string> bodies;
  for (const char* text : {"one", "two", "three"}) {
    bodies.push_back(cpim("alice", kGs1, text));
    const std::string tid = msrp("alice").send_message(chat("alice").focus_path, bodies.back());
    auto ok = msrp("alice").wait_response(tid);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
  }
  for (const char* name : {"bob", "carol", "dan"}) {
    for (const auto& body : bodies) {
      auto copy = msrp(name).wait_request("SEND");
      ASSERT_TRUE(copy) << name;
      EXPECT_EQ(copy->body, body) << name;
      EXPECT_EQ(*copy->header("To-Path"), chat(name).path) << name;
      EXPECT_EQ(*copy->header("From-Path"), chat(name).focus_path) << name;
    }
  }
  EXPECT_TRUE(msrp("alice").nothing_arrives([](const codec::msrp::Frame& f) { return f.is_request; },
                                            std::chrono::milliseconds(500)));
}

INSTANTIATE_TEST_SUITE_P(Transports, MsrpChatTest, ::testing::Values("udp", "tcp"), transport_name);

}  // namespace
}  // namespace imserver::testclient
