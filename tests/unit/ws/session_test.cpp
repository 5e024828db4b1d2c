// The WebSocket session in process: the upgrade and every frame are bytes written into a
// socketpair, every assertion is on the frames written back (docs/api.md "WebSocket:
// switchboard.v1"), and the loop's clock is moved by hand for pings and message deadlines.
#include "ws/session.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <string>
#include <vector>

#include "../../support/in_process_server.hpp"
#include "../../support/ws_wire.hpp"

namespace sb {
namespace {

using namespace std::chrono_literals;
using testing::client_frame;
using testing::in_process_server;
using testing::peer_socket;
using testing::server_frames;
using testing::text_frame;
using testing::ws_frame;

constexpr std::uint8_t op_text = 1, op_binary = 2, op_close = 8, op_ping = 9, op_pong = 10;

// RFC 6455 §1.3's example key and its accept value.
constexpr std::string_view upgrade =
    "GET /v1/ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: switchboard.v1\r\n\r\n";
constexpr std::string_view switching =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: switchboard.v1\r\n\r\n";

/// The first bytes of `s`, as long as `prefix`: EXPECT_EQ(head(s, p), p) shows both on failure.
std::string head(const std::string& s, std::string_view prefix) {
  return s.substr(0, prefix.size());
}

/// One WebSocket client: its socket and the server bytes not yet made into frames.
struct ws_client {
  peer_socket peer;
  std::string pending;

  std::vector<ws_frame> frames() {
    pending += peer.read();
    return server_frames(pending);
  }
  /// The payloads of the text frames received, failing on any other kind.
  std::vector<std::string> texts() {
    std::vector<std::string> out;
    for (auto& f : frames()) {
      EXPECT_EQ(f.opcode, op_text) << f.payload;
      out.push_back(f.payload);
    }
    return out;
  }
};

class ws_session_test : public ::testing::Test {
 protected:
  ws_session_test() {
    w.config.ws.ping_interval = 25s;
    w.config.ws.message_timeout = 10s;
    // frames up to max_frame_bytes(messages) = 2 * 1024 + 4096 bytes
    w.config.messages.max_message_bytes = 1024;
  }

  /// Upgrades a new connection; the 101 is checked and consumed. `send_buffer`: as for
  /// in_process_server::accept.
  void open(ws_client& c, int send_buffer = 0) {
    w.accept(c.peer, send_buffer);
    c.peer.write(upgrade);
    w.run();
    auto head = c.peer.read();
    EXPECT_EQ(head.substr(0, switching.size()), switching);
    c.pending = head.size() > switching.size() ? head.substr(switching.size()) : "";
  }
  void send(ws_client& c, std::string_view op) {
    c.peer.write(text_frame(op));
    w.run();
  }
  /// The connection ended with a close frame of `code` (and nothing after it).
  void expect_closed_with(ws_client& c, std::uint16_t code, std::string_view reason = {}) {
    auto got = c.frames();
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got.back().opcode, op_close);
    EXPECT_EQ(got.back().close_code(), code) << got.back().close_reason();
    if (!reason.empty()) {
      EXPECT_EQ(got.back().close_reason(), reason);
    }
    // The server lingers for the peer's close; the peer hangs up as a client does.
    c.peer.shutdown_write();
    w.run();
    c.frames();
    EXPECT_TRUE(c.peer.hung_up());
  }
  void expect_still_serving() {
    ws_client other;
    open(other);
    send(other, R"({"op":"ping","ref":"still"})");
    EXPECT_EQ(other.texts(), std::vector<std::string>{R"({"op":"pong","ref":"still"})"});
  }

