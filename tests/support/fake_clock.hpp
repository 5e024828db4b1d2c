#pragma once
// A loop's time moved by hand (io/time_source.hpp): a loop made with it has a timing wheel that
// never ticks by itself; in_process_server::advance moves the clock and turns the wheel tick by
// tick, so heartbeats, timeouts and pings are tested exactly and in microseconds.
#include <chrono>

#include "io/time_source.hpp"

namespace sb::testing {

class fake_clock final : public io::time_source {
 public:
  time_point now() const override { return now_; }
  void advance(std::chrono::steady_clock::duration d) { now_ += d; }

 private:
  // Far from zero, so that code subtracting an interval from "now" stays in range.
  time_point now_ = time_point{} + std::chrono::hours(1000);
};

}  // namespace sb::testing
