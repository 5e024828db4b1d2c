#include "core/subscriber_queue.hpp"

#include <gtest/gtest.h>

namespace sb {
namespace {

using namespace std::chrono_literals;
using action = delivery_verdict::action;
using clock = subscriber_queue::clock;

struct null_subscriber final : subscriber {
  void on_message(subscription&, const message_ptr&) override {}
};

/// A message whose footprint (as the bounds count it) is about `bytes`.
std::shared_ptr<message> sized(std::shared_ptr<message> m, std::size_t bytes) {
  auto n = bytes > m->footprint() + 17 ? bytes - m->footprint() - 17 : 0;
  m->data.assign(n, 'x');
  m->data.shrink_to_fit();
  return m;
}

message_ptr stored(std::uint64_t seq, std::uint64_t epoch = 1, std::size_t bytes = 1000) {
  auto m = std::make_shared<message>();
  m->pos = {epoch, seq};
  return sized(std::move(m), bytes);
}

message_ptr volatile_msg(std::size_t bytes = 1000) {
  auto m = std::make_shared<message>();
  m->kind = message_kind::volatile_;
  return sized(std::move(m), bytes);
}

class subscriber_queue_test : public ::testing::Test {
 protected:
  subscriber_queue_test() {
    limits_.hard_bytes = 10000;
    limits_.soft_bytes = 4000;
    limits_.soft_for = 1000ms;
    for (auto* s : {&a_, &b_}) {
      s->set_owner(owner_);
    }
  }

  /// `s` attached at epoch 1, seq `seq`, with nothing missed.
  void attach(queued_subscription& s, std::uint64_t seq = 0) {
    auto v = q_.attached(s, {1, seq}, {}, 0, t0_);
    ASSERT_EQ(v.act, action::hold);
  }

  /// What next() hands out while the socket holds nothing: (seq, or 0 for a gap marker, or -1
  /// for a volatile message) per entry.
  std::vector<long> drain() {
    std::vector<long> out;
    while (auto e = q_.next(0)) {
      out.push_back(!e->m ? 0 : e->m->stored() ? static_cast<long>(e->m->pos.seq) : -1);
    }
    return out;
  }

