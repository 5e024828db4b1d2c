#pragma once
// What one subscriber still has to write, in order: replayed history first, then live messages
// that arrived while its socket was behind. This is where a slow consumer's policy is applied
// (docs/api.md "Slow consumers"), the same way for every transport:
//   resume  the subscriber is closed once it is too far behind; it resumes from history;
//   latest  pending live messages are conflated to the newest per topic (dashboards, counters);
//   drop    live messages over the bound are dropped and one in-band gap marks the loss.
// "Too far behind" is judged over time, as Redis judges a client's output buffer: over a hard
// bound at once, or over a soft bound for a while without a break. A reader that keeps up at line
// rate drains a burst long before the soft bound's time runs out.
// Volatile messages are conflated latest-wins per topic while waiting, and dropped first.
// Sans-I/O: the owner says when to push and pops what to write as its socket drains; it passes
// the time, so tests drive the clock.
#include <chrono>
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

/// How far behind a subscriber may fall before its policy applies: its bytes waiting (on the
/// socket and in the feed) over `hard_bytes` at any moment, or over `soft_bytes` for `soft_for`
/// without once dropping back under it. A soft bound at or over the hard one never acts.
struct backlog_limits {
  std::size_t hard_bytes = 8 << 20;
  std::size_t soft_bytes = 1 << 20;
  std::chrono::milliseconds soft_for{10000};
};

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
  using clock = std::chrono::steady_clock;

  bool empty() const { return !q_ || q_->head == q_->entries.size(); }
  /// Bytes of live messages waiting (replay is held by history anyway and not counted).
  std::size_t live_bytes() const { return q_ ? q_->live_bytes : 0; }

  void push_replay(subscription& s, message_ptr m);

  /// A live message the socket cannot take now. `held` is what the subscriber's socket queue
  /// holds besides the feed; the bytes judged against `limits` are those plus the feed's live
  /// bytes plus `m`'s.
  verdict push_live(subscription& s, message_ptr m, overflow_policy policy,
                    const backlog_limits& limits, std::size_t held, clock::time_point now);

  /// Between messages (a heartbeat): true when the backlog, with `held` bytes on the socket, has
  /// been over the soft bound for its time (or is over the hard bound). Starts the soft bound's
  /// clock, or stops it, as push_live does.
  bool overdue(const backlog_limits& limits, std::size_t held, clock::time_point now);

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
    /// Since when the backlog has been over the soft bound; unset while under it. Lives here, not
    /// in the feed: a subscriber with nothing waiting is under every bound and pays nothing.
    std::optional<clock::time_point> over_soft_since;
    /// Per subscription, the index of its newest pending live entry (conflation, gap markers).
    std::unordered_map<const subscription*, std::size_t> newest_live;
  };

  void append(subscription& s, message_ptr m, bool live);
  /// Whether `bytes` waiting now is too far behind; keeps the soft bound's clock.
  bool judge(std::size_t bytes, const backlog_limits& limits, clock::time_point now);
  std::size_t cost(const message_ptr& m) const { return m ? m->footprint() : 0; }

  std::unique_ptr<queue> q_;
};

}  // namespace sb
