#pragma once
// Word wrapping for the texts made from the config table (--help, --print-config).
#include <cstddef>
#include <string>
#include <string_view>

namespace sb::server {

/// Appends `text` to `out` as lines of at most `width` columns, each starting with `prefix`; words
/// are never split (a word longer than a line gets a line of its own).
void append_wrapped(std::string& out, std::string_view text, std::string_view prefix,
                    std::size_t width = 100);

}  // namespace sb::server
