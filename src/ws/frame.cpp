#include "ws/frame.hpp"

#include <cstring>

#include "core/utf8.hpp"

namespace sb::ws {
namespace {

bool is_valid_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace

void append_frame_header(std::string& out, opcode op, std::size_t size) {
  out.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(op)));
  if (size < 126) {
    out.push_back(static_cast<char>(size));
  } else if (size <= 0xFFFF) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>(size >> 8));
    out.push_back(static_cast<char>(size & 0xFF));
  } else {
    out.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xFF));
    }
  }
}

std::string make_frame(opcode op, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 10);
  append_frame_header(out, op, payload.size());
  out.append(payload);
  return out;
}

std::string_view close_reason(close_code code) {
  switch (code) {
    case close_code::too_big:
      return "message too big";
    case close_code::invalid_payload:
      return "invalid UTF-8";
    default:
      return "protocol error";
  }
}

std::string make_close_frame(close_code code, std::string_view reason) {
  reason = reason.substr(0, 123);
  std::string payload;
  auto value = static_cast<std::uint16_t>(code);
  payload.push_back(static_cast<char>(value >> 8));
  payload.push_back(static_cast<char>(value & 0xFF));
  payload.append(reason);
  return make_frame(opcode::close, payload);
}

close_code frame_parser::parse(std::string& input, handler& h) {
  std::size_t at = 0;
  auto verdict = close_code::none;
  while (verdict == close_code::none) {
    auto avail = input.size() - at;
    if (avail < 2) {
      break;
    }
    auto b0 = static_cast<std::uint8_t>(input[at]);
    auto b1 = static_cast<std::uint8_t>(input[at + 1]);
    bool fin = b0 & 0x80;
    auto op = static_cast<opcode>(b0 & 0x0F);
    bool masked = b1 & 0x80;
    std::uint64_t length = b1 & 0x7F;
    std::size_t header = 2;
    bool control = (b0 & 0x08) != 0;
    bool rsv1 = (b0 & 0x40) != 0;
    // RSV2 and RSV3 belong to no extension we speak; RSV1 only to permessage-deflate, and only on
    // the first frame of a data message. Clients must mask.
    if ((b0 & 0x30) != 0 || !masked ||
        (rsv1 && (!compression_ || control || op == opcode::continuation))) {
      verdict = close_code::protocol_error;
      break;
    }
    if (op != opcode::continuation && op != opcode::text && op != opcode::binary &&
        op != opcode::close && op != opcode::ping && op != opcode::pong) {
      verdict = close_code::protocol_error;
      break;
    }
    if (control && (!fin || length > 125)) {
      verdict = close_code::protocol_error;
      break;
    }
    if (length == 126) {
      if (avail < 4)
        break;
      length = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(input[at + 2])) << 8) |
               static_cast<std::uint8_t>(input[at + 3]);
      header = 4;
      if (length < 126) {
        verdict = close_code::protocol_error;  // not the minimal encoding
        break;
      }
    } else if (length == 127) {
      if (avail < 10)
        break;
      length = 0;
      for (int i = 0; i < 8; ++i) {
        length = length << 8 | static_cast<std::uint8_t>(input[at + 2 + i]);
      }
      header = 10;
      if (length >> 63 || length <= 0xFFFF) {
        verdict = close_code::protocol_error;
        break;
      }
    }
    if (!control && (message_ ? message_->size() : 0) + length > max_message_bytes_) {
      verdict = close_code::too_big;
      break;
    }
    if (avail < header + 4 + length) {
      break;  // the rest of this frame has not arrived
    }
    const char* key = input.data() + at + header;
    char* payload = input.data() + at + header + 4;
    for (std::uint64_t i = 0; i < length; ++i) {
      payload[i] ^= key[i & 3];
    }
    std::string_view data(payload, static_cast<std::size_t>(length));
    at += header + 4 + static_cast<std::size_t>(length);

    switch (op) {
      case opcode::ping:
        h.on_ping(data);
        break;
      case opcode::pong:
        h.on_pong(data);
        break;
      case opcode::close: {
        if (data.size() == 1) {
          verdict = close_code::protocol_error;
          break;
        }
        auto code = static_cast<std::uint16_t>(close_code::no_status);
        if (data.size() >= 2) {
          code = static_cast<std::uint16_t>(static_cast<std::uint8_t>(data[0]) << 8 |
                                            static_cast<std::uint8_t>(data[1]));
          if (!is_valid_close_code(code)) {
            verdict = close_code::protocol_error;
            break;
          }
          if (!is_valid_utf8(data.substr(2))) {
            verdict = close_code::invalid_payload;
            break;
          }
        }
        h.on_close(code, data.size() >= 2 ? data.substr(2) : std::string_view{});
        input.erase(0, at);
        return close_code::none;  // nothing after a close frame is read
      }
      case opcode::continuation:
        if (!in_message_ || !message_) {
          verdict = close_code::protocol_error;
          break;
        }
        message_->append(data);
        break;
      default:  // text, binary
        if (in_message_) {
          verdict = close_code::protocol_error;
          break;
        }
        if (fin) {
          // The common case, an unfragmented message: hand it out without copying.
          if (rsv1) {
            verdict = h.on_compressed(op, data);
            if (verdict != close_code::none) {
              break;
            }
          } else if (op == opcode::text) {
            if (!is_valid_utf8(data)) {
              verdict = close_code::invalid_payload;
              break;
            }
            h.on_text(data);
          } else {
            h.on_binary(data);
          }
          continue;
        }
        in_message_ = true;
        compressed_ = rsv1;
        message_op_ = op;
        message_ = std::make_unique<std::string>(data);
        break;
    }
    if (verdict == close_code::none && op == opcode::continuation && fin) {
      in_message_ = false;
      auto message = std::move(*message_);
      message_.reset();
      if (compressed_) {
        compressed_ = false;
        verdict = h.on_compressed(message_op_, message);
        if (verdict != close_code::none) {
          break;
        }
      } else if (message_op_ == opcode::text) {
        if (!is_valid_utf8(message)) {
          verdict = close_code::invalid_payload;
          break;
        }
        h.on_text(message);
      } else {
        h.on_binary(message);
      }
    }
  }
  input.erase(0, at);
  return verdict;
}

}  // namespace sb::ws
