// Benchmarks for the RFC 4575 conference-info renderer (transport/codec/conference_info.hpp).
// BM_Baseline_CopyFullDocument copies the rendered 1000-user document, so BM_RenderFull1000Users reads as a
// ratio to "touching the same number of output bytes once".

#include <benchmark/benchmark.h>

#include <string>

#include "transport/codec/conference_info.hpp"

using namespace imserver;

namespace {

// A full document (PROTOCOL.md §4.4 example 4 shape, SESSIONS.md §2.6 fields) with `n` connected users.
codec::ConferenceInfo full_document(int n) {
  codec::ConferenceInfo ci;
  ci.entity = "sip:gs-7kq2xw9d3m@im.example.com";
  ci.state = codec::ElementState::Full;
  ci.version = 41;
  codec::ConfDescription d;
  d.subject = "Project sync & planning";
  d.conf_uris.push_back({ci.entity, "participation"});
  d.maximum_user_count = static_cast<uint32_t>(n);
  ci.description = d;
  ci.conference_state = codec::ConfStateBlock{static_cast<uint32_t>(n), true, false};
  ci.has_users = true;
  ci.users.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const std::string id = std::to_string(i);
    codec::ConfEndpoint e;
    e.entity = "sip:user" + id + "@198.51.100." + std::to_string(i % 250) + ":5060;transport=tcp";
    e.status = "connected";
    e.joining_method = i % 3 ? "dialed-out" : "dialed-in";
    e.referred_by = i % 3 ? "sip:alice@example.com" : "";
    e.joining_when = "2025-01-15T10:00:04Z";
    e.media.emplace_back();
    codec::ConfUser u;
    u.entity = "sip:user" + id + "@example.com";
    u.display_text = "User " + id;
    u.endpoints.push_back(std::move(e));
    ci.users.push_back(std::move(u));
  }
  return ci;
}

// PROTOCOL.md §4.4 example 3: one purge plus one departure.
codec::ConferenceInfo partial_one_user() {
  codec::ConferenceInfo ci;
  ci.entity = "sip:gs-7kq2xw9d3m@im.example.com";
  ci.state = codec::ElementState::Partial;
  ci.version = 42;
  ci.conference_state = codec::ConfStateBlock{2, true, false};
  ci.has_users = true;
  ci.users_state = codec::ElementState::Partial;
  codec::ConfEndpoint e;
  e.entity = "sip:dan@198.51.100.40:5060";
  e.state = codec::ElementState::Partial;
  e.status = "disconnected";
  e.disconnection_method = "departed";
  e.disconnection_when = "2025-01-15T10:20:02Z";
  codec::ConfUser u;
  u.entity = "sip:dan@example.com";
  u.state = codec::ElementState::Partial;
  u.endpoints.push_back(std::move(e));
  ci.users.push_back(std::move(u));
  return ci;
}

const codec::ConferenceInfo kFull1000 = full_document(1000);
const codec::ConferenceInfo kPartial = partial_one_user();
const std::string kFull1000Rendered = codec::render_conference_info(kFull1000);

void BM_Baseline_CopyFullDocument(benchmark::State& state) {
  for (auto _ : state) {
    std::string copy = kFull1000Rendered;
    benchmark::DoNotOptimize(copy);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kFull1000Rendered.size()));
}
BENCHMARK(BM_Baseline_CopyFullDocument);

void BM_RenderFull1000Users(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(codec::render_conference_info(kFull1000));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kFull1000Rendered.size()));
  state.counters["doc_bytes"] = static_cast<double>(kFull1000Rendered.size());
}
BENCHMARK(BM_RenderFull1000Users);

void BM_RenderPartialOneUser(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(codec::render_conference_info(kPartial));
}
BENCHMARK(BM_RenderPartialOneUser);

}  // namespace

BENCHMARK_MAIN();
