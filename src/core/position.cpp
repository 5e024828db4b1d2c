#include "core/position.hpp"

#include <charconv>

namespace sb {

std::size_t format_position(char* out, position p) {
  // A 64-bit number has at most 20 digits. Written in one pass and appended once: every stored
  // message's id is written three times (SSE, WebSocket, the publish's answer).
  char* end = std::to_chars(out, out + 20, p.epoch).ptr;
  *end++ = '-';
  end = std::to_chars(end, end + 20, p.seq).ptr;
  return static_cast<std::size_t>(end - out);
}

void append_position(std::string& out, position p) {
  char text[max_position_text];
  out.append(text, format_position(text, p));
}

std::string to_string(position p) {
  char text[max_position_text];
  return std::string(text, format_position(text, p));
}

std::optional<position> parse_position(std::string_view text) noexcept {
  auto dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == text.size()) {
    return std::nullopt;
  }
  position p;
  auto parse = [](std::string_view digits, std::uint64_t& value) {
    if (digits.front() < '0' || digits.front() > '9') {
      return false;
    }
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    return ec == std::errc{} && ptr == digits.data() + digits.size();
  };
  if (!parse(text.substr(0, dash), p.epoch) || !parse(text.substr(dash + 1), p.seq)) {
    return std::nullopt;
  }
  return p;
}

}  // namespace sb
