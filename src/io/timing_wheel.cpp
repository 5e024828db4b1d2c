#include "io/timing_wheel.hpp"

#include <algorithm>

namespace sb::io {

timing_wheel::timing_wheel(boost::asio::io_context& ctx, duration tick, std::size_t slots,
                           const time_source* time)
    : timer_(ctx), tick_(tick), slots_(slots), time_(time) {}

void timing_wheel::start() {
  running_ = true;
  next_tick_ = now() + tick_;
  if (!time_) {
    arm();
  }
}

void timing_wheel::advance() {
  while (time_ && running_ && next_tick_ <= time_->now()) {
    turn();
    next_tick_ += tick_;
  }
}

void timing_wheel::stop() {
  running_ = false;
  timer_.cancel();
}

void timing_wheel::schedule(wheel_entry& e, duration delay) {
  e.unlink();
  delay = std::max(delay, duration(1));  // a deadline in the past fires on the next tick
  auto ticks = static_cast<std::size_t>((delay + tick_ - duration(1)) / tick_);
  e.rounds_ = static_cast<std::uint32_t>((ticks - 1) / slots_.size());
  slots_[(current_ + ticks) % slots_.size()].push_back(e);
}

void timing_wheel::arm() {
  timer_.expires_at(next_tick_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && running_) {
      on_tick();
    }
  });
}

void timing_wheel::on_tick() {
  turn();
  next_tick_ += tick_;
  auto now = std::chrono::steady_clock::now();
  if (next_tick_ < now) {
    next_tick_ = now;  // a stalled loop catches up without a burst of ticks
  }
  arm();
}

void timing_wheel::turn() {
  current_ = (current_ + 1) % slots_.size();
  // Move the due entries out first: a firing entry may reschedule itself or destroy others.
  slot due;
  auto& here = slots_[current_];
  for (auto it = here.begin(); it != here.end();) {
    auto& e = *it++;
    if (e.rounds_ > 0) {
      --e.rounds_;
    } else {
      e.unlink();
      due.push_back(e);
    }
  }
  while (!due.empty()) {
    auto& e = due.front();
    due.pop_front();
    e.fire_(e.target_);
  }
}

}  // namespace sb::io
