#include "core/cursor.hpp"

#include "core/base64url.hpp"

namespace sb {
namespace {

constexpr char cursor_version = 1;
constexpr std::size_t max_cursor_entries = 1024;

void append_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

bool read_varint(std::string_view& in, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) {
      return false;
    }
    auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    if (shift == 63 && (byte & 0x7e) != 0) {
      return false;  // more than 64 bits
    }
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::uint32_t topic_hash(std::string_view topic) noexcept {
  std::uint32_t h = 2166136261u;
  for (char c : topic) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

void append_cursor(std::string& out, std::span<const cursor_entry> entries) {
  std::string raw;
  raw.reserve(1 + entries.size() * 12);
  raw += cursor_version;
  for (const auto& e : entries) {
    for (int i = 0; i < 4; ++i) {
      raw += static_cast<char>(e.topic_hash >> (8 * i) & 0xff);
    }
    append_varint(raw, e.at.epoch);
    append_varint(raw, e.at.seq);
  }
  out += 'c';
  append_base64url(out, raw);
}

std::optional<std::vector<cursor_entry>> parse_cursor(std::string_view text) {
  if (!is_cursor_text(text)) {
    return std::nullopt;
  }
  auto raw = decode_base64url(text.substr(1));
  if (!raw || raw->empty() || raw->front() != cursor_version) {
    return std::nullopt;
  }
  std::string_view in(*raw);
  in.remove_prefix(1);
  std::vector<cursor_entry> entries;
  while (!in.empty()) {
    if (in.size() < 4 || entries.size() == max_cursor_entries) {
      return std::nullopt;
    }
    cursor_entry e;
    for (int i = 0; i < 4; ++i) {
      e.topic_hash |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    }
    in.remove_prefix(4);
    if (!read_varint(in, e.at.epoch) || !read_varint(in, e.at.seq)) {
      return std::nullopt;
    }
    entries.push_back(e);
  }
  return entries;
}

}  // namespace sb
