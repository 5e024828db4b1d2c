#include "core/topic_registry.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/memory_broker.hpp"

namespace sb {
namespace {

/// Records what the registry asks of the broker; answers attaches inline with a marker head.
class recording_broker final : public broker {
 public:
  struct attach_call {
    std::size_t loop;
    std::string topic;
    std::optional<position> since;
  };

  void publish(std::vector<publish_item>, publish_handler) override {
    ADD_FAILURE() << "unexpected publish";
  }
  void attach(std::size_t loop_index, std::string_view topic, std::optional<position> since,
              attach_handler done) override {
    attaches.push_back({loop_index, std::string(topic), since});
    attach_result r;
    r.head = {99, attaches.size()};
    done(std::move(r));
  }
  void broadcast(message_ptr) override { ADD_FAILURE() << "unexpected broadcast"; }
  void detach(std::size_t loop_index, std::string_view topic) override {
    detaches.emplace_back(loop_index, std::string(topic));
  }
  void read_history(std::string_view, std::optional<position>, std::size_t,
                    history_handler) override {
    ADD_FAILURE() << "unexpected read_history";
  }

  std::vector<attach_call> attaches;
  std::vector<std::pair<std::size_t, std::string>> detaches;
};

/// Records every (subscription, message) it is handed, in order.
class recording_subscriber final : public subscriber {
 public:
  void on_message(subscription& s, const message_ptr& m) override { got.emplace_back(&s, m); }
  std::vector<std::pair<subscription*, message_ptr>> got;
};

message_ptr make(std::string topic, std::uint64_t seq, std::string data = "d") {
  auto m = std::make_shared<message>();
  m->topic = std::move(topic);
  m->pos = {99, seq};
  m->data = std::move(data);
  return m;
}

void ignore(attach_result) {}

publish_item item(std::string topic, std::string data) {
  publish_item out;
  out.topic = std::move(topic);
  out.data = std::move(data);
  return out;
}

TEST(TopicRegistry, CountsSubscribersPerTopicAsTheyComeAndGo) {
  recording_broker b;
  topic_registry r(b, 0);
  recording_subscriber owner;
  subscription s1(owner), s2(owner), s3(owner);
  r.subscribe(s1, "a", std::nullopt, ignore);
  r.subscribe(s2, "a", std::nullopt, ignore);
  r.subscribe(s3, "b", std::nullopt, ignore);
  EXPECT_EQ(r.subscriber_count("a"), 2u);
  EXPECT_EQ(r.subscriber_count("b"), 1u);
  EXPECT_EQ(r.subscriber_count("c"), 0u);
  std::vector<std::pair<std::string, std::size_t>> seen;
  r.for_each_topic([&](std::string_view t, std::size_t n) { seen.emplace_back(t, n); });
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::size_t>>{{"a", 2}, {"b", 1}}));
  r.unsubscribe(s1);
  r.unsubscribe(s1);  // twice is once
  EXPECT_EQ(r.subscriber_count("a"), 1u);
  r.unsubscribe(s2);
  r.unsubscribe(s3);
  EXPECT_EQ(r.subscriber_count("a"), 0u);
  EXPECT_EQ(r.topic_count(), 0u);
}

TEST(TopicRegistry, SubscribeLinksAndAttachesThisLoop) {
  recording_broker b;
  topic_registry reg(b, 3);
  recording_subscriber owner;
  subscription s(owner);
  EXPECT_FALSE(s.subscribed());
  std::optional<attach_result> answer;
  reg.subscribe(s, "orders/42", position{7, 5}, [&](attach_result r) { answer = std::move(r); });
  EXPECT_TRUE(s.subscribed());
  EXPECT_EQ(s.topic(), "orders/42");
  EXPECT_EQ(&s.owner(), &owner);
  ASSERT_EQ(b.attaches.size(), 1u);
  EXPECT_EQ(b.attaches[0].loop, 3u);
  EXPECT_EQ(b.attaches[0].topic, "orders/42");
  EXPECT_EQ(b.attaches[0].since, (position{7, 5}));
  ASSERT_TRUE(answer.has_value());  // the broker's answer is passed through
  EXPECT_EQ(answer->head, (position{99, 1}));
  EXPECT_EQ(reg.topic_count(), 1u);
  EXPECT_EQ(reg.subscriber_count("orders/42"), 1u);
  EXPECT_EQ(reg.subscriber_count("orders"), 0u);
  reg.unsubscribe(s);
}

