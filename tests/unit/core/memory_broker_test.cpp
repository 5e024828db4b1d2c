#include "core/memory_broker.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sb {
namespace {

/// One loop's hand-off, recording what reached it.
class recording_sink final : public delivery_sink {
 public:
  void deliver(message_ptr m) override { got.push_back(std::move(m)); }
  std::vector<message_ptr> got;
};

using seq_list = std::vector<std::uint64_t>;

seq_list seqs(const std::vector<message_ptr>& messages) {
  seq_list out;
  for (const auto& m : messages) {
    out.push_back(m->pos.seq);
  }
  return out;
}

/// A publish item; spelled out because designated initializers would leave members unnamed.
publish_item item(std::string topic, std::string data = "d", std::string event = {},
                  bool retain = false, std::string from = {}) {
  publish_item out;
  out.topic = std::move(topic);
  out.data = std::move(data);
  out.event = std::move(event);
  out.retain = retain;
  out.from = std::move(from);
  return out;
}

class MemoryBroker : public ::testing::Test {
 protected:
  MemoryBroker(history_limits limits = {}) { make_broker(limits); }  // NOLINT: default fixture ctor

  void make_broker(history_limits limits) {
    broker_ = std::make_unique<memory_broker>(
        limits,
        [this](message& m) {
          ++encodes_;
          m.sse = "enc " + m.id();
        },
        std::vector<delivery_sink*>{&sinks_[0], &sinks_[1], &sinks_[2]}, [this] { return now_; });
    epoch_ = broker_->node_epoch();
  }

