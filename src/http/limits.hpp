#pragma once
// The HTTP layer's bounds (max_request_bytes, max_header_bytes, header_timeout_ms, idle_timeout_s,
// h2_*): the struct the config table fills and the sessions read.
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace sb::http {

struct limits {
  std::size_t max_request_bytes = 1 << 20;
  std::size_t max_header_bytes = 8 << 10;
  std::size_t max_topics_per_stream = 64;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  std::uint32_t h2_max_concurrent_streams = 256;
  std::size_t h2_max_header_list_size = 16 << 10;
};

}  // namespace sb::http
