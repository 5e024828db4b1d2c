#include "io/timing_wheel.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "../../support/fake_clock.hpp"

namespace sb::io {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

/// An object with a wheel entry inside it, as connections have; records when it fired, in wall
/// time and in wheel ticks.
struct probe {
  probe(const timing_wheel* turning = nullptr) : wheel(turning) {
    entry.bind<&probe::on_fire>(this);
  }
  void on_fire() {
    fires.push_back(clock_type::now());
    if (wheel) {
      fired_on_tick.push_back(static_cast<int>(wheel->turns()));  // the tick being run now
    }
    if (then) {
      then(*this);
    }
  }
  ms since(clock_type::time_point start, std::size_t i = 0) const {
    return std::chrono::duration_cast<ms>(fires.at(i) - start);
  }

  wheel_entry entry;
  const timing_wheel* wheel;
  std::vector<clock_type::time_point> fires;
  std::vector<int> fired_on_tick;
  std::function<void(probe&)> then;  // runs inside the callback
};

/// The wheel is the io_context's only work. Ticks are the wheel's own turns, counted in time (a
/// wheel that sleeps through empty ticks counts them when it wakes), so the exact-slot tests are
/// immune to a loaded machine; the wall-clock tests below check only what load cannot break (never
/// early).
class TimingWheel : public ::testing::Test {
 protected:
  static constexpr ms tick{5};
  // 8 slots of 5 ms: one revolution is 8 ticks, so multi-round delays stay quick.
  TimingWheel() : wheel_(ctx_, tick, 8) { wheel_.start(); }
  ~TimingWheel() override { wheel_.stop(); }

  /// Runs the wheel until `n` more ticks have passed. A wheel with nothing due by then sleeps:
  /// the time passes without a wake-up.
  void run_ticks(int n) {
    target_ += static_cast<std::uint64_t>(n);
    auto deadline = clock_type::now() + 5s;
    while (wheel_.turns() < target_ && clock_type::now() < deadline) {
      if (!wheel_.armed() || wheel_.wake_turn() > target_) {
        std::this_thread::sleep_for(tick * static_cast<int>(target_ - wheel_.turns()));
        return;
      }
      ctx_.restart();
      ctx_.run_one_for(100ms);
    }
    ASSERT_GE(wheel_.turns(), target_) << "the wheel stopped turning";
  }

  /// Runs the loop with run_for until `done` or a generous deadline.
  bool run_until(const std::function<bool()>& done, ms limit = 3000ms) {
    auto deadline = clock_type::now() + limit;
    while (!done() && clock_type::now() < deadline) {
      ctx_.restart();  // a sleeping wheel leaves the context without work: run() then returns
      ctx_.run_for(5ms);
    }
    return done();
  }

