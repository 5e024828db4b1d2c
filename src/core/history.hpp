#pragma once
// One topic's history: the newest messages, bounded by count, bytes and age. Not thread-safe;
// the broker that owns it serializes access.
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
};

/// What a reader that stopped at some sequence number missed.
struct history_read {
  bool recoverable = false;           // false: some messages after `since` are gone
  std::vector<message_ptr> messages;  // after `since`, oldest first, at most `limit`
  bool more = false;                  // more messages exist after the last one returned
};

class topic_history {
 public:
  explicit topic_history(const history_limits& limits) : limits_(&limits) {}

  /// Appends a message whose seq is one past the last; trims to the bounds.
  void append(message_ptr m, std::int64_t now_ms);

  /// Drops what is older than the age bound.
  void trim(std::int64_t now_ms);

  /// Messages with seq > `since` (exclusive), at most `limit`. `last_seq` is the topic's head:
  /// a `since` past it is not recoverable.
  history_read read_after(std::uint64_t since, std::uint64_t last_seq, std::size_t limit) const;

  std::size_t size() const { return messages_.size(); }
  std::size_t bytes() const { return bytes_; }
  /// Seq of the oldest message kept, or nullopt when empty.
  std::optional<std::uint64_t> first_seq() const;

 private:
  void pop_front();

  const history_limits* limits_;
  std::deque<message_ptr> messages_;
  std::size_t bytes_ = 0;
};

}  // namespace sb
