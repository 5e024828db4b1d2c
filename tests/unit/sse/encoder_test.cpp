#include "sse/encoder.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sb::sse {
namespace {

std::shared_ptr<message> make(position pos, std::string event, std::string data) {
  auto m = std::make_shared<message>();
  m->topic = "t";
  m->pos = pos;
  m->event = std::move(event);
  m->data = std::move(data);
  encode_message(*m);
  return m;
}

TEST(SseEncoder, IdAndOneDataLine) {
  auto m = make({12, 3}, "", "hello");
  EXPECT_EQ(m->sse, "id: 12-3\ndata: hello\n\n");
  EXPECT_EQ(m->sse_event(), "id: 12-3\ndata: hello\n\n");
  EXPECT_EQ(m->sse_body(), "data: hello\n\n");
  EXPECT_EQ(m->sse_body_at, 9u);
}

TEST(SseEncoder, EventLineOnlyWhenTheMessageHasAType) {
  auto typed = make({1, 2}, "price", "42");
  EXPECT_EQ(typed->sse, "id: 1-2\nevent: price\ndata: 42\n\n");
  EXPECT_EQ(typed->sse_body(), "event: price\ndata: 42\n\n");
  auto plain = make({1, 3}, "", "42");
  EXPECT_EQ(plain->sse.find("event:"), std::string::npos);
}

TEST(SseEncoder, SplitsDataOnLf) {
  EXPECT_EQ(make({1, 1}, "", "a\nb\nc")->sse, "id: 1-1\ndata: a\ndata: b\ndata: c\n\n");
}

TEST(SseEncoder, SplitsDataOnCrLfAndCr) {
  EXPECT_EQ(make({1, 1}, "", "a\r\nb")->sse_body(), "data: a\ndata: b\n\n");
  EXPECT_EQ(make({1, 1}, "", "a\rb")->sse_body(), "data: a\ndata: b\n\n");
  // LF CR is two line ends, CR CR too.
  EXPECT_EQ(make({1, 1}, "", "a\n\rb")->sse_body(), "data: a\ndata: \ndata: b\n\n");
  EXPECT_EQ(make({1, 1}, "", "a\r\rb")->sse_body(), "data: a\ndata: \ndata: b\n\n");
  EXPECT_EQ(make({1, 1}, "", "a\r\n\r\nb")->sse_body(), "data: a\ndata: \ndata: b\n\n");
}

TEST(SseEncoder, LeadingAndTrailingLineEndsKeepTheirEmptyLines) {
  EXPECT_EQ(make({1, 1}, "", "a\n")->sse_body(), "data: a\ndata: \n\n");
  EXPECT_EQ(make({1, 1}, "", "\na")->sse_body(), "data: \ndata: a\n\n");
  EXPECT_EQ(make({1, 1}, "", "\r")->sse_body(), "data: \ndata: \n\n");
  EXPECT_EQ(make({1, 1}, "", "a\r\n")->sse_body(), "data: a\ndata: \n\n");
}

TEST(SseEncoder, EmptyDataIsOneEmptyDataLine) {
  // An event must carry a data line to be dispatched at all, even with empty data.
  EXPECT_EQ(make({5, 0}, "", "")->sse, "id: 5-0\ndata: \n\n");
}

TEST(SseEncoder, DataIsNotTrimmedOrEscaped) {
  EXPECT_EQ(make({1, 1}, "", " lead: and : colons ")->sse_body(), "data:  lead: and : colons \n\n");
  EXPECT_EQ(make({1, 1}, "", "{\"k\":\"v\"}")->sse_body(), "data: {\"k\":\"v\"}\n\n");
}

TEST(SseEncoder, ReencodingReplacesTheBytes) {
  message m;
  m.pos = {1, 1};
  m.data = "first";
  encode_message(m);
  EXPECT_EQ(m.data_copy(), "first");
  m.pos = {1, 2};
  m.event = "e";
  encode_message(m);
  EXPECT_EQ(m.sse, "id: 1-2\nevent: e\ndata: first\n\n");
  EXPECT_EQ(m.data_copy(), "first");
  m.data = "second";
  encode_message(m);
  EXPECT_EQ(m.sse, "id: 1-2\nevent: e\ndata: second\n\n");
  EXPECT_EQ(m.sse_body(), "event: e\ndata: second\n\n");
}

TEST(SseEncoder, DataIsKeptOnceInsideTheSseBytes) {
  auto one = make({1, 1}, "e", std::string(70000, 'x'));
  EXPECT_EQ(one->data_in, message::data_place::sse_whole);
  EXPECT_TRUE(one->data.empty());
  std::string scratch;
  EXPECT_EQ(one->data_view(scratch), std::string(70000, 'x'));
  EXPECT_TRUE(scratch.empty()) << "one line is read in place";
  EXPECT_LE(one->sse.capacity(), one->sse.size() + 16);

  for (std::string data : {"a\nb", "a\n", "\n", "\na", "a\n\nb\n\n", "{\n  \"k\": 1\n}"}) {
    auto lines = make({1, 2}, "e", data);
    EXPECT_EQ(lines->data_in, message::data_place::sse_lines) << data;
    EXPECT_TRUE(lines->data.empty());
    EXPECT_EQ(lines->data_copy(), data);
  }
  auto big = std::string(70000, 'y');
  for (std::size_t i = 80; i < big.size(); i += 81)
    big[i] = '\n';
  auto lines = make({1, 3}, "", big);
  EXPECT_EQ(lines->data_copy(), big);
  EXPECT_LE(lines->sse.capacity(), lines->sse.size() + big.size() / 80 + 16);

  for (std::string data : {"a\r\nb", "a\rb", "\r"}) {
    auto cr = make({1, 4}, "", data);
    EXPECT_EQ(cr->data_in, message::data_place::own) << "a CR is not kept by the SSE lines";
    EXPECT_EQ(cr->data_copy(), data);
  }
  EXPECT_EQ(make({1, 5}, "", "")->data_copy(), "");
}

TEST(SseEncoder, MaximalIds) {
  auto m = make({18446744073709551615ull, 18446744073709551615ull}, "", "x");
  EXPECT_EQ(m->sse, "id: 18446744073709551615-18446744073709551615\ndata: x\n\n");
  EXPECT_EQ(m->sse_body(), "data: x\n\n");
}

TEST(SseEncoder, IdLine) {
  EXPECT_EQ(id_line("7-9"), "id: 7-9\n");
  EXPECT_EQ(id_line("cAQECAwQBAg"), "id: cAQECAwQBAg\n");
}

TEST(SseEncoder, Preamble) {
  EXPECT_EQ(preamble(2000, "123-0"), "retry: 2000\nid: 123-0\n\n");
  EXPECT_EQ(preamble(100, "cAQECAwQBAg"), "retry: 100\nid: cAQECAwQBAg\n\n");
}

TEST(SseEncoder, GapEvent) {
  std::vector<std::string> one = {"orders/42"};
  EXPECT_EQ(gap_event(one), "event: gap\ndata: {\"topics\":[\"orders/42\"]}\n\n");
  std::vector<std::string> two = {"a", "b:c@d"};
  EXPECT_EQ(gap_event(two), "event: gap\ndata: {\"topics\":[\"a\",\"b:c@d\"]}\n\n");
  EXPECT_EQ(gap_event({}), "event: gap\ndata: {\"topics\":[]}\n\n");
}

TEST(SseEncoder, HeartbeatIsACommentEvent) {
  EXPECT_EQ(heartbeat(), ":\n\n");
}

TEST(SseEncoder, RetryField) {
  EXPECT_EQ(retry_field(1500), "retry: 1500\n\n");
}

}  // namespace
}  // namespace sb::sse
