// UdpBatch: the datagrams of one UDP socket, read and written in batches
// (recvmmsg / sendmmsg) instead of one system call each.
//
// Why: libre reads its UDP socket one datagram per readiness event (an
// epoll_wait and a recvfrom per message) and sends each message with its
// own sendto. Under a leave storm the SIP thread spent about 40 % of its
// time entering and leaving the kernel (docs/PERFORMANCE.md); on this kind
// of virtual machine every system call is expensive. UdpBatch knows nothing
// of SIP: the SIP worker feeds what it receives to libre's parser and
// queues its answers here, flushing them when it is done with what woke it.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace imserver::transport {

class UdpBatch {
 public:
  // Datagrams taken per recvmmsg, and queued sends that force a flush.
  static constexpr size_t kBatch = 32;
  // Room for any UDP payload: nothing received is ever cut short. The
  // buffers are allocated untouched, so only the bytes of the datagrams
  // actually received become resident.
  static constexpr size_t kSlotBytes = 65536;

  struct Datagram {
    const uint8_t* data = nullptr;
    size_t size = 0;
    const sockaddr* from = nullptr;
    socklen_t from_len = 0;
  };

  struct Stats {
    uint64_t received = 0;
    uint64_t sent = 0;
    uint64_t send_failures = 0;  // datagrams the kernel refused (dropped, as UDP may)
    uint64_t receive_calls = 0;
    uint64_t send_calls = 0;
  };

  // `fd` stays owned by the caller; it should be non-blocking or every call
  // here passes MSG_DONTWAIT anyway.
  explicit UdpBatch(int fd);
  UdpBatch(const UdpBatch&) = delete;
  UdpBatch& operator=(const UdpBatch&) = delete;

  int fd() const { return fd_; }

  // Reads what is waiting, at most `max_batches` recvmmsg calls (so a flood
  // cannot starve the loop's other work), and hands each datagram to
  // `on_datagram` in arrival order. Returns the number handed over.
  size_t receive(const std::function<void(const Datagram&)>& on_datagram, size_t max_batches);

  // Copies one datagram into the send queue; a full queue is flushed first.
  void queue(const sockaddr* to, socklen_t to_len, const void* data, size_t size);
  // Sends everything queued (sendmmsg, as few calls as the kernel allows).
  void flush();
  size_t queued() const { return out_.size(); }

  const Stats& stats() const { return stats_; }

 private:
  struct Outgoing {
    sockaddr_storage to{};
    socklen_t to_len = 0;
    size_t offset = 0;  // into out_bytes_ (offsets: the string may grow)
    size_t size = 0;
  };

  int fd_;
  std::unique_ptr<uint8_t[]> in_bytes_;  // kBatch slots of kSlotBytes
  std::vector<sockaddr_storage> in_from_;
  std::vector<Outgoing> out_;
  std::string out_bytes_;
  Stats stats_;
};

}  // namespace imserver::transport
