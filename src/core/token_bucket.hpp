#pragma once
// A token bucket, pure: the caller passes the time, and the rate and burst (so a bucket per client
// costs two words). Shared by the HTTP publish limiter (per client, across loops) and each
// WebSocket session's publish and volatile limits.
#include <algorithm>
#include <chrono>

namespace sb {

class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  /// Takes `n` tokens at `now`, refilled at `rate` per second up to `burst` (a new bucket is
  /// full); false when there are fewer, and then nothing is taken.
  bool take(double rate, double burst, clock::time_point now, double n = 1) {
    tokens_ = level(rate, burst, now);
    last_ = now;
    if (tokens_ < n) {
      return false;
    }
    tokens_ -= n;
    return true;
  }

  /// Whether the bucket has refilled by `now`: it is then as good as a new one.
  bool full(double rate, double burst, clock::time_point now) const {
    return level(rate, burst, now) >= burst;
  }

 private:
  double level(double rate, double burst, clock::time_point now) const {
    if (tokens_ < 0) {
      return burst;
    }
    return std::min(burst, tokens_ + std::chrono::duration<double>(now - last_).count() * rate);
  }

  double tokens_ = -1;  // -1: full on first use
  clock::time_point last_{};
};

}  // namespace sb
