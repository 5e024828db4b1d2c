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

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "../support/in_process_server.hpp"
#include "http/session.hpp"
#include "io/connection.hpp"
#include "io/loop.hpp"

namespace {

using namespace sb;

using world = testing::in_process_server;

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w([](server::config& c) {
    // Small bounds, so that inputs of a few KiB reach every limit.
    c.messages.max_message_bytes = 1024;
    c.http.max_request_bytes = 4096;
    c.http.max_header_bytes = 2048;
    c.http.h2_max_concurrent_streams = 16;
    c.http.h2_max_header_list_size = 2048;
  });
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

  int peer = -1;
  auto conn = w.connect(peer);
  if (!conn) {
    return 0;
  }
  auto session = std::make_unique<http::session>(*conn, *w.services, *w.handoff);
  auto* h1 = session.get();
  conn->start(std::move(session));
  h1->start();
  std::size_t at = 0;
  // Bounded: a server that stops reading leaves the rest unsent, as a real peer would see it.
  for (int rounds = 0; at < input.size() && conn->is_open() && rounds < 4096; ++rounds) {
    auto piece = input.substr(at, chunk);
    auto n = ::send(peer, piece.data(), piece.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      at += static_cast<std::size_t>(n);
    }
    w.run();
    world::drain(peer);
  }
  if (half_close) {
    ::shutdown(peer, SHUT_WR);
    w.run();
    world::drain(peer);
  }
  conn->close();
  w.run();
  ::close(peer);
  return 0;
}
