#pragma once
// What an SSE stream is configured with: the struct the config table fills (heartbeat_s, retry_ms),
// and what every stream reads.
#include <chrono>

#include "core/counters.hpp"
#include "core/subscriber_settings.hpp"
#include "core/topic_registry.hpp"

namespace sb::sse {

/// What is SSE's own (heartbeat_s, retry_ms); the queue bounds are every subscriber's.
struct settings {
  std::chrono::milliseconds heartbeat{15000};
  // Each stream is told a value in [retry_ms, 2 × retry_ms) (sse/retry_jitter.hpp).
  unsigned retry_ms = 2000;
};

/// What a stream uses, shared by every stream of a loop (which outlives none of it): one
/// reference in each stream rather than one per part, as idle streams are most.
struct context {
  topic_registry& registry;  // the loop's
  loop_counters& counters;   // the loop's
  const sse::settings& settings;
  const subscriber_settings& subscribers;
};

}  // namespace sb::sse
