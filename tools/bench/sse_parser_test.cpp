// Unit tests of the generator's SSE parser (WHATWG event-stream rules).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "sse_parser.hpp"

namespace bench {
namespace {

struct Ev {
  std::string type, data, id;
  bool operator==(const Ev&) const = default;
};

std::vector<Ev> parse_all(SseParser& p, const std::vector<std::string>& chunks) {
  std::vector<Ev> out;
  for (const auto& c : chunks)
    p.feed(c, [&](const SseEvent& e) {
      out.push_back({std::string(e.type), std::string(e.data), std::string(e.id)});
    });
  return out;
}

std::vector<Ev> parse_all(const std::string& s) {
  SseParser p;
  return parse_all(p, {s});
}

TEST(SseParser, DataLinesAreJoinedAndBlankLineDispatches) {
  auto evs = parse_all("data: one\ndata: two\n\ndata:three\n\n");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0], (Ev{"message", "one\ntwo", ""}));
  EXPECT_EQ(evs[1], (Ev{"message", "three", ""}));
}

TEST(SseParser, OnlyOneLeadingSpaceIsStripped) {
  auto evs = parse_all("data:  two spaces\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, " two spaces");
}

TEST(SseParser, CommentsAndUnknownFieldsAreIgnored) {
  SseParser p;
  auto evs = parse_all(p, {": heartbeat\n\n:hb\nfoo: bar\ndata: x\n\n"});
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "x");
  EXPECT_EQ(p.comments(), 2u);
}

TEST(SseParser, EventWithoutDataIsNotDispatched) {
  auto evs = parse_all("event: ping\n\nid: 7\n\ndata: y\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0], (Ev{"message", "y", "7"}));  // type reset, id persists
}

TEST(SseParser, EventTypeAndIdAndRetry) {
  SseParser p;
  auto evs = parse_all(p, {"retry: 2000\nevent: gap\nid: 1-5\ndata: {\"topics\":[]}\n\n"
                           "retry: 12x\ndata: z\n\n"});
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0], (Ev{"gap", "{\"topics\":[]}", "1-5"}));
  EXPECT_EQ(evs[1], (Ev{"message", "z", "1-5"}));
  EXPECT_EQ(p.retry_ms(), 2000);  // the invalid retry is ignored
}

TEST(SseParser, IdWithNulIsIgnored) {
  static const char kStream[] = "id: a\ndata: 1\n\nid: b\0c\ndata: 2\n\n";
  auto evs = parse_all(std::string(kStream, sizeof kStream - 1));
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[1].id, "a");
}

TEST(SseParser, FieldWithoutColonHasEmptyValue) {
  auto evs = parse_all("data\ndata\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "\n");
}

TEST(SseParser, AllLineEndings) {
  auto evs = parse_all("data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].data, "a\nb\nc");
  EXPECT_EQ(evs[1].data, "d");
}

TEST(SseParser, LeadingBomIsSkipped) {
  auto evs = parse_all(
      "\xEF\xBB\xBF"
      "data: a\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "a");
}

TEST(SseParser, IncompleteEventIsNotDispatched) {
  auto evs = parse_all("data: a\n\ndata: b\n");
  ASSERT_EQ(evs.size(), 1u);
}

// Every way of cutting the stream into two or three pieces gives the same events, including a
// CRLF cut between its CR and its LF.
TEST(SseParser, SplitAnywhere) {
  const std::string s =
      ": hi\r\nretry: 10\r\nevent: e\r\nid: 9\r\ndata: 12345 x\r\ndata:y\r\n\r\n"
      "data: last\r\r\ndata: z\n\n";
  auto whole = parse_all(s);
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[1].data, "last");
  EXPECT_EQ(whole[2].data, "z");
  for (size_t i = 0; i <= s.size(); ++i) {
    for (size_t j = i; j <= s.size(); j += 7) {
      SseParser p;
      auto evs = parse_all(p, {s.substr(0, i), s.substr(i, j - i), s.substr(j)});
      ASSERT_EQ(evs, whole) << "cut at " << i << "," << j;
    }
  }
}

TEST(SseParser, ByteByByte) {
  const std::string s = "data: 1\r\n\r\ndata: 2\r\rdata: 3\n\n";
  SseParser p;
  std::vector<std::string> bytes;
  for (char c : s)
    bytes.emplace_back(1, c);
  auto evs = parse_all(p, bytes);
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[0].data, "1");
  EXPECT_EQ(evs[1].data, "2");
  EXPECT_EQ(evs[2].data, "3");
}

}  // namespace
}  // namespace bench
