#pragma once
// An SSE stream, after its response head, writing to a sink (an HTTP/1.1 connection or an HTTP/2
// stream): one subscriber holding a
// subscription per topic. Live messages are queued as references to their shared encoded bytes;
// a single-topic stream sends them as they are, a multi-topic stream puts its own cursor id line
// before the shared body. Replay after a resume is paced: history is queued as the socket drains,
// so a reconnect after a long absence costs no more memory than the send-queue bound.
//
// Idle streams are most streams, so the struct stays small: what only starting needs lives in a
// separate allocation that is freed once the stream is live.
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/counters.hpp"
#include "core/feed.hpp"
#include "core/topic_pattern.hpp"
#include "core/topic_registry.hpp"
#include "io/connection.hpp"
#include "sse/sink.hpp"

namespace sb::sse {

struct settings {
  std::chrono::milliseconds heartbeat{15000};
  // Each stream is told a value in [retry_ms, 2 × retry_ms) (sse/retry_jitter.hpp).
  unsigned retry_ms = 2000;
  backlog_limits backlog;  // how far behind a stream may fall (slow consumers)
  /// Messages go straight to the socket's queue until this many bytes wait there; beyond it they
  /// wait in the feed (as references), where replay is paced and the slow-consumer policy applies.
  std::size_t replay_high_water = 64 << 10;
  const policy_table* policies = nullptr;  // per-topic slow-consumer policy; `resume` when null
};

/// Where a stream resumes from: nothing, or a Last-Event-ID / ?since= text (a position or cursor).
struct resume_from {
  std::optional<std::string> text;
};

class stream final : public subscriber {
 public:
  /// The response head must already be queued on `out`, which outlives the stream.
  stream(sink& out, topic_registry& registry, loop_counters& counters, const settings& s);
  ~stream();

  /// Subscribes `topics` (valid, distinct names), then queues the preamble, gaps, retained
  /// messages and the replay.
  void start(std::vector<std::string> topics, const resume_from& from);

  /// The sink's heartbeat is due.
  void on_timer();
  /// The sink wrote bytes: refill from the backlog.
  void on_sent();
  /// The sink is gone: unsubscribe. Called once.
  void on_close();
  /// The server is draining: a jittered retry:, then end.
  void on_drain();
  void on_message(subscription& s, const message_ptr& m) override;

 private:
  /// A subscription (whose `at` is the last seq queued or skipped: the dedupe threshold) and
  /// what this stream needs to write its ids.
  struct topic_sub : subscription {
    std::uint32_t hash = 0;  // of the name, for the cursor
    overflow_policy policy = overflow_policy::resume;
    position sent;  // what the client holds once the queued bytes arrive
  };
  /// What starting gathers from the broker's answers before the first bytes go out.
  struct start_state {
    std::size_t attaching = 0;
    std::vector<std::string> gaps;
    std::vector<std::pair<topic_sub*, message_ptr>> retained;
  };

  std::span<topic_sub> topics() const { return {topics_.get(), topic_count_}; }
  void finish_start();
  void emit(topic_sub& t, const message_ptr& m);
  std::string current_id() const;
  void pump_backlog();
  void apply(feed::verdict v);
  void close_slow();
  void release();

  sink& out_;
  topic_registry& registry_;
  loop_counters& counters_;
  const settings& settings_;
  std::unique_ptr<topic_sub[]> topics_;
  std::unique_ptr<start_state> starting_;
  feed feed_;
  std::uint32_t topic_count_ = 0;
  bool closed_ = false;
  bool released_ = false;
  /// Held only while attaches are unanswered (an asynchronous broker may answer after the stream
  /// is gone); none afterwards, so an idle stream does not pay for it.
  std::shared_ptr<bool> alive_;
};

/// An SSE stream that owns its HTTP/1.1 connection (the connection's handler after the head).
class h1_stream final : public io::connection_handler, sink {
 public:
  h1_stream(io::connection& conn, topic_registry& registry, loop_counters& counters,
            const settings& s)
      : conn_(conn), stream_(*this, registry, counters, s) {}

  void start(std::vector<std::string> topics, const resume_from& from);

  void on_readable() override;
  void on_timer() override { stream_.on_timer(); }
  void on_sent() override { stream_.on_sent(); }
  void on_close() override { stream_.on_close(); }
  void on_drain() override { stream_.on_drain(); }

 private:
  void send(io::shared_bytes b) override { conn_.send(std::move(b)); }
  std::size_t queued_bytes() const override { return conn_.queued_bytes(); }
  void abort() override;
  void end() override { conn_.close_after_flush(); }
  void arm_heartbeat(std::chrono::milliseconds delay) override { conn_.set_timer(delay); }

  io::connection& conn_;
  stream stream_;
};

}  // namespace sb::sse
