#include "core/publish.hpp"

#include <gtest/gtest.h>

namespace sb {
namespace {

publish_item item(std::string topic, std::string data = "d", std::string event = {}) {
  publish_item out;
  out.topic = std::move(topic);
  out.data = std::move(data);
  out.event = std::move(event);
  return out;
}

TEST(check_publish, AcceptsAWellFormedMessage) {
  EXPECT_EQ(check_publish(item("chat.room-1", "héllo", "msg"), 100), publish_fault::none);
  EXPECT_EQ(check_publish(item("t", std::string(100, 'x'), std::string(max_event_bytes, 'e')), 100),
            publish_fault::none);
}

TEST(check_publish, RefusesEachRuleInOrder) {
  EXPECT_EQ(check_publish(item("bad topic", std::string(200, 'x')), 100),
            publish_fault::invalid_topic);
  EXPECT_EQ(check_publish(item("t", std::string(101, 'x'), "a\nb"), 100),
            publish_fault::data_too_large);
  EXPECT_EQ(check_publish(item("t", "\xff", "a\nb"), 100), publish_fault::data_not_utf8);
  EXPECT_EQ(check_publish(item("t", "d", "a\nb"), 100), publish_fault::bad_event);
  EXPECT_EQ(check_publish(item("t", "d", "a\rb"), 100), publish_fault::bad_event);
  EXPECT_EQ(check_publish(item("t", "d", std::string(max_event_bytes + 1, 'e')), 100),
            publish_fault::bad_event);
  EXPECT_EQ(check_publish(item("t", "d", "\xc3"), 100), publish_fault::bad_event);
}

TEST(make_message, MovesThePublishIntoAMessage) {
  publish_item p = item("t", "data", "ev");
  p.retain = true;
  p.from = "alice";
  auto m = make_message(message_kind::volatile_, std::move(p), 1234);
  EXPECT_EQ(m->kind, message_kind::volatile_);
  EXPECT_EQ(m->topic, "t");
  EXPECT_EQ(m->data, "data");
  EXPECT_EQ(m->event, "ev");
  EXPECT_TRUE(m->retain);
  EXPECT_EQ(m->from, "alice");
  EXPECT_EQ(m->time_ms, 1234);
  EXPECT_EQ(m->pos, (position{}));
}

}  // namespace
}  // namespace sb
