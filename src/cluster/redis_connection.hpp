#pragma once
// One connection to Redis on an Asio io_context: commands pipelined in order, replies matched
// first-in first-out, a deadline per command, a keep-alive PING, and reconnection with backoff.
//
// Why not hiredis's own async client (redisAsyncContext with an adapter): it owns the socket and
// the write buffer, so it cannot bound what waits to be written or fail a command at a deadline,
// its adapters assume one loop model (libevent, libuv, ...) and a free-running reconnect is ours
// to write anyway. Here hiredis only formats commands (redisFormatCommandArgv) and parses replies
// (redisReader); the socket, the buffers, the deadlines and the reconnects are this class's.
//
// Thread: everything runs on the io_context's single thread; no method may be called from another.
#include <hiredis/hiredis.h>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/redis_stats.hpp"
#include "cluster/redis_url.hpp"

namespace sb::cluster {

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

/// The text of a string, status or error reply ("" for anything else).
std::string_view reply_text(const redisReply* r);
bool is_error(const redisReply* r);

class redis_connection : public std::enable_shared_from_this<redis_connection> {
 public:
  /// `ec` is set (and the reply null) when the command did not get a reply: not connected, timed
  /// out, or the connection dropped. A Redis error reply is a reply (is_error).
  using reply_handler = std::function<void(boost::system::error_code ec, reply_ptr reply)>;

  struct options {
    redis_endpoint at;
    std::chrono::milliseconds timeout{1000};  // per command, connect and keep-alive
    std::string name;                         // CLIENT SETNAME
    std::size_t max_pending = 200000;         // commands awaiting a reply; over it, fail fast
  };
  struct events {
    /// Logged in (AUTH, SELECT done); the owner sends its own setup with send() and then calls
    /// mark_ready().
    std::function<void(redis_connection&)> on_connected;
    /// The connection went away (it reconnects by itself).
    std::function<void()> on_down;
    /// Pub/sub mode (set_push_mode): every reply read goes here.
    std::function<void(reply_ptr)> on_push;
  };

  redis_connection(boost::asio::io_context& ctx, options o, events e, redis_stats& stats);
  ~redis_connection();

  void start();
  void stop();
  bool ready() const { return state_ == state::ready; }

  /// Sends a command once ready; fails at once (connection_refused) otherwise: never queue for a
  /// Redis that is not there.
  void command(const std::vector<std::string>& args, reply_handler done);
  /// Sends while connected (the setup between on_connected and mark_ready).
  void send(const std::vector<std::string>& args, reply_handler done);
  /// Sends without awaiting a reply (pub/sub mode: SUBSCRIBE, UNSUBSCRIBE).
  void send_push(const std::vector<std::string>& args);
  void mark_ready();
  /// From now on replies are pushes (after the first SUBSCRIBE); reset by a reconnect.
  void set_push_mode() { push_mode_ = true; }
  /// Drops the connection and reconnects after the backoff.
  void reset(std::string_view why);

 private:
  enum class state { idle, connecting, handshaking, ready, stopped };
  using clock = std::chrono::steady_clock;
  struct pending {
    reply_handler done;
    clock::time_point sent;
  };

  void connect();
  void on_socket_connected();
  void write(const std::vector<std::string>& args);
  void do_write();
  void do_read();
  void on_reply(reply_ptr r);
  void tick();
  void schedule_reconnect();
  void fail_pending(boost::system::error_code ec);

  boost::asio::io_context& ctx_;
  options options_;
  events events_;
  redis_stats& stats_;
  state state_ = state::idle;
  std::uint64_t generation_ = 0;  // callbacks of an older connection attempt are ignored
  boost::asio::generic::stream_protocol::socket socket_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer reconnect_timer_;
  redisReader* reader_ = nullptr;
  std::string out_;      // formatted commands waiting for the write in flight
  std::string writing_;  // the write in flight
  bool write_in_flight_ = false;
  std::vector<char> in_;
  std::deque<pending> pending_;
  bool push_mode_ = false;
  clock::time_point connect_deadline_;
  clock::time_point last_ping_;
  clock::time_point pong_deadline_ = clock::time_point::max();  // push mode's PING
  std::chrono::milliseconds backoff_{0};
  bool ever_ready_ = false;
};

}  // namespace sb::cluster
