#include "sse/retry_jitter.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

namespace sb::sse {
namespace {

TEST(RetryJitter, StaysInTheHalfOpenRange) {
  EXPECT_EQ(jittered_retry(2000, 0.0), 2000u);
  EXPECT_EQ(jittered_retry(2000, 0.5), 3000u);
  EXPECT_EQ(jittered_retry(2000, 0.99999999999), 3999u);
  EXPECT_EQ(jittered_retry(2000, 1.0), 3999u);  // clamped: never 2 × retry_ms
  EXPECT_EQ(jittered_retry(2000, -3.0), 2000u);
  EXPECT_EQ(jittered_retry(100, 0.25), 125u);
  EXPECT_EQ(jittered_retry(1, 0.9), 1u);
  EXPECT_EQ(jittered_retry(600000, 0.5), 900000u);
}

TEST(RetryJitter, DrawsSpreadOverTheWholeRange) {
  std::vector<unsigned> seen;
  for (int i = 0; i < 10000; ++i) {
    seen.push_back(jittered_retry(2000));
  }
  for (auto v : seen) {
    ASSERT_GE(v, 2000u);
    ASSERT_LT(v, 4000u);
  }
  // Ten bins of 200 ms each hold roughly a tenth: no bin is empty or holds a crowd.
  std::vector<int> bins(10);
  for (auto v : seen) {
    ++bins[(v - 2000) / 200];
  }
  for (auto n : bins) {
    EXPECT_GT(n, 700);
    EXPECT_LT(n, 1300);
  }
  EXPECT_GT(std::set<unsigned>(seen.begin(), seen.end()).size(), 1500u);
}

}  // namespace
}  // namespace sb::sse
