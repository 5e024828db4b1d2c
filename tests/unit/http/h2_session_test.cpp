// The HTTP/2 session in process, talking to nghttp2's client session over a socketpair: the
// connection starts as every cleartext connection does (an HTTP/1.1 session that sees the
// preface), and every assertion is on frames the client received (docs/api.md "HTTP/2 and TLS").
#include "http/h2_session.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "../../support/h2_client.hpp"
#include "../../support/in_process_server.hpp"

namespace sb {
namespace {

using namespace std::chrono_literals;
using testing::h2_client;
using testing::in_process_server;

class h2_session_test : public ::testing::Test {
 protected:
  h2_session_test() {
    w.config.http.h2_max_concurrent_streams = 2;
    w.config.http.h2_max_header_list_size = 2048;
    w.config.http.header_timeout = 10s;
    w.config.http.idle_timeout = 60s;
    w.config.sse.heartbeat = 15s;
    w.config.sse.retry_ms = 1;
  }

  void expect_still_serving() {
    h2_client other(w);
    auto id = other.request("GET", "/healthz");
    other.pump();
    EXPECT_EQ(other.at(id).headers[":status"], "200");
  }

  in_process_server w{[](server::config&) {}};
};

TEST_F(h2_session_test, the_server_settings_carry_the_limits_and_no_push) {
  h2_client c(w);
  c.pump();
  EXPECT_EQ(c.settings().at(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 2u);
  EXPECT_EQ(c.settings().at(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 2048u);
  EXPECT_EQ(c.settings().at(NGHTTP2_SETTINGS_ENABLE_PUSH), 0u);
}

TEST_F(h2_session_test, requests_are_answered_as_over_http1) {
  h2_client c(w);
  auto ok = c.request("GET", "/healthz");
  auto missing = c.request("GET", "/nowhere");
  c.pump();
  EXPECT_EQ(c.at(ok).headers[":status"], "200");
  EXPECT_TRUE(c.at(ok).closed);
  EXPECT_EQ(c.at(missing).headers[":status"], "404");
  EXPECT_EQ(c.at(missing).body, R"({"error":"not_found","message":"not found"})");
}

TEST_F(h2_session_test, an_sse_stream_over_h2_gets_its_preamble_and_live_messages) {
  auto first = w.publish("h2/1", "a");
  auto e = first.substr(0, first.find('-') + 1);
  h2_client c(w);
  auto one = c.request("GET", "/v1/events?topic=h2/1");
  auto two = c.request("GET", "/v1/events?topic=h2/1", {{"last-event-id", first}});
  c.pump();
  EXPECT_EQ(c.at(one).headers[":status"], "200");
  EXPECT_EQ(c.at(one).headers["content-type"], "text/event-stream");
  EXPECT_EQ(c.at(one).body, "retry: 1\nid: " + first + "\n\n");
  EXPECT_EQ(c.at(two).body, "retry: 1\nid: " + first + "\n\n");
  w.publish("h2/1", "b");
  c.pump();
  EXPECT_EQ(c.at(one).body, "retry: 1\nid: " + first + "\n\nid: " + e + "2\ndata: b\n\n");
  EXPECT_EQ(c.at(two).body, c.at(one).body);
  EXPECT_FALSE(c.at(one).closed);
}

TEST_F(h2_session_test, streams_over_the_concurrency_limit_are_refused) {
  h2_client c(w);
  // Sent before the server's SETTINGS arrive, so the client does not hold the third back.
  auto a = c.request("GET", "/v1/events?topic=h2/2");
  auto b = c.request("GET", "/v1/events?topic=h2/2");
  auto third = c.request("GET", "/v1/events?topic=h2/2");
  c.pump();
  EXPECT_EQ(c.at(a).headers[":status"], "200");
  EXPECT_EQ(c.at(b).headers[":status"], "200");
  EXPECT_EQ(c.at(third).headers.count(":status"), 0u);
  ASSERT_TRUE(c.at(third).reset.has_value());
  EXPECT_EQ(*c.at(third).reset, NGHTTP2_REFUSED_STREAM);
  EXPECT_FALSE(c.goaway().has_value());
  expect_still_serving();
}

TEST_F(h2_session_test, a_header_list_over_the_limit_is_a_431_on_its_stream) {
  h2_client c(w);
  auto big = c.request("GET", "/healthz", {{"x-big", std::string(2100, 'a')}});
  auto fine = c.request("GET", "/healthz");
  c.pump();
  EXPECT_EQ(c.at(big).headers[":status"], "431");
  EXPECT_EQ(c.at(fine).headers[":status"], "200");
  EXPECT_FALSE(c.goaway().has_value());
}

TEST_F(h2_session_test, a_header_list_far_over_the_limit_is_reset_with_enhance_your_calm) {
  h2_client c(w);
  auto huge = c.request("GET", "/healthz", {{"x-big", std::string(4 * 2048 + 100, 'a')}});
  c.pump();
  EXPECT_EQ(c.at(huge).headers.count(":status"), 0u);
  ASSERT_TRUE(c.at(huge).reset.has_value());
  EXPECT_EQ(*c.at(huge).reset, NGHTTP2_ENHANCE_YOUR_CALM);
  expect_still_serving();
}

TEST_F(h2_session_test, a_request_not_complete_within_header_timeout_is_a_408) {
  h2_client c(w);
  auto open = c.request("POST", "/v1/topics/h2/3", {{"content-length", "5"}}, false);
  c.pump();
  EXPECT_EQ(c.at(open).headers.count(":status"), 0u);
  w.advance(10s - 10ms);
  c.pump();
  EXPECT_EQ(c.at(open).headers.count(":status"), 0u);
  w.advance(10ms);
  c.pump();
  EXPECT_EQ(c.at(open).headers[":status"], "408");
  EXPECT_FALSE(c.hung_up());  // only the stream ends
}

TEST_F(h2_session_test, sse_streams_over_h2_get_one_heartbeat_per_interval_on_the_session_tick) {
  // One timer beats for every stream of the session, ticking at min(heartbeat, header_timeout)
  // = 10 s: a heartbeat is due 15 s after the last, so it leaves on the 20 s tick.
  h2_client c(w);
  auto id = c.request("GET", "/v1/events?topic=h2/4");
  auto other = c.request("GET", "/v1/events?topic=h2/5");
  c.pump();
  auto start = c.at(id).body;
  w.advance(20s - 10ms);
  c.pump();
  EXPECT_EQ(c.at(id).body, start);
  w.advance(10ms);
  c.pump();
  EXPECT_EQ(c.at(id).body, start + ":\n\n");
  EXPECT_EQ(c.at(other).body, c.at(id).body);
  w.advance(20s);
  c.pump();
  EXPECT_EQ(c.at(id).body, start + ":\n\n:\n\n");
}

TEST_F(h2_session_test, a_connection_without_streams_gets_goaway_after_idle_timeout) {
  h2_client c(w);
  auto id = c.request("GET", "/healthz");
  c.pump();
  EXPECT_EQ(c.at(id).headers[":status"], "200");
  w.advance(60s - 10ms);
  c.pump();
  EXPECT_FALSE(c.goaway().has_value());
  w.advance(10ms);
  c.pump();
  ASSERT_TRUE(c.goaway().has_value());
  EXPECT_EQ(*c.goaway(), NGHTTP2_NO_ERROR);
  EXPECT_TRUE(c.hung_up());
}

}  // namespace
}  // namespace sb
