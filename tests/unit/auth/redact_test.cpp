#include "auth/redact.hpp"

#include <gtest/gtest.h>

namespace sb::auth {
namespace {

TEST(AuthRedact, KeepsAShortPrefixOnly) {
  EXPECT_EQ(redact("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig"), "eyJh\xe2\x80\xa6");
  EXPECT_EQ(redact("0123456789abcdef"), "0123\xe2\x80\xa6");
  EXPECT_EQ(redact("01234567"), "01\xe2\x80\xa6");  // never more than a quarter
  EXPECT_EQ(redact("abc"), "\xe2\x80\xa6");
  EXPECT_EQ(redact(""), "");
  EXPECT_EQ(redact("0123456789abcdef", 2), "01\xe2\x80\xa6");
}

TEST(AuthRedact, CannotInjectIntoLogLines) {
  EXPECT_EQ(redact("a\nb\x01"
                   "cdefghijklmnop"),
            "a?b?\xe2\x80\xa6");
}

}  // namespace
}  // namespace sb::auth
