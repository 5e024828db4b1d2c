#pragma once
// What the HTTP layer's requests need from the rest of the server (the API handlers and serve()),
// passed in rather than reached for: `services` is shared by every loop and read-only once serving
// starts; `loop_services` adds what belongs to one loop. What a session hands a connection over to
// (an SSE stream, a WebSocket session) is not here but in http/handoff.hpp.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "auth/api_keys.hpp"
#include "auth/authority.hpp"
#include "core/broker.hpp"
#include "core/counters.hpp"
#include "core/memory_broker.hpp"
#include "core/message_limits.hpp"
#include "core/presence.hpp"
#include "http/cors.hpp"
#include "http/limits.hpp"
#include "http/publish_limiter.hpp"
#include "io/loop.hpp"

namespace sb::http {

/// The server's own topic carrying the admin stats snapshots. `$` is outside the topic alphabet,
/// so no client can subscribe to it or publish to it; only GET /v1/admin/stats opens it.
inline constexpr std::string_view admin_stats_topic = "$admin/stats";
/// The cookie holding an admin session (auth::admin_sessions).
inline constexpr std::string_view admin_cookie = "switchboard_admin";

/// The settings are the config's own structs, referred to, not copied.
struct services {
  const http::limits& limits;
  const message_limits& messages;
  broker* hub = nullptr;
  presence_registry* presence = nullptr;
  auth::authority* auth = nullptr;
  publish_limiter* publish_limits = nullptr;
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
  /// Takes a place under max_connections and max_connections_per_ip for a WebSocket on an HTTP/2
  /// stream, as a WebSocket's own connection takes one; the place is given back when the returned
  /// lease is destroyed. An empty lease: a cap is reached. Unset: no limit. Any thread.
  std::function<std::shared_ptr<void>(const boost::asio::ip::address& peer)> admit_websocket;
  /// Dev mode: starts the demo token stream into a topic (POST /v1/dev/llm); empty otherwise.
  std::function<void(io::loop&, std::string topic)> start_dev_llm;
  /// Admin: topics by name (memory_broker::list_topics). Any thread.
  std::function<std::vector<memory_broker::topic_entry>(std::string_view prefix,
                                                        std::string_view after, std::size_t limit)>
      list_topics;
  /// Admin: the subscribers of each of `topics`, summed over every loop (each loop is asked on its
  /// own thread, so no registry is locked or read across threads); `done` runs later on `from`.
  std::function<void(io::loop& from, std::vector<std::string> topics,
                     std::function<void(std::vector<std::size_t>)> done)>
      count_subscribers;
  /// broker = redis: every member of a room as the cluster holds it (sorted by id), read from
  /// Redis when this node holds no interest in the room; nullopt: the node's own registry answers.
  /// `done` runs later on `from`. Unset with the memory broker.
  std::function<void(io::loop& from, std::string topic,
                     std::function<void(std::optional<std::vector<presence_member>>)> done)>
      cluster_presence;
  /// Someone opens the admin stats stream: the snapshots are made only while it is watched. Any
  /// thread; unset: nothing to tell.
  std::function<void()> watch_admin_stats;
  std::string_view admin_html;
  std::string_view demo_html;
  std::string_view client_js;
  std::string_view client_types;
  /// The API documents (docs/openapi.json, docs/asyncapi.yaml) and their strong ETags.
  std::string_view openapi_json;
  std::string_view openapi_etag;
  std::string_view asyncapi_yaml;
  std::string_view asyncapi_etag;

  bool is_draining() const { return draining && draining->load(std::memory_order_relaxed); }
};

struct loop_services {
  io::loop& loop;
  loop_counters& counters;
  const services& shared;
};

}  // namespace sb::http
