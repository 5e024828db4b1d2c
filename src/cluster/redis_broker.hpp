#pragma once
// The cluster broker: history, positions, retained messages and fan-out between nodes live in
// Redis, so any node serves any client. It implements core/broker.hpp:
//
// - publish runs the topic script (topic_script.hpp): append with the next <epoch>-<seq>, trim,
//   retain, record the Idempotency-Key, PUBLISH; the handler gets the ids only after Redis
//   answered. With Redis unreachable it fails at once (errc::unavailable), never waits.
// - attach subscribes the node to the topic's channel first, then reads history after the asked
//   position: whatever is published after the read arrives on the channel, so the seam has no gap.
// - Messages from the channel reach every loop with subscribers of the topic, in seq order. A
//   hole in the seqs (a message lost while the pub/sub connection was down, or killed) is repaired
//   from history before anything after it is delivered; a new epoch is delivered as such, so
//   subscribers send a gap.
// - Volatile messages go through the channel only. Presence diffs are announced by each node to
//   its own loops; the members behind them cross nodes through presence_sync.hpp, whose records
//   share the topic's channel.
//
// Threads: one thread of its own runs the two Redis connections (commands, pub/sub) and all the
// state below; callers on any loop post to it, and handlers are posted back to the loop that
// called (io::loop::current()), or run on the broker's thread when called off the loops.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cluster/redis_connection.hpp"
#include "cluster/redis_stats.hpp"
#include "cluster/redis_url.hpp"
#include "core/broker.hpp"
#include "core/history.hpp"
#include "core/presence.hpp"

namespace sb::io {
class loop;
}

namespace sb::cluster {

class presence_sync;

/// What the broker runs with, resolved from the config (broker_factory): the endpoint parsed, the
/// password read, the node named. Every field is set by the caller; the defaults are the config's.
struct redis_settings {
  redis_endpoint at;
  std::chrono::milliseconds timeout{};
  std::string node_id;
  history_limits limits;
  std::chrono::milliseconds idempotency_window{};
  bool cluster = false;                   // Redis Cluster: sharded pub/sub (SPUBLISH)
  presence_registry* presence = nullptr;  // set: presence across nodes (presence_sync)
  std::chrono::milliseconds presence_ttl{};
};

class redis_broker final : public broker {
 public:
  /// `sinks[i]` receives loop i's messages (at most 64 loops); they must outlive the broker.
  redis_broker(redis_settings s, message_encoder encode, std::vector<delivery_sink*> sinks);
  ~redis_broker() override;

  /// Starts the broker's thread and connects (in the background: ready() tells).
  void start();
  /// Stops the thread; pending handlers are dropped.
  void stop();

  void publish(std::vector<publish_item> items, publish_handler done) override;
  void attach(std::size_t loop_index, std::string_view topic, std::optional<position> since,
              attach_handler done) override;
  void broadcast(message_ptr m) override;
  void detach(std::size_t loop_index, std::string_view topic) override;
  void read_history(std::string_view topic, std::optional<position> since, std::size_t limit,
                    history_handler done) override;

  /// Both connections are up and set up. Any thread.
  bool ready() const { return stats_.up.load(std::memory_order_relaxed); }
  /// The Prometheus lines of the backplane. Any thread.
  std::string metrics_text() const;
  /// Presence across nodes once started (settings.presence set), else null.
  presence_sync* presence() { return presence_.get(); }

 private:
  struct waiter {
    std::optional<position> since;
    attach_handler done;
    io::loop* origin;
    /// A history read that fails before this is tried again (a blip of the command connection);
    /// after it the attach answers a gap.
    std::chrono::steady_clock::time_point deadline;
  };
  struct topic_state {
    std::uint64_t loop_mask = 0;
    bool want = false;  // SUBSCRIBE is the last thing asked of Redis for the channel
    int inflight = 0;   // SUBSCRIBE/UNSUBSCRIBE not confirmed yet
    bool live = false;  // subscribed and confirmed
    bool needs_repair = false;
    bool known = false;  // `last` means something
    position last;       // the newest message handed to the loops
    bool repairing = false;
    std::vector<message_ptr> held;  // arrived while repairing
    std::vector<waiter> waiters;
  };
  struct read_result {
    position head;
    bool gap = false;
    bool more = false;
    std::vector<message_ptr> messages;
    message_ptr retained;
  };
  using read_handler = std::function<void(bool ok, read_result)>;

  void on_command_connected(redis_connection& c);
  void on_pubsub_connected(redis_connection& c);
  void on_down();
  void on_push(reply_ptr r);
  void update_up();

  void eval(std::vector<std::string> keys, std::vector<std::string> args,
            redis_connection::reply_handler done);
  std::vector<std::string> fence_args(char mode) const;
  void read(std::string_view topic, std::optional<position> since, std::size_t limit,
            read_handler done);
  void subscribe(const std::string& topic, topic_state& t);
  void unsubscribe_if_idle(const std::string& topic);
  void run_waiters(const std::string& topic);
  void on_stored(const std::string& topic, message_ptr m);
  void repair(const std::string& topic, position from);
  void hand_off(topic_state& t, const message_ptr& m);
  void retry_stalled();
  message_ptr parse_record(std::string_view topic, std::string_view record, bool stored) const;
  /// Runs `f` on `origin`'s thread (or here when null).
  void complete(io::loop* origin, std::function<void()> f);

  redis_settings settings_;
  message_encoder encode_;
  std::vector<delivery_sink*> sinks_;
  redis_stats stats_;
  boost::asio::io_context ctx_;
  /// Repairs that could not read history (the command connection was down), retried until they
  /// can: the topic's live messages wait meanwhile, so nothing after a hole is delivered first.
  std::unordered_map<std::string, position> stalled_;
  std::unordered_set<std::string> stalled_attaches_;  // topics with waiters to read again
  boost::asio::steady_timer retry_timer_{ctx_};
  bool retry_armed_ = false;
  std::thread thread_;
  std::shared_ptr<redis_connection> command_;
  std::shared_ptr<redis_connection> pubsub_;
  bool command_up_ = false;
  bool pubsub_up_ = false;
  std::string sha_;
  std::string run_id_;
  bool lossless_ = false;
  std::unordered_map<std::string, topic_state> topics_;
  std::unique_ptr<presence_sync> presence_;
};

}  // namespace sb::cluster
