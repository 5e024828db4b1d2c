#pragma once
// RFC 6455 framing, sans-I/O. Hand-written rather than Beast's websocket::stream because fan-out
// needs a message framed once and the same bytes queued for every subscriber (Beast frames per
// stream, per write), and because our connections write with their own corked gathered writes.
// Server frames are never masked; client frames must be.
#include <algorithm>
#include <cstdint>
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

/// A complete, final, unmasked frame.
std::string make_frame(opcode op, std::string_view payload);

/// The reason sent with a close code that the frame parser earned a peer.
std::string_view close_reason(close_code code);

/// A close frame with `code` and a short UTF-8 `reason` (at most 123 bytes are kept).
std::string make_close_frame(close_code code, std::string_view reason);

/// Reassembles client frames into messages and control frames, checking everything RFC 6455 asks
/// of a server: masking, reserved bits, opcodes, control frame rules, continuation order, sizes,
/// UTF-8 of text messages and close reasons.
class frame_parser {
 public:
  struct handler {
    virtual void on_text(std::string_view message) = 0;
    virtual void on_binary(std::string_view message) = 0;
    virtual void on_ping(std::string_view payload) = 0;
    virtual void on_pong(std::string_view payload) = 0;
    /// `code` is 1005 (no status) when the frame had no payload.
    virtual void on_close(std::uint16_t code, std::string_view reason) = 0;

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
  void release() { message_ = {}; }

 private:
  std::string message_;              // a fragmented message being reassembled
  std::uint32_t max_message_bytes_;  // 32 bits: one parser per connection, kept small
  opcode message_op_ = opcode::continuation;
  bool in_message_ = false;
};

}  // namespace sb::ws
