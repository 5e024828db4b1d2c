#pragma once
// A whole server stack in one process, for fuzz targets and session tests: one loop, the memory
// broker, auth with one API key ("fuzz-key", anonymous access allowed) and the HTTP services,
// wired as src/server/app.cpp wires them, with the bounds a caller chooses (small ones let short
// inputs reach every limit). Deliveries are posted to the loop; run() turns it until it is idle.
// Sessions are started on connections made from one end of a socketpair.
#include <sys/socket.h>
#include <unistd.h>

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
#include "http/handoff.hpp"
#include "http/publish_limiter.hpp"
#include "http/services.hpp"
#include "io/connection.hpp"
#include "io/loop.hpp"
#include "server/config.hpp"
#include "sse/encoder.hpp"
#include "ws/protocol.hpp"

namespace sb::testing {

struct in_process_server final : delivery_sink {
  /// `tune` sets the bounds (the server's own config structs) before anything is wired.
  explicit in_process_server(const std::function<void(server::config&)>& tune)
      : loop(0, std::chrono::milliseconds(10)) {
    tune(config);
    message_encoder encode = [](message& m) {
      sse::encode_message(m);
      ws::encode_message(m);
    };
    std::vector<delivery_sink*> sinks{this};
    broker.emplace(config.history, encode, sinks, [] { return std::int64_t{1700000000000}; });
    std::string error;
    auth = *auth::authority::create(
        auth::authority_config{{}, {}, {}, {}, {"fuzz-key"}, true, true}, error);
    limiter.emplace(http::publish_rate{1e9, 1e9});
    registry.emplace(*broker, 0);
    shared.emplace(http::services{.limits = config.http, .messages = config.messages});
    shared->hub = &*broker;
    shared->presence = &presence;
    shared->auth = auth.get();
    shared->publish_limits = &*limiter;
    shared->metrics_text = [] { return std::string("fuzz 1\n"); };
    services.emplace(http::loop_services{loop, counters, *shared});
    ws.emplace(ws::context{*registry, *broker, presence, counters, config.ws, config.messages,
                           config.subscribers, encode});
    handoff.emplace(http::handoff{*registry, sse::context{config.sse, config.subscribers}, *ws});
  }

  /// The defaults, with a short history (50 messages, 1 MiB per topic).
  static server::config small_history() {
    server::config c;
    c.history.max_messages = 50;
    c.history.max_bytes = 1 << 20;
    return c;
  }

  void deliver(message_ptr m) override {
    boost::asio::post(loop.context(), [this, m = std::move(m)] { registry->dispatch(m); });
  }

  /// A connection on this loop made from one end of a socketpair; `peer` is the other end (the
  /// caller closes it). Null when no socketpair could be made.
  std::shared_ptr<io::connection> connect(int& peer) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
      return nullptr;
    }
    io::connection::socket_type socket(loop.executor());
    boost::system::error_code ec;
    socket.assign(boost::asio::ip::tcp::v4(), fds[0], ec);
    peer = fds[1];
    return std::make_shared<io::connection>(loop, std::move(socket));
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
  io::loop loop;
  loop_counters counters;
  presence_registry presence;
  std::optional<memory_broker> broker;
  std::unique_ptr<auth::authority> auth;
  std::optional<http::publish_limiter> limiter;
  std::optional<topic_registry> registry;
  std::optional<http::services> shared;
  std::optional<http::loop_services> services;
  std::optional<ws::context> ws;
  std::optional<http::handoff> handoff;
};

}  // namespace sb::testing
