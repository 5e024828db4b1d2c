#pragma once
// Subscribe tickets in Redis (broker = redis), so a ticket minted on any node is redeemed on any
// node, exactly once:
//   mint    SET sb:ticket:{<hex SHA-256>} <record> PX <ttl ms> NX
//   redeem  GETDEL sb:ticket:{<hex SHA-256>}
// GETDEL (Redis >= 6.2, Valkey) reads and deletes in one command, so of two nodes racing on one
// ticket exactly one gets the record; Redis expires it (its clock, not the nodes'). Only the
// ticket's digest is a key: a dump of Redis holds no usable ticket. The key is hash-tagged on the
// digest alone (one key per command: any slot of a Redis Cluster will do).
//
// Its own connection and thread, not the broker's command connection: a redeem then never waits
// behind a burst of publishes pipelined on that connection (a browser is waiting for its stream),
// and the broker's files, which the presence and Redis Cluster work also change, stay as they are.
// The cost is one more Redis connection and one mostly idle thread per node.
//
// With Redis Cluster the ledger has no connection of its own: the key's slot may live on any
// master, so each command goes through the broker's routing (key_command), which follows MOVED and
// ASK.
//
// Threads: the connection and everything here run on the ledger's thread (the broker's, with Redis
// Cluster); put/take may be called from any thread and answer on the loop that called
// (io::loop::current()).
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "auth/ticket_ledger.hpp"
#include "cluster/redis_connection.hpp"
#include "cluster/redis_stats.hpp"
#include "cluster/redis_url.hpp"

namespace sb::io {
class loop;
}

namespace sb::cluster {

/// The Redis key of a ticket's digest (32 raw bytes).
std::string ticket_key(std::string_view digest);

class redis_ticket_ledger final : public auth::ticket_ledger {
 public:
  /// Runs one command on the Redis that holds `key`; `done` on the thread that runs the commands.
  using command_fn = std::function<void(std::string key, std::vector<std::string> cmd,
                                        redis_connection::reply_handler done)>;

  /// `timeout` bounds each command (a blackholed Redis answers errc::unavailable after it).
  redis_ticket_ledger(redis_endpoint at, std::chrono::milliseconds timeout, std::string node_id);
  /// Sends every command through `via` (the broker's routing, Redis Cluster); start/stop do
  /// nothing.
  explicit redis_ticket_ledger(redis_endpoint at, command_fn via);
  ~redis_ticket_ledger() override;

  /// Starts the thread and connects in the background.
  void start();
  /// Stops the thread; answers not given yet are dropped.
  void stop();

  void put(std::string digest, std::string record, std::chrono::milliseconds ttl,
           put_handler done) override;
  void take(std::string digest, take_handler done) override;

  /// The ticket connection's round trips and reconnects, in Prometheus text (its own names: the
  /// switchboard_redis_* figures are the broker's connections); empty when commands go through
  /// the broker's routing (they are counted there).
  std::string metrics_text() const;

 private:
  void send(std::string key, std::vector<std::string> cmd, redis_connection::reply_handler done);

  redis_stats stats_;  // the connection's own
  boost::asio::io_context ctx_;
  std::shared_ptr<redis_connection> connection_;
  std::thread thread_;
  redis_endpoint at_;
  command_fn via_;
  bool warned_ = false;  // an error reply was logged once (GETDEL unknown: Redis older than 6.2)
};

}  // namespace sb::cluster
