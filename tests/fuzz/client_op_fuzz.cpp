// switchboard.v1 client operations (JSON text frames).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ws/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed =
      sb::ws::parse_client_op(std::string_view(reinterpret_cast<const char*>(data), size));
  (void)parsed;
  return 0;
}
