#include "transport/codec/multipart.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace {

using imserver::codec::media_type;
using imserver::codec::split_multipart;

const std::string kSdp =
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 198.51.100.10\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.10\r\n"
    "t=0 0\r\n"
    "m=message 40001 TCP/MSRP *\r\n"
    "a=accept-types:message/cpim\r\n"
    "a=path:msrp://198.51.100.10:40001/aLiCe0001;tcp\r\n"
    "a=setup:actpass\r\n"
    "a=sendrecv";  // the CRLF before the delimiter belongs to the delimiter

const std::string kList =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
    "<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\">\r\n"
    "  <list><entry uri=\"sip:bob@example.com\"/></list>\r\n"
    "</resource-lists>";

// The SESSIONS.md §2.3 INVITE body, with a preamble and an epilogue added.
const std::string kBody = "This is the preamble; it is ignored.\r\n"
                          "--b1\r\n"
                          "Content-Type: application/sdp\r\n"
                          "\r\n" +
                          kSdp +
                          "\r\n"
                          "--b1\r\n"
                          "Content-Type: application/resource-lists+xml\r\n"
                          "Content-Disposition: recipient-list\r\n"
                          "\r\n" +
                          kList +
                          "\r\n"
                          "--b1--\r\n"
                          "epilogue, also ignored\r\n";

TEST(MediaType, Normalises) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"Application/SDP; charset=x", "application/sdp"},
      {"  multipart/mixed;boundary=\"b1\"", "multipart/mixed"},
      {"text/plain", "text/plain"},
      {"", ""},
      {" ; x=y", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(media_type(c.in), c.out) << c.in;
}

TEST(Multipart, QuotedBoundaryPreambleEpilogue) {
  const auto parts = split_multipart("multipart/mixed;boundary=\"b1\"", kBody);
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].content_type, "application/sdp");
  EXPECT_EQ((*parts)[0].content_disposition, "");
  EXPECT_EQ((*parts)[0].body, kSdp);
  EXPECT_EQ((*parts)[1].content_type, "application/resource-lists+xml");
  EXPECT_EQ((*parts)[1].content_disposition, "recipient-list");
  EXPECT_EQ((*parts)[1].body, kList);
}

TEST(Multipart, ContentTypeVariants) {
  const char* types[] = {
      "multipart/mixed;boundary=b1",
      "Multipart/Mixed; BOUNDARY = b1",
      "multipart/mixed; charset=utf-8; boundary=\"b1\"",
      "multipart/related;type=\"application/sdp\";boundary=b1;start=x",
  };
  for (const char* t : types) {
    const auto parts = split_multipart(t, kBody);
    ASSERT_TRUE(parts) << t;
    EXPECT_EQ(parts->size(), 2u) << t;
  }
}

TEST(Multipart, LfOnlyAndPaddingAndFolding) {
  const std::string body =
      "--sep  \n"
      "content-type: application/sdp;\n"
      "  charset=utf-8\n"
      "X-Other: 1\n"
      "\n"
      "v=0\n"
      "--sep-- \n";
  const auto parts = split_multipart("multipart/mixed; boundary=sep", body);
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].content_type, "application/sdp; charset=utf-8");
  EXPECT_EQ(media_type((*parts)[0].content_type), "application/sdp");
  EXPECT_EQ((*parts)[0].body, "v=0");
}

TEST(Multipart, EmptyBodiesAndHeaderlessParts) {
  const std::string body =
      "--b\r\n"
      "\r\n"
      "plain text, no headers\r\n"
      "--b\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "\r\n"
      "--b--";
  const auto parts = split_multipart("multipart/mixed;boundary=b", body);
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].content_type, "");
  EXPECT_EQ((*parts)[0].body, "plain text, no headers");
  EXPECT_EQ((*parts)[1].content_type, "text/plain");
  EXPECT_EQ((*parts)[1].body, "");
}

TEST(Multipart, BoundaryPrefixInsideContentIsNotADelimiter) {
  const std::string body =
      "--b1\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "--b1x is not a delimiter\r\n"
      " --b1 neither\r\n"
      "--b1--";
  const auto parts = split_multipart("multipart/mixed;boundary=b1", body);
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].body, "--b1x is not a delimiter\r\n --b1 neither");
}

