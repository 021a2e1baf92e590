#include "transport/codec/msrp_frame.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace msrp = imserver::codec::msrp;
using msrp::EndFlag;
using msrp::Frame;
using Headers = std::vector<std::pair<std::string, std::string>>;

// SESSIONS.md §8.9, byte for byte: lines end in CRLF, the CPIM body is 148 octets.
const std::string kAliceBody =
    "From: <sip:alice@example.com>\r\n"
    "To: <sip:gs-1@im.example.com>\r\n"
    "DateTime: 2025-01-15T10:00:00Z\r\n"
    "\r\n"
    "Content-Type: text/plain;charset=UTF-8\r\n"
    "\r\n"
    "Hello team";

const std::string kAliceSend =
    "MSRP a1b2c3d4 SEND\r\n"
    "To-Path: msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp\r\n"
    "From-Path: msrp://198.51.100.10:40001/aLiCe0001;tcp\r\n"
    "Message-ID: m-alice-0001\r\n"
    "Byte-Range: 1-148/148\r\n"
    "Content-Type: message/cpim\r\n"
    "\r\n" +
    kAliceBody +
    "\r\n"
    "-------a1b2c3d4$\r\n";

const std::string kAliceOk =
    "MSRP a1b2c3d4 200 OK\r\n"
    "To-Path: msrp://198.51.100.10:40001/aLiCe0001;tcp\r\n"
    "From-Path: msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp\r\n"
    "-------a1b2c3d4$\r\n";

const std::string kFocusToBob =
    "MSRP 9f2c41d07be3a615 SEND\r\n"
    "To-Path: msrp://198.51.100.20:40002/bOb00002;tcp\r\n"
    "From-Path: msrp://203.0.113.5:2855/pB8sXk2mQe4TzR1v;tcp\r\n"
    "Message-ID: 5b1e0c9a7d3f2e48a1c6b0d9e2f4a7c3\r\n"
    "Byte-Range: 1-148/148\r\n"
    "Failure-Report: yes\r\n"
    "Content-Type: message/cpim\r\n"
    "\r\n" +
    kAliceBody +
    "\r\n"
    "-------9f2c41d07be3a615$\r\n";

constexpr size_t kLargeBound = 1 << 20;

struct Parsed {
  std::vector<Frame> frames;
  bool broken = false;
  std::string error;
};

// Feeds `bytes` in pieces of `piece` bytes, draining frames after every feed as a
// connection handler would.
Parsed parse_in_pieces(std::string_view bytes, size_t piece, size_t max_frame_bytes = kLargeBound) {
  msrp::StreamParser parser(max_frame_bytes);
  Parsed out;
  for (size_t pos = 0; pos < bytes.size(); pos += piece) {
    parser.feed(bytes.substr(pos, piece));
    while (auto frame = parser.next()) out.frames.push_back(std::move(*frame));
  }
  out.broken = parser.broken();
  out.error = parser.error();
  return out;
}

Parsed parse_whole(std::string_view bytes, size_t max_frame_bytes = kLargeBound) {
  return parse_in_pieces(bytes, bytes.empty() ? 1 : bytes.size(), max_frame_bytes);
}

// Every field, readable in a failure message, so frames can be compared as strings.
std::string dump(const Frame& f) {
  std::ostringstream os;
  os << (f.is_request ? "request" : "response") << " tid=[" << f.tid << "] method=[" << f.method
     << "] status=" << f.status << " comment=[" << f.comment << "]\n";
  for (const auto& [name, value] : f.headers) os << "  [" << name << "]=[" << value << "]\n";
  os << "  body_section=" << f.has_body_section << " body(" << f.body.size() << ")=[" << f.body << "] flag="
     << static_cast<char>(f.flag) << "\n";
  return os.str();
}

std::string dump(const std::vector<Frame>& frames) {
  std::string out;
  for (const Frame& f : frames) out += dump(f);
  return out;
}

struct ValidCase {
  const char* label;
  std::string bytes;
  bool is_request;
  std::string tid;
  std::string method;
  uint16_t status;
  std::string comment;
  Headers headers;
  bool has_body_section;
  std::string body;
  EndFlag flag;
  bool canonical;  // serialize(parse(bytes)) reproduces bytes exactly
};

