// SSE subscriber transport over HTTP/2 (h2c with prior knowledge): the glue between the engine's
// connection and the sans-I/O h2_sse_session. Each stream is one subscriber (client_conn::subs);
// the connection counts as ready once every stream has answered.
#include "engine.hpp"
#include "transports.hpp"

namespace bench::sse_h2_client {

namespace {

// nghttp2's callbacks run inside feed(): they count and report, never close the connection.
struct h2_glue final : h2_sse_session::event_sink {
  h2_glue(epoll_engine& en, client_conn& co) : e(en), c(co) {}
  epoll_engine& e;
  client_conn& c;
  size_t answered = 0;

  void answer() {
    if (++answered == c.subs.size() && c.phase != conn_phase::ready && c.phase != conn_phase::dead)
      e.became_ready(c);
  }
  void on_ready(uint32_t slot) override {
    e.stream_ready(c, c.subs[slot]);
    answer();
  }
  void on_event(uint32_t slot, std::string_view data) override {
    e.listener().on_stream_data(c, c.subs[slot], data);
  }
  void on_ended(uint32_t slot, bool was_ready, const std::string& why) override {
    if (!e.stopping())
      e.note_error("subscriber stream: " + why);
    e.stream_ended(c, c.subs[slot], was_ready);
    if (!was_ready)
      answer();
  }
};

void send_output(epoll_engine& e, client_conn& c) {
  if (!c.h2->take_output(c.out)) {
    e.note_error("subscribe: " + c.h2->error());
    e.mark_dead(c);
    return;
  }
  e.flush(c);
}

}  // namespace

void on_connected(epoll_engine& e, client_conn& c) {
  c.phase = conn_phase::handshake;
  c.h2.reset();
  c.h2_events = std::make_unique<h2_glue>(e, c);
  h2_sse_session::config cfg;
  c.h2 = std::make_unique<h2_sse_session>(*c.h2_events, cfg);
  std::vector<std::string> paths(c.subs.size(), c.target);
  if (!c.h2->start(c.host, paths)) {
    e.note_error("subscribe: " + c.h2->error());
    e.mark_dead(c);
    return;
  }
  send_output(e, c);
}

void on_bytes(epoll_engine& e, client_conn& c, char* p, size_t n) {
  if (!c.h2->feed(p, n)) {
    e.note_error("subscribe: " + c.h2->error());
    e.mark_dead(c);
    return;
  }
  send_output(e, c);  // after a fatal error, nghttp2's GOAWAY
  if (c.phase == conn_phase::dead)
    return;
  bool over = c.h2->finished();
  if (over && !e.stopping())
    e.note_error("subscribe: HTTP/2 session over (GOAWAY, or the server's bytes are not HTTP/2)");
  if (over || c.h2->streams_open() == 0)
    e.mark_dead(c);
}

void on_dead(epoll_engine& e, client_conn& c) {
  if (c.h2) {
    c.h2->close_all("connection closed");
  } else {
    for (stream_sub& s : c.subs)
      e.stream_ended(c, s, false);
  }
  c.h2.reset();
}

}  // namespace bench::sse_h2_client
