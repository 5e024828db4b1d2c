#pragma once
// How far behind a subscriber may fall, and what happens then, whatever its protocol: the SSE
// stream and the WebSocket session read the same struct (send_queue_*, slow_consumer_policies).
#include <algorithm>
#include <cstddef>

#include "core/feed.hpp"
#include "core/topic_pattern.hpp"

namespace sb {

struct subscriber_settings {
  backlog_limits backlog;  // how far behind a subscriber may fall
  policy_table policies;   // per-topic slow-consumer policy (`resume` where no rule matches)

  /// Messages go straight to the socket's queue until this many bytes wait there; beyond it they
  /// wait in the feed (as references), where replay is paced and the policy applies. Half the
  /// smaller bound, so the socket's queue alone never reaches it, and at most 64 KiB.
  std::size_t high_water() const {
    return std::min<std::size_t>(64 << 10, std::min(backlog.hard_bytes, backlog.soft_bytes) / 2);
  }
};

}  // namespace sb
