#include "http/h2_session.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <cstring>

#include "io/access_log.hpp"
#include "ws/handshake.hpp"
#include "ws/session.hpp"
#include "ws/transport.hpp"

namespace sb::http {
namespace bhttp = boost::beast::http;

namespace {

/// Frames queued on the connection before the engine is asked for more: enough for one large
/// gathered write, small enough that a slow peer makes streams wait in their own queues (where
/// the slow-consumer policy sees them), not in the connection's.
constexpr std::size_t connection_high_water = 256 << 10;
constexpr std::size_t read_chunk = 16 << 10;
/// Requests refused for their header list size before the connection is told to calm down.
constexpr std::uint8_t max_header_refusals = 3;
/// A header list this many times h2_max_header_list_size is not decoded to its end.
constexpr std::size_t header_list_cutoff = 4;

bool is_connection_specific(std::string_view name) {
  // RFC 9113 8.2.2: these must not appear in an HTTP/2 message.
  return name == "connection" || name == "keep-alive" || name == "transfer-encoding" ||
         name == "upgrade" || name == "proxy-connection";
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

/// One request stream. After its head it is either waiting for its body, streaming a publish,
/// answered, or an SSE stream; its outgoing bytes wait in `out` until flow control lets them go.
struct h2_session::stream final {
  stream(h2_session& s, std::int32_t stream_id) : session(s), id(stream_id) {
    req->opened = s.conn_.owner().now();
  }

  // What an SSE stream on it does (through sse_port).
  void send(io::shared_bytes b) {
    if (!ended) {
      out.push(std::move(b));
      session.wake(*this);
    }
  }
  std::size_t queued_bytes() const { return out.bytes(); }
  void abort() {
    // From inside a fan-out walk: reset the stream on the next turn. The client resumes from
    // history, as an HTTP/1.1 client does when its connection is closed.
    ended = true;
    out.clear();
    boost::asio::post(session.conn_.owner().context(), [alive = std::weak_ptr<bool>(session.alive_),
                                                        s = &session, id = id] {
      if (alive.lock() && s->find(id)) {
        nghttp2_submit_rst_stream(s->session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        s->conn_.request_flush();
      }
    });
  }
  void end() {
    eof = true;
    session.wake(*this);
  }
  std::string peer_text() const { return io::endpoint_text(session.conn_.peer()); }

  h2_session& session;
  std::int32_t id;
  // 32 bits, next to `id`: a block is cut off at a few h2_max_header_list_size, and one field
  // adds at most what nghttp2 decodes in one piece.
  std::uint32_t header_bytes = 0;
  /// The request, until its stream has become an SSE stream or a WebSocket (most streams, and
  /// long-lived ones): then it is freed, as its stream only sends from then on.
  struct request_part {
    std::string method;
    std::string path;
    std::string protocol;  // :protocol of an extended CONNECT (RFC 8441)
    bhttp::fields headers;
    route where;
    std::optional<caller> who;
    std::string body;  // what authenticating kept
    std::size_t body_limit = 0;
    std::unique_ptr<api::stream_publisher> publisher;
    // When the request began, on the loop's clock (for the 408).
    std::chrono::steady_clock::time_point opened;
  };
  std::unique_ptr<request_part> req = std::make_unique<request_part>();
  bool headers_too_large = false;
  bool request_done = false;      // END_STREAM received
  bool responded = false;         // a response (or SSE head) was submitted
  bool authenticating = false;    // a ticket is being redeemed: the body waits in `body`
  bool publish_finished = false;  // the publisher's answer may still be on its way
  bool eof = false;               // nothing follows `out`
  bool ended = false;             // aborted: take no more bytes
  bool deferred = false;          // the data source said NGHTTP2_ERR_DEFERRED
  bool sse_counted = false;       // in counters.sse_h2_streams
  // The response.
  io::send_queue out;
  std::unique_ptr<sse::stream> sse;
  std::unique_ptr<ws_port> ws;  // last: its session reads the members above while it ends
};

/// An SSE stream on one stream: its transport is the stream.
struct h2_session::sse_port final : sse::stream {
  // `stream` here would name sse::stream, the base.
  sse_port(h2_session::stream& s, const sse::context& ctx) : sse::stream(ctx), st(s) {}
  ~sse_port() override { release(); }

  void write(io::shared_bytes b) override { st.send(std::move(b)); }
  std::size_t queued_bytes() const override { return st.queued_bytes(); }
  void abort() override { st.abort(); }
  void end() override { st.end(); }
  void arm_heartbeat(std::chrono::milliseconds) override {}  // the session's timer beats for all
  std::string_view transport_name() const override { return "sse/h2"; }
  std::string peer_text() const override { return st.peer_text(); }

  h2_session::stream& st;
};

/// A WebSocket on one stream (RFC 8441), and the ws::session's transport. Input is what the
/// stream's DATA frames carried, kept here until the session reads it; the stream's receive window
/// is given back only then, so what waits here is bounded by that window (64 KiB). Output goes to
/// the stream's queue, which the engine sends as DATA frames under flow control.
struct h2_session::ws_port final : ws::transport {
  ws_port(h2_session& s, stream& owner) : h2(s), st(owner), id_(io::connection::next_id()) {
    timer.bind<&ws_port::on_timer>(this);
  }
  ~ws_port() { session.reset(); }  // the session uses its transport while it ends

  std::size_t read_some(char* data, std::size_t size, boost::system::error_code& ec) override {
    auto have = in.size() - in_at;
    if (have == 0) {
      ec = in_ended ? boost::system::error_code(boost::asio::error::eof)
                    : boost::system::error_code(boost::asio::error::would_block);
      return 0;
    }
    auto n = std::min(size, have);
    std::memcpy(data, in.data() + in_at, n);
    in_at += n;
    if (in_at == in.size()) {
      in = {};  // an idle WebSocket keeps no input buffer
      in_at = 0;
    }
    nghttp2_session_consume_stream(h2.session_, st.id, n);  // the peer may send that much more
    h2.conn_.request_flush();
    ec = {};
    return n;
  }
  void wait_readable() override {
    if (closed) {
      return;
    }
    if (in_at == in.size() && !in_ended) {
      read_wanted = true;  // take() or input_ended() hands it over
      return;
    }
    // Input is already here: read it on the next turn, as a connection does.
    if (read_posted) {
      return;
    }
    read_posted = true;
    boost::asio::post(h2.conn_.owner().context(),
                      [alive = std::weak_ptr<bool>(h2.alive_), s = &h2, id = st.id] {
                        if (!alive.lock()) {
                          return;
                        }
                        if (auto* found = s->find(id); found && found->ws) {
                          found->ws->read_posted = false;
                          found->ws->run();
                        }
                      });
  }
  void send(io::shared_bytes b) override {
    if (!closed && !st.eof) {
      st.out.push(std::move(b));
      h2.wake(st);
    }
  }
  using ws::transport::send;
  std::size_t queued_bytes() const override { return st.out.bytes(); }
  void set_timer(duration delay) override {
    if (!closed) {
      h2.conn_.owner().wheel().schedule(timer, delay);
    }
  }
  void close_after_flush(duration linger) override {
    if (closing) {
      return;
    }
    closing = true;
    end_session();
    // The last frames, then END_STREAM; the stream ends when the peer ends its side too, or is
    // reset after `linger`.
    st.eof = true;
    h2.wake(st);
    lingering = true;
    h2.conn_.owner().wheel().schedule(timer, linger);
  }
  using ws::transport::close_after_flush;
  void close() override {
    if (closing) {
      return;  // our side is ending already: the peer's END_STREAM, or the linger, ends it
    }
    closing = true;
    end_session();
    st.out.clear();
    if (in_ended) {
      st.eof = true;  // the peer has ended its side: end ours, with nothing more
      h2.wake(st);
    } else {
      reset(NGHTTP2_CANCEL);
    }
  }
  void close_later(std::string last, duration linger) override {
    boost::asio::post(h2.conn_.owner().context(),
                      [alive = std::weak_ptr<bool>(h2.alive_), s = &h2, id = st.id,
                       last = std::move(last), linger]() mutable {
                        if (!alive.lock()) {
                          return;
                        }
                        if (auto* found = s->find(id); found && found->ws && !found->ws->closing) {
                          found->out.drop_unstarted();
                          found->ws->send(std::move(last));
                          found->ws->close_after_flush(linger);
                        }
                      });
  }
  io::loop& owner() override { return h2.conn_.owner(); }
  std::uint64_t id() const override { return id_; }
  std::string_view transport_name() const override { return "ws/h2"; }
  std::string peer_text() const override { return io::endpoint_text(h2.conn_.peer()); }

  /// Bytes of a DATA frame. The connection's window is given back at once (a WebSocket that is not
  /// read must not stall the connection's other streams), the stream's only as the session reads.
  void take(std::string_view bytes) {
    nghttp2_session_consume_connection(h2.session_, bytes.size());
    if (closing) {
      nghttp2_session_consume_stream(h2.session_, st.id, bytes.size());  // nobody reads it now
      return;
    }
    in.append(bytes);
    hand_over();
  }
  /// The peer sent END_STREAM: after what is here, the session reads the end.
  void input_ended() {
    in_ended = true;
    hand_over();
  }
  void hand_over() {
    if (read_wanted) {
      read_wanted = false;
      h2.readable_.push_back(st.id);
    }
  }
  void run() {
    if (!closing && session) {
      session->on_readable();
    }
  }
  void sent() {
    if (!closing && session) {
      session->on_sent();
    }
  }
  void drain() {
    if (!closing && session) {
      session->on_drain();
    }
  }
  /// The stream or the connection is gone: nothing more is sent or read.
  void gone() {
    closing = true;
    closed = true;
    timer.cancel();
    end_session();
    lease.reset();
  }
  /// The session lets go of its subscriptions and presence, once (the connection does this for an
  /// HTTP/1.1 WebSocket when it starts closing).
  void end_session() {
    if (session_ended) {
      return;
    }
    session_ended = true;
    h2.ctx_.counters.ws_h2_streams.sub();
    if (session) {
      session->on_close();
    }
  }
  void reset(std::uint32_t code) {
    closed = true;
    timer.cancel();
    st.ended = true;
    st.out.clear();
    nghttp2_submit_rst_stream(h2.session_, NGHTTP2_FLAG_NONE, st.id, code);
    h2.conn_.request_flush();
  }
  void on_timer() {
    if (closed) {
      return;
    }
    if (lingering) {
      reset(NGHTTP2_CANCEL);  // the peer did not end its side in time
      return;
    }
    if (session) {
      session->on_timer();
    }
  }

  h2_session& h2;
  stream& st;
  std::uint64_t id_;
  std::string in;  // input not yet read by the session, from in_at
  std::size_t in_at = 0;
  io::wheel_entry timer;
  bool in_ended = false;        // END_STREAM received
  bool read_wanted = false;     // the session waits for input
  bool read_posted = false;     // a read is posted for input already here
  bool closing = false;         // our side is ending (or has ended)
  bool lingering = false;       // END_STREAM is queued: the timer is the linger
  bool closed = false;          // reset, or gone: nothing more at all
  bool session_ended = false;   // session->on_close() has run
  std::shared_ptr<void> lease;  // its place under the connection limits
  std::unique_ptr<ws::session> session;
};

/// nghttp2's C callbacks, forwarding to the session (user_data) and its streams.
struct h2_callbacks {
  static h2_session& self(void* user) { return *static_cast<h2_session*>(user); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
      if (auto* st = s.find(frame->hd.stream_id)) {
        st->header_bytes = 0;  // trailers: a block of their own, bounded as the request's was
      }
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    auto st = std::make_unique<h2_session::stream>(s, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(s.session_, frame->hd.stream_id, st.get());
    s.add_stream(std::move(st));
    s.stream_opened();
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* user) {
    auto* st = self(user).find(frame->hd.stream_id);
    if (!st) {
      return 0;
    }
    // RFC 9113 6.5.2 counts 32 bytes of overhead per field. Every block is counted, trailers and
    // blocks of answered streams too: each field costs nghttp2 a check even when we ignore it.
    st->header_bytes += static_cast<std::uint32_t>(namelen + valuelen + 32);
    auto limit = self(user).ctx_.shared.limits.h2_max_header_list_size;
    if (st->header_bytes > limit * header_list_cutoff) {
      // Far over: stop decoding. nghttp2 resets the stream and skips the rest of the block
      // without checking or handing out its fields, so a block that references a large table
      // entry thousands of times (HPACK amplification) costs no more than a few limits. No 431
      // then: nghttp2 drops a response to a stream it resets.
      self(user).refuse_header_list(*st, false);
      nghttp2_submit_rst_stream(self(user).session_, NGHTTP2_FLAG_NONE, st->id,
                                NGHTTP2_ENHANCE_YOUR_CALM);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (st->responded || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;  // trailers carry nothing we use
    }
    // Beast's fields hold at most 64 KiB in one name or value and throw past it; that is reachable
    // only with h2_max_header_list_size raised that far, and such a request is too large anyway.
    constexpr std::size_t field_max = 0xffff;
    if (st->header_bytes > limit || namelen > field_max || valuelen > field_max) {
      st->headers_too_large = true;  // answered 431 when the block ends
      st->req->headers.clear();
    }
    if (st->headers_too_large) {
      return 0;
    }
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":method") {
      st->req->method = v;
    } else if (n == ":protocol") {
      st->req->protocol = v;  // the engine lets it through only with ENABLE_CONNECT_PROTOCOL sent
    } else if (n == ":path") {
      st->req->path = v;
    } else if (n == ":authority") {
      st->req->headers.set(bhttp::field::host, v);
    } else if (!n.empty() && n.front() != ':') {
      // Repeated fields (cookie crumbs) stay separate, as in HTTP/1.1.
      st->req->headers.insert(n, v);
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    auto* st = s.find(frame->hd.stream_id);
    if (!st) {
      return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      s.on_request_head(*st);
      st = s.find(frame->hd.stream_id);  // answering may have closed it
    }
    if (st && (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      st->request_done = true;
      s.on_request_complete(*st);
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                           const std::uint8_t* data, std::size_t len, void* user) {
    auto& s = self(user);
    auto* st = s.find(stream_id);
    std::string_view bytes(reinterpret_cast<const char*>(data), len);
    if (st && st->ws) {
      st->ws->take(bytes);  // gives the windows back at its own pace
      return 0;
    }
    // Request bodies are read at once (bounded by their limits), so their windows go back at once.
    nghttp2_session_consume(s.session_, stream_id, len);
    if (st) {
      s.on_body(*st, bytes);
    }
    return 0;
  }

  static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    // A complete answer to a request whose body is still coming: tell the client to stop sending
    // it (RFC 9113 8.1), without an error.
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      // Not a WebSocket's END_STREAM: its peer ends its side after its close frame (RFC 8441 §4).
      if (auto* st = self(user).find(frame->hd.stream_id); st && !st->request_done && !st->ws) {
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
      }
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user) {
    self(user).stream_closed(stream_id);
    return 0;
  }

  static ssize_t read_data(nghttp2_session*, std::int32_t, std::uint8_t*, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* st = static_cast<h2_session::stream*>(source->ptr);
    auto available = st->out.bytes();
    if (available == 0 && !st->eof) {
      st->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    auto n = std::min(length, available);
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == available && st->eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return static_cast<ssize_t>(n);
  }

  static int send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd,
                       std::size_t length, nghttp2_data_source* source, void* user) {
    auto& s = self(user);
    auto* st = static_cast<h2_session::stream*>(source->ptr);
    s.pending_.append(reinterpret_cast<const char*>(framehd), 9);
    if (frame->data.padlen > 0) {
      s.pending_.push_back(static_cast<char>(frame->data.padlen - 1));
    }
    s.emit_pending();
    st->out.take_front(length, [&s](io::shared_bytes b) { s.conn_.send(std::move(b)); });
    if (frame->data.padlen > 1) {
      s.pending_.append(frame->data.padlen - 1, '\0');
    }
    if (st->sse || st->ws) {
      s.sent_.push_back(st->id);
    }
    return 0;
  }
};

h2_session::h2_session(io::connection& conn, loop_services& ctx, handoff& to)
    : conn_(conn), ctx_(ctx), to_(to), alive_(std::make_shared<bool>(true)) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, h2_callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, h2_callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, h2_callbacks::on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_callbacks::on_stream_close);
  nghttp2_session_callbacks_set_send_data_callback(cbs, h2_callbacks::send_data);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Streams beyond the limit are refused by the engine, not by us.
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  // Floods the engine answers itself with GOAWAY, written out so a library default cannot move
  // under us: SETTINGS entries per frame, CONTINUATION frames per header block, and streams reset
  // by the peer (rapid reset, CVE-2023-44487: a burst of 1,000, then 33 a second).
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_continuations(opt, 8);
  nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
  // Receive windows are given back by us (nghttp2_session_consume*), so a WebSocket stream's input
  // waits under its window while its session does not read (see ws_port::take).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  ctx_.counters.h2_sessions.add();
}

h2_session::~h2_session() {
  *alive_ = false;
  if (!finished_) {
    on_close();
  }
  nghttp2_session_del(session_);
  ctx_.counters.h2_sessions.sub();
}

void h2_session::start(std::string_view early) {
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, ctx_.shared.limits.h2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(ctx_.shared.limits.h2_max_header_list_size)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      // RFC 8441: a WebSocket may open as an extended CONNECT on a stream of this connection.
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  conn_.set_timer(ctx_.shared.limits.idle_timeout);
  if (!early.empty()) {
    receive(early);
  }
  if (!finished_) {
    conn_.request_flush();
    conn_.wait_readable();
  }
}

void h2_session::receive(std::string_view bytes) {
  if (finished_) {
    return;
  }
  auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                     bytes.size());
  if (rv < 0) {
    // Not HTTP/2 at all (a bad preface), or the engine gave up on the connection; whatever GOAWAY
    // it queued goes out first.
    ctx_.counters.bad_requests.add();
    if (rv != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
      nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
      produce();
    }
    finished_ = true;
    conn_.close_after_flush();
    return;
  }
  run_readable();
  conn_.request_flush();
}

void h2_session::run_readable() {
  while (!readable_.empty() && !finished_) {
    auto ids = std::move(readable_);
    readable_.clear();
    for (auto id : ids) {
      if (auto* st = find(id); st && st->ws) {
        st->ws->run();
      }
    }
  }
}

void h2_session::on_readable() {
  if (finished_) {
    return;
  }
  char buf[read_chunk];  // on the stack: an idle h2 connection keeps no read buffer
  boost::system::error_code ec;
  for (int reads = 0; reads < 8 && !finished_; ++reads) {
    auto n = conn_.read_some(buf, sizeof buf, ec);
    if (ec == boost::asio::error::would_block) {
      ec = {};
      break;
    }
    if (ec) {
      break;
    }
    receive(std::string_view(buf, n));
  }
  if (finished_) {
    return;
  }
  if (ec) {
    finished_ = true;
    conn_.close();
    return;
  }
  check_done();
  if (!finished_) {
    conn_.wait_readable();
  }
}

h2_session::stream_list::iterator h2_session::stream_at(std::int32_t id) {
  return std::lower_bound(streams_.begin(), streams_.end(), id,
                          [](const auto& entry, std::int32_t key) { return entry.first < key; });
}

h2_session::stream* h2_session::find(std::int32_t id) {
  auto it = stream_at(id);
  return it == streams_.end() || it->first != id ? nullptr : it->second.get();
}

void h2_session::add_stream(std::unique_ptr<stream> st) {
  auto id = st->id;
  // nghttp2 accepts a new stream only above the ids it has seen, so this is an append.
  streams_.insert(stream_at(id), {id, std::move(st)});
}

void h2_session::stream_opened() {
  if (streams_.size() == 1) {
    next_heartbeat_ =
        conn_.owner().now() + to_.sse.settings.heartbeat - std::chrono::milliseconds(50);
    conn_.set_beat(tick());
  }
}

std::chrono::milliseconds h2_session::tick() const {
  // Heartbeats, and incomplete requests timed out within two ticks.
  return std::min<std::chrono::milliseconds>(to_.sse.settings.heartbeat,
                                             ctx_.shared.limits.header_timeout);
}

void h2_session::stream_closed(std::int32_t id) {
  auto it = stream_at(id);
  if (it == streams_.end() || it->first != id) {
    return;
  }
  auto st = std::move(it->second);
  streams_.erase(it);
  if (st->sse) {
    st->sse->on_close();
    uncount_sse(*st);
  }
  if (st->ws) {
    st->ws->gone();
  }
  if (streams_.empty() && !finished_) {
    conn_.set_timer(ctx_.shared.limits.idle_timeout);
  }
}

void h2_session::on_request_head(stream& st) {
  if (st.headers_too_large) {
    refuse_header_list(st, true);
    return;
  }
  // An extended CONNECT is routed as the GET it stands for; only the WebSocket endpoint takes it.
  bool extended_connect = st.req->method == "CONNECT" && !st.req->protocol.empty();
  auto routed = route_request(extended_connect ? std::string_view("GET") : st.req->method,
                              st.req->path, st.req->headers, ctx_);
  if (auto* answer = std::get_if<response>(&routed)) {
    respond(st, std::move(*answer));
    return;
  }
  st.req->where = std::move(std::get<route>(routed));
  if (extended_connect && st.req->where.endpoint != endpoint::websocket) {
    ctx_.counters.bad_requests.add();
    auto r = response::error(errc::method_not_allowed);
    r.headers.emplace_back("Allow", std::string(allowed_methods(st.req->where.endpoint)));
    respond(st, std::move(r));
    return;
  }
  auto url = boost::urls::parse_origin_form(st.req->path);
  if (!is_public(st.req->where.endpoint)) {
    auto now = authenticate(st.req->headers, *url, conn_.peer().address(), ctx_,
                            [this, alive = std::weak_ptr<bool>(alive_), id = st.id](verdict v) {
                              if (!alive.lock()) {
                                return;
                              }
                              if (auto* s = find(id)) {
                                on_authenticated(*s, std::move(v));
                                conn_.request_flush();  // this comes after the turn that read it
                              }
                            });
    if (!now) {
      // Whatever body arrives meanwhile is kept, bounded by the largest any endpoint takes.
      st.authenticating = true;
      st.req->body_limit =
          std::max(ctx_.shared.limits.max_request_bytes, ctx_.shared.messages.max_message_bytes);
      return;
    }
    if (auto* refused = std::get_if<response>(&*now)) {
      respond(st, std::move(*refused));
      return;
    }
    st.req->who = std::move(std::get<caller>(*now));
  }
  after_authentication(st, *url);
}

void h2_session::on_authenticated(stream& st, verdict v) {
  st.authenticating = false;
  if (st.responded) {
    return;  // timed out (408) or answered meanwhile
  }
  if (auto* refused = std::get_if<response>(&v)) {
    respond(st, std::move(*refused));
    return;
  }
  st.req->who = std::move(std::get<caller>(v));
  auto url = boost::urls::parse_origin_form(st.req->path);
  after_authentication(st, *url);
  if (st.responded || st.sse || st.ws) {
    return;
  }
  if (st.req->publisher && !st.req->body.empty()) {
    auto early = std::move(st.req->body);
    st.req->body = {};
    on_body(st, early);
  }
  if (st.request_done && !st.responded) {
    on_request_complete(st);
  }
}

void h2_session::after_authentication(stream& st, boost::urls::url_view url) {
  if (is_admin(st.req->where.endpoint)) {
    if (auto refused =
            refuse_admin(st.req->where.endpoint, st.req->headers, st.req->who->who, ctx_)) {
      respond(st, std::move(*refused));
      return;
    }
  }
  if (st.req->where.endpoint == endpoint::events ||
      st.req->where.endpoint == endpoint::admin_stats) {
    open_events(st, url);
    return;
  }
  if (st.req->where.endpoint == endpoint::websocket) {
    open_websocket(st);
    return;
  }
  st.req->body_limit = body_limit(st.req->where.endpoint, ctx_.shared.limits, ctx_.shared.messages);
  if (st.req->body.size() > st.req->body_limit) {
    fail(st, errc::payload_too_large);  // what arrived while a ticket was redeemed
    return;
  }
  if (auto length = st.req->headers.find(bhttp::field::content_length);
      length != st.req->headers.end()) {
    std::uint64_t declared = 0;
    auto v = std::string_view(length->value());
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), declared);
    if (ec == std::errc{} && declared > st.req->body_limit) {
      fail(st, errc::payload_too_large);
      return;
    }
  }
  if (st.req->where.endpoint == endpoint::topic_stream) {
    begin_streaming(st, url);
  }
}

void h2_session::begin_streaming(stream& st, boost::urls::url_view url) {
  if (auto refused = refuse_stream_publish(st.req->where.topic, st.req->who->who, ctx_)) {
    respond(st, std::move(*refused));
    return;
  }
  api::request req{
      "POST", url, st.req->headers, {}, st.req->where.topic, st.req->who->who, st.req->who->client};
  st.req->publisher = std::make_unique<api::stream_publisher>(
      st.req->where.topic, req.query_flag("retain"), st.req->who->who.grants.subject,
      st.req->who->client, ctx_);
}

void h2_session::on_body(stream& st, std::string_view bytes) {
  if (st.responded || st.publish_finished) {
    return;  // answered early (413, 404…): the rest is read and dropped, flow control refills
  }
  if (st.req->publisher) {
    // Each DATA frame is published as it arrives; the body is never accumulated.
    if (st.req->publisher->feed(bytes) != errc::ok) {
      finish_publisher(st);
    }
    return;
  }
  if (st.req->body.size() + bytes.size() > st.req->body_limit) {
    fail(st, errc::payload_too_large);
    return;
  }
  st.req->body.append(bytes);
}

void h2_session::finish_publisher(stream& st) {
  st.req->publisher->finish([this, alive = std::weak_ptr<bool>(alive_), id = st.id](response r) {
    if (!alive.lock()) {
      return;
    }
    if (auto* s = find(id)) {
      respond(*s, std::move(r));
      conn_.request_flush();  // the answer may come after this turn (an asynchronous broker)
    }
  });
  st.req->publisher.reset();
  st.publish_finished = true;
}

void h2_session::on_request_complete(stream& st) {
  if (st.ws) {
    st.ws->input_ended();
    return;
  }
  if (st.responded || st.publish_finished || st.authenticating) {
    return;  // an authenticating request is completed by on_authenticated
  }
  if (st.req->publisher) {
    finish_publisher(st);
    return;
  }
  auto url = boost::urls::parse_origin_form(st.req->path);
  static const auth::identity nobody{{}, true, false};
  static const std::string no_client;
  api::request request{st.req->method,
                       *url,
                       st.req->headers,
                       st.req->body,
                       st.req->where.topic,
                       st.req->who ? st.req->who->who : nobody,
                       st.req->who ? st.req->who->client : no_client};
  serve(st.req->where.endpoint, request, ctx_,
        [this, alive = std::weak_ptr<bool>(alive_), id = st.id](response r) {
          if (!alive.lock()) {
            return;
          }
          if (auto* s = find(id)) {
            respond(*s, std::move(r));
            conn_.request_flush();  // the answer may come after this turn (an asynchronous broker)
          }
        });
}

void h2_session::open_events(stream& st, boost::urls::url_view url) {
  auto checked = st.req->where.endpoint == endpoint::admin_stats
                     ? check_admin_stats(ctx_)
                     : check_events(st.req->headers, url, st.req->who->who, ctx_);
  if (auto* refused = std::get_if<response>(&checked)) {
    respond(st, std::move(*refused));
    return;
  }
  auto& events = std::get<events_request>(checked);
  st.responded = true;
  submit_headers(st, 200, events_headers(st.req->headers, ctx_), true);
  ctx_.counters.response(200);
  st.sse = std::make_unique<sse_port>(st, to_.sse);
  st.sse->set_origin(st.req->who ? std::string_view(st.req->who->who.grants.subject)
                                 : std::string_view());
  // What only the request needed is dropped (`url` and `events` hold nothing of it): an SSE
  // stream lives long and most are idle.
  st.req.reset();
  ctx_.counters.sse_h2_streams.add();
  st.sse_counted = true;
  st.sse->start(std::move(events.topics), events.from);
  if (draining_) {
    st.sse->on_drain();
  }
}

void h2_session::open_websocket(stream& st) {
  // The HTTP/1.1 upgrade's checks, in the same order, with the same statuses: the route, the
  // credentials (above), draining, then the handshake itself.
  if (ctx_.shared.is_draining()) {
    fail(st, errc::unavailable, "draining");
    return;
  }
  auto verdict = ws::check_connect(st.req->method, st.req->protocol, st.req->headers);
  std::shared_ptr<void> lease;
  if (verdict.status == 200 && ctx_.shared.admit_websocket) {
    // A WebSocket counts against the connection limits whichever way it came: over HTTP/1.1 it has
    // a connection of its own, here it takes a place for its stream, answered as an accept is.
    lease = ctx_.shared.admit_websocket(conn_.peer().address());
    if (!lease) {
      fail(st, errc::rate_limited, "too many connections");
      return;
    }
  }
  if (verdict.status != 200) {
    ctx_.counters.bad_requests.add();
    auto r = response::json(verdict.status, ws::refusal_body(verdict));
    if (verdict.status == 426) {
      r.headers.emplace_back("Sec-WebSocket-Version", "13");
    }
    respond(st, std::move(r));
    return;
  }
  st.responded = true;
  submit_headers(st, 200, {{"sec-websocket-protocol", std::string(ws::subprotocol)}}, true);
  ctx_.counters.response(200);
  static const auth::identity nobody{{}, true, false};
  auto who = st.req->who ? std::move(st.req->who->who) : nobody;
  // What only the request needed is dropped: a WebSocket lives long and most are idle.
  st.req.reset();
  st.ws = std::make_unique<ws_port>(*this, st);
  st.ws->lease = std::move(lease);
  ctx_.counters.ws_h2_streams.add();
  st.ws->session = std::make_unique<ws::session>(*st.ws, to_.ws, std::string(), std::move(who));
  st.ws->session->start();
}

void h2_session::refuse_header_list(stream& st, bool answer) {
  if (answer) {
    fail(st, errc::headers_too_large);
  } else {
    ctx_.counters.bad_requests.add();
  }
  // A client whose cookies grew too large sends every request too large, and a few refusals tell
  // it; more are a peer making us decode for nothing.
  if (++header_refusals_ > max_header_refusals) {
    nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

void h2_session::fail(stream& st, errc e, std::string_view detail) {
  ctx_.counters.bad_requests.add();
  respond(st, response::error(e, detail));
}

void h2_session::respond(stream& st, response r) {
  if (st.responded) {
    return;
  }
  st.responded = true;
  if (st.req->method != "OPTIONS") {  // a preflight answer carries its CORS headers already
    for (auto& h :
         ctx_.shared.cors.headers_for(header_value(st.req->headers, bhttp::field::origin))) {
      r.headers.push_back(std::move(h));
    }
  }
  if (!r.content_type.empty()) {
    r.headers.emplace_back("Content-Type", r.content_type);
  }
  if (r.status != 304) {  // a 304 has no body, and a length would have to be the 200's
    r.headers.emplace_back("Content-Length", std::to_string(r.body.size()));
  }
  bool has_body = !r.body.empty() && st.req->method != "HEAD";
  if (io::access_log_wanted(r.status >= 400)) {
    io::log_request(
        {"h2", st.req->method, st.req->path, r.status, has_body ? r.body.size() : 0,
         std::chrono::duration<double>(std::chrono::steady_clock::now() - st.req->opened).count(),
         io::endpoint_text(conn_.peer()),
         st.req->who ? std::string_view(st.req->who->who.grants.subject) : std::string_view()});
  }
  if (has_body) {
    st.out.push(io::shared_bytes::from_string(std::move(r.body)));
  }
  st.eof = true;
  submit_headers(st, r.status, r.headers, has_body);
  ctx_.counters.response(r.status);
  st.req->body = {};
  st.req->publisher.reset();
  conn_.request_flush();
}

void h2_session::submit_headers(stream& st, unsigned status,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                bool has_body) {
  auto status_text = std::to_string(status);
  std::vector<std::string> names;
  names.reserve(headers.size());
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size() + 1);
  auto add = [&nva](std::string_view n, std::string_view v) {
    nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                   reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                   NGHTTP2_NV_FLAG_NONE});
  };
  add(":status", status_text);
  for (const auto& [name, value] : headers) {
    names.push_back(lowercase(name));  // HTTP/2 field names are lowercase (RFC 9113 8.2.1)
    if (!is_connection_specific(names.back())) {
      add(names.back(), value);
    }
  }
  // nva points into `names`, which no longer reallocates; nghttp2 copies what it is given.
  nghttp2_data_provider provider{};
  provider.source.ptr = &st;
  provider.read_callback = h2_callbacks::read_data;
  nghttp2_submit_response(session_, st.id, nva.data(), nva.size(), has_body ? &provider : nullptr);
}

void h2_session::wake(stream& st) {
  if (st.deferred) {
    st.deferred = false;
    nghttp2_session_resume_data(session_, st.id);
  }
  conn_.request_flush();
}

void h2_session::on_flush() {
  produce();
}

void h2_session::produce() {
  if (producing_ || !session_) {
    return;
  }
  producing_ = true;
  // Bounded: each round either takes a frame out or lets streams refill after their DATA left.
  for (int round = 0; round < 4096 && conn_.queued_bytes() < connection_high_water; ++round) {
    const std::uint8_t* data = nullptr;
    auto n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      producing_ = false;
      finished_ = true;
      conn_.close();
      return;
    }
    if (n > 0) {
      pending_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      continue;
    }
    if (sent_.empty()) {
      break;
    }
    // Streams whose bytes left may queue more from their backlog (paced replay).
    auto sent = std::move(sent_);
    sent_.clear();
    for (auto id : sent) {
      if (auto* st = find(id); st && st->sse) {
        st->sse->on_sent();
      } else if (st && st->ws) {
        st->ws->sent();
      }
    }
  }
  emit_pending();
  producing_ = false;
  check_done();
}

