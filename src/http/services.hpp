#pragma once
// What the HTTP layer needs from the rest of the server, passed in rather than reached for:
// `services` is shared by every loop and read-only once serving starts; `loop_services` adds
// what belongs to one loop.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "auth/api_keys.hpp"
#include "auth/authority.hpp"
#include "core/broker.hpp"
#include "core/counters.hpp"
#include "core/presence.hpp"
#include "core/topic_registry.hpp"
#include "http/cors.hpp"
#include "http/publish_limiter.hpp"
#include "io/loop.hpp"
#include "sse/stream.hpp"
#include "ws/session.hpp"

namespace sb::http {

struct limits {
  std::size_t max_message_bytes = 64 << 10;
  std::size_t max_request_bytes = 1 << 20;
  std::size_t max_header_bytes = 8 << 10;
  std::size_t max_topics_per_stream = 64;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  std::uint32_t h2_max_concurrent_streams = 256;
  std::size_t h2_max_header_list_size = 16 << 10;
};

struct services {
  broker* hub = nullptr;
  http::limits limits;
  sse::settings sse;
  ws::settings ws;
  presence_registry* presence = nullptr;
  auth::authority* auth = nullptr;
  std::string auth_cookie;
  publish_limiter* publish_limits = nullptr;
  message_encoder encode;
  cors_policy cors;
  bool dev = false;
  /// Prometheus text for GET /metrics, summed over the loops at call time.
  std::function<std::string()> metrics_text;
  /// Whether this port answers GET /metrics (false on the main port when metrics_listen is set).
  bool serves_metrics = true;
  /// The metrics_listen port: only /metrics, /healthz and /readyz; everything else is a 404.
  bool status_only = false;
  /// When not empty, GET /metrics needs `Authorization: Bearer <metrics_token>` (401 otherwise).
  auth::api_key_set metrics_token;
  /// Set once on SIGTERM: readiness fails, new streams are refused, keep-alive ends.
  const std::atomic<bool>* draining = nullptr;
  /// The backplane can be reached (Redis broker); unset: always (the memory broker).
  std::function<bool()> backplane_ready;
  /// Dev mode: starts the demo token stream into a topic (POST /v1/dev/llm); empty otherwise.
  std::function<void(io::loop&, std::string topic)> start_dev_llm;
  std::string_view demo_html;
  std::string_view client_js;
  std::string_view client_types;

  bool is_draining() const { return draining && draining->load(std::memory_order_relaxed); }
};

struct loop_services {
  io::loop& loop;
  topic_registry& registry;
  loop_counters& counters;
  const services& shared;
  ws::context ws;  // what a WebSocket session on this loop needs
};

}  // namespace sb::http
