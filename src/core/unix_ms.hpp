#pragma once
// The wall clock in Unix milliseconds: a message's publish time (message::time_ms).
#include <chrono>
#include <cstdint>

namespace sb {

inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sb