  null_subscriber owner_;
  backlog_limits limits_;
  std::size_t high_water_ = 2000;
  subscriber_queue q_{limits_, high_water_};
  queued_subscription a_, b_;
  clock::time_point t0_ = clock::time_point{} + 1h;
};

TEST_F(subscriber_queue_test, WritesAtOnceWhileTheSocketKeepsUp) {
  attach(a_);
  auto v = q_.offer(a_, stored(1), 0, t0_);
  EXPECT_EQ(v.act, action::write);
  EXPECT_FALSE(v.gap);
  EXPECT_FALSE(v.dropped);
  EXPECT_EQ(a_.at, (position{1, 1}));
  EXPECT_TRUE(q_.empty());
}

TEST_F(subscriber_queue_test, SkipsWhatItHasBySeq) {
  attach(a_, 5);
  EXPECT_EQ(q_.offer(a_, stored(4), 0, t0_).act, action::skip);
  EXPECT_EQ(q_.offer(a_, stored(5), 0, t0_).act, action::skip);
  EXPECT_EQ(q_.offer(a_, stored(6), 0, t0_).act, action::write);
  EXPECT_EQ(q_.offer(a_, stored(6), 0, t0_).act, action::skip);
  EXPECT_EQ(a_.at, (position{1, 6}));
}

TEST_F(subscriber_queue_test, AGapWhenTheEpochChanges) {
  attach(a_, 5);
  auto v = q_.offer(a_, stored(1, 2), 0, t0_);
  EXPECT_TRUE(v.gap);
  EXPECT_EQ(v.act, action::write);
  EXPECT_EQ(a_.at, (position{2, 1}));
  // The gap is told once: the next message of the new epoch follows without one.
  v = q_.offer(a_, stored(2, 2), 0, t0_);
  EXPECT_FALSE(v.gap);
  EXPECT_EQ(v.act, action::write);
}

TEST_F(subscriber_queue_test, AGapAfterAHoleTheBackplaneLost) {
  attach(a_, 5);
  attach(b_, 8);
  // The backplane lost seqs 6..8 (history trimmed while it could not hear them) and marks 9.
  auto m = stored(9);
  m->after_hole = true;
  auto v = q_.offer(a_, m, 0, t0_);
  EXPECT_TRUE(v.gap);
  EXPECT_EQ(v.act, action::write);
  EXPECT_EQ(a_.at, (position{1, 9}));
  // A subscriber that had the message right before the hole lost nothing.
  v = q_.offer(b_, m, 0, t0_);
  EXPECT_FALSE(v.gap);
  EXPECT_EQ(v.act, action::write);
  // Without the mark a seq jump is not taken for a loss: the broker says when it lost something.
  EXPECT_FALSE(q_.offer(b_, stored(12), 0, t0_).gap);
}

TEST_F(subscriber_queue_test, VolatileMessagesAreNeverSkippedBySeq) {
  attach(a_, 5);
  EXPECT_EQ(q_.offer(a_, volatile_msg(), 0, t0_).act, action::write);
  EXPECT_EQ(a_.at, (position{1, 5}));
}

TEST_F(subscriber_queue_test, HoldsOverTheHighWaterMarkAndBehindWhatWaits) {
  attach(a_);
  EXPECT_EQ(q_.offer(a_, stored(1), high_water_, t0_).act, action::hold);
  // The socket has room again, but something waits: order first.
  EXPECT_EQ(q_.offer(a_, stored(2), 0, t0_).act, action::hold);
  EXPECT_FALSE(q_.next(high_water_));  // the socket is full: nothing handed out
  EXPECT_EQ(drain(), (std::vector<long>{1, 2}));
  EXPECT_EQ(q_.offer(a_, stored(3), 0, t0_).act, action::write);
}

TEST_F(subscriber_queue_test, HoldWritesNothingAndHandsOutNothing) {
  attach(a_);
  q_.hold(true);
  EXPECT_EQ(q_.offer(a_, stored(1), 0, t0_).act, action::hold);
  EXPECT_FALSE(q_.next(0));
  q_.hold(false);
  EXPECT_EQ(drain(), (std::vector<long>{1}));
}

TEST_F(subscriber_queue_test, ReplaysWhatWasMissedThenLiveMessages) {
  std::vector<message_ptr> missed{stored(3), stored(4)};
  EXPECT_EQ(q_.attached(a_, {1, 4}, std::move(missed), 0, t0_).act, action::hold);
  EXPECT_EQ(q_.offer(a_, stored(4), 0, t0_).act, action::skip);  // the replay has it
  EXPECT_EQ(q_.offer(a_, stored(5), 0, t0_).act, action::hold);  // behind the replay
  EXPECT_EQ(drain(), (std::vector<long>{3, 4, 5}));
}

TEST_F(subscriber_queue_test, LiveMessagesBeforeTheAttachIsAnsweredMergeBySeq) {
  // An asynchronous broker delivers 3..6 before it answers "head 4, you missed 2..4".
  subscriber_queue::begin_attach(a_);
  for (std::uint64_t seq = 3; seq <= 6; ++seq) {
    EXPECT_EQ(q_.offer(a_, stored(seq), 0, t0_).act, action::skip);  // aside, not written
  }
  EXPECT_FALSE(q_.empty());
  // Another topic, attached already, is not held up.
  attach(b_);
  EXPECT_EQ(q_.offer(b_, stored(1), 0, t0_).act, action::write);
  std::vector<message_ptr> missed{stored(2), stored(3), stored(4)};
  auto v = q_.attached(a_, {1, 4}, std::move(missed), 0, t0_);
  EXPECT_EQ(v.act, action::hold);
  EXPECT_EQ(a_.at, (position{1, 6}));
  EXPECT_EQ(drain(), (std::vector<long>{2, 3, 4, 5, 6}));  // no gap, no duplicate
  EXPECT_TRUE(q_.empty());
}

TEST_F(subscriber_queue_test, AnEarlyMessageOfAnotherEpochIsMarkedAsAGap) {
  subscriber_queue::begin_attach(a_);
  q_.offer(a_, stored(1, 2), 0, t0_);
  q_.attached(a_, {1, 4}, {}, 0, t0_);
  EXPECT_EQ(drain(), (std::vector<long>{0, 1}));
  EXPECT_EQ(a_.at, (position{2, 1}));
}

TEST_F(subscriber_queue_test, ForgetDropsEarlyAndQueuedMessages) {
  subscriber_queue::begin_attach(a_);
  q_.offer(a_, stored(1), 0, t0_);
  attach(b_);
  q_.offer(b_, stored(1), high_water_, t0_);
  q_.forget(a_);
  EXPECT_EQ(drain(), (std::vector<long>{1}));
  EXPECT_TRUE(q_.empty());
}

TEST_F(subscriber_queue_test, EarlyMessagesOverTheHardBoundClose) {
  subscriber_queue::begin_attach(a_);
  delivery_verdict v;
  for (std::uint64_t seq = 1; seq <= 20 && v.act != action::close; ++seq) {
    v = q_.offer(a_, stored(seq), 0, t0_);
  }
  EXPECT_EQ(v.act, action::close);
  EXPECT_EQ(v.reason, close_reason::slow_consumer);
}

TEST_F(subscriber_queue_test, ResumePolicyClosesOverTheHardBound) {
  attach(a_);
  auto v = q_.offer(a_, stored(1), limits_.hard_bytes, t0_);
  EXPECT_EQ(v.act, action::close);
  EXPECT_EQ(v.reason, close_reason::slow_consumer);
}

TEST_F(subscriber_queue_test, ResumePolicyClosesOverTheSoftBoundForItsTime) {
  attach(a_);
  EXPECT_EQ(q_.offer(a_, stored(1), 5000, t0_).act, action::hold);
  EXPECT_EQ(q_.offer(a_, stored(2), 5000, t0_ + 999ms).act, action::hold);
  EXPECT_EQ(q_.offer(a_, stored(3), 5000, t0_ + 1000ms).act, action::close);
}

TEST_F(subscriber_queue_test, LatestPolicyConflatesOverTheBound) {
  a_.policy = overflow_policy::latest;
  attach(a_);
  EXPECT_EQ(q_.offer(a_, stored(1), 5000, t0_).act, action::hold);
  auto v = q_.offer(a_, stored(2), limits_.hard_bytes, t0_);
  EXPECT_EQ(v.act, action::hold);
  EXPECT_FALSE(v.dropped);
  EXPECT_EQ(drain(), (std::vector<long>{2}));
}

TEST_F(subscriber_queue_test, DropPolicyDropsAndMarksOneGap) {
  a_.policy = overflow_policy::drop;
  attach(a_);
  EXPECT_EQ(q_.offer(a_, stored(1), high_water_, t0_).act, action::hold);
  auto v = q_.offer(a_, stored(2), limits_.hard_bytes, t0_);
  EXPECT_EQ(v.act, action::hold);
  EXPECT_TRUE(v.dropped);
  EXPECT_TRUE(q_.offer(a_, stored(3), limits_.hard_bytes, t0_).dropped);
  EXPECT_EQ(drain(), (std::vector<long>{1, 0}));
  EXPECT_EQ(a_.at, (position{1, 3}));  // dropped is not redelivered
}

TEST_F(subscriber_queue_test, AReplayIsNeverOvertakenByConflation) {
  // Found by tests/fuzz/subscriber_queue_fuzz: a `latest` topic with a live message pending is
  // attached again; a later message must not replace the pending one, ahead of the replay.
  a_.policy = overflow_policy::latest;
  attach(a_);
  EXPECT_EQ(q_.offer(a_, stored(1), high_water_, t0_).act, action::hold);
  subscriber_queue::begin_attach(a_);
  std::vector<message_ptr> missed{stored(2), stored(3)};
  q_.attached(a_, {1, 3}, std::move(missed), 0, t0_);
  EXPECT_EQ(q_.offer(a_, stored(4), limits_.hard_bytes, t0_).act, action::hold);
  EXPECT_EQ(drain(), (std::vector<long>{1, 2, 3, 4}));
}

TEST_F(subscriber_queue_test, VolatileIsDroppedOverTheBoundAndNeverCloses) {
  attach(a_);
  auto v = q_.offer(a_, volatile_msg(), limits_.hard_bytes, t0_);
  EXPECT_EQ(v.act, action::hold);
  EXPECT_TRUE(v.dropped);
}

TEST_F(subscriber_queue_test, TheTimerClosesAResumeTopicOverTheSoftBoundForItsTime) {
  attach(a_);
  q_.enroll(a_);
  EXPECT_EQ(q_.offer(a_, stored(1), 5000, t0_).act, action::hold);
  EXPECT_EQ(q_.judge(5000, t0_ + 500ms).act, action::skip);
  auto v = q_.judge(5000, t0_ + 1000ms);
  EXPECT_EQ(v.act, action::close);
  EXPECT_EQ(v.reason, close_reason::slow_consumer);
}

TEST_F(subscriber_queue_test, TheTimerRestartsTheSoftClockOnABreak) {
  attach(a_);
  q_.enroll(a_);
  q_.offer(a_, stored(1), 5000, t0_);
  EXPECT_EQ(q_.judge(100, t0_ + 500ms).act, action::skip);  // under the soft bound: a break
  EXPECT_EQ(q_.judge(5000, t0_ + 1200ms).act, action::skip);
  EXPECT_EQ(q_.judge(5000, t0_ + 2200ms).act, action::close);
}

TEST_F(subscriber_queue_test, TheTimerClosesOnlyForResumeTopics) {
  a_.policy = overflow_policy::drop;
  attach(a_);
  q_.enroll(a_);
  q_.offer(a_, stored(1), 5000, t0_);
  EXPECT_EQ(q_.judge(5000, t0_ + 5s).act, action::skip);
  // A resume topic withdrawn (a WebSocket unsubscribe) no longer counts either.
  attach(b_);
  q_.enroll(b_);
  EXPECT_EQ(q_.judge(5000, t0_ + 6s).act, action::close);
  q_.withdraw(b_);
  EXPECT_EQ(q_.judge(5000, t0_ + 7s).act, action::skip);
}

TEST_F(subscriber_queue_test, TheTimerLeavesAnEmptyQueueAlone) {
  attach(a_);
  q_.enroll(a_);
  EXPECT_EQ(q_.judge(limits_.hard_bytes * 2, t0_).act, action::skip);
}

}  // namespace
}  // namespace sb
