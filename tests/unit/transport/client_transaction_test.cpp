#include "transport/sip/client_transaction.hpp"

#include <gtest/gtest.h>

#include <set>
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

// What libre 1.1 writes for a NOTIFY in a subscription dialog, then the
// caller's headers and body.
const std::string kLibrePart =
    "NOTIFY sip:w0@127.0.0.1:34211 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:48646;branch=z9hG4bK679f8701ddb994f6;rport\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:w0@im.example.com>;tag=b99628a037\r\n"
    "From: <sip:gs-1@im.example.com>;tag=fb0529a6afc780cc\r\n"
    "Call-ID: w0.0.a6b625c3@imbench\r\n"
    "CSeq: 39433 NOTIFY\r\n"
    "User-Agent: imserver/0.1\r\n";
const std::string kTail = "Event: conference\r\nContent-Type: text/x\r\nContent-Length: 4\r\n\r\n";

std::string libre_request(std::string_view branch, uint32_t cseq, std::string_view tail, std::string_view body) {
  std::string r = kLibrePart;
  r.replace(r.find("z9hG4bK679f8701ddb994f6"), 23, branch);
  r.replace(r.find("39433"), 5, std::to_string(cseq));
  return r + std::string(tail) + std::string(body);
}

TEST(InDialogTemplate, NextRequestsDifferOnlyInBranchAndCSeq) {
  const std::string first = kLibrePart + kTail + "body";
  auto t = InDialogTemplate::learn(first, kLibrePart.size());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->next_cseq(), 39434u);
  EXPECT_EQ(t->encode("NOTIFY", "z9hG4bKaaaa", kTail, "body"), libre_request("z9hG4bKaaaa", 39434, kTail, "body"));
  const std::string other_tail = "Event: conference\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(t->encode("NOTIFY", "z9hG4bKbbbb", other_tail, ""), libre_request("z9hG4bKbbbb", 39435, other_tail, ""));
  EXPECT_EQ(t->next_cseq(), 39436u);
}

TEST(InDialogTemplate, OtherMethodKeepsTheDialogLines) {
  auto t = InDialogTemplate::learn(kLibrePart + kTail + "body", kLibrePart.size());
  ASSERT_TRUE(t);
  std::string expected = libre_request("z9hG4bKc", 39434, "Content-Length: 0\r\n\r\n", "");
  expected.replace(0, 6, "BYE");
  expected.replace(expected.find("39434 NOTIFY"), 12, "39434 BYE");
  EXPECT_EQ(t->encode("BYE", "z9hG4bKc", "Content-Length: 0\r\n\r\n", ""), expected);
}

TEST(InDialogTemplate, RefusesUnexpectedShapes) {
  EXPECT_FALSE(InDialogTemplate::learn("", 0));
  std::string no_branch = kLibrePart;
  no_branch.replace(no_branch.find(";branch=z9hG4bK679f8701ddb994f6"), 31, "");
  EXPECT_FALSE(InDialogTemplate::learn(no_branch, no_branch.size()));
  // The CSeq line must be libre's own and name the request's method.
  std::string other_method = kLibrePart;
  other_method.replace(other_method.find("39433 NOTIFY"), 12, "39433 INFO");
  EXPECT_FALSE(InDialogTemplate::learn(other_method, other_method.size()));
  const size_t before_cseq = kLibrePart.find("CSeq:");
  EXPECT_FALSE(InDialogTemplate::learn(kLibrePart + "CSeq: 1 NOTIFY\r\n", before_cseq));
  EXPECT_FALSE(InDialogTemplate::learn(kLibrePart, kLibrePart.size() + 1));
}

TEST(BranchSource, DistinctLibreShapedBranches) {
  BranchSource a(42), b(42);
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    const std::string branch = a.next();
    ASSERT_EQ(branch.size(), 23u);
    ASSERT_EQ(branch.compare(0, 7, "z9hG4bK"), 0);
    ASSERT_EQ(branch.find_first_not_of("0123456789abcdef", 7), std::string::npos);
    ASSERT_TRUE(seen.insert(branch).second);
  }
  // The seed decides the sequence: a restart (new random seed) starts elsewhere.
  EXPECT_EQ(BranchSource(42).next(), b.next());
  EXPECT_NE(BranchSource(43).next(), BranchSource(42).next());
}

}  // namespace
}  // namespace imserver::transport
