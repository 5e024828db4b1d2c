// The whole HTTP/1.1 byte stream through the real session, with everything behind it real: bytes
// a peer writes into one end of a socketpair are read by the connection, parsed by the session
// (heads, chunked bodies, extensions, trailers, pipelined requests), answered by the API
// handlers and the broker, or handed over to an SSE stream, a WebSocket session or HTTP/2, as the
// bytes ask. The bugs live between the parsers, where no single-parser target reaches.
//
// Input: byte 0 picks the write size (how the stream is split, as the network splits it),
// whether the peer half-closes at the end, and whether runs are expanded; the rest is the byte
// stream. With expansion, `F5 F5 k c` stands for byte c repeated k × 512 times, so that a small
// input can reach the size bounds (a 64 KiB trailer field, megabytes of chunk extensions).
// Seeds: tests/fuzz/corpus/http1_session/, dictionary: tests/fuzz/http1_session.dict.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "auth/authority.hpp"
#include "core/memory_broker.hpp"
#include "core/presence.hpp"
#include "core/topic_registry.hpp"
#include "http/publish_limiter.hpp"
#include "http/services.hpp"
#include "http/session.hpp"
#include "io/connection.hpp"
#include "io/loop.hpp"
#include "sse/encoder.hpp"
#include "ws/protocol.hpp"

namespace {

using namespace sb;

struct world final : delivery_sink {
  world() : loop(0, std::chrono::milliseconds(10)) {
    message_encoder encode = [](message& m) {
      sse::encode_message(m);
      ws::encode_message(m);
    };
    std::vector<delivery_sink*> sinks{this};
    broker.emplace(history_limits{50, 1 << 20, 3600 * 1000}, encode, sinks,
                   [] { return std::int64_t{1700000000000}; });
    std::string error;
    auth = *auth::authority::create(
        auth::authority_config{{}, {}, {}, {}, {"fuzz-key"}, true, true}, error);
    limiter.emplace(1e9, 1e9);
    registry.emplace(*broker, 0);
    shared.hub = &*broker;
    shared.presence = &presence;
    shared.auth = auth.get();
    shared.auth_cookie = "switchboard_token";
    shared.publish_limits = &*limiter;
    shared.encode = encode;
    // Small bounds, so that inputs of a few KiB reach every limit.
    shared.limits.max_message_bytes = 1024;
    shared.limits.max_request_bytes = 4096;
    shared.limits.max_header_bytes = 2048;
    shared.limits.h2_max_concurrent_streams = 16;
    shared.limits.h2_max_header_list_size = 2048;
    shared.metrics_text = [] { return std::string("fuzz 1\n"); };
    services.emplace(http::loop_services{
        loop, *registry, counters, shared,
        ws::context{*registry, *broker, presence, counters, shared.ws, encode}});
  }

  void deliver(message_ptr m) override {
    boost::asio::post(loop.context(), [this, m = std::move(m)] { registry->dispatch(m); });
  }

  void run() {
    loop.context().poll();  // readiness, flush passes, deliveries, deferred closes
    loop.context().restart();
  }

  io::loop loop;
  loop_counters counters;
  presence_registry presence;
  std::optional<memory_broker> broker;
  std::unique_ptr<auth::authority> auth;
  std::optional<http::publish_limiter> limiter;
  std::optional<topic_registry> registry;
  http::services shared;
  std::optional<http::loop_services> services;
};

std::string expand_runs(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (i + 3 < in.size() && in[i] == '\xf5' && in[i + 1] == '\xf5') {
      out.append(static_cast<std::uint8_t>(in[i + 2]) * std::size_t{512}, in[i + 3]);
      i += 3;
      continue;
    }
    out.push_back(in[i]);
  }
  return out;
}

void drain(int fd) {
  char sink[65536];
  while (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w;
  if (size == 0) {
    return 0;
  }
  std::size_t chunk = 1 + (data[0] & 0x3f) * 29;
  bool half_close = (data[0] & 0x40) != 0;
  std::string_view raw(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string expanded = (data[0] & 0x80) != 0 ? expand_runs(raw) : std::string();
  std::string_view input = (data[0] & 0x80) != 0 ? std::string_view(expanded) : raw;
  if ((data[0] & 0x80) != 0) {
    chunk *= 64;  // big streams in big writes, so that they are read to their end
  }

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    return 0;
  }
  io::connection::socket_type socket(w.loop.executor());
  boost::system::error_code ec;
  socket.assign(boost::asio::ip::tcp::v4(), fds[0], ec);
  auto conn = std::make_shared<io::connection>(w.loop, std::move(socket));
  auto session = std::make_unique<http::session>(*conn, *w.services);
  auto* h1 = session.get();
  conn->start(std::move(session));
  h1->start();
  std::size_t at = 0;
  // Bounded: a server that stops reading leaves the rest unsent, as a real peer would see it.
  for (int rounds = 0; at < input.size() && conn->is_open() && rounds < 4096; ++rounds) {
    auto piece = input.substr(at, chunk);
    auto n = ::send(fds[1], piece.data(), piece.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      at += static_cast<std::size_t>(n);
    }
    w.run();
    drain(fds[1]);
  }
  if (half_close) {
    ::shutdown(fds[1], SHUT_WR);
    w.run();
    drain(fds[1]);
  }
  conn->close();
  w.run();
  ::close(fds[1]);
  return 0;
}
