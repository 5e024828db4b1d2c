#pragma once
// RFC 6455 framing, sans-I/O. Hand-written rather than Beast's websocket::stream because fan-out
// needs a message framed once and the same bytes queued for every subscriber (Beast frames per
// stream, per write), and because our connections write with their own corked gathered writes.
// Server frames are never masked; client frames must be.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sb::ws {

enum class opcode : std::uint8_t {
  continuation = 0,
  text = 1,
  binary = 2,
  close = 8,
  ping = 9,
  pong = 10
};

/// Close codes the contract names (RFC 6455 §7.4.1): the one mapping of why a WebSocket closes to
/// what its close frame says. Core's errc maps to HTTP statuses only: what closes a WebSocket is
/// framing, a policy or the server going away.
enum class close_code : std::uint16_t {
  none = 0,  // not a code: nothing to close for
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  invalid_payload = 1007,  // e.g. a text message that is not UTF-8
  policy = 1008,           // rate limits, slow consumers
  no_status = 1005,        // never sent: a peer's close frame that carried no code
  too_big = 1009,
  internal_error = 1011,
  service_restart = 1012,  // draining
  try_again_later = 1013,  // the backplane could not answer a subscribe: reconnect and resubscribe
};

/// Appends a final, unmasked frame header for a payload of `size` bytes.
void append_frame_header(std::string& out, opcode op, std::size_t size);

/// Where the payload of one of our (unmasked) frames starts: after its 2, 4 or 10 header bytes.
inline std::size_t payload_offset(std::string_view frame) {
  if (frame.size() < 2) {
    return frame.size();
  }
  auto len = static_cast<std::uint8_t>(frame[1]) & 0x7F;
  return std::min<std::size_t>(frame.size(), len == 126 ? 4 : len == 127 ? 10 : 2);
}

/// A complete, final, unmasked frame.
std::string make_frame(opcode op, std::string_view payload);

/// The reason sent with a close code that the frame parser earned a peer.
std::string_view close_reason(close_code code);

/// A close frame with `code` and a short UTF-8 `reason` (at most 123 bytes are kept).
std::string make_close_frame(close_code code, std::string_view reason);

/// Reassembles client frames into messages and control frames, checking everything RFC 6455 asks
/// of a server: masking, reserved bits, opcodes, control frame rules, continuation order, sizes,
/// UTF-8 of text messages and close reasons. A compressed message's bound is on its compressed
/// size here; its inflated size is the inflater's to bound.
class frame_parser {
 public:
  struct handler {
    virtual void on_text(std::string_view message) = 0;
    virtual void on_binary(std::string_view message) = 0;
    virtual void on_ping(std::string_view payload) = 0;
    virtual void on_pong(std::string_view payload) = 0;
    /// `code` is 1005 (no status) when the frame had no payload.
    virtual void on_close(std::uint16_t code, std::string_view reason) = 0;
    /// A whole message whose first frame had RSV1 set (permessage-deflate, once allowed), still
    /// compressed: UTF-8 is the handler's to check once inflated. Returns the close code the
    /// peer earned, or none.
    virtual close_code on_compressed(opcode, std::string_view) {
      return close_code::protocol_error;
    }

   protected:
    ~handler() = default;
  };

  explicit frame_parser(std::size_t max_message_bytes)
      : max_message_bytes_(
            static_cast<std::uint32_t>(std::min<std::size_t>(max_message_bytes, UINT32_MAX))) {}

  /// Parses the complete frames at the front of `input`, calling `h` for each message or control
  /// frame, and removes what it parsed. Returns close_code::none while all is well, or the close
  /// code the peer has earned (after which the parser must not be fed again).
  close_code parse(std::string& input, handler& h);

  /// A fragmented message has started and not ended.
  bool in_message() const { return in_message_; }
  /// permessage-deflate was negotiated: RSV1 on the first frame of a message marks it compressed
  /// (RFC 7692 §6); still a protocol error on a continuation or a control frame.
  void allow_compressed() { compression_ = true; }
  void release() { message_.reset(); }

 private:
  // A fragmented message being reassembled: most connections never send one, so it is allocated
  // then (a string in place would cost every idle connection 32 bytes).
  std::unique_ptr<std::string> message_;
  std::uint32_t max_message_bytes_;  // 32 bits: one parser per connection, kept small
  opcode message_op_ = opcode::continuation;
  bool in_message_ = false;
  bool compression_ = false;  // RSV1 may mark a message compressed
  bool compressed_ = false;   // the fragmented message being reassembled is
};

}  // namespace sb::ws
