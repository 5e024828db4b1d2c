#pragma once
// The single-node broker: history in memory, delivery by hand-off to each loop's sink.
// Thread-safe: topics are spread over sharded locks, so publishes to different topics from
// different loops do not contend; a topic's lock is held while its message is handed to the
// loops, which keeps every loop's view of a topic in seq order.
//
// Memory: every topic's history counts against one bound (history_limits::max_memory_bytes); over
// it, the oldest stored messages across all topics are evicted, exactly as a topic's own bounds
// trim it (a reader resuming from before them is told of a gap). sweep() expires messages past the
// age bound and forgets idle topics; the server calls it from one timer.
#include <array>
#include <atomic>
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
#include "core/idempotency.hpp"

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

  /// How long an Idempotency-Key is remembered (default 5 minutes). Before publishing starts.
  void set_idempotency_window(std::int64_t window_ms);

  /// The epoch every topic of this process starts in; a restart picks another.
  std::uint64_t node_epoch() const { return node_epoch_; }

  /// Drops messages past the age bound in every topic, including topics nobody publishes to or
  /// reads any more, and forgets topics left idle (no subscriber, no history, no retained
  /// message). Cost: the expired messages plus one lock per shard. Any thread. Returns the bytes
  /// of history it dropped.
  std::size_t sweep();
  /// Publish time (Unix ms) of the oldest message in history, INT64_MAX when it holds none: the
  /// next sweep with work to do is due when it passes the age bound. Any thread, no lock.
  std::int64_t oldest_ms() const;

  /// A topic as the admin listing shows it: its name and the position of its last message.
  struct topic_entry {
    std::string name;
    position head;  // seq 0: no message yet in this epoch
  };
  /// Topics whose name starts with `prefix` and sorts after `after` (byte order), the first
  /// `limit` of them in name order. Names starting with `$` (the server's own, e.g. the admin
  /// stats stream) are left out. Cost: every topic name is looked at, one shard lock at a time
  /// (an operator's request, not a hot path); at most `limit` names are kept while scanning.
  std::vector<topic_entry> list_topics(std::string_view prefix, std::string_view after,
                                       std::size_t limit);
  /// True when some loop has subscribers of `topic`.
  bool has_subscribers(std::string_view topic);

  struct stats {
    std::size_t topics = 0;             // topic entries held
    std::size_t messages = 0;           // messages in history
    std::size_t bytes = 0;              // what history holds (message::stored_bytes)
    std::size_t retained_messages = 0;  // retained messages (also in history while kept there)
    std::size_t retained_bytes = 0;
    std::uint64_t evictions = 0;         // messages evicted by max_memory_bytes
    std::uint64_t expirations = 0;       // messages dropped by the age bound
    std::uint64_t topics_reclaimed = 0;  // idle topics forgotten
  };
  /// Totals, read without locks (each figure is exact; together they may be a moment apart).
  stats snapshot() const;

 private:
  struct topic_state {
    topic_state(const history_limits& limits, std::uint64_t epoch, std::uint64_t seq,
                history_ledger& ledger, message_order& order)
        : epoch(epoch), last_seq(seq), history(limits, &ledger, &order) {}
    std::uint64_t epoch;
    std::uint64_t last_seq = 0;
    std::uint64_t loop_mask = 0;  // bit i: loop i has subscribers
    topic_history history;
    message_ptr retained;
  };
  using topic_map = std::unordered_map<std::string, std::unique_ptr<topic_state>>;
  struct shard {
    std::mutex mutex;
    topic_map topics;
    message_order order;  // this shard's stored messages, oldest first
    /// A topic forgotten here had positions up to this seq; one created here starts after it, so
    /// its ids never repeat one handed out before in this epoch (see forget()).
    std::uint64_t seq_floor = 0;
    /// Publish time of order.front() (INT64_MAX when empty), read without the lock to find the
    /// shard holding the oldest message.
    std::atomic<std::int64_t> oldest_ms{INT64_MAX};
    idempotency_window seen;  // Idempotency-Keys of this shard's topics
  };
  static constexpr std::size_t shard_count = 64;

  shard& shard_for(std::string_view topic);
  topic_state& state_for(shard& s, std::string_view topic);
  /// nullopt when the store could not write it (nothing is kept then).
  std::optional<position> append(shard& s, publish_item& item, std::int64_t now);
  void restore();
  /// Tells the store what the history no longer keeps (after any trim).
  void persist_trim(std::string_view topic, const topic_state& t);

  /// Forgets `it` if it is idle; true if it did. Under the shard's lock.
  bool forget_if_idle(shard& s, topic_map::iterator it);
  /// Updates s.oldest_ms after s.order changed. Under the shard's lock.
  static void settle(shard& s);
  /// Evicts the oldest messages across topics while history holds more than the bound. Called
  /// with no lock held.
  void enforce_memory_bound();

  history_limits limits_;
  history_ledger ledger_;
  std::atomic<std::size_t> topics_{0};
  std::atomic<std::size_t> retained_messages_{0};
  std::atomic<std::size_t> retained_bytes_{0};
  std::atomic<std::uint64_t> evictions_{0};
  std::atomic<std::uint64_t> expirations_{0};
  std::atomic<std::uint64_t> reclaimed_{0};
  message_encoder encode_;
  std::vector<delivery_sink*> sinks_;
  clock_fn now_ms_;
  history_store* store_;
  std::uint64_t node_epoch_;
  std::array<shard, shard_count> shards_;
};

}  // namespace sb
