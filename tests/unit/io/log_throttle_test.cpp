#include "io/log_throttle.hpp"

#include <gtest/gtest.h>

namespace sb::io {
namespace {

using namespace std::chrono_literals;

TEST(LogThrottle, OneLinePerIntervalCountingTheRest) {
  log_throttle t(5s);
  auto t0 = log_throttle::clock::time_point{} + 100s;
  EXPECT_EQ(t.admit(t0), 0u);  // the first one is logged
  for (int i = 1; i <= 49; ++i) {
    EXPECT_FALSE(t.admit(t0 + i * 100ms).has_value());  // 49 suppressed within 4.9 s
  }
  EXPECT_EQ(t.admit(t0 + 5s), 49u);  // the next line says how many it stood for
  EXPECT_FALSE(t.admit(t0 + 6s).has_value());
  EXPECT_EQ(t.admit(t0 + 60s), 1u);
  EXPECT_EQ(t.admit(t0 + 120s), 0u);
}

}  // namespace
}  // namespace sb::io
