#include "transport/codec/sdp_msrp.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace {

using imserver::codec::answer_msrp_offer;
using imserver::codec::MsrpAnswer;
using imserver::codec::MsrpAnswerConfig;

constexpr const char* kSid = "pA3kq9ZtW0xR7m2L";

MsrpAnswerConfig f_srv() {
  MsrpAnswerConfig cfg;
  cfg.warn_agent = "im.example.com";
  cfg.msrp_host = "203.0.113.5";
  cfg.msrp_port = 2855;
  return cfg;
}

// OFFER(alice) from SESSIONS.md §2.3 / §12.1.
const std::string kOffer =
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 198.51.100.10\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.10\r\n"
    "t=0 0\r\n"
    "m=message 40001 TCP/MSRP *\r\n"
    "a=accept-types:message/cpim\r\n"
    "a=accept-wrapped-types:text/plain application/im-iscomposing+xml message/imdn+xml\r\n"
    "a=path:msrp://198.51.100.10:40001/aLiCe0001;tcp\r\n"
    "a=setup:actpass\r\n"
    "a=sendrecv\r\n";

// The answer printed in SESSIONS.md §2.3.
const std::string kAnswer =
    "v=0\r\n"
    "o=- 3950001 3950001 IN IP4 203.0.113.5\r\n"
    "s=-\r\n"
    "c=IN IP4 203.0.113.5\r\n"
    "t=0 0\r\n"
    "m=message 2855 TCP/MSRP *\r\n"
    "a=accept-types:message/cpim\r\n"
    "a=accept-wrapped-types:*\r\n"
    "a=path:msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp\r\n"
    "a=setup:passive\r\n"
    "a=max-size:1048576\r\n"
    "a=chatroom:private-messages\r\n"
    "a=sendrecv\r\n";

// Replaces the first occurrence of `from` (which must exist) in the offer.
std::string edit(std::string s, const std::string& from, const std::string& to) {
  const size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

MsrpAnswer answer(const std::string& offer, const MsrpAnswerConfig& cfg = f_srv()) {
  return answer_msrp_offer(offer, cfg, kSid, 3950001, 3950001);
}

TEST(SdpMsrp, ExactAnswerForTheSessionsExample) {
  const auto a = answer(kOffer);
  ASSERT_TRUE(a.ok) << a.warning;
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.warning, "");
  EXPECT_EQ(a.sdp, kAnswer);

  const auto& leg = a.leg;
  EXPECT_EQ(leg.remote_path, std::vector<std::string>{"msrp://198.51.100.10:40001/aLiCe0001;tcp"});
  EXPECT_EQ(leg.accept_types, std::vector<std::string>{"message/cpim"});
  EXPECT_EQ(leg.accept_wrapped_types,
            (std::vector<std::string>{"text/plain", "application/im-iscomposing+xml", "message/imdn+xml"}));
  EXPECT_EQ(leg.offer_setup, "actpass");
  EXPECT_EQ(leg.answer_setup, "passive");
  EXPECT_EQ(leg.offer_direction, "sendrecv");
  EXPECT_EQ(leg.answer_direction, "sendrecv");
  EXPECT_FALSE(leg.max_size);
  EXPECT_FALSE(leg.chatroom);
  EXPECT_FALSE(leg.private_messages);
  EXPECT_EQ(leg.local_path, "msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp");
}

TEST(SdpMsrp, LfOnlyAndTrailingWhitespaceTolerated) {
  std::string lf;
  for (char c : kOffer)
    if (c != '\r') lf.push_back(c);
  lf = edit(lf, "a=setup:actpass\n", "a=setup:actpass   \t\n\n");
  const auto a = answer(lf);
  ASSERT_TRUE(a.ok) << a.warning;
  EXPECT_EQ(a.sdp, kAnswer);
}

