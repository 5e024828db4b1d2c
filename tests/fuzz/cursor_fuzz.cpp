// Resume ids as clients send them back: single positions and multi-topic cursors. A cursor
// that parses must encode back to the same entries.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/cursor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto p = sb::parse_position(text)) {
    if (sb::parse_position(sb::to_string(*p)) != p)
      __builtin_trap();
  }
  if (auto entries = sb::parse_cursor(text)) {
    std::string again;
    sb::append_cursor(again, *entries);
    auto back = sb::parse_cursor(again);
    if (!back || back->size() != entries->size())
      __builtin_trap();
    for (std::size_t i = 0; i < entries->size(); ++i) {
      if ((*back)[i].topic_hash != (*entries)[i].topic_hash || !((*back)[i].at == (*entries)[i].at))
        __builtin_trap();
    }
  }
  return 0;
}
