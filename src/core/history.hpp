#pragma once
// One topic's history: the newest messages, bounded by count, bytes and age. Not thread-safe;
// the broker that owns it serializes access.
#include <atomic>
#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "core/message.hpp"

namespace sb {

struct history_limits {
  std::size_t max_messages = 1000;
  std::size_t max_bytes = 4 << 20;
  std::int64_t max_age_ms = 3600 * 1000;
  /// All topics' history together (the broker evicts the oldest messages across topics over it).
  std::size_t max_memory_bytes = std::size_t{256} << 20;
};

/// What every history of a broker holds, summed as it changes (read by metrics and the global
/// bound).
struct history_ledger {
  std::atomic<std::size_t> bytes{0};
  std::atomic<std::size_t> messages{0};
};

/// Stored messages in the order they were stored, across the topics that share one lock.
using message_order = boost::intrusive::list<
    message,
    boost::intrusive::member_hook<message,
                                  boost::intrusive::list_member_hook<
                                      boost::intrusive::link_mode<boost::intrusive::auto_unlink>>,
                                  &message::order_hook>,
    boost::intrusive::constant_time_size<false>>;

/// What a reader that stopped at some sequence number missed.
struct history_read {
  bool recoverable = false;           // false: some messages after `since` are gone
  std::vector<message_ptr> messages;  // after `since`, oldest first, at most `limit`
  bool more = false;                  // more messages exist after the last one returned
};

class topic_history {
 public:
  /// `ledger` and `order` (optional, both outlive the history) learn of every message kept and
  /// dropped; messages are linked into `order` while kept.
  explicit topic_history(const history_limits& limits, history_ledger* ledger = nullptr,
                         message_order* order = nullptr)
      : limits_(&limits), ledger_(ledger), order_(order) {}
  topic_history(const topic_history&) = delete;
  topic_history& operator=(const topic_history&) = delete;
  ~topic_history();

  /// Appends a message whose seq is one past the last; trims to the bounds.
  void append(message_ptr m, std::int64_t now_ms);

  /// Drops what is older than the age bound; returns how many messages it dropped.
  std::size_t trim(std::int64_t now_ms);

  /// Drops the oldest message (the global memory bound evicts this way). No-op when empty.
  void pop_front();

  /// Messages with seq > `since` (exclusive), at most `limit`. `last_seq` is the topic's head:
  /// a `since` past it is not recoverable.
  history_read read_after(std::uint64_t since, std::uint64_t last_seq, std::size_t limit) const;

  std::size_t size() const { return messages_.size(); }
  std::size_t bytes() const { return bytes_; }
  /// Seq of the oldest message kept, or nullopt when empty.
  std::optional<std::uint64_t> first_seq() const;
  /// The oldest message kept, or null when empty.
  const message* front() const { return messages_.empty() ? nullptr : messages_.front().get(); }

 private:
  const history_limits* limits_;
  history_ledger* ledger_;
  message_order* order_;
  std::deque<message_ptr> messages_;
  std::size_t bytes_ = 0;
};

}  // namespace sb
