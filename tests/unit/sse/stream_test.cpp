// The SSE stream over HTTP/1.1, in process: requests are bytes written into a socketpair, and
// every assertion is on the bytes the server wrote back (docs/api.md "SSE"), with the loop's
// clock moved by hand for heartbeats.
#include "sse/stream.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>

#include "../../support/in_process_server.hpp"

namespace sb {
namespace {

using namespace std::chrono_literals;
using testing::in_process_server;
using testing::peer_socket;

constexpr std::string_view events_head =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-store\r\n"
    "X-Accel-Buffering: no\r\n"
    "Connection: close\r\n\r\n";

class sse_stream_test : public ::testing::Test {
 protected:
  sse_stream_test() {
    w.config.sse.retry_ms = 1;  // jittered in [1, 2): exactly 1, so the bytes can be compared
    w.config.sse.heartbeat = 15s;
  }

  /// Opens GET `target` with `extra` header lines and gives back what arrived after the head.
  std::string open(peer_socket& peer, std::string_view target, std::string_view extra = {},
                   int send_buffer = 0) {
    w.accept(peer, send_buffer);
    peer.write("GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) +
               "\r\n");
    w.run();
    auto got = peer.read();
    EXPECT_EQ(got.substr(0, events_head.size()), events_head);
    return got.size() < events_head.size() ? std::string() : got.substr(events_head.size());
  }

  /// The epoch of `id` ("<epoch>-<seq>") with its dash.
  static std::string epoch_of(const std::string& id) { return id.substr(0, id.find('-') + 1); }

