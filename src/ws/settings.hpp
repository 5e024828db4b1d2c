#pragma once
// What a WebSocket session is configured with: the struct the config table fills (volatile_hz,
// ws_*, ws_deflate_*, max_topics_per_connection), and the frame bound derived from the message
// bound.
#include <chrono>
#include <cstddef>

#include "core/message_limits.hpp"
#include "ws/extension.hpp"

namespace sb::ws {

/// What is WebSocket's own (volatile_hz, ws_*, max_topics_per_connection); message size and queue
/// bounds are every protocol's (message_limits, subscriber_settings).
struct settings {
  unsigned volatile_hz = 30;  // volatile messages per sender per topic per second
  double publish_rate = 100;  // stored publishes per second per connection (1008 over)
  double publish_burst = 200;
  double volatile_rate = 2000;  // volatile publishes per second before 1008 (flood guard)
  std::chrono::milliseconds ping_interval{25000};
  /// A frame, or a fragmented message, once started must end within this (1008 otherwise): any
  /// byte keeps a connection alive, but not a message trickled forever.
  std::chrono::milliseconds message_timeout{10000};
  std::size_t max_topics = 256;
  std::size_t presence_snapshot_limit = 100;
  deflate_settings deflate;  // permessage-deflate (ws_deflate_*)
};

/// The largest incoming message, JSON and all (1009 over it): a publish op carries its data as a
/// JSON string, and escaping can double it.
inline std::size_t max_frame_bytes(const message_limits& m) {
  return 2 * m.max_message_bytes + 4096;
}

}  // namespace sb::ws
