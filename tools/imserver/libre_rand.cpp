// libre's rand_u32, served from a per-thread pool of OpenSSL random bytes.
//
// libre 1.1 draws a random 64-bit tag for every SIP message it decodes
// (sip_msg_decode) and a random Via branch for every request it encodes,
// each as two rand_u32() calls, and each rand_u32() is one RAND_bytes() of
// four bytes. OpenSSL 3 checks for a fork on every call (a getpid()
// syscall), so each 200 to a NOTIFY cost two syscalls for eight random
// bytes (perf stat), and the DRBG work around them 7% of the SIP thread.
//
// This definition in the executable takes the place of libre's (its calls
// to rand_u32, rand_u64 included, go through the PLT) and hands out the
// same OpenSSL DRBG output, fetched 256 bytes at a time through libre's own
// rand_bytes(). The pools are per thread, so no locking. imserver never
// forks; a forked child would repeat its parent's remaining pool.

#include <re.h>

#include <cstring>

namespace {

struct RandomPool {
  uint8_t bytes[256];
  size_t used = sizeof bytes;  // empty until the first call
};

}  // namespace

extern "C" uint32_t rand_u32(void) {
  thread_local RandomPool pool;
  if (pool.used + sizeof(uint32_t) > sizeof pool.bytes) {
    rand_bytes(pool.bytes, sizeof pool.bytes);
    pool.used = 0;
  }
  uint32_t v;
  std::memcpy(&v, pool.bytes + pool.used, sizeof v);
  pool.used += sizeof v;
  return v;
}
