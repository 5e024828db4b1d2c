#include "core/position.hpp"

#include <charconv>

namespace sb {

void append_position(std::string& out, position p) {
  char digits[20];  // a 64-bit number has at most 20
  out.append(digits, std::to_chars(digits, digits + sizeof digits, p.epoch).ptr);
  out += '-';
  out.append(digits, std::to_chars(digits, digits + sizeof digits, p.seq).ptr);
}

std::string to_string(position p) {
  std::string out;
  append_position(out, p);
  return out;
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