// TC-J27 (SESSIONS.md §12.2) and the other §7.1 failures.
TEST(SdpMsrp, RejectedOffers) {
  struct Case {
    const char* name;
    std::string offer;
    const char* warning;
    bool tls = false;
  };
  const std::string audio_only =
      "v=0\r\no=a 1 1 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\n"
      "m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
  const Case cases[] = {
      {"TC-J27a accept-types text/plain",
       edit(kOffer, "a=accept-types:message/cpim", "a=accept-types:text/plain"),
       "305 im.example.com \"Incompatible media format\""},
      {"accept-types missing", edit(kOffer, "a=accept-types:message/cpim\r\n", ""),
       "305 im.example.com \"Incompatible media format\""},
      {"accept-types message/cpimx", edit(kOffer, "a=accept-types:message/cpim", "a=accept-types:message/cpimx text/*"),
       "305 im.example.com \"Incompatible media format\""},
      {"TC-J27b TCP/TLS/MSRP with TLS off",
       edit(edit(kOffer, "TCP/MSRP", "TCP/TLS/MSRP"), "msrp://", "msrps://"),
       "302 im.example.com \"Incompatible transport protocol\""},
      {"non-TCP transport", edit(kOffer, "TCP/MSRP", "UDP/MSRP"),
       "302 im.example.com \"Incompatible transport protocol\""},
      {"TC-J27c no a=path", edit(kOffer, "a=path:msrp://198.51.100.10:40001/aLiCe0001;tcp\r\n", ""),
       "399 im.example.com \"Bad or missing a=path\""},
      {"empty a=path", edit(kOffer, "a=path:msrp://198.51.100.10:40001/aLiCe0001;tcp", "a=path:"),
       "399 im.example.com \"Bad or missing a=path\""},
      {"path without port", edit(kOffer, "198.51.100.10:40001/aLiCe", "198.51.100.10/aLiCe"),
       "399 im.example.com \"Bad or missing a=path\""},
      {"path port 0", edit(kOffer, ":40001/aLiCe", ":0/aLiCe"), "399 im.example.com \"Bad or missing a=path\""},
      {"path not msrp", edit(kOffer, "a=path:msrp://", "a=path:http://"),
       "399 im.example.com \"Bad or missing a=path\""},
      {"msrps path on TCP/MSRP", edit(kOffer, "a=path:msrp://", "a=path:msrps://"),
       "399 im.example.com \"Bad or missing a=path\""},
      {"msrp path on TCP/TLS/MSRP", edit(kOffer, "TCP/MSRP", "TCP/TLS/MSRP"),
       "399 im.example.com \"Bad or missing a=path\"", true},
      {"second path URI bad",
       edit(kOffer, "a=path:msrp://198.51.100.10:40001/aLiCe0001;tcp",
            "a=path:msrp://relay.example.com:2855/r1;tcp msrp://198.51.100.10/aLiCe0001;tcp"),
       "399 im.example.com \"Bad or missing a=path\""},
      {"TC-J27d only m=audio", audio_only, "304 im.example.com \"Media type not available\""},
      {"message line with fmt other than *", edit(kOffer, "TCP/MSRP *", "TCP/MSRP text/plain"),
       "304 im.example.com \"Media type not available\""},
      {"message line disabled with port 0", edit(kOffer, "m=message 40001", "m=message 0"),
       "304 im.example.com \"Media type not available\""},
      {"no m-line at all", "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "304 im.example.com \"Media type not available\""},
      {"garbage", "hello world", "399 im.example.com \"Malformed SDP\""},
      {"empty", "", "399 im.example.com \"Malformed SDP\""},
      {"no v= line", kOffer.substr(5), "399 im.example.com \"Malformed SDP\""},
      {"v=1", edit(kOffer, "v=0", "v=1"), "399 im.example.com \"Malformed SDP\""},
      {"garbage line", edit(kOffer, "s=-\r\n", "s=-\r\nthis is not sdp\r\n"), "399 im.example.com \"Malformed SDP\""},
      {"short m-line", edit(kOffer, "m=message 40001 TCP/MSRP *", "m=message 40001 TCP/MSRP"),
       "399 im.example.com \"Malformed SDP\""},
      {"bad m-line port", edit(kOffer, "m=message 40001", "m=message abc"), "399 im.example.com \"Malformed SDP\""},
      {"NUL inside a line", edit(kOffer, "s=-", std::string("s=\0", 3)), "399 im.example.com \"Malformed SDP\""},
  };
  for (const auto& c : cases) {
    auto cfg = f_srv();
    cfg.tls_enabled = c.tls;
    const auto a = answer(c.offer, cfg);
    EXPECT_FALSE(a.ok) << c.name;
    EXPECT_EQ(a.status, 488) << c.name;
    EXPECT_EQ(a.warning, c.warning) << c.name;
    EXPECT_EQ(a.sdp, "") << c.name;
  }
}

