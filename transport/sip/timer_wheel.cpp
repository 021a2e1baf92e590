#include "transport/sip/timer_wheel.hpp"

#include <utility>

namespace imserver::transport {
namespace {

// Level of a deadline relative to the current time: the base-64 digit in
// which they first differ, counted from the least significant one. Both
// agree above it, and the deadline's digit there is the larger one (it is
// later), so its slot lies ahead of the cursor of that level.
unsigned level_of(uint64_t deadline, uint64_t now) {
  const uint64_t diff = deadline ^ now;
  if (diff < TimerWheel::kSlots) return 0;
  const unsigned top_bit = 63u - static_cast<unsigned>(__builtin_clzll(diff));
  return top_bit / TimerWheel::kSlotBits;
}

unsigned digit(uint64_t t, unsigned level) {
  return static_cast<unsigned>((t >> (level * TimerWheel::kSlotBits)) & (TimerWheel::kSlots - 1));
}

// `t` with every digit at and below `level` cleared.
uint64_t above(uint64_t t, unsigned level) {
  const unsigned shift = (level + 1) * TimerWheel::kSlotBits;
  return shift >= 64 ? 0 : (t >> shift) << shift;
}

}  // namespace

TimerWheel::TimerWheel(uint64_t now_ms) : now_(now_ms) {
  for (auto& level : slots_)
    for (auto& head : level) init_list(head);
  init_list(due_);
}

TimerWheel::~TimerWheel() {
  auto detach_all = [](Node& head) {
    while (!list_empty(head)) {
      auto* t = static_cast<Timer*>(head.next);
      unlink_node(*t);
      t->wheel_ = nullptr;
      t->cb_ = nullptr;
    }
  };
  for (auto& level : slots_)
    for (auto& head : level) detach_all(head);
  detach_all(due_);
}

void TimerWheel::push_back(Node& head, Node& n) {
  n.prev = head.prev;
  n.next = &head;
  head.prev->next = &n;
  head.prev = &n;
}

void TimerWheel::unlink_node(Node& n) {
  n.prev->next = n.next;
  n.next->prev = n.prev;
  n.prev = n.next = nullptr;
}

void TimerWheel::place(Timer& t) {
  const unsigned level = level_of(t.deadline_, now_);
  const unsigned slot = digit(t.deadline_, level);
  push_back(slots_[level][slot], t);
  occupied_[level] |= uint64_t{1} << slot;
  t.bucket_ = static_cast<uint16_t>(level * kSlots + slot);
}

void TimerWheel::unlink(Timer& t) {
  unlink_node(t);
  if (t.bucket_ != kDueBucket) {
    const unsigned level = t.bucket_ / kSlots;
    const unsigned slot = t.bucket_ % kSlots;
    if (list_empty(slots_[level][slot])) occupied_[level] &= ~(uint64_t{1} << slot);
  }
}

void TimerWheel::schedule(Timer& timer, uint64_t deadline_ms, Callback cb) {
  if (timer.wheel_) timer.wheel_->cancel(timer);
  timer.deadline_ = deadline_ms > now_ ? deadline_ms : now_ + 1;
  timer.cb_ = std::move(cb);
  timer.wheel_ = this;
  place(timer);
  ++size_;
}

void TimerWheel::cancel(Timer& timer) {
  if (timer.wheel_ != this) return;
  unlink(timer);
  timer.wheel_ = nullptr;
  timer.cb_ = nullptr;
  --size_;
}

std::optional<uint64_t> TimerWheel::next_deadline() const {
  if (!list_empty(due_)) return now_;
  // Lower levels always come first: a level-l slot starts at a digit-l
  // boundary beyond the whole block that levels below l live in.
  for (unsigned level = 0; level < kLevels; ++level) {
    if (!occupied_[level]) continue;
    const uint64_t slot = static_cast<uint64_t>(__builtin_ctzll(occupied_[level]));
    return above(now_, level) | (slot << (level * kSlotBits));
  }
  return std::nullopt;
}

size_t TimerWheel::advance(uint64_t now_ms) {
  if (advancing_) return 0;
  advancing_ = true;
  size_t fired = 0;
  for (;;) {
    // Fire what is due, one at a time from the list head, so a callback that
    // cancels a later due timer simply unlinks it from due_.
    while (!list_empty(due_)) {
      auto* t = static_cast<Timer*>(due_.next);
      unlink_node(*t);
      t->wheel_ = nullptr;
      --size_;
      // Moved out first: the callback may re-schedule this timer (replacing
      // cb_) or destroy the object that embeds it.
      Callback cb = std::move(t->cb_);
      t->cb_ = nullptr;
      ++fired;
      cb();
    }
    const std::optional<uint64_t> next = next_deadline();
    if (!next || *next > now_ms) break;
    // Jump straight to the next slot start: time in between holds no timer.
    now_ = *next;
    // The slot that starts there is the first one of the lowest occupied
    // level (the one next_deadline() looked at).
    unsigned level = 0;
    while (!occupied_[level]) ++level;
    const unsigned slot = static_cast<unsigned>(__builtin_ctzll(occupied_[level]));
    Node& head = slots_[level][slot];
    occupied_[level] &= ~(uint64_t{1} << slot);
    // Re-place every timer of the slot relative to the new time: the due
    // ones go to due_, the rest land on lower levels (cascade).
    while (!list_empty(head)) {
      auto* t = static_cast<Timer*>(head.next);
      unlink_node(*t);
      if (t->deadline_ <= now_) {
        push_back(due_, *t);
        t->bucket_ = kDueBucket;
      } else {
        place(*t);
      }
    }
  }
  if (now_ms > now_) now_ = now_ms;
  advancing_ = false;
  return fired;
}

}  // namespace imserver::transport
