// Unit tests of the generator's WebSocket codec: handshake check, masked client frames, and the
// incremental server-frame parser (lengths, fragmentation, control frames, errors).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ws_codec.hpp"

namespace bench {
namespace {

struct collector {
  std::vector<std::pair<ws_opcode, std::string>> msgs, ctrl;
  void on_message(ws_opcode op, std::string_view m) { msgs.emplace_back(op, std::string(m)); }
  void on_control(ws_opcode op, std::string_view p) { ctrl.emplace_back(op, std::string(p)); }
};

std::string server_frame(uint8_t b0, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(b0));
  size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    f.push_back(126);
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(127);
    for (int s = 56; s >= 0; s -= 8)
      f.push_back(static_cast<char>((static_cast<uint64_t>(n) >> s) & 0xFF));
  }
  f += payload;
  return f;
}

TEST(ws_codec, accept_key_of_rfc6455_example) {
  EXPECT_EQ(expected_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(ws_codec, handshake_checked) {
  std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  std::string ok =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: "
      "switchboard.v1\r\n\r\n";
  EXPECT_EQ(check_handshake(ok, key, "switchboard.v1"), "");
  EXPECT_NE(check_handshake(ok, key, "other"), "");
  std::string wrong = ok;
  wrong.replace(wrong.find("s3pP"), 4, "AAAA");
  EXPECT_NE(check_handshake(wrong, key, "switchboard.v1"), "");
  EXPECT_NE(check_handshake("HTTP/1.1 403 Forbidden\r\n\r\n", key, ""), "");
  std::string req = handshake_request("/v1/ws", "127.0.0.1:8080", key, "switchboard.v1");
  EXPECT_NE(req.find("Sec-WebSocket-Key: " + key + "\r\n"), std::string::npos);
  EXPECT_NE(req.find("Sec-WebSocket-Protocol: switchboard.v1\r\n"), std::string::npos);
}

TEST(ws_codec, client_frames_are_masked_and_round_trip) {
  xorshift_rng rng(42);
  for (size_t n : {0u, 5u, 125u, 126u, 65535u, 65536u}) {
    std::string payload(n, 'a');
    for (size_t i = 0; i < n; ++i)
      payload[i] = static_cast<char>('a' + i % 26);
    std::string f;
    append_frame(f, op_text, payload, rng);
    EXPECT_EQ(static_cast<unsigned char>(f[0]), 0x81);
    EXPECT_TRUE(static_cast<unsigned char>(f[1]) & 0x80) << "client frames are masked";
    // The parser tolerates (and counts) masked frames, which unmasks them back.
    ws_frame_parser p;
    collector c;
    EXPECT_EQ(p.feed(f.data(), f.size(), c), static_cast<long>(f.size()));
    ASSERT_EQ(c.msgs.size(), 1u);
    EXPECT_EQ(c.msgs[0].second, payload);
    EXPECT_EQ(p.masked_frames(), 1u);
  }
}

TEST(ws_codec, lengths_and_splits_anywhere) {
  std::string stream;
  std::vector<std::string> want;
  for (size_t n : {0u, 1u, 125u, 126u, 300u, 65535u, 70000u}) {
    std::string m(n, static_cast<char>('A' + n % 26));
    want.push_back(m);
    stream += server_frame(0x81, m);
  }
  for (size_t step : {1u, 3u, 7u, 1000u, 100000u}) {
    ws_frame_parser p;
    collector c;
    std::string pending;
    for (size_t at = 0; at < stream.size(); at += step) {
      pending.append(stream, at, step);
      long used = p.feed(pending.data(), pending.size(), c);
      ASSERT_GE(used, 0);
      pending.erase(0, static_cast<size_t>(used));
    }
    EXPECT_TRUE(pending.empty());
    ASSERT_EQ(c.msgs.size(), want.size()) << "step " << step;
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(c.msgs[i].second, want[i]);
  }
}

TEST(ws_codec, fragments_with_interleaved_control_frames) {
  std::string s = server_frame(0x01, "hel") + server_frame(0x89, "pi") + server_frame(0x00, "lo ") +
                  server_frame(0x80, "world");
  ws_frame_parser p;
  collector c;
  EXPECT_EQ(p.feed(s.data(), s.size(), c), static_cast<long>(s.size()));
  ASSERT_EQ(c.msgs.size(), 1u);
  EXPECT_EQ(c.msgs[0].second, "hello world");
  ASSERT_EQ(c.ctrl.size(), 1u);
  EXPECT_EQ(c.ctrl[0].first, op_ping);
  EXPECT_EQ(p.fragmented(), 1u);
}

TEST(ws_codec, protocol_errors) {
  auto bad = [](const std::string& s) {
    ws_frame_parser p;
    collector c;
    std::string copy = s;
    return p.feed(copy.data(), copy.size(), c) < 0;
  };
  EXPECT_TRUE(bad(server_frame(0xC1, "x")));                            // RSV1 without extension
  EXPECT_TRUE(bad(server_frame(0x80, "x")));                            // continuation first
  EXPECT_TRUE(bad(server_frame(0x09, "x")));                            // fragmented ping
  EXPECT_TRUE(bad(server_frame(0x89, std::string(126, 'p'))));          // oversized control
  EXPECT_TRUE(bad(server_frame(0x83, "x")));                            // unknown opcode
  EXPECT_TRUE(bad(server_frame(0x01, "a") + server_frame(0x81, "b")));  // new message in one
  EXPECT_FALSE(bad(server_frame(0x88, std::string("\x03\xe8", 2))));    // close is fine
}

}  // namespace
}  // namespace bench
