#include "core/idempotency.hpp"

#include <gtest/gtest.h>

namespace sb {
namespace {

TEST(Idempotency, KeysAreShortPrintableAscii) {
  EXPECT_TRUE(is_valid_idempotency_key("a"));
  EXPECT_TRUE(is_valid_idempotency_key("order-42/retry:1"));
  EXPECT_TRUE(is_valid_idempotency_key(std::string(200, 'k')));
  EXPECT_FALSE(is_valid_idempotency_key(""));
  EXPECT_FALSE(is_valid_idempotency_key(std::string(201, 'k')));
  EXPECT_FALSE(is_valid_idempotency_key("a b"));
  EXPECT_FALSE(is_valid_idempotency_key("a\nb"));
  EXPECT_FALSE(is_valid_idempotency_key("caf\xc3\xa9"));
}

TEST(Idempotency, RemembersPerTopicForTheWindow) {
  idempotency_window w(1000);
  w.record("t", "k", {5, 1}, 0);
  ASSERT_TRUE(w.find("t", "k", 999));
  EXPECT_EQ(*w.find("t", "k", 999), (position{5, 1}));
  EXPECT_FALSE(w.find("u", "k", 999));   // another topic
  EXPECT_FALSE(w.find("t", "k", 1000));  // the window is over
  EXPECT_EQ(w.size(), 0u);
}

TEST(Idempotency, TheFirstRecordWins) {
  idempotency_window w(1000);
  w.record("t", "k", {5, 1}, 0);
  w.record("t", "k", {5, 2}, 10);
  EXPECT_EQ(*w.find("t", "k", 20), (position{5, 1}));
}

}  // namespace
}  // namespace sb
