#include "cluster/redis_stats.hpp"

#include <cstdio>

namespace sb::cluster {

void seconds_histogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < bounds.size() && seconds > bounds[i]) {
    ++i;
  }
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<std::uint64_t>(seconds > 0 ? seconds * 1e6 : 0),
                    std::memory_order_relaxed);
}

void seconds_histogram::render(std::string& out, std::string_view name,
                               std::string_view help) const {
  std::string n(name);
  out += "# HELP " + n + " " + std::string(help) + "\n# TYPE " + n + " histogram\n";
  std::uint64_t cumulative = 0;
  char le[32];
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::snprintf(le, sizeof le, "%g", bounds[i]);
    out += n + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += buckets_[bounds.size()].load(std::memory_order_relaxed);
  out += n + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  std::snprintf(le, sizeof le, "%.6f",
                static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6);
  out += n + "_sum " + le + "\n";
  out += n + "_count " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

}  // namespace sb::cluster
