#include "core/history.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace sb {
namespace {

constexpr std::uint64_t epoch = 77;

message_ptr make(std::uint64_t seq, std::int64_t time_ms, std::string data = "x") {
  auto m = std::make_shared<message>();
  m->topic = "t";
  m->pos = {epoch, seq};
  m->time_ms = time_ms;
  m->data = std::move(data);
  return m;
}

std::vector<std::uint64_t> seqs(const std::vector<message_ptr>& messages) {
  std::vector<std::uint64_t> out;
  for (const auto& m : messages) {
    out.push_back(m->pos.seq);
  }
  return out;
}

using seq_list = std::vector<std::uint64_t>;

/// A history holding seqs first..last, all published at time 0.
void fill(topic_history& h, std::uint64_t first, std::uint64_t last, std::int64_t now = 0) {
  for (auto s = first; s <= last; ++s) {
    h.append(make(s, now), now);
  }
}

TEST(History, StartsEmpty) {
  history_limits limits;
  topic_history h(limits);
  EXPECT_EQ(h.size(), 0u);
  EXPECT_EQ(h.bytes(), 0u);
  EXPECT_FALSE(h.first_seq().has_value());
}

TEST(History, CountBoundDropsTheOldest) {
  history_limits limits{.max_messages = 3};
  topic_history h(limits);
  fill(h, 1, 2);
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(h.first_seq(), 1u);
  fill(h, 3, 5);
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.first_seq(), 3u);
  EXPECT_EQ(seqs(h.read_after(2, 5, 100).messages), (seq_list{3, 4, 5}));
}

TEST(History, ZeroCountKeepsNothing) {
  history_limits limits{.max_messages = 0};
  topic_history h(limits);
  fill(h, 1, 3);
  EXPECT_EQ(h.size(), 0u);
  EXPECT_EQ(h.bytes(), 0u);
  EXPECT_FALSE(h.first_seq().has_value());
}

TEST(History, BytesAreTheSumOfFootprints) {
  history_limits limits;
  topic_history h(limits);
  auto a = make(1, 0, "hello");
  auto b = make(2, 0, std::string(1000, 'z'));
  h.append(a, 0);
  EXPECT_EQ(h.bytes(), a->footprint());
  h.append(b, 0);
  EXPECT_EQ(h.bytes(), a->footprint() + b->footprint());
}

TEST(History, ByteBoundDropsTheOldestAndKeepsAccountsExact) {
  auto probe = make(1, 0, std::string(100, 'd'));
  history_limits limits{.max_messages = 1000, .max_bytes = 3 * probe->footprint()};
  topic_history h(limits);
  for (std::uint64_t s = 1; s <= 3; ++s) {
    h.append(make(s, 0, std::string(100, 'd')), 0);
  }
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.bytes(), 3 * probe->footprint());
  h.append(make(4, 0, std::string(100, 'd')), 0);
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.first_seq(), 2u);
  EXPECT_EQ(h.bytes(), 3 * probe->footprint());
  // One big message pushes out as many as it must.
  auto big = make(5, 0, std::string(100 + 2 * probe->footprint(), 'B'));
  ASSERT_LE(big->footprint(), limits.max_bytes);
  h.append(big, 0);
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.first_seq(), 5u);
  EXPECT_EQ(h.bytes(), big->footprint());
}

TEST(History, ByteBoundStillKeepsTheNewestMessage) {
  history_limits limits{.max_messages = 1000, .max_bytes = 10};
  topic_history h(limits);
  fill(h, 1, 3);
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.first_seq(), 3u);
}

