// Time and formatting helpers shared by every part of switchboard-bench.
#pragma once

#include <time.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>

namespace bench {

inline constexpr uint64_t ns_per_sec = UINT64_C(1000000000);

// CLOCK_MONOTONIC in ns: the clock of the publish timestamps in every payload (vDSO, ~20 ns).
inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * ns_per_sec + static_cast<uint64_t>(ts.tv_nsec);
}

inline uint64_t secs_to_ns(double s) {
  return static_cast<uint64_t>(s * 1e9);
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));

}  // namespace bench
