#pragma once
// permessage-deflate's compression (RFC 7692 §7.2) over zlib, sans-I/O. One deflater and one
// inflater per loop, shared by its connections (a loop runs one thing at a time):
// - out: we never take over context (server_no_context_takeover), so each message is compressed
//   alone, once, and the same compressed frame goes to every subscriber that negotiated the
//   extension;
// - in: a client that takes over context compresses against its own past messages, so a
//   connection keeps what it needs of them (at most 2^client_window_bits bytes, and no more than
//   it has sent) and the loop's inflater is primed with it for each message, instead of each
//   connection keeping a zlib stream (~7 KiB of state plus the window) for as long as it is open.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct z_stream_s;

namespace sb::ws {

class deflater {
 public:
  explicit deflater(unsigned level);
  ~deflater();
  deflater(const deflater&) = delete;
  deflater& operator=(const deflater&) = delete;

  /// `frame` is a complete, final, unmasked text or binary frame (ours). Returns the same
  /// message as one compressed frame (RSV1 set), or nullopt when compressing would not make the
  /// frame smaller.
  std::optional<std::string> compress_frame(std::string_view frame);

 private:
  std::unique_ptr<z_stream_s> z_;
  std::string scratch_;
};

enum class inflate_status : std::uint8_t { ok, too_big, bad_data };

/// The part of a client's past messages that a connection keeps while the client takes over its
/// compression context.
struct inflate_window {
  std::string bytes;
};

class inflater {
 public:
  /// `bound`: the most bytes one inflated message may have (one more is too_big).
  explicit inflater(std::size_t bound);
  ~inflater();
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;

  /// Inflates one message's payload (as sent: without the 00 00 FF FF tail). `window`: the
  /// connection's window, used and then updated to the last 2^window_bits bytes of what it has
  /// sent; null when the client takes over no context. On ok, `text()` is the message until the
  /// next call. Inflation stops at `bound` + 1 bytes: a message that inflates past the bound
  /// (a deflate bomb) costs no more than the bound.
  inflate_status inflate(std::string_view payload, inflate_window* window, unsigned window_bits);
  std::string_view text() const { return {out_.get(), size_}; }

 private:
  std::unique_ptr<z_stream_s> z_;
  std::size_t bound_;
  std::unique_ptr<char[]> out_;  // bound + 1 bytes, made on first use; pages touched as written
  std::size_t size_ = 0;
};

}  // namespace sb::ws
