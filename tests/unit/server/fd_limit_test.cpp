#include "server/fd_limit.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace sb::server {
namespace {

TEST(FdLimit, BudgetLeavesTheReserve) {
  EXPECT_EQ(connection_budget(100000, 20000, 100), 19900u);
  EXPECT_EQ(connection_budget(5000, 20000, 100), 5000u);  // the configured value when it fits
  EXPECT_EQ(connection_budget(100000, 100, 100), 0u);
  EXPECT_EQ(connection_budget(100000, 50, 100), 0u);
}

TEST(FdLimit, ReserveGrowsWithLoopsAndListeners) {
  EXPECT_EQ(reserved_fds(1, 1, 0), 68u);
  EXPECT_EQ(reserved_fds(2, 2, 64), 64u + 10u + 64u);
}

TEST(FdLimit, RaisesTheSoftLimitToTheHardOne) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  rlimit lowered = before;
  lowered.rlim_cur = std::min<rlim_t>(before.rlim_max, 200);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  std::string note;
  auto now = raise_fd_limit(note);
  EXPECT_TRUE(note.empty()) << note;
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, after.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : after.rlim_max);
  EXPECT_EQ(now, static_cast<std::uint64_t>(after.rlim_cur));
  ::setrlimit(RLIMIT_NOFILE, &before);
}

}  // namespace
}  // namespace sb::server
