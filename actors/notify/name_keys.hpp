#pragma once
// Compact per-subscription sets of (user AoR, endpoint entity) keys for the
// conference notifier (issue 7: memory per subscription).
//
// Every subscriber remembers which users and endpoints it has been shown,
// so a session of P users with K subscribers holds P x K such keys. As
// std::map<std::string, std::set<std::string>> that cost ~300 bytes a key
// (two tree nodes, two heap strings): 30 kB per subscription at P = 100.
// Here each name is stored once per notifier in a NameTable, and a set
// holds 8-byte keys (two 32-bit name ids) in a sorted vector: the sets are
// only ever asked about membership, never for their names, so ids suffice.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace imserver::notify {

// Interned names, reference-counted so the table only holds what some set
// still refers to (memory stays bounded by what subscribers know, however
// many users came and went). Ids start at 1; 0 means "no such name".
class NameTable {
 public:
  // The id of `name`, created if needed, with one more reference.
  uint32_t acquire(const std::string& name);
  // The id of `name`, or 0 when no set refers to it.
  uint32_t lookup(const std::string& name) const;
  void release(uint32_t id);
  size_t size() const { return ids_.size(); }

 private:
  struct Slot {
    const std::string* name = nullptr;  // the key in ids_ (node keys never move)
    uint32_t refs = 0;
  };
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<Slot> slots_;  // by id - 1
  std::vector<uint32_t> free_ids_;
};

// A set of (user, entity) pairs: what a subscriber has not been told yet.
// The owner passes the notifier's NameTable to every call (a pointer in
// each set would cost as much as a key) and calls clear() before dropping
// a set that is not empty, so the names it refers to are released.
class KeySet {
 public:
  // True when the pair was not there yet.
  bool insert(NameTable& names, const std::string& user, const std::string& entity);
  bool erase(NameTable& names, const std::string& user, const std::string& entity);
  bool contains(const NameTable& names, const std::string& user, const std::string& entity) const;
  void clear(NameTable& names);
  bool empty() const { return keys_.empty(); }
  size_t size() const { return keys_.size(); }

 protected:
  static uint64_t key(uint32_t user, uint32_t entity) { return (uint64_t{user} << 32) | entity; }
  static uint32_t user_of(uint64_t k) { return static_cast<uint32_t>(k >> 32); }
  static uint32_t entity_of(uint64_t k) { return static_cast<uint32_t>(k); }
  bool has(uint64_t k) const;
  void add(uint64_t k);  // the caller has acquired the names of k
  void remove(NameTable& names, uint64_t k);  // releases them; k must be there
  // [first, last) of the keys of `user`.
  std::pair<size_t, size_t> range_of(uint32_t user) const;

  std::vector<uint64_t> keys_;  // sorted
};

// What a subscriber shows: users, each with the set of its endpoint
// entities reported present, like std::map<user, std::set<entity>> where a
// user may be present with an empty set. A user without entities is kept
// as the key (user, 0).
class ShownSet : private KeySet {
 public:
  bool has_user(const NameTable& names, const std::string& user) const;
  // The user is shown (with no entity if it had none): `map[user]`.
  void add_user(NameTable& names, const std::string& user);
  // Adds the entity under the user (adding the user if needed).
  void insert(NameTable& names, const std::string& user, const std::string& entity);
  bool contains(const NameTable& names, const std::string& user, const std::string& entity) const;
  // Removes the entity; the user stays, possibly with no entity left.
  // False when the user or the entity was not there.
  bool erase(NameTable& names, const std::string& user, const std::string& entity);
  // The user is shown and has no entity.
  bool user_has_no_entity(const NameTable& names, const std::string& user) const;
  void erase_user(NameTable& names, const std::string& user);
  using KeySet::clear;
  using KeySet::empty;
};

}  // namespace imserver::notify
