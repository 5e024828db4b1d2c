#include "core/base64url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sb {
namespace {

std::string encode(std::string_view bytes) {
  std::string out;
  append_base64url(out, bytes);
  return out;
}

TEST(Base64url, Rfc4648VectorsWithoutPadding) {
  EXPECT_EQ(encode(""), "");
  EXPECT_EQ(encode("f"), "Zg");
  EXPECT_EQ(encode("fo"), "Zm8");
  EXPECT_EQ(encode("foo"), "Zm9v");
  EXPECT_EQ(encode("foob"), "Zm9vYg");
  EXPECT_EQ(encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
}

TEST(Base64url, UsesTheUrlSafeAlphabet) {
  // Standard base64 of these bytes is "+/+/".
  EXPECT_EQ(encode("\xfb\xff\xbf"), "-_-_");
  auto decoded = decode_base64url("-_-_");
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, "\xfb\xff\xbf");
}

TEST(Base64url, AppendsAfterExistingText) {
  std::string out = "c";
  append_base64url(out, "foo");
  EXPECT_EQ(out, "cZm9v");
}

TEST(Base64url, RoundTripsEveryByteValueAtEveryLengthRemainder) {
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all += static_cast<char>(i);
  }
  for (std::size_t len = 0; len <= all.size(); ++len) {
    auto bytes = all.substr(all.size() - len);
    auto text = encode(bytes);
    EXPECT_EQ(text.size(), (len * 4 + 2) / 3) << len;
    auto back = decode_base64url(text);
    ASSERT_TRUE(back.has_value()) << len;
    EXPECT_EQ(*back, bytes) << len;
  }
}

TEST(Base64url, DecodesVectors) {
  EXPECT_EQ(decode_base64url(""), std::string());
  EXPECT_EQ(decode_base64url("Zg"), std::string("f"));
  EXPECT_EQ(decode_base64url("Zm8"), std::string("fo"));
  EXPECT_EQ(decode_base64url("Zm9vYmFy"), std::string("foobar"));
}

TEST(Base64url, RejectsForeignCharactersPaddingAndImpossibleLength) {
  EXPECT_FALSE(decode_base64url("Zg==").has_value());  // padding is not ours
  EXPECT_FALSE(decode_base64url("+/+/").has_value());  // standard alphabet
  EXPECT_FALSE(decode_base64url("Zm9v YmFy").has_value());
  EXPECT_FALSE(decode_base64url("Zm9\n").has_value());
  EXPECT_FALSE(decode_base64url(std::string("Zm\0v", 4)).has_value());
  EXPECT_FALSE(decode_base64url("Z").has_value());  // 6 bits cannot make a byte
  EXPECT_FALSE(decode_base64url("Zm9vY").has_value());
  EXPECT_FALSE(decode_base64url("\xc3\xa9\xc3\xa9").has_value());
}

}  // namespace
}  // namespace sb
