#pragma once
// SIGTERM (STYLE.md habit 10): stop accepting, tell clients, close, exit. The settings, and the
// pacing of one loop's goodbyes; the app watches the deadline across the loops.
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "io/connection.hpp"
#include "io/loop.hpp"

namespace sb::server {

/// drain_timeout_s and drain_rate.
struct drain_settings {
  std::chrono::seconds timeout{10};  // exit within this
  std::uint64_t rate = 2000;         // streams closed per second, across the loops

  /// How often pacing says goodbye, and the app checks whether the drain is done.
  static constexpr std::chrono::milliseconds tick{50};
  /// Goodbyes per tick on each of `loops` loops (a fraction accumulates across ticks).
  double per_tick(std::size_t loops) const {
    return static_cast<double>(rate) * static_cast<double>(tick.count()) / 1000.0 /
           static_cast<double>(loops);
  }
};

/// Says goodbye (connection_handler::on_drain) to one loop's connections at a paced rate until
/// none is left. Lives and runs on its loop.
class drain_pacer {
 public:
  explicit drain_pacer(io::loop& loop) : loop_(loop), timer_(loop.context()) {}

  /// Takes every connection the loop has now and starts, `per_tick` goodbyes a tick.
  void start(double per_tick);
  /// Says goodbye to everyone left at once (the deadline is near).
  void hurry() { step(1e18); }

 private:
  void step(double per_tick);
  void on_tick();

  io::loop& loop_;
  boost::asio::steady_timer timer_;
  std::vector<io::connection_weak> left_;
  double per_tick_ = 0;
  double budget_ = 0;
};

}  // namespace sb::server
