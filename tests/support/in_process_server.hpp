#pragma once
// A whole server stack in one process, for fuzz targets and session tests: one loop, the memory
// broker, auth with one API key ("fuzz-key", anonymous access allowed) and the HTTP services,
// wired as src/server/app.cpp wires them, with the bounds a caller chooses (small ones let short
// inputs reach every limit). Deliveries are posted to the loop; run() turns it until it is idle.
// Sessions are started on connections made from one end of a socketpair.
// The loop runs on a fake clock: its timing wheel turns only in advance(), which moves the clock.
// Settings in `config` (sse, ws, http, …) are read by reference, so a test may change them after
// construction, before it connects. With `defer`, every broker answer that reads history completes
// later on the loop (tests/support/deferred_broker.hpp), as a Redis broker would.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "auth/authority.hpp"
#include "core/memory_broker.hpp"
#include "core/presence.hpp"
#include "core/topic_registry.hpp"
#include "deferred_broker.hpp"
#include "fake_clock.hpp"
#include "http/handoff.hpp"
#include "http/publish_limiter.hpp"
#include "http/services.hpp"
#include "http/session.hpp"
#include "io/connection.hpp"
#include "io/loop.hpp"
#include "peer_socket.hpp"
#include "server/config.hpp"
#include "sse/encoder.hpp"
#include "ws/protocol.hpp"

namespace sb::testing {

struct in_process_server final : delivery_sink {
  /// `tune` sets the bounds (the server's own config structs) before anything is wired.
  explicit in_process_server(const std::function<void(server::config&)>& tune, bool defer = false)
      : loop(0, std::chrono::milliseconds(10), &clock) {
    loop.wheel().start();
    tune(config);
    message_encoder encode = [](message& m) {
      sse::encode_message(m);
      ws::encode_message(m);
    };
    std::vector<delivery_sink*> sinks{this};
    broker.emplace(config.history, encode, sinks, [] { return std::int64_t{1700000000000}; });
    std::string error;
    auth::authority_config who;
    who.api_keys = {"fuzz-key"};
    who.anonymous_subscribe = true;
    who.anonymous_publish = true;
    auth = *auth::authority::create(who, error);
    limiter.emplace(http::publish_rate{1e9, 1e9});
    sb::broker* hub = &*broker;
    if (defer) {
      deferred.emplace(*broker, loop.context());
      hub = &*deferred;
    }
    registry.emplace(*hub, 0);
    shared.emplace(http::services{.limits = config.http, .messages = config.messages});
    shared->hub = hub;
    shared->presence = &presence;
    shared->auth = auth.get();
    shared->draining = &draining;
    shared->publish_limits = &*limiter;
    shared->metrics_text = [] { return std::string("fuzz 1\n"); };
    services.emplace(http::loop_services{loop, counters, *shared});
    ws.emplace(ws::context{*registry, *hub, presence, counters, config.ws, config.messages,
                           config.subscribers, encode});
    handoff.emplace(http::handoff{
        *registry, sse::context{*registry, counters, config.sse, config.subscribers}, *ws});
  }

  /// The defaults, with a short history (50 messages, 1 MiB per topic).
  static server::config small_history() {
    server::config c;
    c.history.max_messages = 50;
    c.history.max_bytes = 1 << 20;
    return c;
  }

  /// Closes what is still open, so that no session outlives the registry it is subscribed to.
  ~in_process_server() {
    loop.for_each_connection([](io::connection& c) { c.close(); });
    run();
  }

  void deliver(message_ptr m) override {
    boost::asio::post(loop.context(), [this, m = std::move(m)] { registry->dispatch(m); });
  }

