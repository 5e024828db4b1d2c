#include "core/cursor.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/base64url.hpp"

namespace sb {
namespace {

constexpr auto u64_max = std::numeric_limits<std::uint64_t>::max();

std::string cursor_of(const std::vector<cursor_entry>& entries) {
  std::string out;
  append_cursor(out, entries);
  return out;
}

/// A cursor from hand-made raw bytes (version byte included), to reach decoder corners.
std::string raw_cursor(std::string_view raw) {
  std::string out = "c";
  append_base64url(out, raw);
  return out;
}

void expect_same(const std::vector<cursor_entry>& got, const std::vector<cursor_entry>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].topic_hash, want[i].topic_hash) << "entry " << i;
    EXPECT_EQ(got[i].at, want[i].at) << "entry " << i;
  }
}

TEST(Cursor, TopicHashIsFnv1a32) {
  EXPECT_EQ(topic_hash(""), 0x811c9dc5u);
  EXPECT_EQ(topic_hash("a"), 0xe40c292cu);
  EXPECT_EQ(topic_hash("foobar"), 0xbf9cf968u);
  EXPECT_EQ(topic_hash("orders/42"), 0xd7e52b5fu);
  EXPECT_NE(topic_hash("orders/42"), topic_hash("orders/43"));
}

TEST(Cursor, ExactBytesOfOneEntry) {
  // "c" + base64url(01 | 01 02 03 04 | 01 | 02): version, LE hash, varint epoch, varint seq.
  EXPECT_EQ(cursor_of({{0x04030201u, {1, 2}}}), "cAQECAwQBAg");
}

TEST(Cursor, ExactBytesOfMaximalValues) {
  // UINT64_MAX is nine 0xff then 0x01 as a varint; 128 is 0x80 0x01.
  EXPECT_EQ(cursor_of({{0xffffffffu, {u64_max, 128}}}), "cAf________________8BgAE");
}

TEST(Cursor, AppendsAfterExistingText) {
  std::string out = "id: ";
  std::vector<cursor_entry> one = {{0x04030201u, {1, 2}}};
  append_cursor(out, one);
  EXPECT_EQ(out, "id: cAQECAwQBAg");
}

TEST(Cursor, RoundTripsOneToFiftyEntries) {
  std::mt19937_64 rng(12345);
  const std::uint64_t specials[] = {
      0, 1, 127, 128, 16383, 16384, (std::uint64_t{1} << 53) - 1, u64_max - 1, u64_max};
  for (std::size_t n = 1; n <= 50; ++n) {
    std::vector<cursor_entry> entries;
    for (std::size_t i = 0; i < n; ++i) {
      cursor_entry e;
      e.topic_hash = i % 3 == 0 ? 0xffffffffu : static_cast<std::uint32_t>(rng());
      e.at.epoch = i % 2 == 0 ? specials[(i + n) % std::size(specials)] : rng();
      e.at.seq = i % 5 == 0 ? u64_max : specials[i % std::size(specials)];
      entries.push_back(e);
    }
    auto text = cursor_of(entries);
    ASSERT_TRUE(is_cursor_text(text));
    auto parsed = parse_cursor(text);
    ASSERT_TRUE(parsed.has_value()) << n << " entries: " << text;
    expect_same(*parsed, entries);
  }
}

TEST(Cursor, RoundTripsTopicHashesOfNames) {
  std::vector<cursor_entry> entries = {{topic_hash("orders/42"), {5, 9}},
                                       {topic_hash("a"), {5, 0}}};
  auto parsed = parse_cursor(cursor_of(entries));
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].topic_hash, topic_hash("orders/42"));
  EXPECT_EQ((*parsed)[1].topic_hash, topic_hash("a"));
  EXPECT_EQ((*parsed)[1].at, (position{5, 0}));
}

TEST(Cursor, IsCursorTextLooksOnlyAtThePrefix) {
  EXPECT_TRUE(is_cursor_text("cAQ"));
  EXPECT_TRUE(is_cursor_text("c"));
  EXPECT_FALSE(is_cursor_text(""));
  EXPECT_FALSE(is_cursor_text("1-2"));
  EXPECT_FALSE(is_cursor_text("CAQECAwQBAg"));
}

TEST(Cursor, RejectsWrongPrefix) {
  EXPECT_FALSE(parse_cursor("").has_value());
  EXPECT_FALSE(parse_cursor("AQECAwQBAg").has_value());
  EXPECT_FALSE(parse_cursor("CAQECAwQBAg").has_value());
  EXPECT_FALSE(parse_cursor("xAQECAwQBAg").has_value());
  EXPECT_FALSE(parse_cursor("1-2").has_value());
}

