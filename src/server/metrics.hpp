#pragma once
// GET /metrics: per-loop counters summed at scrape time, in Prometheus text format.
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
};

std::string render_metrics(const metrics_source& src);

}  // namespace sb::server
