#pragma once
// An SSE stream, after its response head, writing to a sink (an HTTP/1.1 connection or an HTTP/2
// stream): one subscriber holding a
// subscription per topic. Live messages are queued as references to their shared encoded bytes;
// a single-topic stream sends them as they are, a multi-topic stream puts its own cursor id line
// before the shared body. Replay after a resume is paced: history is queued as the socket drains,
// so a reconnect after a long absence costs no more memory than the send-queue bound.
//
// Idle streams are most streams, so the struct stays small: what only starting needs lives in a
// separate allocation that is freed once the stream is live, the access log's record exists only
// when the access log is on, and a stream of one topic (most) keeps its subscription inline.
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/counters.hpp"
#include "core/subscriber_queue.hpp"
#include "core/topic_pattern.hpp"
#include "core/topic_registry.hpp"
#include "io/connection.hpp"
#include "sse/settings.hpp"
#include "sse/sink.hpp"

namespace sb::sse {

/// Where a stream resumes from: nothing, or a Last-Event-ID / ?since= text (a position or cursor).
struct resume_from {
  std::optional<std::string> text;
};

class stream final : public subscriber {
 public:
  /// The response head must already be queued on `out`, which outlives the stream.
  stream(sink& out, const context& ctx);
  ~stream();

  /// Subscribes `topics` (valid, distinct names), then queues the preamble, gaps, retained
  /// messages and the replay.
  void start(std::vector<std::string> topics, const resume_from& from);

  /// The sink's heartbeat is due.
  void on_timer();
  /// The sink wrote bytes: refill from the backlog.
  void on_sent();
  /// Starts the access-log bookkeeping (when the access log is on): `subject` is kept only when
  /// there is one.
  void set_origin(std::string_view subject);
  /// Why the stream is ending, when the sink knows better than "the client closed" (first wins).
  void note_end(end_reason r);
  /// The sink is gone: unsubscribe. Called once.
  void on_close();
  /// The server is draining: a jittered retry:, then end.
  void on_drain();
  void on_message(subscription& s, const message_ptr& m) override;

 private:
  /// A subscription (whose `at` is the last seq queued or skipped: the dedupe threshold, kept by
  /// the queue) and what this stream needs to write its ids.
  struct topic_sub : queued_subscription {
    std::uint32_t hash = 0;  // of the name, for the cursor
    position sent;           // what the client holds once the queued bytes arrive
  };
  /// What starting gathers from the broker's answers before the first bytes go out.
  struct start_state {
    std::size_t attaching = 0;
    std::vector<std::string> gaps;
    std::vector<std::pair<topic_sub*, message_ptr>> retained;
    bool unavailable = false;  // a topic's attach could not be answered: end, to be retried
  };

  /// What the access log reports when the stream ends.
  struct access_record {
    stream_tally tally;
    std::string subject;
  };

  /// What few streams need, or a stream needs only for a while, behind one pointer.
  struct rare_state {
    std::unique_ptr<topic_sub[]> many;      // the subscriptions of a stream of several topics
    std::unique_ptr<start_state> starting;  // until the preamble is out
    std::unique_ptr<access_record> log;     // while the access log is on
  };
  rare_state& rare() {
    if (!rare_) {
      rare_ = std::make_unique<rare_state>();
    }
    return *rare_;
  }
  /// Frees the rare state once nothing in it is needed.
  void trim_rare() {
    if (rare_ && !rare_->many && !rare_->starting && !rare_->log) {
      rare_.reset();
    }
  }
  access_record* log() const { return rare_ ? rare_->log.get() : nullptr; }

  std::span<topic_sub> topics() {
    return {topic_count_ > 1 ? rare_->many.get() : &one_, topic_count_};
  }
  std::span<const topic_sub> topics() const {
    return {topic_count_ > 1 ? rare_->many.get() : &one_, topic_count_};
  }
  /// Every byte the stream queues goes through here (counted for the access log).
  void send(io::shared_bytes b);
  void send(std::string s) { send(io::shared_bytes::from_string(std::move(s))); }
  void count_message() {
    if (auto* l = log()) {
      l->tally.sent(0, true);
    }
  }
  void send_gap(std::span<const std::string> topics);
  void finish_start();
  void emit(topic_sub& t, const message_ptr& m);
  std::string current_id() const;
  void pump_backlog();
  /// Acts on the delivery core's verdict: only the framing is this stream's.
  void act(topic_sub& t, const message_ptr& m, const delivery_verdict& v);
  void close_slow();
  void release();

  sink& out_;
  const context& ctx_;
  topic_sub one_;  // the subscription of a stream of one topic
  std::unique_ptr<rare_state> rare_;
  subscriber_queue queue_;
  std::uint32_t topic_count_ = 0;
  std::optional<end_reason> end_;
  bool closed_ = false;
  bool released_ = false;
};

/// An SSE stream that owns its HTTP/1.1 connection (the connection's handler after the head).
class h1_stream final : public io::connection_handler, sink {
 public:
  h1_stream(io::connection& conn, const context& ctx) : conn_(conn), stream_(*this, ctx) {}

  void start(std::vector<std::string> topics, const resume_from& from);

  void on_readable() override;
  void set_origin(std::string_view subject) { stream_.set_origin(subject); }
  void on_timer() override { stream_.on_timer(); }
  void on_sent() override { stream_.on_sent(); }
  void on_close() override { stream_.on_close(); }
  void on_drain() override { stream_.on_drain(); }

 private:
  void send(io::shared_bytes b) override { conn_.send(std::move(b)); }
  std::size_t queued_bytes() const override { return conn_.queued_bytes(); }
  void abort() override;
  void end() override { conn_.close_after_flush(); }
  void arm_heartbeat(std::chrono::milliseconds delay) override { conn_.set_beat(delay); }
  std::string_view transport_name() const override { return "sse"; }
  std::string peer_text() const override;

  io::connection& conn_;
  stream stream_;
};

}  // namespace sb::sse
