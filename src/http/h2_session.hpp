#pragma once
// HTTP/2 on a connection (RFC 9113), nghttp2 as the sans-I/O engine: bytes read from the socket
// go in with nghttp2_session_mem_recv, frames come out with nghttp2_session_mem_send once per
// flush pass (the connection's on_flush), so one gathered write carries every stream's frames.
//
// Each request is a stream answered through the same API handlers as HTTP/1.1 (http/serve.hpp).
// GET /v1/events makes the stream an SSE stream (an sse::stream whose transport is the h2 stream):
// its DATA frames are sent with NGHTTP2_DATA_FLAG_NO_COPY, so a frame is its 9-byte header followed
// by references to the message bytes encoded once for every subscriber. A stream with nothing to
// send defers its data source and is resumed when bytes arrive; nghttp2 keeps per-stream and
// connection flow control, so a stream whose peer stops reading stalls alone, and the slow-consumer
// policy applies to what waits behind it, per stream.
//
// GET /v1/ws has its HTTP/2 form, RFC 8441: the server's SETTINGS carry ENABLE_CONNECT_PROTOCOL,
// and a CONNECT with `:protocol` websocket on /v1/ws, once checked as the HTTP/1.1 upgrade is, is
// answered 200 and the stream runs a ws::session (the stream is its ws::transport): the client's
// DATA frames are its input, its frames leave as DATA frames of that stream, and closing it ends
// the stream. The stream's receive window is given back only as the session reads, so a session
// that stops reading (backpressure) stops its peer through HTTP/2 flow control, per stream, and
// the connection's window, given back at once, keeps the other streams flowing.
#include <nghttp2/nghttp2.h>

#include <boost/beast/http/fields.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/api/stream_publish.hpp"
#include "http/handoff.hpp"
#include "http/response.hpp"
#include "http/router.hpp"
#include "http/serve.hpp"
#include "http/services.hpp"
#include "io/connection.hpp"
#include "sse/stream.hpp"

namespace sb::http {

class h2_session final : public io::connection_handler {
 public:
  /// `ctx` and `to` outlive the session.
  h2_session(io::connection& conn, loop_services& ctx, handoff& to);
  ~h2_session() override;

  /// Sends the server's SETTINGS, then takes `early` (bytes already read: the client preface and
  /// whatever followed it).
  void start(std::string_view early);

  /// Feeds bytes from the peer to the engine (what on_readable reads; the fuzz target calls it).
  void receive(std::string_view bytes);

  void on_readable() override;
  void on_timer() override;
  void on_sent() override;
  void on_flush() override;
  void on_close() override;
  void on_drain() override;

 private:
  struct stream;
  struct ws_port;
  struct sse_port;
  friend struct h2_callbacks;

  stream* find(std::int32_t id);
  /// The open streams by id, in order: a client's stream ids only grow, so a new one goes at the
  /// end. A flat vector, not a map: a map node would cost each idle SSE stream 64 bytes more.
  using stream_list = std::vector<std::pair<std::int32_t, std::unique_ptr<stream>>>;
  /// Where `id` is in streams_, or would go.
  stream_list::iterator stream_at(std::int32_t id);
  void add_stream(std::unique_ptr<stream> st);
  void on_request_head(stream& st);
  /// What follows authentication in on_request_head (`url` is the request's).
  void after_authentication(stream& st, boost::urls::url_view url);
  /// A ticket's redeem came back for `st`: go on with its request, or answer it.
  void on_authenticated(stream& st, verdict v);
  void on_request_complete(stream& st);
  /// Answers a streaming publish once its publishes are acknowledged.
  void finish_publisher(stream& st);
  void on_body(stream& st, std::string_view bytes);
  void open_events(stream& st, boost::urls::url_view url);
  /// RFC 8441: answers the extended CONNECT and starts a ws::session on the stream.
  void open_websocket(stream& st);
  /// Runs the WebSocket sessions whose input arrived during the last nghttp2_session_mem_recv.
  void run_readable();
  /// Takes an SSE stream out of counters.sse_h2_streams, once.
  void uncount_sse(stream& st);
  void begin_streaming(stream& st, boost::urls::url_view url);
  void respond(stream& st, response r);
  void fail(stream& st, errc e, std::string_view detail = {});
  /// A request's header list went over h2_max_header_list_size: 431 on its stream when `answer`
  /// (else it is reset), and GOAWAY ENHANCE_YOUR_CALM for a connection that keeps doing it.
  void refuse_header_list(stream& st, bool answer);
  void submit_headers(stream& st, unsigned status,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      bool has_body);
  /// The stream has bytes to send: resume its data source and ask for a flush.
  void wake(stream& st);
  /// Takes frames out of the engine into the connection's queue, up to a high-water mark.
  void produce();
  void emit_pending();
  /// Closes the connection when the engine has nothing more to read or write (after GOAWAY).
  void check_done();
  void stream_opened();
  std::chrono::milliseconds tick() const;
  void stream_closed(std::int32_t id);

  io::connection& conn_;
  loop_services& ctx_;
  handoff& to_;
  nghttp2_session* session_ = nullptr;
  stream_list streams_;
  std::string pending_;                 // control frames and DATA headers not yet queued
  std::vector<std::int32_t> sent_;      // streams whose DATA left during this produce()
  std::vector<std::int32_t> readable_;  // WebSocket streams given input by the engine
  std::shared_ptr<bool> alive_;         // for answers and aborts that come after a callback
  std::chrono::steady_clock::time_point next_heartbeat_;  // of the SSE streams, all at once
  std::uint8_t header_refusals_ = 0;
  bool producing_ = false;
  bool finished_ = false;
  bool draining_ = false;
};

}  // namespace sb::http