  in_process_server w{[](server::config&) {}};
};

/// Raw deflate as a client compresses a message (no context kept), without the 00 00 FF FF tail;
/// or, with `inflate`, the other way (the tail put back).
std::string zlib_raw(std::string_view in, bool inflate) {
  z_stream z{};
  EXPECT_EQ(
      inflate ? inflateInit2(&z, -15) : deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY),
      Z_OK);
  std::string input(in);
  if (inflate) {
    input.append("\0\0\xff\xff", 4);
  }
  std::string out(input.size() * 4 + (inflate ? 1 << 16 : 64), '\0');
  z.next_in = reinterpret_cast<Bytef*>(input.data());
  z.avail_in = static_cast<uInt>(input.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate ? ::inflate(&z, Z_SYNC_FLUSH) : ::deflate(&z, Z_SYNC_FLUSH), Z_OK);
  out.resize(out.size() - z.avail_out - (inflate ? 0 : 4));
  inflate ? inflateEnd(&z) : deflateEnd(&z);
  return out;
}

TEST_F(ws_session_test, permessage_deflate_shares_compressed_frames_and_inflates_client_messages) {
  ws_client z, plain;
  w.accept(z.peer);
  std::string offer(upgrade);
  offer.insert(offer.size() - 2,
               "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
  z.peer.write(offer);
  w.run();
  auto head = z.peer.read();
  auto end = head.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  EXPECT_NE(
      head.find("\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                "client_max_window_bits=12\r\n"),
      std::string::npos)
      << head;
  z.pending = head.substr(end + 4);
  open(plain);
  // A compressed subscribe (RSV1); the short ack comes back plain.
  z.peer.write(client_frame(0x41, zlib_raw(R"({"op":"subscribe","topic":"z/1","ref":1})", false)));
  w.run();
  auto ack = z.frames();
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(ack[0].rsv, 0);
  EXPECT_EQ(ack[0].payload, R"({"op":"ack","ref":1})");
  send(plain, R"({"op":"subscribe","topic":"z/1","ref":1})");
  plain.texts();

  std::string data;
  for (int i = 0; i < 40; ++i) {
    data += "price " + std::to_string(100 + i % 7) + " for item " + std::to_string(i % 5) + "; ";
  }
  auto id = w.publish("z/1", data);
  ASSERT_FALSE(id.empty());
  auto got = z.frames();
  auto want = plain.frames();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(want.size(), 1u);
  EXPECT_EQ(got[0].rsv, 4) << "RSV1: compressed";
  EXPECT_EQ(want[0].rsv, 0);
  EXPECT_LT(got[0].payload.size() * 3, want[0].payload.size());
  EXPECT_EQ(zlib_raw(got[0].payload, true), want[0].payload) << "the same JSON, inflated";

  // A bomb: 1 MiB of spaces in ~1 KiB, over the 6 KiB bound once inflated.
  z.peer.write(client_frame(
      0x41, zlib_raw(R"({"op":"ping","ref":")" + std::string(1 << 20, ' ') + "\"}", false)));
  w.run();
  expect_closed_with(z, 1009, "message too big");
  expect_still_serving();
}

TEST_F(ws_session_test, the_upgrade_is_a_101_with_the_rfc_accept_and_the_subprotocol) {
  ws_client c;
  open(c);
  send(c, R"({"op":"ping","ref":9})");
  EXPECT_EQ(c.texts(), std::vector<std::string>{R"({"op":"pong","ref":9})"});
}

TEST_F(ws_session_test, an_upgrade_without_version_13_is_a_426_and_the_server_serves_on) {
  auto answer = w.request(
      "GET /v1/ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
      "Sec-WebSocket-Protocol: switchboard.v1\r\n\r\n");
  EXPECT_EQ(answer.substr(0, answer.find("\r\n")), "HTTP/1.1 426 Upgrade Required");
  EXPECT_NE(answer.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"error\":\"websocket_handshake\""), std::string::npos) << answer;
  expect_still_serving();
}

