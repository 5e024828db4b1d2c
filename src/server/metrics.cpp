#include "server/metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/version.hpp"

namespace sb::server {
namespace {

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t v) {
  out.append(name);
  if (!labels.empty()) {
    out.append("{").append(labels).append("}");
  }
  out.append(" ").append(std::to_string(v)).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  out.append(name);
  if (!labels.empty()) {
    out.append("{").append(labels).append("}");
  }
  out.append(" ").append(buf).append("\n");
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::uint64_t value) {
  header(out, name, type, help);
  sample(out, name, "", value);
}

class summer {
 public:
  explicit summer(std::span<const loop_counters* const> loops) : loops_(loops) {}

  std::uint64_t operator()(const loop_counter loop_counters::*c) const {
    std::uint64_t total = 0;
    for (const auto* l : loops_) {
      total += (l->*c).get();
    }
    return total;
  }
  std::uint64_t transport(const transport_counters loop_counters::*t,
                          const loop_counter transport_counters::*c) const {
    std::uint64_t total = 0;
    for (const auto* l : loops_) {
      total += ((l->*t).*c).get();
    }
    return total;
  }

  std::span<const loop_counters* const> loops_;
};

/// One family with a `transport` label over SSE and WebSocket.
void per_transport(std::string& out, const summer& sum, std::string_view name,
                   std::string_view type, std::string_view help,
                   const loop_counter transport_counters::*c) {
  header(out, name, type, help);
  sample(out, name, R"(transport="sse")", sum.transport(&loop_counters::sse, c));
  sample(out, name, R"(transport="ws")", sum.transport(&loop_counters::ws, c));
}

void histogram(std::string& out, std::span<const loop_counters* const> loops,
               const loop_histogram loop_counters::*h, std::string_view name,
               std::string_view help) {
  header(out, name, "histogram", help);
  std::uint64_t cumulative = 0;
  std::uint64_t sum_ns = 0;
  auto bucket_name = std::string(name) + "_bucket";
  for (std::size_t i = 0; i <= loop_histogram::bounds.size(); ++i) {
    for (const auto* l : loops) {
      cumulative += (l->*h).bucket(i);
    }
    std::string le;
    if (i < loop_histogram::bounds.size()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", loop_histogram::bounds[i]);
      le = buf;
    } else {
      le = "+Inf";
    }
    sample(out, bucket_name, "le=\"" + le + "\"", cumulative);
  }
  for (const auto* l : loops) {
    sum_ns += (l->*h).sum_ns();
  }
  sample(out, std::string(name) + "_sum", "", static_cast<double>(sum_ns) / 1e9);
  sample(out, std::string(name) + "_count", "", cumulative);
}

/// Open descriptors, counted in /proc/self/fd at scrape time (Linux).
std::uint64_t open_fds() {
  std::error_code ec;
  std::uint64_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return n;
}

std::uint64_t max_fds() {
  rlimit r{};
  return ::getrlimit(RLIMIT_NOFILE, &r) == 0 ? static_cast<std::uint64_t>(r.rlim_cur) : 0;
}

/// Resident set and CPU seconds from /proc/self/stat (fields 14, 15 and 24).
void process_stats(std::string& out) {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) {
    return;
  }
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  double utime = 0;
  double stime = 0;
  double rss_pages = 0;
  // Field 3 (state) is the first after the name.
  for (int i = 3; i <= 24 && fields >> f; ++i) {
    if (i == 14) {
      utime = std::stod(f);
    } else if (i == 15) {
      stime = std::stod(f);
    } else if (i == 24) {
      rss_pages = std::stod(f);
    }
  }
  auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  header(out, "process_cpu_seconds_total", "counter",
         "CPU time used, user and system, in seconds.");
  sample(out, "process_cpu_seconds_total", "", (utime + stime) / ticks);
  header(out, "process_resident_memory_bytes", "gauge", "Resident set size in bytes.");
  sample(out, "process_resident_memory_bytes", "",
         rss_pages * static_cast<double>(::sysconf(_SC_PAGESIZE)));
}

}  // namespace

