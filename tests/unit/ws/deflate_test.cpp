// permessage-deflate's compression (RFC 7692 §7.2): our compressed frames inflate to the message
// with a plain zlib inflater (the client's side, written here with zlib directly), a client's
// messages inflate with and without context takeover, a bomb stops at the bound, bad data is
// refused; and the frame parser's RSV1 rules.
#include "ws/deflate.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/message.hpp"
#include "ws/frame.hpp"

namespace sb::ws {
namespace {

/// A client's compressor: raw deflate, context kept across messages unless reset.
struct client_deflate {
  z_stream z{};
  explicit client_deflate(int bits = 15) {
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  }
  ~client_deflate() { deflateEnd(&z); }
  /// One message, flushed and without its 00 00 FF FF tail (RFC 7692 §7.2.1); `final`: ends the
  /// deflate stream with BFINAL instead (allowed, and kept as is).
  std::string message(std::string_view text, bool final = false) {
    std::string out(deflateBound(&z, text.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, final ? Z_FINISH : Z_SYNC_FLUSH), final ? Z_STREAM_END : Z_OK);
    out.resize(out.size() - z.avail_out);
    if (final) {
      deflateReset(&z);
    } else {
      EXPECT_EQ(out.substr(out.size() - 4), std::string("\0\0\xff\xff", 4));
      out.resize(out.size() - 4);
    }
    return out;
  }
};

/// The client's inflater: the payload plus the tail, in a fresh raw stream.
std::string client_inflate(std::string_view payload) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, -15), Z_OK);
  std::string in(payload);
  in.append("\0\0\xff\xff", 4);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  auto rc = inflate(&z, Z_SYNC_FLUSH);
  EXPECT_TRUE(rc == Z_OK || rc == Z_STREAM_END) << rc;
  EXPECT_EQ(z.avail_in, 0u);
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  return out;
}

std::string json_payload(std::size_t n) {
  std::string s = R"({"op":"message","topic":"prices/eu","id":"1-1","event":null,"data":")";
  for (std::size_t i = 0; s.size() < n; ++i) {
    s += R"({\"sym\":\"ACME\",\"px\":)" + std::to_string(100 + i % 37) + R"(,\"qty\":)" +
         std::to_string(i * 7 % 1000) + "},";
  }
  return s + R"(","from":null})";
}

TEST(ws_deflate, a_compressed_frame_has_rsv1_and_inflates_to_the_message) {
  deflater d(6);
  auto text = json_payload(2000);
  auto plain = make_frame(opcode::text, text);
  auto c = d.compress_frame(plain);
  ASSERT_TRUE(c);
  EXPECT_EQ(static_cast<std::uint8_t>((*c)[0]), 0xC1) << "FIN, RSV1, text";
  EXPECT_LT(c->size(), plain.size() / 3) << "repetitive JSON shrinks";
  auto at = payload_offset(*c);
  EXPECT_EQ(at, c->size() - 2 < 126 + 2 ? 2u : 4u);
  EXPECT_EQ(client_inflate(std::string_view(*c).substr(at)), text);
  // No context is taken over: the same message compresses to the same bytes every time.
  EXPECT_EQ(d.compress_frame(plain), c);
  // The 64-bit length class shrinks with the payload.
  auto big = json_payload(70000);
  auto big_c = d.compress_frame(make_frame(opcode::text, big));
  ASSERT_TRUE(big_c);
  EXPECT_EQ(client_inflate(std::string_view(*big_c).substr(payload_offset(*big_c))), big);
}

TEST(ws_deflate, what_does_not_shrink_is_not_compressed) {
  deflater d(6);
  EXPECT_FALSE(d.compress_frame(make_frame(opcode::text, "")));
  EXPECT_FALSE(d.compress_frame(make_frame(opcode::text, "{\"op\":\"pong\"}")));
  std::string noise;
  std::uint32_t x = 12345;
  for (int i = 0; i < 300; ++i) {
    x = x * 1103515245 + 12345;
    noise.push_back(static_cast<char>(x >> 24));
  }
  EXPECT_FALSE(d.compress_frame(make_frame(opcode::binary, noise)));
}

