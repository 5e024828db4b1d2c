// Unit tests of the generator's URL templates and HTTP/1.1 response reader.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "http_response.hpp"

namespace bench {
namespace {

TEST(parsed_url, parses_templates) {
  auto u = parse_url("http://127.0.0.1:8080/v1/events?topic={topic}", "bench");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/v1/events?topic=bench");
  EXPECT_EQ(u->host_header, "127.0.0.1:8080");
  auto v = parse_url("http://localhost", "x");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->host, "127.0.0.1");
  EXPECT_EQ(v->port, 80);
  EXPECT_EQ(v->target, "/");
  EXPECT_FALSE(parse_url("https://127.0.0.1/", "x"));
  EXPECT_FALSE(parse_url("http://127.0.0.1:99999/", "x"));
}

struct collector {
  std::vector<int> statuses;
  std::string body;
  int complete = 0;
  bool on_head(const response_head& h) {
    statuses.push_back(h.status);
    return true;
  }
  void on_body(std::string_view b) { body.append(b); }
  void on_complete() { ++complete; }
};

TEST(response_reader, pipelined_content_length_responses) {
  std::string s =
      "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello"
      "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
      "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    response_reader r;
    collector c;
    ASSERT_TRUE(r.feed(std::string_view(s).substr(0, cut), c));
    ASSERT_TRUE(r.feed(std::string_view(s).substr(cut), c));
    EXPECT_EQ(c.statuses, (std::vector<int>{201, 202, 400}));
    EXPECT_EQ(c.body, "hellobad");
    EXPECT_EQ(c.complete, 3);
  }
}

TEST(response_reader, chunked_stream) {
  std::string s =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
      "7\r\nretry: \r\n5;ext=1\r\n2000\n\r\n"
      "a\r\ndata: 1\n\n\n\r\n0\r\n\r\n";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    response_reader r;
    collector c;
    ASSERT_TRUE(r.feed(std::string_view(s).substr(0, cut), c)) << r.error();
    ASSERT_TRUE(r.feed(std::string_view(s).substr(cut), c)) << r.error();
    EXPECT_EQ(c.body, "retry: 2000\ndata: 1\n\n\n");
    EXPECT_EQ(c.complete, 1);
    EXPECT_TRUE(r.head().chunked);
    EXPECT_EQ(r.head().content_type, "text/event-stream");
  }
}

TEST(response_reader, until_close_and_errors) {
  response_reader r;
  collector c;
  ASSERT_TRUE(r.feed("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n", c));
  EXPECT_EQ(c.body, "data: x\n\n");
  EXPECT_EQ(c.complete, 0);
  EXPECT_TRUE(r.in_body());

  response_reader bad;
  collector d;
  EXPECT_FALSE(bad.feed("SPDY/3 200 OK\r\n\r\n", d));
  response_reader badchunk;
  EXPECT_FALSE(badchunk.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", d));
}

TEST(response_reader, connection_close) {
  response_reader r;
  collector c;
  ASSERT_TRUE(r.feed("HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", c));
  EXPECT_TRUE(r.head().close);
  EXPECT_EQ(c.complete, 1);
}

}  // namespace
}  // namespace bench
