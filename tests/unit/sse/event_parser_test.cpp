#include "sse/event_parser.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace sb::sse {
namespace {

struct ev {
  std::string event;
  std::string data;
  std::string id;
  friend bool operator==(const ev&, const ev&) = default;
};

std::ostream& operator<<(std::ostream& os, const ev& e) {
  return os << "{event=\"" << e.event << "\" data=\"" << e.data << "\" id=\"" << e.id << "\"}";
}

using events = std::vector<ev>;

/// Parses `input` in one feed.
events parse(std::string_view input, std::size_t max = 1 << 16) {
  events out;
  event_parser p(max, [&](parsed_event&& e) { out.push_back({e.event, e.data, e.id}); });
  EXPECT_TRUE(p.feed(input));
  p.finish();
  return out;
}

/// Parses `input` one byte per feed.
events parse_bytewise(std::string_view input, std::size_t max = 1 << 16) {
  events out;
  event_parser p(max, [&](parsed_event&& e) { out.push_back({e.event, e.data, e.id}); });
  for (char c : input) {
    EXPECT_TRUE(p.feed(std::string_view(&c, 1)));
  }
  p.finish();
  return out;
}

/// Both ways must agree; returns the one-feed result.
events parse_both(std::string_view input) {
  auto whole = parse(input);
  EXPECT_EQ(parse_bytewise(input), whole) << "byte-by-byte differs for: " << input;
  return whole;
}

TEST(SseEventParser, OneEvent) {
  EXPECT_EQ(parse_both("data: hello\n\n"), (events{{"", "hello", ""}}));
}

TEST(SseEventParser, EventIdAndDataFields) {
  EXPECT_EQ(parse_both("event: price\nid: 7\ndata: 42\n\n"), (events{{"price", "42", "7"}}));
  EXPECT_EQ(parse_both("event: a\nevent: b\ndata: x\n\n"), (events{{"b", "x", ""}}));  // last wins
}

TEST(SseEventParser, SeveralEventsInOrder) {
  EXPECT_EQ(parse_both("data: 1\n\ndata: 2\n\nevent: e\ndata: 3\n\n"),
            (events{{"", "1", ""}, {"", "2", ""}, {"e", "3", ""}}));
}

TEST(SseEventParser, EachEventIsHandedOutWhenItsBlankLineArrives) {
  events out;
  event_parser p(1024, [&](parsed_event&& e) { out.push_back({e.event, e.data, e.id}); });
  ASSERT_TRUE(p.feed("data: tok"));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(p.feed("en1\n"));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(p.feed("\nda"));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "token1");
  ASSERT_TRUE(p.feed("ta: token2\n\n"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].data, "token2");
}

TEST(SseEventParser, ArbitrarySplitsGiveTheSameEvents) {
  const std::string input =
      "\xEF\xBB\xBF: hi\r\nevent: a\r\ndata: x\r\ndata:y\r\n\r\ndata: z\rid: 9\r\rdata\n\n";
  const events want = {{"a", "x\ny", ""}, {"", "z", "9"}, {"", "", ""}};
  EXPECT_EQ(parse(input), want);
  EXPECT_EQ(parse_bytewise(input), want);
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    events out;
    event_parser p(1024, [&](parsed_event&& e) { out.push_back({e.event, e.data, e.id}); });
    std::size_t at = 0;
    while (at < input.size()) {
      auto n = std::min<std::size_t>(input.size() - at, rng() % 6);
      ASSERT_TRUE(p.feed(std::string_view(input).substr(at, n)));
      at += n;
    }
    EXPECT_EQ(out, want) << "round " << round;
  }
}

TEST(SseEventParser, LineEndsLfCrLfAndCr) {
  EXPECT_EQ(parse_both("data: a\n\n"), (events{{"", "a", ""}}));
  EXPECT_EQ(parse_both("data: a\r\n\r\n"), (events{{"", "a", ""}}));
  EXPECT_EQ(parse_both("data: a\r\r"), (events{{"", "a", ""}}));
  EXPECT_EQ(parse_both("data: a\r\ndata: b\rdata: c\n\r\n"), (events{{"", "a\nb\nc", ""}}));
  // LF CR is two line ends (the CR is not part of a CRLF), so it ends the event.
  EXPECT_EQ(parse_both("data: a\n\rdata: b\n\n"), (events{{"", "a", ""}, {"", "b", ""}}));
}

