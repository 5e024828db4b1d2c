#pragma once
// SIGTERM: how long the drain may take and how fast it says goodbye.
#include <chrono>
#include <cstdint>

namespace sb::server {

/// drain_timeout_s and drain_rate.
struct drain_settings {
  std::chrono::seconds timeout{10};  // exit within this
  std::uint64_t rate = 2000;         // streams closed per second, across the loops
};

}  // namespace sb::server
