// WebSocket client transport: the RFC 6455 handshake (101 and Sec-WebSocket-Accept checked), then
// server frames parsed in place. In the switchboard.v1 dialect a subscriber sends
// {"op":"subscribe"} and is ready at its ack; deliveries are {"op":"message",...,"data":"..."}
// and publishes with a ref are answered by ack/error. In the raw dialect (nchan) the connection is
// subscribed by its URL, every text frame is one message's data, and publishes are not answered.
#include <sys/socket.h>

#include "clock.hpp"
#include "engine.hpp"
#include "transports.hpp"

namespace bench::ws_client {

namespace {

bool v1(const epoll_engine& e) {
  return e.options().target.ws_style == ws_flavor::switchboard_v1;
}

// The data string of a switchboard.v1 message. Boost.JSON writes no spaces between tokens and
// our payloads need no escapes, so a search is exact here; a payload with an escape is counted as
// foreign by the workload.
std::string_view message_data(std::string_view m) {
  size_t d = m.find("\"data\":\"");
  if (d == std::string_view::npos)
    return {};
  std::string_view rest = m.substr(d + 8);
  return rest.substr(0, rest.find('"'));
}

void on_message(epoll_engine& e, client_conn& c, std::string_view m) {
  if (!v1(e)) {
    if (c.phase == conn_phase::ready)
      e.listener().on_data(c, m);
    return;
  }
  if (m.find("\"op\":\"message\"") != std::string_view::npos) {
    e.listener().on_data(c, message_data(m));
    return;
  }
  bool ack = m.find("\"op\":\"ack\"") != std::string_view::npos;
  bool err = !ack && m.find("\"op\":\"error\"") != std::string_view::npos;
  if (c.phase == conn_phase::subscribing) {
    if (ack) {
      e.became_ready(c);
    } else if (err) {
      e.note_error("subscribe refused: " + std::string(m.substr(0, 200)));
      e.mark_dead(c);
    }
    return;
  }
  if (ack || err) {
    if (c.outstanding)
      --c.outstanding;
    if (err)
      e.note_error("publish refused: " + std::string(m.substr(0, 200)));
    e.listener().on_answer(c, ack);
  }
}

struct ws_frame_handler {
  epoll_engine& e;
  client_conn& c;
  bool closed = false;
  void on_message(ws_opcode, std::string_view m) { ws_client::on_message(e, c, m); }
  void on_control(ws_opcode op, std::string_view p) {
    if (op == op_ping) {
      bool idle = c.out_off == c.out.size();
      append_frame(c.out, op_pong, p, e.rng());
      if (idle)
        e.flush(c);
    } else if (op == op_close) {
      if (!e.stopping()) {
        unsigned code = p.size() >= 2 ? (static_cast<unsigned char>(p[0]) << 8) |
                                            static_cast<unsigned char>(p[1])
                                      : 1005;
        e.note_error(fmt("server closed a WebSocket: %u %.*s", code,
                         static_cast<int>(p.size() > 2 ? p.size() - 2 : 0),
                         p.size() > 2 ? p.data() + 2 : ""));
      }
      closed = true;
    }
  }
};

void parse_frames(epoll_engine& e, client_conn& c, char* p, size_t n) {
  ws_frame_handler h{e, c};
  bool pending = !c.in.empty();
  if (pending) {
    c.in.append(p, n);
    p = c.in.data();
    n = c.in.size();
  }
  uint32_t gen = c.gen;
  long used = c.frames->feed(p, n, h);
  if (c.phase == conn_phase::dead || c.gen != gen)
    return;
  if (used < 0) {
    e.note_error(std::string("bad frame from the server: ") + c.frames->error());
    e.mark_dead(c);
    return;
  }
  if (h.closed) {
    std::string f;
    append_frame(f, op_close, std::string_view("\x03\xe8", 2), e.rng());
    ::send(c.fd, f.data(), f.size(), MSG_NOSIGNAL);
    e.mark_dead(c);
    return;
  }
  auto u = static_cast<size_t>(used);
  if (pending)
    c.in.erase(0, u);
  else if (u < n)
    c.in.assign(p + u, n - u);
}

void on_handshake_bytes(epoll_engine& e, client_conn& c, char* p, size_t n) {
  size_t before = c.in.size();
  c.in.append(p, n);
  size_t end = c.in.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
  if (end == std::string::npos) {
    if (c.in.size() > 16384) {
      e.note_error("handshake: response head too large");
      e.mark_dead(c);
    }
    return;
  }
  std::string rest = c.in.substr(end + 4);
  std::string bad = check_handshake(std::string_view(c.in).substr(0, end + 4), c.key,
                                    e.options().target.ws_protocol);
  c.in.clear();
  if (!bad.empty()) {
    e.note_error(bad);
    e.mark_dead(c);
    return;
  }
  std::string().swap(c.key);
  if (v1(e) && !c.publisher) {
    c.phase = conn_phase::subscribing;
    bool idle = c.out_off == c.out.size();
    append_frame(c.out, op_text, "{\"op\":\"subscribe\",\"topic\":\"" + c.topic + "\",\"ref\":1}",
                 e.rng());
    if (idle)
      e.flush(c);
  } else {
    e.became_ready(c);
  }
  if (!rest.empty() && c.fd >= 0)
    parse_frames(e, c, rest.data(), rest.size());
}

}  // namespace

void on_connected(epoll_engine& e, client_conn& c) {
  c.phase = conn_phase::handshake;
  c.frames = std::make_unique<ws_frame_parser>();
  c.key = make_key(e.rng());
  c.out = handshake_request(c.target, c.host, c.key, e.options().target.ws_protocol);
  e.flush(c);
}

void on_bytes(epoll_engine& e, client_conn& c, char* p, size_t n) {
  if (c.phase == conn_phase::handshake)
    on_handshake_bytes(e, c, p, n);
  else
    parse_frames(e, c, p, n);
}

void publish(epoll_engine& e, client_conn& c, std::string_view data, bool is_volatile) {
  if (!v1(e)) {
    append_frame(c.out, op_text, data, e.rng());
    return;
  }
  std::string j;
  j.reserve(data.size() + c.topic.size() + 64);
  j += "{\"op\":\"publish\",\"topic\":\"";
  j += c.topic;
  j += "\",\"data\":\"";
  j += data;
  j += '"';
  if (is_volatile) {
    j += ",\"volatile\":true";
  }
  if (c.track_acks) {
    j += ",\"ref\":";
    j += std::to_string(c.sent + 2);
    ++c.outstanding;
  }
  j += '}';
  append_frame(c.out, op_text, j, e.rng());
}

}  // namespace bench::ws_client
