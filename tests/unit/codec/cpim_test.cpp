#include "transport/codec/cpim.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using imserver::codec::cpim::CpimMessage;
using imserver::codec::cpim::CpimStatus;
using imserver::codec::cpim::header_uri;
using imserver::codec::cpim::parse_cpim;
using imserver::codec::cpim::serialize;

// SESSIONS.md §8.9: exactly 148 octets.
const std::string kExample =
    "From: <sip:alice@example.com>\r\n"
    "To: <sip:gs-1@im.example.com>\r\n"
    "DateTime: 2025-01-15T10:00:00Z\r\n"
    "\r\n"
    "Content-Type: text/plain;charset=UTF-8\r\n"
    "\r\n"
    "Hello team";

TEST(Cpim, SessionsExample) {
  ASSERT_EQ(kExample.size(), 148u);
  auto r = parse_cpim(kExample);
  ASSERT_EQ(r.status, CpimStatus::Ok) << r.error;
  const CpimMessage& m = r.message;
  ASSERT_EQ(m.headers.size(), 3u);
  EXPECT_EQ(m.headers[0].first, "From");
  EXPECT_EQ(m.headers[1].first, "To");
  EXPECT_EQ(m.headers[2].first, "DateTime");
  EXPECT_EQ(m.headers[2].second, "2025-01-15T10:00:00Z");
  ASSERT_EQ(m.all("From").size(), 1u);
  EXPECT_EQ(header_uri(m.all("From")[0]), "sip:alice@example.com");
  ASSERT_EQ(m.all("To").size(), 1u);
  EXPECT_EQ(header_uri(m.all("To")[0]), "sip:gs-1@im.example.com");
  ASSERT_NE(m.first("To"), nullptr);
  EXPECT_EQ(*m.first("To"), "<sip:gs-1@im.example.com>");
  ASSERT_EQ(m.mime_headers.size(), 1u);
  EXPECT_EQ(m.mime_headers[0].second, "text/plain;charset=UTF-8");
  EXPECT_EQ(m.content_type(), "text/plain");
  EXPECT_EQ(m.payload, "Hello team");
  EXPECT_EQ(m.payload_offset, 138u);
  EXPECT_EQ(serialize(m), kExample);
}

TEST(Cpim, HeaderNamesAreCaseSensitiveMimeNamesAreNot) {
  auto r = parse_cpim(
      "from: <sip:alice@example.com>\r\n"
      "TO: <sip:gs-1@im.example.com>\r\n"
      "\r\n"
      "content-type: Message/IMDN+XML; charset=utf-8\r\n"
      "\r\n"
      "x");
  ASSERT_EQ(r.status, CpimStatus::Ok) << r.error;
  // RFC 3862 §2.2: "from" and "TO" are not the From and To headers.
  EXPECT_TRUE(r.message.all("From").empty());
  EXPECT_TRUE(r.message.all("To").empty());
  EXPECT_EQ(r.message.all("from").size(), 1u);
  ASSERT_NE(r.message.mime_header("Content-Type"), nullptr);
  EXPECT_EQ(r.message.content_type(), "message/imdn+xml");
}

