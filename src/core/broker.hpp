#pragma once
// The broker is the source of truth for topics: it assigns positions, keeps history and retained
// messages, and hands each published message once to every loop that has subscribers for its
// topic. The in-memory broker implements it for one node; the Redis backplane implements it for a
// cluster. Completion handlers may run inline (in memory) or later on the caller's loop (Redis).
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/errc.hpp"
#include "core/message.hpp"
#include "core/publish.hpp"

namespace sb {

/// The hand-off of published messages into one loop. Implemented by the loop layer, which posts
/// onto the loop's thread. Messages of one topic are delivered in seq order.
class delivery_sink {
 public:
  virtual void deliver(message_ptr m) = 0;
  /// Several messages at once, in order (one hand-off instead of one per message); `ms` is left
  /// empty.
  virtual void deliver_batch(std::vector<message_ptr>& ms) {
    for (auto& m : ms) {
      deliver(std::move(m));
    }
    ms.clear();
  }

 protected:
  ~delivery_sink() = default;
};

/// What a subscriber attaching to a topic must be sent before live messages.
struct attach_result {
  position head;                    // the topic's position now: epoch and last seq
  bool gap = false;                 // the asked position cannot be recovered
  std::vector<message_ptr> missed;  // after the asked position, oldest first; empty on gap
  message_ptr retained;  // the latest retained message (sent when no position was asked, or on gap)
  /// The backplane could not be read in time (Redis unreachable or overloaded): nothing else is
  /// set. The subscriber must come back rather than be told of a gap history may not have: an SSE
  /// stream ends after a retry: field (EventSource reconnects with its Last-Event-ID), a WebSocket
  /// closes with 1013 (the client reconnects and resubscribes with since).
  bool unavailable = false;
};

struct history_page {
  std::vector<message_ptr> messages;
  bool gap = false;  // `since` was older than what history holds
  bool more = false;
  errc error = errc::ok;  // unavailable: the backplane could not be read (nothing else is set)
};

class broker {
 public:
  using publish_handler = std::function<void(result<std::vector<position>>)>;
  using attach_handler = std::function<void(attach_result)>;
  using history_handler = std::function<void(history_page)>;

  virtual ~broker() = default;

  /// Stores each item in its topic's history, then delivers it; `done` gets the positions in
  /// request order only once every item is in history.
  virtual void publish(std::vector<publish_item> items, publish_handler done) = 0;

  /// Makes sure loop `loop_index` receives `topic`'s messages from now on (idempotent), then
  /// answers what a subscriber positioned at `since` missed. Every message after `head` reaches the
  /// loop's sink; messages up to `head` may reach it too and must be skipped by seq.
  virtual void attach(std::size_t loop_index, std::string_view topic, std::optional<position> since,
                      attach_handler done) = 0;

  /// Hands a message that is not stored (volatile, presence diff) to every loop with subscribers
  /// of its topic. It must be complete and encoded.
  virtual void broadcast(message_ptr m) = 0;

  /// Loop `loop_index` has no subscriber left for `topic`.
  virtual void detach(std::size_t loop_index, std::string_view topic) = 0;

  /// Messages after `since` (from the oldest kept when absent), at most `limit`.
  virtual void read_history(std::string_view topic, std::optional<position> since,
                            std::size_t limit, history_handler done) = 0;
};

}  // namespace sb
