#include "tests/client/server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#ifndef IMSERVER_BINARY
#define IMSERVER_BINARY "imserver"
#endif

namespace imserver::testclient {

namespace {

constexpr const char* kReadyPrefix = "imserver listening sip=udp+tcp:";

// The port after "<key>host:" in a ready line
// "imserver listening sip=udp+tcp:127.0.0.1:PORT msrp=tcp:127.0.0.1:PORT";
// 0 when the line is not a ready line or has no such field.
uint16_t ready_field_port(const std::string& line, const std::string& key) {
  if (line.rfind("imserver listening ", 0) != 0) return 0;
  const size_t at = line.find(key);
  if (at == std::string::npos) return 0;
  size_t end = line.find(' ', at);
  if (end == std::string::npos) end = line.size();
  const std::string field = line.substr(at, end - at);
  size_t colon = field.rfind(':');
  if (colon == std::string::npos || colon < key.size()) return 0;
  std::string digits = field.substr(colon + 1);
  while (!digits.empty() && (digits.back() == '\r' || digits.back() == ' ')) digits.pop_back();
  if (digits.empty() || digits.size() > 5) return 0;
  unsigned long v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<unsigned long>(c - '0');
  }
  return v > 0 && v <= 65535 ? static_cast<uint16_t>(v) : 0;
}

uint16_t ready_port(const std::string& line) { return ready_field_port(line, kReadyPrefix + std::strlen("imserver listening ")); }

}  // namespace

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exited_) kill_and_reap();
  join_reader();
}

std::string ServerProcess::command_line() const {
  std::string out;
  for (const auto& a : argv_) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

bool ServerProcess::start(std::vector<std::string> extra_flags, std::string* error,
                          std::chrono::milliseconds ready_timeout) {
  auto fail = [&](const std::string& why) {
    if (error) *error = why;
    return false;
  };
  if (pid_ > 0) return fail("ServerProcess::start called twice");

  const char* env = std::getenv("IMSERVER");
  binary_ = env && *env ? env : IMSERVER_BINARY;
  argv_ = {binary_, "--sip.port=0", "--session.domain=im.example.com",
           "--session.identity-mode=sequential", "--msrp.port=0"};
  for (auto& f : extra_flags) argv_.push_back(std::move(f));

  std::vector<char*> argv;
  for (auto& a : argv_) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return fail(std::string("pipe2: ") + std::strerror(errno));
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    return fail(std::string("pipe2: ") + std::strerror(e));
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], devnull}) {
      if (fd >= 0) close(fd);
    }
    return fail(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here to exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // the parent died before prctl
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execv(argv[0], argv.data());
    const char msg[] = "ServerProcess: execv failed: ";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    const char* e = std::strerror(errno);
    ignored = write(2, e, std::strlen(e));
    ignored = write(2, "\n", 1);
    (void)ignored;
    _exit(127);
  }

  pid_ = pid;
  exited_ = false;
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (devnull >= 0) close(devnull);
  reader_ = std::thread([this, o = out_pipe[0], e = err_pipe[0]] { reader_loop(o, e); });

  // Wait for the ready line (or stdout EOF: the child is gone).
  auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    size_t begin = 0;
    while (begin < stdout_.size()) {
      size_t nl = stdout_.find('\n', begin);
      if (nl == std::string::npos) break;
      if (uint16_t p = ready_port(stdout_.substr(begin, nl - begin))) {
        port_ = p;
        msrp_port_ = ready_field_port(stdout_.substr(begin, nl - begin), "msrp=tcp:");
        return true;
      }
      begin = nl + 1;
    }
    if (stdout_eof_) break;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
  bool eof = stdout_eof_;
  lock.unlock();

  std::string why = eof ? "server exited before its ready line" : "server not ready in time";
  kill_and_reap();
  join_reader();
  why += " (" + command_line() + ", status " + std::to_string(status_code()) + ")";
  why += "\nstdout:\n" + stdout_text() + "\nstderr:\n" + stderr_text();
  return fail(why);
}

void ServerProcess::reader_loop(int out_fd, int err_fd) {
  int fds[2] = {out_fd, err_fd};
  bool open_[2] = {true, true};
  char buf[4096];
  while (open_[0] || open_[1]) {
    pollfd p[2];
    nfds_t n = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (!open_[i]) continue;
      p[n].fd = fds[i];
      p[n].events = POLLIN;
      p[n].revents = 0;
      which[n] = i;
      ++n;
    }
    int r = poll(p, n, 200);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (nfds_t k = 0; k < n; ++k) {
      if (p[k].revents == 0) continue;
      int i = which[k];
      ssize_t got = read(fds[i], buf, sizeof buf);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      if (got <= 0) {
        open_[i] = false;
        (i == 0 ? stdout_eof_ : stderr_eof_) = true;
      } else {
        (i == 0 ? stdout_ : stderr_).append(buf, static_cast<size_t>(got));
      }
      cv_.notify_all();
    }
  }
  close(out_fd);
  close(err_fd);
  std::lock_guard<std::mutex> lock(mutex_);
  stdout_eof_ = stderr_eof_ = true;
  cv_.notify_all();
}

bool ServerProcess::reap(bool block) {
  if (pid_ <= 0 || exited_) return exited_;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid_, &status, block ? 0 : WNOHANG);
    if (r < 0 && errno == EINTR) continue;
    if (r == pid_) {
      exited_ = true;
      wait_status_ = status;
      term_signal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    } else if (r < 0) {
      // ECHILD: someone else reaped it; treat as gone.
      exited_ = true;
      wait_status_ = -1;
    }
    return exited_;
  }
}

void ServerProcess::kill_and_reap() {
  if (pid_ <= 0 || exited_) return;
  kill(pid_, SIGKILL);
  reap(true);
}

void ServerProcess::join_reader() {
  if (reader_.joinable()) reader_.join();
}

int ServerProcess::status_code() const {
  if (pid_ <= 0 || !exited_ || wait_status_ == -1) return -1;
  if (WIFEXITED(wait_status_)) return WEXITSTATUS(wait_status_);
  return -1;
}

int ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reap(false)) {
    if (std::chrono::steady_clock::now() >= deadline) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  join_reader();
  return status_code();
}

int ServerProcess::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  if (!exited_) {
    kill(pid_, SIGTERM);
    if (wait_exit(timeout) == -2) kill_and_reap();
  }
  join_reader();
  return status_code();
}

bool ServerProcess::signal(int sig) {
  if (pid_ <= 0 || reap(false)) return false;
  return kill(pid_, sig) == 0;
}

bool ServerProcess::running() { return pid_ > 0 && !reap(false); }

std::string ServerProcess::stdout_text() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stdout_;
}

std::string ServerProcess::stderr_text() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stderr_;
}

bool ServerProcess::wait_stderr_contains(const std::string& needle, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return stderr_.find(needle) != std::string::npos || stderr_eof_; }) &&
         stderr_.find(needle) != std::string::npos;
}

}  // namespace imserver::testclient
