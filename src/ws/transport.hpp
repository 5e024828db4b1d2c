#pragma once
// What a WebSocket session's frames travel over: a whole connection (the HTTP/1.1 upgrade) or one
// HTTP/2 stream (RFC 8441 extended CONNECT, in http/h2_session). The session is written once
// against this; a transport only moves bytes, paces them and ends.
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "io/connection.hpp"
#include "io/loop.hpp"
#include "io/send_queue.hpp"
#include "io/timing_wheel.hpp"

namespace sb::ws {

/// Everything here runs on the transport's loop, and only while the session exists.
class transport {
 public:
  using duration = io::timing_wheel::duration;

  /// Non-blocking read of the peer's bytes; `ec` is would_block when none wait, eof once the peer
  /// has ended its side.
  virtual std::size_t read_some(char* data, std::size_t size, boost::system::error_code& ec) = 0;
  /// Asks for one on_readable() of the session when bytes (or the end) arrive. Idempotent.
  virtual void wait_readable() = 0;
  /// Queues bytes (references to shared buffers) for this session only.
  virtual void send(io::shared_bytes b) = 0;
  void send(std::string s) { send(io::shared_bytes::from_string(std::move(s))); }
  /// Bytes this session queued that have not been written (the slow-consumer bound applies here).
  virtual std::size_t queued_bytes() const = 0;
  /// (Re)arms the session's one timer: on_timer() when it fires.
  virtual void set_timer(duration delay) = 0;
  /// (Re)arms it for a periodic beat, which may come early to share a wake-up with other
  /// connections' beats (io::timing_wheel::schedule_beat).
  virtual void set_beat(duration interval) { set_timer(interval); }
  /// Sends what is queued, ends the session's output, and ends it all once the peer has ended its
  /// side too, or after `linger`. Calls the session's on_close() now, once.
  virtual void close_after_flush(duration linger) = 0;
  void close_after_flush() { close_after_flush(io::connection::default_linger); }
  /// Ends now: what is queued is dropped. Calls the session's on_close(), once.
  virtual void close() = 0;
  /// On the next loop turn, if still open: drops what has not started going out (a frame already
  /// partly written is kept: a frame cannot be cut), queues `last`, and closes after flush within
  /// `linger`. For the slow-consumer close, which may be decided inside a fan-out walk.
  virtual void close_later(std::string last, duration linger) = 0;
  virtual io::loop& owner() = 0;
  /// Unique among the server's connections and streams (anonymous identities are made of it).
  virtual std::uint64_t id() const = 0;
  /// For the access log: "ws" or "ws/h2", and the client's address:port.
  virtual std::string_view transport_name() const = 0;
  virtual std::string peer_text() const = 0;

 protected:
  ~transport() = default;
};

/// A whole connection as the transport (after an HTTP/1.1 101).
class connection_transport : public transport {
 public:
  explicit connection_transport(io::connection& c) : conn_(c) {}

  std::size_t read_some(char* data, std::size_t size, boost::system::error_code& ec) override {
    return conn_.read_some(data, size, ec);
  }
  void wait_readable() override { conn_.wait_readable(); }
  void send(io::shared_bytes b) override { conn_.send(std::move(b)); }
  using transport::send;
  std::size_t queued_bytes() const override { return conn_.queued_bytes(); }
  void set_timer(duration delay) override { conn_.set_timer(delay); }
  void set_beat(duration interval) override { conn_.set_beat(interval); }
  void close_after_flush(duration linger) override { conn_.close_after_flush(linger); }
  using transport::close_after_flush;
  void close() override { conn_.close(); }
  void close_later(std::string last, duration linger) override;
  io::loop& owner() override { return conn_.owner(); }
  std::uint64_t id() const override { return conn_.id(); }
  std::string_view transport_name() const override { return "ws"; }
  std::string peer_text() const override;

 private:
  io::connection& conn_;
};

}  // namespace sb::ws