  /// A connection on this loop made from one end of a socketpair; `peer` is the other end (the
  /// caller closes it). Null when no socketpair could be made. `send_buffer` (bytes, 0: the
  /// system's) bounds what the kernel takes from the server before a peer that stopped reading
  /// makes bytes wait in the server's own queues.
  io::connection_ptr connect(int& peer, int send_buffer = 0) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
      return nullptr;
    }
    if (send_buffer > 0) {
      ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof send_buffer);
    }
    io::connection::socket_type socket(loop.executor());
    boost::system::error_code ec;
    socket.assign(boost::asio::ip::tcp::v4(), fds[0], ec);
    peer = fds[1];
    return io::connection::make(loop, std::move(socket));
  }

  /// A connection served as the listener serves an accepted one: an HTTP/1.1 session, which hands
  /// it to SSE, WebSocket or HTTP/2 as the bytes ask. `peer` gets the client's end.
  io::connection_ptr accept(peer_socket& peer, int send_buffer = 0) {
    int fd = -1;
    auto c = connect(fd, send_buffer);
    if (!c) {
      return nullptr;
    }
    peer = peer_socket(fd);
    auto session = std::make_unique<http::session>(*c, *services, *handoff);
    auto* raw = session.get();
    c->start(std::move(session));
    raw->start();
    run();
    return c;
  }

  /// Sends one HTTP/1.1 request on a connection of its own and gives back the whole answer.
  std::string request(std::string_view head_and_body) {
    peer_socket peer;
    accept(peer);
    peer.write(head_and_body);
    run();
    return peer.read();
  }

  /// Publishes `data` to `topic` with POST /v1/topics/{topic}?{query} over HTTP/1.1 and gives
  /// back the id it was given ("" when the answer was not a 201).
  std::string publish(std::string_view topic, std::string_view data, std::string_view query = {}) {
    std::string req = "POST /v1/topics/" + std::string(topic);
    if (!query.empty()) {
      req.append("?").append(query);
    }
    req.append(" HTTP/1.1\r\nHost: test\r\nContent-Length: ")
        .append(std::to_string(data.size()))
        .append("\r\nConnection: close\r\n\r\n")
        .append(data);
    auto answer = request(req);
    auto at = answer.find("\"id\":\"");
    if (answer.rfind("HTTP/1.1 201 ", 0) != 0 || at == std::string::npos) {
      return {};
    }
    at += 6;
    return answer.substr(at, answer.find('"', at) - at);
  }

  /// What server/app.cpp's presence ticker does once per presence_tick_ms: one coalesced diff
  /// per changed topic, broadcast to the topic's subscribers and members.
  void presence_tick() {
    for (auto& diff : presence.take_diffs()) {
      auto m = std::make_shared<message>();
      m->kind = message_kind::presence;
      m->topic = diff.topic;
      m->set_ws_frame(std::make_shared<const std::string>(ws::presence_diff_frame(diff)), true);
      broker->broadcast(std::move(m));
    }
    run();
  }

  /// What server/app.cpp does on SIGTERM, at once for every connection: readiness fails, new
  /// streams are refused, and every connection is told to say goodbye its protocol's way.
  void drain() {
    draining.store(true);
    loop.for_each_connection([](io::connection& c) {
      if (c.is_open() && c.handler()) {
        c.handler()->on_drain();
      }
    });
    run();
  }

  /// Moves the clock by `d`, one wheel tick at a time, running the loop after each tick, so what
  /// a timer starts (a close, a flush) happens before the next tick as it would in production.
  void advance(std::chrono::milliseconds d) {
    auto tick = loop.wheel().tick();
    for (auto left = d; left.count() > 0; left -= tick) {
      auto step = std::min(left, tick);
      clock.advance(step);
      loop.wheel().advance();
      run();
    }
  }

  /// Reads and drops what the server wrote to `peer`, so its writes never block.
  static void drain(int peer) {
    char sink[65536];
    while (::recv(peer, sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
  }

  /// Readiness, flush passes, deliveries and deferred closes, until nothing is ready.
  void run() {
    loop.context().poll();
    loop.context().restart();
  }

  server::config config = small_history();
  fake_clock clock;
  std::atomic<bool> draining{false};
  io::loop loop;
  loop_counters counters;
  presence_registry presence;
  std::optional<memory_broker> broker;
  std::optional<deferred_broker> deferred;  // in front of `broker` when asked for
  std::unique_ptr<auth::authority> auth;
  std::optional<http::publish_limiter> limiter;
  std::optional<topic_registry> registry;
  std::optional<http::services> shared;
  std::optional<http::loop_services> services;
  std::optional<ws::context> ws;
  std::optional<http::handoff> handoff;
};

}  // namespace sb::testing
