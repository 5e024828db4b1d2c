#include "sse/retry_jitter.hpp"

#include <algorithm>
#include <random>

namespace sb::sse {

unsigned jittered_retry(unsigned retry_ms, double u) {
  u = std::clamp(u, 0.0, 1.0);
  auto extra = static_cast<std::uint64_t>(static_cast<double>(retry_ms) * u);
  // u just under 1 may round up to retry_ms itself; the range stays half-open.
  extra = std::min<std::uint64_t>(extra, retry_ms > 0 ? retry_ms - 1 : 0);
  return static_cast<unsigned>(retry_ms + extra);
}

unsigned jittered_retry(unsigned retry_ms) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  thread_local std::uniform_real_distribution<double> unit{0.0, 1.0};
  return jittered_retry(retry_ms, unit(rng));
}

}  // namespace sb::sse
