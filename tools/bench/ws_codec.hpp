// RFC 6455 client-side pieces for switchboard-bench: the opening handshake (request, and the
// check of the 101 answer), masked client frames, and an incremental parser for server frames
// (7/16/64-bit lengths, fragmented messages, control frames interleaved).
//
// Hand-written because the generator drives thousands of raw non-blocking sockets from one epoll
// loop with its own buffers; a general WebSocket library would bring its own event loop and its
// own per-connection state, and the generator must not depend on the server's sources. SHA-1 and
// base64 come from OpenSSL.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "http_response.hpp"  // iequals, trim, icontains

namespace bench {

enum ws_opcode : uint8_t {
  op_cont = 0x0,
  op_text = 0x1,
  op_binary = 0x2,
  op_close = 0x8,
  op_ping = 0x9,
  op_pong = 0xA
};

// xorshift64*: mask keys and handshake nonces. RFC 6455 asks for unpredictable masks so that a
// browser's frames cannot be steered into a proxy's cache; a load generator only needs them to
// vary, and this costs a few instructions per frame.
class xorshift_rng {
 public:
  explicit xorshift_rng(uint64_t seed) : s_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }

 private:
  uint64_t s_;
};

inline std::string base64(const unsigned char* p, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

// base64(SHA-1(key + GUID)): the Sec-WebSocket-Accept value the server must answer with.
inline std::string expected_accept(std::string_view key) {
  std::string s(key);
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_Digest(s.data(), s.size(), md, &mdlen, EVP_sha1(), nullptr);
  return base64(md, mdlen);
}

inline std::string make_key(xorshift_rng& rng) {
  unsigned char nonce[16];
  for (int i = 0; i < 16; i += 8) {
    uint64_t v = rng.next();
    for (int j = 0; j < 8; ++j)
      nonce[i + j] = static_cast<unsigned char>(v >> (8 * j));
  }
  return base64(nonce, sizeof nonce);
}

inline std::string handshake_request(std::string_view target, std::string_view host,
                                     std::string_view key, std::string_view protocol) {
  std::string r;
  r.reserve(256);
  r += "GET ";
  r += target;
  r += " HTTP/1.1\r\nHost: ";
  r += host;
  r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
       "Sec-WebSocket-Key: ";
  r += key;
  if (!protocol.empty()) {
    r += "\r\nSec-WebSocket-Protocol: ";
    r += protocol;
  }
  r += "\r\nUser-Agent: switchboard-bench\r\n\r\n";
  return r;
}

// Checks a complete response head (up to and including the blank line). Returns an empty string
// when it is a valid 101 for this key and subprotocol, else what is wrong.
inline std::string check_handshake(std::string_view head, std::string_view key,
                                   std::string_view protocol) {
  size_t eol = head.find("\r\n");
  std::string_view status = head.substr(0, eol);
  if (!status.starts_with("HTTP/1.1 101"))
    return "handshake: expected 101, got: " + std::string(status.substr(0, 80));
  bool upgrade = false, connection = false, accept_ok = false, proto_ok = protocol.empty();
  std::string want = expected_accept(key);
  std::string_view s = head.substr(eol == std::string_view::npos ? head.size() : eol + 2);
  while (!s.empty()) {
    size_t e = s.find("\r\n");
    std::string_view line = s.substr(0, e);
    s.remove_prefix(e == std::string_view::npos ? s.size() : e + 2);
    size_t c = line.find(':');
    if (c == std::string_view::npos)
      continue;
    std::string_view name = trim(line.substr(0, c));
    std::string_view value = trim(line.substr(c + 1));
    if (iequals(name, "upgrade"))
      upgrade = iequals(value, "websocket");
    else if (iequals(name, "connection"))
      connection = icontains(value, "upgrade");
    else if (iequals(name, "sec-websocket-accept"))
      accept_ok = value == want;
    else if (iequals(name, "sec-websocket-protocol"))
      proto_ok = value == protocol;
    else if (iequals(name, "sec-websocket-extensions") && !value.empty())
      return "handshake: server chose an extension that was not offered";
  }
  if (!upgrade || !connection)
    return "handshake: missing Upgrade: websocket / Connection: Upgrade";
  if (!accept_ok)
    return "handshake: wrong Sec-WebSocket-Accept";
  if (!proto_ok)
    return "handshake: server did not select subprotocol " + std::string(protocol);
  return {};
}

// Appends one masked client frame (FIN set) to `out`.
inline void append_frame(std::string& out, ws_opcode op, std::string_view payload,
                         xorshift_rng& rng) {
  size_t n = payload.size();
  out.push_back(static_cast<char>(0x80 | op));
  if (n < 126) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((static_cast<uint64_t>(n) >> shift) & 0xFF));
  }
  auto m = static_cast<uint32_t>(rng.next());
  unsigned char key[4] = {static_cast<unsigned char>(m), static_cast<unsigned char>(m >> 8),
                          static_cast<unsigned char>(m >> 16), static_cast<unsigned char>(m >> 24)};
  out.append(reinterpret_cast<const char*>(key), 4);
  size_t at = out.size();
  out.append(payload);
  for (size_t i = 0; i < n; ++i)
    out[at + i] = static_cast<char>(out[at + i] ^ key[i & 3]);
}

