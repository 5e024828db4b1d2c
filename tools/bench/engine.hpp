// The generator's engine: one thread, one epoll instance, non-blocking sockets, thousands of
// connections. It opens connections (spread over source addresses 127.0.0.2, 127.0.0.3, ... with
// IP_BIND_ADDRESS_NO_PORT so ephemeral ports never run out), writes what a transport queued, reads
// into one shared buffer and hands the bytes to the connection's transport (sse_client,
// sse_h2_client, ws_client, http_publisher), which reports to the workload through engine_listener.
// It knows no protocol; it counts subscribers, which are connections, or HTTP/2 streams
// (stream_sub).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapters.hpp"
#include "h2_sse.hpp"
#include "http_response.hpp"
#include "options.hpp"
#include "sse_parser.hpp"
#include "ws_codec.hpp"

namespace bench {

// sse_h2 is one TCP connection carrying client_conn::subs.size() subscribers, one HTTP/2 stream
// each.
enum class conn_kind : uint8_t { sse, ws, http_pub, sse_h2 };
enum class conn_phase : uint8_t { idle, connecting, handshake, subscribing, ready, dead };

// One subscriber multiplexed on a connection (an HTTP/2 stream): what the workload counts for it.
struct stream_sub {
  uint32_t client = 0;
  bool ready = false;
  uint64_t received = 0;
  std::vector<uint8_t> seen;  // --verify: message numbers received
};

// One client connection. `client` and `topic` are the workload's; the rest is the engine's and
// the transport's state. An sse or ws connection is one subscriber (or a publisher); an sse_h2
// connection is none itself and carries `subs`.
struct client_conn {
  client_conn(conn_kind k, uint32_t i) : kind(k), index(i) {}
  conn_kind kind;
  conn_phase phase = conn_phase::idle;
  bool publisher = false;   // counted among publishers, not subscribers
  bool track_acks = false;  // ws: publishes carry a ref and are answered
  bool track_id = false;    // sse: keep last_id and send it as Last-Event-ID on a reopen
  uint32_t index;
  uint32_t gen = 0;  // bumped on every (re)open so that stale epoll events are recognised
  int fd = -1;
  uint32_t mask = 0;
  int attempts = 0;
  int status = 0;  // http: status of the response being read
  uint32_t client = 0;
  std::string topic;
  std::string target;        // request target, "{topic}" substituted
  std::string host;          // Host header
  uint64_t outstanding = 0;  // publishes not yet answered
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t next_due = 0;
  uint64_t phase_ns = 0;
  size_t out_off = 0;
  std::string out;
  std::string in;                           // bytes not yet parsed (partial head or frame)
  std::string key;                          // Sec-WebSocket-Key during the handshake
  std::string last_id;                      // sse with track_id: the last event id received
  std::unique_ptr<response_reader> reader;  // sse, http_pub
  std::unique_ptr<sse_stream_parser> sse;
  std::unique_ptr<ws_frame_parser> frames;
  std::vector<uint8_t> seen;                              // --verify: message numbers received
  std::vector<stream_sub> subs;                           // sse_h2: one per stream, in stream order
  std::unique_ptr<h2_sse_session::event_sink> h2_events;  // sse_h2: outlives h2
  std::unique_ptr<h2_sse_session> h2;
};

// What a workload hears from the transports.
class engine_listener {
 public:
  virtual ~engine_listener() = default;
  // The connection can be used: SSE 200 head, WebSocket subscribed (or open, for publishers and
  // raw-style targets), HTTP publisher connected.
  virtual void on_ready(client_conn& c) = 0;
  // One delivered message's data, at epoll_engine::read_now().
  virtual void on_data(client_conn& c, std::string_view data) = 0;
  // The same for one subscriber stream `s` of a multiplexed connection c.
  virtual void on_stream_data(client_conn& c, stream_sub& s, std::string_view data) = 0;
  // A publish was answered (HTTP 2xx / WebSocket ack: ok) or refused.
  virtual void on_answer(client_conn& c, bool ok) = 0;
  // A subscriber connection was closed or failed (not by the engine stopping): c.phase said which
  // before (ready: it was closed); the workload may reopen() it once this returns.
  virtual void on_closed(client_conn&) {}
};

// A server address and the parts of its URL template every request needs.
struct server_endpoint {
  sockaddr_in addr{};
  std::string host_header;
  std::string tmpl;  // the URL template, to derive each connection's target
};

class epoll_engine {
 public:
  epoll_engine(const run_options& o, engine_listener& l);
  ~epoll_engine();
  epoll_engine(const epoll_engine&) = delete;
  epoll_engine& operator=(const epoll_engine&) = delete;

