#pragma once
// A TCP connection on its loop: the socket, its send queue and its one timer. The protocol spoken
// on it is a connection_handler that the connection owns; an upgrade (HTTP request → SSE stream,
// → WebSocket) replaces the handler and hands nothing else over, so the socket never moves.
//
// Lifetime: a connection is made by make() and shared through connection_ptr (io/counted.hpp: the
// counts share its allocation). A started connection owns itself until close() (every path ends
// there: the peer hanging up, an error, a timeout, the drain); pending readiness waits also hold
// it, so it is destroyed, with its handler, once it is closed and the last wait has completed.
// Whoever may answer after that (a broker's late reply) keeps a connection_weak.
// Reads and writes are direct non-blocking syscalls; Asio only says when the socket is ready.
// A long-lived connection (an SSE stream, a WebSocket, HTTP/2) is parked: it leaves Asio's reactor
// for the loop's own epoll set (loop::watch), where an idle socket costs no user-space memory
// beyond the connection itself.
#include <array>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>

#include "io/counted.hpp"
#include "io/loop.hpp"
#include "io/send_queue.hpp"
#include "io/stream_socket.hpp"
#include "io/timing_wheel.hpp"
#include "io/tls.hpp"

namespace sb::io {

class connection;

/// The protocol on a connection. Runs on the connection's loop only.
class connection_handler {
 public:
  virtual ~connection_handler() = default;
  /// The socket is readable (data or end of stream): read with connection::read_some.
  virtual void on_readable() = 0;
  /// The connection's timer fired.
  virtual void on_timer() {}
  /// A write took bytes off the queue (for handlers that refill it at their own pace).
  virtual void on_sent() {}
  /// The connection is about to write: a handler that frames lazily (HTTP/2) queues its bytes
  /// now, once per flush, rather than on every send.
  virtual void on_flush() {}
  /// The connection is closing: release subscriptions and anything shared. Called once.
  virtual void on_close() {}
  /// The server is draining: say goodbye the protocol's way, then close.
  virtual void on_drain() {}
};

/// Whatever admitted a connection (the connection limits): told when the connection is gone.
class admission {
 public:
  virtual void release(const boost::asio::ip::address& peer) = 0;

 protected:
  ~admission() = default;
};

using connection_ptr = counted_ptr<connection>;
using connection_weak = counted_weak<connection>;

class connection final : public member_hook {
 public:
  using socket_type = stream_socket::base;