TEST(Cpim, TwoToHeadersInOrder) {
  auto r = parse_cpim(
      "From: <sip:alice@example.com>\r\n"
      "To: <sip:gs-1@im.example.com>\r\n"
      "cc: <sip:carol@example.com>\r\n"
      "To: Bob <sip:bob@example.com>\r\n"
      "\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "hi");
  ASSERT_EQ(r.status, CpimStatus::Ok) << r.error;
  auto to = r.message.all("To");
  ASSERT_EQ(to.size(), 2u);
  EXPECT_EQ(header_uri(to[0]), "sip:gs-1@im.example.com");
  EXPECT_EQ(header_uri(to[1]), "sip:bob@example.com");
  EXPECT_EQ(r.message.all("cc").size(), 1u);
  ASSERT_EQ(r.message.headers.size(), 4u);
  EXPECT_EQ(r.message.headers[2].first, "cc");
}

TEST(Cpim, MissingFromAndToParseButAreEmpty) {
  auto no_to = parse_cpim("From: <sip:alice@example.com>\r\n\r\nContent-Type: text/plain\r\n\r\nhi");
  ASSERT_EQ(no_to.status, CpimStatus::Ok) << no_to.error;
  EXPECT_TRUE(no_to.message.all("To").empty());
  EXPECT_EQ(no_to.message.all("From").size(), 1u);

  auto none = parse_cpim("\r\nContent-Type: text/plain\r\n\r\nhi");
  ASSERT_EQ(none.status, CpimStatus::Ok) << none.error;
  EXPECT_TRUE(none.message.headers.empty());
  EXPECT_TRUE(none.message.all("From").empty());
  EXPECT_EQ(none.message.payload, "hi");

  // No MIME headers at all: the wrapped type is unknown ("").
  auto bare = parse_cpim("From: <sip:a@b>\r\nTo: <sip:c@d>\r\n\r\n\r\npayload");
  ASSERT_EQ(bare.status, CpimStatus::Ok) << bare.error;
  EXPECT_TRUE(bare.message.mime_headers.empty());
  EXPECT_EQ(bare.message.content_type(), "");
  EXPECT_EQ(bare.message.payload, "payload");
}

TEST(Cpim, ImdnWithNamespace) {
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
      "<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\"><message-id>x1</message-id></imdn>\r\n";
  const std::string body =
      "From: <sip:dan@example.com>\r\n"
      "To: <sip:carol@example.com>\r\n"
      "NS: imdn <urn:ietf:params:imdn>\r\n"
      "imdn.Message-ID: x1\r\n"
      "DateTime: 2025-01-15T10:00:00Z\r\n"
      "\r\n"
      "Content-Type: message/imdn+xml\r\n"
      "Content-Disposition: notification\r\n"
      "Content-Length: " + std::to_string(xml.size()) + "\r\n"
      "\r\n" + xml;
  auto r = parse_cpim(body);
  ASSERT_EQ(r.status, CpimStatus::Ok) << r.error;
  const CpimMessage& m = r.message;
  EXPECT_EQ(m.content_type(), "message/imdn+xml");
  ASSERT_EQ(m.all("imdn.Message-ID").size(), 1u);
  EXPECT_EQ(m.all("imdn.Message-ID")[0], "x1");
  EXPECT_TRUE(m.all("Message-ID").empty());
  EXPECT_TRUE(m.has_ns("urn:ietf:params:imdn"));
  EXPECT_EQ(m.ns_prefix("urn:ietf:params:imdn"), "imdn");
  EXPECT_EQ(m.all_ns("urn:ietf:params:imdn", "Message-ID"), std::vector<std::string>{"x1"});
  EXPECT_FALSE(m.has_ns("urn:example:other"));
  EXPECT_TRUE(m.all_ns("urn:example:other", "Message-ID").empty());
  ASSERT_NE(m.mime_header("content-disposition"), nullptr);
  EXPECT_EQ(*m.mime_header("content-disposition"), "notification");
  EXPECT_EQ(m.payload, xml);

  // Another prefix for the same namespace.
  auto other = parse_cpim(
      "From: <sip:dan@example.com>\r\nTo: <sip:carol@example.com>\r\nNS: x <urn:ietf:params:imdn>\r\n"
      "x.Message-ID: x2\r\n\r\nContent-Type: message/imdn+xml\r\n\r\n");
  ASSERT_EQ(other.status, CpimStatus::Ok) << other.error;
  EXPECT_EQ(other.message.all_ns("urn:ietf:params:imdn", "Message-ID"), std::vector<std::string>{"x2"});
  EXPECT_EQ(other.message.payload, "");
}

TEST(Cpim, IncompleteUntilBothEmptyLines) {
  // Every strict prefix of the header part is Incomplete; from the second empty line on it is Ok.
  for (std::size_t n = 0; n < kExample.size(); ++n) {
    auto r = parse_cpim(std::string_view(kExample).substr(0, n));
    if (n < 138) {
      EXPECT_EQ(r.status, CpimStatus::Incomplete) << "prefix " << n << ": " << r.error;
    } else {
      ASSERT_EQ(r.status, CpimStatus::Ok) << "prefix " << n << ": " << r.error;
      EXPECT_EQ(r.message.payload, kExample.substr(138, n - 138));
    }
  }
  // Headers parsed so far are reported.
  auto partial = parse_cpim("From: <sip:alice@example.com>\r\nTo: <sip:gs-1@im.exa");
  EXPECT_EQ(partial.status, CpimStatus::Incomplete);
  ASSERT_EQ(partial.message.headers.size(), 1u);
  EXPECT_EQ(partial.message.headers[0].first, "From");

  auto no_mime_end = parse_cpim("From: <sip:a@b>\r\nTo: <sip:c@d>\r\n\r\nContent-Type: text/plain\r\nhello");
  EXPECT_EQ(no_mime_end.status, CpimStatus::Incomplete);
  EXPECT_EQ(parse_cpim("").status, CpimStatus::Incomplete);
  EXPECT_EQ(parse_cpim("From: <sip:a@b>\r").status, CpimStatus::Incomplete);
}

TEST(Cpim, Malformed) {
  const char* bad[] = {
      // bare LF (CRLF required) in either block
      "From: <sip:a@b>\nTo: <sip:c@d>\n\nContent-Type: text/plain\n\nhi",
      "From: <sip:a@b>\r\nTo: <sip:c@d>\r\n\r\nContent-Type: text/plain\n\r\nhi",
      // bare CR
      "From: <sip:a@b>\rTo: <sip:c@d>\r\n\r\n\r\n",
      // no colon
      "From <sip:a@b>\r\n\r\n\r\n",
      // invalid names: space, empty, two dots, empty prefix, a separator
      "Fr om: <sip:a@b>\r\n\r\n\r\n",
      ": x\r\n\r\n\r\n",
      "a.b.c: x\r\n\r\n\r\n",
      ".Message-ID: x\r\n\r\n\r\n",
      "To<x: y\r\n\r\n\r\n",
      " From: <sip:a@b>\r\n\r\n\r\n",  // leading white space / folding
      "From: <sip:a@b>\r\n continued\r\n\r\n\r\n",
      // MIME block: no colon, folding with nothing before it, invalid name
      "From: <sip:a@b>\r\n\r\nContent-Type text/plain\r\n\r\n",
      "From: <sip:a@b>\r\n\r\n text/plain\r\n\r\n",
      "From: <sip:a@b>\r\n\r\nContent\x01Type: text/plain\r\n\r\n",
  };
  for (const char* b : bad) {
    auto r = parse_cpim(b);
    EXPECT_EQ(r.status, CpimStatus::Malformed) << ::testing::PrintToString(std::string(b));
    EXPECT_FALSE(r.error.empty());
  }
  // A NUL in the headers.
  std::string with_nul = "From: <sip:a@b>\r\nTo: x";
  with_nul += '\0';
  with_nul += "\r\n\r\n\r\n";
  EXPECT_EQ(parse_cpim(with_nul).status, CpimStatus::Malformed);
  // A bare LF in a partial line is already Malformed.
  EXPECT_EQ(parse_cpim("From: <sip:a@b>\n").status, CpimStatus::Malformed);
}

TEST(Cpim, TolerancesAndPayloadBytes) {
  // Missing SP after the colon, parameters before the value, folded MIME header, "Name : value".
  std::string payload = std::string("line1\nline2\r\n\r\nstill payload") + '\0' + "end";
  payload.push_back('\0');
  auto r = parse_cpim(
      "From:<sip:alice@example.com>\r\n"
      "To: <sip:gs-1@im.example.com>\r\n"
      "Subject:;lang=fr beau temps\r\n"
      "\r\n"
      "Content-Type: text/plain;\r\n"
      "\tcharset=UTF-8\r\n"
      "Content-ID : <x@y>\r\n"
      "\r\n" +
      payload);
  ASSERT_EQ(r.status, CpimStatus::Ok) << r.error;
  EXPECT_EQ(header_uri(*r.message.first("From")), "sip:alice@example.com");
  EXPECT_EQ(*r.message.first("Subject"), ";lang=fr beau temps");
  EXPECT_EQ(*r.message.mime_header("Content-Type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(r.message.content_type(), "text/plain");
  ASSERT_NE(r.message.mime_header("Content-ID"), nullptr);
  // The payload is not inspected: LFs, empty lines and NULs are kept byte for byte.
  EXPECT_EQ(r.message.payload, payload);
}

TEST(Cpim, HeaderUri) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case cases[] = {
      {"<sip:alice@example.com>", "sip:alice@example.com"},
      {"Alice <sip:a@b>", "sip:a@b"},
      {"Winnie the Pooh <im:pooh@100akerwood.com>", "im:pooh@100akerwood.com"},
      {"\"Smith, A <x>\" <sip:a@b>", "sip:a@b"},
      {"\"Say \\\"<hi>\\\"\" <sip:a@b>", "sip:a@b"},
      {"  < sip:a@b >  ", "sip:a@b"},
      {"<sip:anonymous@anonymous.invalid>", "sip:anonymous@anonymous.invalid"},
      {"<sip:bob@example.com;user=phone>", "sip:bob@example.com;user=phone"},
      {";lang=fr Pierre <im:pierre@example.fr>", "im:pierre@example.fr"},
      {";lang=\"a b\" <sip:a@b>", "sip:a@b"},
      {"sip:a@b", "sip:a@b"},
      {"  sip:a@b ", "sip:a@b"},
      {"imdn <urn:ietf:params:imdn>", "urn:ietf:params:imdn"},
      // nothing usable
      {"", ""},
      {"Alice", ""},
      {"<sip:a@b", ""},
      {"\"Alice <sip:a@b>", ""},
      {"<>", ""},
      {"sip:a@b>", ""},
      {"Alice sip:a@b", ""},
      {"\"Alice\" sip:a@b", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(header_uri(c.in), c.out) << c.in;
}

}  // namespace
