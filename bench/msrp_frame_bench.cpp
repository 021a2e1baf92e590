// Benchmarks for MSRP framing (transport/codec/msrp_frame.hpp).
// BM_Baseline_MemchrMemcpy moves the same stream through a buffer in the same 16 KiB
// pieces with memcpy and finds every line end with memchr: the least work any framer
// must do, so the parse results read as a ratio to it (bytes/s). BM_Baseline_CopyOneFrame
// does the same for the serializer: one copy of the finished frame's bytes.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "transport/codec/msrp_frame.hpp"

namespace {

namespace msrp = imserver::codec::msrp;

constexpr size_t kBodyBytes = 1024;
constexpr size_t kFramesInStream = 256;  // ~300 KiB stream: larger than L2 on small boxes, like a busy connection
constexpr size_t kPieceBytes = 16 * 1024;
constexpr size_t kMaxFrameBytes = 64 * 1024 + 16 * 1024;  // msrp.max_message_size + 16 KiB (SESSIONS.md §8.3)

// A CPIM body of exactly kBodyBytes octets, shaped like SESSIONS.md §8.9 (headers, then CRLF-ended text lines).
std::string cpim_body() {
  std::string body =
      "From: <sip:alice@example.com>\r\n"
      "To: <sip:gs-1@im.example.com>\r\n"
      "DateTime: 2025-01-15T10:00:00Z\r\n"
      "\r\n"
      "Content-Type: text/plain;charset=UTF-8\r\n"
      "\r\n";
  const std::string line = "The quick brown fox jumps over the lazy dog, again and again.\r\n";
  while (body.size() + line.size() <= kBodyBytes) body += line;
  body.append(kBodyBytes - body.size(), 'x');
  return body;
}

msrp::Frame send_1kib(unsigned index) {
  char tid[32];
  std::snprintf(tid, sizeof tid, "9f2c41d0%08x", index);  // 16 hex characters, like the focus's own ids
  msrp::Frame f;
  f.tid = tid;
  f.method = "SEND";
  f.headers = {{"To-Path", "msrp://198.51.100.20:40002/bOb00002;tcp"},
               {"From-Path", "msrp://203.0.113.5:2855/pB8sXk2mQe4TzR1v;tcp"},
               {"Message-ID", std::string("m-") + tid},
               {"Byte-Range", "1-1024/1024"},
               {"Failure-Report", "yes"},
               {"Content-Type", "message/cpim"}};
  f.has_body_section = true;
  f.body = cpim_body();
  return f;
}

std::string stream_of_sends() {
  std::string stream;
  for (unsigned i = 0; i < kFramesInStream; ++i) stream += msrp::serialize(send_1kib(i));
  return stream;
}

const std::string kStream = stream_of_sends();
const msrp::Frame kOneFrame = send_1kib(0);
const std::string kOneFrameBytes = msrp::serialize(kOneFrame);

void set_rates(benchmark::State& state, size_t bytes_per_iteration, size_t frames_per_iteration) {
  const auto iterations = static_cast<int64_t>(state.iterations());
  state.SetBytesProcessed(iterations * static_cast<int64_t>(bytes_per_iteration));
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(iterations) * static_cast<double>(frames_per_iteration),
                         benchmark::Counter::kIsRate);
}

void BM_Baseline_MemchrMemcpy(benchmark::State& state) {
  std::string buffer;
  buffer.reserve(kPieceBytes);
  for (auto _ : state) {
    size_t lines = 0;
    for (size_t pos = 0; pos < kStream.size(); pos += kPieceBytes) {
      const size_t n = std::min(kPieceBytes, kStream.size() - pos);
      buffer.assign(kStream.data() + pos, n);
      const char* p = buffer.data();
      const char* end = p + buffer.size();
      while (const void* lf = std::memchr(p, '\n', static_cast<size_t>(end - p))) {
        ++lines;
        p = static_cast<const char*>(lf) + 1;
      }
    }
    benchmark::DoNotOptimize(lines);
  }
  set_rates(state, kStream.size(), kFramesInStream);
}
BENCHMARK(BM_Baseline_MemchrMemcpy);

// A long-lived connection's parser: fed 16 KiB reads, drained after each one.
void BM_ParseStream1KiBSends(benchmark::State& state) {
  msrp::StreamParser parser(kMaxFrameBytes);
  for (auto _ : state) {
    size_t frames = 0;
    for (size_t pos = 0; pos < kStream.size(); pos += kPieceBytes) {
      parser.feed(std::string_view(kStream).substr(pos, kPieceBytes));
      while (auto frame = parser.next()) {
        benchmark::DoNotOptimize(frame->body.data());
        ++frames;
      }
    }
    if (frames != kFramesInStream || parser.broken()) {
      state.SkipWithError("parser did not return every frame");
      break;
    }
  }
  set_rates(state, kStream.size(), kFramesInStream);
}
BENCHMARK(BM_ParseStream1KiBSends);

// The worst case for incremental scanning: every byte is its own read.
void BM_ParseOneFrameByteAtATime(benchmark::State& state) {
  msrp::StreamParser parser(kMaxFrameBytes);
  const std::string_view bytes = kOneFrameBytes;
  for (auto _ : state) {
    size_t frames = 0;
    for (size_t pos = 0; pos < bytes.size(); ++pos) {
      parser.feed(bytes.substr(pos, 1));
      if (auto frame = parser.next()) {
        benchmark::DoNotOptimize(frame->body.data());
        ++frames;
      }
    }
    if (frames != 1 || parser.broken()) {
      state.SkipWithError("parser did not return the frame");
      break;
    }
  }
  set_rates(state, bytes.size(), 1);
}
BENCHMARK(BM_ParseOneFrameByteAtATime);

void BM_Baseline_CopyOneFrame(benchmark::State& state) {
  for (auto _ : state) {
    std::string copy = kOneFrameBytes;
    benchmark::DoNotOptimize(copy.data());
  }
  set_rates(state, kOneFrameBytes.size(), 1);
}
BENCHMARK(BM_Baseline_CopyOneFrame);

void BM_Serialize1KiBSend(benchmark::State& state) {
  for (auto _ : state) {
    std::string bytes = msrp::serialize(kOneFrame);
    benchmark::DoNotOptimize(bytes.data());
  }
  set_rates(state, kOneFrameBytes.size(), 1);
}
BENCHMARK(BM_Serialize1KiBSend);

}  // namespace

BENCHMARK_MAIN();
