// Log-linear latency histogram for the load generator.
//
// Values (nanoseconds) below 32 get one bucket each; above, every power of two is split into 32
// equal sub-buckets, so a reported percentile is within 1/64 (1.6 %) of the true value. The whole
// range of uint64_t fits in 1,920 counters (15 KiB), recording is a few instructions and no
// allocation, which matters at a million deliveries per second on one core.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

namespace bench {

class log_histogram {
 public:
  static constexpr int sub_bits = 5;
  static constexpr uint64_t sub_buckets = uint64_t{1} << sub_bits;  // 32 sub-buckets per octave
  static constexpr size_t bucket_count = (64 - sub_bits + 1) * sub_buckets;

  static size_t index_of(uint64_t v) {
    if (v < sub_buckets)
      return static_cast<size_t>(v);
    int e = 63 - std::countl_zero(v);  // v in [2^e, 2^(e+1)), e >= kSubBits
    uint64_t sub = (v >> (e - sub_bits)) - sub_buckets;
    return static_cast<size_t>((e - sub_bits + 1) * sub_buckets + sub);
  }
  static uint64_t bucket_low(size_t idx) {
    if (idx < sub_buckets)
      return idx;
    int e = static_cast<int>(idx / sub_buckets) + sub_bits - 1;
    uint64_t sub = idx % sub_buckets;
    return (sub_buckets + sub) << (e - sub_bits);
  }
  static uint64_t bucket_width(size_t idx) {
    if (idx < sub_buckets)
      return 1;
    int e = static_cast<int>(idx / sub_buckets) + sub_bits - 1;
    return uint64_t{1} << (e - sub_bits);
  }

  void record(uint64_t v) {
    ++counts_[index_of(v)];
    ++count_;
    sum_ += static_cast<double>(v);
    if (v < min_)
      min_ = v;
    if (v > max_)
      max_ = v;
  }

  void merge(const log_histogram& o) {
    for (size_t i = 0; i < bucket_count; ++i)
      counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }

  // The value at percentile p (0 < p <= 100): the middle of the bucket holding the sample of rank
  // ceil(p% of count), clamped to the exact min and max seen; the exact max for the last rank.
  uint64_t percentile(double p) const {
    if (count_ == 0)
      return 0;
    if (p <= 0)
      return min();
    auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    if (rank == count_)
      return max_;
    uint64_t seen = 0;
    for (size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        uint64_t mid = bucket_low(i) + bucket_width(i) / 2;
        return std::clamp(mid, min(), max_);
      }
    }
    return max_;
  }

 private:
  std::array<uint64_t, bucket_count> counts_{};
  uint64_t count_ = 0;
  double sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace bench
