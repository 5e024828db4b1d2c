#pragma once
// What an SSE stream is configured with: the struct the config table fills (heartbeat_s, retry_ms),
// and what every stream reads.
#include <chrono>

#include "core/subscriber_settings.hpp"

namespace sb::sse {

/// What is SSE's own (heartbeat_s, retry_ms); the queue bounds are every subscriber's.
struct settings {
  std::chrono::milliseconds heartbeat{15000};
  // Each stream is told a value in [retry_ms, 2 × retry_ms) (sse/retry_jitter.hpp).
  unsigned retry_ms = 2000;
};

/// What a stream reads, shared by every stream (which outlives none of it).
struct context {
  const sse::settings& settings;
  const subscriber_settings& subscribers;
};

}  // namespace sb::sse