TEST(ws_deflate, client_messages_inflate_with_context_takeover) {
  client_deflate client(12);
  inflater in(1 << 16);
  inflate_window window;
  std::string first = json_payload(3000), second = first;  // refers back into the first
  auto m1 = client.message(first);
  auto m2 = client.message(second);
  EXPECT_LT(m2.size(), 64u) << "the second is all back-references";
  ASSERT_EQ(in.inflate(m1, &window, 12), inflate_status::ok);
  EXPECT_EQ(in.text(), first);
  EXPECT_EQ(window.bytes, first);
  ASSERT_EQ(in.inflate(m2, &window, 12), inflate_status::ok);
  EXPECT_EQ(in.text(), second);
  EXPECT_EQ(window.bytes.size(), 1u << 12) << "no more than the client's window is kept";
  EXPECT_EQ(window.bytes, (first + second).substr(first.size() * 2 - 4096));
  EXPECT_GT(first.size() * 2, 4096u);
  // Many more: the window stays at 2^bits and every message still inflates.
  for (int i = 0; i < 50; ++i) {
    auto text = json_payload(100 + i * 37);
    ASSERT_EQ(in.inflate(client.message(text), &window, 12), inflate_status::ok) << i;
    EXPECT_EQ(in.text(), text) << i;
    EXPECT_LE(window.bytes.size(), 4096u);
  }
  // A message ended with BFINAL is accepted too; the window carries on.
  auto fin = client.message(first, true);
  ASSERT_EQ(in.inflate(fin, &window, 12), inflate_status::ok);
  EXPECT_EQ(in.text(), first);
}

TEST(ws_deflate, without_the_window_a_back_reference_is_bad_data) {
  client_deflate client;
  inflater in(1 << 16);
  auto text = json_payload(600);
  ASSERT_EQ(in.inflate(client.message(text), nullptr, 15), inflate_status::ok);
  EXPECT_EQ(in.inflate(client.message(text), nullptr, 15), inflate_status::bad_data);
}

TEST(ws_deflate, a_bomb_stops_at_the_bound) {
  // 64 MiB of spaces deflate to ~64 KiB; the bound is 6 KiB: inflation stops just past it.
  client_deflate client;
  std::string huge(64 << 20, ' ');
  auto bomb = client.message(huge);
  EXPECT_LT(bomb.size(), 70000u);
  inflater in(6144);
  inflate_window window;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(in.inflate(bomb, &window, 15), inflate_status::too_big);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(50)) << "inflating 64 MiB would take far longer";
  EXPECT_LE(in.text().size(), 6145u);
  // Exactly the bound is fine; one byte more is not.
  client_deflate c2;
  EXPECT_EQ(in.inflate(c2.message(std::string(6144, 'a')), nullptr, 15), inflate_status::ok);
  EXPECT_EQ(in.text().size(), 6144u);
  client_deflate c3;
  EXPECT_EQ(in.inflate(c3.message(std::string(6145, 'a')), nullptr, 15), inflate_status::too_big);
}

TEST(ws_deflate, invalid_data_is_refused_and_the_inflater_recovers) {
  inflater in(1 << 16);
  EXPECT_EQ(in.inflate(std::string("\xff\xff\xff\xff\xff", 5), nullptr, 15),
            inflate_status::bad_data);
  // Data after a final block.
  client_deflate client;
  auto fin = client.message("{\"op\":\"ping\"}", true) + "garbage";
  EXPECT_EQ(in.inflate(fin, nullptr, 15), inflate_status::bad_data);
  client_deflate fresh;
  ASSERT_EQ(in.inflate(fresh.message("{\"op\":\"ping\"}"), nullptr, 15), inflate_status::ok);
  EXPECT_EQ(in.text(), "{\"op\":\"ping\"}");
}

