#include "http/publish_limiter.hpp"

#include <algorithm>

namespace sb::http {

bool publish_limiter::take(const std::string& client, double n) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (buckets_.size() > 100000) {
    // Forget clients whose buckets have refilled: they are as good as new, and memory stays
    // bounded.
    std::erase_if(buckets_, [&](const auto& kv) { return kv.second.full(rate_, burst_, now); });
  }
  return buckets_[client].take(rate_, burst_, now, n);
}

}  // namespace sb::http