void h2_session::emit_pending() {
  if (!pending_.empty()) {
    conn_.send(io::shared_bytes::from_string(std::move(pending_)));
    pending_.clear();
  }
}

void h2_session::on_sent() {
  if (!finished_ && nghttp2_session_want_write(session_)) {
    conn_.request_flush();
  }
}

void h2_session::check_done() {
  if (finished_ || producing_) {
    return;
  }
  if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
    finished_ = true;
    conn_.close_after_flush();
  }
}

void h2_session::on_timer() {
  if (finished_) {
    return;
  }
  if (streams_.empty()) {
    // Idle: say so, then close once the GOAWAY is out.
    nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
    conn_.request_flush();
    return;
  }
  auto now = conn_.owner().now();
  bool beat = now >= next_heartbeat_;
  if (beat) {
    next_heartbeat_ = now + to_.sse.settings.heartbeat - std::chrono::milliseconds(50);
  }
  std::vector<std::int32_t> stale;
  for (auto& [id, st] : streams_) {
    if (st->sse) {
      if (beat) {
        st->sse->on_timer();
      }
    } else if (!st->responded && st->req && !st->req->publisher &&
               now - st->req->opened >= ctx_.shared.limits.header_timeout) {
      stale.push_back(id);  // incomplete after header_timeout: 408, as over h1
    }
  }
  for (auto id : stale) {
    if (auto* st = find(id)) {
      fail(*st, errc::header_timeout);
    }
  }
  conn_.set_beat(tick());
}

