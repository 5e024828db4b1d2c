// Unit tests of the generator's log-bucket latency histogram.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "histogram.hpp"

namespace bench {
namespace {

TEST(LogHistogram, IndexIsContiguousAndMonotonic) {
  size_t prev = 0;
  for (uint64_t v = 0; v < 100000; ++v) {
    size_t idx = LogHistogram::index_of(v);
    ASSERT_TRUE(idx == prev || idx == prev + 1) << v;
    ASSERT_GE(v, LogHistogram::bucket_low(idx));
    ASSERT_LT(v, LogHistogram::bucket_low(idx) + LogHistogram::bucket_width(idx));
    prev = idx;
  }
  EXPECT_LT(LogHistogram::index_of(UINT64_MAX), LogHistogram::kBuckets);
}

TEST(LogHistogram, PercentilesWithinRelativeError) {
  LogHistogram h;
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

TEST(LogHistogram, SmallAndEmpty) {
  LogHistogram h;
  EXPECT_EQ(h.percentile(50), 0u);
  h.record(7);
  EXPECT_EQ(h.percentile(50), 7u);
  EXPECT_EQ(h.percentile(99.9), 7u);
  LogHistogram g;
  g.record(1000000);
  h.merge(g);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.max(), 1000000u);
}

TEST(LogHistogram, RandomValuesMatchSortedTruth) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> d(13.0, 1.5);  // around 0.5 ms, long tail
  std::vector<uint64_t> vals;
  LogHistogram h;
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