  boost::asio::io_context ctx_;
  timing_wheel wheel_;
  std::uint64_t target_ = 0;
};

TEST_F(TimingWheel, FiresOnceOnItsTick) {
  probe p(&wheel_);
  wheel_.schedule(p.entry, 50ms);  // 10 ticks
  EXPECT_TRUE(p.entry.scheduled());
  run_ticks(9);
  EXPECT_TRUE(p.fires.empty());
  run_ticks(1);
  EXPECT_EQ(p.fired_on_tick, (std::vector<int>{10}));
  EXPECT_FALSE(p.entry.scheduled());
  run_ticks(20);
  EXPECT_EQ(p.fires.size(), 1u);  // once, not every revolution
}

TEST_F(TimingWheel, DelaysAreRoundedUpToWholeTicks) {
  probe a(&wheel_), b(&wheel_), c(&wheel_);
  wheel_.schedule(a.entry, 11ms);  // 3 ticks
  wheel_.schedule(b.entry, 15ms);  // 3 ticks
  wheel_.schedule(c.entry, 16ms);  // 4 ticks
  run_ticks(5);
  EXPECT_EQ(a.fired_on_tick, (std::vector<int>{3}));
  EXPECT_EQ(b.fired_on_tick, (std::vector<int>{3}));
  EXPECT_EQ(c.fired_on_tick, (std::vector<int>{4}));
}

TEST_F(TimingWheel, ZeroDelayFiresOnTheNextTickNeverInline) {
  probe p(&wheel_);
  wheel_.schedule(p.entry, 0ms);
  EXPECT_TRUE(p.entry.scheduled());
  EXPECT_TRUE(p.fires.empty());
  run_ticks(2);
  EXPECT_EQ(p.fired_on_tick, (std::vector<int>{1}));
}

TEST_F(TimingWheel, EntriesFireInDelayOrder) {
  probe a, b, c;
  std::vector<char> order;
  a.then = [&](probe&) { order.push_back('a'); };
  b.then = [&](probe&) { order.push_back('b'); };
  c.then = [&](probe&) { order.push_back('c'); };
  wheel_.schedule(c.entry, 60ms);
  wheel_.schedule(a.entry, 10ms);
  wheel_.schedule(b.entry, 30ms);
  run_ticks(12);
  EXPECT_EQ(order, (std::vector<char>{'a', 'b', 'c'}));
}

TEST_F(TimingWheel, CancelledEntryNeverFires) {
  probe p, other;
  wheel_.schedule(p.entry, 20ms);
  wheel_.schedule(other.entry, 20ms);
  p.entry.cancel();
  EXPECT_FALSE(p.entry.scheduled());
  EXPECT_TRUE(other.entry.scheduled());
  run_ticks(20);
  EXPECT_TRUE(p.fires.empty());
  EXPECT_EQ(other.fires.size(), 1u);
  p.entry.cancel();  // cancelling an idle entry is harmless
}

TEST_F(TimingWheel, RescheduleMovesTheEntry) {
  probe p(&wheel_);
  wheel_.schedule(p.entry, 20ms);
  wheel_.schedule(p.entry, 70ms);
  run_ticks(20);
  EXPECT_EQ(p.fired_on_tick, (std::vector<int>{14}));
}

TEST_F(TimingWheel, DestroyingAnEntryUnlinksIt) {
  auto doomed = std::make_unique<probe>();
  probe survivor;
  wheel_.schedule(doomed->entry, 20ms);
  wheel_.schedule(survivor.entry, 20ms);  // same slot
  doomed.reset();
  run_ticks(10);
  EXPECT_EQ(survivor.fires.size(), 1u);
}

TEST_F(TimingWheel, AFiringEntryMayDestroyAnotherDueInTheSameTick) {
  auto victim = std::make_unique<probe>();
  probe killer;
  bool victim_fired = false;
  victim->then = [&](probe&) { victim_fired = true; };
  killer.then = [&](probe&) { victim.reset(); };
  wheel_.schedule(killer.entry, 20ms);
  wheel_.schedule(victim->entry, 20ms);  // same tick, after the killer
  run_ticks(10);
  EXPECT_EQ(killer.fires.size(), 1u);
  EXPECT_EQ(victim, nullptr);
  EXPECT_FALSE(victim_fired);
}

TEST_F(TimingWheel, ReschedulingFromInsideTheCallback) {
  probe p(&wheel_);
  p.then = [&](probe& self) {
    if (self.fires.size() < 4) {
      wheel_.schedule(self.entry, 20ms);
      EXPECT_TRUE(self.entry.scheduled());
    }
  };
  wheel_.schedule(p.entry, 20ms);
  run_ticks(24);
  EXPECT_EQ(p.fired_on_tick, (std::vector<int>{4, 8, 12, 16}));
  EXPECT_FALSE(p.entry.scheduled());
}

TEST_F(TimingWheel, ZeroDelayRescheduleFromTheCallbackWaitsForTheNextTick) {
  probe p(&wheel_);
  p.then = [&](probe& self) {
    if (self.fires.size() < 3) {
      auto before = self.fires.size();
      wheel_.schedule(self.entry, 0ms);
      EXPECT_EQ(self.fires.size(), before);  // not fired again inside this tick
    }
  };
  wheel_.schedule(p.entry, 0ms);
  run_ticks(6);
  EXPECT_EQ(p.fired_on_tick, (std::vector<int>{1, 2, 3}));
}

TEST_F(TimingWheel, DelaysLongerThanOneRevolution) {
  probe p(&wheel_);
  wheel_.schedule(p.entry, 110ms);  // 22 ticks: two rounds and 6 slots on an 8-slot wheel
  run_ticks(40);
  EXPECT_EQ(p.fired_on_tick, (std::vector<int>{22}));
}

TEST_F(TimingWheel, ExactlyOneRevolution) {
  probe p(&wheel_);
  wheel_.schedule(p.entry, 40ms);  // 8 ticks: lands in the current slot, one full turn away
  run_ticks(20);
  EXPECT_EQ(p.fired_on_tick, (std::vector<int>{8}));
}

TEST_F(TimingWheel, OneTickPastARevolutionAndTwoRevolutions) {
  probe a(&wheel_), b(&wheel_);
  wheel_.schedule(a.entry, 45ms);  // 9 ticks: the next slot, one round later
  wheel_.schedule(b.entry, 80ms);  // 16 ticks: the current slot, two turns away
  run_ticks(30);
  EXPECT_EQ(a.fired_on_tick, (std::vector<int>{9}));
  EXPECT_EQ(b.fired_on_tick, (std::vector<int>{16}));
}

TEST_F(TimingWheel, LongDelayScheduledFromACallbackMidRevolution) {
  probe p(&wheel_), starter(&wheel_);
  starter.then = [&](probe&) { wheel_.schedule(p.entry, 100ms); };  // at tick 3, 20 ticks on
  wheel_.schedule(starter.entry, 15ms);
  run_ticks(30);
  EXPECT_EQ(starter.fired_on_tick, (std::vector<int>{3}));
  EXPECT_EQ(p.fired_on_tick, (std::vector<int>{23}));
}

TEST_F(TimingWheel, FiresAfterRoughlyItsDelayInWallTime) {
  probe p;
  auto start = clock_type::now();
  wheel_.schedule(p.entry, 50ms);
  ctx_.run_for(25ms);
  EXPECT_TRUE(p.fires.empty());
  ASSERT_TRUE(run_until([&] { return !p.fires.empty(); }));
  // Never early by more than the rounding to a tick; late only when the machine is busy.
  EXPECT_GE(p.since(start), 50ms - tick);
  EXPECT_LE(p.since(start), 50ms + 2000ms);
  ctx_.run_for(60ms);
  EXPECT_EQ(p.fires.size(), 1u);
}

TEST_F(TimingWheel, MultiRoundDelayInWallTime) {
  probe p;
  auto start = clock_type::now();
  wheel_.schedule(p.entry, 110ms);
  ctx_.run_for(60ms);  // a wheel that ignored rounds would have fired at 30 ms
  EXPECT_TRUE(p.fires.empty()) << "fired after " << p.since(start).count() << " ms";
  ASSERT_TRUE(run_until([&] { return !p.fires.empty(); }));
  EXPECT_GE(p.since(start), 110ms - tick);
}

TEST_F(TimingWheel, NegativeDelayFiresOnTheNextTick) {
  // A deadline that has already passed (deadline - now < 0) is due now, not never.
  probe p(&wheel_), late(&wheel_);
  wheel_.schedule(p.entry, -1ms);
  wheel_.schedule(late.entry, -10ms);
  run_ticks(3);
  EXPECT_EQ(p.fired_on_tick, (std::vector<int>{1}));
  EXPECT_EQ(late.fired_on_tick, (std::vector<int>{1}));
}

TEST_F(TimingWheel, StopSilencesTheWheel) {
  probe p;
  wheel_.schedule(p.entry, 10ms);
  wheel_.stop();
  ctx_.run_for(50ms);
  EXPECT_TRUE(p.fires.empty());
}

TEST_F(TimingWheel, AnIdleWheelDoesNotWake) {
  std::this_thread::sleep_for(60ms);  // 12 ticks with nothing scheduled
  ctx_.restart();
  ctx_.poll();
  EXPECT_EQ(wheel_.wakeups(), 0u);
  probe p(&wheel_);
  wheel_.schedule(p.entry, 40ms);  // 8 ticks away: one wake-up for it, none before
  ASSERT_TRUE(run_until([&] { return !p.fires.empty(); }));
  EXPECT_EQ(wheel_.wakeups(), 1u);
  std::this_thread::sleep_for(60ms);
  ctx_.restart();
  ctx_.poll();
  EXPECT_EQ(wheel_.wakeups(), 1u);  // asleep again once nothing is left
}

TEST_F(TimingWheel, AnEntryRevolutionsAwayWakesTheWheelOnlyWhenDue) {
  // 40 ticks on an 8-slot wheel: its slot comes round 5 times, and only the last is its turn. A
  // wheel that woke to count rounds down would wake 5 times (10,000 heartbeats 15 s away on a
  // 512-slot wheel of 10 ms ticks woke the loop every tick).
  probe p(&wheel_), soon(&wheel_);
  wheel_.schedule(p.entry, 200ms);
  wheel_.schedule(soon.entry, 10ms);  // tick 2: a slot p's comes round to on a later turn too
  ASSERT_TRUE(run_until([&] { return !p.fires.empty(); }));
  EXPECT_EQ(soon.fired_on_tick, (std::vector<int>{2}));
  EXPECT_EQ(p.fired_on_tick, (std::vector<int>{40}));
  EXPECT_EQ(wheel_.wakeups(), 2u);
}

TEST_F(TimingWheel, AnEntrySoonerThanTheSleepWakesTheWheelEarlier) {
  probe late, soon;
  auto start = clock_type::now();
  wheel_.schedule(late.entry, 200ms);
  wheel_.schedule(soon.entry, 20ms);
  ASSERT_TRUE(run_until([&] { return !soon.fires.empty(); }));
  EXPECT_LT(soon.since(start), 200ms);
  EXPECT_TRUE(late.fires.empty());
  EXPECT_GE(soon.since(start), 20ms - tick);
}

TEST_F(TimingWheel, AfterASleepDelaysCountFromNow) {
  std::this_thread::sleep_for(100ms);  // asleep: its slot is 20 ticks behind the time
  probe p;
  auto start = clock_type::now();
  wheel_.schedule(p.entry, 30ms);
  ctx_.restart();
  ctx_.run_for(15ms);
  EXPECT_TRUE(p.fires.empty()) << "fired " << p.since(start).count() << " ms after a 30 ms delay";
  ASSERT_TRUE(run_until([&] { return !p.fires.empty(); }));
  EXPECT_GE(p.since(start), 30ms - tick);
}

TEST(TimingWheelTick, ReportsItsTick) {
  boost::asio::io_context ctx;
  timing_wheel w(ctx, ms(250));
  EXPECT_EQ(w.tick(), ms(250));
}

/// With a time source the wheel runs no timer: it turns in advance(), once per tick that the
/// source's time has passed, and not before.
TEST(timing_wheel_on_a_time_source, fires_exactly_when_the_time_is_moved_past_the_deadline) {
  boost::asio::io_context ctx;
  testing::fake_clock clock;
  timing_wheel wheel(ctx, ms(10), 8, &clock);
  wheel.start();
  probe p;
  wheel.schedule(p.entry, ms(250));  // 25 ticks: three revolutions of 8 and one more
  EXPECT_EQ(ctx.poll(), 0u);         // nothing armed on the context
  clock.advance(ms(249));
  wheel.advance();
  EXPECT_TRUE(p.fires.empty());
  clock.advance(ms(1));
  wheel.advance();
  EXPECT_EQ(p.fires.size(), 1u);
  EXPECT_FALSE(p.entry.scheduled());
  EXPECT_EQ(wheel.now(), clock.now());
}

TEST(timing_wheel_on_a_time_source, a_jump_runs_every_tick_in_between_in_order) {
  boost::asio::io_context ctx;
  testing::fake_clock clock;
  timing_wheel wheel(ctx, ms(10), 8, &clock);
  wheel.start();
  std::vector<int> order;
  probe late, early;
  late.then = [&](probe&) { order.push_back(2); };
  early.then = [&](probe&) {
    order.push_back(1);
    wheel.schedule(early.entry, ms(10));  // rescheduled from its callback: fires a tick later
  };
  wheel.schedule(late.entry, ms(50));
  wheel.schedule(early.entry, ms(20));
  clock.advance(ms(45));
  wheel.advance();
  EXPECT_EQ(order, (std::vector<int>{1, 1, 1}));  // 20, 30, 40 ms
  clock.advance(ms(5));
  wheel.advance();
  EXPECT_EQ(order, (std::vector<int>{1, 1, 1, 2, 1}));  // 50 ms: in the order scheduled
}

/// Beats (heartbeats, pings) on the production wheel's shape: 10 ms ticks, 512 slots.
class beat_test : public ::testing::Test {
 protected:
  beat_test() : wheel(ctx, ms(10), 512, &clock) { wheel.start(); }
  void advance(ms d) {
    clock.advance(d);
    wheel.advance();
  }
  /// Fires and beats again every `interval`, as a heartbeat does.
  void beat(probe& p, ms interval) {
    p.then = [this, interval](probe& self) { wheel.schedule_beat(self.entry, interval); };
    wheel.schedule_beat(p.entry, interval);
  }