TEST_F(ws_session_test, subscribers_get_the_shared_message_frame_and_the_publisher_its_ack) {
  ws_client sub, pub;
  open(sub);
  open(pub);
  send(sub, R"({"op":"subscribe","topic":"room/1","ref":1})");
  EXPECT_EQ(sub.texts(), std::vector<std::string>{R"({"op":"ack","ref":1})"});
  send(pub, R"({"op":"publish","topic":"room/1","data":"hi","event":"chat","ref":"p1"})");
  auto acks = pub.texts();
  ASSERT_EQ(acks.size(), 1u);
  auto id_at = acks[0].find(R"("id":")");
  ASSERT_NE(id_at, std::string::npos) << acks[0];
  auto id = acks[0].substr(id_at + 6, acks[0].find('"', id_at + 6) - id_at - 6);
  EXPECT_EQ(acks[0], R"({"op":"ack","ref":"p1","id":")" + id + R"("})");
  auto got = sub.texts();
  ASSERT_EQ(got.size(), 1u);
  // `from` is the publisher's connection id (no token subject): c<N>.
  std::string frame = R"({"op":"message","topic":"room/1","id":")" + id +
                      R"(","event":"chat","data":"hi","from":"c)";
  EXPECT_EQ(head(got[0], frame), frame);
  auto n = got[0].substr(frame.size());
  EXPECT_EQ(n.substr(n.size() - 2), "\"}");
  EXPECT_EQ(n.find_first_not_of("0123456789"), n.size() - 2) << got[0];
}

TEST_F(ws_session_test, pings_come_every_interval_and_silence_closes_with_1001) {
  ws_client c;
  open(c);
  w.advance(25s - 10ms);
  EXPECT_TRUE(c.frames().empty());
  w.advance(10ms);
  auto got = c.frames();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].opcode, op_ping);
  c.peer.write(client_frame(op_pong, ""));  // any byte from the peer counts as an answer
  w.run();
  w.advance(25s);
  got = c.frames();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].opcode, op_ping);
  // No answer this time: a whole interval later, 1001.
  w.advance(25s - 10ms);
  EXPECT_TRUE(c.frames().empty());
  w.advance(10ms);
  expect_closed_with(c, 1001, "no answer to ping");
  expect_still_serving();
}

TEST_F(ws_session_test, a_client_ping_is_answered_with_its_payload) {
  ws_client c;
  open(c);
  c.peer.write(client_frame(op_ping, "abc"));
  w.run();
  auto got = c.frames();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].opcode, op_pong);
  EXPECT_EQ(got[0].payload, "abc");
}

TEST_F(ws_session_test, an_unmasked_client_frame_is_closed_with_1002) {
  ws_client c;
  open(c);
  c.peer.write(client_frame(op_text, R"({"op":"ping"})", true, false));
  w.run();
  expect_closed_with(c, 1002);
  expect_still_serving();
}

TEST_F(ws_session_test, a_continuation_without_a_message_is_closed_with_1002) {
  ws_client c;
  open(c);
  c.peer.write(client_frame(0, "x"));
  w.run();
  expect_closed_with(c, 1002);
}

TEST_F(ws_session_test, a_text_frame_that_is_not_utf8_is_closed_with_1007) {
  ws_client c;
  open(c);
  c.peer.write(client_frame(op_text, "\xc3\x28"));
  w.run();
  expect_closed_with(c, 1007, "invalid UTF-8");
  expect_still_serving();
}

TEST_F(ws_session_test, a_message_over_max_frame_bytes_is_closed_with_1009) {
  ws_client c;
  open(c);
  // Fragments add up: 3 × 2100 bytes is over the 6144-byte bound (max_frame_bytes of 1024-byte
  // messages) though each frame is under it.
  std::string part(2100, 'x');
  c.peer.write(client_frame(op_text, part, false) + client_frame(0, part, false) +
               client_frame(0, part, true));
  w.run();
  expect_closed_with(c, 1009, "message too big");
  expect_still_serving();
}

