#pragma once
// Maps a request path to an endpoint of the HTTP API. Pure: a path in, a route out, so the
// contract's paths are testable without a socket.
#include <string>
#include <string_view>

namespace sb::http {

enum class endpoint {
  none,            // 404
  events,          // GET  /v1/events
  topic_publish,   // POST /v1/topics/{topic}
  topic_stream,    // POST /v1/topics/{topic}/stream
  topic_history,   // GET  /v1/topics/{topic}/history
  topic_presence,  // GET  /v1/topics/{topic}/presence
  batch_publish,   // POST /v1/publish
  tickets,         // POST /v1/tickets
  websocket,       // GET  /v1/ws
  metrics,         // GET  /metrics
  healthz,         // GET  /healthz
  readyz,          // GET  /readyz
  demo_page,       // GET  /
  client_js,       // GET  /client.js
  client_types,    // GET  /client.d.ts
  dev_llm,         // POST /v1/dev/llm (dev mode: start the demo token stream)
  topic_list,      // GET  /v1/topics (admin)
  admin_page,      // GET  /admin (admin)
  admin_stats,     // GET  /v1/admin/stats (admin; an SSE stream of snapshots)
  admin_session,   // POST /v1/admin/session (admin: sets the admin page's cookie)
};

struct route {
  http::endpoint endpoint = endpoint::none;
  std::string topic;  // for topic_* endpoints: the raw (still unvalidated) topic path
};

route match_route(std::string_view path);

/// The methods an endpoint answers, for 405's Allow header ("GET, HEAD").
std::string_view allowed_methods(endpoint e);

/// True when `method` (as the request line spells it) is one the endpoint answers.
bool method_allowed(endpoint e, std::string_view method);

}  // namespace sb::http