TEST(TopicRegistry, EverySubscribeAsksTheBrokerWithItsOwnSince) {
  recording_broker b;
  topic_registry reg(b, 0);
  recording_subscriber o1, o2;
  subscription s1(o1), s2(o2);
  reg.subscribe(s1, "t", std::nullopt, ignore);
  reg.subscribe(s2, "t", position{1, 2}, ignore);
  ASSERT_EQ(b.attaches.size(), 2u);
  EXPECT_FALSE(b.attaches[0].since.has_value());
  EXPECT_EQ(b.attaches[1].since, (position{1, 2}));
  EXPECT_EQ(reg.topic_count(), 1u);
  EXPECT_EQ(reg.subscriber_count("t"), 2u);
  reg.unsubscribe(s1);
  reg.unsubscribe(s2);
}

TEST(TopicRegistry, DispatchReachesOnlyThatTopicsSubscribersInOrder) {
  recording_broker b;
  topic_registry reg(b, 0);
  recording_subscriber a, bb, c;
  subscription sa(a), sb2(bb), sc(c);
  reg.subscribe(sa, "t1", std::nullopt, ignore);
  reg.subscribe(sc, "t2", std::nullopt, ignore);
  reg.subscribe(sb2, "t1", std::nullopt, ignore);
  auto m1 = make("t1", 1, "for t1");
  reg.dispatch(m1);
  ASSERT_EQ(a.got.size(), 1u);
  EXPECT_EQ(a.got[0].first, &sa);
  EXPECT_EQ(a.got[0].second.get(), m1.get());
  ASSERT_EQ(bb.got.size(), 1u);
  EXPECT_EQ(bb.got[0].first, &sb2);
  EXPECT_EQ(bb.got[0].second.get(), m1.get());
  EXPECT_TRUE(c.got.empty());

  auto m2 = make("t2", 1, "for t2");
  reg.dispatch(m2);
  reg.dispatch(make("t3", 1));  // nobody here
  reg.dispatch(make("t", 1));   // a prefix of a subscribed name is another topic
  EXPECT_EQ(a.got.size(), 1u);
  EXPECT_EQ(bb.got.size(), 1u);
  ASSERT_EQ(c.got.size(), 1u);
  EXPECT_EQ(c.got[0].second->data, "for t2");
  reg.unsubscribe(sa);
  reg.unsubscribe(sb2);
  reg.unsubscribe(sc);
}

TEST(TopicRegistry, OnlyTheLastUnsubscribeDetaches) {
  recording_broker b;
  topic_registry reg(b, 2);
  recording_subscriber o;
  subscription s1(o), s2(o), other(o);
  reg.subscribe(s1, "t", std::nullopt, ignore);
  reg.subscribe(s2, "t", std::nullopt, ignore);
  reg.subscribe(other, "u", std::nullopt, ignore);
  reg.unsubscribe(s1);
  EXPECT_FALSE(s1.subscribed());
  EXPECT_TRUE(b.detaches.empty());
  EXPECT_EQ(reg.subscriber_count("t"), 1u);
  reg.dispatch(make("t", 1));
  ASSERT_EQ(o.got.size(), 1u);
  EXPECT_EQ(o.got[0].first, &s2);  // the unsubscribed one gets nothing

  reg.unsubscribe(s2);
  ASSERT_EQ(b.detaches.size(), 1u);
  EXPECT_EQ(b.detaches[0], (std::pair<std::size_t, std::string>{2, "t"}));
  EXPECT_EQ(reg.topic_count(), 1u);
  EXPECT_EQ(reg.subscriber_count("t"), 0u);
  reg.dispatch(make("t", 2));
  EXPECT_EQ(o.got.size(), 1u);

  reg.unsubscribe(s2);  // not subscribed: nothing happens
  EXPECT_EQ(b.detaches.size(), 1u);
  reg.unsubscribe(other);
  ASSERT_EQ(b.detaches.size(), 2u);
  EXPECT_EQ(b.detaches[1].second, "u");
  EXPECT_EQ(reg.topic_count(), 0u);
}

TEST(TopicRegistry, ResubscribeAfterTheLastLeftAttachesAgain) {
  recording_broker b;
  topic_registry reg(b, 0);
  recording_subscriber o;
  subscription s(o);
  reg.subscribe(s, "t", std::nullopt, ignore);
  reg.unsubscribe(s);
  reg.subscribe(s, "t", std::nullopt, ignore);
  EXPECT_EQ(b.attaches.size(), 2u);
  EXPECT_EQ(b.detaches.size(), 1u);
  EXPECT_EQ(s.topic(), "t");
  reg.dispatch(make("t", 1));
  EXPECT_EQ(o.got.size(), 1u);
  reg.unsubscribe(s);
}