TEST_F(ws_session_test, a_message_at_max_frame_bytes_is_taken) {
  ws_client c;
  open(c);
  std::string op = R"({"op":"ping","ref":")";
  op.append(6144 - op.size() - 2, 'r').append("\"}");
  ASSERT_EQ(op.size(), 6144u);
  send(c, op);
  auto got = c.texts();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(head(got[0], R"({"op":"pong","ref":"r)"), R"({"op":"pong","ref":"r)");
}

TEST_F(ws_session_test, a_frame_not_finished_within_message_timeout_is_closed_with_1008) {
  ws_client c;
  open(c);
  auto frame = text_frame(R"({"op":"ping","ref":1})");
  c.peer.write(frame.substr(0, 5));
  w.run();
  w.advance(5s);
  c.peer.write(frame.substr(5, 3));  // a trickle does not restart the deadline
  w.run();
  w.advance(5s - 10ms);
  EXPECT_TRUE(c.frames().empty());
  w.advance(10ms);
  expect_closed_with(c, 1008, "message not completed in time");
}

TEST_F(ws_session_test, stored_publishes_over_the_burst_close_with_1008) {
  w.config.ws.publish_rate = 1;
  w.config.ws.publish_burst = 2;
  ws_client c;
  open(c);
  send(c, R"({"op":"publish","topic":"rate/1","data":"1"})");
  send(c, R"({"op":"publish","topic":"rate/1","data":"2","ref":2})");
  auto acks = c.texts();
  ASSERT_EQ(acks.size(), 1u);  // an ack only where a ref was given
  EXPECT_EQ(head(acks[0], R"({"op":"ack","ref":2,"id":")"), R"({"op":"ack","ref":2,"id":")");
  send(c, R"({"op":"publish","topic":"rate/1","data":"3","ref":3})");
  expect_closed_with(c, 1008, "publish rate limit");
  expect_still_serving();
}

TEST_F(ws_session_test, bad_operations_are_errors_and_the_connection_stays) {
  ws_client c;
  open(c);
  send(c, "not json");
  send(c, R"({"op":"fly","ref":1})");
  send(c, R"({"op":"subscribe","topic":"bad topic","ref":2})");
  send(c, R"({"op":"presence.update","topic":"room/2","state":1,"ref":3})");
  send(c, R"({"op":"publish","topic":"t/1","data":")" + std::string(1025, 'x') + R"(","ref":4})");
  c.peer.write(client_frame(op_binary, "\x01\x02"));
  w.run();
  auto got = c.texts();
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(head(got[0], R"({"op":"error","ref":null,"code":"bad_json")"),
            R"({"op":"error","ref":null,"code":"bad_json")");
  EXPECT_EQ(head(got[1], R"({"op":"error","ref":1,"code":"unknown_)"),
            R"({"op":"error","ref":1,"code":"unknown_)");
  EXPECT_EQ(head(got[2], R"({"op":"error","ref":2,"code":"invalid_topic",)"),
            R"({"op":"error","ref":2,"code":"invalid_topic",)");
  EXPECT_EQ(head(got[3], R"({"op":"error","ref":3,"code":"not_joined",)"),
            R"({"op":"error","ref":3,"code":"not_joined",)");
  EXPECT_EQ(head(got[4], R"({"op":"error","ref":4,"code":"payload_too_large",)"),
            R"({"op":"error","ref":4,"code":"payload_too_large",)");
  EXPECT_EQ(head(got[5], R"({"op":"error","ref":null,"code":"bad_frame",)"),
            R"({"op":"error","ref":null,"code":"bad_frame",)");
  send(c, R"({"op":"ping","ref":5})");
  EXPECT_EQ(c.texts(), std::vector<std::string>{R"({"op":"pong","ref":5})"});
}

TEST_F(ws_session_test, a_client_close_is_echoed_and_the_connection_ends) {
  ws_client c;
  open(c);
  c.peer.write(client_frame(op_close, std::string("\x03\xe8", 2)));  // 1000
  w.run();
  expect_closed_with(c, 1000);
}

TEST_F(ws_session_test, subscribe_with_since_replays_then_goes_live_without_duplicates) {
  auto first = w.publish("hist/1", "a");
  auto e = first.substr(0, first.find('-') + 1);
  w.publish("hist/1", "b");
  w.publish("hist/1", "c");
  ws_client c;
  open(c);
  send(c, R"({"op":"subscribe","topic":"hist/1","since":")" + first + R"(","ref":1})");
  w.publish("hist/1", "d");
  auto got = c.texts();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], R"({"op":"ack","ref":1})");
  for (int i = 0; i < 3; ++i) {
    std::string data(1, static_cast<char>('b' + i));
    EXPECT_EQ(got[i + 1], R"({"op":"message","topic":"hist/1","id":")" + e + std::to_string(i + 2) +
                              R"(","event":null,"data":")" + data + R"(","from":null})");
  }
  // A since older than history holds, or not ours: a gap, then live.
  ws_client late;
  open(late);
  send(late, R"({"op":"subscribe","topic":"hist/1","since":"nope","ref":2})");
  EXPECT_EQ(late.texts(), (std::vector<std::string>{R"({"op":"ack","ref":2})",
                                                    R"({"op":"gap","topics":["hist/1"]})"}));
}

