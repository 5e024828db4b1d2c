#pragma once
// The client's side of RFC 6455 for in-process tests: frames a test writes (masked, as a client
// must, or not, to test the refusal) and the server's frames read back from raw bytes. Written
// here rather than taken from src/ws, so that a bug in the server's framing cannot hide itself.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sb::testing {

struct ws_frame {
  std::uint8_t opcode = 0;
  bool fin = true;
  std::uint8_t rsv = 0;  // RSV1..3 as bits 2..0: 4 is RSV1 (permessage-deflate)
  std::string payload;

  /// A close frame's status code (1005 when it has none).
  std::uint16_t close_code() const {
    return payload.size() < 2
               ? 1005
               : static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                            static_cast<unsigned char>(payload[1]));
  }
  std::string close_reason() const { return payload.size() < 2 ? "" : payload.substr(2); }
};

/// One client frame: `opcode` (with any RSV bits in it, e.g. 0x41 for a compressed text frame)
/// with FIN set unless `fin` is false, masked with a fixed key unless `masked` is false.
inline std::string client_frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                                bool masked = true) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  std::uint8_t mask_bit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(mask_bit | payload.size()));
  } else if (payload.size() <= 0xffff) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(
          static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> shift) & 0xff));
    }
  }
  static constexpr unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (masked) {
    out.append(reinterpret_cast<const char*>(key), 4);
  }
  for (std::size_t i = 0; i < payload.size(); ++i) {
    out.push_back(masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  }
  return out;
}

inline std::string text_frame(std::string_view text) {
  return client_frame(1, text);
}

/// The complete server frames at the front of `bytes` (removed from it). Server frames are
/// never masked; a masked one is returned with opcode 0xff so that the test fails on it.
inline std::vector<ws_frame> server_frames(std::string& bytes) {
  std::vector<ws_frame> out;
  std::size_t at = 0;
  for (;;) {
    if (bytes.size() - at < 2) {
      break;
    }
    auto b0 = static_cast<unsigned char>(bytes[at]);
    auto b1 = static_cast<unsigned char>(bytes[at + 1]);
    std::size_t header = 2;
    std::uint64_t length = b1 & 0x7f;
    if (length == 126) {
      if (bytes.size() - at < 4) {
        break;
      }
      length = (static_cast<unsigned char>(bytes[at + 2]) << 8) |
               static_cast<unsigned char>(bytes[at + 3]);
      header = 4;
    } else if (length == 127) {
      if (bytes.size() - at < 10) {
        break;
      }
      length = 0;
      for (int i = 0; i < 8; ++i) {
        length = (length << 8) | static_cast<unsigned char>(bytes[at + 2 + i]);
      }
      header = 10;
    }
    if (bytes.size() - at < header + length) {
      break;
    }
    ws_frame f;
    f.opcode = (b1 & 0x80) ? 0xff : (b0 & 0x0f);
    f.fin = (b0 & 0x80) != 0;
    f.rsv = static_cast<std::uint8_t>((b0 >> 4) & 0x07);
    f.payload = bytes.substr(at + header, length);
    out.push_back(std::move(f));
    at += header + length;
  }
  bytes.erase(0, at);
  return out;
}

}  // namespace sb::testing
