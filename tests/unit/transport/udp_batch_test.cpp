// UdpBatch on loopback sockets: bursts come out whole and in order, a read
// stops after the batches it was allowed, queued sends leave in sendmmsg
// batches, and one datagram the kernel refuses costs only itself.

#include "transport/sip/udp_batch.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace imserver::transport {
namespace {

class Socket {
 public:
  Socket() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    const int bytes = 4 << 20;
    (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    socklen_t len = sizeof addr_;
    (void)::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr_), &len);
  }
  ~Socket() { ::close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  const sockaddr_in& addr() const { return addr_; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&addr_); }

  void send_to(const Socket& to, const std::string& text) const {
    ASSERT_EQ(::sendto(fd_, text.data(), text.size(), 0, to.sa(), sizeof(sockaddr_in)),
              static_cast<ssize_t>(text.size()));
  }

  // Everything that arrives within `timeout_ms` of the last datagram.
  std::vector<std::string> drain(int timeout_ms = 300) const {
    std::vector<std::string> got;
    pollfd p{fd_, POLLIN, 0};
    while (::poll(&p, 1, timeout_ms) > 0) {
      std::string buf(65536, '\0');
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0) break;
      buf.resize(static_cast<size_t>(n));
      got.push_back(buf);
    }
    return got;
  }

 private:
  int fd_ = -1;
  sockaddr_in addr_{};
};

std::string numbered(int i) { return "datagram " + std::to_string(i); }

TEST(UdpBatch, BurstArrivesWholeAndInOrderWithTheSender) {
  Socket server, client;
  for (int i = 0; i < 50; ++i) client.send_to(server, numbered(i));
  UdpBatch batch(server.fd());
  std::vector<std::string> got;
  const size_t n = batch.receive(
      [&](const UdpBatch::Datagram& d) {
        got.emplace_back(reinterpret_cast<const char*>(d.data), d.size);
        ASSERT_EQ(d.from->sa_family, AF_INET);
        const auto* from = reinterpret_cast<const sockaddr_in*>(d.from);
        EXPECT_EQ(from->sin_port, client.addr().sin_port);
      },
      4);
  ASSERT_EQ(n, 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], numbered(i));
  // 32 + 18: the short second batch shows the socket is empty, no third call.
  EXPECT_EQ(batch.stats().receive_calls, 2u);
}

TEST(UdpBatch, ReadStopsAfterTheBatchesAllowed) {
  Socket server, client;
  for (int i = 0; i < 40; ++i) client.send_to(server, numbered(i));
  UdpBatch batch(server.fd());
  std::vector<std::string> got;
  auto keep = [&](const UdpBatch::Datagram& d) { got.emplace_back(reinterpret_cast<const char*>(d.data), d.size); };
  EXPECT_EQ(batch.receive(keep, 1), UdpBatch::kBatch);
  EXPECT_EQ(batch.receive(keep, 1), 40 - UdpBatch::kBatch);
  EXPECT_EQ(batch.receive(keep, 1), 0u);  // empty: EAGAIN, no wait
  ASSERT_EQ(got.size(), 40u);
  EXPECT_EQ(got.back(), numbered(39));
}

TEST(UdpBatch, LargestDatagramIsNotCut) {
  Socket server, client;
  std::string big(65000, 'x');
  big[0] = 'A';
  big.back() = 'Z';
  client.send_to(server, big);
  UdpBatch batch(server.fd());
  std::string got;
  batch.receive([&](const UdpBatch::Datagram& d) { got.assign(reinterpret_cast<const char*>(d.data), d.size); }, 1);
  EXPECT_EQ(got, big);
}

TEST(UdpBatch, QueuedSendsLeaveInBatchesAndInOrder) {
  Socket server, peer;
  UdpBatch batch(server.fd());
  for (int i = 0; i < 40; ++i) {
    const std::string text = numbered(i);
    batch.queue(peer.sa(), sizeof(sockaddr_in), text.data(), text.size());
  }
  // The 33rd queued datagram flushed the first 32; 8 still wait.
  EXPECT_EQ(batch.queued(), 40 - UdpBatch::kBatch);
  batch.flush();
  EXPECT_EQ(batch.queued(), 0u);
  const auto got = peer.drain();
  ASSERT_EQ(got.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], numbered(i));
  EXPECT_EQ(batch.stats().sent, 40u);
  EXPECT_EQ(batch.stats().send_calls, 2u);
  EXPECT_EQ(batch.stats().send_failures, 0u);
}

TEST(UdpBatch, RefusedDatagramCostsOnlyItself) {
  Socket server, peer;
  UdpBatch batch(server.fd());
  // An IPv6 destination on an IPv4 socket: sendmmsg refuses that one.
  sockaddr_in6 bad{};
  bad.sin6_family = AF_INET6;
  bad.sin6_port = htons(9);
  bad.sin6_addr = in6addr_loopback;
  const std::string a = "before", b = "refused", c = "after";
  batch.queue(peer.sa(), sizeof(sockaddr_in), a.data(), a.size());
  batch.queue(reinterpret_cast<const sockaddr*>(&bad), sizeof bad, b.data(), b.size());
  batch.queue(peer.sa(), sizeof(sockaddr_in), c.data(), c.size());
  batch.flush();
  EXPECT_EQ(peer.drain(), (std::vector<std::string>{a, c}));
  EXPECT_EQ(batch.stats().send_failures, 1u);
  EXPECT_EQ(batch.stats().sent, 2u);
}

}  // namespace
}  // namespace imserver::transport
