#pragma once
// Redaction of tokens, API keys, tickets and secrets for logs.
#include <algorithm>
#include <string>
#include <string_view>

namespace sb::auth {

/// A loggable stand-in for a secret: at most its first `keep` characters, and never more than a
/// quarter of it (a short secret shows nothing), then "…"; "" for an empty one. Characters
/// outside printable ASCII in the kept prefix become '?' so a log line cannot be forged.
inline std::string redact(std::string_view secret, std::size_t keep = 4) {
  if (secret.empty()) {
    return {};
  }
  std::size_t shown = std::min(keep, secret.size() / 4);
  std::string out;
  out.reserve(shown + 3);
  for (char c : secret.substr(0, shown)) {
    out += (c >= 0x21 && c <= 0x7e) ? c : '?';
  }
  out += "\xe2\x80\xa6";  // U+2026 HORIZONTAL ELLIPSIS
  return out;
}

}  // namespace sb::auth
