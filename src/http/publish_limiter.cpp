#include "http/publish_limiter.hpp"

#include <algorithm>

namespace sb::http {

bool publish_limiter::take(const std::string& client, double n) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (buckets_.size() > 100000) {
    // Forget clients whose buckets have refilled: they are as good as new, and memory stays
    // bounded.
    std::erase_if(buckets_, [&](const auto& kv) {
      return kv.second.tokens +
                 std::chrono::duration<double>(now - kv.second.last).count() * rate_ >=
             burst_;
    });
  }
  auto [it, added] = buckets_.try_emplace(client, bucket{burst_, now});
  auto& b = it->second;
  b.tokens =
      std::min(burst_, b.tokens + std::chrono::duration<double>(now - b.last).count() * rate_);
  b.last = now;
  if (b.tokens < n) {
    return false;
  }
  b.tokens -= n;
  return true;
}

}  // namespace sb::http
