#pragma once
// The assembled server: one worker (loop, thread, listener, topic registry, counters) per core;
// the broker that connects them; and, on the thread that calls run(), the control loop: signals,
// the presence tick, the history sweep and the drain's deadline.
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/config.hpp"
#include "server/worker.hpp"

namespace sb::io {
class loop;
}

namespace sb::server {

class app {
 public:
  /// Binds the listeners; throws std::runtime_error with a clear message when it cannot.
  explicit app(config c);
  ~app();

  /// Serves until SIGTERM or SIGINT, drains, and returns the process exit code.
  int run();

 private:
  struct shared_state;
  struct control_state;
  using endpoint = boost::asio::ip::tcp::endpoint;

  // Startup, in order.
  void make_auth();
  void make_workers_and_broker();
  void make_services();
  void make_tls();
  void reserve_descriptors();
  void open_listeners();

  // The control loop's work. Each timer is armed only while it has work: an idle server's
  // control thread sleeps until a signal, a presence change, a stats watcher or an expiry.
  void wait_signal();
  void on_signal(int signo);
  void wait_hangup();
  void on_hangup();
  /// A presence change is pending: the next presence tick is armed (once per tick).
  void arm_presence();
  void announce_presence();
  /// Someone opened the admin stats stream: the stats ticker runs while it is watched.
  void watch_stats();
  void publish_stats();
  void sweep_history();
  void watch_drain();

  void begin_drain();
  std::string metrics_text() const;

  using topic_counts = std::vector<std::pair<std::string, std::size_t>>;
  /// Subscribers of each of `topics` summed over the loops: each loop counts its own registry on
  /// its own thread (no lock, nothing read across threads); `done` runs on `from`'s thread.
  void count_subscribers(io::loop& from, std::vector<std::string> topics,
                         std::function<void(std::vector<std::size_t>)> done);
  /// Every topic with a subscriber and its subscribers summed over the loops; `done` runs on the
  /// thread of the loop that answers last.
  void gather_topics(std::function<void(topic_counts)> done);
  /// One admin stats snapshot to the admin stats topic, when someone watches it and `publish`;
  /// either way the counters are kept for the next snapshot's rates (control thread).
  void tick_stats(bool publish = true);

  config config_;
  endpoint endpoint_;
  std::optional<endpoint> tls_endpoint_;
  std::optional<endpoint> metrics_endpoint_;
  std::uint64_t fd_limit_ = 0;         // RLIMIT_NOFILE after raising it
  std::uint64_t max_connections_ = 0;  // config_.max_connections, capped by fd_limit_
  double start_time_s_ = 0;            // Unix seconds (process_start_time_seconds)
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  struct stats_state;
  std::unique_ptr<stats_state> stats_;
  std::atomic<bool> draining_{false};
  std::unique_ptr<shared_state> shared_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::unique_ptr<control_state> control_;
};

}  // namespace sb::server
