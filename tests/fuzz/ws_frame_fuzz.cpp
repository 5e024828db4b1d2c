// Client WebSocket frames: the parser must never read past its input, and must consume only
// whole frames.
#include <cstddef>
#include <cstdint>
#include <string>

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
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sb::ws::frame_parser parser(1 << 16);
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