std::vector<ValidCase> valid_cases() {
  static const char kBinary[] = "bin\0ary\rbare CR\nbare LF\r\n\r\nends in CRLF\r\n";
  const std::string binary_body(kBinary, sizeof kBinary - 1);  // keeps the embedded NUL
  return {
      {"§8.9 SEND from Alice, 148-octet CPIM body",
       kAliceSend,
       true,
       "a1b2c3d4",
       "SEND",
       0,
       "",
       {{"To-Path", "msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp"},
        {"From-Path", "msrp://198.51.100.10:40001/aLiCe0001;tcp"},
        {"Message-ID", "m-alice-0001"},
        {"Byte-Range", "1-148/148"},
        {"Content-Type", "message/cpim"}},
       true,
       kAliceBody,
       EndFlag::Complete,
       true},
      {"§8.9 200 OK to Alice",
       kAliceOk,
       false,
       "a1b2c3d4",
       "",
       200,
       "OK",
       {{"To-Path", "msrp://198.51.100.10:40001/aLiCe0001;tcp"},
        {"From-Path", "msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp"}},
       false,
       "",
       EndFlag::Complete,
       true},
      {"§8.9 focus to Bob, 16-hex tid",
       kFocusToBob,
       true,
       "9f2c41d07be3a615",
       "SEND",
       0,
       "",
       {{"To-Path", "msrp://198.51.100.20:40002/bOb00002;tcp"},
        {"From-Path", "msrp://203.0.113.5:2855/pB8sXk2mQe4TzR1v;tcp"},
        {"Message-ID", "5b1e0c9a7d3f2e48a1c6b0d9e2f4a7c3"},
        {"Byte-Range", "1-148/148"},
        {"Failure-Report", "yes"},
        {"Content-Type", "message/cpim"}},
       true,
       kAliceBody,
       EndFlag::Complete,
       true},
      {"bodiless SEND (binding / keep-alive)",
       "MSRP kA1ve SEND\r\nTo-Path: msrp://a.example:1/s1;tcp\r\nFrom-Path: msrp://b.example:2/s2;tcp\r\n"
       "Message-ID: ka-1\r\nByte-Range: 1-0/0\r\n-------kA1ve$\r\n",
       true,
       "kA1ve",
       "SEND",
       0,
       "",
       {{"To-Path", "msrp://a.example:1/s1;tcp"},
        {"From-Path", "msrp://b.example:2/s2;tcp"},
        {"Message-ID", "ka-1"},
        {"Byte-Range", "1-0/0"}},
       false,
       "",
       EndFlag::Complete,
       true},
      {"first chunk, flag +",
       "MSRP ch00001 SEND\r\nMessage-ID: big\r\nByte-Range: 1-6/11\r\nContent-Type: text/plain\r\n\r\nHello \r\n"
       "-------ch00001+\r\n",
       true,
       "ch00001",
       "SEND",
       0,
       "",
       {{"Message-ID", "big"}, {"Byte-Range", "1-6/11"}, {"Content-Type", "text/plain"}},
       true,
       "Hello ",
       EndFlag::More,
       true},
      {"aborted chunk, flag #",
       "MSRP ch00002 SEND\r\nMessage-ID: big\r\nByte-Range: 7-11/11\r\nContent-Type: text/plain\r\n\r\nworld\r\n"
       "-------ch00002#\r\n",
       true,
       "ch00002",
       "SEND",
       0,
       "",
       {{"Message-ID", "big"}, {"Byte-Range", "7-11/11"}, {"Content-Type", "text/plain"}},
       true,
       "world",
       EndFlag::Abort,
       true},
      {"response without comment",
       "MSRP a1b2c3d4 200\r\nTo-Path: msrp://x.example:1/a;tcp\r\nFrom-Path: msrp://y.example:2/b;tcp\r\n"
       "-------a1b2c3d4$\r\n",
       false,
       "a1b2c3d4",
       "",
       200,
       "",
       {{"To-Path", "msrp://x.example:1/a;tcp"}, {"From-Path", "msrp://y.example:2/b;tcp"}},
       false,
       "",
       EndFlag::Complete,
       true},
      {"response with multi-word comment",
       "MSRP a1b2c3d4 428 Private messages not supported\r\nTo-Path: msrp://x.example:1/a;tcp\r\n"
       "From-Path: msrp://y.example:2/b;tcp\r\n-------a1b2c3d4$\r\n",
       false,
       "a1b2c3d4",
       "",
       428,
       "Private messages not supported",
       {{"To-Path", "msrp://x.example:1/a;tcp"}, {"From-Path", "msrp://y.example:2/b;tcp"}},
       false,
       "",
       EndFlag::Complete,
       true},
      {"body holds an end-line of another tid",
       "MSRP tidA1 SEND\r\nContent-Type: text/plain\r\n\r\nquote:\r\n-------zzzz9999$\r\nend\r\n-------tidA1$\r\n",
       true,
       "tidA1",
       "SEND",
       0,
       "",
       {{"Content-Type", "text/plain"}},
       true,
       "quote:\r\n-------zzzz9999$\r\nend",
       EndFlag::Complete,
       true},
      {"body holds a longer tid that starts with this one",
       "MSRP tidA1 SEND\r\nContent-Type: text/plain\r\n\r\nx\r\n-------tidA1B2$\r\ny\r\n-------tidA1+\r\n",
       true,
       "tidA1",
       "SEND",
       0,
       "",
       {{"Content-Type", "text/plain"}},
       true,
       "x\r\n-------tidA1B2$\r\ny",
       EndFlag::More,
       true},
      {"body holds this tid with a bad flag or no CRLF after it",
       "MSRP tidA1 SEND\r\nContent-Type: text/plain\r\n\r\n"
       "\r\n-------tidA1!\r\n\r\n-------tidA1$x\r\n-------tidA1$\r\n",
       true,
       "tidA1",
       "SEND",
       0,
       "",
       {{"Content-Type", "text/plain"}},
       true,
       "\r\n-------tidA1!\r\n\r\n-------tidA1$x",
       EndFlag::Complete,
       true},
      {"empty body section",
       "MSRP e1e1e1 SEND\r\nContent-Type: text/plain\r\n\r\n\r\n-------e1e1e1$\r\n",
       true,
       "e1e1e1",
       "SEND",
       0,
       "",
       {{"Content-Type", "text/plain"}},
       true,
       "",
       EndFlag::Complete,
       true},
      {"binary body with NUL, bare CR/LF, ending in CRLF",
       "MSRP b1n4ry SEND\r\nContent-Type: application/octet-stream\r\n\r\n" + binary_body + "\r\n-------b1n4ry$\r\n",
       true,
       "b1n4ry",
       "SEND",
       0,
       "",
       {{"Content-Type", "application/octet-stream"}},
       true,
       binary_body,
       EndFlag::Complete,
       true},
      {"REPORT with Status",
       "MSRP r3p0rt1 REPORT\r\nTo-Path: msrp://x.example:1/a;tcp\r\nFrom-Path: msrp://y.example:2/b;tcp\r\n"
       "Message-ID: m-alice-0001\r\nByte-Range: 1-148/148\r\nStatus: 000 200 OK\r\n-------r3p0rt1$\r\n",
       true,
       "r3p0rt1",
       "REPORT",
       0,
       "",
       {{"To-Path", "msrp://x.example:1/a;tcp"},
        {"From-Path", "msrp://y.example:2/b;tcp"},
        {"Message-ID", "m-alice-0001"},
        {"Byte-Range", "1-148/148"},
        {"Status", "000 200 OK"}},
       false,
       "",
       EndFlag::Complete,
       true},
      {"unknown method reaches the caller (for 501)",
       "MSRP n1ck SHOUT\r\nUse-Nickname: \"Al\"\r\n-------n1ck$\r\n",
       true,
       "n1ck",
       "SHOUT",
       0,
       "",
       {{"Use-Nickname", "\"Al\""}},
       false,
       "",
       EndFlag::Complete,
       true},
      {"header values trimmed, names kept as written",
       "MSRP trim1 SEND\r\nmessage-id:m1 \r\nBYTE-RANGE: \t1-0/0\t\r\nX-Empty:\r\n-------trim1$\r\n",
       true,
       "trim1",
       "SEND",
       0,
       "",
       {{"message-id", "m1"}, {"BYTE-RANGE", "1-0/0"}, {"X-Empty", ""}},
       false,
       "",
       EndFlag::Complete,
       false},
      {"no headers at all",
       "MSRP abcd SEND\r\n-------abcd$\r\n",
       true,
       "abcd",
       "SEND",
       0,
       "",
       {},
       false,
       "",
       EndFlag::Complete,
       true},
      {"32-character tid using every allowed punctuation",
       "MSRP Z.-+%=0123456789abcdefghijklmnop 200 OK\r\n-------Z.-+%=0123456789abcdefghijklmnop$\r\n",
       false,
       "Z.-+%=0123456789abcdefghijklmnop",
       "",
       200,
       "OK",
       {},
       false,
       "",
       EndFlag::Complete,
       true},
  };
}

