#include "core/position.hpp"

#include <charconv>
#include <cstring>

namespace sb {

namespace {

// Every id of a topic carries its epoch (16 digits), and a loop writes the ids of few epochs: the
// epoch's digits are kept per thread, so an id costs the conversion of its seq alone.
struct epoch_text {
  std::uint64_t epoch = 0;
  std::size_t size = 0;  // 0: nothing kept yet
  char digits[20];
};
thread_local epoch_text last_epoch;

}  // namespace

std::size_t format_position(char* out, position p) {
  // A 64-bit number has at most 20 digits. Written in one pass and appended once: every stored
  // message's id is written three times (SSE, WebSocket, the publish's answer).
  auto& kept = last_epoch;
  if (kept.size == 0 || kept.epoch != p.epoch) {
    kept.epoch = p.epoch;
    kept.size = static_cast<std::size_t>(
        std::to_chars(kept.digits, kept.digits + sizeof kept.digits, p.epoch).ptr - kept.digits);
  }
  std::memcpy(out, kept.digits, kept.size);
  char* end = out + kept.size;
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
