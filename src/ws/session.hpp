#pragma once
// A WebSocket connection speaking switchboard.v1, after the 101: subscriptions on the same topic
// registry as SSE, client publishing (stored, or volatile and coalesced), presence, pings.
// Delivered messages are the shared frames encoded once per message; only acks, errors, gaps and
// presence snapshots are written per connection.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/authority.hpp"
#include "core/broker.hpp"
#include "core/counters.hpp"
#include "core/message_limits.hpp"
#include "core/presence.hpp"
#include "core/subscriber_queue.hpp"
#include "core/subscriber_settings.hpp"
#include "core/token_bucket.hpp"
#include "core/topic_pattern.hpp"
#include "core/topic_registry.hpp"
#include "io/connection.hpp"
#include "ws/deflate.hpp"
#include "ws/extension.hpp"
#include "ws/frame.hpp"
#include "ws/protocol.hpp"
#include "ws/settings.hpp"
#include "ws/transport.hpp"

namespace sb::ws {

struct context {
  topic_registry& registry;
  broker& hub;
  presence_registry& presence;
  loop_counters& counters;
  const settings& config;
  const message_limits& messages;
  const subscriber_settings& subscribers;
  message_encoder encode;  // for volatile messages, which bypass the broker's encoding
  /// Appended to a connection id (`c<N>`) identity: "@<node_id>" with broker = redis, so that
  /// connections of two nodes are never one presence member or one `from`; empty on one node.
  std::string connection_suffix{};
  /// The frame of the message this loop last delivered: a message reaches every subscriber on the
  /// loop in one turn, so each delivery after the first costs a pointer compare and a reference.
  struct frame_memo {
    message_ptr m;
    bytes_ptr frame;
  };
  frame_memo last_frame{};
  /// The same for the compressed form (permessage-deflate).
  frame_memo last_deflated{};
  /// The loop's zlib streams, made when a connection that negotiated compression first needs one.
  std::unique_ptr<deflater> zlib_out{};
  std::unique_ptr<inflater> zlib_in{};

  deflater& compressor() {
    if (!zlib_out) {
      zlib_out = std::make_unique<deflater>(config.deflate.level);
    }
    return *zlib_out;
  }
  inflater& decompressor() {
    if (!zlib_in) {
      zlib_in = std::make_unique<inflater>(max_frame_bytes(messages));
    }
    return *zlib_in;
  }
};

class session : public io::connection_handler, public subscriber, private frame_parser::handler {
 public:
  /// `early` holds bytes the client sent right behind its handshake; `who` is what its handshake
  /// authenticated as (the token subject becomes its identity, else the transport's id);
  /// `deflate`: permessage-deflate, when the handshake negotiated it. `conn` outlives the session.
  session(transport& conn, context& ctx, std::string early, auth::identity who,
          std::optional<deflate_params> deflate = std::nullopt);
  ~session() override;

  /// The 101 (or the HTTP/2 200) has been queued: start reading frames and pinging.
  void start();

  /// The publisher identity this connection's messages and presence carry: the token subject, else
  /// the connection id.
  std::string identity() const;

  void on_readable() override;
  void on_timer() override;
  void on_sent() override;
  void on_close() override;
  void on_drain() override;
  void on_message(subscription& s, const message_ptr& m) override;

 private:
  struct topic_state : queued_subscription {
    // Declared, and defaulted in the .cpp: `std::optional<topic_state>` is a member of the class
    // that encloses this one, and clang decides whether it is default-constructible while that
    // class is still incomplete, which member initializers alone do not allow.
    topic_state();
    bool wants_messages = false;
    bool joined = false;
    /// The join's snapshot waits for the attach: with broker = redis the room's members of other
    /// nodes are loaded when the node first subscribes to the topic.
    bool snapshot_due = false;
  };
  struct volatile_slot {
    std::chrono::steady_clock::time_point next_allowed{};
    std::optional<publish_item> pending;
  };
  /// What only a connection that publishes needs; most connections only listen, so it is
  /// allocated on the first publish.
  struct publisher_state {
    token_bucket publish_tokens;
    token_bucket volatile_tokens;
    std::unordered_map<std::string, volatile_slot> volatile_slots;
    io::wheel_entry volatile_timer;
  };
  /// Input not yet parsed, and the deadline of the frame or fragmented message it belongs to.
  /// Only a connection in the middle of a message has one: most are idle between messages.
  struct partial_input {
    std::string bytes;
    io::wheel_entry deadline;
    bool progressed = false;  // a message or a control frame ended during this parse
  };

  // frame_parser::handler
  void on_text(std::string_view message) override;
  void on_binary(std::string_view message) override;
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close(std::uint16_t code, std::string_view reason) override;
  close_code on_compressed(opcode op, std::string_view payload) override;

