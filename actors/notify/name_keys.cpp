#include "actors/notify/name_keys.hpp"

#include <algorithm>

namespace imserver::notify {

// ------------------------------------------------------------ NameTable

uint32_t NameTable::acquire(const std::string& name) {
  auto [it, fresh] = ids_.try_emplace(name, 0);
  if (fresh) {
    if (free_ids_.empty()) {
      slots_.emplace_back();
      it->second = static_cast<uint32_t>(slots_.size());
    } else {
      it->second = free_ids_.back();
      free_ids_.pop_back();
    }
    slots_[it->second - 1].name = &it->first;
  }
  ++slots_[it->second - 1].refs;
  return it->second;
}

uint32_t NameTable::lookup(const std::string& name) const {
  auto it = ids_.find(name);
  return it == ids_.end() ? 0 : it->second;
}

void NameTable::release(uint32_t id) {
  Slot& slot = slots_[id - 1];
  if (--slot.refs != 0) return;
  ids_.erase(*slot.name);
  slot.name = nullptr;
  free_ids_.push_back(id);
  if (ids_.empty()) {
    // Nothing refers to any name: give the id bookkeeping back too.
    std::vector<Slot>().swap(slots_);
    std::vector<uint32_t>().swap(free_ids_);
  }
}

// ------------------------------------------------------------ KeySet

bool KeySet::has(uint64_t k) const { return std::binary_search(keys_.begin(), keys_.end(), k); }

void KeySet::add(uint64_t k) {
  keys_.insert(std::lower_bound(keys_.begin(), keys_.end(), k), k);
}

void KeySet::remove(NameTable& names, uint64_t k) {
  keys_.erase(std::lower_bound(keys_.begin(), keys_.end(), k));
  names.release(user_of(k));
  if (entity_of(k)) names.release(entity_of(k));
  if (keys_.empty()) std::vector<uint64_t>().swap(keys_);  // an emptied set holds no memory
}

std::pair<size_t, size_t> KeySet::range_of(uint32_t user) const {
  const auto first = std::lower_bound(keys_.begin(), keys_.end(), key(user, 0));
  const auto last = std::lower_bound(first, keys_.end(), key(user + 1, 0));
  return {static_cast<size_t>(first - keys_.begin()), static_cast<size_t>(last - keys_.begin())};
}

bool KeySet::insert(NameTable& names, const std::string& user, const std::string& entity) {
  const uint32_t u = names.lookup(user), e = names.lookup(entity);
  if (u && e && has(key(u, e))) return false;
  // The ids are taken (and the references counted) only for a new key.
  add(key(names.acquire(user), names.acquire(entity)));
  return true;
}

bool KeySet::erase(NameTable& names, const std::string& user, const std::string& entity) {
  const uint32_t u = names.lookup(user), e = names.lookup(entity);
  if (!u || !e || !has(key(u, e))) return false;
  remove(names, key(u, e));
  return true;
}

bool KeySet::contains(const NameTable& names, const std::string& user, const std::string& entity) const {
  const uint32_t u = names.lookup(user), e = names.lookup(entity);
  return u && e && has(key(u, e));
}

void KeySet::clear(NameTable& names) {
  for (uint64_t k : keys_) {
    names.release(user_of(k));
    if (entity_of(k)) names.release(entity_of(k));
  }
  std::vector<uint64_t>().swap(keys_);
}

// ------------------------------------------------------------ ShownSet

bool ShownSet::has_user(const NameTable& names, const std::string& user) const {
  const uint32_t u = names.lookup(user);
  if (!u) return false;
  const auto [first, last] = range_of(u);
  return first != last;
}

void ShownSet::add_user(NameTable& names, const std::string& user) {
  if (has_user(names, user)) return;
  add(key(names.acquire(user), 0));
}

void ShownSet::insert(NameTable& names, const std::string& user, const std::string& entity) {
  if (contains(names, user, entity)) return;
  const uint32_t u = names.acquire(user), e = names.acquire(entity);
  add(key(u, e));
  // The user now has an entity: its "shown, no entity" key goes.
  if (has(key(u, 0))) remove(names, key(u, 0));
}

bool ShownSet::contains(const NameTable& names, const std::string& user, const std::string& entity) const {
  return KeySet::contains(names, user, entity);
}

bool ShownSet::erase(NameTable& names, const std::string& user, const std::string& entity) {
  const uint32_t u = names.lookup(user), e = names.lookup(entity);
  if (!u || !e || !has(key(u, e))) return false;
  // Keep the user (as a map keeps a key whose set became empty); the new
  // key's reference to the user comes before the old key lets go of it.
  const auto [first, last] = range_of(u);
  if (last - first == 1) add(key(names.acquire(user), 0));
  remove(names, key(u, e));
  return true;
}

bool ShownSet::user_has_no_entity(const NameTable& names, const std::string& user) const {
  const uint32_t u = names.lookup(user);
  return u && has(key(u, 0));
}

void ShownSet::erase_user(NameTable& names, const std::string& user) {
  const uint32_t u = names.lookup(user);
  if (!u) return;
  auto [first, last] = range_of(u);
  while (last > first) remove(names, keys_[--last]);
}

}  // namespace imserver::notify