TEST(SseEventParser, CrLfSplitAcrossFeedsIsOneLineEnd) {
  events out;
  event_parser p(1024, [&](parsed_event&& e) { out.push_back({e.event, e.data, e.id}); });
  ASSERT_TRUE(p.feed("data: a\r"));
  ASSERT_TRUE(p.feed("\ndata: b\r"));
  EXPECT_TRUE(out.empty());     // a lone CR then LF must not be read as an empty line
  ASSERT_TRUE(p.feed("\n\r"));  // LF ends "data: b"'s CRLF; the CR ends an empty line
  EXPECT_EQ(out, (events{{"", "a\nb", ""}}));
  ASSERT_TRUE(p.feed("\n"));  // the LF of that CRLF: no second empty line, nothing else
  ASSERT_TRUE(p.feed("data: c\n\n"));
  EXPECT_EQ(out, (events{{"", "a\nb", ""}, {"", "c", ""}}));
}

TEST(SseEventParser, CommentsAreIgnored) {
  EXPECT_EQ(parse_both(": comment\ndata: x\n: another\n\n"), (events{{"", "x", ""}}));
  EXPECT_EQ(parse_both(":\n\n: keep-alive\n\n"), events{});
  EXPECT_EQ(parse_both(":data: not data\n\n"), events{});
}

TEST(SseEventParser, DataWithoutColonIsAnEmptyDataLine) {
  EXPECT_EQ(parse_both("data\n\n"), (events{{"", "", ""}}));
  EXPECT_EQ(parse_both("data\ndata\n\n"), (events{{"", "\n", ""}}));
  EXPECT_EQ(parse_both("data: a\ndata\ndata: b\n\n"), (events{{"", "a\n\nb", ""}}));
}

TEST(SseEventParser, EmptyDataValueStillDispatches) {
  EXPECT_EQ(parse_both("data:\n\n"), (events{{"", "", ""}}));
  EXPECT_EQ(parse_both("data: \n\n"), (events{{"", "", ""}}));
}

TEST(SseEventParser, OneLeadingSpaceIsStripped) {
  EXPECT_EQ(parse_both("data:x\n\n"), (events{{"", "x", ""}}));
  EXPECT_EQ(parse_both("data: x\n\n"), (events{{"", "x", ""}}));
  EXPECT_EQ(parse_both("data:  x\n\n"), (events{{"", " x", ""}}));
  EXPECT_EQ(parse_both("data:\tx\n\n"), (events{{"", "\tx", ""}}));
  EXPECT_EQ(parse_both("data: x \n\n"), (events{{"", "x ", ""}}));
  EXPECT_EQ(parse_both("event:  e\ndata: d\n\n"), (events{{" e", "d", ""}}));
}

TEST(SseEventParser, OnlyTheFirstColonSplits) {
  EXPECT_EQ(parse_both("data: a: b:c\n\n"), (events{{"", "a: b:c", ""}}));
}

TEST(SseEventParser, MultipleDataLinesAreJoinedWithLf) {
  EXPECT_EQ(parse_both("data: one\ndata: two\ndata: three\n\n"),
            (events{{"", "one\ntwo\nthree", ""}}));
  EXPECT_EQ(parse_both("data: one\ndata:\n\n"), (events{{"", "one\n", ""}}));
}

TEST(SseEventParser, EventWithoutDataIsNotDispatched) {
  EXPECT_EQ(parse_both("event: lonely\n\n"), events{});
  EXPECT_EQ(parse_both("id: 3\n\n"), events{});
  // Its type does not leak into the next event.
  EXPECT_EQ(parse_both("event: lonely\n\ndata: x\n\n"), (events{{"", "x", ""}}));
}

