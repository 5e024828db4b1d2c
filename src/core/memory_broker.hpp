#pragma once
// The single-node broker: history in memory, delivery by hand-off to each loop's sink.
// Thread-safe: topics are spread over sharded locks, so publishes to different topics from
// different loops do not contend; a topic's lock is held while its message is handed to the
// loops, which keeps every loop's view of a topic in seq order.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/broker.hpp"
#include "core/history.hpp"

namespace sb {

class memory_broker final : public broker {
 public:
  using clock_fn = std::function<std::int64_t()>;  // Unix milliseconds

  /// `sinks[i]` receives the messages for loop i; they must outlive the broker. At most 64 loops
  /// (std::invalid_argument otherwise).
  memory_broker(history_limits limits, message_encoder encode, std::vector<delivery_sink*> sinks,
                clock_fn now_ms);

  void publish(std::vector<publish_item> items, publish_handler done) override;
  void attach(std::size_t loop_index, std::string_view topic, std::optional<position> since,
              attach_handler done) override;
  void broadcast(message_ptr m) override;
  void detach(std::size_t loop_index, std::string_view topic) override;
  void read_history(std::string_view topic, std::optional<position> since, std::size_t limit,
                    history_handler done) override;

  /// The epoch every topic of this process starts in; a restart picks another.
  std::uint64_t node_epoch() const { return node_epoch_; }

 private:
  struct topic_state {
    explicit topic_state(const history_limits& limits, std::uint64_t epoch)
        : epoch(epoch), history(limits) {}
    std::uint64_t epoch;
    std::uint64_t last_seq = 0;
    std::uint64_t loop_mask = 0;  // bit i: loop i has subscribers
    topic_history history;
    message_ptr retained;
  };
  struct shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::unique_ptr<topic_state>> topics;
  };
  static constexpr std::size_t shard_count = 64;

  shard& shard_for(std::string_view topic);
  topic_state& state_for(shard& s, std::string_view topic);
  position append(shard& s, publish_item& item, std::int64_t now);

  history_limits limits_;
  message_encoder encode_;
  std::vector<delivery_sink*> sinks_;
  clock_fn now_ms_;
  std::uint64_t node_epoch_;
  std::array<shard, shard_count> shards_;
};

}  // namespace sb
