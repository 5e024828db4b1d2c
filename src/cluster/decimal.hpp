#pragma once
// Unsigned decimal numbers as Redis and URLs write them (ports, db numbers, epochs, seqs).
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sb::cluster {

/// The whole of `text` as an unsigned decimal; nothing for empty text, a sign, other characters or
/// a value over 2^64 - 1.
inline std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace sb::cluster
