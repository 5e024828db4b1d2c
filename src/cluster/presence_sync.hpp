#pragma once
// Presence across nodes (broker = redis). The node's presence_registry keeps answering snapshots
// and pages synchronously; this class keeps it holding the members of the whole cluster for the
// rooms this node has an interest in (a subscriber or member of the topic: the broker is
// subscribed to its channel), and tells the other nodes of this node's own members. Keys and
// records: presence_script.hpp.
//
// - Each tick (presence_tick_ms) flush() writes this node's changes of the tick, per room, with one
//   script that updates the node's member hash and publishes the changes on the topic's channel:
//   coalesced per tick and per member, as the local announcements are.
// - Records from other nodes are applied to the registry as they arrive and announced locally with
//   the next tick's diffs.
// - When the broker is subscribed to a topic's channel (first interest, or again after the pub/sub
//   connection dropped), the room is loaded from Redis; the token the load publishes marks the
//   seam with the live records (presence_seam).
// - Liveness: the node refreshes sb:node:N every presence_ttl_s / 6 with an expiry of 2/3 of
//   presence_ttl_s, and looks at every other node as often; a node whose key expired is dead: its
//   members are removed here (announced as leaves) and from Redis, so a dead node's members leave
//   within presence_ttl_s without a word from it. A node that finds its own key gone (it was
//   taken for dead: a stall, a partition) writes all its members again.
// - withdraw() (SIGTERM drain): this node's members leave on every node at once.
//
// Thread: everything runs on the broker's thread (its io_context), except flush() and withdraw(),
// which post to it.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cluster/presence_script.hpp"
#include "cluster/redis_connection.hpp"
#include "core/presence.hpp"

namespace sb::cluster {

class presence_sync {
 public:
  struct options {
    std::string node_id;
    std::chrono::milliseconds ttl{15000};  // presence_ttl_s
    bool cluster = false;                  // sharded pub/sub (SPUBLISH)
  };

  /// How this reaches Redis: the broker's routing, so each command goes to the master of its
  /// first key's slot (Redis Cluster) or to the one Redis; both run on the broker's thread.
  struct redis_access {
    std::function<void(std::string_view key, std::vector<std::string> cmd,
                       redis_connection::reply_handler done)>
        command;
    std::function<bool()> ready;  // commands can be sent (every master's connection is up)
  };

  /// `ctx` and `registry` outlive this object.
  presence_sync(boost::asio::io_context& ctx, redis_access redis, presence_registry& registry,
                options o);

  // The broker's thread:

  /// The command connection is (again) ready: register this node and write all it owns.
  void on_connected();
  /// The broker is (again) subscribed to `topic`'s channel: load the room.
  void on_live(const std::string& topic);
  /// The broker left `topic`'s channel: forget the other nodes' members there.
  void on_idle(const std::string& topic);
  /// A presence record ("P" stripped) or a load token ("L" stripped) from `topic`'s channel.
  void on_record(const std::string& topic, std::string_view record);
  void on_token(const std::string& topic, std::string_view token);
  void stop();

  // Any thread:

  /// Writes this node's changes since the last flush (the presence tick).
  void flush();
  /// This node's members leave every node now; nothing more is written (the drain).
  void withdraw();
  /// Every member of `topic` (sorted by id, each id once), read from Redis when this node has no
  /// interest in the room; nullopt when the registry holds the room already (or Redis cannot be
  /// read): the registry answers. `done` runs on the broker's thread.
  void read(std::string topic,
            std::function<void(std::optional<std::vector<presence_member>>)> done);

 private:
  struct room {
    presence_seam seam;
    std::vector<presence_record> held;  // after the token, before the snapshot
    bool load_wanted = false;           // to load (again) once Redis answers
  };

  void eval(std::vector<std::string> keys, std::vector<std::string> args,
            redis_connection::reply_handler done);
  void refresh();
  void beat();
  void sweep();
  void bury(const std::string& node);
  void expel(const std::string& node, const std::string& topic);
  void flush_now();
  void write(const presence_diff& changes, bool reset);
  void load(const std::string& topic, room& r);
  void apply(const std::string& topic, const presence_record& rec);
  std::string publish_command() const { return options_.cluster ? "SPUBLISH" : "PUBLISH"; }

  boost::asio::io_context& ctx_;
  /// Sends `cmd`, routed by its first key (a script's first KEYS entry).
  void send(std::vector<std::string> cmd, redis_connection::reply_handler done);

  redis_access redis_;
  presence_registry& registry_;
  options options_;
  std::string incarnation_;  // random per start: tells a node id two processes use
  boost::asio::steady_timer beat_timer_;
  std::string sha_;
  bool registered_ = false;  // this node's leftovers from an earlier process were removed
  bool ready_ = false;       // set up since the last connect
  bool full_ = true;         // the next flush writes every room this node has members in
  bool withdrawn_ = false;
  bool stopped_ = false;
  std::uint64_t tokens_ = 0;
  std::unordered_map<std::string, room> rooms_;  // rooms of interest
  /// Rooms where this node's members are in Redis, with the writes in flight to each.
  std::unordered_map<std::string, int> written_;
  std::unordered_set<std::string> peers_;   // nodes whose members this node has heard of
  std::unordered_set<std::string> buried_;  // dead nodes being removed from Redis
};

}  // namespace sb::cluster
