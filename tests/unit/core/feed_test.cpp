#include "core/feed.hpp"

#include <gtest/gtest.h>

#include "core/topic_registry.hpp"

namespace sb {
namespace {

using namespace std::chrono_literals;
using clock = feed::clock;

struct null_subscriber final : subscriber {
  void on_message(subscription&, const message_ptr&) override {}
};

/// Gives `m` data so that its footprint (struct, allocator overhead and data, as the bounds count
/// it) is at most `bytes` and within a few bytes of it.
message_ptr sized(std::shared_ptr<message> m, std::size_t bytes) {
  auto n = bytes > m->footprint() + 17 ? bytes - m->footprint() - 17 : 0;
  m->data.assign(n, 'x');
  m->data.shrink_to_fit();
  return m;
}

/// A stored message whose footprint is about `bytes`.
message_ptr msg(std::uint64_t seq, std::size_t bytes = 1000) {
  auto m = std::make_shared<message>();
  m->pos = {1, seq};
  return sized(std::move(m), bytes);
}

message_ptr volatile_msg(std::size_t bytes = 1000) {
  auto m = std::make_shared<message>();
  m->kind = message_kind::volatile_;
  return sized(std::move(m), bytes);
}

class feed_test : public ::testing::Test {
 protected:
  null_subscriber owner;
  subscription sub{owner};
  subscription other{owner};
  feed f;
  backlog_limits limits{.hard_bytes = 10'000, .soft_bytes = 4'000, .soft_for = 10s};
  clock::time_point t0 = clock::time_point{} + 1000h;

