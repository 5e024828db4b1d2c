#pragma once
// The resume cursor of a multi-topic subscription: one compact, opaque string that records a
// position for each topic, so one SSE `id:` resumes every topic exactly. Clients never parse it.
//
// Form: "c" + base64url(version byte, then per topic: FNV-1a-32 of the name (4 bytes, LE),
// varint epoch, varint seq). The hash lets a cursor be matched to topics by name, so a client that
// reorders or extends its topic list still resumes every topic it had.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/position.hpp"

namespace sb {

struct cursor_entry {
  std::uint32_t topic_hash = 0;
  position at;
};

std::uint32_t topic_hash(std::string_view topic) noexcept;

/// Appends the cursor for these entries to `out`.
void append_cursor(std::string& out, std::span<const cursor_entry> entries);

/// nullopt when `text` is not a cursor this server wrote (wrong prefix, version or encoding).
std::optional<std::vector<cursor_entry>> parse_cursor(std::string_view text);

/// True when `text` looks like a cursor rather than a single "<epoch>-<seq>" position.
inline bool is_cursor_text(std::string_view text) noexcept {
  return !text.empty() && text.front() == 'c';
}

}  // namespace sb