TEST(History, AgeBoundOnAppendAndTrim) {
  history_limits limits{.max_messages = 1000, .max_bytes = 1 << 20, .max_age_ms = 1000};
  topic_history h(limits);
  h.append(make(1, 0), 0);
  h.append(make(2, 500), 500);
  h.append(make(3, 1000), 1000);
  EXPECT_EQ(h.size(), 3u);  // age exactly the bound is kept
  h.append(make(4, 1500), 1500);
  EXPECT_EQ(h.first_seq(), 2u);
  h.trim(2000);
  EXPECT_EQ(h.first_seq(), 3u);
  EXPECT_EQ(h.size(), 2u);
  h.trim(2001);
  EXPECT_EQ(h.first_seq(), 4u);
  h.trim(10'000);
  EXPECT_EQ(h.size(), 0u);
  EXPECT_EQ(h.bytes(), 0u);
}

TEST(History, ReadAfterHeadIsRecoverableAndEmpty) {
  history_limits limits;
  topic_history h(limits);
  fill(h, 1, 5);
  auto r = h.read_after(5, 5, 100);
  EXPECT_TRUE(r.recoverable);
  EXPECT_TRUE(r.messages.empty());
  EXPECT_FALSE(r.more);
}

TEST(History, ReadAfterInRangeIsExclusiveAndOrdered) {
  history_limits limits;
  topic_history h(limits);
  fill(h, 1, 5);
  auto r = h.read_after(2, 5, 100);
  EXPECT_TRUE(r.recoverable);
  EXPECT_EQ(seqs(r.messages), (seq_list{3, 4, 5}));
  EXPECT_FALSE(r.more);
  auto all = h.read_after(0, 5, 100);
  EXPECT_TRUE(all.recoverable);
  EXPECT_EQ(seqs(all.messages), (seq_list{1, 2, 3, 4, 5}));
  auto last = h.read_after(4, 5, 100);
  EXPECT_EQ(seqs(last.messages), (seq_list{5}));
}

TEST(History, ReadAfterReturnsTheStoredPointers) {
  history_limits limits;
  topic_history h(limits);
  auto a = make(1, 0, "first");
  h.append(a, 0);
  auto r = h.read_after(0, 1, 10);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].get(), a.get());  // shared, never copied
}

TEST(History, ReadAfterTrimmedIsNotRecoverable) {
  history_limits limits{.max_messages = 3};
  topic_history h(limits);
  fill(h, 1, 6);                        // keeps 4, 5, 6
  auto lost = h.read_after(2, 6, 100);  // 3 is gone
  EXPECT_FALSE(lost.recoverable);
  EXPECT_TRUE(lost.messages.empty());
  EXPECT_FALSE(h.read_after(0, 6, 100).recoverable);
  auto edge = h.read_after(3, 6, 100);  // exactly the one before the oldest kept
  EXPECT_TRUE(edge.recoverable);
  EXPECT_EQ(seqs(edge.messages), (seq_list{4, 5, 6}));
}

TEST(History, ReadAfterAllAgedOut) {
  history_limits limits{.max_messages = 10, .max_bytes = 1 << 20, .max_age_ms = 10};
  topic_history h(limits);
  fill(h, 1, 3);
  h.trim(1000);
  ASSERT_EQ(h.size(), 0u);
  EXPECT_TRUE(h.read_after(3, 3, 100).recoverable);
  EXPECT_FALSE(h.read_after(2, 3, 100).recoverable);
}

TEST(History, ReadAfterPastHeadIsNotRecoverable) {
  history_limits limits;
  topic_history h(limits);
  fill(h, 1, 5);
  auto r = h.read_after(6, 5, 100);
  EXPECT_FALSE(r.recoverable);
  EXPECT_TRUE(r.messages.empty());
  EXPECT_FALSE(h.read_after(1000, 5, 100).recoverable);
  topic_history empty(limits);
  EXPECT_FALSE(empty.read_after(1, 0, 100).recoverable);
  EXPECT_TRUE(empty.read_after(0, 0, 100).recoverable);
}

