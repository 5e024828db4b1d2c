#include "cluster/redis_url.hpp"

#include <gtest/gtest.h>

#include "cluster/topic_script.hpp"

namespace sb::cluster {
namespace {

TEST(RedisUrl, HostPortDatabaseAndLogin) {
  std::string error;
  auto e = parse_redis_url("redis://app:s%40cret@10.0.0.5:6380/3", error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->host, "10.0.0.5");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 3u);
  EXPECT_EQ(e->user, "app");
  EXPECT_EQ(e->password, "s@cret");
  EXPECT_EQ(e->describe(), "10.0.0.5:6380");  // never the password
}

TEST(RedisUrl, PasswordAloneAndDefaults) {
  std::string error;
  auto e = parse_redis_url("redis://secret@localhost", error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->db, 0u);
  EXPECT_EQ(e->user, "");
  EXPECT_EQ(e->password, "secret");
}

TEST(RedisUrl, UnixSocket) {
  std::string error;
  auto e = parse_redis_url("unix:///run/redis/redis.sock?db=2", error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(e->db, 2u);
}

TEST(RedisUrl, Refusals) {
  std::string error;
  for (auto bad : {"http://x", "redis://", "redis://h:0", "redis://h:70000", "redis://h:1/x",
                   "unix://relative", "unix:///s?x=1", "redis://u:%zz@h"}) {
    EXPECT_FALSE(parse_redis_url(bad, error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(TopicKeys, EveryKeyOfATopicSharesItsHashTag) {
  EXPECT_EQ(meta_key("a/b"), "sb:{a/b}:m");
  EXPECT_EQ(history_key("a/b"), "sb:{a/b}:h");
  EXPECT_EQ(idempotency_key("a/b", "k"), "sb:{a/b}:i:k");
  EXPECT_EQ(channel_of("a/b"), "sb:{a/b}:c");
  EXPECT_EQ(topic_of_channel("sb:{a/b}:c"), "a/b");
  EXPECT_EQ(topic_of_channel("other"), "");
}

}  // namespace
}  // namespace sb::cluster
