#pragma once
// ASCII text rules that header handling needs in more than one layer (http, ws): names, tokens and
// parameters compare case-insensitively, and values are trimmed of optional whitespace (RFC 9110
// §5.6.3: space and horizontal tab). Locale-free on purpose: std::tolower would follow the locale.
#include <algorithm>
#include <string_view>

namespace sb {

constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// True when `a` and `b` are equal ignoring ASCII case.
constexpr bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

/// `s` without its leading and trailing spaces and tabs.
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace sb
