#include "transport/sip/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <utility>
#include <vector>

namespace imserver::transport {
namespace {

using Timer = TimerWheel::Timer;

// Records (id, time of firing) pairs.
struct Log {
  std::vector<std::pair<int, uint64_t>> fired;
  std::vector<int> ids() const {
    std::vector<int> out;
    for (auto& f : fired) out.push_back(f.first);
    return out;
  }
};

TEST(TimerWheel, EmptyWheelHasNoDeadlineAndAdvancesTime) {
  TimerWheel w(1000);
  EXPECT_TRUE(w.empty());
  EXPECT_FALSE(w.next_deadline().has_value());
  EXPECT_EQ(w.advance(5000), 0u);
  EXPECT_EQ(w.now(), 5000u);
  EXPECT_EQ(w.advance(10), 0u);  // never backwards
  EXPECT_EQ(w.now(), 5000u);
}

TEST(TimerWheel, FiresAtDeadlineNotBefore) {
  TimerWheel w(0);
  Timer t;
  int fired = 0;
  w.schedule(t, 10, [&] { ++fired; });
  EXPECT_TRUE(t.scheduled());
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(w.next_deadline(), 10u);
  w.advance(9);
  EXPECT_EQ(fired, 0);
  w.advance(10);
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(t.scheduled());
  EXPECT_TRUE(w.empty());
  w.advance(100);
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, FiresInDeadlineOrderAcrossLevels) {
  TimerWheel w(12345);
  Log log;
  // Deadlines spread over every level a SIP worker uses (ms .. hours),
  // scheduled in scrambled order.
  const std::vector<uint64_t> delays = {1, 63, 64, 65, 500, 4095, 4096, 4097, 32000, 262144, 3600000, 7200000, 2, 1000};
  std::vector<std::unique_ptr<Timer>> timers;
  for (size_t i = 0; i < delays.size(); ++i) {
    timers.push_back(std::make_unique<Timer>());
    const uint64_t at = 12345 + delays[i];
    w.schedule(*timers.back(), at, [&log, &w, i] { log.fired.emplace_back(static_cast<int>(i), w.now()); });
  }
  w.advance(12345 + 7200000);
  ASSERT_EQ(log.fired.size(), delays.size());
  for (size_t k = 0; k < log.fired.size(); ++k) {
    const auto [id, when] = log.fired[k];
    EXPECT_EQ(when, 12345 + delays[static_cast<size_t>(id)]) << "timer " << id << " fired at the wrong time";
    if (k > 0) {
      EXPECT_LE(delays[static_cast<size_t>(log.fired[k - 1].first)], delays[static_cast<size_t>(id)]);
    }
  }
}

TEST(TimerWheel, StepwiseAdvanceFiresEachOnTime) {
  // Advancing in small steps (as the worker's libre timer does) fires every
  // timer in the first advance() that reaches its deadline.
  std::mt19937_64 rng(7);
  const uint64_t start = 987654321;
  TimerWheel w(start);
  std::vector<std::unique_ptr<Timer>> timers;
  std::vector<uint64_t> deadline;
  std::vector<uint64_t> fired_at;
  for (int i = 0; i < 2000; ++i) {
    const uint64_t d = start + 1 + rng() % 300000;
    timers.push_back(std::make_unique<Timer>());
    deadline.push_back(d);
    fired_at.push_back(0);
    w.schedule(*timers.back(), d, [&fired_at, &w, i] { fired_at[static_cast<size_t>(i)] = w.now(); });
  }
  for (uint64_t now = start; now <= start + 300000; now += 1 + rng() % 700) w.advance(now);
  w.advance(start + 300001);
  for (size_t i = 0; i < deadline.size(); ++i) {
    ASSERT_NE(fired_at[i], 0u) << i;
    EXPECT_GE(fired_at[i], deadline[i]);
  }
  EXPECT_TRUE(w.empty());
}

TEST(TimerWheel, NextDeadlineIsALowerBoundThatAdvanceMakesExact) {
  TimerWheel w(0);
  Timer t;
  bool fired = false;
  w.schedule(t, 10000, [&] { fired = true; });
  // Follow next_deadline() like the worker's single libre timer does.
  int wakeups = 0;
  while (!fired) {
    auto next = w.next_deadline();
    ASSERT_TRUE(next.has_value());
    ASSERT_LE(*next, 10000u);
    w.advance(*next);
    ASSERT_LT(++wakeups, 10) << "cascading must converge in a few wake-ups";
  }
  EXPECT_EQ(w.now(), 10000u);
}

TEST(TimerWheel, CancelPreventsFiring) {
  TimerWheel w(0);
  Timer a, b;
  Log log;
  w.schedule(a, 5, [&] { log.fired.emplace_back(1, w.now()); });
  w.schedule(b, 5000, [&] { log.fired.emplace_back(2, w.now()); });
  a.cancel();
  w.cancel(b);
  w.cancel(b);  // twice is harmless
  EXPECT_FALSE(a.scheduled());
  EXPECT_TRUE(w.empty());
  EXPECT_FALSE(w.next_deadline().has_value());
  w.advance(100000);
  EXPECT_TRUE(log.fired.empty());
}

TEST(TimerWheel, RescheduleMovesTheTimer) {
  TimerWheel w(0);
  Timer t;
  Log log;
  w.schedule(t, 100, [&] { log.fired.emplace_back(1, w.now()); });
  w.schedule(t, 50, [&] { log.fired.emplace_back(2, w.now()); });
  EXPECT_EQ(w.size(), 1u);
  w.advance(1000);
  ASSERT_EQ(log.fired.size(), 1u);
  EXPECT_EQ(log.fired[0], std::make_pair(2, uint64_t{50}));
}

TEST(TimerWheel, DestroyedTimerIsCancelled) {
  TimerWheel w(0);
  int fired = 0;
  {
    Timer t;
    w.schedule(t, 10, [&] { ++fired; });
  }
  EXPECT_TRUE(w.empty());
  w.advance(100);
  EXPECT_EQ(fired, 0);
}

TEST(TimerWheel, TimerOutlivingWheelIsDetached) {
  Timer t;
  {
    TimerWheel w(0);
    w.schedule(t, 10, [] {});
  }
  EXPECT_FALSE(t.scheduled());
}

TEST(TimerWheel, PastDeadlineFiresOnNextAdvance) {
  TimerWheel w(1000);
  Timer t;
  int fired = 0;
  w.schedule(t, 5, [&] { ++fired; });
  EXPECT_EQ(t.deadline(), 1001u);
  EXPECT_EQ(w.next_deadline(), 1001u);
  w.advance(1000);
  EXPECT_EQ(fired, 0);
  w.advance(1001);
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, SameTickTimersAllFireInScheduleOrder) {
  TimerWheel w(0);
  std::vector<std::unique_ptr<Timer>> timers;
  Log log;
  for (int i = 0; i < 100; ++i) {
    timers.push_back(std::make_unique<Timer>());
    w.schedule(*timers.back(), 40, [&log, &w, i] { log.fired.emplace_back(i, w.now()); });
  }
  EXPECT_EQ(w.advance(40), 100u);
  std::vector<int> expected(100);
  for (int i = 0; i < 100; ++i) expected[static_cast<size_t>(i)] = i;
  EXPECT_EQ(log.ids(), expected);
}

TEST(TimerWheel, SameTickTimersOnAHigherLevelAllFire) {
  TimerWheel w(0);
  std::vector<std::unique_ptr<Timer>> timers;
  int fired = 0;
  for (int i = 0; i < 50; ++i) {
    timers.push_back(std::make_unique<Timer>());
    w.schedule(*timers.back(), 3600000, [&] { ++fired; });
  }
  w.advance(3599999);
  EXPECT_EQ(fired, 0);
  w.advance(3600000);
  EXPECT_EQ(fired, 50);
}

TEST(TimerWheel, CallbackCancelsTimerDueInSameAdvance) {
  TimerWheel w(0);
  Timer a, b, c;
  Log log;
  w.schedule(a, 10, [&] {
    log.fired.emplace_back(1, w.now());
    b.cancel();  // due at the same tick
    c.cancel();  // due later in this same advance()
  });
  w.schedule(b, 10, [&] { log.fired.emplace_back(2, w.now()); });
  w.schedule(c, 20, [&] { log.fired.emplace_back(3, w.now()); });
  w.advance(100);
  EXPECT_EQ(log.ids(), std::vector<int>{1});
  EXPECT_TRUE(w.empty());
}

TEST(TimerWheel, CallbackPostponesTimerDueInSameAdvance) {
  TimerWheel w(0);
  Timer a, b;
  Log log;
  w.schedule(a, 10, [&] {
    log.fired.emplace_back(1, w.now());
    w.schedule(b, 50, [&] { log.fired.emplace_back(3, w.now()); });
  });
  w.schedule(b, 10, [&] { log.fired.emplace_back(2, w.now()); });
  w.advance(100);
  ASSERT_EQ(log.ids(), (std::vector<int>{1, 3}));
  EXPECT_EQ(log.fired[1].second, 50u);
}

TEST(TimerWheel, CallbackReschedulesItself) {
  // Like Timer E: each run schedules the next one, doubling.
  TimerWheel w(0);
  Timer t;
  std::vector<uint64_t> runs;
  uint64_t interval = 500;
  std::function<void()> tick = [&] {
    runs.push_back(w.now());
    interval = std::min<uint64_t>(interval * 2, 4000);
    if (runs.size() < 8) w.schedule(t, w.now() + interval, tick);
  };
  w.schedule(t, 500, tick);
  w.advance(1000000);
  EXPECT_EQ(runs, (std::vector<uint64_t>{500, 1500, 3500, 7500, 11500, 15500, 19500, 23500}));
}

TEST(TimerWheel, CallbackSchedulesZeroDelayWithoutLooping) {
  TimerWheel w(0);
  Timer t;
  int runs = 0;
  std::function<void()> again = [&] {
    ++runs;
    w.schedule(t, w.now(), again);  // "now": moved to now + 1
  };
  w.schedule(t, 10, again);
  w.advance(10);
  EXPECT_EQ(runs, 1);
  w.advance(15);  // one run per millisecond passed, no more
  EXPECT_EQ(runs, 6);
  t.cancel();
}

TEST(TimerWheel, CallbackSchedulesEarlierTimerThatStillFiresInOrder) {
  TimerWheel w(0);
  Timer a, b, c;
  Log log;
  w.schedule(a, 10, [&] {
    log.fired.emplace_back(1, w.now());
    w.schedule(c, 15, [&] { log.fired.emplace_back(3, w.now()); });
  });
  w.schedule(b, 20, [&] { log.fired.emplace_back(2, w.now()); });
  w.advance(100);
  EXPECT_EQ(log.ids(), (std::vector<int>{1, 3, 2}));
  EXPECT_EQ(log.fired[1].second, 15u);
}

TEST(TimerWheel, CallbackMayDestroyItsOwnTimer) {
  TimerWheel w(0);
  auto t = std::make_unique<Timer>();
  Timer other;
  int other_fired = 0;
  w.schedule(*t, 10, [&] { t.reset(); });
  w.schedule(other, 10, [&] { ++other_fired; });
  w.advance(10);
  EXPECT_EQ(t, nullptr);
  EXPECT_EQ(other_fired, 1);
}

TEST(TimerWheel, NestedAdvanceIsIgnored) {
  TimerWheel w(0);
  Timer a, b;
  size_t nested = 99;
  w.schedule(a, 10, [&] { nested = w.advance(1000); });
  w.schedule(b, 20, [] {});
  EXPECT_EQ(w.advance(20), 2u);
  EXPECT_EQ(nested, 0u);
}

TEST(TimerWheel, VeryLongAndExtremeDeadlines) {
  TimerWheel w(0);
  Timer day, year, far;
  int fired = 0;
  w.schedule(day, 86400000ull, [&] { ++fired; });
  w.schedule(year, 365ull * 86400000ull, [&] { ++fired; });
  w.schedule(far, UINT64_MAX - 1, [&] { ++fired; });
  w.advance(86400000ull - 1);
  EXPECT_EQ(fired, 0);
  w.advance(86400000ull);
  EXPECT_EQ(fired, 1);
  w.advance(365ull * 86400000ull);
  EXPECT_EQ(fired, 2);
  EXPECT_TRUE(far.scheduled());
  w.advance(UINT64_MAX - 1);
  EXPECT_EQ(fired, 3);
}

TEST(TimerWheel, ManyTimersWithCancelsAndRandomDeadlines) {
  std::mt19937_64 rng(42);
  TimerWheel w(5000);
  constexpr int kCount = 100000;
  std::vector<Timer> timers(kCount);
  std::vector<uint64_t> deadline(kCount);
  std::vector<bool> cancelled(kCount, false);
  std::vector<int> fired_count(kCount, 0);
  std::vector<uint64_t> order;  // deadlines in firing order
  for (int i = 0; i < kCount; ++i) {
    // Mix of Timer E-like, Timer F-like and subscription-like delays.
    const uint64_t kind = rng() % 3;
    const uint64_t delay = kind == 0 ? rng() % 4000 : kind == 1 ? 32000 + rng() % 10 : 3600000 + rng() % 1000000;
    deadline[static_cast<size_t>(i)] = 5001 + delay;
    w.schedule(timers[static_cast<size_t>(i)], 5001 + delay, [&, i] {
      ++fired_count[static_cast<size_t>(i)];
      order.push_back(deadline[static_cast<size_t>(i)]);
    });
  }
  for (int i = 0; i < kCount; i += 3) {
    timers[static_cast<size_t>(i)].cancel();
    cancelled[static_cast<size_t>(i)] = true;
  }
  EXPECT_EQ(w.size(), static_cast<size_t>(kCount - (kCount + 2) / 3));
  // Drive it like the worker: jump to each next deadline.
  while (auto next = w.next_deadline()) w.advance(*next);
  for (int i = 0; i < kCount; ++i)
    EXPECT_EQ(fired_count[static_cast<size_t>(i)], cancelled[static_cast<size_t>(i)] ? 0 : 1) << i;
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  EXPECT_TRUE(w.empty());
}

}  // namespace
}  // namespace imserver::transport
