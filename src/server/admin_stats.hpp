#pragma once
// The snapshots of GET /v1/admin/stats: what the admin page shows, as one JSON object a second.
// Pure: figures in, JSON out (the app gathers the figures from every loop).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sb::server {

/// The server's figures at one moment. Counters are totals since start; rates come from two
/// samples.
struct stats_sample {
  double uptime_s = 0;
  std::int64_t time_ms = 0;  // Unix milliseconds
  std::uint64_t connections = 0;
  std::uint64_t sse_streams = 0;  // HTTP/1.1 and HTTP/2
  std::uint64_t sse_h2_streams = 0;
  std::uint64_t ws_sessions = 0;
  std::uint64_t h2_connections = 0;
  std::uint64_t published = 0;
  std::uint64_t deliveries = 0;
  std::uint64_t slow_consumer_closes = 0;
  std::uint64_t gaps = 0;
  std::uint64_t drops = 0;
  std::uint64_t http_requests = 0;
  std::size_t topics = 0;
  std::size_t history_messages = 0;
  std::size_t history_bytes = 0;
  /// Subscribers per topic, summed over the loops (any order; the server's own `$` topics are
  /// left out by the renderer).
  std::vector<std::pair<std::string, std::size_t>> subscribers;
  /// Members per presence room (any order).
  std::vector<std::pair<std::string, std::size_t>> rooms;
};

/// The snapshot as JSON:
/// {"version","revision","uptime_s","time",
///  "connections":{"total","sse_h1","sse_h2","websocket","h2"},
///  "rates":{"publishes_per_s","deliveries_per_s"},       (0 without `before`)
///  "totals":{"published","deliveries","slow_consumer_closes","gaps","drops","http_requests"},
///  "topics":{"count","busiest":[{"topic","subscribers","presence"}]},
///  "presence":{"rooms","members","largest":[{"topic","members"}]},
///  "history":{"messages","bytes"}}
/// `busiest` and `largest` hold at most `top` entries, the largest first (ties by name).
std::string render_admin_stats(const stats_sample& now, const stats_sample* before,
                               std::string_view version, std::string_view revision,
                               std::size_t top = 10);

}  // namespace sb::server
