#pragma once
// Where the directory looks session identities up. Local today; a cluster
// node will implement the same interface with a remote lookup.

#include <caf/actor.hpp>

#include <optional>
#include <string>
#include <unordered_map>

namespace imserver::actors {

class SessionRegistry {
 public:
  virtual ~SessionRegistry() = default;
  virtual std::optional<caf::actor> find(const std::string& identity) const = 0;
  virtual void add(const std::string& identity, caf::actor session) = 0;
  virtual void remove(const std::string& identity) = 0;
  virtual size_t size() const = 0;
};

class LocalSessionRegistry final : public SessionRegistry {
 public:
  std::optional<caf::actor> find(const std::string& identity) const override {
    auto it = sessions_.find(identity);
    if (it == sessions_.end()) return std::nullopt;
    return it->second;
  }
  void add(const std::string& identity, caf::actor session) override { sessions_[identity] = std::move(session); }
  void remove(const std::string& identity) override { sessions_.erase(identity); }
  size_t size() const override { return sessions_.size(); }

 private:
  std::unordered_map<std::string, caf::actor> sessions_;
};

}  // namespace imserver::actors