void h2_session::uncount_sse(stream& st) {
  if (st.sse_counted) {
    st.sse_counted = false;
    ctx_.counters.sse_h2_streams.sub();
  }
}

void h2_session::on_close() {
  finished_ = true;
  // Unsubscribe every SSE stream and WebSocket now: the engine's stream-close callbacks will not
  // run.
  for (auto& [id, st] : streams_) {
    if (st->sse) {
      st->sse->on_close();
      uncount_sse(*st);
    }
    if (st->ws) {
      st->ws->gone();
    }
  }
}

void h2_session::on_drain() {
  if (finished_ || draining_) {
    return;
  }
  draining_ = true;
  // Graceful GOAWAY: streams already open finish; SSE streams get a jittered retry: and end, so
  // their clients reconnect elsewhere without a storm.
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  // WebSockets close with 1012, as over HTTP/1.1.
  std::vector<std::int32_t> ws_streams;
  for (auto& [id, st] : streams_) {
    if (st->sse) {
      st->sse->on_drain();
    } else if (st->ws) {
      ws_streams.push_back(id);
    }
  }
  for (auto id : ws_streams) {
    if (auto* st = find(id); st && st->ws) {
      st->ws->drain();
    }
  }
  conn_.request_flush();
}

}  // namespace sb::http