TEST(SdpMsrp, WarningUsesConfiguredAgent) {
  MsrpAnswerConfig cfg;  // defaults: warn_agent "localhost"
  const auto a = answer_msrp_offer("garbage", cfg, kSid, 1, 1);
  EXPECT_EQ(a.status, 488);
  EXPECT_EQ(a.warning, "399 localhost \"Malformed SDP\"");
}

TEST(SdpMsrp, AcceptTypesCoverage) {
  const char* ok_types[] = {"message/cpim", "MESSAGE/CPIM", "text/plain message/cpim", "message/*", "*",
                            "message/cpim;charset=utf-8", "text/plain  Message/*"};
  for (const char* t : ok_types) {
    const auto a = answer(edit(kOffer, "a=accept-types:message/cpim", std::string("a=accept-types:") + t));
    EXPECT_TRUE(a.ok) << t << " " << a.warning;
  }
}

// TC-J28: audio first, then the chat line; a second message line is rejected too.
TEST(SdpMsrp, MixedOfferKeepsMLineOrder) {
  const std::string offer = edit(kOffer, "m=message 40001 TCP/MSRP *\r\n",
                                 "m=audio 49170 RTP/AVP 0\r\n"
                                 "a=rtpmap:0 PCMU/8000\r\n"
                                 "a=sendrecv\r\n"
                                 "m=message 40001 TCP/MSRP *\r\n") +
                            "m=message 40002 TCP/MSRP *\r\n"
                            "a=accept-types:message/cpim\r\n"
                            "a=file-selector:name:\"a.txt\" type:text/plain size:10\r\n"
                            "a=path:msrp://198.51.100.10:40002/file0001;tcp\r\n"
                            "m=video 51372 RTP/AVP 31 32\r\n";
  const auto a = answer(offer);
  ASSERT_TRUE(a.ok) << a.warning;
  const std::string expected =
      "v=0\r\n"
      "o=- 3950001 3950001 IN IP4 203.0.113.5\r\n"
      "s=-\r\n"
      "c=IN IP4 203.0.113.5\r\n"
      "t=0 0\r\n"
      "m=audio 0 RTP/AVP 0\r\n"
      "m=message 2855 TCP/MSRP *\r\n"
      "a=accept-types:message/cpim\r\n"
      "a=accept-wrapped-types:*\r\n"
      "a=path:msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp\r\n"
      "a=setup:passive\r\n"
      "a=max-size:1048576\r\n"
      "a=chatroom:private-messages\r\n"
      "a=sendrecv\r\n"
      "m=message 0 TCP/MSRP *\r\n"
      "m=video 0 RTP/AVP 31 32\r\n";
  EXPECT_EQ(a.sdp, expected);
  EXPECT_EQ(a.leg.remote_path, std::vector<std::string>{"msrp://198.51.100.10:40001/aLiCe0001;tcp"});
}

TEST(SdpMsrp, FirstUsableLineWinsAfterUnusableOnes) {
  // A TLS message line (TLS off) and a disabled line come first; the plain one is chosen.
  const std::string offer = edit(kOffer, "m=message 40001 TCP/MSRP *\r\n",
                                 "m=message 40009 TCP/TLS/MSRP *\r\n"
                                 "m=message 0 TCP/MSRP *\r\n"
                                 "m=message 40001 TCP/MSRP *\r\n");
  const auto a = answer(offer);
  ASSERT_TRUE(a.ok) << a.warning;
  EXPECT_NE(a.sdp.find("m=message 0 TCP/TLS/MSRP *\r\nm=message 0 TCP/MSRP *\r\nm=message 2855 TCP/MSRP *\r\n"),
            std::string::npos)
      << a.sdp;
}

TEST(SdpMsrp, TlsWhenEnabled) {
  auto cfg = f_srv();
  cfg.tls_enabled = true;
  cfg.msrp_port = 2856;
  const auto a = answer(edit(edit(kOffer, "TCP/MSRP", "TCP/TLS/MSRP"), "msrp://", "msrps://"), cfg);
  ASSERT_TRUE(a.ok) << a.warning;
  EXPECT_NE(a.sdp.find("m=message 2856 TCP/TLS/MSRP *\r\n"), std::string::npos);
  EXPECT_NE(a.sdp.find("a=path:msrps://203.0.113.5:2856/pA3kq9ZtW0xR7m2L;tcp\r\n"), std::string::npos);
  EXPECT_EQ(a.leg.local_path, "msrps://203.0.113.5:2856/pA3kq9ZtW0xR7m2L;tcp");
}