  /// Another client can still be served.
  void expect_still_serving() {
    auto answer = w.request("GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(answer.substr(0, 15), "HTTP/1.1 200 OK") << answer;
  }

  in_process_server w{[](server::config&) {}};
};

// An idle SSE connection's handler: with malloc's header, a 160-byte block.
TEST(sse_stream_size, an_idle_h1_stream_fits_a_160_byte_block) {
  EXPECT_LE(sizeof(sse::h1_stream), 152u);
}

TEST_F(sse_stream_test, a_new_stream_starts_with_retry_and_the_topics_head_position) {
  auto first = w.publish("orders/1", "a");
  ASSERT_FALSE(first.empty());
  peer_socket peer;
  EXPECT_EQ(open(peer, "/v1/events?topic=orders/1"), "retry: 1\nid: " + first + "\n\n");
  auto e = epoch_of(first);
  auto second = w.publish("orders/1", "b\nc");
  EXPECT_EQ(second, e + "2");
  w.run();
  EXPECT_EQ(peer.read(), "id: " + e + "2\ndata: b\ndata: c\n\n");
  EXPECT_FALSE(peer.hung_up());
}

TEST_F(sse_stream_test, resume_replays_after_the_position_in_order_and_skips_the_retained) {
  auto e = epoch_of(w.publish("orders/2", "one"));
  w.publish("orders/2", "two", "retain=true");
  w.publish("orders/2", "three");
  peer_socket peer;
  // Last-Event-ID wins over ?since=.
  EXPECT_EQ(
      open(peer, "/v1/events?topic=orders/2&since=" + e + "2", "Last-Event-ID: " + e + "1\r\n"),
      "retry: 1\nid: " + e +
          "1\n\n"
          "id: " +
          e +
          "2\ndata: two\n\n"
          "id: " +
          e + "3\ndata: three\n\n");
}

TEST_F(sse_stream_test, an_unrecoverable_position_gives_a_gap_then_the_retained_at_the_head) {
  auto e = epoch_of(w.publish("orders/3", "one", "retain=1"));
  w.publish("orders/3", "two");
  peer_socket peer;
  // A foreign Last-Event-ID is never an error: the topic gets a gap, then its retained message
  // with the stream's current id (the head), then live.
  EXPECT_EQ(open(peer, "/v1/events?topic=orders/3", "Last-Event-ID: not-an-id\r\n"),
            "retry: 1\nid: " + e +
                "2\n\n"
                "event: gap\ndata: {\"topics\":[\"orders/3\"]}\n\n"
                "id: " +
                e + "2\ndata: one\n\n");
  w.publish("orders/3", "three");
  w.run();
  EXPECT_EQ(peer.read(), "id: " + e + "3\ndata: three\n\n");
}

TEST_F(sse_stream_test, a_fresh_stream_gets_the_retained_message_with_its_current_id_then_live) {
  auto e = epoch_of(w.publish("status/1", "old"));
  w.publish("status/1", "current", "retain=true");
  w.publish("status/1", "not retained");
  peer_socket peer;
  // The retained message is the topic's state: it carries the stream's id (the head, 3), so a
  // reconnect does not replay what came after it.
  EXPECT_EQ(open(peer, "/v1/events?topic=status/1"), "retry: 1\nid: " + e +
                                                         "3\n\n"
                                                         "id: " +
                                                         e + "3\ndata: current\n\n");
  w.publish("status/1", "next");
  w.run();
  EXPECT_EQ(peer.read(), "id: " + e + "4\ndata: next\n\n");
}

TEST_F(sse_stream_test, a_malformed_since_is_a_400_and_the_server_serves_on) {
  auto answer = w.request(
      "GET /v1/events?topic=orders/4&since=zz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answer.substr(0, 25), "HTTP/1.1 400 Bad Request\r") << answer;
  EXPECT_NE(answer.find("\"error\":\"invalid_position\""), std::string::npos) << answer;
  expect_still_serving();
}

TEST_F(sse_stream_test, heartbeats_come_exactly_every_interval) {
  peer_socket peer;
  open(peer, "/v1/events?topic=quiet/1");
  w.advance(15s - 10ms);
  EXPECT_EQ(peer.read(), "");
  w.advance(10ms);
  EXPECT_EQ(peer.read(), ":\n\n");
  w.advance(15s - 10ms);
  EXPECT_EQ(peer.read(), "");
  w.advance(10ms);
  EXPECT_EQ(peer.read(), ":\n\n");
  EXPECT_FALSE(peer.hung_up());
}

TEST_F(sse_stream_test, a_multi_topic_stream_puts_its_cursor_before_each_shared_body) {
  peer_socket peer;
  auto start = open(peer, "/v1/events?topic=multi/a&topic=multi/b&topic=multi/a");
  ASSERT_EQ(start.substr(0, 13), "retry: 1\nid: ");
  auto first_cursor = start.substr(13, start.size() - 15);
  w.publish("multi/b", "hi");
  w.run();
  auto got = peer.read();
  ASSERT_EQ(got.substr(0, 4), "id: ");
  auto cursor = got.substr(4, got.find('\n') - 4);
  EXPECT_NE(cursor, first_cursor);  // one topic moved
  EXPECT_EQ(got.substr(got.find('\n') + 1), "data: hi\n\n");
  // The cursor is a resume position: resuming from it replays nothing.
  peer_socket again;
  EXPECT_EQ(
      open(again, "/v1/events?topic=multi/a&topic=multi/b", "Last-Event-ID: " + cursor + "\r\n"),
      "retry: 1\nid: " + cursor + "\n\n");
}

TEST_F(sse_stream_test, on_drain_a_stream_gets_a_retry_and_ends) {
  peer_socket peer;
  open(peer, "/v1/events?topic=drain/1");
  w.drain();
  EXPECT_EQ(peer.read(), "retry: 1\n\n");
  EXPECT_TRUE(peer.hung_up());
  // While draining, new streams are refused.
  auto answer =
      w.request("GET /v1/events?topic=drain/1 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answer.substr(0, answer.find("\r\n")), "HTTP/1.1 503 Service Unavailable");
}

/// A stream whose reader stopped: the server's socket buffer is small, so what the peer does not
/// read waits in the connection's queue and the stream's feed, where the bounds apply.
class slow_sse_stream_test : public sse_stream_test {
 protected:
  void SetUp() override {
    // the socket queue holds at most high_water() = min(hard, soft) / 2 = 4 KiB before the feed
    w.config.subscribers.backlog = {
        .hard_bytes = 1 << 20, .soft_bytes = 8 << 10, .soft_for = 300ms};
  }
  void fill(int messages) {
    std::string data(1000, 'x');
    for (int i = 0; i < messages; ++i) {
      ASSERT_FALSE(w.publish("slow/1", data).empty());
    }
  }
  /// Reads until the server stops writing; the bytes it got.
  std::string read_everything(peer_socket& peer) {
    std::string all;
    for (int i = 0; i < 1000; ++i) {
      auto got = peer.read();
      w.run();
      if (got.empty() && (peer.hung_up() || i > 10)) {
        break;
      }
      all += got;
    }
    return all;
  }
};

TEST_F(slow_sse_stream_test, over_the_soft_bound_past_its_time_the_heartbeat_closes_the_stream) {
  peer_socket peer;
  open(peer, "/v1/events?topic=slow/1", {}, 4096);
  fill(60);  // 60 KB: more than the socket takes, over the soft bound, under the hard one
  EXPECT_EQ(w.counters.sse.slow_consumer_closes.get(), 0u);  // within the soft bound's time
  // The soft bound's time is read from steady_clock by the delivery code (sse/stream.cpp, not
  // the loop's clock): let it run out for real, then the heartbeat, on the fake clock, judges the
  // quiet stream overdue, with no message arriving to do it.
  std::this_thread::sleep_for(350ms);
  w.advance(15s);
  auto got = read_everything(peer);
  EXPECT_TRUE(peer.hung_up());
  EXPECT_EQ(got.find(":\n\n"), std::string::npos);  // closed instead of the heartbeat
  EXPECT_EQ(w.counters.sse.slow_consumer_closes.get(), 1u);
  expect_still_serving();
}

TEST_F(slow_sse_stream_test, under_its_time_the_stream_is_kept_and_gets_its_heartbeat) {
  w.config.subscribers.backlog.soft_for = 1h;
  peer_socket peer;
  open(peer, "/v1/events?topic=slow/1", {}, 4096);
  fill(400);  // 400 KB: more than the socket takes, for 15 s of fake time
  w.advance(15s);
  auto got = read_everything(peer);
  EXPECT_FALSE(peer.hung_up());
  EXPECT_EQ(w.counters.sse.slow_consumer_closes.get(), 0u);
  // Every message arrived, and the heartbeat (written past the backlog waiting in the feed).
  auto last = got.rfind("id: ");
  ASSERT_NE(last, std::string::npos);
  EXPECT_EQ(got.substr(got.find('-', last) + 1, 4), "400\n");
  EXPECT_NE(got.find(":\n\n"), std::string::npos);
}

}  // namespace
}  // namespace sb
