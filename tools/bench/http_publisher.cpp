// HTTP publisher transport: keep-alive POSTs of the target's body template, pipelined; each
// response (2xx or not) is one answer to the workload.
#include "clock.hpp"
#include "engine.hpp"
#include "transports.hpp"

namespace bench::http_publisher {

namespace {

struct response_handler {
  epoll_engine& e;
  client_conn& c;
  bool close_after = false;
  bool on_head(const response_head& h) {
    c.status = h.status;
    if (h.status < 200 || h.status > 299)
      e.note_error("publish: HTTP " + std::to_string(h.status) + ": " +
                   h.raw.substr(0, h.raw.find("\r\n")));
    if (h.close)
      close_after = true;
    return true;
  }
  void on_body(std::string_view) {}
  void on_complete() {
    if (c.outstanding)
      --c.outstanding;
    e.listener().on_answer(c, c.status >= 200 && c.status <= 299);
  }
};

}  // namespace

void on_connected(epoll_engine& e, client_conn& c) {
  c.reader = std::make_unique<response_reader>();
  e.became_ready(c);
  e.flush(c);
}

void on_bytes(epoll_engine& e, client_conn& c, char* p, size_t n) {
  response_handler h{e, c};
  if (!c.reader->feed(std::string_view(p, n), h)) {
    e.note_error("publish: " + c.reader->error());
    e.mark_dead(c);
  } else if (h.close_after && c.outstanding == 0) {
    e.reconnect(c);
  }
}

void publish(epoll_engine& e, client_conn& c, std::string_view data) {
  const bench_target& t = e.options().target;
  body_template body =
      split_body(t.pub_body, c.topic, t.pub_content_type.find("json") != std::string::npos);
  std::string b;
  body.append(b, data);
  c.out += "POST ";
  c.out += c.target;
  c.out += " HTTP/1.1\r\nHost: ";
  c.out += c.host;
  c.out += "\r\nContent-Type: ";
  c.out += t.pub_content_type;
  c.out += "\r\nUser-Agent: switchboard-bench\r\nContent-Length: ";
  c.out += std::to_string(b.size());
  c.out += "\r\n\r\n";
  c.out += b;
  ++c.outstanding;
}

}  // namespace bench::http_publisher
