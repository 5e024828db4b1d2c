#include "core/utf8.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sb {
namespace {

TEST(Utf8, AcceptsAsciiAndEmpty) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("hello, world"));
  EXPECT_TRUE(is_valid_utf8(std::string("a\0b", 3)));  // U+0000 is a scalar value
  EXPECT_TRUE(is_valid_utf8("\x7f"));
}

TEST(Utf8, AcceptsEveryEncodingLengthAtItsBounds) {
  EXPECT_TRUE(is_valid_utf8("\xc2\x80"));          // U+0080
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9"));          // é
  EXPECT_TRUE(is_valid_utf8("\xdf\xbf"));          // U+07FF
  EXPECT_TRUE(is_valid_utf8("\xe0\xa0\x80"));      // U+0800
  EXPECT_TRUE(is_valid_utf8("\xe2\x82\xac"));      // €
  EXPECT_TRUE(is_valid_utf8("\xed\x9f\xbf"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(is_valid_utf8("\xee\x80\x80"));      // U+E000, just above them
  EXPECT_TRUE(is_valid_utf8("\xef\xbf\xbf"));      // U+FFFF
  EXPECT_TRUE(is_valid_utf8("\xf0\x90\x80\x80"));  // U+10000
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));  // 😀
  EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80!"));
}

TEST(Utf8, RejectsOverlongs) {
  EXPECT_FALSE(is_valid_utf8("\xc0\x80"));          // U+0000 in two bytes
  EXPECT_FALSE(is_valid_utf8("\xc1\xbf"));          // U+007F in two bytes
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\x80"));      // U+0000 in three
  EXPECT_FALSE(is_valid_utf8("\xe0\x9f\xbf"));      // U+07FF in three
  EXPECT_FALSE(is_valid_utf8("\xf0\x80\x80\x80"));  // U+0000 in four
  EXPECT_FALSE(is_valid_utf8("\xf0\x8f\xbf\xbf"));  // U+FFFF in four
  EXPECT_FALSE(is_valid_utf8("a\xc0\xaf"));         // the classic overlong '/'
}

TEST(Utf8, RejectsSurrogates) {
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));              // U+D800
  EXPECT_FALSE(is_valid_utf8("\xed\xaf\xbf"));              // U+DBFF
  EXPECT_FALSE(is_valid_utf8("\xed\xb0\x80"));              // U+DC00
  EXPECT_FALSE(is_valid_utf8("\xed\xbf\xbf"));              // U+DFFF
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\xbd\xed\xb8\x80"));  // a CESU-8 surrogate pair
}

TEST(Utf8, RejectsBeyondU10FFFF) {
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xf7\xbf\xbf\xbf"));
  EXPECT_FALSE(is_valid_utf8("\xf8\x88\x80\x80\x80"));  // old five-byte form
  EXPECT_FALSE(is_valid_utf8("\xfc\x84\x80\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xfe"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

TEST(Utf8, RejectsTruncatedSequences) {
  EXPECT_FALSE(is_valid_utf8("\xc3"));
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));
  EXPECT_FALSE(is_valid_utf8("\xe2"));
  EXPECT_FALSE(is_valid_utf8("\xf0\x9f\x98"));
  EXPECT_FALSE(is_valid_utf8("\xf0\x9f"));
  EXPECT_FALSE(is_valid_utf8("abc\xf0"));
  // A lead byte followed by ASCII instead of continuations.
  EXPECT_FALSE(
      is_valid_utf8("\xc3"
                    "a"));
  EXPECT_FALSE(
      is_valid_utf8("\xe2\x82"
                    "a"));
  EXPECT_FALSE(
      is_valid_utf8("\xf0\x9f\x98"
                    "a"));
  // Truncation in the middle, then a valid character.
  EXPECT_FALSE(is_valid_utf8("\xe2\x82\xc3\xa9"));
}

TEST(Utf8, RejectsStrayContinuationBytes) {
  EXPECT_FALSE(is_valid_utf8("\x80"));
  EXPECT_FALSE(is_valid_utf8("\xbf"));
  EXPECT_FALSE(
      is_valid_utf8("a\x80"
                    "b"));
  EXPECT_FALSE(is_valid_utf8("\xc3\xa9\xa9"));  // one continuation too many
}

TEST(Utf8, ValidityDoesNotDependOnWhereTheSequenceSits) {
  // A multi-byte character at every offset of a buffer, then the same buffer cut one byte short.
  const std::string euro = "\xe2\x82\xac";
  for (std::size_t pad = 0; pad < 16; ++pad) {
    auto s = std::string(pad, 'x') + euro;
    EXPECT_TRUE(is_valid_utf8(s)) << pad;
    EXPECT_FALSE(is_valid_utf8(std::string_view(s).substr(0, s.size() - 1))) << pad;
  }
}

}  // namespace
}  // namespace sb
