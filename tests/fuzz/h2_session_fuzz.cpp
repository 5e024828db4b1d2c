// The HTTP/2 session glue with everything behind it real: bytes from a peer go through
// h2_session::receive (nghttp2 underneath), requests reach the API handlers, the broker and SSE
// streams, and frames come out through the connection's flush. The connection's socket is one end
// of a socketpair whose other end is drained, so no network is involved.
//
// Input: byte 0 picks the read size (how the bytes are split, as reads split them) and whether
// the client preface is put in front (most inputs: so the fuzzer explores frames, not magic).
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "../support/in_process_server.hpp"
#include "http/h2_session.hpp"
#include "io/connection.hpp"
#include "io/loop.hpp"

namespace {

using namespace sb;

using world = testing::in_process_server;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w([](server::config& c) {
    c.messages.max_message_bytes = 4096;
    c.http.max_request_bytes = 16384;
    c.http.h2_max_concurrent_streams = 16;
    c.http.h2_max_header_list_size = 4096;
  });
  if (size == 0) {
    return 0;
  }
  std::size_t chunk = 1 + (data[0] & 0x3f) * 37;
  bool add_preface = (data[0] & 0x40) == 0;
  std::string input = add_preface ? std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") : std::string();
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);

  int peer = -1;
  auto conn = w.connect(peer);
  if (!conn) {
    return 0;
  }
  auto session = std::make_unique<http::h2_session>(*conn, *w.services, *w.handoff);
  auto* h2 = session.get();
  conn->start(std::move(session));
  h2->start({});
  for (std::size_t at = 0; at < input.size() && conn->is_open(); at += chunk) {
    h2->receive(std::string_view(input).substr(at, chunk));
    w.run();
    world::drain(peer);
  }
  conn->close();
  w.run();
  ::close(peer);
  return 0;
}
