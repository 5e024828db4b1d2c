#pragma once
// permessage-deflate negotiation (RFC 7692 §5 and §7.1), sans-I/O: the client's offers in, the
// parameters this connection uses and the header value that tells the client out.
//
// What we answer, always: server_no_context_takeover. Every message we send is compressed on its
// own, so one compressed frame serves every subscriber (compressed once per message, not once per
// connection), and no connection keeps a compressor (zlib's is ~256 KiB at windowBits 15).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sb::ws {

/// The ws_deflate_* settings (part of ws::settings).
struct deflate_settings {
  bool enabled = true;
  /// Frames whose payload is smaller go out uncompressed (RSV1 clear): a short JSON message
  /// compressed alone shrinks by a few bytes at best and costs the client an inflate.
  std::size_t min_bytes = 128;
  unsigned level = 6;  // zlib level; paid once per message, not per subscriber
  /// The client_max_window_bits we answer when the client offers that parameter: the most the
  /// client compresses with, and so the most of its past messages each connection keeps (2^bits).
  unsigned client_window_bits = 12;
  /// false: answer client_no_context_takeover to every offer (no per-connection window at all).
  bool client_context_takeover = true;
};

/// What one connection negotiated.
struct deflate_params {
  /// The client compresses with at most 2^this bytes of window: what we keep of its past messages
  /// while it takes over its context.
  std::uint8_t client_window_bits = 15;
  bool client_no_context_takeover = false;
  bool answer_client_window = false;  // the offer had client_max_window_bits: we answer a value
  bool answer_server_window = false;  // the offer had server_max_window_bits (15): we echo it

  bool operator==(const deflate_params&) const = default;
};

/// The first permessage-deflate offer among the Sec-WebSocket-Extensions header values (each a
/// comma-separated list, in the client's order of preference) that we can honour, or nullopt
/// (none offered, or every offer declined). An offer is declined (RFC 7692 §5.1, §7) when it has
/// an unknown parameter, a parameter twice, a value that is invalid (window bits outside 8..15,
/// a value where none belongs), or server_max_window_bits under 15: we compress with a 32 KiB
/// window, once for every subscriber (and zlib cannot write raw deflate with an 8-bit window).
std::optional<deflate_params> negotiate_deflate(std::span<const std::string_view> header_values,
                                                const deflate_settings& s);

/// The Sec-WebSocket-Extensions value that accepts `p`, e.g.
/// "permessage-deflate; server_no_context_takeover; client_max_window_bits=12".
std::string deflate_response(const deflate_params& p);

}  // namespace sb::ws
