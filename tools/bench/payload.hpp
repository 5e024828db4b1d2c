// The data of every message the generator sends: "<send time ns> <message number> xxx...", exactly
// `size` bytes (longer only when the numbers do not fit). The time is CLOCK_MONOTONIC, so latency
// is measured on one clock; the number identifies the message for the exactly-once check.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bench {

inline void make_payload(std::string& out, uint64_t ts, uint64_t msgno, size_t size) {
  char buf[48];
  auto r = std::to_chars(buf, buf + 24, ts);
  *r.ptr++ = ' ';
  r = std::to_chars(r.ptr, buf + sizeof buf - 1, msgno);
  *r.ptr++ = ' ';
  auto len = static_cast<size_t>(r.ptr - buf);
  out.assign(buf, len);
  if (size > len)
    out.append(size - len, 'x');
}

struct payload_stamp {
  uint64_t ts = 0;
  uint64_t msgno = 0;
};

// Parses the two leading numbers; nullopt for data the generator did not send.
inline std::optional<payload_stamp> parse_payload(std::string_view d) {
  payload_stamp p;
  const char* b = d.data();
  const char* e = b + d.size();
  auto r = std::from_chars(b, e, p.ts);
  if (r.ec != std::errc() || r.ptr == e || *r.ptr != ' ')
    return std::nullopt;
  auto r2 = std::from_chars(r.ptr + 1, e, p.msgno);
  if (r2.ec != std::errc())
    return std::nullopt;
  return p;
}

}  // namespace bench
