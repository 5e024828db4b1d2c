// Unit tests of the generator's log-bucket latency histogram.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "histogram.hpp"

namespace bench {
namespace {

TEST(log_histogram, index_is_contiguous_and_monotonic) {
  size_t prev = 0;
  for (uint64_t v = 0; v < 100000; ++v) {
    size_t idx = log_histogram::index_of(v);
    ASSERT_TRUE(idx == prev || idx == prev + 1) << v;
    ASSERT_GE(v, log_histogram::bucket_low(idx));
    ASSERT_LT(v, log_histogram::bucket_low(idx) + log_histogram::bucket_width(idx));
    prev = idx;
  }
  EXPECT_LT(log_histogram::index_of(UINT64_MAX), log_histogram::bucket_count);
}

TEST(log_histogram, percentiles_within_relative_error) {
  log_histogram h;
  for (uint64_t v = 1; v <= 100000; ++v)
    h.record(v * 1000);  // 1 us .. 100 ms
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 100000000u);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    double truth = p / 100.0 * 100000 * 1000;
    double got = static_cast<double>(h.percentile(p));
    EXPECT_NEAR(got, truth, truth / 60) << p;
  }
  EXPECT_EQ(h.percentile(100), 100000000u);
  EXPECT_NEAR(h.mean(), 50000.5 * 1000, 1);
}

TEST(log_histogram, small_and_empty) {
  log_histogram h;
  EXPECT_EQ(h.percentile(50), 0u);
  h.record(7);
  EXPECT_EQ(h.percentile(50), 7u);
  EXPECT_EQ(h.percentile(99.9), 7u);
  log_histogram g;
  g.record(1000000);
  h.merge(g);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.max(), 1000000u);
}

TEST(log_histogram, random_values_match_sorted_truth) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> d(13.0, 1.5);  // around 0.5 ms, long tail
  std::vector<uint64_t> vals;
  log_histogram h;
  for (int i = 0; i < 200000; ++i) {
    auto v = static_cast<uint64_t>(d(rng));
    vals.push_back(v);
    h.record(v);
  }
  std::sort(vals.begin(), vals.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    auto truth = static_cast<double>(vals[static_cast<size_t>(p / 100.0 * vals.size()) - 1]);
    EXPECT_NEAR(static_cast<double>(h.percentile(p)), truth, truth / 50) << p;
  }
}

}  // namespace
}  // namespace bench
