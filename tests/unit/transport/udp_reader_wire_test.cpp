// The SIP worker's own UDP reader and writer (UdpBatch under libre's
// parser) on the wire: a burst larger than one wake-up's budget is answered
// completely and in order, STUN Binding keep-alives on the SIP port are
// answered with the sender's address as libre's transport did, and CRLF
// keep-alives and garbage get nothing while SIP after them still does.

#include "transport/sip/sip_worker.hpp"
#include "wire_peer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>

namespace imserver::transport {
namespace {

using namespace wire;
using Peer = WirePeer;

class UdpReaderWire : public WorkerWireTest {
 protected:
  // A request the worker answers by itself (483: Max-Forwards 0), so no
  // layer above is involved.
  std::string hopless_options(const Peer& peer, int n) const {
    const std::string p = std::to_string(peer.port());
    const std::string id = std::to_string(n);
    return "OPTIONS " + uri() + " SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:" + p + ";branch=z9hG4bK-burst-" + id + "\r\n"
           "Max-Forwards: 0\r\n"
           "From: <sip:bob@example.com>;tag=f" + id + "\r\n"
           "To: <" + uri() + ">\r\n"
           "Call-ID: burst-" + id + "\r\n"
           "CSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n";
  }

  static std::string stun_binding_request(const std::string& tid) {
    std::string m;
    m += '\x00';
    m += '\x01';  // Binding request
    m += '\x00';
    m += '\x00';  // no attributes
    m += "\x21\x12\xa4\x42";  // magic cookie
    m += tid;                 // 12 bytes
    return m;
  }
};

TEST_F(UdpReaderWire, WorkerTookTheSocketOverFromLibre) {
  // Otherwise every other case here would pass through libre's own reader
  // and prove nothing about the batches.
  EXPECT_TRUE(worker_->udp_batched());
}

TEST_F(UdpReaderWire, BurstBeyondOneWakeUpIsAnsweredCompletelyInOrder) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  // The answers arrive while the burst is still being sent, faster than a
  // loaded test thread reads them: without room for all of them, datagrams
  // dropped by the peer's own socket looked like answers missing.
  peer.receive_buffer(8 << 20);
  // 300 > 4 batches of 32: the reader has to come back on a later wake-up.
  constexpr int kBurst = 300;
  for (int i = 0; i < kBurst; ++i) peer.send(hopless_options(peer, i));
  int answered = 0;
  while (auto m = peer.receive(3000)) {
    ASSERT_EQ(start_line(m->text), "SIP/2.0 483 Too Many Hops");
    EXPECT_EQ(header(m->text, "Call-ID"), "burst-" + std::to_string(answered)) << "out of order";
    if (++answered == kBurst) break;
  }
  EXPECT_EQ(answered, kBurst);
}

TEST_F(UdpReaderWire, StunBindingRequestGetsTheSendersAddress) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  const std::string tid = "0123456789ab";
  peer.send(stun_binding_request(tid));
  auto m = peer.receive(2000);
  ASSERT_TRUE(m);
  const std::string& r = m->text;
  ASSERT_GE(r.size(), 20u);
  EXPECT_EQ(static_cast<uint8_t>(r[0]), 0x01);  // Binding success response
  EXPECT_EQ(static_cast<uint8_t>(r[1]), 0x01);
  EXPECT_EQ(r.substr(4, 4), std::string("\x21\x12\xa4\x42"));
  EXPECT_EQ(r.substr(8, 12), tid);
  // XOR-MAPPED-ADDRESS (RFC 5389 §15.2): the port XORed with the cookie's
  // top 16 bits is the peer's.
  bool found = false;
  for (size_t at = 20; at + 4 <= r.size();) {
    const unsigned type = static_cast<uint8_t>(r[at]) << 8 | static_cast<uint8_t>(r[at + 1]);
    const size_t len = static_cast<size_t>(static_cast<uint8_t>(r[at + 2]) << 8 | static_cast<uint8_t>(r[at + 3]));
    if (type == 0x0020 && len >= 8 && at + 4 + len <= r.size()) {
      const unsigned xport = static_cast<uint8_t>(r[at + 6]) << 8 | static_cast<uint8_t>(r[at + 7]);
      EXPECT_EQ(xport ^ 0x2112u, peer.port());
      found = true;
    }
    at += 4 + ((len + 3) & ~size_t{3});
  }
  EXPECT_TRUE(found) << "no XOR-MAPPED-ADDRESS";
}

TEST_F(UdpReaderWire, KeepAlivesAndGarbageGetNothingAndSipStillDoes) {
  Peer peer(false, worker_->port());
  ASSERT_TRUE(peer.ok());
  peer.send("\r\n\r\n");
  peer.send("\r\n");
  peer.send("this is not SIP at all\r\n\r\n");
  peer.send(std::string("\x00\x01\x00\x00garbage", 11));  // claims STUN, is not
  peer.send(hopless_options(peer, 7));
  auto m = peer.receive(2000);
  ASSERT_TRUE(m);
  EXPECT_EQ(start_line(m->text), "SIP/2.0 483 Too Many Hops");
  EXPECT_EQ(header(m->text, "Call-ID"), "burst-7");
  EXPECT_FALSE(peer.receive(300)) << "something answered a keep-alive or garbage";
}

}  // namespace
}  // namespace imserver::transport