// SESSIONS.md §7.3, TC-J29 (offer passive) and TC-J30 (no a=setup).
TEST(SdpMsrp, SetupMapping) {
  struct Case {
    const char* offer_line;  // replaces "a=setup:actpass\r\n"
    bool passive_for_actpass;
    const char* offer_setup;
    const char* answer_setup;
    const char* mline;
  };
  const Case cases[] = {
      {"a=setup:actpass\r\n", true, "actpass", "passive", "m=message 2855 TCP/MSRP *"},
      {"a=setup:actpass\r\n", false, "actpass", "active", "m=message 9 TCP/MSRP *"},
      {"a=setup:active\r\n", true, "active", "passive", "m=message 2855 TCP/MSRP *"},
      {"a=setup:active\r\n", false, "active", "passive", "m=message 2855 TCP/MSRP *"},
      {"a=setup:passive\r\n", true, "passive", "active", "m=message 9 TCP/MSRP *"},   // TC-J29
      {"a=setup:PASSIVE\r\n", true, "passive", "active", "m=message 9 TCP/MSRP *"},
      {"", true, "", "passive", "m=message 2855 TCP/MSRP *"},                         // TC-J30
      {"", false, "", "passive", "m=message 2855 TCP/MSRP *"},
      {"a=setup:holdconn\r\n", true, "", "passive", "m=message 2855 TCP/MSRP *"},
      {"a=setup:bogus\r\n", true, "", "passive", "m=message 2855 TCP/MSRP *"},
  };
  for (const auto& c : cases) {
    auto cfg = f_srv();
    cfg.answer_passive_for_actpass = c.passive_for_actpass;
    const auto a = answer(edit(kOffer, "a=setup:actpass\r\n", c.offer_line), cfg);
    ASSERT_TRUE(a.ok) << c.offer_line << a.warning;
    EXPECT_EQ(a.leg.offer_setup, c.offer_setup) << c.offer_line;
    EXPECT_EQ(a.leg.answer_setup, c.answer_setup) << c.offer_line;
    EXPECT_NE(a.sdp.find(std::string(c.mline) + "\r\n"), std::string::npos) << a.sdp;
    EXPECT_NE(a.sdp.find(std::string("a=setup:") + c.answer_setup + "\r\n"), std::string::npos) << a.sdp;
    // a=path always carries the focus's own URI, even when we are active (port 9 is only in m=).
    EXPECT_NE(a.sdp.find("a=path:msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp\r\n"), std::string::npos);
  }
  // Session-level a=setup applies when the media section has none (RFC 4145 §4).
  const auto s = answer(edit(edit(kOffer, "a=setup:actpass\r\n", ""), "t=0 0\r\n", "t=0 0\r\na=setup:passive\r\n"));
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.leg.answer_setup, "active");
}

// SESSIONS.md §7.1 direction row.
TEST(SdpMsrp, DirectionMapping) {
  struct Case {
    const char* offer_line;  // replaces "a=sendrecv\r\n"
    const char* offer_dir;
    const char* answer_dir;
  };
  const Case cases[] = {
      {"a=sendrecv\r\n", "sendrecv", "sendrecv"}, {"", "sendrecv", "sendrecv"},
      {"a=sendonly\r\n", "sendonly", "recvonly"}, {"a=recvonly\r\n", "recvonly", "sendonly"},
      {"a=inactive\r\n", "inactive", "inactive"},
  };
  for (const auto& c : cases) {
    const auto a = answer(edit(kOffer, "a=sendrecv\r\n", c.offer_line));
    ASSERT_TRUE(a.ok) << a.warning;
    EXPECT_EQ(a.leg.offer_direction, c.offer_dir) << c.offer_line;
    EXPECT_EQ(a.leg.answer_direction, c.answer_dir) << c.offer_line;
    const std::string tail = std::string("a=chatroom:private-messages\r\na=") + c.answer_dir + "\r\n";
    EXPECT_EQ(a.sdp.substr(a.sdp.size() - tail.size()), tail) << c.offer_line;
  }
  // Session-level direction is the default for the media section.
  const auto s = answer(edit(edit(kOffer, "a=sendrecv\r\n", ""), "t=0 0\r\n", "t=0 0\r\na=sendonly\r\n"));
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.leg.answer_direction, "recvonly");
}