  void handle(client_op& op);
  void subscribe(client_op& op);
  void unsubscribe(client_op& op);
  void publish(client_op& op);
  void publish_volatile(publish_item item);
  void join(client_op& op);
  /// Sends `t`'s join snapshot when one waits for the attach (and the connection is still joined).
  void send_due_snapshot(topic_state& t);
  void update(client_op& op);
  void leave(client_op& op);

  topic_state* find(std::string_view topic);
  topic_state& ensure(std::string_view topic);
  void drop_if_unused(topic_state& t);
  publisher_state& publisher();
  using time_point = std::chrono::steady_clock::time_point;
  /// Whether a volatile message may leave now; if so, books its place in the pacing.
  bool volatile_may_send(volatile_slot& slot, time_point now) const;
  std::chrono::microseconds volatile_period() const;
  std::chrono::microseconds volatile_tolerance() const;
  void schedule_volatile_flush(time_point due, time_point now);
  void send_volatile(publish_item item);
  void flush_volatile();
  void emit(topic_state& t, const message_ptr& m);
  /// Acts on the delivery core's verdict: only the framing is this session's.
  void act(topic_state& t, const message_ptr& m, const delivery_verdict& v);
  void pump();
  void reply(std::string frame);
  void fail_op(const boost::json::value& ref, std::string_view code, std::string_view message);
  void close_with(close_code code, std::string_view reason);
  /// The slow-consumer verdict was `close` (maybe inside a fan-out walk): drops the queued bytes
  /// that have not started going out, then sends 1008 and closes.
  void close_slow();
  /// `m`'s frame as this connection gets it: compressed (made once per message, shared by every
  /// loop), or `plain` when it is short or does not shrink.
  const bytes_ptr& deflated(const message_ptr& m, const bytes_ptr& plain);
  partial_input& input();
  /// After a parse: frees the input when nothing is pending, else (re)arms its deadline.
  void settle_input();
  void on_message_deadline();
  void release();

  bool allowed(bool ok, const boost::json::value& ref, std::string_view what);
  /// Why the session is ending (first wins); "the client closed" when nothing said otherwise.
  void note_end(end_reason r) {
    if (!end_) {
      end_ = r;
    }
  }

  transport& conn_;
  context& ctx_;
  /// Deletes a connection's own identity, not the ones every anonymous or API-key connection
  /// shares (a unique_ptr where a shared_ptr would cost every connection 8 more bytes).
  struct identity_release {
    void operator()(const auth::identity* who) const;
  };
  std::unique_ptr<const auth::identity, identity_release> who_;
  std::unique_ptr<partial_input> in_;  // none while idle (most connections)
  frame_parser parser_;
  /// permessage-deflate: what was negotiated, and what the client's next message may refer back
  /// to. Only connections that negotiated it have one.
  struct deflate_state {
    deflate_params params;
    inflate_window window;
  };
  /// The first topic, in place: most connections hold one. The others are rare state.
  std::optional<topic_state> first_;
  /// What few connections need (several topics, publishing, compression, the access log, async
  /// answers), behind one pointer: idle subscribers are most, and each of these
  /// fields in place would cost every one of them.
  struct rare_state {
    std::vector<std::unique_ptr<topic_state>> more_topics;  // few: a vector beats a map
    std::unique_ptr<publisher_state> publisher;
    std::unique_ptr<deflate_state> deflate;
    stream_tally tally;  // for the access log (counts only once started)
    /// Expires with the session: an asynchronous broker may acknowledge a publish after it.
    std::shared_ptr<bool> alive;
  };
  std::unique_ptr<rare_state> rare_;
  rare_state& rare();
  /// Frees the rare state once nothing in it is needed.
  void trim_rare();
  deflate_state* deflate() const { return rare_ ? rare_->deflate.get() : nullptr; }
  stream_tally* tally() const { return rare_ && rare_->tally.on() ? &rare_->tally : nullptr; }
  std::size_t topic_count() const {
    return (first_ ? 1 : 0) + (rare_ ? rare_->more_topics.size() : 0);
  }
  /// Calls `f(topic_state&)` for each topic; `f` must not add or drop topics.
  template <class F>
  void for_each_topic(F&& f) {
    if (first_) {
      f(*first_);
    }
    if (rare_) {
      for (auto& t : rare_->more_topics) {
        f(*t);
      }
    }
  }
  subscriber_queue queue_;
  std::optional<end_reason> end_;
  bool heard_since_ping_ = true;
  bool input_paused_ = false;  // the peer is not reading what it asked for: neither do we
  bool closing_ = false;
  bool released_ = false;
  std::weak_ptr<bool> guard();
};

/// A session on a whole connection (after the HTTP/1.1 101): the connection is its transport.
class connection_session final : private connection_transport, public session {
 public:
  connection_session(io::connection& c, context& ctx, std::string early, auth::identity who,
                     std::optional<deflate_params> deflate = std::nullopt)
      : connection_transport(c),
        session(static_cast<transport&>(*this), ctx, std::move(early), std::move(who),
                std::move(deflate)) {}
};

}  // namespace sb::ws