std::string render_metrics(const metrics_source& src) {
  summer sum(src.loops);
  std::uint64_t connections = 0;
  for (auto n : src.open_connections) {
    connections += n;
  }
  std::string out;
  out.reserve(16 << 10);

  header(out, "switchboard_build_info", "gauge", "Always 1; the version is a label.");
  sample(out, "switchboard_build_info", std::string("version=\"") + std::string(version) + "\"",
         std::uint64_t{1});
  header(out, "process_start_time_seconds", "gauge", "Start time of the process, Unix seconds.");
  sample(out, "process_start_time_seconds", "", src.start_time_s);
  family(out, "process_open_fds", "gauge", "Open file descriptors.", open_fds());
  family(out, "process_max_fds", "gauge", "The open-file limit (RLIMIT_NOFILE).", max_fds());
  process_stats(out);

  family(out, "switchboard_connections", "gauge", "Open TCP connections, all transports.",
         connections);
  family(out, "switchboard_connections_max", "gauge",
         "Connections admitted at most (max_connections, capped by the open-file limit).",
         src.max_connections);
  per_transport(out, sum, "switchboard_streams", "gauge",
                "Open subscriber streams by transport: SSE streams (HTTP/1.1 and HTTP/2) and "
                "WebSocket sessions.",
                &transport_counters::open);
  family(out, "switchboard_h2_connections", "gauge", "Open HTTP/2 connections.",
         sum(&loop_counters::h2_sessions));
  family(out, "switchboard_ws_h2_streams", "gauge",
         "Open WebSocket sessions carried by an HTTP/2 stream (RFC 8441; also counted in "
         "switchboard_streams{transport=\"ws\"}).",
         sum(&loop_counters::ws_h2_streams));

  header(out, "switchboard_streams_ended_total", "counter",
         "Subscriber streams ended, by transport and why (client_closed, slow_consumer, drain, "
         "idle, protocol, error).");
  for (auto [t, label] : {std::pair{&loop_counters::sse, "sse"}, {&loop_counters::ws, "ws"}}) {
    for (std::size_t r = 0; r < end_reason_count; ++r) {
      std::uint64_t total = 0;
      for (const auto* l : src.loops) {
        total += (l->*t).ended[r].get();
      }
      sample(out, "switchboard_streams_ended_total",
             std::string("transport=\"") + label + "\",reason=\"" +
                 std::string(to_string(static_cast<end_reason>(r))) + "\"",
             total);
    }
  }

  header(out, "switchboard_http_responses_total", "counter",
         "HTTP responses by status code (SSE and WebSocket handshakes included: 200 and 101).");
  for (std::size_t code = 0; code < 500; ++code) {
    std::uint64_t total = 0;
    for (const auto* l : src.loops) {
      total += l->http_responses[code].get();
    }
    // Codes never sent are left out (Prometheus treats them as absent); 200 is always there, so
    // the family is never empty.
    if (total > 0 || code + 100 == 200) {
      sample(out, "switchboard_http_responses_total", "code=\"" + std::to_string(code + 100) + "\"",
             total);
    }
  }
  family(out, "switchboard_bad_requests_total", "counter",
         "Requests refused as malformed, too large, too slow or unknown.",
         sum(&loop_counters::bad_requests));

  header(out, "switchboard_messages_published_total", "counter",
         "Messages accepted for publishing, by the transport they came in on.");
  sample(out, "switchboard_messages_published_total", R"(transport="http")",
         sum(&loop_counters::http_published));
  sample(out, "switchboard_messages_published_total", R"(transport="ws")",
         sum.transport(&loop_counters::ws, &transport_counters::published));
  per_transport(out, sum, "switchboard_deliveries_total", "counter",
                "Messages queued to subscribers.", &transport_counters::deliveries);
  per_transport(out, sum, "switchboard_drops_total", "counter",
                "Deliveries lost to a slow-consumer policy.", &transport_counters::drops);
  per_transport(out, sum, "switchboard_slow_consumer_closes_total", "counter",
                "Streams closed for falling behind (resume policy).",
                &transport_counters::slow_consumer_closes);
  per_transport(out, sum, "switchboard_gaps_sent_total", "counter",
                "Gap notices sent (history lost or evicted, messages dropped).",
                &transport_counters::gaps);
  per_transport(out, sum, "switchboard_resumes_total", "counter",
                "Subscriptions that asked to resume from an id (Last-Event-ID, since).",
                &transport_counters::resumes);
  histogram(out, src.loops, &loop_counters::publish_duration,
            "switchboard_publish_duration_seconds",
            "From a publish request parsed to its acknowledgement (HTTP and WebSocket).");
  histogram(out, src.loops, &loop_counters::delivery_lag, "switchboard_delivery_lag_seconds",
            "From a message's publish to its hand-off into a loop's subscriber send queues "
            "(observed once per message per loop).");

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
  family(out, "switchboard_log_lines_dropped_total", "counter",
         "Log lines lost because the logging thread fell behind.", src.log_lines_dropped);
  family(out, "switchboard_draining", "gauge", "1 while the server drains.", src.draining ? 1 : 0);
  family(out, "switchboard_ready", "gauge", "1 while /readyz answers 200 (serving, not draining).",
         src.draining ? 0 : 1);
  return out;
}

}  // namespace sb::server
