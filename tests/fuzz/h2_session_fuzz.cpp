// The HTTP/2 session glue with everything behind it real: bytes from a peer go through
// h2_session::receive (nghttp2 underneath), requests reach the API handlers, the broker and SSE
// streams, and frames come out through the connection's flush. The connection's socket is one end
// of a socketpair whose other end is drained, so no network is involved.
//
// Input: byte 0 picks the read size (how the bytes are split, as reads split them) and whether
// the client preface is put in front (most inputs: so the fuzzer explores frames, not magic).
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
#include "http/h2_session.hpp"
#include "http/publish_limiter.hpp"
#include "http/services.hpp"
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
    shared.limits.max_message_bytes = 4096;
    shared.limits.max_request_bytes = 16384;
    shared.limits.h2_max_concurrent_streams = 16;
    shared.limits.h2_max_header_list_size = 4096;
    shared.metrics_text = [] { return std::string("fuzz 1\n"); };
    services.emplace(http::loop_services{
        loop, *registry, counters, shared,
        ws::context{*registry, *broker, presence, counters, shared.ws, encode}});
  }

  void deliver(message_ptr m) override {
    boost::asio::post(loop.context(), [this, m = std::move(m)] { registry->dispatch(m); });
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
  std::size_t chunk = 1 + (data[0] & 0x3f) * 37;
  bool add_preface = (data[0] & 0x40) == 0;
  std::string input = add_preface ? std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") : std::string();
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    return 0;
  }
  io::connection::socket_type socket(w.loop.executor());
  boost::system::error_code ec;
  socket.assign(boost::asio::ip::tcp::v4(), fds[0], ec);
  auto conn = std::make_shared<io::connection>(w.loop, std::move(socket));
  auto session = std::make_unique<http::h2_session>(*conn, *w.services);
  auto* h2 = session.get();
  conn->start(std::move(session));
  h2->start({});
  for (std::size_t at = 0; at < input.size() && conn->is_open(); at += chunk) {
    h2->receive(std::string_view(input).substr(at, chunk));
    w.loop.context().poll();  // flush passes, deliveries, deferred closes
    w.loop.context().restart();
    drain(fds[1]);
  }
  conn->close();
  w.loop.context().poll();
  w.loop.context().restart();
  ::close(fds[1]);
  return 0;
}
