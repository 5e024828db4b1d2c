#include "core/position.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace sb {
namespace {

constexpr auto u64_max = std::numeric_limits<std::uint64_t>::max();

TEST(Position, ToStringIsEpochDashSeqInDecimal) {
  EXPECT_EQ(to_string(position{0, 0}), "0-0");
  EXPECT_EQ(to_string(position{7, 42}), "7-42");
  EXPECT_EQ(to_string(position{u64_max, u64_max}), "18446744073709551615-18446744073709551615");
}

TEST(Position, AppendPositionAppendsWithoutTouchingThePrefix) {
  std::string out = "id: ";
  append_position(out, {12, 3});
  EXPECT_EQ(out, "id: 12-3");
  append_position(out, {u64_max, 0});
  EXPECT_EQ(out, "id: 12-318446744073709551615-0");
}

TEST(Position, RoundTrips) {
  for (auto p :
       {position{0, 0}, position{1, 0}, position{0, 1}, position{9007199254740991, 123456789},
        position{u64_max, u64_max}, position{u64_max - 1, 1}}) {
    auto parsed = parse_position(to_string(p));
    ASSERT_TRUE(parsed.has_value()) << to_string(p);
    EXPECT_EQ(*parsed, p);
  }
}

TEST(Position, ParsesLeadingZeros) {
  auto p = parse_position("007-010");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->epoch, 7u);
  EXPECT_EQ(p->seq, 10u);
}

TEST(Position, RejectsMalformed) {
  for (const char* text :
       {"",      "-",    "-1",   "1-",   "a-1",  "1-a",  "1-2-3", "1--2", "12",    "1_2",
        "0x1-2", "1-2 ", " 1-2", "1 -2", "1- 2", "+1-2", "1-+2",  "-1-2", "1.0-2", "1-2\n"}) {
    EXPECT_FALSE(parse_position(text).has_value()) << '"' << text << '"';
  }
  EXPECT_FALSE(parse_position(std::string("1-2\0", 4)).has_value());
  EXPECT_FALSE(parse_position(std::string("1\0-2", 4)).has_value());
}

TEST(Position, RejectsOverflow) {
  // One past UINT64_MAX in either half.
  EXPECT_FALSE(parse_position("18446744073709551616-1").has_value());
  EXPECT_FALSE(parse_position("1-18446744073709551616").has_value());
  EXPECT_FALSE(parse_position("99999999999999999999999-1").has_value());
  EXPECT_TRUE(parse_position("18446744073709551615-18446744073709551615").has_value());
}

}  // namespace
}  // namespace sb
