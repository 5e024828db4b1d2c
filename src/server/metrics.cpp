#include "server/metrics.hpp"

#include <cstdint>

namespace sb::server {
namespace {

void family(std::string& out, const char* name, const char* type, const char* help,
            std::uint64_t value) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

}  // namespace

std::string render_metrics(const metrics_source& src) {
  auto sum = [&](loop_counter loop_counters::*c) {
    std::uint64_t total = 0;
    for (const auto* l : src.loops)
      total += (l->*c).get();
    return total;
  };
  std::uint64_t connections = 0;
  for (auto n : src.open_connections)
    connections += n;
  std::string out;
  family(out, "switchboard_connections", "gauge", "Open TCP connections.", connections);
  family(out, "switchboard_sse_streams", "gauge", "Open SSE streams.",
         sum(&loop_counters::sse_streams));
  family(out, "switchboard_ws_sessions", "gauge", "Open WebSocket sessions.",
         sum(&loop_counters::ws_sessions));
  family(out, "switchboard_h2_connections", "gauge", "Open HTTP/2 connections.",
         sum(&loop_counters::h2_sessions));
  family(out, "switchboard_http_requests_total", "counter", "HTTP requests answered.",
         sum(&loop_counters::http_requests));
  family(out, "switchboard_bad_requests_total", "counter",
         "Requests refused as malformed, too large, too slow or unknown.",
         sum(&loop_counters::bad_requests));
  family(out, "switchboard_messages_published_total", "counter",
         "Messages accepted for publishing.", sum(&loop_counters::messages_published));
  family(out, "switchboard_deliveries_total", "counter", "Messages queued to subscribers.",
         sum(&loop_counters::deliveries));
  family(out, "switchboard_drops_total", "counter", "Deliveries lost to a slow-consumer policy.",
         sum(&loop_counters::drops));
  family(out, "switchboard_slow_consumer_closes_total", "counter",
         "Connections closed for falling behind (resume policy).",
         sum(&loop_counters::slow_consumer_closes));
  const auto& h = src.history;
  family(out, "switchboard_topics", "gauge",
         "Topics the broker holds (subscribed, with history or a retained message).", h.topics);
  family(out, "switchboard_topics_reclaimed_total", "counter",
         "Idle topics forgotten (no subscriber, history or retained message).", h.topics_reclaimed);
  family(out, "switchboard_history_messages", "gauge", "Messages held in history, all topics.",
         h.messages);
  family(out, "switchboard_history_bytes", "gauge",
         "Bytes held in history, all topics (counted against history_max_memory_bytes).", h.bytes);
  family(out, "switchboard_history_evictions_total", "counter",
         "Messages evicted from history by history_max_memory_bytes.", h.evictions);
  family(out, "switchboard_history_expirations_total", "counter",
         "Messages dropped from history by history_max_age_s.", h.expirations);
  family(out, "switchboard_retained_messages", "gauge",
         "Retained messages held (not counted against history_max_memory_bytes).",
         h.retained_messages);
  family(out, "switchboard_retained_bytes", "gauge",
         "Bytes of retained messages held, whether or not history holds them too.",
         h.retained_bytes);
  family(out, "switchboard_draining", "gauge", "1 while the server drains.", src.draining ? 1 : 0);
  return out;
}

}  // namespace sb::server
