#pragma once
// An SSE stream, after its response head, writing to its transport (an HTTP/1.1 connection or an
// HTTP/2 stream, which derive from it and provide the few operations below): one subscriber
// holding a subscription per topic. Live messages are queued as references to their shared encoded
// bytes; a single-topic stream sends them as they are, a multi-topic stream puts its own cursor id
// line before the shared body. Replay after a resume is paced: history is queued as the socket
// drains, so a reconnect after a long absence costs no more memory than the send-queue bound.
//
// Idle streams are most streams, so the struct stays small: what only starting needs lives in a
// separate allocation that is freed once the stream is live, the access log's record exists only
// when the access log is on, and a stream of one topic (most) keeps its subscription inline. The
// transport is the derived class, not an object the stream points at: no reference to it, and one
// vtable pointer for the subscriber and the transport together.
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

namespace sb::sse {

/// Where a stream resumes from: nothing, or a Last-Event-ID / ?since= text (a position or cursor).
struct resume_from {
  std::optional<std::string> text;
};

class stream : public subscriber {
 public:
  /// The derived class's destructor must have called release() (which reaches the transport).
  virtual ~stream();

  /// Subscribes `topics` (valid, distinct names), then queues the preamble, gaps, retained
  /// messages and the replay.
  void start(std::vector<std::string> topics, const resume_from& from);

  /// The transport's heartbeat is due.
  void on_timer();
  /// The transport wrote bytes: refill from the backlog.
  void on_sent();
  /// Starts the access-log bookkeeping (when the access log is on): `subject` is kept only when
  /// there is one.
  void set_origin(std::string_view subject);
  /// Why the stream is ending, when the transport knows better than "the client closed" (first
  /// wins).
  void note_end(end_reason r);
  /// The transport is gone: unsubscribe. Called once.
  void on_close();
  /// The server is draining: a jittered retry:, then end.
  void on_drain();
  void on_message(subscription& s, const message_ptr& m) override;

 protected:
  /// The response head must already be queued on the transport.
  explicit stream(const context& ctx);
  /// Unsubscribes and writes the access-log line (naming the transport): the derived class calls
  /// it in its destructor, while it still is the transport. Idempotent.
  void release();

 private:
  // What the transport provides.
  /// Queues bytes (references to shared buffers) for this stream only.
  virtual void write(io::shared_bytes b) = 0;
  /// Bytes this stream has queued and not yet written (what the slow-consumer bound applies to).
  virtual std::size_t queued_bytes() const = 0;
  /// Ends the stream now, dropping what is queued (slow consumer). May be called from inside a
  /// fan-out walk, so the transport defers the actual teardown.
  virtual void abort() = 0;
  /// Ends the stream once what is queued has been written (drain).
  virtual void end() = 0;
  /// The next heartbeat is due in `delay` (an h2 session heartbeats all its streams at once).
  virtual void arm_heartbeat(std::chrono::milliseconds delay) = 0;
  /// For the access log: "sse" or "sse/h2", and the client's address:port.
  virtual std::string_view transport_name() const = 0;
  virtual std::string peer_text() const = 0;

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
class h1_stream final : public io::connection_handler, public stream {
 public:
  h1_stream(io::connection& conn, const context& ctx) : stream(ctx), conn_(conn) {}
  ~h1_stream() override { release(); }

  void start(std::vector<std::string> topics, const resume_from& from);

  void on_readable() override;
  void on_timer() override { stream::on_timer(); }
  void on_sent() override { stream::on_sent(); }
  void on_close() override { stream::on_close(); }
  void on_drain() override { stream::on_drain(); }

 private:
  void write(io::shared_bytes b) override { conn_.send(std::move(b)); }
  std::size_t queued_bytes() const override { return conn_.queued_bytes(); }
  void abort() override;
  void end() override { conn_.close_after_flush(); }
  void arm_heartbeat(std::chrono::milliseconds delay) override { conn_.set_beat(delay); }
  std::string_view transport_name() const override { return "sse"; }
  std::string peer_text() const override;

  io::connection& conn_;
};

}  // namespace sb::sse
