#pragma once
// Keeps a warning that can repeat many times a second (EMFILE on accept, on every loop) to one
// line per interval, which says how many it stood for. Thread-safe: the loops share one.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace sb::io {

class log_throttle {
 public:
  using clock = std::chrono::steady_clock;

  explicit log_throttle(clock::duration interval) : interval_(interval) {}

  /// One occurrence at `now`. When a line may be logged, the number of occurrences suppressed
  /// since the previous line; nullopt when this one is to be suppressed (and counted).
  std::optional<std::uint64_t> admit(clock::time_point now = clock::now());

 private:
  std::mutex mutex_;
  clock::duration interval_;
  std::optional<clock::time_point> last_;
  std::uint64_t suppressed_ = 0;
};

}  // namespace sb::io
