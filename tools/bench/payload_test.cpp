// Unit tests of the payload format and the target adapters' body templates.
#include <gtest/gtest.h>

#include <string>

#include "adapters.hpp"
#include "payload.hpp"

namespace bench {
namespace {

TEST(payload_stamp, round_trips_and_has_the_requested_size) {
  std::string d;
  make_payload(d, 1234567890123456789ull, 42, 64);
  EXPECT_EQ(d.size(), 64u);
  auto p = parse_payload(d);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->ts, 1234567890123456789ull);
  EXPECT_EQ(p->msgno, 42u);
  make_payload(d, 1, 2, 1);  // never shorter than its numbers
  EXPECT_EQ(d, "1 2 ");
}

TEST(payload_stamp, foreign_data_is_rejected) {
  EXPECT_FALSE(parse_payload(""));
  EXPECT_FALSE(parse_payload("hello"));
  EXPECT_FALSE(parse_payload("123"));
  EXPECT_FALSE(parse_payload("123 x"));
  EXPECT_TRUE(parse_payload("123 4"));
}

TEST(adapters, switchboard_and_nchan_templates) {
  auto sb = make_target("switchboard", "http://127.0.0.1:8080/");
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->sse_url, "http://127.0.0.1:8080/v1/events?topic={topic}");
  EXPECT_EQ(sb->pub_url, "http://127.0.0.1:8080/v1/topics/{topic}");
  EXPECT_EQ(sb->ws_url, "ws://127.0.0.1:8080/v1/ws");
  EXPECT_EQ(sb->ws_style, ws_flavor::switchboard_v1);
  auto nc = make_target("nchan", "http://127.0.0.1:9000");
  ASSERT_TRUE(nc);
  EXPECT_EQ(nc->ws_style, ws_flavor::raw);
  EXPECT_FALSE(make_target("nope", "http://127.0.0.1:1"));
  EXPECT_FALSE(make_target("switchboard", "ftp://x"));
}

TEST(adapters, pushpin_body_is_json_with_topic_and_data) {
  auto pp = make_target("pushpin", "http://127.0.0.1:7999");
  ASSERT_TRUE(pp);
  EXPECT_EQ(pp->pub_url, "http://127.0.0.1:5561/publish/");
  body_template b = split_body(pp->pub_body, "bench", true);
  std::string out;
  b.append(out, "1 2 \"q\"");
  EXPECT_EQ(
      out,
      R"({"items":[{"channel":"bench","formats":{"http-stream":{"content":"data: 1 2 \"q\"\n\n"}}}]})");
  EXPECT_EQ(b.size(3), b.head.size() + 3 + b.tail.size());
}

}  // namespace
}  // namespace bench