TEST_F(ws_session_test, presence_joins_get_a_snapshot_and_diffs_come_once_per_tick) {
  ws_client a, b;
  open(a);
  open(b);
  send(a, R"({"op":"presence.join","topic":"room/9","state":{"x":1},"ref":1})");
  auto got = a.texts();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], R"({"op":"ack","ref":1})");
  auto a_id = got[1].substr(got[1].find(R"("id":")") + 6);
  a_id = a_id.substr(0, a_id.find('"'));
  EXPECT_EQ(got[1], R"({"op":"presence","topic":"room/9","count":1,"members":[{"id":")" + a_id +
                        R"(","state":{"x":1}}]})");
  w.presence_tick();
  EXPECT_EQ(a.texts(),
            std::vector<std::string>{R"({"op":"presence","topic":"room/9","joins":[{"id":")" +
                                     a_id + R"(","state":{"x":1}}],"leaves":[]})"});
  // b subscribes (without joining): it gets the diffs too. Within one tick a updates twice and a
  // third client joins and leaves: one diff, with a's last state and no trace of the third.
  send(b, R"({"op":"subscribe","topic":"room/9"})");
  b.texts();
  send(a, R"({"op":"presence.update","topic":"room/9","state":{"x":2}})");
  send(a, R"({"op":"presence.update","topic":"room/9","state":{"x":3}})");
  EXPECT_EQ(a.texts(),
            (std::vector<std::string>{R"({"op":"ack","ref":null})", R"({"op":"ack","ref":null})"}));
  {
    ws_client flicker;
    open(flicker);
    send(flicker, R"({"op":"presence.join","topic":"room/9"})");
    send(flicker, R"({"op":"presence.leave","topic":"room/9"})");
  }
  w.presence_tick();
  std::string diff = R"({"op":"presence","topic":"room/9","joins":[{"id":")" + a_id +
                     R"(","state":{"x":3}}],"leaves":[]})";
  EXPECT_EQ(a.texts(), std::vector<std::string>{diff});
  EXPECT_EQ(b.texts(), std::vector<std::string>{diff});
  // A dropped connection leaves at once; the next tick says so.
  a.peer.close();
  w.run();
  w.presence_tick();
  EXPECT_EQ(b.texts(),
            std::vector<std::string>{R"({"op":"presence","topic":"room/9","joins":[],"leaves":[")" +
                                     a_id + R"("]})"});
}

TEST_F(ws_session_test, on_drain_the_server_closes_with_1012) {
  ws_client c;
  open(c);
  w.drain();
  expect_closed_with(c, 1012, "server restarting");
}