// Incremental server-frame parser. feed() consumes complete frames from a mutable buffer and
// returns the bytes consumed (the caller keeps the rest for the next read), or -1 on a protocol
// error (error() says which). The handler gets
//   void on_message(Opcode op /*kText or kBinary*/, std::string_view payload)
//   void on_control(Opcode op /*kClose, kPing, kPong*/, std::string_view payload)
// Fragmented messages are reassembled; unfragmented ones are handed over without a copy.
class ws_frame_parser {
 public:
  static constexpr uint64_t max_message = 64ull << 20;

  template <class H>
  long feed(char* p, size_t n, H& h) {
    size_t off = 0;
    while (n - off >= 2) {
      auto b0 = static_cast<unsigned char>(p[off]);
      auto b1 = static_cast<unsigned char>(p[off + 1]);
      bool fin = b0 & 0x80;
      auto op = static_cast<ws_opcode>(b0 & 0x0F);
      if (b0 & 0x70)
        return fail("RSV bits set without a negotiated extension");
      bool masked = b1 & 0x80;
      uint64_t len = b1 & 0x7F;
      size_t hdr = 2;
      if (len == 126) {
        if (n - off < 4)
          break;
        len = (static_cast<uint64_t>(static_cast<unsigned char>(p[off + 2])) << 8) |
              static_cast<unsigned char>(p[off + 3]);
        hdr = 4;
      } else if (len == 127) {
        if (n - off < 10)
          break;
        len = 0;
        for (int i = 0; i < 8; ++i)
          len = (len << 8) | static_cast<unsigned char>(p[off + 2 + i]);
        hdr = 10;
      }
      if (len > max_message)
        return fail("frame larger than 64 MiB");
      size_t mask_at = hdr;
      if (masked) {
        hdr += 4;
        ++masked_frames_;  // servers must not mask (RFC 6455 5.1); tolerated, counted
      }
      if (n - off < hdr + len)
        break;
      char* payload = p + off + hdr;
      if (masked) {
        const char* key = p + off + mask_at;
        for (uint64_t i = 0; i < len; ++i)
          payload[i] = static_cast<char>(payload[i] ^ key[i & 3]);
      }
      std::string_view body(payload, static_cast<size_t>(len));
      off += hdr + static_cast<size_t>(len);
      if (op >= 0x8) {
        if (!fin || len > 125)
          return fail("fragmented or oversized control frame");
        if (op != op_close && op != op_ping && op != op_pong)
          return fail("unknown control opcode");
        h.on_control(op, body);
        continue;
      }
      if (op == op_cont) {
        if (!in_fragment_)
          return fail("continuation frame without a started message");
        if (frag_.size() + len > max_message)
          return fail("fragmented message larger than 64 MiB");
        frag_.append(body);
        if (fin) {
          in_fragment_ = false;
          ++fragmented_;
          h.on_message(frag_op_, frag_);
          frag_.clear();
        }
        continue;
      }
      if (op != op_text && op != op_binary)
        return fail("unknown data opcode");
      if (in_fragment_)
        return fail("new data frame inside a fragmented message");
      if (fin) {
        h.on_message(op, body);
      } else {
        in_fragment_ = true;
        frag_op_ = op;
        frag_.assign(body);
      }
    }
    return static_cast<long>(off);
  }

  void reset() {
    in_fragment_ = false;
    frag_.clear();
    frag_.shrink_to_fit();
  }
  const char* error() const { return error_; }
  uint64_t masked_frames() const { return masked_frames_; }
  uint64_t fragmented() const { return fragmented_; }

 private:
  long fail(const char* e) {
    error_ = e;
    return -1;
  }
  bool in_fragment_ = false;
  ws_opcode frag_op_ = op_text;
  std::string frag_;
  const char* error_ = "";
  uint64_t masked_frames_ = 0;
  uint64_t fragmented_ = 0;
};

}  // namespace bench