TEST(SseEventParser, UnknownAndMisspelledFieldsAreIgnored) {
  EXPECT_EQ(parse_both("retry: 10\nfoo: bar\ndata: x\n\n"), (events{{"", "x", ""}}));
  EXPECT_EQ(parse_both("Data: x\n\n"), events{});   // field names are case-sensitive
  EXPECT_EQ(parse_both("data : x\n\n"), events{});  // "data " is another field
  EXPECT_EQ(parse_both(" data: x\n\n"), events{});
}

TEST(SseEventParser, IdWithNulIsIgnored) {
  EXPECT_EQ(parse_both(std::string("id: 1\nid: a\0b\ndata: x\n\n", 23)), (events{{"", "x", "1"}}));
}

TEST(SseEventParser, UnterminatedLastEventIsDiscarded) {
  EXPECT_EQ(parse_both("data: complete\n\ndata: partial\n"), (events{{"", "complete", ""}}));
  EXPECT_EQ(parse_both("data: partial"), events{});
}

TEST(SseEventParser, LeadingBomIsStripped) {
  EXPECT_EQ(parse_both("\xEF\xBB\xBF"
                       "data: a\n\n"),
            (events{{"", "a", ""}}));
  EXPECT_EQ(parse_both("\xEF\xBB\xBF\n"
                       "data: a\n\n"),
            (events{{"", "a", ""}}));
}

TEST(SseEventParser, OnlyOneBomAtTheStartOfTheStreamIsStripped) {
  // WHATWG: one leading U+FEFF is skipped; any other BOM is part of a line, so "\uFEFFdata" is an
  // unknown field and the event below has no data.
  EXPECT_EQ(parse_both("data: a\n\n\xEF\xBB\xBF"
                       "data: b\n\n"),
            (events{{"", "a", ""}}));
  EXPECT_EQ(parse_both("\xEF\xBB\xBF\xEF\xBB\xBF"
                       "data: b\n\n"),
            events{});
}

TEST(SseEventParser, NonBomLeadingBytesAreData) {
  EXPECT_EQ(parse_both("\xEF\xBC\xA1: x\ndata: \xEF\xBC\xA1\n\n"),
            (events{{"", "\xEF\xBC\xA1", ""}}));
}

TEST(SseEventParser, SizeLimitReturnsFalse) {
  events out;
  event_parser p(16, [&](parsed_event&& e) { out.push_back({e.event, e.data, e.id}); });
  EXPECT_FALSE(p.feed("data: " + std::string(40, 'x')));
  EXPECT_TRUE(out.empty());
}

TEST(SseEventParser, SizeLimitCountsTheWholeEventAcrossLinesAndFeeds) {
  events out;
  event_parser p(16, [&](parsed_event&& e) { out.push_back({e.event, e.data, e.id}); });
  EXPECT_TRUE(p.feed("data: 0123456\n"));
  EXPECT_TRUE(p.feed("data: 01"));
  EXPECT_FALSE(p.feed("23456\n"));  // 8 bytes pending + this line is over 16
  EXPECT_TRUE(out.empty());
}

TEST(SseEventParser, SizeLimitIsPerEventNotPerStream) {
  events out;
  event_parser p(16, [&](parsed_event&& e) { out.push_back({e.event, e.data, e.id}); });
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(p.feed("data: 0123456\n\n")) << i;
  }
  EXPECT_EQ(out.size(), 100u);
  EXPECT_EQ(out.back().data, "0123456");
}

TEST(SseEventParser, SizeLimitCountsTheEventType) {
  events out;
  event_parser p(16, [&](parsed_event&& e) { out.push_back({e.event, e.data, e.id}); });
  EXPECT_TRUE(p.feed("event: 01234\n"));
  EXPECT_FALSE(p.feed("data: 0123456789\n"));
  // The same data line alone fits.
  event_parser alone(16, [&](parsed_event&& e) { out.push_back({e.event, e.data, e.id}); });
  EXPECT_TRUE(alone.feed("data: 0123456789\n"));
}

}  // namespace
}  // namespace sb::sse