struct recorder final : frame_parser::handler {
  std::vector<std::string> seen;
  void on_text(std::string_view m) override { seen.push_back("text:" + std::string(m)); }
  void on_binary(std::string_view m) override { seen.push_back("binary:" + std::string(m)); }
  void on_ping(std::string_view) override { seen.push_back("ping"); }
  void on_pong(std::string_view) override { seen.push_back("pong"); }
  void on_close(std::uint16_t, std::string_view) override { seen.push_back("close"); }
  close_code on_compressed(opcode op, std::string_view m) override {
    seen.push_back((op == opcode::text ? "deflated-text:" : "deflated-binary:") + std::string(m));
    return close_code::none;
  }
};

/// A masked client frame with the given first byte (FIN, RSV, opcode) and a short payload.
std::string raw_frame(std::uint8_t b0, std::string_view payload) {
  std::string out;
  out.push_back(static_cast<char>(b0));
  out.push_back(static_cast<char>(0x80 | payload.size()));
  out.append(4, '\0');  // a zero mask key leaves the payload as it is
  out.append(payload);
  return out;
}

TEST(ws_deflate, the_parser_takes_rsv1_only_where_rfc_7692_puts_it) {
  {
    frame_parser p(1 << 16);
    recorder r;
    std::string in = raw_frame(0xC1, "abc");  // no extension negotiated
    EXPECT_EQ(p.parse(in, r), close_code::protocol_error);
  }
  {
    frame_parser p(1 << 16);
    p.allow_compressed();
    recorder r;
    // Unfragmented; fragmented (RSV1 on the first frame only, a ping between); plain text.
    std::string in = raw_frame(0xC1, "abc") + raw_frame(0x41, "de") + raw_frame(0x89, "") +
                     raw_frame(0x80, "f") + raw_frame(0x81, "plain") + raw_frame(0xC2, "\x01");
    EXPECT_EQ(p.parse(in, r), close_code::none);
    EXPECT_EQ(r.seen, (std::vector<std::string>{"deflated-text:abc", "ping", "deflated-text:def",
                                                "text:plain", "deflated-binary:\x01"}));
    EXPECT_TRUE(in.empty());
  }
  for (auto [what, bytes] : std::initializer_list<std::pair<const char*, std::string>>{
           {"RSV1 on a continuation", raw_frame(0x01, "a") + raw_frame(0xC0, "b")},
           {"RSV1 on a ping", raw_frame(0xC9, "")},
           {"RSV1 on a close", raw_frame(0xC8, "")},
           {"RSV2", raw_frame(0xA1, "a")},
           {"RSV3", raw_frame(0x91, "a")},
       }) {
    frame_parser p(1 << 16);
    p.allow_compressed();
    recorder r;
    std::string in = bytes;
    EXPECT_EQ(p.parse(in, r), close_code::protocol_error) << what;
  }
}

TEST(ws_deflate, a_message_shares_its_compressed_form_and_drops_it_with_the_frame) {
  message m;
  auto plain = std::make_shared<const std::string>("plain");
  m.set_ws_frame(plain, true);
  EXPECT_EQ(m.ws_deflated(), nullptr);
  auto c1 = std::make_shared<const std::string>("c1");
  EXPECT_EQ(m.share_ws_deflated(c1), c1);
  auto c2 = std::make_shared<const std::string>("c2");
  EXPECT_EQ(m.share_ws_deflated(c2), c1) << "the first loop's form is everyone's";
  c1.reset();
  EXPECT_NE(m.ws_deflated(), nullptr) << "held during live fan-out";
  m.release_ws();
  EXPECT_EQ(m.ws_deflated(), nullptr) << "history keeps neither form";
  // A replay's compressed form is remembered only while someone holds it.
  auto c3 = std::make_shared<const std::string>("c3");
  EXPECT_EQ(m.share_ws_deflated(c3), c3);
  EXPECT_EQ(m.ws_deflated(), c3);
  c3.reset();
  EXPECT_EQ(m.ws_deflated(), nullptr);
}

}  // namespace
}  // namespace sb::ws
