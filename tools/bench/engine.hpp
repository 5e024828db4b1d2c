// The generator's engine: one thread, one epoll instance, non-blocking sockets, thousands of
// connections. It opens connections (spread over source addresses 127.0.0.2, 127.0.0.3, ... with
// IP_BIND_ADDRESS_NO_PORT so ephemeral ports never run out), writes what a transport queued, reads
// into one shared buffer and hands the bytes to the connection's transport (sse_client,
// sse_h2_client, ws_client, http_publisher), which reports to the workload through Listener. It
// knows no protocol; it counts subscribers, which are connections, or HTTP/2 streams (Sub).
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

// sse_h2 is one TCP connection carrying Conn::subs.size() subscribers, one HTTP/2 stream each.
enum class Kind : uint8_t { sse, ws, http_pub, sse_h2 };
enum class Phase : uint8_t { idle, connecting, handshake, subscribing, ready, dead };

// One subscriber multiplexed on a connection (an HTTP/2 stream): what the workload counts for it.
struct Sub {
  uint32_t client = 0;
  bool ready = false;
  uint64_t received = 0;
  std::vector<uint8_t> seen;  // --verify: message numbers received
};

// One client connection. `client` and `topic` are the workload's; the rest is the engine's and
// the transport's state. An sse or ws connection is one subscriber (or a publisher); an sse_h2
// connection is none itself and carries `subs`.
struct Conn {
  Conn(Kind k, uint32_t i) : kind(k), index(i) {}
  Kind kind;
  Phase phase = Phase::idle;
  bool publisher = false;   // counted among publishers, not subscribers
  bool track_acks = false;  // ws: publishes carry a ref and are answered
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
  std::string in;                          // bytes not yet parsed (partial head or frame)
  std::string key;                         // Sec-WebSocket-Key during the handshake
  std::unique_ptr<ResponseReader> reader;  // sse, http_pub
  std::unique_ptr<SseParser> sse;
  std::unique_ptr<FrameParser> frames;
  std::vector<uint8_t> seen;                        // --verify: message numbers received
  std::vector<Sub> subs;                            // sse_h2: one per stream, in stream order
  std::unique_ptr<H2SseSession::Events> h2_events;  // sse_h2: outlives h2
  std::unique_ptr<H2SseSession> h2;
};

// What a workload hears from the transports.
class Listener {
 public:
  virtual ~Listener() = default;
  // The connection can be used: SSE 200 head, WebSocket subscribed (or open, for publishers and
  // raw-style targets), HTTP publisher connected.
  virtual void on_ready(Conn& c) = 0;
  // One delivered message's data, at Engine::read_now().
  virtual void on_data(Conn& c, std::string_view data) = 0;
  // The same for one subscriber stream `s` of a multiplexed connection c.
  virtual void on_stream_data(Conn& c, Sub& s, std::string_view data) = 0;
  // A publish was answered (HTTP 2xx / WebSocket ack: ok) or refused.
  virtual void on_answer(Conn& c, bool ok) = 0;
};

// A server address and the parts of its URL template every request needs.
struct Endpoint {
  sockaddr_in addr{};
  std::string host_header;
  std::string tmpl;  // the URL template, to derive each connection's target
};

class Engine {
 public:
  Engine(const Options& o, Listener& l);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Raises the fd limit and creates the epoll instance; false (and error()) when it cannot.
  bool init(long fds_needed);
  // Resolves a URL template ("http://..." or "ws://...") into an endpoint.
  bool endpoint(const std::string& tmpl, Endpoint& ep);

  // A new connection to ep for `topic`; opened when the connect queue reaches it.
  Conn& add(Kind k, const Endpoint& ep, std::string_view topic, uint32_t client, bool publisher);
  // Opens every added connection, at most --connect-concurrency in flight, until all are ready or
  // failed or the deadline; returns the number of subscribers ready.
  long open_all(uint64_t deadline, const char* what);

  // Runs the loop until done() or the deadline. tick() runs every turn and returns when it next
  // wants to run (UINT64_MAX: no wish).
  bool loop_until(uint64_t deadline, const std::function<bool()>& done,
                  const std::function<uint64_t()>& tick = {});
  void settle(double seconds);

  // Writes what is queued in c.out; waits for EPOLLOUT when the socket is full.
  void flush(Conn& c);
  // The connection is finished for good (counts it as failed or closed).
  void mark_dead(Conn& c);
  // A ready publisher whose server closes after each answer (Connection: close) connects again.
  void reconnect(Conn& c);
  void close_all();

  void note_error(const std::string& msg);
  void log(const char* f, ...) __attribute__((format(printf, 2, 3)));
  void set_progress(std::function<void()> p, double every_s);

  uint64_t read_now() const { return read_now_; }
  bool stopping() const { return stopping_; }
  void set_stopping() { stopping_ = true; }
  const Options& options() const { return o_; }
  Listener& listener() { return l_; }
  Rng& rng() { return rng_; }
  std::vector<std::unique_ptr<Conn>>& conns() { return conns_; }

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
  void became_ready(Conn& c);
  // sse_h2: stream s of c answered 200 text/event-stream (one more subscriber ready).
  void stream_ready(Conn& c, Sub& s);
  // sse_h2: stream s of c is over: a ready one counts as closed, any other as failed.
  void stream_ended(Conn& c, Sub& s, bool was_ready);

 private:
  void open(Conn& c);
  void close_fd(Conn& c);
  void fail_connect(Conn& c, int err);
  void set_mask(Conn& c, uint32_t mask);
  void on_event(uint64_t key, uint32_t events);
  void on_connected(Conn& c);
  void on_readable(Conn& c);
  void start_connects();
  uint64_t key(const Conn& c) const { return (static_cast<uint64_t>(c.gen) << 32) | c.index; }

  const Options& o_;
  Listener& l_;
  Rng rng_;
  int ep_ = -1;
  uint32_t src_base_ = 0;
  uint64_t src_assigned_ = 0;
  std::vector<char> rbuf_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<const Endpoint*> eps_;  // per connection
  struct Retry {
    uint32_t index;
    uint64_t at;
  };
  std::vector<Retry> retry_;
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