void expect_fields(const ValidCase& c, const Frame& f) {
  EXPECT_EQ(f.is_request, c.is_request);
  EXPECT_EQ(f.tid, c.tid);
  EXPECT_EQ(f.method, c.method);
  EXPECT_EQ(f.status, c.status);
  EXPECT_EQ(f.comment, c.comment);
  EXPECT_EQ(f.headers, c.headers);
  EXPECT_EQ(f.has_body_section, c.has_body_section);
  EXPECT_EQ(f.body, c.body);
  EXPECT_EQ(static_cast<char>(f.flag), static_cast<char>(c.flag));
}

TEST(MsrpFrame, SessionsExampleBodyIs148Octets) {
  EXPECT_EQ(kAliceBody.size(), 148u);
}

TEST(MsrpFrame, ValidFramesTable) {
  for (const ValidCase& c : valid_cases()) {
    SCOPED_TRACE(c.label);
    const Parsed whole = parse_whole(c.bytes);
    EXPECT_FALSE(whole.broken) << whole.error;
    ASSERT_EQ(whole.frames.size(), 1u);
    expect_fields(c, whole.frames[0]);
    // However the bytes are cut, the same frame comes out.
    for (size_t piece : {1, 2, 3, 7, 16, 64}) {
      SCOPED_TRACE("piece " + std::to_string(piece));
      const Parsed pieces = parse_in_pieces(c.bytes, piece);
      EXPECT_FALSE(pieces.broken) << pieces.error;
      EXPECT_EQ(dump(pieces.frames), dump(whole.frames));
    }
    if (c.canonical) {
      EXPECT_EQ(msrp::serialize(whole.frames[0]), c.bytes);
    }
  }
}

