#pragma once
// Figures of the Redis backplane, written on its thread and read by /metrics from any thread.
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace sb::cluster {

/// A Prometheus histogram of seconds with fixed buckets (0.1 ms to 10 s); relaxed atomics, one
/// writer thread.
class seconds_histogram {
 public:
  static constexpr std::array<double, 12> bounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                    0.01,   0.025,   0.1,    0.5,   1.0,    10.0};
  void observe(double seconds);
  /// Appends the _bucket, _sum and _count lines of `name`.
  void render(std::string& out, std::string_view name, std::string_view help) const;

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_us_{0};
};

struct redis_stats {
  seconds_histogram roundtrip;   // command sent to reply read
  seconds_histogram pubsub_lag;  // publish time (Redis clock) to receipt by this node
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> resume_reads{0};  // history reads for a resume or a repair
  std::atomic<std::uint64_t> repairs{0};       // seq holes or resubscriptions repaired from history
  // Redis Cluster: answers that sent a command elsewhere or later, and topics whose channel moved
  // to another master.
  std::atomic<std::uint64_t> moved{0};
  std::atomic<std::uint64_t> ask{0};
  std::atomic<std::uint64_t> tryagain{0};
  std::atomic<std::uint64_t> channel_moves{0};
  std::atomic<bool> up{false};
};

}  // namespace sb::cluster