  result<std::vector<position>> publish(std::vector<publish_item> items) {
    std::optional<result<std::vector<position>>> out;
    broker_->publish(std::move(items),
                     [&](result<std::vector<position>> r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value()) << "the in-memory broker answers inline";
    return out ? *out : result<std::vector<position>>(errc::unavailable);
  }

  position publish_one(std::string topic, std::string data = "d", bool retain = false) {
    auto r = publish({item(std::move(topic), std::move(data), {}, retain)});
    EXPECT_TRUE(r.has_value());
    return r.has_value() && !r->empty() ? r->front() : position{};
  }

  attach_result attach(std::size_t loop, std::string_view topic, std::optional<position> since) {
    std::optional<attach_result> out;
    broker_->attach(loop, topic, since, [&](attach_result r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    return out ? std::move(*out) : attach_result{};
  }

  history_page read(std::string_view topic, std::optional<position> since, std::size_t limit) {
    std::optional<history_page> out;
    broker_->read_history(topic, since, limit, [&](history_page p) { out = std::move(p); });
    EXPECT_TRUE(out.has_value());
    return out ? std::move(*out) : history_page{};
  }

  recording_sink sinks_[3];
  std::int64_t now_ = 1'700'000'000'000;
  int encodes_ = 0;
  std::unique_ptr<memory_broker> broker_;
  std::uint64_t epoch_ = 0;
};

class MemoryBrokerSmallHistory : public MemoryBroker {
 protected:
  MemoryBrokerSmallHistory() : MemoryBroker(history_limits{.max_messages = 3}) {}
};

TEST_F(MemoryBroker, ListTopicsByNameWithPrefixAfterAndLimit) {
  auto p1 = publish_one("orders/2");
  publish_one("orders/10");
  publish_one("users/1");
  attach(0, "orders/1", std::nullopt);  // subscribed, no message yet
  attach(1, "$admin/stats", std::nullopt);
  auto names = [](const std::vector<memory_broker::topic_entry>& v) {
    std::vector<std::string> out;
    for (const auto& e : v) {
      out.push_back(e.name);
    }
    return out;
  };
  EXPECT_EQ(names(broker_->list_topics("", "", 100)),
            (std::vector<std::string>{"orders/1", "orders/10", "orders/2", "users/1"}));
  EXPECT_EQ(names(broker_->list_topics("orders/", "", 2)),
            (std::vector<std::string>{"orders/1", "orders/10"}));
  EXPECT_EQ(names(broker_->list_topics("orders/", "orders/10", 2)),
            (std::vector<std::string>{"orders/2"}));
  EXPECT_TRUE(broker_->list_topics("orders/", "orders/2", 2).empty());
  EXPECT_TRUE(broker_->list_topics("", "", 0).empty());
  auto two = broker_->list_topics("orders/2", "", 5);
  ASSERT_EQ(two.size(), 1u);
  EXPECT_EQ(two[0].head, p1);
  EXPECT_EQ(broker_->list_topics("orders/1", "", 1)[0].head.seq, 0u);
  EXPECT_TRUE(broker_->has_subscribers("$admin/stats"));
  EXPECT_FALSE(broker_->has_subscribers("users/1"));
  EXPECT_FALSE(broker_->has_subscribers("nobody"));
}

TEST_F(MemoryBroker, NodeEpochIsNonZeroAndJsonSafe) {
  EXPECT_NE(epoch_, 0u);
  EXPECT_LT(epoch_, std::uint64_t{1} << 53);
}

TEST_F(MemoryBroker, PublishAssignsContiguousSeqsPerTopicInRequestOrder) {
  auto r = publish({item("a", "1"), item("b", "2"), item("a", "3")});
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0], (position{epoch_, 1}));
  EXPECT_EQ((*r)[1], (position{epoch_, 1}));
  EXPECT_EQ((*r)[2], (position{epoch_, 2}));
  EXPECT_EQ(publish_one("a"), (position{epoch_, 3}));
  EXPECT_EQ(publish_one("b"), (position{epoch_, 2}));
  EXPECT_EQ(publish_one("c/d"), (position{epoch_, 1}));
}

TEST_F(MemoryBroker, PublishFillsTheMessage) {
  attach(0, "t", std::nullopt);
  now_ = 1234;
  auto r = publish({item("t", "payload", "tick", true, "alice")});
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(sinks_[0].got.size(), 1u);
  const auto& m = *sinks_[0].got[0];
  EXPECT_EQ(m.topic, "t");
  EXPECT_EQ(m.event, "tick");
  EXPECT_EQ(m.data, "payload");
  EXPECT_EQ(m.from, "alice");
  EXPECT_TRUE(m.retain);
  EXPECT_TRUE(m.stored());
  EXPECT_EQ(m.time_ms, 1234);
  EXPECT_EQ(m.pos, (position{epoch_, 1}));
  EXPECT_EQ(m.sse, "enc " + to_string(position{epoch_, 1}));
}

TEST_F(MemoryBroker, EncoderRunsOncePerMessageWhateverTheLoopCount) {
  attach(0, "t", std::nullopt);
  attach(1, "t", std::nullopt);
  attach(2, "t", std::nullopt);
  publish({item("t", "1"), item("t", "2")});
  publish_one("nobody-listens");
  EXPECT_EQ(encodes_, 3);
  ASSERT_EQ(sinks_[0].got.size(), 2u);
  ASSERT_EQ(sinks_[1].got.size(), 2u);
  ASSERT_EQ(sinks_[2].got.size(), 2u);
  // Every loop gets the same immutable message, not a copy.
  EXPECT_EQ(sinks_[0].got[0].get(), sinks_[1].got[0].get());
  EXPECT_EQ(sinks_[0].got[1].get(), sinks_[2].got[1].get());
  EXPECT_EQ(seqs(sinks_[1].got), (seq_list{1, 2}));
}

TEST_F(MemoryBroker, AttachDeliversToThatLoopOnly) {
  auto a = attach(1, "t", std::nullopt);
  EXPECT_EQ(a.head, (position{epoch_, 0}));
  EXPECT_FALSE(a.gap);
  EXPECT_TRUE(a.missed.empty());
  EXPECT_EQ(a.retained, nullptr);
  publish_one("t", "x");
  publish_one("other", "y");
  EXPECT_TRUE(sinks_[0].got.empty());
  EXPECT_TRUE(sinks_[2].got.empty());
  ASSERT_EQ(sinks_[1].got.size(), 1u);
  EXPECT_EQ(sinks_[1].got[0]->data, "x");
  EXPECT_EQ(sinks_[1].got[0]->topic, "t");
}

TEST_F(MemoryBroker, AttachIsIdempotent) {
  attach(0, "t", std::nullopt);
  attach(0, "t", std::nullopt);
  publish_one("t");
  EXPECT_EQ(sinks_[0].got.size(), 1u);
}

TEST_F(MemoryBroker, AttachWithSinceInHistoryReturnsExactlyTheMissed) {
  for (int i = 0; i < 5; ++i) {
    publish_one("t", "m" + std::to_string(i + 1));
  }
  auto a = attach(0, "t", position{epoch_, 2});
  EXPECT_FALSE(a.gap);
  EXPECT_EQ(a.head, (position{epoch_, 5}));
  EXPECT_EQ(seqs(a.missed), (seq_list{3, 4, 5}));
  ASSERT_EQ(a.missed.size(), 3u);
  EXPECT_EQ(a.missed[0]->data, "m3");
  EXPECT_EQ(a.missed[2]->data, "m5");
  // Live messages after the head follow.
  publish_one("t", "m6");
  ASSERT_EQ(sinks_[0].got.size(), 1u);
  EXPECT_EQ(sinks_[0].got[0]->pos.seq, 6u);
}

TEST_F(MemoryBroker, AttachAtHeadMissesNothing) {
  publish_one("t");
  publish_one("t");
  auto a = attach(0, "t", position{epoch_, 2});
  EXPECT_FALSE(a.gap);
  EXPECT_TRUE(a.missed.empty());
  EXPECT_EQ(a.head, (position{epoch_, 2}));
}

TEST_F(MemoryBroker, AttachAtZeroOfANewTopicInThisEpochIsNoGap) {
  auto a = attach(0, "fresh", position{epoch_, 0});
  EXPECT_FALSE(a.gap);
  EXPECT_TRUE(a.missed.empty());
}

TEST_F(MemoryBrokerSmallHistory, AttachWithTrimmedSinceIsAGap) {
  for (int i = 0; i < 5; ++i) {
    publish_one("t");
  }
  auto lost = attach(0, "t", position{epoch_, 1});  // 2 was trimmed
  EXPECT_TRUE(lost.gap);
  EXPECT_TRUE(lost.missed.empty());
  EXPECT_EQ(lost.head, (position{epoch_, 5}));
  auto kept = attach(1, "t", position{epoch_, 2});  // 3, 4, 5 are all kept
  EXPECT_FALSE(kept.gap);
  EXPECT_EQ(seqs(kept.missed), (seq_list{3, 4, 5}));
}

TEST_F(MemoryBroker, AttachWithAgedOutSinceIsAGap) {
  publish_one("t");
  publish_one("t");
  now_ += 3600 * 1000 + 1;  // past the default age bound
  auto a = attach(0, "t", position{epoch_, 1});
  EXPECT_TRUE(a.gap);
  EXPECT_TRUE(a.missed.empty());
}

TEST_F(MemoryBroker, AttachWithForeignEpochIsAGap) {
  publish_one("t");
  auto a = attach(0, "t", position{epoch_ + 2, 0});
  EXPECT_TRUE(a.gap);
  EXPECT_TRUE(a.missed.empty());
  EXPECT_EQ(a.head, (position{epoch_, 1}));
}

TEST_F(MemoryBroker, AttachPastTheHeadIsAGap) {
  publish_one("t");
  auto a = attach(0, "t", position{epoch_, 9});
  EXPECT_TRUE(a.gap);
  EXPECT_TRUE(a.missed.empty());
}

TEST_F(MemoryBroker, RetainedOnlyWithoutSinceOrOnGap) {
  publish_one("t", "old retained", true);
  publish_one("t", "new retained", true);
  publish_one("t", "plain");  // does not clear the retained message
  auto fresh = attach(0, "t", std::nullopt);
  ASSERT_NE(fresh.retained, nullptr);
  EXPECT_EQ(fresh.retained->data, "new retained");
  EXPECT_EQ(fresh.retained->pos.seq, 2u);
  EXPECT_TRUE(fresh.missed.empty());

  auto resumed = attach(1, "t", position{epoch_, 1});
  EXPECT_FALSE(resumed.gap);
  EXPECT_EQ(resumed.retained, nullptr);
  EXPECT_EQ(seqs(resumed.missed), (seq_list{2, 3}));

  auto gapped = attach(2, "t", position{epoch_ ^ 0x10, 1});
  EXPECT_TRUE(gapped.gap);
  ASSERT_NE(gapped.retained, nullptr);
  EXPECT_EQ(gapped.retained->data, "new retained");
}

TEST_F(MemoryBroker, NoRetainedWhenNothingWasRetained) {
  publish_one("t", "plain");
  EXPECT_EQ(attach(0, "t", std::nullopt).retained, nullptr);
}

TEST_F(MemoryBroker, DetachStopsDeliveryToThatLoop) {
  attach(0, "t", std::nullopt);
  attach(1, "t", std::nullopt);
  publish_one("t", "both");
  broker_->detach(0, "t");
  publish_one("t", "one");
  ASSERT_EQ(sinks_[0].got.size(), 1u);
  EXPECT_EQ(sinks_[0].got[0]->data, "both");
  ASSERT_EQ(sinks_[1].got.size(), 2u);
  EXPECT_EQ(sinks_[1].got[1]->data, "one");
  broker_->detach(1, "t");
  publish_one("t", "none");
  EXPECT_EQ(sinks_[1].got.size(), 2u);
  // History survives detaching.
  EXPECT_EQ(seqs(read("t", std::nullopt, 10).messages), (seq_list{1, 2, 3}));
}

TEST_F(MemoryBroker, DetachOfUnknownTopicIsHarmless) {
  broker_->detach(0, "never-seen");
  attach(0, "t", std::nullopt);
  broker_->detach(1, "t");  // another loop
  publish_one("t");
  EXPECT_EQ(sinks_[0].got.size(), 1u);
}

TEST_F(MemoryBroker, BroadcastReachesAttachedLoopsAndIsNotStored) {
  attach(2, "t", std::nullopt);
  auto v = std::make_shared<message>();
  v->kind = message_kind::volatile_;
  v->topic = "t";
  v->data = "cursor";
  broker_->broadcast(v);
  auto stray = std::make_shared<message>();
  stray->kind = message_kind::volatile_;
  stray->topic = "unknown";
  broker_->broadcast(stray);
  ASSERT_EQ(sinks_[2].got.size(), 1u);
  EXPECT_EQ(sinks_[2].got[0].get(), v.get());
  EXPECT_TRUE(sinks_[0].got.empty());
  EXPECT_EQ(encodes_, 0);
  EXPECT_TRUE(read("t", std::nullopt, 10).messages.empty());
  EXPECT_EQ(publish_one("t"), (position{epoch_, 1}));
}

TEST_F(MemoryBroker, ReadHistoryPagesForward) {
  for (int i = 0; i < 5; ++i) {
    publish_one("t", "m" + std::to_string(i + 1));
  }
  auto p1 = read("t", std::nullopt, 2);
  EXPECT_FALSE(p1.gap);
  EXPECT_EQ(seqs(p1.messages), (seq_list{1, 2}));
  EXPECT_TRUE(p1.more);
  // `next` is the position of the last message of a page.
  auto next = p1.messages.back()->pos;
  auto p2 = read("t", next, 2);
  EXPECT_FALSE(p2.gap);
  EXPECT_EQ(seqs(p2.messages), (seq_list{3, 4}));
  EXPECT_TRUE(p2.more);
  auto p3 = read("t", p2.messages.back()->pos, 2);
  EXPECT_EQ(seqs(p3.messages), (seq_list{5}));
  EXPECT_EQ(p3.messages[0]->data, "m5");
  EXPECT_FALSE(p3.more);
  auto p4 = read("t", p3.messages.back()->pos, 2);
  EXPECT_FALSE(p4.gap);
  EXPECT_TRUE(p4.messages.empty());
  EXPECT_FALSE(p4.more);
}

TEST_F(MemoryBrokerSmallHistory, ReadHistoryWithTrimmedSinceIsAGapFromTheOldestKept) {
  for (int i = 0; i < 5; ++i) {
    publish_one("t");
  }
  auto p = read("t", position{epoch_, 1}, 10);
  EXPECT_TRUE(p.gap);
  EXPECT_EQ(seqs(p.messages), (seq_list{3, 4, 5}));
  EXPECT_FALSE(p.more);
  auto limited = read("t", position{epoch_, 0}, 2);
  EXPECT_TRUE(limited.gap);
  EXPECT_EQ(seqs(limited.messages), (seq_list{3, 4}));
  EXPECT_TRUE(limited.more);
  auto fine = read("t", position{epoch_, 2}, 10);
  EXPECT_FALSE(fine.gap);
  EXPECT_EQ(seqs(fine.messages), (seq_list{3, 4, 5}));
  // No `since` is never a gap: it means "from the oldest kept".
  auto from_start = read("t", std::nullopt, 10);
  EXPECT_FALSE(from_start.gap);
  EXPECT_EQ(seqs(from_start.messages), (seq_list{3, 4, 5}));
}

TEST_F(MemoryBroker, ReadHistoryWithForeignEpochIsAGapFromTheOldestKept) {
  publish_one("t");
  publish_one("t");
  auto p = read("t", position{epoch_ + 2, 1}, 10);
  EXPECT_TRUE(p.gap);
  EXPECT_EQ(seqs(p.messages), (seq_list{1, 2}));
}

TEST_F(MemoryBroker, ReadHistoryOfAgedOutTopic) {
  publish_one("t");
  publish_one("t");
  now_ += 3600 * 1000 + 1;
  auto none = read("t", std::nullopt, 10);
  EXPECT_FALSE(none.gap);
  EXPECT_TRUE(none.messages.empty());
  auto lost = read("t", position{epoch_, 1}, 10);
  EXPECT_TRUE(lost.gap);
  EXPECT_TRUE(lost.messages.empty());
  auto head = read("t", position{epoch_, 2}, 10);
  EXPECT_FALSE(head.gap);
}

TEST_F(MemoryBroker, ReadHistoryOfUnknownTopic) {
  auto p = read("nothing", std::nullopt, 10);
  EXPECT_FALSE(p.gap);
  EXPECT_TRUE(p.messages.empty());
  EXPECT_FALSE(p.more);
  EXPECT_FALSE(read("nothing", position{epoch_, 0}, 10).gap);
  EXPECT_TRUE(read("nothing", position{epoch_, 3}, 10).gap);
  EXPECT_TRUE(read("nothing", position{epoch_ + 2, 0}, 10).gap);
}

TEST_F(MemoryBroker, InvalidTopicFailsTheWholeBatch) {
  attach(0, "a", std::nullopt);
  auto r = publish({item("a", "1"), item("a/", "2")});
  ASSERT_TRUE(r.has_error());
  EXPECT_EQ(r.error(), make_error_code(errc::invalid_topic));
  EXPECT_EQ(encodes_, 0);
  EXPECT_TRUE(sinks_[0].got.empty());
  // Nothing of the batch was stored: the next publish is seq 1.
  EXPECT_EQ(publish_one("a"), (position{epoch_, 1}));
  for (const char* bad : {"", "x/history", "a b", "/a"}) {
    auto e = publish({item(bad, "d")});
    ASSERT_TRUE(e.has_error()) << bad;
    EXPECT_EQ(e.error(), make_error_code(errc::invalid_topic)) << bad;
  }
}

TEST_F(MemoryBroker, SinksSeeATopicInSeqOrder) {
  attach(0, "t", std::nullopt);
  attach(0, "u", std::nullopt);
  for (int i = 0; i < 20; ++i) {
    publish({item("t"), item("u")});
  }
  seq_list t_seqs, u_seqs;
  for (const auto& m : sinks_[0].got) {
    (m->topic == "t" ? t_seqs : u_seqs).push_back(m->pos.seq);
  }
  seq_list want;
  for (std::uint64_t s = 1; s <= 20; ++s) {
    want.push_back(s);
  }
  EXPECT_EQ(t_seqs, want);
  EXPECT_EQ(u_seqs, want);
}

// --- history_max_memory_bytes, the sweep, topic reclamation ---------------------------------

/// A broker whose encoder also sets a held WebSocket frame, as the server's does; every message
/// of `payload` bytes costs the same, so a bound of N messages is exact.
class MemoryBrokerBounded : public ::testing::Test {
 protected:
  static constexpr std::size_t payload = 10'000;

