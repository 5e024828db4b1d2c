#include "core/topic_name.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sb {
namespace {

TEST(TopicName, AcceptsTheContractAlphabetAndSegments) {
  EXPECT_TRUE(is_valid_topic("orders"));
  EXPECT_TRUE(is_valid_topic("orders/42"));
  EXPECT_TRUE(is_valid_topic("a-b_c.d:e@f/G/9"));
  EXPECT_TRUE(is_valid_topic(std::string(200, 'x')));
  EXPECT_TRUE(is_valid_topic("streams/x"));  // only the last segment is reserved
}

TEST(TopicName, RejectsEmptyTooLongAndForeignBytes) {
  EXPECT_FALSE(is_valid_topic(""));
  EXPECT_FALSE(is_valid_topic(std::string(201, 'x')));
  EXPECT_FALSE(is_valid_topic("a b"));
  EXPECT_FALSE(is_valid_topic("a%2Fb"));
  EXPECT_FALSE(is_valid_topic("caf\xc3\xa9"));
  EXPECT_FALSE(is_valid_topic(std::string("a\0b", 3)));
}

TEST(TopicName, RejectsEmptySegments) {
  EXPECT_FALSE(is_valid_topic("/a"));
  EXPECT_FALSE(is_valid_topic("a/"));
  EXPECT_FALSE(is_valid_topic("a//b"));
  EXPECT_FALSE(is_valid_topic("/"));
}

TEST(TopicName, RejectsReservedLastSegments) {
  EXPECT_FALSE(is_valid_topic("a/stream"));
  EXPECT_FALSE(is_valid_topic("history"));
  EXPECT_FALSE(is_valid_topic("x/y/presence"));
  EXPECT_TRUE(is_valid_topic("stream/a"));
  EXPECT_TRUE(is_valid_topic("historyx"));
}

}  // namespace
}  // namespace sb
