#pragma once
// GET /metrics: per-loop counters and histograms summed at scrape time, in Prometheus text format.
// Names follow Prometheus conventions (docs/operations.md lists them): counters end in _total,
// durations are seconds, sizes bytes, and labels have bounded values (transport, code, reason),
// never a topic name.
#include <cstdint>
#include <span>
#include <string>

#include "core/counters.hpp"
#include "core/memory_broker.hpp"

namespace sb::server {

struct metrics_source {
  std::span<const loop_counters* const> loops;
  std::span<const std::size_t> open_connections;  // per loop, read at scrape time
  bool draining = false;
  memory_broker::stats history;
  std::uint64_t max_connections = 0;  // the effective cap (config, capped by descriptors)
  std::uint64_t log_lines_dropped = 0;
  double start_time_s = 0;  // Unix time the process started
};

std::string render_metrics(const metrics_source& src);

}  // namespace sb::server
