// The registry with a broker that answers attaches later (as the Redis broker does): live
// messages reach the subscriber before the answer (its subscriber_queue holds them aside and
// merges them by seq), and an answer for a subscription gone or asked again meanwhile is dropped
// here, so a late Redis answer never touches a closed stream or session.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/topic_registry.hpp"

namespace sb {
namespace {

class late_broker final : public broker {
 public:
  void publish(std::vector<publish_item>, publish_handler) override {}
  void attach(std::size_t, std::string_view, std::optional<position>,
              attach_handler done) override {
    pending.push_back(std::move(done));
  }
  void broadcast(message_ptr) override {}
  void detach(std::size_t, std::string_view) override {}
  void read_history(std::string_view, std::optional<position>, std::size_t,
                    history_handler) override {}
  std::vector<attach_handler> pending;
};

struct log_subscriber final : subscriber {
  void on_message(subscription&, const message_ptr& m) override {
    events.push_back("m" + std::to_string(m->pos.seq));
  }
  std::vector<std::string> events;
};

message_ptr make(std::uint64_t seq) {
  auto m = std::make_shared<message>();
  m->topic = "t";
  m->pos = {7, seq};
  return m;
}

TEST(TopicRegistryAsync, LiveMessagesReachTheSubscriberBeforeTheAnswer) {
  late_broker b;
  topic_registry registry(b, 0);
  log_subscriber owner;
  subscription s(owner);
  registry.subscribe(s, "t", position{7, 1}, [&](attach_result r) {
    owner.events.push_back("answer" + std::to_string(r.head.seq));
  });
  EXPECT_EQ(registry.pending_attaches(), 1u);
  registry.dispatch(make(2));
  registry.dispatch(make(3));
  EXPECT_EQ(owner.events, (std::vector<std::string>{"m2", "m3"}));
  ASSERT_EQ(b.pending.size(), 1u);
  attach_result r;
  r.head = {7, 2};
  b.pending[0](std::move(r));
  EXPECT_EQ(owner.events.back(), "answer2");
  EXPECT_EQ(registry.pending_attaches(), 0u);
  registry.unsubscribe(s);
}

TEST(TopicRegistryAsync, AnAnswerAfterUnsubscribeIsDropped) {
  late_broker b;
  topic_registry registry(b, 0);
  log_subscriber owner;
  bool answered = false;
  {
    subscription s(owner);
    registry.subscribe(s, "t", std::nullopt, [&](attach_result) { answered = true; });
    registry.unsubscribe(s);
  }
  EXPECT_EQ(registry.pending_attaches(), 0u);
  b.pending[0](attach_result{});
  EXPECT_FALSE(answered);
}

TEST(TopicRegistryAsync, OnlyTheLatestAttachOfASubscriptionIsAnswered) {
  late_broker b;
  topic_registry registry(b, 0);
  log_subscriber owner;
  subscription s(owner);
  std::vector<int> answers;
  registry.subscribe(s, "t", std::nullopt, [&](attach_result) { answers.push_back(1); });
  registry.resume(s, position{7, 4}, [&](attach_result) { answers.push_back(2); });
  ASSERT_EQ(b.pending.size(), 2u);
  b.pending[0](attach_result{});
  b.pending[1](attach_result{});
  EXPECT_EQ(answers, (std::vector<int>{2}));
  registry.unsubscribe(s);
}

TEST(TopicRegistryAsync, OtherSubscribersKeepReceiving) {
  late_broker b;
  topic_registry registry(b, 0);
  log_subscriber first;
  log_subscriber second;
  subscription a(first);
  subscription c(second);
  registry.subscribe(a, "t", std::nullopt, [](attach_result) {});
  b.pending[0](attach_result{});
  registry.subscribe(c, "t", std::nullopt, [](attach_result) {});
  registry.dispatch(make(5));
  EXPECT_EQ(first.events, (std::vector<std::string>{"m5"}));
  EXPECT_EQ(second.events, (std::vector<std::string>{"m5"}));
  registry.unsubscribe(a);
  registry.unsubscribe(c);
}

}  // namespace
}  // namespace sb