  // Raises the fd limit and creates the epoll instance; false (and error()) when it cannot.
  bool init(long fds_needed);
  // Resolves a URL template ("http://..." or "ws://...") into an endpoint.
  bool endpoint(const std::string& tmpl, server_endpoint& ep);

  // A new connection to ep for `topic`; opened when the connect queue reaches it.
  client_conn& add(conn_kind k, const server_endpoint& ep, std::string_view topic, uint32_t client,
                   bool publisher);
  // Opens every added connection, at most --connect-concurrency in flight, until all are ready or
  // failed or the deadline; returns the number of subscribers ready.
  long open_all(uint64_t deadline, const char* what);

  // Runs the loop until done() or the deadline. tick() runs every turn and returns when it next
  // wants to run (UINT64_MAX: no wish).
  bool loop_until(uint64_t deadline, const std::function<bool()>& done,
                  const std::function<uint64_t()>& tick = {});
  void settle(double seconds);

  // Writes what is queued in c.out; waits for EPOLLOUT when the socket is full.
  void flush(client_conn& c);
  // The connection is finished for good (counts it as failed or closed).
  void mark_dead(client_conn& c);
  // A ready publisher whose server closes after each answer (Connection: close) connects again.
  void reconnect(client_conn& c);
  // A dead subscriber connection opens again, to ep (which must outlive the engine).
  void reopen(client_conn& c, const server_endpoint& ep);
  void close_all();

  void note_error(const std::string& msg);
  void log(const char* f, ...) __attribute__((format(printf, 2, 3)));
  void set_progress(std::function<void()> p, double every_s);

  uint64_t read_now() const { return read_now_; }
  bool stopping() const { return stopping_; }
  void set_stopping() { stopping_ = true; }
  const run_options& options() const { return o_; }
  engine_listener& listener() { return l_; }
  xorshift_rng& rng() { return rng_; }
  std::vector<std::unique_ptr<client_conn>>& conns() { return conns_; }

  long subs_ready() const { return subs_ready_; }
  long subs_failed() const { return subs_failed_; }
  long subs_closed() const { return subs_closed_; }
  long pubs_ready() const { return pubs_ready_; }
  long in_flight() const { return in_flight_; }
  uint64_t errors() const { return errors_; }
  const std::string& first_error() const { return first_error_; }
  uint64_t start() const { return start_; }

  // Called by transports when a connection becomes ready (once per open). For sse_h2, once every
  // stream has answered; each stream counts itself with stream_ready / stream_ended.
  void became_ready(client_conn& c);
  // sse_h2: stream s of c answered 200 text/event-stream (one more subscriber ready).
  void stream_ready(client_conn& c, stream_sub& s);
  // sse_h2: stream s of c is over: a ready one counts as closed, any other as failed.
  void stream_ended(client_conn& c, stream_sub& s, bool was_ready);

 private:
  void open(client_conn& c);
  void close_fd(client_conn& c);
  void fail_connect(client_conn& c, int err);
  void set_mask(client_conn& c, uint32_t mask);
  void on_event(uint64_t key, uint32_t events);
  void on_connected(client_conn& c);
  void on_readable(client_conn& c);
  void start_connects();
  uint64_t key(const client_conn& c) const {
    return (static_cast<uint64_t>(c.gen) << 32) | c.index;
  }

  const run_options& o_;
  engine_listener& l_;
  xorshift_rng rng_;
  int ep_ = -1;
  uint32_t src_base_ = 0;
  uint64_t src_assigned_ = 0;
  std::vector<char> rbuf_;
  std::vector<std::unique_ptr<client_conn>> conns_;
  std::vector<const server_endpoint*> eps_;  // per connection
  struct pending_retry {
    uint32_t index;
    uint64_t at;
  };
  std::vector<pending_retry> retry_;
  size_t next_open_ = 0;
  long in_flight_ = 0;
  long subs_ready_ = 0, subs_failed_ = 0, subs_closed_ = 0;
  long pubs_ready_ = 0;
  uint64_t errors_ = 0;
  std::string first_error_;
  uint64_t start_ = 0;
  uint64_t read_now_ = 0;
  bool stopping_ = false;
  std::function<void()> progress_;
  uint64_t progress_every_ = 0, progress_at_ = 0;
};

}  // namespace bench