TEST(Multipart, MissingCloseDelimiterToleratedAfterAPart) {
  auto parts = split_multipart("multipart/mixed;boundary=b1",
                               "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b1\r\n");
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].body, "v=0");

  parts = split_multipart("multipart/mixed;boundary=b1", "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n");
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].body, "v=0\r\n");
}

TEST(Multipart, RejectsMalformed) {
  struct Case {
    const char* type;
    std::string body;
  };
  const Case cases[] = {
      {"application/sdp", kBody},                        // not multipart
      {"multipart/mixed", kBody},                        // no boundary
      {"multipart/mixed;boundary=", kBody},              // empty boundary
      {"multipart/mixed;boundary=\"b1", kBody},          // unterminated quoted boundary
      {"multipart/mixed;boundary=\"\"", kBody},
      {"multipart/mixed;boundary=zz", kBody},            // boundary never appears
      {"multipart/mixed;boundary=b1", ""},
      {"multipart/mixed;boundary=b1", "--b1--\r\n"},     // no part at all
      {"multipart/mixed;boundary=b1", "--b1\r\n"},       // truncated right after the first delimiter
      {"multipart/mixed;boundary=b1", "--b1\r\nnot a header\r\n\r\nx\r\n--b1--"},
      {"multipart/mixed;boundary=b1", "--b1\r\n continuation first\r\n\r\nx\r\n--b1--"},
      {"", kBody},
  };
  for (const auto& c : cases) EXPECT_FALSE(split_multipart(c.type, c.body)) << c.type << " / " << c.body;
  EXPECT_FALSE(split_multipart("multipart/mixed;boundary=" + std::string(71, 'b'), kBody));
}

TEST(Multipart, GarbageNeverCrashes) {
  for (size_t n = 0; n <= kBody.size(); ++n) {
    const auto parts = split_multipart("multipart/mixed;boundary=\"b1\"", kBody.substr(0, n));
    if (parts) {
      EXPECT_FALSE(parts->empty());
    }
  }
  const std::string ct = "multipart/mixed; boundary=\"b1\"";
  for (size_t n = 0; n <= ct.size(); ++n) (void)split_multipart(ct.substr(0, n), kBody);

  const std::string fixed[] = {
      "--b1", "--b1--", "\r\n--b1\r\n\r\n", "--b1\n\n--b1\n\n--b1", std::string(100000, '-'),
      std::string(100000, '\n'), "--b1\r\n" + std::string(100000, 'x'), std::string("--b1\r\n\0\r\n--b1--", 15),
  };
  for (const auto& s : fixed) (void)split_multipart("multipart/mixed;boundary=b1", s);

  std::mt19937 rng(4242);
  const std::string alphabet = "-b1\r\n:; Content-Type\"";
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const size_t len = rng() % 300;
    for (size_t k = 0; k < len; ++k) s.push_back(i % 3 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()]);
    (void)split_multipart("multipart/mixed;boundary=b1", s);
    (void)split_multipart(s, s);
  }
}

}  // namespace

// A dial-out body (SESSIONS.md §2.4): what build_multipart writes splits back
// into the same parts.
TEST(Multipart, BuildRoundTrips) {
  std::vector<imserver::codec::BodyPart> parts = {
      {"application/sdp", "", "v=0\r\ns=-\r\n"},
      {"application/resource-lists+xml", "recipient-list-history; handling=optional", "<resource-lists/>"},
  };
  const std::string body = imserver::codec::build_multipart(parts, "imsrv-b1");
  EXPECT_EQ(body.rfind("--imsrv-b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n", 0), 0u);
  auto back = imserver::codec::split_multipart("multipart/mixed;boundary=imsrv-b1", body);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*back)[i].content_type, parts[i].content_type);
    EXPECT_EQ((*back)[i].content_disposition, parts[i].content_disposition);
    EXPECT_EQ((*back)[i].body, parts[i].body);
  }
}
