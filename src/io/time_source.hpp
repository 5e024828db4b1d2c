#pragma once
// Where a loop reads the time. Production loops read steady_clock and their timing wheel ticks on
// an Asio timer; a test gives the loop a time source it moves by hand (tests/support/
// fake_clock.hpp) and then turns the wheel itself (timing_wheel::advance), so a 60 s idle timeout
// is tested in microseconds and exactly to the tick.
#include <chrono>

namespace sb::io {

class time_source {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual time_point now() const = 0;

 protected:
  ~time_source() = default;
};

}  // namespace sb::io
