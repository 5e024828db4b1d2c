#pragma once
// One clock per loop instead of one timer per socket (STYLE.md habit 7). Entries live inside the
// objects they time (a connection's heartbeat or header deadline), so scheduling never allocates,
// and an entry unlinks itself when its owner is destroyed. The wheel's timer is set for the next
// tick that has an entry due, never for a tick that only counts down an entry of a later
// revolution: an idle loop sleeps until its next deadline.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

#include "io/time_source.hpp"

namespace sb::io {

class timing_wheel;

class wheel_entry : public boost::intrusive::list_base_hook<
                        boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  wheel_entry() = default;
  wheel_entry(const wheel_entry&) = delete;
  wheel_entry& operator=(const wheel_entry&) = delete;

  /// Calls `(self->*Method)()` when the entry expires. `self` must outlive the entry's schedule
  /// (true when the entry is a member of `self`).
  template <auto Method, class T>
  void bind(T* self) {
    target_ = self;
    fire_ = [](void* p) { (static_cast<T*>(p)->*Method)(); };
  }

  bool scheduled() const { return is_linked(); }
  void cancel() { unlink(); }

 private:
  friend class timing_wheel;
  void* target_ = nullptr;
  void (*fire_)(void*) = nullptr;
  std::uint64_t due_ = 0;  // the turn it fires on
};

class timing_wheel {
 public:
  using duration = std::chrono::milliseconds;

  /// Ticks every `tick` on `ctx`, but sleeps until the next tick that has entries: an idle loop
  /// does not wake. Delays are rounded up to whole ticks. With a `time` source
  /// (a test's), no Asio timer runs: the wheel ticks only in advance(). `time` outlives the wheel.
  timing_wheel(boost::asio::io_context& ctx, duration tick, std::size_t slots = 512,
               const time_source* time = nullptr);

  void start();
  void stop();

  /// With a time source: runs every tick due by its now(), in order. Without one, does nothing.
  void advance();
  /// The wheel's time: the time source's, else steady_clock's.
  time_source::time_point now() const {
    return time_ ? time_->now() : std::chrono::steady_clock::now();
  }

  /// (Re)schedules `e` to fire once after `delay`.
  void schedule(wheel_entry& e, duration delay);

  /// The grid periodic beats are put on (see schedule_beat).
  static constexpr duration beat_grain{1000};
  /// (Re)schedules a periodic beat (a heartbeat, a ping) due `interval` from now, moved earlier
  /// onto the last multiple of beat_grain (counted from start()) at or before that deadline, so
  /// the beats of every entry with that interval share one wake-up per grain instead of one per
  /// tick in which some connection happened to open. The first beat comes up to one grain early;
  /// a beat rescheduled from its own firing keeps exactly `interval` to the next. An interval that
  /// is not a whole number of grains, or shorter than 8 of them, is scheduled exactly.
  void schedule_beat(wheel_entry& e, duration interval);

  duration tick() const { return tick_; }
  /// Ticks turned since start(), counted in time: a wheel that slept through ticks with nothing
  /// due counts them when it wakes.
  std::uint64_t turns() const { return turns_; }
  /// How often the wheel's timer woke the loop (an idle wheel does not).
  std::uint64_t wakeups() const { return wakeups_; }
  /// Whether the timer is set, and for which turn (an entry is due then).
  bool armed() const { return armed_; }
  std::uint64_t wake_turn() const { return wake_turn_; }

 private:
  using slot = boost::intrusive::list<wheel_entry, boost::intrusive::constant_time_size<false>>;
  static constexpr std::uint64_t never = ~std::uint64_t{0};
  /// The turn whose time the clock has reached (0 before start()).
  std::uint64_t now_turn() const;
  /// The turn a delay counts from: the present (inside a turn, the turn being run).
  std::uint64_t base_turn() const;
  void place(wheel_entry& e, std::uint64_t due);
  /// The earliest turn any entry may be due on (a lower bound: cancelled entries are forgotten
  /// only when their slot is next looked at), or `never`.
  std::uint64_t earliest() const;
  void arm();
  void arm_at(std::uint64_t turn);
  void on_tick();
  /// Runs every turn with something due, up to and including `last`, in order.
  void run_until(std::uint64_t last);
  void turn(std::uint64_t t);

  boost::asio::steady_timer timer_;
  duration tick_;
  std::vector<slot> slots_;
  /// Per slot, a lower bound of its entries' due turns (`never` when known empty): a tick whose
  /// slot holds only later revolutions is neither woken for nor scanned.
  std::vector<std::uint64_t> slot_min_;
  std::chrono::steady_clock::time_point start_;  // turn t is due at start_ + t * tick_
  const time_source* time_;
  std::uint64_t turns_ = 0;
  std::uint64_t wakeups_ = 0;
  std::uint64_t wake_turn_ = 0;  // the turn the armed timer is for
  bool armed_ = false;
  bool turning_ = false;  // inside on_tick's turns
  bool running_ = false;
};

}  // namespace sb::io
