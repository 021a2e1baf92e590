// The notifier's compact key sets (actors/notify/name_keys.hpp): the same
// answers as the std::map<user, std::set<entity>> they replace, and names
// released once no set refers to them.

#include <gtest/gtest.h>

#include "actors/notify/name_keys.hpp"

using imserver::notify::KeySet;
using imserver::notify::NameTable;
using imserver::notify::ShownSet;

TEST(NameKeys, KeySetMembershipAndRelease) {
  NameTable names;
  KeySet dirty;
  EXPECT_TRUE(dirty.insert(names, "sip:a@x", "sip:a@1"));
  EXPECT_FALSE(dirty.insert(names, "sip:a@x", "sip:a@1"));
  EXPECT_TRUE(dirty.insert(names, "sip:b@x", "sip:b@1"));
  EXPECT_TRUE(dirty.contains(names, "sip:a@x", "sip:a@1"));
  EXPECT_FALSE(dirty.contains(names, "sip:a@x", "sip:b@1"));
  EXPECT_EQ(names.size(), 4u);
  EXPECT_TRUE(dirty.erase(names, "sip:a@x", "sip:a@1"));
  EXPECT_FALSE(dirty.erase(names, "sip:a@x", "sip:a@1"));
  EXPECT_EQ(names.size(), 2u);
  dirty.clear(names);
  EXPECT_TRUE(dirty.empty());
  EXPECT_EQ(names.size(), 0u);
}

TEST(NameKeys, ShownSetKeepsAUserWithoutEntities) {
  NameTable names;
  ShownSet known;
  EXPECT_FALSE(known.has_user(names, "sip:a@x"));
  known.add_user(names, "sip:a@x");  // map[user]
  EXPECT_TRUE(known.has_user(names, "sip:a@x"));
  EXPECT_TRUE(known.user_has_no_entity(names, "sip:a@x"));
  known.insert(names, "sip:a@x", "sip:a@1");
  known.insert(names, "sip:a@x", "sip:a@2");
  EXPECT_FALSE(known.user_has_no_entity(names, "sip:a@x"));
  EXPECT_TRUE(known.erase(names, "sip:a@x", "sip:a@1"));
  EXPECT_TRUE(known.erase(names, "sip:a@x", "sip:a@2"));
  EXPECT_FALSE(known.erase(names, "sip:a@x", "sip:a@2"));
  // As a map keeps a key whose set became empty.
  EXPECT_TRUE(known.has_user(names, "sip:a@x"));
  EXPECT_TRUE(known.user_has_no_entity(names, "sip:a@x"));
  EXPECT_EQ(names.size(), 1u);
  known.insert(names, "sip:b@x", "sip:b@1");
  known.erase_user(names, "sip:a@x");
  EXPECT_FALSE(known.has_user(names, "sip:a@x"));
  EXPECT_TRUE(known.contains(names, "sip:b@x", "sip:b@1"));
  known.erase_user(names, "sip:b@x");
  EXPECT_TRUE(known.empty());
  EXPECT_EQ(names.size(), 0u);
}

TEST(NameKeys, SetsShareNames) {
  NameTable names;
  ShownSet one, two;
  one.insert(names, "sip:a@x", "sip:a@1");
  two.insert(names, "sip:a@x", "sip:a@1");
  EXPECT_EQ(names.size(), 2u);
  one.clear(names);
  EXPECT_TRUE(two.contains(names, "sip:a@x", "sip:a@1"));
  two.clear(names);
  EXPECT_EQ(names.size(), 0u);
}
