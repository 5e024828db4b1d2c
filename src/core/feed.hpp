#pragma once
// What one subscriber still has to write, in order: replayed history first, then live messages
// that arrived while its socket was behind. This is where a slow consumer's policy is applied
// (docs/api.md "Slow consumers"), the same way for every transport:
//   resume  the subscriber is closed once it is too far behind; it resumes from history;
//   latest  pending live messages are conflated to the newest per topic (dashboards, counters);
//   drop    live messages over the bound are dropped and one in-band gap marks the loss.
// Volatile messages are conflated latest-wins per topic while waiting, and dropped first.
// Sans-I/O: the owner says when to push and pops what to write as its socket drains.
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/message.hpp"

namespace sb {

class subscription;

enum class overflow_policy : std::uint8_t { resume, latest, drop };

/// "resume", "latest", "drop"; nullopt otherwise.
std::optional<overflow_policy> parse_overflow_policy(std::string_view text);

class feed {
 public:
  /// An entry to write. `m` is null for a gap marker: the topic lost messages (drop policy).
  struct entry {
    subscription* sub;
    message_ptr m;
  };
  enum class verdict { queued, dropped, close };

  bool empty() const { return !q_ || q_->head == q_->entries.size(); }
  /// Bytes of live messages waiting (replay is held by history anyway and not counted).
  std::size_t live_bytes() const { return q_ ? q_->live_bytes : 0; }

  void push_replay(subscription& s, message_ptr m);

  /// A live message the socket cannot take now. `room` is how many more live bytes the subscriber
  /// may hold before its policy applies.
  verdict push_live(subscription& s, message_ptr m, overflow_policy policy, std::size_t room);

  std::optional<entry> pop();

  /// Forgets everything queued for `s` (it unsubscribed).
  void forget(const subscription& s);
  void clear();

 private:
  struct slot {
    entry e;
    bool live = false;
  };
  /// Allocated only while something waits: most subscribers never fall behind, and an idle
  /// connection should not pay for a queue it does not use.
  struct queue {
    std::vector<slot> entries;
    std::size_t head = 0;
    std::size_t live_bytes = 0;
    /// Per subscription, the index of its newest pending live entry (conflation, gap markers).
    std::unordered_map<const subscription*, std::size_t> newest_live;
  };

  void append(subscription& s, message_ptr m, bool live);
  std::size_t cost(const message_ptr& m) const { return m ? m->footprint() : 0; }

  std::unique_ptr<queue> q_;
};

}  // namespace sb
