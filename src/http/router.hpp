#pragma once
// Maps a request path to an endpoint of the HTTP API. Pure: a path in, a route out, so the
// contract's paths are testable without a socket.
#include <span>
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
  openapi,         // GET  /v1/openapi.json
  asyncapi,        // GET  /v1/asyncapi.yaml
  topic_list,      // GET  /v1/topics (admin)
  admin_page,      // GET  /admin (admin)
  admin_stats,     // GET  /v1/admin/stats (admin; an SSE stream of snapshots)
  admin_session,   // POST /v1/admin/session (admin: sets the admin page's cookie)
};

/// One row of the route table: the path as docs/openapi.json writes it (`{topic}` stands for a
/// topic name, slashes included) and the methods it answers, as its Allow header lists them.
struct route_spec {
  std::string_view path;
  http::endpoint endpoint;
  std::string_view methods;
};

/// Every route the server answers, once: matching, Allow headers and the test that holds the
/// OpenAPI document to the server all read this table.
std::span<const route_spec> route_table();

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
