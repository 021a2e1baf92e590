#pragma once
// What the end-to-end benchmarks share: reading `--name=value` / `--name
// value` flags with a usage message on any mistake, and the median/min/max
// summary every figure is reported with (Seastar-style: the spread, not
// just a mean, because these machines are noisy).

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace imserver::bench {

struct Stat {
  double median = 0, min = 0, max = 0;
};

inline Stat stat_of(std::vector<double> v) {
  Stat s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return s;
}

// Walks argv; for each flag calls `on_flag(reader)`, which looks at name()
// and takes its value with text() or number(). A bad or unknown flag ends
// the program through `usage` (exit status 2).
class FlagReader {
 public:
  using Usage = std::function<void(const std::string& why)>;

  FlagReader(int argc, char** argv, Usage usage) : argc_(argc), argv_(argv), usage_(std::move(usage)) {}

  template <class OnFlag>
  void each(OnFlag&& on_flag) {
    for (i_ = 1; i_ < argc_; ++i_) {
      arg_ = argv_[i_];
      name_ = arg_;
      has_value_ = false;
      if (auto eq = arg_.find('='); eq != std::string::npos) {
        name_ = arg_.substr(0, eq);
        value_ = arg_.substr(eq + 1);
        has_value_ = true;
      }
      if (name_ == "--help" || name_ == "-h") fail("help");
      on_flag(*this);
    }
  }

  const std::string& name() const { return name_; }
  std::string text() {
    if (has_value_) return value_;
    if (i_ + 1 >= argc_) fail("missing value for " + name_);
    return argv_[++i_];
  }
  int number(long min, long max) {
    const std::string v = text();
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < min || n > max) fail("bad value for " + name_ + ": " + v);
    return static_cast<int>(n);
  }
  [[noreturn]] void unknown() { fail("unknown flag " + arg_); }

 private:
  [[noreturn]] void fail(const std::string& why) {
    usage_(why);
    std::exit(2);
  }

  int argc_;
  char** argv_;
  Usage usage_;
  int i_ = 1;
  std::string arg_, name_, value_;
  bool has_value_ = false;
};

}  // namespace imserver::bench
