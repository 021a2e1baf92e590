// imbench smoke test (ctest imbench.smoke_udp / imbench.smoke_tcp): starts
// the real server the way the integration tests do (ServerProcess:
// --sip.port=0, the port from its ready line), runs the imbench binary
// against it in leave-bye with S=2, P=3, K=2 and a few operations, then
// raw-udp for a moment, and checks that each exits 0 and writes a JSON
// object with every field of the contract. Not timed: it proves the tool
// works end to end, the numbers are for the benchmarks.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/client/server_process.hpp"

namespace {

int run(const std::vector<std::string>& args) {
  std::string line;
  for (const auto& a : args) line += a + " ";
  std::printf("running: %s\n", line.c_str());
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Every field of the JSON contract, and the object's braces.
bool check_json(const std::string& path, std::string* why) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string js = ss.str();
  if (js.empty() || js.front() != '{' || js.find_last_of('}') == std::string::npos) {
    *why = "no JSON object in " + path;
    return false;
  }
  for (const char* key : {"mode", "transport", "target", "sessions", "participants", "subscribers", "rate", "ops_ok",
                          "ops_failed", "duration_s", "ops_per_s", "latency_ms", "p50", "p99", "max",
                          "notifies_received", "notifies_per_s", "notify_latency_ms", "setup_s", "server_rss_kib",
                          "rss_per_participant_bytes"}) {
    if (js.find(std::string("\"") + key + "\":") == std::string::npos) {
      *why = std::string("field ") + key + " missing in " + js;
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string transport = "udp";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--transport=", 0) == 0) transport = a.substr(12);
  }
  imserver::testclient::ServerProcess server;
  std::string error;
  if (!server.start({"--conf.min-notify-interval-ms=0", "--conf.subscribe-policy=anyone", "--join.adhoc-policy=anyone"},
                    &error)) {
    std::fprintf(stderr, "server did not start: %s\n", error.c_str());
    return 1;
  }
  char dir_template[] = "/tmp/imbench_smoke.XXXXXX";
  const std::string dir = mkdtemp(dir_template) ? dir_template : "/tmp";
  bool ok = true;
  auto check = [&](const std::vector<std::string>& args, const std::string& json) {
    int status = run(args);
    std::string why;
    if (status != 0) {
      std::fprintf(stderr, "FAILED: imbench exit status %d\n", status);
      ok = false;
    } else if (!check_json(json, &why)) {
      std::fprintf(stderr, "FAILED: %s\n", why.c_str());
      ok = false;
    }
  };
  const std::string target = "--target=127.0.0.1:" + std::to_string(server.port());
  const std::string leave_json = dir + "/leave.json";
  check({IMBENCH_BINARY, target, "--transport=" + transport, "--mode=leave-bye", "--sessions=2", "--participants=3",
         "--subscribers=2", "--count=6", "--duration-s=20", "--server-pid=" + std::to_string(server.pid()),
         "--json=" + leave_json},
        leave_json);
  const std::string refer_json = dir + "/refer.json";
  check({IMBENCH_BINARY, target, "--transport=" + transport, "--mode=leave-refer", "--sessions=2",
         "--participants=3", "--subscribers=1", "--count=4", "--duration-s=20", "--json=" + refer_json},
        refer_json);
  const std::string raw_json = dir + "/raw.json";
  check({IMBENCH_BINARY, "--mode=raw-udp", "--subscribers=20", "--duration-s=0.5", "--json=" + raw_json}, raw_json);
  const int status = server.stop();
  if (status != 0) {
    std::fprintf(stderr, "FAILED: server exit status %d\n%s\n", status, server.stderr_text().c_str());
    ok = false;
  }
  if (!ok) std::fprintf(stderr, "---- server stderr ----\n%s\n", server.stderr_text().c_str());
  std::remove(leave_json.c_str());
  std::remove(refer_json.c_str());
  std::remove(raw_json.c_str());
  rmdir(dir.c_str());
  return ok ? 0 : 1;
}
