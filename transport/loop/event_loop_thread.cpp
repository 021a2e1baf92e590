#include "transport/loop/event_loop_thread.hpp"

#include <pthread.h>

#include <cstring>

extern "C" {
#include <re.h>
}

namespace imserver::transport {

EventLoopThread::EventLoopThread(Kind kind, int max_fds, std::string name)
    : kind_(kind), max_fds_(max_fds), name_(std::move(name)) {}

EventLoopThread::~EventLoopThread() { stop(); }

bool EventLoopThread::start(Hooks hooks, std::string* error) {
  hooks_ = std::move(hooks);
  thread_ = std::thread([this] { run(); });
  std::unique_lock<std::mutex> lk(start_mu_);
  start_cv_.wait(lk, [this] { return start_done_; });
  if (start_ok_) return true;
  if (error) *error = start_error_;
  lk.unlock();
  thread_.join();
  std::lock_guard<std::mutex> q(mu_);
  stopped_ = true;
  return false;
}

void EventLoopThread::run() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  int err = kind_ == Kind::ProcessLoop ? libre_init() : re_thread_init();
  const bool libre_ready = !err;
  if (!err) err = fd_setsize(max_fds_);
  mqueue* wake = nullptr;
  if (!err) {
    err = mqueue_alloc(
        &wake, [](int, void*, void* arg) { static_cast<EventLoopThread*>(arg)->hooks_.on_wake(); }, this);
  }
  std::string why;
  if (!err) err = hooks_.setup(&why);
  if (!err) {
    std::lock_guard<std::mutex> lk(mu_);
    wake_ = wake;
  }
  {
    std::lock_guard<std::mutex> lk(start_mu_);
    start_done_ = true;
    start_ok_ = !err;
    if (err) start_error_ = why.empty() ? std::string("libre setup failed: ") + std::strerror(err) : why;
  }
  start_cv_.notify_all();
  if (!err) re_main(nullptr);
  {
    // From here on posters must not touch the wake-up queue.
    std::lock_guard<std::mutex> lk(mu_);
    stopped_ = true;
    wake_ = nullptr;
  }
  if (libre_ready) hooks_.teardown();
  mem_deref(wake);
  if (!libre_ready) return;
  if (kind_ == Kind::ProcessLoop) libre_close();
  else re_thread_close();
}

void EventLoopThread::wake_locked() {
  if (wake_pending_) return;
  // The push happens under the lock, so the loop cannot free the mqueue
  // in between; a full pipe (about 2.7k messages, STACK.md §5) is retried.
  wake_pending_ = true;
  for (int tries = 0; tries < 1000; ++tries) {
    if (mqueue_push(wake_, 0, nullptr) == 0) return;
    std::this_thread::yield();
  }
}

void EventLoopThread::cancel_loop() { re_cancel(); }

void EventLoopThread::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!stopped_ && wake_) {
      stop_requested_ = true;
      wake_locked();
    }
  }
  thread_.join();
  std::lock_guard<std::mutex> lk(mu_);
  stopped_ = true;
}

}  // namespace imserver::transport
