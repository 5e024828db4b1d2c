#include "cluster/slot_map.hpp"

#include <gtest/gtest.h>

#include "cluster/topic_script.hpp"

namespace sb::cluster {
namespace {

TEST(SlotMap, KeySlotIsCrc16XmodemOfTheHashTag) {
  // The CRC16-XMODEM check value, and the examples of Redis's CLUSTER KEYSLOT documentation.
  EXPECT_EQ(key_slot("123456789"), 0x31C3);
  EXPECT_EQ(key_slot("somekey"), 11058);
  EXPECT_EQ(key_slot("foo{hash_tag}"), 2515);
  EXPECT_EQ(key_slot("foo{hash_tag}"), key_slot("hash_tag"));
  // An empty tag, or none closed, hashes the whole key.
  EXPECT_EQ(key_slot("a{}b"), key_slot(std::string("a{}b")));
  EXPECT_NE(key_slot("a{}b"), key_slot(""));
  EXPECT_EQ(key_slot("{x"), key_slot(std::string_view("{x")));
}

TEST(SlotMap, EveryKeyOfATopicIsInTheTopicsSlot) {
  for (std::string topic : {"orders/42", "a", "room:1@x", "chat.general"}) {
    auto slot = topic_slot(topic);
    EXPECT_EQ(key_slot(meta_key(topic)), slot);
    EXPECT_EQ(key_slot(history_key(topic)), slot);
    EXPECT_EQ(key_slot(idempotency_key(topic, "k{1}")), slot);
    EXPECT_EQ(key_slot(channel_of(topic)), slot);
  }
}

TEST(SlotMap, Redirections) {
  auto moved = parse_redirection("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved);
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->host, "127.0.0.1");
  EXPECT_EQ(moved->port, 6381);
  auto ask = parse_redirection("ASK 16383 ::1:7000");
  ASSERT_TRUE(ask);
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->host, "::1");
  EXPECT_EQ(ask->port, 7000);
  auto unknown_host = parse_redirection("MOVED 1 :7001");
  ASSERT_TRUE(unknown_host);
  EXPECT_EQ(unknown_host->host, "");
  for (auto bad : {"MOVED", "MOVED 16384 h:1", "ASK 1 h", "ASK 1 h:0", "ASK 1 h:65536", "ERR x",
                   "MOVED x h:1"}) {
    EXPECT_FALSE(parse_redirection(bad)) << bad;
  }
}

/// The reply hiredis reads from `resp`.
std::unique_ptr<redisReply, void (*)(void*)> read_reply(std::string_view resp) {
  auto* reader = redisReaderCreate();
  redisReaderFeed(reader, resp.data(), resp.size());
  void* out = nullptr;
  redisReaderGetReply(reader, &out);
  redisReaderFree(reader);
  return {static_cast<redisReply*>(out), freeReplyObject};
}

TEST(SlotMap, ClusterSlots) {
  // Two masters, the second with a replica and an unknown endpoint ("?").
  auto r = read_reply(
      "*2\r\n"
      "*3\r\n:0\r\n:8191\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
      "*4\r\n:8192\r\n:16383\r\n*2\r\n$1\r\n?\r\n:7001\r\n*2\r\n$1\r\nr\r\n:7002\r\n");
  ASSERT_TRUE(r);
  auto map = parse_cluster_slots(r.get());
  ASSERT_TRUE(map);
  ASSERT_EQ(map->size(), 2u);
  EXPECT_EQ((*map)[0].first, 0);
  EXPECT_EQ((*map)[0].last, 8191);
  EXPECT_EQ((*map)[0].host, "127.0.0.1");
  EXPECT_EQ((*map)[0].port, 7000);
  EXPECT_EQ((*map)[1].first, 8192);
  EXPECT_EQ((*map)[1].host, "");
  EXPECT_EQ((*map)[1].port, 7001);
  // Not a map: an error, a range past the last slot.
  EXPECT_FALSE(
      parse_cluster_slots(read_reply("-ERR This instance has cluster support disabled\r\n").get()));
  EXPECT_FALSE(
      parse_cluster_slots(read_reply("*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n").get()));
}

}  // namespace
}  // namespace sb::cluster
