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
  armed_ = false;
  timer_.cancel();
}

void timing_wheel::schedule(wheel_entry& e, duration delay) {
  e.unlink();
  pass_empty_ticks();
  delay = std::max(delay, duration(1));  // a deadline in the past fires on the next tick
  auto ticks = static_cast<std::size_t>((delay + tick_ - duration(1)) / tick_);
  e.rounds_ = static_cast<std::uint32_t>((ticks - 1) / slots_.size());
  slots_[(current_ + ticks) % slots_.size()].push_back(e);
  if (!time_ && running_ && (!armed_ || turns_ + ticks < wake_turn_)) {
    arm();  // sooner than the wheel meant to wake, or it slept with nothing to do
  }
}

void timing_wheel::pass_empty_ticks() {
  // A sleeping wheel has not turned: its current slot is behind the time. Every slot it slept
  // past is empty (it would have woken for an entry), so it catches up by counting them, and a
  // new entry is placed from now, not from when the wheel fell asleep.
  if (time_ || turning_) {
    return;  // a test's clock turns in advance(); inside a turn, the turn is the present
  }
  auto now = std::chrono::steady_clock::now();
  while (next_tick_ <= now && slots_[(current_ + 1) % slots_.size()].empty()) {
    current_ = (current_ + 1) % slots_.size();
    ++turns_;
    next_tick_ += tick_;
  }
}

void timing_wheel::arm() {
  // The next tick with entries, within one revolution (an entry due in a later round wakes the
  // wheel once per revolution, which counts down its rounds). None: sleep until schedule().
  std::size_t ahead = 1;
  while (ahead <= slots_.size() && slots_[(current_ + ahead) % slots_.size()].empty()) {
    ++ahead;
  }
  if (ahead > slots_.size()) {
    armed_ = false;
    timer_.cancel();
    return;
  }
  armed_ = true;
  wake_turn_ = turns_ + ahead;
  timer_.expires_at(next_tick_ + (ahead - 1) * tick_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && running_) {
      on_tick();
    }
  });
}

void timing_wheel::on_tick() {
  ++wakeups_;
  armed_ = false;
  // Every tick that is due, the empty ones slept through included: a loop that was busy or asleep
  // catches up in order.
  auto now = std::chrono::steady_clock::now();
  turning_ = true;
  do {
    turn();
    next_tick_ += tick_;
  } while (running_ && next_tick_ <= now);
  turning_ = false;
  if (running_ && !armed_) {
    arm();
  }
}

void timing_wheel::turn() {
  current_ = (current_ + 1) % slots_.size();
  ++turns_;
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
