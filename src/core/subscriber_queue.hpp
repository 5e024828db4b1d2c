#pragma once
// The delivery rules every transport shares, written once: what one subscriber (an SSE stream over
// HTTP/1.1 or HTTP/2, a WebSocket session) does with each message of its topics. It skips what it
// has by seq, notices a topic whose history was lost under it (the epoch changed), keeps messages
// that arrive before the broker has answered an attach aside until the answer (merged after the
// replay by seq: no gap, no duplicate), and applies the slow-consumer policy through its feed
// (core/feed.hpp). The owner keeps only its framing: it asks for a verdict, then writes now, holds
// or closes. Sans-I/O: the owner passes how many bytes its socket holds and, in tests, the time.
//
// The fast path (a subscriber that keeps up) is inline and allocates nothing: a seq compare, an
// emptiness test and a compare against the high-water mark, as it was in each transport.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/feed.hpp"
#include "core/topic_registry.hpp"

namespace sb {

/// A subscription whose messages go through a subscriber_queue.
struct queued_subscription : subscription {
  overflow_policy policy = overflow_policy::resume;
  /// The broker has answered the attach, so `at` is the dedupe threshold. Until then stored
  /// messages wait aside (an asynchronous broker may deliver before it answers).
  bool attached = false;
  /// Counted among the queue's topics whose policy is `resume` (judged between messages too).
  bool enrolled = false;
};

enum class close_reason : std::uint8_t {
  none,
  slow_consumer,  // too far behind under the `resume` policy: the client resumes from history
};

struct delivery_verdict {
  enum class action : std::uint8_t {
    skip,   // nothing to write: the subscriber has it already, or it waits aside
    write,  // write it now, straight to the socket
    hold,   // it waits in the queue; next() hands it out as the socket drains
    close,  // close the subscriber, for `reason`
  };
  action act = action::skip;
  /// The topic's epoch changed (its history was lost): tell the client of a gap for it first.
  bool gap = false;
  /// The overflow policy dropped a message (count it).
  bool dropped = false;
  close_reason reason = close_reason::none;

  /// The common case, tested first by owners: write it, nothing else to do.
  bool write_only() const { return act == action::write && !gap; }
};

class subscriber_queue {
 public:
  using clock = feed::clock;

  /// `limits` belongs to the owner's settings and outlives the queue. Messages are written at once
  /// while the socket holds less than `high_water` bytes and nothing waits here.
  subscriber_queue(const backlog_limits& limits, std::size_t high_water)
      : limits_(&limits),
        high_water_(static_cast<std::uint32_t>(std::min<std::size_t>(high_water, UINT32_MAX))) {}

  /// While held, nothing is written or handed out (an SSE stream before its preamble).
  void hold(bool on) { holding_ = on; }

  /// `s` takes part in the timer's check from now on (its policy counts), until withdraw().
  void enroll(queued_subscription& s);
  void withdraw(queued_subscription& s);
  /// Drops what waits for `s` (it unsubscribed) and withdraws it.
  void forget(queued_subscription& s);
  /// An attach (or a re-attach) was asked for `s`: its stored messages wait until attached().
  static void begin_attach(queued_subscription& s) { s.attached = false; }

  /// A message of `s`'s topic. `queued`: the bytes the owner's socket holds; `now`: the time, or
  /// the default to read the clock only when the slow path needs it.
  delivery_verdict offer(queued_subscription& s, const message_ptr& m, std::size_t queued,
                         clock::time_point now = {});

  /// The broker answered `s`'s attach: `s` is at `head`, `missed` (oldest first) is replayed, then
  /// what arrived meanwhile past it. The verdict is `hold`, or `close` when that went over the
  /// bound; `dropped` as for offer().
  delivery_verdict attached(queued_subscription& s, position head, std::vector<message_ptr> missed,
                            std::size_t queued, clock::time_point now = {});

  /// The next entry to write while the socket holds less than the high-water mark (`m` null: a
  /// gap marker for the entry's topic).
  std::optional<feed::entry> next(std::size_t queued);

  /// Between messages (the owner's timer): `close` when a `resume` topic's subscriber has been over
  /// the soft bound for its time (or is over the hard bound); `skip` otherwise.
  delivery_verdict judge(std::size_t queued, clock::time_point now = {});

  bool empty() const { return feed_.empty() && !early_; }
  void clear();

 private:
  struct early_entry {
    queued_subscription* sub;
    message_ptr m;
  };
  struct early_list {
    std::vector<early_entry> entries;
    std::size_t bytes = 0;
  };

  delivery_verdict park(queued_subscription& s, const message_ptr& m);
  delivery_verdict queue_live(queued_subscription& s, const message_ptr& m, std::size_t queued,
                              clock::time_point now, delivery_verdict v);
  static clock::time_point or_now(clock::time_point now) {
    return now == clock::time_point{} ? clock::now() : now;
  }

  feed feed_;
  /// Stored messages that arrived before their topic's attach was answered; only an asynchronous
  /// broker makes any, so it is allocated only then.
  std::unique_ptr<early_list> early_;
  const backlog_limits* limits_;
  std::uint32_t high_water_;  // 32 bits: one queue per subscriber, kept small
  // Bit fields: a subscriber's topics are bounded far below 2^31 (max_topics_per_connection).
  std::uint32_t resume_topics_ : 31 = 0;
  std::uint32_t holding_ : 1 = 0;
};

inline delivery_verdict subscriber_queue::offer(queued_subscription& s, const message_ptr& m,
                                                std::size_t queued, clock::time_point now) {
  bool gap = false;
  if (m->stored()) {
    if (!s.attached) [[unlikely]] {
      return park(s, m);
    }
    const auto& pos = m->pos;
    if (pos.epoch == s.at.epoch) {
      if (pos.seq <= s.at.seq) {
        return {};  // replayed already, or queued before this subscriber attached
      }
      if (m->after_hole && pos.seq != s.at.seq + 1) [[unlikely]] {
        gap = true;  // the backplane lost what came between
      }
    } else {
      gap = true;  // the topic's history was lost under us
    }
    s.at = pos;
  }
  if (!holding_ && feed_.empty() && queued < high_water_) [[likely]] {
    return {delivery_verdict::action::write, gap};
  }
  return queue_live(s, m, queued, now, {delivery_verdict::action::skip, gap});
}

}  // namespace sb