TEST(MsrpFrame, SeveralFramesInOneFeed) {
  std::string stream;
  std::vector<ValidCase> cases = valid_cases();
  for (const ValidCase& c : cases) stream += c.bytes;

  const Parsed whole = parse_whole(stream);
  EXPECT_FALSE(whole.broken) << whole.error;
  ASSERT_EQ(whole.frames.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].label);
    expect_fields(cases[i], whole.frames[i]);
  }

  const Parsed bytewise = parse_in_pieces(stream, 1);
  EXPECT_FALSE(bytewise.broken) << bytewise.error;
  EXPECT_EQ(dump(bytewise.frames), dump(whole.frames));
}

// Many frames in random-sized pieces: crosses every boundary (start line, headers,
// marker, flag, CRLF) and runs long enough to exercise buffer compaction.
TEST(MsrpFrame, RandomPiecesOverALongStream) {
  const std::vector<ValidCase> cases = valid_cases();
  std::string stream;
  std::vector<std::string> expected;
  for (int i = 0; i < 2000; ++i) {
    const ValidCase& c = cases[static_cast<size_t>(i) % cases.size()];
    stream += c.bytes;
    expected.push_back(c.bytes);
  }
  std::mt19937 rng(4975);
  std::uniform_int_distribution<size_t> piece_size(1, 3000);
  msrp::StreamParser parser(kLargeBound);
  std::vector<Frame> frames;
  size_t max_buffered = 0;
  for (size_t pos = 0; pos < stream.size();) {
    const size_t n = std::min(piece_size(rng), stream.size() - pos);
    parser.feed(std::string_view(stream).substr(pos, n));
    pos += n;
    while (auto f = parser.next()) frames.push_back(std::move(*f));
    max_buffered = std::max(max_buffered, parser.buffered());
  }
  EXPECT_FALSE(parser.broken()) << parser.error();
  EXPECT_EQ(parser.buffered(), 0u);
  // Only the incomplete tail of the stream stays buffered, never what was already returned.
  EXPECT_LE(max_buffered, 3000u);
  ASSERT_EQ(frames.size(), expected.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    if (expected[i].find("trim1") != std::string::npos) continue;  // not canonical on purpose
    ASSERT_EQ(msrp::serialize(frames[i]), expected[i]) << "frame " << i;
  }
}

