#pragma once
// A topic position: the epoch of the topic's history and a sequence number in it. Its text form
// `<epoch>-<seq>` is the id that a publish answers with and the `id:` of a single-topic SSE stream.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb {

struct position {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;  // 0 = before the first message of this epoch

  friend bool operator==(const position&, const position&) = default;
};

/// "<epoch>-<seq>" in decimal.
std::string to_string(position p);

/// Room for the longest "<epoch>-<seq>": two 20-digit numbers and the dash.
inline constexpr std::size_t max_position_text = 41;
/// Writes "<epoch>-<seq>" into `out` (max_position_text bytes) and returns its length.
std::size_t format_position(char* out, position p);

/// Appends "<epoch>-<seq>" to `out` without a temporary.
void append_position(std::string& out, position p);

/// Parses "<epoch>-<seq>"; nullopt on anything else (no sign, no spaces, no overflow).
std::optional<position> parse_position(std::string_view text) noexcept;

}  // namespace sb
