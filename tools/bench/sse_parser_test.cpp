// Unit tests of the generator's SSE parser (WHATWG event-stream rules).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "sse_parser.hpp"

namespace bench {
namespace {

struct parsed_event {
  std::string type, data, id;
  bool operator==(const parsed_event&) const = default;
};

std::vector<parsed_event> parse_all(sse_stream_parser& p, const std::vector<std::string>& chunks) {
  std::vector<parsed_event> out;
  for (const auto& c : chunks)
    p.feed(c, [&](const sse_event& e) {
      out.push_back({std::string(e.type), std::string(e.data), std::string(e.id)});
    });
  return out;
}

std::vector<parsed_event> parse_all(const std::string& s) {
  sse_stream_parser p;
  return parse_all(p, {s});
}

TEST(sse_stream_parser, data_lines_are_joined_and_blank_line_dispatches) {
  auto evs = parse_all("data: one\ndata: two\n\ndata:three\n\n");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0], (parsed_event{"message", "one\ntwo", ""}));
  EXPECT_EQ(evs[1], (parsed_event{"message", "three", ""}));
}

TEST(sse_stream_parser, only_one_leading_space_is_stripped) {
  auto evs = parse_all("data:  two spaces\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, " two spaces");
}

TEST(sse_stream_parser, comments_and_unknown_fields_are_ignored) {
  sse_stream_parser p;
  auto evs = parse_all(p, {": heartbeat\n\n:hb\nfoo: bar\ndata: x\n\n"});
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "x");
  EXPECT_EQ(p.comments(), 2u);
}

TEST(sse_stream_parser, event_without_data_is_not_dispatched) {
  auto evs = parse_all("event: ping\n\nid: 7\n\ndata: y\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0], (parsed_event{"message", "y", "7"}));  // type reset, id persists
}

TEST(sse_stream_parser, event_type_and_id_and_retry) {
  sse_stream_parser p;
  auto evs = parse_all(p, {"retry: 2000\nevent: gap\nid: 1-5\ndata: {\"topics\":[]}\n\n"
                           "retry: 12x\ndata: z\n\n"});
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0], (parsed_event{"gap", "{\"topics\":[]}", "1-5"}));
  EXPECT_EQ(evs[1], (parsed_event{"message", "z", "1-5"}));
  EXPECT_EQ(p.retry_ms(), 2000);  // the invalid retry is ignored
}

TEST(sse_stream_parser, id_with_nul_is_ignored) {
  static const char stream_bytes[] = "id: a\ndata: 1\n\nid: b\0c\ndata: 2\n\n";
  auto evs = parse_all(std::string(stream_bytes, sizeof stream_bytes - 1));
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[1].id, "a");
}

TEST(sse_stream_parser, field_without_colon_has_empty_value) {
  auto evs = parse_all("data\ndata\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "\n");
}

TEST(sse_stream_parser, all_line_endings) {
  auto evs = parse_all("data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].data, "a\nb\nc");
  EXPECT_EQ(evs[1].data, "d");
}

TEST(sse_stream_parser, leading_bom_is_skipped) {
  auto evs = parse_all(
      "\xEF\xBB\xBF"
      "data: a\n\n");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data, "a");
}

TEST(sse_stream_parser, incomplete_event_is_not_dispatched) {
  auto evs = parse_all("data: a\n\ndata: b\n");
  ASSERT_EQ(evs.size(), 1u);
}

// Every way of cutting the stream into two or three pieces gives the same events, including a
// CRLF cut between its CR and its LF.
TEST(sse_stream_parser, split_anywhere) {
  const std::string s =
      ": hi\r\nretry: 10\r\nevent: e\r\nid: 9\r\ndata: 12345 x\r\ndata:y\r\n\r\n"
      "data: last\r\r\ndata: z\n\n";
  auto whole = parse_all(s);
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[1].data, "last");
  EXPECT_EQ(whole[2].data, "z");
  for (size_t i = 0; i <= s.size(); ++i) {
    for (size_t j = i; j <= s.size(); j += 7) {
      sse_stream_parser p;
      auto evs = parse_all(p, {s.substr(0, i), s.substr(i, j - i), s.substr(j)});
      ASSERT_EQ(evs, whole) << "cut at " << i << "," << j;
    }
  }
}

TEST(sse_stream_parser, byte_by_byte) {
  const std::string s = "data: 1\r\n\r\ndata: 2\r\rdata: 3\n\n";
  sse_stream_parser p;
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
