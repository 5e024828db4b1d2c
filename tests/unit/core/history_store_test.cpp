// The broker's hooks into a history store (history_dir), with a store that records what it is
// told: what is loaded comes back with its epoch, seq, history and retained message; every stored
// message is written before it is shared; trims follow the history; a failed write keeps nothing.
#include "core/history_store.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/memory_broker.hpp"

namespace sb {
namespace {

class recording_store final : public history_store {
 public:
  std::uint64_t node_epoch(std::uint64_t fresh) override { return kept_epoch ? kept_epoch : fresh; }
  void load(const std::function<void(stored_topic&&)>& each) override {
    for (auto& t : topics) {
      each(std::move(t));
    }
  }
  bool append(const message& m) override {
    if (fail) {
      return false;
    }
    appended.push_back(m.pos);
    return true;
  }
  void trim(std::string_view topic, std::uint64_t first_kept) override {
    trims[std::string(topic)] = first_kept;
  }
  bool needs_sync() const override { return false; }
  bool sync() override { return true; }

  std::uint64_t kept_epoch = 0;
  std::vector<stored_topic> topics;
  std::vector<position> appended;
  std::map<std::string, std::uint64_t> trims;
  bool fail = false;
};

class counting_sink final : public delivery_sink {
 public:
  void deliver(message_ptr m) override { got.push_back(m->pos); }
  std::vector<position> got;
};

result<std::vector<position>> publish(memory_broker& b, std::string topic, std::string data) {
  std::optional<result<std::vector<position>>> out;
  publish_item item;
  item.topic = std::move(topic);
  item.data = std::move(data);
  std::vector<publish_item> items;
  items.push_back(std::move(item));
  b.publish(std::move(items), [&](result<std::vector<position>> r) { out = std::move(r); });
  return *out;
}

std::unique_ptr<message> kept(std::string topic, position p, std::int64_t time_ms) {
  auto m = std::make_unique<message>();
  m->topic = std::move(topic);
  m->pos = p;
  m->data = "d" + std::to_string(p.seq);
  m->time_ms = time_ms;
  return m;
}

TEST(HistoryStoreHooks, LoadsEpochSeqHistoryAndRetainedUnderTheBounds) {
  recording_store store;
  store.kept_epoch = 42;
  stored_topic t;
  t.name = "feed";
  t.head = {7, 12};
  for (std::uint64_t seq = 9; seq <= 12; ++seq) {
    t.messages.push_back(kept("feed", {7, seq}, seq < 10 ? 0 : 1'000'000));  // seq 9 is too old
  }
  t.retained = kept("feed", {7, 3}, 0);
  store.topics.push_back(std::move(t));
  history_limits limits;
  limits.max_age_ms = 10'000;
  int encodes = 0;
  counting_sink sink;
  memory_broker b(
      limits, [&](message&) { ++encodes; }, {&sink}, [] { return std::int64_t{1'000'000}; },
      &store);

  EXPECT_EQ(b.node_epoch(), 42u);
  // Every kept message is encoded once (the expired one before it is dropped), and the retained
  // one.
  EXPECT_EQ(encodes, 5);
  EXPECT_EQ(store.trims.at("feed"), 10u);  // the expired message is deleted on disk as well
  std::optional<attach_result> got;
  b.attach(0, "feed", position{7, 10}, [&](attach_result r) { got = std::move(r); });
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->gap);
  EXPECT_EQ(got->head, (position{7, 12}));
  ASSERT_EQ(got->missed.size(), 2u);
  EXPECT_EQ(got->missed[0]->data, "d11");
  got.reset();
  b.attach(0, "feed", std::nullopt, [&](attach_result r) { got = std::move(r); });
  ASSERT_TRUE(got->retained);
  EXPECT_EQ(got->retained->data, "d3");

  auto p = publish(b, "feed", "next");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->front(), (position{7, 13}));
  EXPECT_EQ(store.appended, (std::vector<position>{{7, 13}}));
  EXPECT_EQ(sink.got, (std::vector<position>{{7, 13}}));
  // A topic new to this node starts in the kept node epoch.
  EXPECT_EQ(publish(b, "other", "x")->front(), (position{42, 1}));
}

TEST(HistoryStoreHooks, TrimsFollowTheHistory) {
  recording_store store;
  counting_sink sink;
  history_limits limits;
  limits.max_messages = 2;
  memory_broker b(
      limits, nullptr, {&sink}, [] { return std::int64_t{0}; }, &store);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(publish(b, "t", "x"));
  }
  EXPECT_EQ(store.appended.size(), 5u);
  EXPECT_EQ(store.trims.at("t"), 4u);  // seqs 4 and 5 kept
}

TEST(HistoryStoreHooks, AFailedWriteKeepsNothingAndTheSeqIsNotUsed) {
  recording_store store;
  counting_sink sink;
  memory_broker b(
      {}, nullptr, {&sink}, [] { return std::int64_t{0}; }, &store);
  b.attach(0, "t", std::nullopt, [](attach_result) {});
  auto first = publish(b, "t", "one");
  ASSERT_TRUE(first);
  store.fail = true;
  auto failed = publish(b, "t", "two");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), make_error_code(errc::unavailable));
  store.fail = false;
  auto third = publish(b, "t", "three");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->front().seq, 2u);
  EXPECT_EQ(sink.got.size(), 2u);  // the failed one reached nobody
}

}  // namespace
}  // namespace sb
