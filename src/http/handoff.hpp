#pragma once
// What an HTTP session hands a connection (HTTP/1.1) or a stream (HTTP/2) over to, on one loop: an
// SSE stream on the loop's topic registry, or a WebSocket session. Only the sessions see it; the
// API handlers never do.
#include "core/topic_registry.hpp"
#include "sse/settings.hpp"
#include "ws/session.hpp"

namespace sb::http {

struct handoff {
  topic_registry& registry;
  sse::context sse;
  ws::context& ws;  // HTTP/1.1 upgrades and HTTP/2 extended CONNECTs
};

}  // namespace sb::http