  void make_broker(history_limits limits) {
    broker_ = std::make_unique<memory_broker>(
        limits,
        [](message& m) {
          m.sse = "enc " + m.id();
          m.sse.shrink_to_fit();
          auto frame = std::make_shared<const std::string>("ws " + m.id());
          m.ws_bytes = static_cast<std::uint32_t>(frame->size());
          m.set_ws_frame(std::move(frame), true);
        },
        std::vector<delivery_sink*>{&sinks_[0], &sinks_[1]}, [this] { return now_; });
    epoch_ = broker_->node_epoch();
  }

  /// What one message of `payload` bytes costs history (measured on a throw-away broker).
  std::size_t message_cost() {
    make_broker({});
    publish("probe");
    auto cost = broker_->snapshot().bytes;
    broker_.reset();
    return cost;
  }

  position publish(std::string topic, bool retain = false) {
    ++now_;  // one millisecond apart: the oldest is unambiguous
    std::optional<position> pos;
    broker_->publish(
        {item(std::move(topic), std::string(payload, 'x'), {}, retain)},
        [&](result<std::vector<position>> r) { pos = r.has_value() ? r->front() : position{}; });
    return pos.value_or(position{});
  }

  attach_result attach(std::size_t loop, std::string_view topic, std::optional<position> since) {
    attach_result out;
    broker_->attach(loop, topic, since, [&](attach_result r) { out = std::move(r); });
    return out;
  }

