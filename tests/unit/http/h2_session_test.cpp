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
  EXPECT_EQ(c.settings().at(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1u);
}

/// A masked client text frame (RFC 6455 §5.3: client frames are masked over HTTP/2 too).
std::string client_frame(std::uint8_t op, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | op));
  f.push_back(static_cast<char>(0x80 | payload.size()));  // short payloads only
  const char key[4] = {0x11, 0x22, 0x33, 0x44};
  f.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  }
  return f;
}

/// An unmasked final server frame with a short payload.
std::string server_frame(std::uint8_t op, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | op));
  f.push_back(static_cast<char>(payload.size()));
  f.append(payload);
  return f;
}

const std::vector<std::pair<std::string, std::string>> websocket_connect = {
    {":protocol", "websocket"},
    {"sec-websocket-version", "13"},
    {"sec-websocket-protocol", "switchboard.v1"}};

TEST_F(h2_session_test, an_extended_connect_runs_a_websocket_on_its_stream) {
  h2_client c(w);
  c.pump();  // the server's SETTINGS first: a client may use :protocol only once it saw them
  auto id = c.request("CONNECT", "/v1/ws", websocket_connect, false);
  c.pump();
  EXPECT_EQ(c.at(id).headers[":status"], "200");
  EXPECT_EQ(c.at(id).headers["sec-websocket-protocol"], "switchboard.v1");
  EXPECT_EQ(c.at(id).headers.count("sec-websocket-accept"), 0u);
  c.write(id, client_frame(1, R"({"op":"subscribe","topic":"h2/ws","ref":1})"));
  c.pump();
  EXPECT_EQ(c.at(id).body, server_frame(1, R"({"op":"ack","ref":1})"));
  auto pid = w.publish("h2/ws", "hi");
  c.pump();
  EXPECT_EQ(c.at(id).body, server_frame(1, R"({"op":"ack","ref":1})") +
                               server_frame(1, R"({"op":"message","topic":"h2/ws","id":")" + pid +
                                                   R"(","event":null,"data":"hi","from":null})"));
  // The close handshake: echoed, END_STREAM from both sides, the stream is closed cleanly.
  c.at(id).body.clear();
  c.write(id, client_frame(8, std::string("\x03\xe8", 2)), true);
  c.pump();
  EXPECT_EQ(c.at(id).body, std::string("\x88\x02\x03\xe8", 4));
  EXPECT_TRUE(c.at(id).ended);
  EXPECT_TRUE(c.at(id).closed);
  EXPECT_FALSE(c.at(id).reset.has_value());
  expect_still_serving();
}

TEST_F(h2_session_test, an_unmasked_frame_on_an_h2_websocket_is_closed_with_1002_on_that_stream) {
  h2_client c(w);
  c.pump();
  auto id = c.request("CONNECT", "/v1/ws", websocket_connect, false);
  auto sse = c.request("GET", "/v1/events?topic=h2/ws2");
  c.pump();
  c.write(id, server_frame(1, R"({"op":"ping"})"));  // unmasked
  c.pump();
  auto& body = c.at(id).body;
  ASSERT_GE(body.size(), 4u);
  EXPECT_EQ(static_cast<unsigned char>(body[0]), 0x88u);     // a close frame, unmasked
  EXPECT_EQ(body.substr(2, 2), std::string("\x03\xea", 2));  // 1002
  EXPECT_TRUE(c.at(id).ended);
  EXPECT_FALSE(c.at(sse).closed);  // the connection's other streams go on
  EXPECT_FALSE(c.hung_up());
}

TEST_F(h2_session_test, a_websocket_handshake_refused_on_h2_has_the_http1_status) {
  h2_client c(w);
  c.pump();
  auto get = c.request("GET", "/v1/ws");
  auto no_subprotocol = c.request(
      "CONNECT", "/v1/ws", {{":protocol", "websocket"}, {"sec-websocket-version", "13"}}, false);
  auto old_version = c.request("CONNECT", "/v1/ws",
                               {{":protocol", "websocket"},
                                {"sec-websocket-version", "8"},
                                {"sec-websocket-protocol", "switchboard.v1"}},
                               false);
  c.pump();
  EXPECT_EQ(c.at(get).headers[":status"], "426");
  EXPECT_EQ(c.at(no_subprotocol).headers[":status"], "400");
  EXPECT_EQ(c.at(old_version).headers[":status"], "426");
  EXPECT_EQ(c.at(old_version).headers["sec-websocket-version"], "13");
  expect_still_serving();
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

TEST_F(h2_session_test, an_sse_stream_whose_request_goes_on_after_its_head_keeps_streaming) {
  // The request's part of a stream is freed once it is an SSE stream: what the client still sends
  // on it (a body, END_STREAM) must find nothing it needs.
  auto first = w.publish("h2/late", "a");
  auto e = first.substr(0, first.find('-') + 1);
  h2_client c(w);
  auto id = c.request("GET", "/v1/events?topic=h2/late", {}, false);
  c.pump();
  EXPECT_EQ(c.at(id).headers[":status"], "200");
  c.write(id, "ignored body bytes");
  c.pump();
  c.write(id, "", true);
  c.pump();
  w.publish("h2/late", "b");
  c.pump();
  EXPECT_EQ(c.at(id).body, "retry: 1\nid: " + first + "\n\nid: " + e + "2\ndata: b\n\n");
  EXPECT_FALSE(c.at(id).closed);
  expect_still_serving();
}

}  // namespace
}  // namespace sb
