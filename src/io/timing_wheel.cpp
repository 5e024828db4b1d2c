#include "io/timing_wheel.hpp"

#include <algorithm>

namespace sb::io {

timing_wheel::timing_wheel(boost::asio::io_context& ctx, duration tick, std::size_t slots,
                           const time_source* time)
    : timer_(ctx), tick_(tick), slots_(slots), slot_min_(slots, never), time_(time) {
  start_ = now();
}

void timing_wheel::start() {
  running_ = true;
  start_ = now();
  turns_ = 0;
  if (!time_) {
    arm();
  }
}

void timing_wheel::advance() {
  if (time_ && running_) {
    run_until(now_turn());
  }
}

void timing_wheel::stop() {
  running_ = false;
  armed_ = false;
  timer_.cancel();
}

std::uint64_t timing_wheel::now_turn() const {
  auto t = now();
  if (t <= start_) {
    return 0;
  }
  return static_cast<std::uint64_t>((t - start_) / tick_);
}

std::uint64_t timing_wheel::base_turn() const {
  // Inside a turn, the turn is the present: a wheel catching up after a busy loop reschedules
  // from the tick it runs, so a periodic entry keeps its period.
  return turning_ ? turns_ : std::max(turns_, now_turn());
}

void timing_wheel::schedule(wheel_entry& e, duration delay) {
  e.unlink();
  delay = std::max(delay, duration(1));  // a deadline in the past fires on the next tick
  auto ticks = static_cast<std::uint64_t>((delay + tick_ - duration(1)) / tick_);
  place(e, base_turn() + ticks);
}

void timing_wheel::schedule_beat(wheel_entry& e, duration interval) {
  auto grain = static_cast<std::uint64_t>(beat_grain / tick_);
  if (grain == 0 || tick_ * static_cast<std::int64_t>(grain) != beat_grain ||
      interval % beat_grain != duration(0) || interval < 8 * beat_grain) {
    schedule(e, interval);
    return;
  }
  e.unlink();
  auto due = base_turn() + static_cast<std::uint64_t>(interval / tick_);
  place(e, due / grain * grain);  // at least 7 grains from now: never in the past
}

void timing_wheel::place(wheel_entry& e, std::uint64_t due) {
  auto i = static_cast<std::size_t>(due % slots_.size());
  e.due_ = due;
  slots_[i].push_back(e);
  slot_min_[i] = std::min(slot_min_[i], due);
  // Inside a turn the wheel arms itself once the turn is over, from every slot.
  if (!time_ && running_ && !turning_ && (!armed_ || due < wake_turn_)) {
    arm_at(due);  // sooner than the wheel meant to wake, or it slept with nothing to do
  }
}

std::uint64_t timing_wheel::earliest() const {
  return *std::min_element(slot_min_.begin(), slot_min_.end());
}

void timing_wheel::arm() {
  // A slot's bound goes stale when its entries are rescheduled or destroyed (a connection's header
  // deadline, moved on to its heartbeat): the earliest slot is checked before the timer is set, so
  // the loop never wakes for an entry that is gone.
  for (;;) {
    auto it = std::min_element(slot_min_.begin(), slot_min_.end());
    if (*it == never) {
      armed_ = false;
      timer_.cancel();
      return;
    }
    auto exact = never;
    for (const auto& e : slots_[static_cast<std::size_t>(it - slot_min_.begin())]) {
      exact = std::min(exact, e.due_);
    }
    if (exact == *it) {
      arm_at(exact);
      return;
    }
    *it = exact;
  }
}

void timing_wheel::arm_at(std::uint64_t turn) {
  armed_ = true;
  wake_turn_ = turn;
  timer_.expires_at(start_ + static_cast<std::int64_t>(turn) * tick_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && running_) {
      on_tick();
    }
  });
}

void timing_wheel::on_tick() {
  ++wakeups_;
  armed_ = false;
  // Every turn that is due, in order: a loop that was busy catches up.
  run_until(now_turn());
  if (running_ && !armed_) {
    arm();
  }
}

void timing_wheel::run_until(std::uint64_t last) {
  turning_ = true;
  // Straight from one turn with something due to the next: the ticks in between have nothing to
  // run, whichever revolution their slots hold entries for.
  for (auto next = earliest(); running_ && next <= last; next = earliest()) {
    turns_ = std::max(turns_, next);
    turn(turns_);
  }
  turns_ = std::max(turns_, last);
  turning_ = false;
}

void timing_wheel::turn(std::uint64_t t) {
  auto i = static_cast<std::size_t>(t % slots_.size());
  auto& here = slots_[i];
  // Move the due entries out first: a firing entry may reschedule itself or destroy others.
  slot due;
  std::uint64_t later = never;
  for (auto it = here.begin(); it != here.end();) {
    auto& e = *it++;
    if (e.due_ <= t) {
      e.unlink();
      due.push_back(e);
    } else {
      later = std::min(later, e.due_);
    }
  }
  slot_min_[i] = later;
  while (!due.empty()) {
    auto& e = due.front();
    due.pop_front();
    e.fire_(e.target_);
  }
}

}  // namespace sb::io