TEST(History, LimitAndMore) {
  history_limits limits;
  topic_history h(limits);
  fill(h, 1, 5);
  auto page1 = h.read_after(0, 5, 2);
  EXPECT_TRUE(page1.recoverable);
  EXPECT_EQ(seqs(page1.messages), (seq_list{1, 2}));
  EXPECT_TRUE(page1.more);
  auto page2 = h.read_after(2, 5, 2);
  EXPECT_EQ(seqs(page2.messages), (seq_list{3, 4}));
  EXPECT_TRUE(page2.more);
  auto page3 = h.read_after(4, 5, 2);
  EXPECT_EQ(seqs(page3.messages), (seq_list{5}));
  EXPECT_FALSE(page3.more);
  auto exact = h.read_after(2, 5, 3);
  EXPECT_EQ(seqs(exact.messages), (seq_list{3, 4, 5}));
  EXPECT_FALSE(exact.more);
  auto none = h.read_after(2, 5, 0);
  EXPECT_TRUE(none.recoverable);
  EXPECT_TRUE(none.messages.empty());
  EXPECT_TRUE(none.more);
}

TEST(History, LedgerAndOrderFollowEveryMessageKeptAndDropped) {
  history_limits limits{.max_messages = 2};
  history_ledger ledger;
  message_order order;
  {
    topic_history a(limits, &ledger, &order);
    topic_history b(limits, &ledger, &order);
    auto a1 = make(1, 10, std::string(100, 'a'));
    auto b1 = make(1, 11, std::string(200, 'b'));
    auto a2 = make(2, 12, std::string(300, 'a'));
    a.append(a1, 12);
    b.append(b1, 12);
    a.append(a2, 12);
    EXPECT_EQ(ledger.messages.load(), 3u);
    EXPECT_EQ(ledger.bytes.load(), a1->stored_bytes() + b1->stored_bytes() + a2->stored_bytes());
    EXPECT_EQ(a.bytes() + b.bytes(), ledger.bytes.load());
    // Across both topics, in the order they were stored.
    std::vector<const message*> seen;
    for (const auto& m : order) {
      seen.push_back(&m);
    }
    EXPECT_EQ(seen, (std::vector<const message*>{a1.get(), b1.get(), a2.get()}));

    a.append(make(3, 13), 13);  // over max_messages: a1 goes, from the order too
    EXPECT_EQ(&order.front(), b1.get());
    EXPECT_FALSE(a1->order_hook.is_linked());
    EXPECT_EQ(ledger.messages.load(), 3u);

    b.pop_front();
    EXPECT_EQ(&order.front(), a2.get());
    EXPECT_EQ(b.size(), 0u);
    b.pop_front();  // empty: nothing happens
    EXPECT_EQ(ledger.messages.load(), 2u);
  }
  // Destroying a history gives back what it held.
  EXPECT_EQ(ledger.messages.load(), 0u);
  EXPECT_EQ(ledger.bytes.load(), 0u);
  EXPECT_TRUE(order.empty());
}

TEST(History, StoredBytesCountTheHeapCopiesAndOverhead) {
  auto small = make(1, 0, "x");
  auto big = make(2, 0, std::string(65536, 'x'));
  EXPECT_GE(big->stored_bytes(), 65536u + sizeof(message));
  EXPECT_EQ(big->stored_bytes() - small->stored_bytes(),
            65536u + 1 + 16);                        // the copy, its NUL, a malloc header
  EXPECT_EQ(big->footprint(), big->stored_bytes());  // no WebSocket frame
}

TEST(History, TrimSaysHowManyItDropped) {
  history_limits limits{.max_age_ms = 100};
  topic_history h(limits);
  h.append(make(1, 0), 0);
  h.append(make(2, 50), 50);
  h.append(make(3, 90), 90);
  EXPECT_EQ(h.trim(149), 1u);
  EXPECT_EQ(h.first_seq(), 2u);
  EXPECT_EQ(h.trim(1000), 2u);
  EXPECT_EQ(h.trim(1000), 0u);
}

}  // namespace
}  // namespace sb