  /// A connection of `l` on `socket` (accepted, connected), not yet started.
  static connection_ptr make(loop& l, socket_type socket) {
    return make_counted<connection>(l, std::move(socket));
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  io::loop& owner() { return *loop_; }
  /// Another owner of this connection, which must be alive (not being destroyed).
  connection_ptr ref() { return counted_from(*this); }
  /// An observer: locks to an owner while the connection lives.
  connection_weak weak_ref() { return counted_weak_from(*this); }

  /// Makes this a TLS connection (before start()): reads decrypt, flushes encrypt. Takes `ssl`.
  void enable_tls(SSL* ssl);
  /// The protocol ALPN negotiated ("h2", "http/1.1"); empty on cleartext, without ALPN, or before
  /// the handshake has finished (it has once read_some returned plaintext).
  std::string_view alpn() const { return tls() ? tls()->transport.alpn() : std::string_view{}; }

  /// Installs the first handler and starts waiting for input.
  void start(std::unique_ptr<connection_handler> h);
  /// This connection will live long (after an upgrade): from its next wait on, the loop's own epoll
  /// set watches it instead of Asio's reactor, which frees Asio's per-socket state (168 B) and the
  /// connection's reactor wait (~150 B). Input then costs one extra `epoll_wait` per loop turn
  /// (shared by every parked connection with events), which is why a plain HTTP/1.1 connection,
  /// whose requests come one at a time, stays on the reactor.
  void park() { park_wanted_ = true; }
  bool parked() const { return reactor() == nullptr; }
  /// A subscriber's connection (parked, or to be at its next wait): the loop flushes connections
  /// answering requests before these.
  bool long_lived() const { return park_wanted_ || parked(); }
  /// Replaces the handler (protocol upgrade). The old one is destroyed after the current turn, so
  /// it may call this from inside its own callbacks.
  void replace_handler(std::unique_ptr<connection_handler> h);

  /// Non-blocking read; `ec` is would_block when nothing is there, eof at end of stream.
  std::size_t read_some(char* data, std::size_t size, boost::system::error_code& ec);
  /// Asks for one on_readable() when the socket has input. Idempotent.
  void wait_readable();

  /// Queues bytes; they leave in the loop's next flush pass.
  void send(shared_bytes b);
  void send(std::string s) { send(shared_bytes::from_string(std::move(s))); }
  /// Bytes waiting to be written (plaintext queued and, under TLS, ciphertext not yet sent).
  std::size_t queued_bytes() const {
    auto* t = tls();
    return queue_.bytes() + (t ? t->out.size() - t->out_at : 0);
  }
  /// Asks for a flush pass (and so an on_flush()) even though nothing was queued with send().
  void request_flush();

  /// (Re)arms the connection's one timer.
  void set_timer(timing_wheel::duration delay);
  /// (Re)arms it for a periodic beat: timing_wheel::schedule_beat.
  void set_beat(timing_wheel::duration interval);
  void cancel_timer() { timer_.cancel(); }

  /// How long close_after_flush waits by default for the peer to take the rest and hang up.
  static constexpr timing_wheel::duration default_linger{2000};

  /// Sends what is queued, then shuts down the write side and closes once the peer has read it,
  /// or after `linger` in all.
  void close_after_flush(timing_wheel::duration linger = default_linger);
  /// Drops what is queued and has not started going out (a partly written unit is kept).
  void discard_unsent() { queue_.drop_unstarted(); }
  /// Closes now: what is queued is dropped.
  void close();
  bool is_open() const { return state_ == state::open; }

  /// Writes as much of the queue as the socket takes now; called by the loop's flush pass.
  void flush();

  /// The peer's address, for logs and per-IP limits.
  boost::asio::ip::tcp::endpoint peer() const;
  std::uint64_t id() const { return id_; }
  /// A new id from the sequence connections take theirs from: for what lives inside a connection
  /// and needs an identity of its own (a WebSocket on an HTTP/2 stream).
  static std::uint64_t next_id();
  /// Gives `lease` (whatever admitted this connection, which outlives it: the server's limits)
  /// its place back when the connection is destroyed.
  void hold(admission& lease) { lease_ = &lease; }
  connection_handler* handler() { return handler_.get(); }

 private:
  friend class loop;
  template <class T, class... Args>
  friend counted_ptr<T> make_counted(Args&&... args);
  connection(loop& l, socket_type socket);

  enum class state : std::uint8_t { open, flushing_to_close, lingering, closed };

  void on_timer();
  /// The loop's epoll set reports `events` (EPOLLIN, EPOLLOUT, ...) for a parked connection.
  void on_watched_event(std::uint32_t events);
  void move_to_loop_set();
  static void on_read_wait(void* target, boost::system::error_code ec, bool abandoned);
  void readable();
  void wait_writable();
  void begin_linger();
  void discard_input();
  std::size_t recv_raw(char* data, std::size_t size, boost::system::error_code& ec);
  std::size_t read_tls(char* data, std::size_t size, boost::system::error_code& ec);
  void flush_tls();
  bool output_idle() const {
    auto* t = tls();
    return queue_.empty() && (!t || t->out_at == t->out.size());
  }

  /// Only TLS connections pay for this.
  struct tls_state {
    explicit tls_state(SSL* ssl) : transport(ssl) {}
    tls_transport transport;
    std::string out;  // ciphertext being written
    std::size_t out_at = 0;
  };

  /// What a connection on Asio's reactor needs; freed once parked.
  struct reactor_state {
    reactor_state(socket_type&& s, connection* c)
        : socket(std::move(s)), wait(&connection::on_read_wait, c) {}
    stream_socket socket;
    read_wait wait;
    connection_ptr hold;  // while `wait` is pending
  };

  /// The peer's address: an IPv4 one in place, an IPv6 one (16 bytes and a scope) out of line,
  /// so an idle connection from an IPv4 peer pays 8 bytes for it rather than an endpoint's 28.
  struct v6_address {
    std::array<unsigned char, 16> bytes{};
    std::uint32_t scope = 0;
  };
  union peer_address {
    std::array<unsigned char, 4> v4;
    v6_address* v6;  // owned, when peer_v6_
  };

  /// What a connection needs for a while (the reactor's state, until parked) or only some
  /// connections need (TLS), behind one pointer: an idle cleartext connection has none.
  struct side_state {
    std::optional<reactor_state> reactor;
    std::optional<tls_state> tls;
  };
  reactor_state* reactor() const { return side_ && side_->reactor ? &*side_->reactor : nullptr; }
  tls_state* tls() const { return side_ && side_->tls ? &*side_->tls : nullptr; }

  loop* loop_;
  std::unique_ptr<side_state> side_;
  send_queue queue_;
  std::unique_ptr<connection_handler> handler_;
  admission* lease_ = nullptr;
  wheel_entry timer_;
  std::uint64_t id_;
  connection* next_flush_ = nullptr;  // the loop's flush list (loop::request_flush)
  // Together in 16 bytes (flags as bits): an idle connection is a 144-byte block, its counts and
  // malloc's header included.
  peer_address peer_{};
  int fd_;
  std::uint16_t peer_port_ = 0;
  state state_ = state::open;
  bool peer_v6_ : 1 = false;
  // The connection owns itself from start() to close(): one count, taken by start() and given
  // back by close() (a flag, not a connection_ptr to itself: 8 bytes per idle connection).
  bool owns_self_ : 1 = false;
  bool read_armed_ : 1 = false;
  bool write_armed_ : 1 = false;
  // A read found the socket empty: epoll (edge-triggered) will say when more comes, so asking
  // again before that would only find nothing. A new socket counts as empty: its first wait is
  // answered at once by the reactor (which has not yet seen it empty), so it costs no read.
  bool drained_ : 1 = true;
  bool reading_ : 1 = false;       // inside the handler's on_readable()
  bool park_wanted_ : 1 = false;   // park() was called: move at the next wait
  bool flush_wanted_ : 1 = false;  // something was queued meanwhile
};

}  // namespace sb::io
