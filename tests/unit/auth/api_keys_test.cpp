#include "auth/api_keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sb::auth {
namespace {

TEST(ApiKeySet, MatchesOnlyConfiguredKeysExactly) {
  api_key_set keys({"backend-key-one-0123456789", "backend-key-two-abcdefghij"});
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_TRUE(keys.matches("backend-key-one-0123456789"));
  EXPECT_TRUE(keys.matches("backend-key-two-abcdefghij"));
  EXPECT_FALSE(keys.matches("backend-key-one-012345678"));    // prefix
  EXPECT_FALSE(keys.matches("backend-key-one-01234567890"));  // longer
  EXPECT_FALSE(keys.matches("Backend-key-one-0123456789"));   // case
  EXPECT_FALSE(keys.matches(" backend-key-one-0123456789"));
  EXPECT_FALSE(keys.matches(std::string_view("backend-key-one-0123456789\0", 27)));
  EXPECT_FALSE(keys.matches(""));
}

TEST(ApiKeySet, EmptySetMatchesNothing) {
  api_key_set none;
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.matches(""));
  EXPECT_FALSE(none.matches("anything"));
}

TEST(ApiKeySet, EmptyConfiguredKeysAreIgnored) {
  api_key_set keys({"", "k"});
  EXPECT_EQ(keys.size(), 1u);
  EXPECT_FALSE(keys.matches(""));
  EXPECT_TRUE(keys.matches("k"));
}

TEST(ApiKeySet, KeysOfAnyLengthAndBytes) {
  std::string binary("a\0b\xff", 4);
  std::string long_key(4096, 'x');
  api_key_set keys({binary, long_key});
  EXPECT_TRUE(keys.matches(binary));
  EXPECT_TRUE(keys.matches(long_key));
  EXPECT_FALSE(keys.matches(std::string(4095, 'x')));
  EXPECT_FALSE(keys.matches("a"));
}

}  // namespace
}  // namespace sb::auth
