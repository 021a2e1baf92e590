#pragma once
// A hierarchical timer wheel with millisecond resolution, in plain C++ (no
// libre). Why it exists: libre 1.1 keeps every timer of a thread in one
// sorted linked list and tmr_start() walks that list from the tail, so
// starting a short timer costs O(number of longer timers) (docs/STACK.md §7).
// Each libre client transaction starts a 0.5 s Timer E behind all the 32 s
// Timer F timers of the transactions before it, which caps a UDP NOTIFY
// fan-out. The SIP worker therefore keeps its own timers here, and a single
// libre tmr is armed for next_deadline().
//
// Cost: schedule and cancel are O(1) (a bit scan, a list splice and a bitmap
// update). advance() is O(timers fired + timers cascaded); every timer is
// cascaded at most once per level, and there are at most kLevels levels.
//
// Shape: kLevels levels of 64 slots. Level l slot i holds the timers whose
// deadline agrees with the wheel's current time in every base-64 digit above
// l and has digit l == i (always > the current digit l). Eleven levels of six
// bits cover the whole uint64_t range, so any delay works (3600 s or years);
// there is no overflow list. The "current time" only moves in advance(), so
// a deadline is never placed behind the cursor.
//
// Intrusive: the caller owns each Timer (like libre's struct tmr) and embeds
// it in whatever the timer belongs to; a Timer cancels itself when
// destroyed. Not thread-safe: one wheel belongs to one thread.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

namespace imserver::transport {

class TimerWheel {
 public:
  using Callback = std::function<void()>;

  // List links; the slot heads are bare Nodes (circular sentinels).
  struct Node {
    Node* prev = nullptr;
    Node* next = nullptr;
  };

  class Timer : private Node {
   public:
    Timer() = default;
    ~Timer() { cancel(); }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    bool scheduled() const { return wheel_ != nullptr; }
    // The deadline given to the last schedule() (clamped, see there).
    uint64_t deadline() const { return deadline_; }
    void cancel() {
      if (wheel_) wheel_->cancel(*this);
    }

   private:
    friend class TimerWheel;
    TimerWheel* wheel_ = nullptr;
    uint16_t bucket_ = 0;  // level * kSlots + slot, or kDueBucket
    uint64_t deadline_ = 0;
    Callback cb_;
  };

  static constexpr unsigned kSlotBits = 6;
  static constexpr unsigned kSlots = 1u << kSlotBits;  // 64: one uint64_t bitmap per level
  static constexpr unsigned kLevels = 11;             // 11 * 6 >= 64 bits of milliseconds

  // `now_ms` is the starting time, on whatever millisecond clock the caller
  // uses for deadlines and advance() (the worker uses steady_clock).
  explicit TimerWheel(uint64_t now_ms = 0);
  ~TimerWheel();  // detaches (does not fire) every timer still scheduled
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // (Re)schedules `timer` to call `cb` once at `deadline_ms`. A deadline not
  // after now() is moved to now() + 1: it fires in the next advance() that
  // moves time forward, never inside the advance() that is running, so a
  // callback that re-arms itself with delay 0 cannot loop forever.
  void schedule(Timer& timer, uint64_t deadline_ms, Callback cb);
  void cancel(Timer& timer);

  // Moves time to `now_ms` (never backwards) and fires every timer whose
  // deadline is <= now_ms, in deadline order (timers of the same millisecond
  // in the order they were placed in their slot). Callbacks may schedule and
  // cancel any timer, including ones due in this same call (a cancelled one
  // does not fire) and their own. Calling advance() from a callback is a
  // no-op. Returns the number of callbacks run.
  size_t advance(uint64_t now_ms);

  // A time at or before the earliest deadline, at which advance() has work
  // to do: exact for timers within the current 64 ms block, the start of the
  // slot for later ones (advance() then cascades them closer). nullopt when
  // nothing is scheduled. Arm one external timer for this.
  std::optional<uint64_t> next_deadline() const;

  uint64_t now() const { return now_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  static constexpr uint16_t kDueBucket = kLevels * kSlots;

  static void init_list(Node& head) { head.prev = head.next = &head; }
  static bool list_empty(const Node& head) { return head.next == &head; }
  static void push_back(Node& head, Node& n);
  static void unlink_node(Node& n);

  void place(Timer& t);
  void unlink(Timer& t);

  uint64_t now_;
  size_t size_ = 0;
  bool advancing_ = false;
  uint64_t occupied_[kLevels] = {};
  Node slots_[kLevels][kSlots];
  Node due_;  // taken out of their slot, about to fire in this advance()
};

}  // namespace imserver::transport