TEST(SdpMsrp, LegAttributes) {
  const std::string offer = edit(kOffer, "a=sendrecv\r\n",
                                 "a=sendrecv\r\n"
                                 "a=max-size:4096\r\n"
                                 "a=chatroom:nickname private-messages\r\n") ;
  const std::string two_hop = edit(offer, "a=path:msrp://198.51.100.10:40001/aLiCe0001;tcp",
                                   "a=path:msrp://relay.example.com:2855/r1;tcp msrp://[2001:db8::1]:40001/aLiCe0001;tcp");
  const auto a = answer(two_hop);
  ASSERT_TRUE(a.ok) << a.warning;
  EXPECT_EQ(a.leg.max_size, 4096u);
  EXPECT_TRUE(a.leg.chatroom);
  EXPECT_TRUE(a.leg.private_messages);
  EXPECT_EQ(a.leg.remote_path, (std::vector<std::string>{"msrp://relay.example.com:2855/r1;tcp",
                                                          "msrp://[2001:db8::1]:40001/aLiCe0001;tcp"}));

  const auto plain_room = answer(edit(kOffer, "a=sendrecv\r\n", "a=sendrecv\r\na=chatroom\r\na=max-size:huge\r\n"));
  ASSERT_TRUE(plain_room.ok);
  EXPECT_TRUE(plain_room.leg.chatroom);
  EXPECT_FALSE(plain_room.leg.private_messages);
  EXPECT_FALSE(plain_room.leg.max_size);

  const auto no_wrapped = answer(edit(kOffer, "a=accept-wrapped-types:text/plain application/im-iscomposing+xml message/imdn+xml\r\n", ""));
  ASSERT_TRUE(no_wrapped.ok);
  EXPECT_TRUE(no_wrapped.leg.accept_wrapped_types.empty());
}

TEST(SdpMsrp, ConfigKnobsAndTimeLine) {
  auto cfg = f_srv();
  cfg.max_size_attribute = false;
  cfg.accept_wrapped_types = "text/plain message/imdn+xml";
  cfg.msrp_host = "2001:db8::5";
  const auto a = answer_msrp_offer(edit(kOffer, "t=0 0", "t=3034423619 3042462419"), cfg, "0123456789abcdefXYZ", 7, 8);
  ASSERT_TRUE(a.ok) << a.warning;
  const std::string expected =
      "v=0\r\n"
      "o=- 7 8 IN IP6 2001:db8::5\r\n"
      "s=-\r\n"
      "c=IN IP6 2001:db8::5\r\n"
      "t=3034423619 3042462419\r\n"
      "m=message 2855 TCP/MSRP *\r\n"
      "a=accept-types:message/cpim\r\n"
      "a=accept-wrapped-types:text/plain message/imdn+xml\r\n"
      "a=path:msrp://[2001:db8::5]:2855/0123456789abcdefXYZ;tcp\r\n"
      "a=setup:passive\r\n"
      "a=chatroom:private-messages\r\n"
      "a=sendrecv\r\n";
  EXPECT_EQ(a.sdp, expected);

  // No t= line in the offer: the answer uses t=0 0.
  const auto b = answer(edit(kOffer, "t=0 0\r\n", ""));
  ASSERT_TRUE(b.ok);
  EXPECT_NE(b.sdp.find("\r\nt=0 0\r\n"), std::string::npos);
}

TEST(SdpMsrp, InvalidSessionIdIsACallerError) {
  for (const char* sid : {"", "short", "pA3kq9ZtW0xR7m2L\r\n", "pA3kq9ZtW0xR7m2-"}) {
    const auto a = answer_msrp_offer(kOffer, f_srv(), sid, 1, 1);
    EXPECT_FALSE(a.ok) << sid;
    EXPECT_EQ(a.status, 500) << sid;
  }
}