TEST(Cursor, RejectsEmptyAndWrongVersion) {
  EXPECT_FALSE(parse_cursor("c").has_value());
  EXPECT_FALSE(
      parse_cursor(raw_cursor(std::string("\x00\x01\x02\x03\x04\x01\x02", 7))).has_value());
  EXPECT_FALSE(parse_cursor(raw_cursor("\x02\x01\x02\x03\x04\x01\x02")).has_value());
  EXPECT_FALSE(parse_cursor(raw_cursor("\xff\x01\x02\x03\x04\x01\x02")).has_value());
  // The same bytes with version 1 parse: only the version differs.
  EXPECT_TRUE(parse_cursor(raw_cursor("\x01\x01\x02\x03\x04\x01\x02")).has_value());
}

TEST(Cursor, VersionOnlyIsAnEmptyCursor) {
  auto parsed = parse_cursor(raw_cursor("\x01"));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->empty());
}

TEST(Cursor, RejectsTruncatedEntries) {
  // Hash cut short.
  EXPECT_FALSE(parse_cursor(raw_cursor("\x01\x01\x02\x03")).has_value());
  // Hash but no epoch.
  EXPECT_FALSE(parse_cursor(raw_cursor("\x01\x01\x02\x03\x04")).has_value());
  // Epoch but no seq.
  EXPECT_FALSE(parse_cursor(raw_cursor("\x01\x01\x02\x03\x04\x05")).has_value());
  // Seq varint whose continuation bit promises a byte that never comes.
  EXPECT_FALSE(parse_cursor(raw_cursor("\x01\x01\x02\x03\x04\x05\x80")).has_value());
  EXPECT_FALSE(parse_cursor(raw_cursor("\x01\x01\x02\x03\x04\xff\xff")).has_value());
  // A valid entry followed by a partial one.
  EXPECT_FALSE(parse_cursor(raw_cursor("\x01\x01\x02\x03\x04\x01\x02\x09\x09")).has_value());
}

TEST(Cursor, RejectsEveryTruncationOfAValidCursor) {
  std::vector<cursor_entry> entries = {{0xdeadbeefu, {u64_max, u64_max}}, {7, {300, 70000}}};
  auto raw = decode_base64url(cursor_of(entries).substr(1));
  ASSERT_TRUE(raw.has_value());
  // Cutting anywhere after the version byte but before the end leaves a partial entry.
  for (std::size_t len = 2; len < raw->size(); ++len) {
    if (len == 1 + 4 + 10 + 10) {
      continue;  // exactly one whole entry
    }
    EXPECT_FALSE(parse_cursor(raw_cursor(raw->substr(0, len))).has_value()) << len;
  }
  auto one = parse_cursor(raw_cursor(raw->substr(0, 25)));
  ASSERT_TRUE(one.has_value());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].at, (position{u64_max, u64_max}));
}

TEST(Cursor, RejectsVarintsLongerThanTenBytes) {
  std::string raw = "\x01\x01\x02\x03\x04";
  raw += std::string(10, '\x80');  // ten continuation bytes, no end
  raw += '\x00';
  raw += '\x01';
  EXPECT_FALSE(parse_cursor(raw_cursor(raw)).has_value());
}

TEST(Cursor, RejectsVarintsThatOverflow64Bits) {
  // Ten bytes whose last one carries bits above bit 63: no uint64 has this encoding, so no
  // server wrote it; accepting it would silently resume from a truncated epoch.
  std::string raw = "\x01\x01\x02\x03\x04";
  raw += std::string(9, '\xff');
  raw += '\x03';  // bits 63 and 64
  raw += '\x01';  // seq 1
  EXPECT_FALSE(parse_cursor(raw_cursor(raw)).has_value());
}

TEST(Cursor, RejectsGarbage) {
  EXPECT_FALSE(parse_cursor("c!!!!").has_value());
  EXPECT_FALSE(parse_cursor("cAQECAwQBAg=").has_value());
  EXPECT_FALSE(parse_cursor("cAQEC AwQBAg").has_value());
  EXPECT_FALSE(parse_cursor("cA").has_value());  // impossible base64 length
  EXPECT_FALSE(parse_cursor("c+/+/").has_value());
  EXPECT_FALSE(parse_cursor("c\xc3\xa9").has_value());
}

TEST(Cursor, RejectsMoreThanTheEntryCap) {
  std::vector<cursor_entry> entries(1025, cursor_entry{1, {1, 1}});
  EXPECT_FALSE(parse_cursor(cursor_of(entries)).has_value());
  entries.resize(1024);
  auto parsed = parse_cursor(cursor_of(entries));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->size(), 1024u);
}

}  // namespace
}  // namespace sb
