#include "auth/admin_sessions.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace sb::auth {
namespace {

using namespace std::chrono_literals;

struct fake_clock {
  std::chrono::system_clock::time_point now{std::chrono::sys_seconds{1'800'000'000s}};
  admin_sessions::clock_fn fn() {
    return [this] { return now; };
  }
};

TEST(AdminSessions, AMintedValueIsValidUntilItsTtl) {
  fake_clock clock;
  admin_sessions s({"admin-key"}, 3600s, clock.fn());
  auto v = s.mint();
  EXPECT_EQ(v.substr(0, v.find('.')), "1800003600");
  EXPECT_TRUE(s.valid(v));
  clock.now += 3599s;
  EXPECT_TRUE(s.valid(v));
  clock.now += 1s;
  EXPECT_FALSE(s.valid(v));
}

TEST(AdminSessions, AnAlteredValueIsRefused) {
  fake_clock clock;
  admin_sessions s({"admin-key"}, 3600s, clock.fn());
  auto v = s.mint();
  auto dot = v.find('.');
  auto later = std::to_string(std::stoll(v.substr(0, dot)) + 60) + v.substr(dot);
  EXPECT_FALSE(s.valid(later));
  auto flipped = v;
  flipped[dot + 1] = flipped[dot + 1] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(s.valid(flipped));
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "1800003600", "1800003600.", ".abc", "x.y", "-1.abc",
                                "99999999999999999999.abc", v + "A", v.substr(0, v.size() - 1)}) {
    EXPECT_FALSE(s.valid(bad)) << bad;
  }
}

TEST(AdminSessions, TheKeyFollowsTheSecrets) {
  fake_clock clock;
  admin_sessions a({"k1", "jwt"}, 3600s, clock.fn());
  admin_sessions same({"k1", "jwt"}, 3600s, clock.fn());
  admin_sessions other({"k2", "jwt"}, 3600s, clock.fn());
  admin_sessions shifted({"k1j", "wt"}, 3600s, clock.fn());
  auto v = a.mint();
  EXPECT_TRUE(same.valid(v)) << "another node configured alike accepts it";
  EXPECT_FALSE(other.valid(v)) << "rotating the admin keys ends every session";
  EXPECT_FALSE(shifted.valid(v));
  // Without secrets the key is random: one process's value means nothing to another.
  admin_sessions r1({}, 3600s, clock.fn());
  admin_sessions r2({"", ""}, 3600s, clock.fn());
  EXPECT_TRUE(r1.valid(r1.mint()));
  EXPECT_FALSE(r2.valid(r1.mint()));
}

}  // namespace
}  // namespace sb::auth
