// Client WebSocket frames: the parser must never read past its input, and must consume only
// whole frames. Inputs whose length is odd are parsed with permessage-deflate negotiated, and a
// compressed message is inflated as the session would (bounded, with a kept window).
#include <cstddef>
#include <cstdint>
#include <string>

#include "ws/deflate.hpp"
#include "ws/frame.hpp"

namespace {
struct sink final : sb::ws::frame_parser::handler {
  void on_text(std::string_view) override {}
  void on_binary(std::string_view) override {}
  void on_ping(std::string_view p) override {
    if (p.size() > 125)
      __builtin_trap();
  }
  void on_pong(std::string_view) override {}
  void on_close(std::uint16_t, std::string_view) override {}
  sb::ws::close_code on_compressed(sb::ws::opcode, std::string_view payload) override {
    switch (in.inflate(payload, &window, 12)) {
      case sb::ws::inflate_status::ok:
        if (in.text().size() > (1 << 16) || window.bytes.size() > 4096)
          __builtin_trap();
        return sb::ws::close_code::none;
      case sb::ws::inflate_status::too_big:
        return sb::ws::close_code::too_big;
      default:
        return sb::ws::close_code::invalid_payload;
    }
  }
  sb::ws::inflater in{1 << 16};
  sb::ws::inflate_window window;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sb::ws::frame_parser parser(1 << 16);
  if (size % 2 == 1) {
    parser.allow_compressed();
  }
  sink h;
  std::string input(reinterpret_cast<const char*>(data), size);
  // Feed in two pieces, as the network would.
  auto split = size / 2;
  std::string first = input.substr(0, split);
  if (parser.parse(first, h) == sb::ws::close_code::none) {
    first += input.substr(split);
    parser.parse(first, h);
  }
  return 0;
}