TEST_F(ws_session_test, a_subscriber_over_the_hard_bound_is_closed_with_1008_ahead_of_its_backlog) {
  // high_water() = min(hard, soft) / 2 = 8 KiB
  w.config.subscribers.backlog = {.hard_bytes = 32 << 10, .soft_bytes = 16 << 10, .soft_for = 1h};
  ws_client slow;
  open(slow, 4096);
  send(slow, R"({"op":"subscribe","topic":"flood/1"})");
  std::string data(1000, 'x');
  for (int i = 0; i < 80; ++i) {  // 80 KB, more than the socket and the hard bound hold
    ASSERT_FALSE(w.publish("flood/1", data).empty());
  }
  // What the kernel had taken arrives, then the close: queued frames not yet started are dropped.
  std::vector<ws_frame> got;
  for (int i = 0; i < 100 && !slow.peer.hung_up(); ++i) {
    for (auto& f : slow.frames()) {
      got.push_back(std::move(f));
    }
    w.run();
    if (!got.empty() && got.back().opcode == op_close) {
      slow.peer.shutdown_write();
    }
  }
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().opcode, op_close);
  EXPECT_EQ(got.back().close_code(), 1008);
  EXPECT_EQ(got.back().close_reason(), "slow consumer: resubscribe with since to resume");
  EXPECT_LT(got.size(), 80u);
  EXPECT_EQ(w.counters.ws.slow_consumer_closes.get(), 1u);
  EXPECT_TRUE(slow.peer.hung_up());
  expect_still_serving();
}

TEST_F(ws_session_test, topics_come_and_go_in_any_order_and_each_gets_only_its_messages) {
  // The first topic a connection holds is kept in place, the others apart: dropping the first
  // while others stay, and taking a new one after, must keep every subscription whole.
  ws_client sub, pub;
  open(sub);
  open(pub);
  int ref = 0;
  auto op = [&](std::string_view what, std::string_view topic) {
    send(sub, R"({"op":")" + std::string(what) + R"(","topic":")" + std::string(topic) +
                  R"(","ref":)" + std::to_string(++ref) + "}");
    EXPECT_EQ(sub.texts(),
              std::vector<std::string>{R"({"op":"ack","ref":)" + std::to_string(ref) + "}"});
  };
  op("subscribe", "t/a");
  op("subscribe", "t/b");
  op("subscribe", "t/c");
  op("unsubscribe", "t/a");  // the first one, while two others stay
  op("subscribe", "t/d");
  op("unsubscribe", "t/c");
  op("subscribe", "t/a");
  auto topic_of = [](const std::string& frame) {
    auto at = frame.find(R"("topic":")");
    return at == std::string::npos ? frame : frame.substr(at + 9, frame.find('"', at + 9) - at - 9);
  };
  std::vector<std::string> got;
  for (std::string_view t : {"t/a", "t/b", "t/c", "t/d", "t/e"}) {
    send(pub, R"({"op":"publish","topic":")" + std::string(t) + R"(","data":"x"})");
    pub.texts();
    for (auto& f : sub.texts()) {
      got.push_back(topic_of(f));
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{"t/a", "t/b", "t/d"}));
  op("unsubscribe", "t/b");
  op("unsubscribe", "t/a");
  op("unsubscribe", "t/d");
  send(pub, R"({"op":"publish","topic":"t/d","data":"x"})");
  pub.texts();
  EXPECT_TRUE(sub.texts().empty());
  op("subscribe", "t/e");
  send(pub, R"({"op":"publish","topic":"t/e","data":"x"})");
  pub.texts();
  auto last = sub.texts();
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(topic_of(last[0]), "t/e");
}

TEST_F(ws_session_test, max_topics_counts_the_first_topic_and_the_others) {
  w.config.ws.max_topics = 2;
  ws_client sub;
  open(sub);
  send(sub, R"({"op":"subscribe","topic":"t/a","ref":1})");
  send(sub, R"({"op":"subscribe","topic":"t/b","ref":2})");
  send(sub, R"({"op":"subscribe","topic":"t/c","ref":3})");
  auto got = sub.texts();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], R"({"op":"ack","ref":1})");
  EXPECT_EQ(got[1], R"({"op":"ack","ref":2})");
  EXPECT_NE(got[2].find("too_many_topics"), std::string::npos) << got[2];
  send(sub, R"({"op":"unsubscribe","topic":"t/a","ref":4})");
  send(sub, R"({"op":"subscribe","topic":"t/c","ref":5})");
  EXPECT_EQ(sub.texts(),
            (std::vector<std::string>{R"({"op":"ack","ref":4})", R"({"op":"ack","ref":5})"}));
}

}  // namespace
}  // namespace sb
