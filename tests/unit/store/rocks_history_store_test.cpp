#include "store/rocks_history_store.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/memory_broker.hpp"

namespace sb::store {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<message> make_message(std::string topic, position pos, std::string data,
                                      bool retain = false) {
  auto m = std::make_unique<message>();
  m->topic = std::move(topic);
  m->pos = pos;
  m->data = std::move(data);
  m->event = "tick";
  m->from = "alice";
  m->time_ms = 1'700'000'000'000;
  m->retain = retain;
  return m;
}

std::map<std::string, stored_topic> load_all(history_store& s) {
  std::map<std::string, stored_topic> out;
  s.load([&](stored_topic&& t) { out.emplace(t.name, std::move(t)); });
  return out;
}

std::vector<std::uint64_t> seqs(const stored_topic& t) {
  std::vector<std::uint64_t> out;
  for (const auto& m : t.messages) {
    out.push_back(m->pos.seq);
  }
  return out;
}

class null_sink final : public delivery_sink {
 public:
  void deliver(message_ptr) override {}
};

class RocksHistoryStore : public ::testing::Test {
 protected:
  RocksHistoryStore() {
    std::random_device rd;
    dir_ = (fs::temp_directory_path() /
            ("sb-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd())))
               .string();
  }
  ~RocksHistoryStore() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<rocks_history_store> open(fsync_mode mode = fsync_mode::everysec) {
    return std::make_unique<rocks_history_store>(dir_, mode);
  }

  /// Writes one raw key into the store behind its back, as a damaged disk or an old tool might.
  void poke(const std::string& key, const std::string& value) {
    rocksdb::DB* db = nullptr;
    rocksdb::Options o;
    o.create_if_missing = true;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
    delete db;
  }

  std::string dir_;
};

TEST_F(RocksHistoryStore, KeepsMessagesHeadsRetainedAndNodeEpochAcrossReopen) {
  {
    auto s = open();
    EXPECT_EQ(s->node_epoch(77), 77u);
    EXPECT_TRUE(load_all(*s).empty());
    for (std::uint64_t seq = 1; seq <= 3; ++seq) {
      ASSERT_TRUE(
          s->append(*make_message("orders/42", {5, seq}, "d" + std::to_string(seq), seq == 2)));
    }
    ASSERT_TRUE(s->append(*make_message("orders/4", {9, 1}, "other")));
    EXPECT_TRUE(s->needs_sync());
    s->sync();
    EXPECT_FALSE(s->needs_sync());
  }
  auto s = open();
  EXPECT_EQ(s->node_epoch(1234), 77u);  // the fresh candidate is ignored: the kept one wins
  auto all = load_all(*s);
  ASSERT_EQ(all.size(), 2u);
  const auto& t = all.at("orders/42");
  EXPECT_EQ(t.head, (position{5, 3}));
  EXPECT_EQ(seqs(t), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(t.messages[1]->data, "d2");
  EXPECT_EQ(t.messages[1]->event, "tick");
  EXPECT_EQ(t.messages[1]->from, "alice");
  EXPECT_EQ(t.messages[1]->time_ms, 1'700'000'000'000);
  EXPECT_EQ(t.messages[1]->topic, "orders/42");
  ASSERT_TRUE(t.retained);
  EXPECT_EQ(t.retained->pos, (position{5, 2}));
  EXPECT_EQ(t.retained->data, "d2");
  EXPECT_TRUE(t.retained->retain);
  // "orders/4" is a prefix of "orders/42": its messages must not mix with the other's.
  EXPECT_EQ(all.at("orders/4").head, (position{9, 1}));
  EXPECT_EQ(seqs(all.at("orders/4")), (std::vector<std::uint64_t>{1}));
  EXPECT_FALSE(all.at("orders/4").retained);
}

TEST_F(RocksHistoryStore, TrimDeletesOnDiskButKeepsTheHeadAndRetained) {
  {
    auto s = open(fsync_mode::no);
    s->node_epoch(1);
    for (std::uint64_t seq = 1; seq <= 200; ++seq) {
      ASSERT_TRUE(s->append(*make_message("a", {3, seq}, "x", seq == 1)));
    }
    s->trim("a", 150);                                          // a range delete (over 64 messages)
    ASSERT_TRUE(s->append(*make_message("a", {3, 201}, "x")));  // carries the pending trim
    s->trim("a", 199);                                          // point deletes, written at close
    s->trim("unknown", 5);                                      // nothing to do
  }
  {
    auto s = open();
    s->node_epoch(2);
    auto all = load_all(*s);
    EXPECT_EQ(all.at("a").head, (position{3, 201}));
    EXPECT_EQ(seqs(all.at("a")), (std::vector<std::uint64_t>{199, 200, 201}));
    ASSERT_TRUE(all.at("a").retained);  // retained outlives the trim of its message
    EXPECT_EQ(all.at("a").retained->pos.seq, 1u);
    s->trim("a", 202);  // everything gone from history: the topic's position stays
  }
  auto s = open();
  s->node_epoch(2);
  auto all = load_all(*s);
  EXPECT_EQ(all.at("a").head, (position{3, 201}));
  EXPECT_TRUE(all.at("a").messages.empty());
}

TEST_F(RocksHistoryStore, AlwaysModeSyncsOnDemand) {
  auto s = open(fsync_mode::always);
  s->node_epoch(1);
  EXPECT_FALSE(s->needs_sync());
  ASSERT_TRUE(s->append(*make_message("a", {1, 1}, "x")));
  EXPECT_TRUE(s->needs_sync());
  s->sync();
  EXPECT_FALSE(s->needs_sync());
}

TEST_F(RocksHistoryStore, BrokerKeepsEpochAndSeqAndResumesWithoutGap) {
  null_sink sink;
  std::int64_t now = 1'000'000;
  auto clock = [&] { return now; };
  auto publish = [](memory_broker& b, std::string data, bool retain = false) {
    std::optional<position> out;
    publish_item item;
    item.topic = "feed";
    item.data = std::move(data);
    item.retain = retain;
    std::vector<publish_item> items;
    items.push_back(std::move(item));
    b.publish(std::move(items), [&](result<std::vector<position>> r) { out = r->front(); });
    return *out;
  };
  position last;
  std::uint64_t node_epoch = 0;
  {
    auto s = open();
    memory_broker b({}, nullptr, {&sink}, clock, s.get());
    node_epoch = b.node_epoch();
    publish(b, "one", true);
    last = publish(b, "two");
  }
  auto s = open();
  memory_broker b({}, nullptr, {&sink}, clock, s.get());
  EXPECT_EQ(b.node_epoch(), node_epoch);
  auto next = publish(b, "three");
  EXPECT_EQ(next, (position{last.epoch, last.seq + 1}));

  std::optional<attach_result> got;
  b.attach(0, "feed", position{last.epoch, 1}, [&](attach_result r) { got = std::move(r); });
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->gap);
  ASSERT_EQ(got->missed.size(), 2u);
  EXPECT_EQ(got->missed[0]->data, "two");
  EXPECT_EQ(got->missed[1]->data, "three");
  got.reset();
  b.attach(0, "feed", std::nullopt, [&](attach_result r) { got = std::move(r); });
  ASSERT_TRUE(got && got->retained);
  EXPECT_EQ(got->retained->data, "one");
}

TEST_F(RocksHistoryStore, BoundsApplyToWhatIsLoadedAndToTheDisk) {
  null_sink sink;
  std::int64_t now = 1'000'000;
  auto clock = [&] { return now; };
  {
    auto s = open();
    memory_broker b({}, nullptr, {&sink}, clock, s.get());
    for (int i = 0; i < 10; ++i) {
      publish_item item;
      item.topic = "t";
      item.data = "x";
      std::vector<publish_item> items;
      items.push_back(std::move(item));
      b.publish(std::move(items), [](result<std::vector<position>>) {});
    }
  }
  {
    auto s = open();
    history_limits small;
    small.max_messages = 4;
    memory_broker b(small, nullptr, {&sink}, clock, s.get());
  }
  auto s = open();
  s->node_epoch(1);
  auto all = load_all(*s);
  EXPECT_EQ(seqs(all.at("t")), (std::vector<std::uint64_t>{7, 8, 9, 10}));
  EXPECT_EQ(all.at("t").head.seq, 10u);
}

TEST_F(RocksHistoryStore, RefusesANewerFormat) {
  { open()->node_epoch(1); }
  std::string record = "switchboard-history";
  record += std::string("\x02\x00\x00\x00", 4) + std::string(8, '\x01');
  poke("f", record);
  auto s = open();
  try {
    s->node_epoch(1);
    FAIL() << "a newer format was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
}

TEST_F(RocksHistoryStore, RefusesDataWithoutAFormatRecord) {
  poke("something", "else");
  auto s = open();
  EXPECT_THROW(s->node_epoch(1), std::runtime_error);
}

TEST_F(RocksHistoryStore, RefusesADamagedRecord) {
  {
    auto s = open();
    s->node_epoch(1);
    ASSERT_TRUE(s->append(*make_message("a", {1, 1}, "x")));
  }
  poke("ta", "short");
  auto s = open();
  s->node_epoch(1);
  EXPECT_THROW(load_all(*s), std::runtime_error);
}

TEST_F(RocksHistoryStore, RefusesAnUnreadableDirectory) {
  { open()->node_epoch(1); }
  std::ofstream(fs::path(dir_) / "CURRENT", std::ios::trunc) << "garbage\n";
  try {
    open();
    FAIL() << "a damaged store was opened";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_), std::string::npos) << e.what();
  }
}

TEST_F(RocksHistoryStore, RefusesASecondUser) {
  auto first = open();
  EXPECT_THROW(open(), std::runtime_error);
}

std::string this_boot() {
  std::string id;
  std::getline(std::ifstream("/proc/sys/kernel/random/boot_id"), id);
  return id;
}

/// The "s" record of a run that did not stop cleanly: its boot, and whether it synced every write.
std::string unclean_run(const std::string& boot, bool always) {
  return boot + std::string(1, '\0') + std::string(1, '\0') + std::string(1, always ? '\1' : '\0');
}

TEST_F(RocksHistoryStore, AfterAMachineCrashWithUnsyncedWritesEveryTopicStartsANewEpoch) {
  {
    auto s = open();
    s->node_epoch(5);
    for (std::uint64_t seq = 1; seq <= 3; ++seq) {
      ASSERT_TRUE(s->append(*make_message("a", {5, seq}, "x", seq == 3)));
    }
  }
  poke("s", unclean_run("another-boot", false));
  {
    auto s = open();
    EXPECT_EQ(s->node_epoch(99), 99u);
    auto all = load_all(*s);
    EXPECT_EQ(all.at("a").head, (position{99, 3}));  // same seqs, new epoch: old ids are a gap
    EXPECT_EQ(seqs(all.at("a")), (std::vector<std::uint64_t>{1, 2, 3}));
    EXPECT_EQ(all.at("a").messages[0]->pos.epoch, 99u);
    ASSERT_TRUE(all.at("a").retained);
    EXPECT_EQ(all.at("a").retained->pos.epoch, 99u);
  }
  auto s = open();  // stopped cleanly since: the new epoch is kept and the records agree with it
  EXPECT_EQ(s->node_epoch(7), 99u);
  EXPECT_EQ(load_all(*s).at("a").head, (position{99, 3}));
}

TEST_F(RocksHistoryStore, AProcessCrashOrAlwaysKeepsEpochs) {
  {
    auto s = open();
    s->node_epoch(5);
    ASSERT_TRUE(s->append(*make_message("a", {5, 1}, "x")));
  }
  poke("s", unclean_run(this_boot(), false));  // killed, same boot: the OS kept every write
  {
    auto s = open();
    EXPECT_EQ(s->node_epoch(99), 5u);
    EXPECT_EQ(load_all(*s).at("a").head, (position{5, 1}));
  }
  poke("s", unclean_run("another-boot", true));  // history_fsync = always: every write was synced
  auto s = open();
  EXPECT_EQ(s->node_epoch(99), 5u);
  EXPECT_EQ(load_all(*s).at("a").head, (position{5, 1}));
}

TEST(FsyncMode, Parses) {
  EXPECT_EQ(parse_fsync_mode("always"), fsync_mode::always);
  EXPECT_EQ(parse_fsync_mode("everysec"), fsync_mode::everysec);
  EXPECT_EQ(parse_fsync_mode("no"), fsync_mode::no);
  EXPECT_FALSE(parse_fsync_mode("sometimes"));
}

}  // namespace
}  // namespace sb::store
