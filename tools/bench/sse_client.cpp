// SSE subscriber transport: one GET, the 200 head checked (text/event-stream), then the body
// (chunked or until close) parsed by the WHATWG event-stream rules; each event's data goes to the
// workload.
#include "clock.hpp"
#include "engine.hpp"
#include "transports.hpp"

namespace bench::sse_client {

namespace {

struct response_handler {
  epoll_engine& e;
  client_conn& c;
  bool ended = false;
  bool on_head(const response_head& h) {
    if (h.status != 200) {
      e.note_error("subscribe: HTTP " + std::to_string(h.status) + ": " +
                   h.raw.substr(0, h.raw.find("\r\n")));
      return false;
    }
    if (!icontains(h.content_type, "text/event-stream")) {
      e.note_error("subscribe: Content-Type is not text/event-stream: " + h.content_type);
      return false;
    }
    e.became_ready(c);
    return true;
  }
  void on_body(std::string_view b) {
    c.sse->feed(b, [this](const sse_event& ev) {
      if (c.track_id)
        c.last_id = ev.id;
      e.listener().on_data(c, ev.data);
    });
  }
  void on_complete() { ended = true; }
};

}  // namespace

void on_connected(epoll_engine& e, client_conn& c) {
  c.reader = std::make_unique<response_reader>();
  c.sse = std::make_unique<sse_stream_parser>();
  c.phase = conn_phase::handshake;
  c.out = "GET " + c.target + " HTTP/1.1\r\nHost: " + c.host +
          "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"
          "User-Agent: switchboard-bench\r\n";
  if (c.track_id && !c.last_id.empty())
    c.out += "Last-Event-ID: " + c.last_id + "\r\n";
  c.out += "\r\n";
  e.flush(c);
}

void on_bytes(epoll_engine& e, client_conn& c, char* p, size_t n) {
  response_handler h{e, c};
  if (!c.reader->feed(std::string_view(p, n), h)) {
    if (c.reader->error() != "aborted by handler")
      e.note_error("subscribe: " + c.reader->error());
    e.mark_dead(c);
  } else if (h.ended) {
    if (!e.stopping())
      e.note_error("subscriber stream ended by the server");
    e.mark_dead(c);
  }
}

}  // namespace bench::sse_client
