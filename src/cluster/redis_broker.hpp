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
// - Redis Cluster (redis_cluster): the slot map comes from CLUSTER SLOTS; each master is a shard
//   with its own command and pub/sub connections; a topic's commands go to the master of its slot
//   (slot_map.hpp), following MOVED (the map is refreshed) and ASK (ASKING first); its channel is
//   subscribed with SSUBSCRIBE on that master, and moves with the slot. Without it there is one
//   shard, at redis_url.
// - Volatile messages go through the channel only. Presence diffs are announced by each node to
//   its own loops; the members behind them cross nodes through presence_sync.hpp, whose records
//   share the topic's channel, and whose commands go through the same routing.
//
// Threads: one thread of its own runs the Redis connections and all the state below; callers on
// any loop post to it, and handlers are posted back to the loop that called
// (io::loop::current()), or run on the broker's thread when called off the loops.
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
#include "cluster/slot_map.hpp"
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

  /// Every master's two connections are up and set up (with redis_cluster: the slot map covers
  /// every slot as well). Any thread.
  bool ready() const { return stats_.up.load(std::memory_order_relaxed); }
  /// The Prometheus lines of the backplane. Any thread.
  std::string metrics_text() const;
  /// Runs one command on the master that owns `key`'s slot (Redis Cluster: MOVED and ASK
  /// followed) or on the one Redis. Any thread; `done` runs on the broker's thread.
  void key_command(std::string key, std::vector<std::string> cmd,
                   redis_connection::reply_handler done);
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
    int shard = -1;     // where the last SUBSCRIBE went; pushes from another shard are stale
    bool needs_repair = false;
    bool known = false;  // `last` means something
    position last;       // the newest message handed to the loops
    bool repairing = false;
    bool hole = false;  // messages were lost before the next one handed off (message::after_hole)
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

  using clock = std::chrono::steady_clock;
  /// One master (or the one Redis without redis_cluster): its connections and what fencing knows
  /// of it. Never erased while the broker runs, so an index names it for good.
  struct shard {
    redis_endpoint at;
    std::string name;  // host:port
    std::shared_ptr<redis_connection> command;
    std::shared_ptr<redis_connection> pubsub;
    bool command_up = false;
    bool pubsub_up = false;
    bool serves = false;  // owns slots in the current map (always, without redis_cluster)
    std::string run_id;
    bool lossless = false;
  };
  /// A command routed by slot, tried again on MOVED, ASK and TRYAGAIN until its deadline.
  struct routed {
    std::vector<std::string> cmd;
    std::size_t fence_at = 0;  // index of the script's ARGV[2] (run_id), ARGV[3] next; 0: none
    std::uint16_t slot = 0;
    redis_connection::reply_handler done;
    clock::time_point deadline;
    int redirects = 0;
  };

  void on_command_connected(int index, redis_connection& c);
  void on_pubsub_connected(int index, redis_connection& c);
  void on_pubsub_down(int index);
  void on_push(int index, reply_ptr r);
  void on_pubsub_error(int index, std::string_view error);
  void fail_waiters(topic_state& t);
  void update_up();

  int add_shard(const std::string& host, std::uint16_t port);
  /// The shard of `topic`'s slot: -1 while the map does not say.
  int shard_index(std::string_view topic) const;
  shard* shard_of(std::string_view topic);
  void refresh_map();
  void on_map(int asked, boost::system::error_code ec, const redisReply* r);
  void apply_map(const std::vector<slot_range>& ranges, const std::string& asked_host);
  void on_map_tick();
  /// ARGV[3] of the topic script for a command on `s` (topic_script.hpp).
  std::string vouchers(const shard& s) const;
  /// Makes every topic a loop wants subscribed on the master that owns its slot now.
  void reconcile();
  void send(std::shared_ptr<routed> op, int ask = -1);
  void send_later(std::shared_ptr<routed> op, int ask);
  /// Sends `cmd` to the master of `topic`'s slot (the one Redis without redis_cluster) on its
  /// command connection; `done` as redis_connection::command's: at once with an error when that
  /// master is down. Any command about a topic goes through here (its keys carry the {topic} tag).
  void route(std::string_view topic, std::vector<std::string> cmd, std::size_t fence_at,
             redis_connection::reply_handler done);
  /// The same for a command whose keys are not a topic's: routed by `key`'s slot.
  void route_key(std::string_view key, std::vector<std::string> cmd,
                 redis_connection::reply_handler done);
  void route_slot(std::uint16_t slot, std::vector<std::string> cmd, std::size_t fence_at,
                  redis_connection::reply_handler done);

  void eval(std::string_view topic, std::vector<std::string> keys, std::vector<std::string> args,
            redis_connection::reply_handler done);
  std::vector<std::string> fence_args(char mode) const;
  void read(std::string_view topic, std::optional<position> since, std::size_t limit,
            read_handler done);
  void subscribe(const std::string& topic, topic_state& t);
  void unsubscribe_if_idle(const std::string& topic);
  /// Reads history for `topic`'s waiters, one read per asked position, and answers them.
  void run_waiters(const std::string& topic);
  /// Runs `op` on the broker's thread, at the end of `origin`'s turn (at once without a loop).
  void to_broker(io::loop* origin, std::function<void()> op);
  void post_outbox(io::loop& origin);
  /// run_waiters for `topic` once this turn's other attaches have joined its waiters.
  void run_waiters_soon(const std::string& topic);
  void read_for_waiters(const std::string& topic, std::optional<position> since,
                        std::vector<waiter> group);
  /// Reads everything after `since` in pages of backlog_page messages, so no Redis reply (and no
  /// script run holding Redis) grows with the backlog; answers once, like read().
  struct backlog_read;
  void read_backlog(const std::string& topic, position since, read_handler done);
  void read_backlog_page(const std::string& topic, position after,
                         std::shared_ptr<backlog_read> st);
  static constexpr std::size_t backlog_page = 256;
  /// `topic` has waiters: make sure the expiry sweep will look at them.
  void note_waiting(const std::string& topic);
  /// Answers `unavailable` to every waiter past its deadline (a subscription whose SUBSCRIBE or
  /// history read Redis never answered): the client comes back rather than wait or hear of a gap.
  void expire_waiters();
  void on_stored(const std::string& topic, message_ptr m);
  void repair(const std::string& topic, position from);
  /// A publish as the caller made it, on its way to the broker's thread.
  struct publish_request {
    std::vector<publish_item> items;
    publish_handler done;
    io::loop* origin;
  };
  /// Stores the requests of one hand-off from a loop (in order), one script call per run of a
  /// topic's messages across them; answers each once all its items are stored.
  void store(std::vector<publish_request> requests);
  /// Runs `f` on `origin` (at once when null), with the other answers to that loop of this turn.
  void answer(io::loop* origin, std::function<void()> f);
  void hand_off(topic_state& t, const message_ptr& m);
  void schedule_flush();
  /// Sends each loop what this turn gathered for it: publish answers, then messages.
  void flush_to_loops();
  void retry_stalled();
  message_ptr parse_record(std::string_view topic, std::string_view record, bool stored) const;

  redis_settings settings_;
  message_encoder encode_;
  std::vector<delivery_sink*> sinks_;
  /// What loop i asked of the broker in its current turn (touched on that loop's thread only):
  /// posted to this thread together at the end of the turn.
  struct outbox {
    std::vector<publish_request> publishes;
    std::vector<std::function<void()>> ops;  // attaches and detaches, in order
    bool posted = false;
  };
  std::vector<outbox> outboxes_;
  /// Messages for each loop not handed off yet: everything this thread hands off in one turn goes
  /// to a loop as one batch (flush_to_loops, posted once per turn), so a read of many pub/sub
  /// messages wakes each loop once, not once per message; order is kept (all go through here).
  std::vector<std::vector<message_ptr>> handoffs_;
  /// Publish answers for each loop, sent the same way.
  struct loop_answers {
    io::loop* to = nullptr;
    std::vector<std::function<void()>> handlers;
  };
  std::vector<loop_answers> answers_;
  bool flush_posted_ = false;
  redis_stats stats_;
  boost::asio::io_context ctx_;
  /// Repairs that could not read history (the command connection was down), retried until they
  /// can: the topic's live messages wait meanwhile, so nothing after a hole is delivered first.
  std::unordered_map<std::string, position> stalled_;
  std::unordered_set<std::string> stalled_attaches_;  // topics with waiters to read again
  boost::asio::steady_timer retry_timer_{ctx_};
  bool retry_armed_ = false;
  std::unordered_set<std::string> waiting_;      // topics that may have waiters
  std::unordered_set<std::string> waiters_due_;  // run_waiters_soon's topics of this turn
  bool waiters_posted_ = false;
  boost::asio::steady_timer expiry_timer_{ctx_};
  bool expiry_armed_ = false;
  std::thread thread_;
  std::vector<std::unique_ptr<shard>> shards_;  // [0]: redis_url (with redis_cluster: the seed)
  std::vector<int> slots_;                      // redis_cluster: slot -> shard index (-1 unknown)
  bool map_known_ = false;                      // slots_ covers every slot
  bool map_refreshing_ = false;
  bool map_again_ = false;  // refresh once more when the one in flight is done
  std::string map_error_;   // the last CLUSTER SLOTS failure, logged once
  boost::asio::steady_timer map_timer_{ctx_};
  std::string sha_;
  std::unordered_map<std::string, topic_state> topics_;
  std::unique_ptr<presence_sync> presence_;
};

}  // namespace sb::cluster
