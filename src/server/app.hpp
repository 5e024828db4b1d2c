#pragma once
// The assembled server: one loop per thread, each with its listener, topic registry and counters;
// the broker that connects them; and the drain that ends it all on SIGTERM.
#include <atomic>
#include <memory>
#include <vector>

#include "server/config.hpp"

namespace sb::server {

class app {
 public:
  /// Binds the listeners; throws std::runtime_error with a clear message when it cannot.
  explicit app(config c);
  ~app();

  /// Serves until SIGTERM or SIGINT, drains, and returns the process exit code.
  int run();

 private:
  struct worker;

  void begin_drain();
  std::string metrics_text() const;

  config config_;
  std::uint64_t fd_limit_ = 0;         // RLIMIT_NOFILE after raising it
  std::uint64_t max_connections_ = 0;  // config_.max_connections, capped by fd_limit_
  double start_time_s_ = 0;            // Unix seconds (process_start_time_seconds)
  std::atomic<bool> draining_{false};
  std::vector<std::unique_ptr<worker>> workers_;
  struct shared_state;
  std::unique_ptr<shared_state> shared_;
};

}  // namespace sb::server