TEST(SdpMsrp, GarbageNeverCrashes) {
  for (size_t n = 0; n <= kOffer.size(); ++n) {
    const auto a = answer(kOffer.substr(0, n));
    if (!a.ok) {
      EXPECT_EQ(a.status, 488);
    }
  }
  const std::string fixed[] = {
      "v=0", "v=0\r\nm=", "v=0\r\nm=message", "v=0\r\nm=message 1 TCP/MSRP *\r\na=path:msrp://", "v=0\r\na=",
      "v=0\r\nm=message 1 TCP/MSRP *\r\na=accept-types:*\r\na=path:msrp://[:1\r\n", "\r\n\r\n\r\n", "=",
      std::string(100000, '\n'), "v=0\r\n" + std::string(100000, 'a'), std::string("v=0\0", 4),
      "v=0\r\nm=message 99999999999999999999 TCP/MSRP *\r\n",
      "v=0\r\nm=message 1 TCP/MSRP *\r\na=accept-types:*\r\na=path:msrp://h:99999999999999999999999/x;tcp\r\n",
      "v=0\r\nm=message 1 TCP/MSRP *\r\na=accept-types:*\r\na=path:msrp://h:1/x;tcp\r\na=max-size:99999999999999999999\r\n",
  };
  for (const auto& s : fixed) (void)answer(s);
  std::mt19937 rng(99);
  const std::vector<std::string> lines = {
      "v=0", "m=message 40001 TCP/MSRP *", "m=audio 1 RTP/AVP 0", "a=accept-types:message/cpim",
      "a=path:msrp://h:1/s;tcp", "a=setup:passive", "a=sendonly", "t=0 0", "a=max-size:12", "x", "m=", "a=path:",
  };
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const size_t n = rng() % 12;
    for (size_t k = 0; k < n; ++k) {
      if (i % 5 == 0) {
        for (size_t j = rng() % 40; j > 0; --j) s.push_back(static_cast<char>(rng()));
      } else {
        s += lines[rng() % lines.size()];
      }
      s += (rng() % 2) ? "\r\n" : "\n";
    }
    const auto a = answer(s);
    if (!a.ok) {
      EXPECT_EQ(a.status, 488);
    }
  }
}

}  // namespace

// SESSIONS.md §7.4: the focus's offer in a dial-out INVITE (DIALOUT-OK of §12.1).
TEST(SdpMsrpOffer, DialOutOfferIsTheAnswerTemplateWithActpass) {
  const std::string offer = imserver::codec::make_msrp_offer(f_srv(), kSid, 11, 12);
  const std::string expected =
      "v=0\r\n"
      "o=- 11 12 IN IP4 203.0.113.5\r\n"
      "s=-\r\n"
      "c=IN IP4 203.0.113.5\r\n"
      "t=0 0\r\n"
      "m=message 2855 TCP/MSRP *\r\n"
      "a=accept-types:message/cpim\r\n"
      "a=accept-wrapped-types:*\r\n"
      "a=path:msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp\r\n"
      "a=setup:actpass\r\n"
      "a=max-size:1048576\r\n"
      "a=chatroom:private-messages\r\n"
      "a=sendrecv\r\n";
  EXPECT_EQ(offer, expected);
  EXPECT_EQ(imserver::codec::make_msrp_offer(f_srv(), "short", 1, 1), "");
}

// SESSIONS.md §2.5 and §7.3: which answers are usable, and who connects.
TEST(SdpMsrpOffer, ReadsTheInviteesAnswer) {
  using imserver::codec::read_msrp_answer;
  struct Row {
    std::string from, to;
    bool ok;
    std::string focus_role;  // answer_setup: what the focus does
  };
  const std::vector<Row> rows = {
      {"a=setup:actpass", "a=setup:active", true, "passive"},    // RCS: the invitee connects
      {"a=setup:actpass", "a=setup:passive", true, "active"},    // the focus connects
      {"a=setup:actpass\r\n", "", true, "active"},               // RFC 4975 peer: the offerer connects
      {"m=message 40001", "m=message 0", false, ""},             // stream refused
      {"a=accept-types:message/cpim", "a=accept-types:text/plain", false, ""},
      {"a=path:msrp://198.51.100.10:40001/aLiCe0001;tcp\r\n", "", false, ""},
  };
  for (const auto& row : rows) {
    const auto a = read_msrp_answer(edit(kOffer, row.from, row.to), f_srv(), kSid);
    EXPECT_EQ(a.ok, row.ok) << row.from << " -> " << row.to;
    if (!row.ok) continue;
    EXPECT_EQ(a.leg.answer_setup, row.focus_role) << row.to;
    EXPECT_EQ(a.leg.remote_path, std::vector<std::string>{"msrp://198.51.100.10:40001/aLiCe0001;tcp"});
    EXPECT_TRUE(a.sdp.empty());
  }
}
