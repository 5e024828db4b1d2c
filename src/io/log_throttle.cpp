#include "io/log_throttle.hpp"

namespace sb::io {

std::optional<std::uint64_t> log_throttle::admit(clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (last_ && now - *last_ < interval_) {
    ++suppressed_;
    return std::nullopt;
  }
  last_ = now;
  auto n = suppressed_;
  suppressed_ = 0;
  return n;
}

}  // namespace sb::io
