// The streaming-publish body parser: arbitrary bytes, split at an arbitrary point.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sse/event_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t events = 0;
  sb::sse::event_parser parser(4096, [&](sb::sse::parsed_event&& e) {
    ++events;
    if (e.data.size() > 4096 + 4096)
      __builtin_trap();  // the bound must hold
  });
  auto split = size ? data[0] % (size + 1) : 0;
  if (parser.feed(input.substr(0, split))) {
    parser.feed(input.substr(split));
  }
  parser.finish();
  return 0;
}
