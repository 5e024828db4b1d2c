#include "core/token_bucket.hpp"

#include <gtest/gtest.h>

namespace sb {
namespace {

using namespace std::chrono_literals;

TEST(token_bucket, StartsFullAndEmptiesAtTheBurst) {
  token_bucket b;
  auto t = token_bucket::clock::time_point{} + 1h;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(b.take(1, 3, t));
  }
  EXPECT_FALSE(b.take(1, 3, t));
}

TEST(token_bucket, RefillsAtTheRateUpToTheBurst) {
  token_bucket b;
  auto t = token_bucket::clock::time_point{} + 1h;
  EXPECT_TRUE(b.take(10, 2, t, 2));
  EXPECT_FALSE(b.take(10, 2, t));
  EXPECT_TRUE(b.take(10, 2, t + 100ms));  // one token back
  EXPECT_FALSE(b.take(10, 2, t + 100ms));
  EXPECT_FALSE(b.full(10, 2, t + 250ms));
  EXPECT_TRUE(b.full(10, 2, t + 1h));
  EXPECT_TRUE(b.take(10, 2, t + 1h, 2));  // never more than the burst
  EXPECT_FALSE(b.take(10, 2, t + 1h));
}

TEST(token_bucket, ARefusedTakeTakesNothing) {
  token_bucket b;
  auto t = token_bucket::clock::time_point{} + 1h;
  EXPECT_FALSE(b.take(1, 5, t, 6));
  EXPECT_TRUE(b.take(1, 5, t, 5));
}

TEST(token_bucket, ANewBucketIsFull) {
  token_bucket b;
  EXPECT_TRUE(b.full(1, 5, token_bucket::clock::time_point{}));
}

}  // namespace
}  // namespace sb
