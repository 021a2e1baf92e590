// The real imserver binary as a child process, for integration tests.
//
//   ServerProcess server;
//   std::string error;
//   ASSERT_TRUE(server.start({"--join.adhoc-policy=anyone"}, &error)) << error;
//   ... talk to 127.0.0.1:server.port() ...
//   EXPECT_EQ(server.stop(), 0) << server.stderr_text();
//
// The binary is $IMSERVER when set, else the one this library was built
// with (IMSERVER_BINARY). Base flags: --sip.port=0
// --session.domain=im.example.com --session.identity-mode=sequential; the
// extra flags follow them (a later flag overrides an earlier one).
//
// stdout and stderr are read continuously by a background thread, so the
// child never blocks on a full pipe. The child gets PR_SET_PDEATHSIG
// SIGKILL: when the test process dies, so does the server. (That signal is
// tied to the *thread* that called start(); call start() from the test's
// own thread, not from a short-lived helper thread.)
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace imserver::testclient {

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server and waits up to `ready_timeout` for its ready line.
  // False (with a reason in *error, including the child's stderr) when it
  // could not be started, exited early, or did not get ready in time; the
  // child is killed in that case.
  bool start(std::vector<std::string> extra_flags, std::string* error = nullptr,
             std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));

  // SIGTERM, wait up to `timeout` (then SIGKILL). Returns the exit status,
  // or -1 when the process did not exit normally (killed by a signal) or was
  // never started. Calling it again returns the same result.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Sends a signal (e.g. SIGKILL to simulate a crash). False when not running.
  bool signal(int sig);

  // True while the child has not exited (reaps it if it has).
  bool running();
  // Waits up to `timeout` for the child to exit by itself; its status as for
  // stop(), or -2 when it is still running afterwards.
  int wait_exit(std::chrono::milliseconds timeout);

  uint16_t port() const { return port_; }
  // The MSRP listener's port from the ready line (the suite runs with --msrp.port=0).
  uint16_t msrp_port() const { return msrp_port_; }
  pid_t pid() const { return pid_; }
  const std::string& binary() const { return binary_; }
  // The full argv, space separated (for diagnostics).
  std::string command_line() const;

  // Everything the child wrote so far.
  std::string stdout_text() const;
  std::string stderr_text() const;
  // Waits until stderr contains `needle` (for log-driven checks).
  bool wait_stderr_contains(const std::string& needle, std::chrono::milliseconds timeout) const;

  // Signal that ended the child, 0 when it exited normally or still runs.
  int term_signal() const { return term_signal_; }

 private:
  void reader_loop(int out_fd, int err_fd);
  bool reap(bool block);
  void kill_and_reap();
  void join_reader();
  int status_code() const;

  std::string binary_;
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int wait_status_ = 0;
  int term_signal_ = 0;
  uint16_t port_ = 0;
  uint16_t msrp_port_ = 0;

  std::thread reader_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::string stdout_;
  std::string stderr_;
  bool stdout_eof_ = false;
  bool stderr_eof_ = false;
};

}  // namespace imserver::testclient