  boost::asio::io_context ctx;
  testing::fake_clock clock;
  timing_wheel wheel;
};

TEST_F(beat_test, beats_of_connections_opened_apart_share_one_turn_then_keep_their_interval) {
  probe a(&wheel), b(&wheel), c(&wheel);
  advance(ms(300));
  beat(a, ms(15000));
  advance(ms(420));
  beat(b, ms(15000));
  advance(ms(270));
  beat(c, ms(15000));  // 990 ms after the wheel started: all three are due in the 15th second
  advance(ms(15000 - 990 - 10));
  EXPECT_TRUE(a.fires.empty() && b.fires.empty() && c.fires.empty());
  advance(ms(10));  // 15 s: the last whole second at or before each one's deadline
  EXPECT_EQ(a.fired_on_tick, (std::vector<int>{1500}));
  EXPECT_EQ(b.fired_on_tick, (std::vector<int>{1500}));
  EXPECT_EQ(c.fired_on_tick, (std::vector<int>{1500}));
  advance(ms(15000));
  // From then on exactly the interval apart, all on one turn.
  EXPECT_EQ(a.fired_on_tick, (std::vector<int>{1500, 3000}));
  EXPECT_EQ(b.fired_on_tick, a.fired_on_tick);
  EXPECT_EQ(c.fired_on_tick, a.fired_on_tick);
}

TEST_F(beat_test, the_first_beat_is_early_by_less_than_the_grain_never_late) {
  for (int offset : {0, 10, 500, 990}) {
    probe p(&wheel);
    advance(ms(offset));
    auto at = wheel.turns();
    wheel.schedule_beat(p.entry, ms(15000));
    advance(ms(16000));
    ASSERT_EQ(p.fired_on_tick.size(), 1u) << offset;
    auto after = p.fired_on_tick[0] - static_cast<int>(at);
    EXPECT_LE(after, 1500) << offset;
    EXPECT_GT(after, 1500 - 100) << offset;
  }
}

TEST_F(beat_test, an_interval_off_the_grain_or_short_is_scheduled_exactly) {
  probe odd(&wheel), shortish(&wheel);
  advance(ms(300));
  wheel.schedule_beat(odd.entry, ms(15500));      // not whole seconds
  wheel.schedule_beat(shortish.entry, ms(5000));  // under 8 grains
  advance(ms(16000));
  EXPECT_EQ(shortish.fired_on_tick, (std::vector<int>{30 + 500}));
  EXPECT_EQ(odd.fired_on_tick, (std::vector<int>{30 + 1550}));
}

}  // namespace
}  // namespace sb::io
