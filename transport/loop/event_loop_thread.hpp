#pragma once
// A libre event loop on a thread of its own, and the way commands reach it
// from other threads: the owner keeps its own typed queue, guarded by this
// class's lock; a post appends under the lock and wakes the loop through one
// libre mqueue message per batch (the pipe write is the expensive part).
// The SIP worker runs libre's process loop (libre_init), the MSRP worker a
// loop of its own (re_thread_init; STACK.md §5).

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

struct mqueue;

namespace imserver::transport {

class EventLoopThread {
 public:
  enum class Kind { ProcessLoop, OwnLoop };

  struct Hooks {
    // On the loop thread once libre is ready; 0, or an errno with *error
    // saying what failed (start() then returns false).
    std::function<int(std::string* error)> setup;
    // On the loop thread after a post: take the queue with take().
    std::function<void()> on_wake;
    // On the loop thread after the loop ended, before libre is closed.
    std::function<void()> teardown;
  };

  // `name` becomes the thread's name (15 characters at most), so that
  // top -H and perf tell the SIP loop from the MSRP loop.
  EventLoopThread(Kind kind, int max_fds, std::string name);
  ~EventLoopThread();
  EventLoopThread(const EventLoopThread&) = delete;
  EventLoopThread& operator=(const EventLoopThread&) = delete;

  bool start(Hooks hooks, std::string* error);

  // Any thread. `append` runs under the lock (it moves commands into the
  // owner's queue); nothing happens once the loop has ended.
  template <class Append>
  void post(Append&& append) {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopped_ || !wake_) return;
    append();
    wake_locked();
  }

  // Any thread: `look` runs under the lock (e.g. to see whether the
  // owner's queue holds anything); wakes nobody.
  template <class Look>
  void locked(Look&& look) {
    std::lock_guard<std::mutex> lk(mu_);
    look();
  }

  // Loop thread. `swap_out` runs under the lock (it takes the owner's
  // queue); afterwards the loop ends if a stop was asked for.
  template <class SwapOut>
  void take(SwapOut&& swap_out) {
    bool stop;
    {
      std::lock_guard<std::mutex> lk(mu_);
      swap_out();
      wake_pending_ = false;
      stop = stop_requested_;
    }
    if (stop) cancel_loop();
  }

  // Any thread; idempotent. Ends the loop after what is queued and joins.
  void stop();

 private:
  void run();
  void wake_locked();
  void cancel_loop();

  Kind kind_;
  int max_fds_;
  std::string name_;
  Hooks hooks_;
  std::thread thread_;

  std::mutex start_mu_;
  std::condition_variable start_cv_;
  bool start_done_ = false;
  bool start_ok_ = false;
  std::string start_error_;

  std::mutex mu_;  // guards the owner's queue and everything below
  mqueue* wake_ = nullptr;
  bool wake_pending_ = false;
  bool stop_requested_ = false;
  bool stopped_ = false;
};

}  // namespace imserver::transport
