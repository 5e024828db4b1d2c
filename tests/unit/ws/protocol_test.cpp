// The frame every publish is given (ws::encode_message) is written by hand for speed: it must be
// byte for byte what serializing the same json::object gives, for any data a publish accepts.
#include "ws/protocol.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "ws/frame.hpp"

namespace sb::ws {
namespace {

namespace json = boost::json;

std::string expected_frame(const message& m) {
  json::object o;
  o["op"] = "message";
  o["topic"] = m.topic;
  o["id"] = m.stored() ? json::value(to_string(m.pos)) : json::value(nullptr);
  o["event"] = m.event.empty() ? json::value(nullptr) : json::value(m.event);
  o["data"] = m.data_copy();
  o["from"] = m.from.empty() ? json::value(nullptr) : json::value(m.from);
  return make_frame(opcode::text, json::serialize(o));
}

std::string framed(message_kind kind, std::string data, std::string event = {},
                   std::string from = {}) {
  message m;
  m.kind = kind;
  m.topic = "rooms/1";
  m.pos = position{7, 42};
  m.data = std::move(data);
  m.event = std::move(event);
  m.from = std::move(from);
  auto want = expected_frame(m);
  encode_message(m);
  EXPECT_FALSE(m.ws_frame()) << "framed on first need, not at publish";
  auto got = frame_of(m);
  EXPECT_TRUE(got);
  EXPECT_EQ(m.ws_bytes, got->size()) << "the size known at publish is the frame's";
  EXPECT_EQ(*got, want);
  std::string text = *got;
  got.reset();
  EXPECT_TRUE(m.ws_frame()) << "held once made, until release_ws()";
  m.release_ws();
  EXPECT_FALSE(m.ws_frame()) << "released, and nobody holds it";
  return text;
}

TEST(ws_protocol, a_message_frame_is_what_serializing_its_object_gives) {
  framed(message_kind::stored, "hello");
  framed(message_kind::volatile_, R"({"x":1,"y":2})", "cursor", "alice");
  framed(message_kind::stored, "", "e", "user \"q\"");
}

TEST(ws_protocol, every_byte_a_publish_may_hold_is_escaped_as_boost_json_does) {
  std::string all;
  for (int c = 1; c < 128; ++c) {
    all.push_back(static_cast<char>(c));
  }
  all += "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";  // é € 😀
  framed(message_kind::stored, all, "ev\tent", "from\\me");
  // Longer than the writer's chunk and than a 16-bit frame length.
  framed(message_kind::stored, std::string(70000, '"'));
  // Around the frame header's size steps (125/126 and 65535/65536 payload bytes).
  for (std::size_t n : {43, 44, 45, 46, 65453, 65454, 65455, 65456}) {  // 81 bytes besides the data
    framed(message_kind::stored, std::string(n, 'x'));
  }
  // Every byte value once, in the data, the event and the sender.
  std::string bytes;
  for (int c = 1; c < 256; ++c) {
    bytes.push_back(static_cast<char>(c));
  }
  framed(message_kind::stored, bytes, bytes, bytes);
}

TEST(ws_protocol, the_frame_carries_the_json_text) {
  auto f = framed(message_kind::stored, "line1\nline2");
  EXPECT_NE(f.find(R"({"op":"message","topic":"rooms/1","id":")"), std::string::npos);
  EXPECT_NE(f.find(R"("data":"line1\nline2","from":null})"), std::string::npos);
}

}  // namespace
}  // namespace sb::ws