  feed::verdict push(std::uint64_t seq, clock::time_point at,
                     overflow_policy p = overflow_policy::resume, std::size_t held = 0) {
    return f.push_live(sub, msg(seq), p, limits, held, at);
  }
  std::vector<std::uint64_t> drain() {
    std::vector<std::uint64_t> seqs;
    while (auto e = f.pop()) {
      seqs.push_back(e->m ? e->m->pos.seq : 0);  // 0: a gap marker
    }
    return seqs;
  }
};

TEST_F(feed_test, under_the_soft_bound_everything_is_queued) {
  for (std::uint64_t i = 1; i <= 4; ++i) {
    EXPECT_EQ(push(i, t0 + std::chrono::hours(i)), feed::verdict::queued);
  }
  EXPECT_EQ(drain(), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(f.empty());
}

TEST_F(feed_test, a_burst_over_the_soft_bound_but_under_the_hard_one_is_kept_while_the_time_lasts) {
  // 9 × 1000 bytes: over the soft bound (4,000) from the fifth message, under the hard (10,000).
  for (std::uint64_t i = 1; i <= 9; ++i) {
    EXPECT_EQ(push(i, t0 + std::chrono::milliseconds(i)), feed::verdict::queued) << i;
  }
  EXPECT_EQ(f.live_bytes(), 9000u);
  // Still over the soft bound 9.9 s after it was first passed: still fine.
  EXPECT_FALSE(f.overdue(limits, 0, t0 + 9900ms));
  EXPECT_EQ(drain().size(), 9u);
}

TEST_F(feed_test, over_the_hard_bound_the_policy_applies_at_once) {
  for (std::uint64_t i = 1; i <= 10; ++i) {
    ASSERT_EQ(push(i, t0), feed::verdict::queued) << i;
  }
  EXPECT_EQ(push(11, t0), feed::verdict::close);
}

TEST_F(feed_test, the_socket_queue_counts_against_the_bounds) {
  EXPECT_EQ(push(1, t0, overflow_policy::resume, 9'500), feed::verdict::close);
}

TEST_F(feed_test, over_the_soft_bound_for_its_whole_time_the_policy_applies) {
  for (std::uint64_t i = 1; i <= 5; ++i) {
    ASSERT_EQ(push(i, t0), feed::verdict::queued);  // over the soft bound at the fifth, at t0
  }
  EXPECT_EQ(push(6, t0 + 9999ms), feed::verdict::queued);
  EXPECT_EQ(push(7, t0 + 10s), feed::verdict::close);
}

TEST_F(feed_test, dropping_under_the_soft_bound_restarts_its_time) {
  for (std::uint64_t i = 1; i <= 5; ++i) {
    ASSERT_EQ(push(i, t0), feed::verdict::queued);
  }
  // The reader takes three: 2,000 bytes left, under the soft bound; a push notices the break.
  f.pop();
  f.pop();
  f.pop();
  EXPECT_EQ(push(6, t0 + 6s), feed::verdict::queued);  // 3,000: under
  EXPECT_EQ(push(7, t0 + 7s), feed::verdict::queued);  // 4,000: at the bound, not over
  EXPECT_EQ(push(8, t0 + 8s), feed::verdict::queued);  // 5,000: over again, the clock starts now
  EXPECT_EQ(push(9, t0 + 17s), feed::verdict::queued);
  EXPECT_EQ(push(10, t0 + 18s), feed::verdict::close);
}

TEST_F(feed_test, a_feed_that_empties_forgets_its_time_over_the_soft_bound) {
  for (std::uint64_t i = 1; i <= 5; ++i) {
    ASSERT_EQ(push(i, t0), feed::verdict::queued);
  }
  drain();
  for (std::uint64_t i = 6; i <= 10; ++i) {
    ASSERT_EQ(push(i, t0 + 20s), feed::verdict::queued) << i;  // over the soft bound again, anew
  }
  EXPECT_EQ(push(11, t0 + 25s), feed::verdict::queued);
}

TEST_F(feed_test, overdue_between_messages) {
  EXPECT_FALSE(f.overdue(limits, 1 << 20, t0));  // nothing in the feed: nothing to judge
  for (std::uint64_t i = 1; i <= 5; ++i) {
    ASSERT_EQ(push(i, t0), feed::verdict::queued);
  }
  EXPECT_FALSE(f.overdue(limits, 0, t0 + 5s));
  EXPECT_TRUE(f.overdue(limits, 0, t0 + 10s));
  EXPECT_TRUE(f.overdue(limits, 6'000, t0));  // over the hard bound with the socket's bytes
}

TEST_F(feed_test, latest_conflates_only_once_over_the_bound) {
  for (std::uint64_t i = 1; i <= 5; ++i) {
    ASSERT_EQ(push(i, t0, overflow_policy::latest), feed::verdict::queued);
  }
  // Over the soft bound but within its time: queued, not conflated.
  EXPECT_EQ(push(6, t0 + 1s, overflow_policy::latest), feed::verdict::queued);
  EXPECT_EQ(f.live_bytes(), 6000u);
  // Past its time: the newest replaces the pending one of the topic.
  EXPECT_EQ(push(7, t0 + 11s, overflow_policy::latest), feed::verdict::queued);
  EXPECT_EQ(push(8, t0 + 12s, overflow_policy::latest), feed::verdict::queued);
  EXPECT_EQ(drain(), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 8}));
}

TEST_F(feed_test, drop_marks_one_gap_for_what_it_drops) {
  for (std::uint64_t i = 1; i <= 10; ++i) {
    ASSERT_EQ(push(i, t0, overflow_policy::drop), feed::verdict::queued);
  }
  EXPECT_EQ(push(11, t0, overflow_policy::drop), feed::verdict::dropped);
  EXPECT_EQ(push(12, t0, overflow_policy::drop), feed::verdict::dropped);
  auto seqs = drain();
  ASSERT_EQ(seqs.size(), 11u);
  EXPECT_EQ(seqs.back(), 0u);  // the gap marker after the last kept message
}

TEST_F(feed_test, volatile_messages_are_dropped_first_and_never_close) {
  for (std::uint64_t i = 1; i <= 10; ++i) {
    ASSERT_EQ(push(i, t0), feed::verdict::queued);
  }
  EXPECT_EQ(f.push_live(other, volatile_msg(), overflow_policy::resume, limits, 0, t0),
            feed::verdict::dropped);
}

TEST_F(feed_test, a_soft_bound_over_the_hard_one_never_acts) {
  limits.soft_bytes = 20'000;
  for (std::uint64_t i = 1; i <= 10; ++i) {
    ASSERT_EQ(push(i, t0 + std::chrono::hours(i)), feed::verdict::queued);
  }
  EXPECT_EQ(push(11, t0 + 20h), feed::verdict::close);
}

TEST_F(feed_test, replay_and_live_come_out_in_the_order_pushed_and_replay_is_not_counted) {
  f.push_replay(sub, msg(1));
  f.push_replay(sub, msg(2));
  EXPECT_EQ(f.live_bytes(), 0u);  // history holds replay anyway
  ASSERT_EQ(push(3, t0), feed::verdict::queued);
  EXPECT_EQ(f.live_bytes(), 1000u);
  EXPECT_EQ(drain(), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(f.live_bytes(), 0u);
}

TEST_F(feed_test, volatile_messages_of_one_topic_conflate_latest_wins_while_waiting) {
  auto a = volatile_msg();
  auto b = volatile_msg();
  auto c = volatile_msg();
  EXPECT_EQ(f.push_live(sub, a, overflow_policy::resume, limits, 0, t0), feed::verdict::queued);
  ASSERT_EQ(push(1, t0), feed::verdict::queued);  // a stored message between: no conflation
  EXPECT_EQ(f.push_live(sub, b, overflow_policy::resume, limits, 0, t0), feed::verdict::queued);
  EXPECT_EQ(f.push_live(sub, c, overflow_policy::resume, limits, 0, t0), feed::verdict::queued);
  EXPECT_EQ(f.live_bytes(), 3000u);
  std::vector<message_ptr> out;
  while (auto e = f.pop()) {
    out.push_back(e->m);
  }
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], a);
  EXPECT_EQ(out[1]->pos.seq, 1u);
  EXPECT_EQ(out[2], c);  // b was replaced by c in its place
}

TEST_F(feed_test, forget_drops_one_subscriptions_entries_and_their_bytes) {
  ASSERT_EQ(push(1, t0), feed::verdict::queued);
  ASSERT_EQ(f.push_live(other, msg(50), overflow_policy::resume, limits, 0, t0),
            feed::verdict::queued);
  ASSERT_EQ(push(2, t0), feed::verdict::queued);
  f.forget(sub);
  EXPECT_EQ(f.live_bytes(), 1000u);
  EXPECT_EQ(drain(), (std::vector<std::uint64_t>{50}));
  EXPECT_TRUE(f.empty());
}

TEST(overflow_policy, parses_its_names) {
  EXPECT_EQ(parse_overflow_policy("resume"), overflow_policy::resume);
  EXPECT_EQ(parse_overflow_policy("latest"), overflow_policy::latest);
  EXPECT_EQ(parse_overflow_policy("drop"), overflow_policy::drop);
  EXPECT_EQ(parse_overflow_policy("close"), std::nullopt);
}

}  // namespace
}  // namespace sb
