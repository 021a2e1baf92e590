#include "transport/sip/udp_batch.hpp"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace imserver::transport {

UdpBatch::UdpBatch(int fd)
    // new[] without () leaves the bytes uninitialised: the kernel maps a
    // page only when a datagram is written into it.
    : fd_(fd), in_bytes_(new uint8_t[kBatch * kSlotBytes]), in_from_(kBatch) {
  out_.reserve(kBatch);
}

size_t UdpBatch::receive(const std::function<void(const Datagram&)>& on_datagram, size_t max_batches) {
  size_t handed = 0;
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  for (size_t round = 0; round < max_batches; ++round) {
    for (size_t i = 0; i < kBatch; ++i) {
      iov[i].iov_base = in_bytes_.get() + i * kSlotBytes;
      iov[i].iov_len = kSlotBytes;
      std::memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &in_from_[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    const int n = recvmmsg(fd_, msgs, kBatch, MSG_DONTWAIT, nullptr);
    ++stats_.receive_calls;
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;  // EAGAIN: nothing more waiting (or an error the next wake-up sees again)
    }
    for (int i = 0; i < n; ++i) {
      Datagram d;
      d.data = static_cast<const uint8_t*>(iov[i].iov_base);
      d.size = msgs[i].msg_len;
      d.from = reinterpret_cast<const sockaddr*>(&in_from_[i]);
      d.from_len = msgs[i].msg_hdr.msg_namelen;
      ++stats_.received;
      ++handed;
      on_datagram(d);
    }
    if (static_cast<size_t>(n) < kBatch) break;  // the socket is drained
  }
  return handed;
}

void UdpBatch::queue(const sockaddr* to, socklen_t to_len, const void* data, size_t size) {
  if (out_.size() >= kBatch) flush();
  Outgoing o;
  if (to_len > sizeof o.to) return;
  std::memcpy(&o.to, to, to_len);
  o.to_len = to_len;
  o.offset = out_bytes_.size();
  o.size = size;
  out_bytes_.append(static_cast<const char*>(data), size);
  out_.push_back(o);
}

void UdpBatch::flush() {
  if (out_.empty()) return;
  const size_t n = out_.size();
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  for (size_t i = 0; i < n; ++i) {
    iov[i].iov_base = out_bytes_.data() + out_[i].offset;
    iov[i].iov_len = out_[i].size;
    std::memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &out_[i].to;
    msgs[i].msg_hdr.msg_namelen = out_[i].to_len;
  }
  size_t done = 0;
  while (done < n) {
    const int r = sendmmsg(fd_, msgs + done, static_cast<unsigned>(n - done), MSG_DONTWAIT);
    ++stats_.send_calls;
    if (r > 0) {
      done += static_cast<size_t>(r);
      stats_.sent += static_cast<uint64_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    // sendmmsg reports the error of the first datagram it could not send:
    // that one is dropped (a full buffer or an unreachable address, which a
    // UDP sender lives with; retransmission timers cover what matters) and
    // the rest still go.
    ++stats_.send_failures;
    ++done;
  }
  out_.clear();
  out_bytes_.clear();
}

}  // namespace imserver::transport
