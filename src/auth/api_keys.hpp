#pragma once
// Static API keys for backends (`Authorization: Bearer <key>`), matched in constant time before
// any JWT parsing (docs/api.md "Auth").
#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace sb::auth {

/// Holds only SHA-256 digests of the configured keys. `matches` hashes the presented value and
/// compares it with every digest using CRYPTO_memcmp, without stopping at a match, so neither the
/// position of a match nor the length of any key shows in its timing. Immutable after
/// construction: safe to share across threads.
class api_key_set {
 public:
  api_key_set() = default;
  /// Empty strings are ignored (an empty key would match an empty bearer).
  explicit api_key_set(const std::vector<std::string>& keys);

  /// True when `presented` is exactly one of the configured keys; false for an empty one.
  bool matches(std::string_view presented) const;

  bool empty() const noexcept { return digests_.empty(); }
  std::size_t size() const noexcept { return digests_.size(); }

 private:
  using digest = std::array<unsigned char, 32>;
  std::vector<digest> digests_;
};

}  // namespace sb::auth
