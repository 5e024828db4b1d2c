#pragma once
#include <string_view>

namespace sb {

inline constexpr std::size_t max_topic_bytes = 200;

/// True for the bytes a topic name may hold: `A-Z a-z 0-9 _ - . : @ /`.
constexpr bool is_topic_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || c == '@' || c == '/';
}

/// True when `name` is a topic name as the contract defines it: 1–200 bytes of
/// `A-Z a-z 0-9 _ - . : @ /`, `/`-separated segments, none empty, and a last segment that is not
/// `stream`, `history` or `presence` (those name sub-resources in paths).
bool is_valid_topic(std::string_view name) noexcept;

}  // namespace sb