TEST(MsrpFrame, IncompleteFrameWaitsForMoreBytes) {
  msrp::StreamParser parser(kLargeBound);
  const std::string_view bytes = kAliceSend;
  parser.feed(bytes.substr(0, bytes.size() - 1));  // all but the final LF
  EXPECT_FALSE(parser.next());
  EXPECT_FALSE(parser.broken());
  EXPECT_EQ(parser.buffered(), bytes.size() - 1);
  parser.feed(bytes.substr(bytes.size() - 1));
  auto frame = parser.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->body, kAliceBody);
  EXPECT_EQ(parser.buffered(), 0u);
  EXPECT_FALSE(parser.next());
}

struct BrokenCase {
  const char* label;
  std::string bytes;
  const char* error;  // part of StreamParser::error()
};

TEST(MsrpFrame, BrokenStreamsTable) {
  const std::string tail = "To-Path: msrp://x.example:1/a;tcp\r\n-------a1b2c3d4$\r\n";
  const char* const kNotMsrp = "does not begin with \"MSRP \"";
  const BrokenCase cases[] = {
      {"lowercase msrp", "msrp a1b2c3d4 SEND\r\n" + tail, kNotMsrp},
      {"not MSRP at all", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", kNotMsrp},
      {"missing tid", "MSRP SEND\r\n" + tail, "no method or status code"},
      {"two spaces before tid", "MSRP  a1b2c3d4 SEND\r\n" + tail, "invalid transaction id"},
      {"tid too short", "MSRP abc SEND\r\nTo-Path: x\r\n-------abc$\r\n", "invalid transaction id"},
      {"tid too long (33)",
       "MSRP abcdefghijabcdefghijabcdefghijabc SEND\r\n-------abcdefghijabcdefghijabcdefghijabc$\r\n",
       "invalid transaction id"},
      {"tid with underscore", "MSRP a1b2_c3d4 SEND\r\n-------a1b2_c3d4$\r\n", "invalid transaction id"},
      {"tid starting with punctuation", "MSRP .a1b2c3d4 SEND\r\n-------.a1b2c3d4$\r\n", "invalid transaction id"},
      {"no method", "MSRP a1b2c3d4\r\n" + tail, "no method or status code"},
      {"empty method", "MSRP a1b2c3d4 \r\n" + tail, "invalid method"},
      {"method starting with punctuation", "MSRP a1b2c3d4 -SEND\r\n" + tail, "invalid method"},
      {"method with a slash", "MSRP a1b2c3d4 SE/ND\r\n" + tail, "invalid method"},
      {"method followed by a word", "MSRP a1b2c3d4 SEND now\r\n" + tail, "invalid method"},
      {"two-digit code", "MSRP a1b2c3d4 20 OK\r\n" + tail, "not three digits"},
      {"four-digit code", "MSRP a1b2c3d4 2000 OK\r\n" + tail, "not three digits"},
      {"code glued to comment", "MSRP a1b2c3d4 200OK\r\n" + tail, "not three digits"},
      {"header without colon", "MSRP a1b2c3d4 SEND\r\nMessage-ID m-alice-0001\r\n-------a1b2c3d4$\r\n",
       "without a colon"},
      // The colon inside the URI makes "To-Path msrp" the name, which is not a token.
      {"header with a space for its colon",
       "MSRP a1b2c3d4 SEND\r\nTo-Path msrp://x.example:1/a;tcp\r\n-------a1b2c3d4$\r\n", "not a token"},
      {"header name with a space", "MSRP a1b2c3d4 SEND\r\nTo Path: msrp://x\r\n-------a1b2c3d4$\r\n", "not a token"},
      {"empty header name", "MSRP a1b2c3d4 SEND\r\n: value\r\n-------a1b2c3d4$\r\n", "not a token"},
      {"bodiless end-line with another tid", "MSRP a1b2c3d4 SEND\r\nTo-Path: x\r\n-------zzzz9999$\r\n",
       "does not match"},
      {"bodiless end-line with a bad flag", "MSRP a1b2c3d4 SEND\r\nTo-Path: x\r\n-------a1b2c3d4!\r\n",
       "does not match"},
      {"bare LF ends the start line", "MSRP a1b2c3d4 SEND\nTo-Path: x\n-------a1b2c3d4$\n", "CRLF"},
      {"bare LF ends a header", "MSRP a1b2c3d4 SEND\r\nTo-Path: x\n-------a1b2c3d4$\r\n", "CRLF"},
      {"leading empty line", "\r\n" + kAliceOk, kNotMsrp},
  };
  for (const BrokenCase& c : cases) {
    SCOPED_TRACE(c.label);
    for (size_t piece : {c.bytes.size(), size_t{1}}) {
      SCOPED_TRACE("piece " + std::to_string(piece));
      const Parsed parsed = parse_in_pieces(c.bytes, piece);
      EXPECT_TRUE(parsed.broken);
      EXPECT_NE(parsed.error.find(c.error), std::string::npos) << parsed.error;
      EXPECT_TRUE(parsed.frames.empty()) << dump(parsed.frames);
    }
  }
}

TEST(MsrpFrame, GoodFrameThenGarbage) {
  msrp::StreamParser parser(kLargeBound);
  parser.feed(kAliceOk + "HTTP/1.1 200 OK\r\n");
  auto first = parser.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_FALSE(parser.next());
  EXPECT_TRUE(parser.broken());
  // A broken parser stays broken and ignores further bytes.
  parser.feed(kAliceOk);
  EXPECT_FALSE(parser.next());
  EXPECT_TRUE(parser.broken());
  EXPECT_EQ(parser.buffered(), 0u);
}

TEST(MsrpFrame, NonMsrpStreamRejectedOnItsFirstByte) {
  msrp::StreamParser parser(kLargeBound);
  parser.feed("MSR");
  EXPECT_FALSE(parser.next());
  EXPECT_FALSE(parser.broken());
  msrp::StreamParser http(kLargeBound);
  http.feed("G");
  EXPECT_FALSE(http.next());
  EXPECT_TRUE(http.broken());
}

// The end-line of a frame with a body names another tid: that line is body content,
// so the frame never ends and the bound is what closes the connection.
TEST(MsrpFrame, EndLineTidMismatchRunsIntoTheBound) {
  const std::string frame =
      "MSRP a1b2c3d4 SEND\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------zzzz9999$\r\n";
  constexpr size_t kBound = 256;
  msrp::StreamParser parser(kBound);
  parser.feed(frame);
  EXPECT_FALSE(parser.next());
  EXPECT_FALSE(parser.broken());
  EXPECT_EQ(parser.buffered(), frame.size());
  while (!parser.broken() && parser.buffered() <= kBound) {
    parser.feed(kFocusToBob);  // later frames on the wire are swallowed as body
    EXPECT_FALSE(parser.next());
  }
  EXPECT_TRUE(parser.broken());
  EXPECT_NE(parser.error().find("larger than"), std::string::npos) << parser.error();
}

TEST(MsrpFrame, FrameBound) {
  const size_t size = kAliceSend.size();
  for (size_t piece : {size, size_t{1}, size_t{100}}) {
    SCOPED_TRACE("piece " + std::to_string(piece));
    const Parsed at_bound = parse_in_pieces(kAliceSend, piece, size);
    EXPECT_FALSE(at_bound.broken) << at_bound.error;
    EXPECT_EQ(at_bound.frames.size(), 1u);

    // One byte over: broken whether the frame arrives whole or in pieces.
    const Parsed over = parse_in_pieces(kAliceSend, piece, size - 1);
    EXPECT_TRUE(over.broken);
    EXPECT_NE(over.error.find("larger than"), std::string::npos) << over.error;
    EXPECT_TRUE(over.frames.empty());

    // The bound is per frame, not per stream.
    const Parsed two = parse_in_pieces(kAliceSend + kAliceSend, piece, size);
    EXPECT_FALSE(two.broken) << two.error;
    EXPECT_EQ(two.frames.size(), 2u);
  }
}

TEST(MsrpFrame, UnterminatedStartLineHitsTheBound) {
  msrp::StreamParser parser(64);
  parser.feed("MSRP " + std::string(59, 'a'));  // 64 bytes, no CRLF yet
  EXPECT_FALSE(parser.next());
  EXPECT_FALSE(parser.broken());
  parser.feed("a");
  EXPECT_FALSE(parser.next());
  EXPECT_TRUE(parser.broken());
}

TEST(MsrpFrame, HeaderLookupIsCaseInsensitive) {
  const Parsed parsed = parse_whole(kAliceSend);
  ASSERT_EQ(parsed.frames.size(), 1u);
  const Frame& f = parsed.frames[0];
  ASSERT_NE(f.header("message-id"), nullptr);
  EXPECT_EQ(*f.header("message-id"), "m-alice-0001");
  ASSERT_NE(f.header("BYTE-RANGE"), nullptr);
  EXPECT_EQ(*f.header("BYTE-RANGE"), "1-148/148");
  EXPECT_EQ(f.header("Success-Report"), nullptr);
  EXPECT_EQ(f.header("Message-I"), nullptr);
}

TEST(MsrpFrame, FirstHeaderWins) {
  Frame f;
  f.headers = {{"Status", "first"}, {"status", "second"}};
  ASSERT_NE(f.header("STATUS"), nullptr);
  EXPECT_EQ(*f.header("STATUS"), "first");
}

TEST(MsrpFrame, PathsSplitOnWhiteSpace) {
  Frame f;
  f.headers = {{"to-path", "msrp://relay.example:2855/r1;tcp  msrp://a.example:1/s1;tcp\tmsrp://b.example:2/s2;tcp "}};
  EXPECT_EQ(f.to_path(), (std::vector<std::string>{"msrp://relay.example:2855/r1;tcp", "msrp://a.example:1/s1;tcp",
                                                    "msrp://b.example:2/s2;tcp"}));
  EXPECT_TRUE(f.from_path().empty());
}

TEST(MsrpFrame, MakeResponseReproducesTheSessionsExample) {
  const Parsed parsed = parse_whole(kAliceSend);
  ASSERT_EQ(parsed.frames.size(), 1u);
  const Frame response =
      msrp::make_response(parsed.frames[0], 200, "OK", "msrp://203.0.113.5:2855/pA3kq9ZtW0xR7m2L;tcp");
  EXPECT_FALSE(response.is_request);
  EXPECT_FALSE(response.has_body_section);
  EXPECT_EQ(static_cast<char>(response.flag), '$');
  EXPECT_EQ(msrp::serialize(response), kAliceOk);
}

TEST(MsrpFrame, MakeResponseAnswersThePreviousHopOnly) {
  Frame request;
  request.tid = "rel4y001";
  request.method = "SEND";
  request.headers = {{"To-Path", "msrp://focus.example:2855/f1;tcp"},
                     {"From-Path", "msrp://relay.example:2855/r1;tcp msrp://alice.example:1/a1;tcp"}};
  request.has_body_section = true;
  request.body = "x";
  request.flag = EndFlag::More;
  const Frame response = msrp::make_response(request, 481, "", "msrp://focus.example:2855/f1;tcp");
  EXPECT_EQ(msrp::serialize(response),
            "MSRP rel4y001 481\r\n"
            "To-Path: msrp://relay.example:2855/r1;tcp\r\n"
            "From-Path: msrp://focus.example:2855/f1;tcp\r\n"
            "-------rel4y001$\r\n");
}

TEST(MsrpFrame, ParseOfSerializeGivesTheSameFrame) {
  Frame f;
  f.tid = "Rt9=+%.-x";
  f.method = "SEND";
  f.headers = {{"To-Path", "msrp://a.example:1/s;tcp"}, {"Content-Type", "text/plain"}};
  f.has_body_section = true;
  f.body = "----- not an end\r\n-------Rt9=+%.-x\r\n-------other$\r\n";
  f.flag = EndFlag::More;
  const std::string bytes = msrp::serialize(f);
  const Parsed parsed = parse_in_pieces(bytes, 1);
  ASSERT_EQ(parsed.frames.size(), 1u) << parsed.error;
  EXPECT_EQ(dump(parsed.frames[0]), dump(f));

  Frame status;
  status.is_request = false;
  status.tid = "st4tus";
  status.status = 7;  // written with three digits
  const std::string status_bytes = msrp::serialize(status);
  EXPECT_EQ(status_bytes, "MSRP st4tus 007\r\n-------st4tus$\r\n");
  const Parsed reparsed = parse_whole(status_bytes);
  ASSERT_EQ(reparsed.frames.size(), 1u);
  EXPECT_EQ(reparsed.frames[0].status, 7);
}

struct RangeCase {
  const char* value;
  bool ok;
  uint64_t start;
  std::optional<uint64_t> end;
  std::optional<uint64_t> total;
};

TEST(MsrpFrame, ParseByteRangeTable) {
  const auto star = std::nullopt;
  const RangeCase cases[] = {
      {"1-0/0", true, 1, 0, 0},
      {"1-*/*", true, 1, star, star},
      {"2049-4096/5000", true, 2049, 4096, 5000},
      {"1-148/148", true, 1, 148, 148},
      {"1-*/148", true, 1, star, 148},
      {"4097-*/*", true, 4097, star, star},
      {"6-5/10", true, 6, 5, 10},  // an empty chunk at position 6
      {" 1-5/5\t", true, 1, 5, 5},
      {"18446744073709551615-*/*", true, UINT64_MAX, star, star},
      {"0-5/5", false, 0, star, star},
      {"5-3/10", false, 0, star, star},
      {"a-b/c", false, 0, star, star},
      {"1-5", false, 0, star, star},
      {"1-5 5", false, 0, star, star},
      {"1/5", false, 0, star, star},
      {"", false, 0, star, star},
      {"-5/5", false, 0, star, star},
      {"1-/5", false, 0, star, star},
      {"1-5/", false, 0, star, star},
      {"*-5/5", false, 0, star, star},
      {"1-6/5", false, 0, star, star},
      {"8-*/5", false, 0, star, star},
      {"1 -5/5", false, 0, star, star},
      {"+1-5/5", false, 0, star, star},
      {"1-5/5/5", false, 0, star, star},
      {"18446744073709551616-*/*", false, 0, star, star},
  };
  for (const RangeCase& c : cases) {
    SCOPED_TRACE(std::string("[") + c.value + "]");
    const auto range = msrp::parse_byte_range(c.value);
    ASSERT_EQ(range.has_value(), c.ok);
    if (!c.ok) continue;
    EXPECT_EQ(range->start, c.start);
    EXPECT_EQ(range->end, c.end);
    EXPECT_EQ(range->total, c.total);
  }
}

TEST(MsrpFrame, ValidTransactionIdTable) {
  const std::pair<std::string, bool> cases[] = {
      {"a1b2c3d4", true},
      {"9f2c41d07be3a615", true},
      {"abcd", true},
      {"A1==", true},
      {"0.-+%=", true},
      {std::string(32, 'x'), true},
      {"abc", false},
      {std::string(33, 'x'), false},
      {"", false},
      {".abc", false},
      {"-abc", false},
      {"=abc", false},
      {"ab_c", false},
      {"ab c", false},
      {"ab/c", false},
      {"abc\xc3\xa9", false},
      {std::string("ab\0c", 4), false},
  };
  for (const auto& [tid, ok] : cases) EXPECT_EQ(msrp::valid_transaction_id(tid), ok) << "[" << tid << "]";
}

}  // namespace