  history_page read(std::string_view topic, std::optional<position> since) {
    history_page out;
    broker_->read_history(topic, since, 100, [&](history_page p) { out = std::move(p); });
    return out;
  }

  recording_sink sinks_[2];
  std::int64_t now_ = 1'700'000'000'000;
  std::unique_ptr<memory_broker> broker_;
  std::uint64_t epoch_ = 0;
};

TEST_F(MemoryBrokerBounded, TheGlobalBoundEvictsTheOldestMessagesAcrossTopics) {
  auto cost = message_cost();
  // Topic names of one to two characters stay in the small-string buffer: every message costs
  // the same whatever its topic.
  make_broker({.max_memory_bytes = 4 * cost + cost / 2});
  publish("a");  // a1
  publish("b");  // b1
  publish("c");  // c1
  publish("a");  // a2
  EXPECT_EQ(broker_->snapshot().messages, 4u);
  EXPECT_EQ(broker_->snapshot().evictions, 0u);

  publish("d");  // over: a1, the oldest of all, goes
  auto s = broker_->snapshot();
  EXPECT_EQ(s.messages, 4u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_LE(s.bytes, 4 * cost + cost / 2);
  EXPECT_EQ(seqs(read("a", position{epoch_, 0}).messages), (seq_list{2}));

  publish("d");  // then b1: topic b is left with nothing, nobody subscribed: it is forgotten
  publish("d");  // then c1, and c too
  s = broker_->snapshot();
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.messages, 4u);
  EXPECT_EQ(s.topics, 2u);  // a (a2) and d (d1..d3)
  EXPECT_EQ(s.topics_reclaimed, 2u);
  EXPECT_EQ(seqs(read("d", std::nullopt).messages), (seq_list{1, 2, 3}));
  EXPECT_EQ(seqs(read("a", std::nullopt).messages), (seq_list{2}));
}

TEST_F(MemoryBrokerBounded, EvictedPositionsAreGapsAsTrimmedOnesAre) {
  auto cost = message_cost();
  make_broker({.max_memory_bytes = 3 * cost + cost / 2});
  attach(0, "a", std::nullopt);  // a subscriber keeps topic a known after it loses everything
  publish("a");
  publish("a");
  publish("b");
  publish("b");  // evicts a1
  publish("b");  // evicts a2
  EXPECT_EQ(broker_->snapshot().evictions, 2u);

  auto resumed = attach(1, "a", position{epoch_, 1});
  EXPECT_TRUE(resumed.gap);
  EXPECT_TRUE(resumed.missed.empty());
  EXPECT_EQ(resumed.head, (position{epoch_, 2}));
  EXPECT_FALSE(attach(1, "a", position{epoch_, 2}).gap) << "the head itself lost nothing";

  auto page = read("a", position{epoch_, 0});
  EXPECT_TRUE(page.gap);
  EXPECT_TRUE(page.messages.empty());

  auto b = attach(1, "b", position{epoch_, 0});
  EXPECT_FALSE(b.gap) << "b lost nothing";
  EXPECT_EQ(seqs(b.missed), (seq_list{1, 2, 3}));
}

// The server sleeps until oldest_ms() + max_age instead of sweeping every second.
TEST_F(MemoryBrokerBounded, OldestMsTellsWhenTheNextSweepHasWork) {
  make_broker({.max_age_ms = 2000});
  EXPECT_EQ(broker_->oldest_ms(), INT64_MAX);  // nothing can expire
  publish("a/1");
  auto first = now_;
  publish("b/2");
  EXPECT_EQ(broker_->oldest_ms(), first);
  now_ = first + 2000;
  EXPECT_EQ(broker_->sweep(), 0u);  // not past the bound yet: a sweep at oldest + max_age + 1 ms
  now_ = first + 2001;
  EXPECT_GT(broker_->sweep(), 0u);
  EXPECT_EQ(broker_->oldest_ms(), first + 1);  // b/2's
  now_ += 1;
  broker_->sweep();
  EXPECT_EQ(broker_->oldest_ms(), INT64_MAX);
}

TEST_F(MemoryBrokerBounded, TheSweepExpiresIdleTopicsAndForgetsThem) {
  make_broker({.max_age_ms = 2000});
  for (int i = 0; i < 10; ++i) {
    publish("idle/" + std::to_string(i));
  }
  publish("kept/retained", true);
  attach(0, "kept/subscribed", std::nullopt);
  publish("kept/subscribed");
  auto before = broker_->snapshot();
  EXPECT_EQ(before.messages, 12u);
  EXPECT_EQ(before.topics, 12u);
  EXPECT_EQ(before.retained_messages, 1u);

  now_ += 1000;
  EXPECT_EQ(broker_->sweep(), 0u);  // nothing is old enough yet
  EXPECT_EQ(broker_->snapshot().messages, 12u);

  now_ += 1500;  // past 2 s for everyone, and no publish or read since
  EXPECT_EQ(broker_->sweep(), before.bytes);
  auto after = broker_->snapshot();
  EXPECT_EQ(after.messages, 0u);
  EXPECT_EQ(after.bytes, 0u);
  EXPECT_EQ(after.expirations, 12u);
  EXPECT_EQ(after.topics, 2u) << "a subscribed topic and one with a retained message stay";
  EXPECT_EQ(after.topics_reclaimed, 10u);
  EXPECT_EQ(after.retained_messages, 1u);

  // The retained message outlives its history.
  auto fresh = attach(1, "kept/retained", std::nullopt);
  ASSERT_TRUE(fresh.retained);
  EXPECT_EQ(fresh.retained->pos, (position{epoch_, 1}));

  // The subscribed topic is forgotten once its last subscriber leaves.
  broker_->detach(0, "kept/subscribed");
  EXPECT_EQ(broker_->snapshot().topics, 1u);
}

TEST_F(MemoryBrokerBounded, AForgottenTopicNeverHandsOutAnIdTwice) {
  make_broker({.max_age_ms = 2000});
  publish("t");
  publish("t");
  auto last = publish("t");
  EXPECT_EQ(last, (position{epoch_, 3}));
  now_ += 5000;
  broker_->sweep();
  EXPECT_EQ(broker_->snapshot().topics, 0u);

  // Unknown now: a reader at the last position lost nothing, one before it did.
  EXPECT_FALSE(read("t", last).gap);
  EXPECT_TRUE(read("t", position{epoch_, 1}).gap);
  EXPECT_TRUE(read("t", position{epoch_, 0}).gap);
  EXPECT_FALSE(attach(0, "t", last).gap);
  EXPECT_TRUE(attach(1, "t", position{epoch_, 2}).gap);

  // It comes back past every id it had.
  EXPECT_EQ(publish("t"), (position{epoch_, 4}));
}

TEST_F(MemoryBrokerBounded, TheWebSocketFrameIsHeldOnlyWhileFannedOut) {
  make_broker({});
  publish("nobody");
  auto page = read("nobody", std::nullopt);
  ASSERT_EQ(page.messages.size(), 1u);
  EXPECT_EQ(page.messages[0]->ws_frame(), nullptr) << "no live audience: history keeps one copy";
  EXPECT_EQ(page.messages[0]->ws_bytes,
            3 + page.messages[0]->id().size());  // still known, for queue bounds

  attach(0, "both", std::nullopt);
  attach(1, "both", std::nullopt);
  publish("both");
  ASSERT_EQ(sinks_[0].got.size(), 1u);
  const auto& m = sinks_[0].got[0];
  ASSERT_NE(m->ws_frame(), nullptr);
  m->live_handoff_done();  // loop 0 has queued it
  auto queued = m->ws_frame();
  ASSERT_NE(queued, nullptr) << "loop 1 has not";
  m->live_handoff_done();
  EXPECT_EQ(m->ws_frame(), queued) << "a queue still holds it: replays share it";
  queued.reset();
  EXPECT_EQ(m->ws_frame(), nullptr);
  m->live_handoff_done();  // more calls than loops change nothing
  EXPECT_EQ(m->ws_frame(), nullptr);
}

#if defined(__SANITIZE_ADDRESS__)
#define SB_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SB_TEST_SANITIZED 1
#endif
#endif

TEST(MemoryBrokerLoops, EveryLoopIndexGetsItsOwnDelivery) {
  // `sinks[i]` receives the messages for loop i, up to the 64 loops the broker supports.
  std::vector<recording_sink> sinks(64);
  std::vector<delivery_sink*> ptrs;
  for (auto& s : sinks) {
    ptrs.push_back(&s);
  }
  memory_broker b({}, nullptr, ptrs, [] { return std::int64_t{0}; });
  b.attach(63, "t", std::nullopt, [](attach_result) {});
  b.publish({item("t", "x")}, [](auto) {});
  EXPECT_EQ(sinks[63].got.size(), 1u) << "loop 63 did not receive its topic's message";
  for (std::size_t i = 0; i < 63; ++i) {
    EXPECT_TRUE(sinks[i].got.empty()) << "loop " << i << " received loop 63's message";
  }
}

TEST(MemoryBrokerLoops, MoreThan64LoopsAreRefusedAtConstruction) {
  // The server caps its loops at 64 (server/app.cpp); a broker given more says so at once rather
  // than delivering to the wrong loop.
  std::vector<recording_sink> sinks(65);
  std::vector<delivery_sink*> ptrs;
  for (auto& s : sinks) {
    ptrs.push_back(&s);
  }
  EXPECT_THROW(memory_broker({}, nullptr, ptrs, [] { return std::int64_t{0}; }),
               std::invalid_argument);
}

}  // namespace
}  // namespace sb