TEST(TopicRegistry, SeveralSubscriptionsPerSubscriber) {
  recording_broker b;
  topic_registry reg(b, 0);
  recording_subscriber o;
  std::vector<subscription> subs(3);
  for (auto& s : subs) {
    s.set_owner(o);
  }
  reg.subscribe(subs[0], "a", std::nullopt, ignore);
  reg.subscribe(subs[1], "b", std::nullopt, ignore);
  reg.subscribe(subs[2], "a/b", std::nullopt, ignore);
  EXPECT_EQ(subs[0].topic(), "a");
  EXPECT_EQ(subs[1].topic(), "b");
  EXPECT_EQ(subs[2].topic(), "a/b");
  reg.dispatch(make("b", 1));
  reg.dispatch(make("a/b", 1));
  reg.dispatch(make("a", 1));
  ASSERT_EQ(o.got.size(), 3u);
  // Each delivery names the subscription of its topic.
  EXPECT_EQ(o.got[0].first, &subs[1]);
  EXPECT_EQ(o.got[1].first, &subs[2]);
  EXPECT_EQ(o.got[2].first, &subs[0]);
  reg.unsubscribe(subs[1]);
  reg.dispatch(make("b", 2));
  reg.dispatch(make("a", 2));
  ASSERT_EQ(o.got.size(), 4u);
  EXPECT_EQ(o.got[3].first, &subs[0]);
  EXPECT_EQ(o.got[3].second->pos.seq, 2u);
  ASSERT_EQ(b.detaches.size(), 1u);
  EXPECT_EQ(b.detaches[0].second, "b");
  reg.unsubscribe(subs[0]);
  reg.unsubscribe(subs[2]);
}

TEST(TopicRegistry, TopicNamesSurviveManyTopics) {
  // The subscription keeps a pointer to the registry's copy of its name; growing the map must not
  // move it.
  recording_broker b;
  topic_registry reg(b, 0);
  recording_subscriber o;
  std::vector<subscription> subs(300);
  for (std::size_t i = 0; i < subs.size(); ++i) {
    subs[i].set_owner(o);
    reg.subscribe(subs[i], "topic/" + std::to_string(i), std::nullopt, ignore);
  }
  for (std::size_t i = 0; i < subs.size(); ++i) {
    EXPECT_EQ(subs[i].topic(), "topic/" + std::to_string(i));
  }
  for (auto& s : subs) {
    reg.unsubscribe(s);
  }
  EXPECT_EQ(b.detaches.size(), 300u);
  EXPECT_EQ(reg.topic_count(), 0u);
}

TEST(TopicRegistry, DestroyingTheRegistryUnlinksItsSubscriptions) {
  recording_broker b;
  recording_subscriber o;
  subscription s(o);
  {
    topic_registry reg(b, 0);
    reg.subscribe(s, "t", std::nullopt, ignore);
    ASSERT_TRUE(s.subscribed());
  }
  EXPECT_FALSE(s.subscribed());
}

/// The loop glue in miniature: the broker hands off to the sink, the sink dispatches locally.
class dispatching_sink final : public delivery_sink {
 public:
  void deliver(message_ptr m) override {
    if (registry) {
      registry->dispatch(m);
    }
  }
  topic_registry* registry = nullptr;
};

TEST(TopicRegistry, WithTheMemoryBrokerAPublishReachesOnlyTheSubscribedLoop) {
  dispatching_sink sink0, sink1;
  memory_broker mb({}, nullptr, {&sink0, &sink1}, [] { return std::int64_t{0}; });
  topic_registry loop0(mb, 0), loop1(mb, 1);
  sink0.registry = &loop0;
  sink1.registry = &loop1;
  recording_subscriber on0, on1;
  subscription s0(on0), s1(on1);
  loop0.subscribe(s0, "t", std::nullopt, ignore);
  loop1.subscribe(s1, "u", std::nullopt, ignore);
  mb.publish({item("t", "to t"), item("u", "to u")}, [](auto) {});
  ASSERT_EQ(on0.got.size(), 1u);
  EXPECT_EQ(on0.got[0].second->data, "to t");
  ASSERT_EQ(on1.got.size(), 1u);
  EXPECT_EQ(on1.got[0].second->data, "to u");
  loop0.unsubscribe(s0);  // detaches loop 0 from "t"
  mb.publish({item("t", "again")}, [](auto) {});
  EXPECT_EQ(on0.got.size(), 1u);
  loop1.unsubscribe(s1);
}

}  // namespace
}  // namespace sb
