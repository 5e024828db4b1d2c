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
#include "core/history_store.hpp"

namespace sb {

class memory_broker final : public broker {
 public:
  using clock_fn = std::function<std::int64_t()>;  // Unix milliseconds

  /// `sinks[i]` receives the messages for loop i; they must outlive the broker. At most 64 loops
  /// (std::invalid_argument otherwise). With a `store` (history_dir; it must outlive the broker),
  /// the node epoch, every topic's epoch and seq, history and retained message are loaded from it
  /// here (it throws what the store throws), and every stored message is written to it before it
  /// is shared.
  memory_broker(history_limits limits, message_encoder encode, std::vector<delivery_sink*> sinks,
                clock_fn now_ms, history_store* store = nullptr);

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
  /// nullopt when the store could not write it (nothing is kept then).
  std::optional<position> append(shard& s, publish_item& item, std::int64_t now);
  void restore();
  /// Tells the store what the history no longer keeps (after any trim).
  void persist_trim(std::string_view topic, const topic_state& t);

  history_limits limits_;
  message_encoder encode_;
  std::vector<delivery_sink*> sinks_;
  clock_fn now_ms_;
  history_store* store_;
  std::uint64_t node_epoch_;
  std::array<shard, shard_count> shards_;
};

}  // namespace sb
