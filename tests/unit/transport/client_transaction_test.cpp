#include "transport/sip/client_transaction.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace imserver::transport {
namespace {

TEST(NictTimers, DefaultScheduleMatchesRfc3261) {
  // T1 = 500, T2 = 4000: E at 0.5, 1.5, 3.5, 7.5, then every 4 s; F at 32 s.
  NictTimers t;
  EXPECT_EQ(t.timeout_ms(), 32000u);
  EXPECT_EQ(nict_udp_send_offsets(t),
            (std::vector<uint64_t>{0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
}

TEST(IctTimers, TimerADoublesWithoutCapUntilTimerB) {
  // T1 = 500: A at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s (no T2 cap); B at 32 s.
  IctTimers t{500};
  EXPECT_EQ(t.timeout_ms(), 32000u);
  EXPECT_EQ(t.next_retransmit_ms(4000), 8000u);
  EXPECT_EQ(t.next_retransmit_ms(UINT32_MAX - 1), UINT32_MAX);
  EXPECT_EQ(ict_udp_send_offsets(t), (std::vector<uint64_t>{0, 500, 1500, 3500, 7500, 15500, 31500}));
  EXPECT_EQ(ict_udp_send_offsets(IctTimers{40}), (std::vector<uint64_t>{0, 40, 120, 280, 600, 1240, 2520}));
}

TEST(NictTimers, ShortTimersFromConfig) {
  NictTimers t{50, 200};
  EXPECT_EQ(t.first_retransmit_ms(), 50u);
  EXPECT_EQ(t.next_retransmit_ms(50, false), 100u);
  EXPECT_EQ(t.next_retransmit_ms(100, false), 200u);
  EXPECT_EQ(t.next_retransmit_ms(200, false), 200u);
  EXPECT_EQ(t.timeout_ms(), 3200u);
  const auto offsets = nict_udp_send_offsets(t);
  ASSERT_GE(offsets.size(), 4u);
  EXPECT_EQ(offsets[0], 0u);
  EXPECT_EQ(offsets[1], 50u);
  EXPECT_EQ(offsets[2], 150u);
  EXPECT_EQ(offsets[3], 350u);
  for (size_t i = 4; i < offsets.size(); ++i) EXPECT_EQ(offsets[i] - offsets[i - 1], 200u);
  EXPECT_LT(offsets.back(), 3200u);
  EXPECT_GE(offsets.back() + 200, 3200u);
}

TEST(NictTimers, ProvisionalResponseSwitchesToT2) {
  NictTimers t{500, 4000};
  EXPECT_EQ(t.next_retransmit_ms(500, true), 4000u);
  EXPECT_EQ(t.next_retransmit_ms(1000, true), 4000u);
}

TEST(NictTimers, T2EqualToT1NeverGrows) {
  NictTimers t{100, 100};
  const auto offsets = nict_udp_send_offsets(t);
  for (size_t i = 1; i < offsets.size(); ++i) EXPECT_EQ(offsets[i] - offsets[i - 1], 100u);
  EXPECT_EQ(offsets.size(), 64u);  // 0, 100, ..., 6300; Timer F at 6400
}

TEST(FirstViaBranch, LibreRequest) {
  const std::string msg =
      "NOTIFY sip:x@127.0.0.1:5999 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:46054;branch=z9hG4bK64afaccfc74f4f36;rport\r\n"
      "Max-Forwards: 70\r\n"
      "CSeq: 53267 NOTIFY\r\n"
      "Content-Length: 0\r\n\r\n";
  EXPECT_EQ(first_via_branch(msg), "z9hG4bK64afaccfc74f4f36");
}

TEST(FirstViaBranch, FirstOfSeveralAndCompactForm) {
  EXPECT_EQ(first_via_branch("BYE sip:a SIP/2.0\r\nMax-Forwards: 70\r\n"
                             "v: SIP/2.0/TCP h ; BRANCH = z9hG4bKabc ;rport, SIP/2.0/UDP p;branch=z9hG4bKno\r\n"
                             "Via: SIP/2.0/UDP q;branch=z9hG4bKno2\r\n\r\n"),
            "z9hG4bKabc");
  EXPECT_EQ(first_via_branch("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKend\r\n\r\n"), "z9hG4bKend");
}

TEST(FirstViaBranch, MissingGivesEmpty) {
  EXPECT_EQ(first_via_branch(""), "");
  EXPECT_EQ(first_via_branch("NOTIFY sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;rport\r\n\r\n"), "");
  EXPECT_EQ(first_via_branch("NOTIFY sip:a SIP/2.0\r\nTo: <sip:a>\r\n\r\nVia: x;branch=body\r\n"), "");
}

}  // namespace
}  // namespace imserver::transport
