#pragma once
// Idempotency-Key: a retried publish (the client did not see the answer) returns the first
// publish's position instead of storing the message twice. Keys are per topic and remembered for
// a window. The rule for what a key may be is shared by HTTP and WebSocket; the memory broker
// keeps its window here, the Redis broker in Redis (cluster/topic_script).
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/position.hpp"

namespace sb {

/// 1–200 bytes of printable ASCII (no spaces), as an HTTP header value and a Redis key part allow.
bool is_valid_idempotency_key(std::string_view key);

/// How long a key is remembered unless configured (idempotency_window_s).
inline constexpr std::chrono::seconds default_idempotency_window{300};

/// Keys seen per topic, each forgotten `window` after it was recorded. Not thread-safe: the
/// memory broker keeps one per shard, under the shard's lock.
class idempotency_window {
 public:
  explicit idempotency_window(
      std::int64_t window_ms = std::chrono::milliseconds(default_idempotency_window).count())
      : window_ms_(window_ms) {}
  void set_window(std::int64_t window_ms) { window_ms_ = window_ms; }

  /// The position recorded for (topic, key), if still within the window.
  std::optional<position> find(std::string_view topic, std::string_view key, std::int64_t now_ms);
  void record(std::string_view topic, std::string_view key, position p, std::int64_t now_ms);
  std::size_t size() const { return entries_.size(); }

 private:
  void expire(std::int64_t now_ms);
  static std::string slot(std::string_view topic, std::string_view key);

  std::int64_t window_ms_;
  std::unordered_map<std::string, position> entries_;
  std::deque<std::pair<std::int64_t, std::string>> order_;  // (recorded at, slot), oldest first
};

}  // namespace sb
