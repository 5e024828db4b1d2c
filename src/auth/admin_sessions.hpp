#pragma once
// Admin sessions for a browser (docs/api.md "Admin"): an operator signs in once with an admin key
// or admin JWT (`POST /v1/admin/session`, Authorization header) and gets a cookie holding
// `<expiry>.<HMAC-SHA256(key, expiry)>`. A cookie is what an `EventSource` sends by itself, so the
// admin page's live stream needs no credential in its URL and reconnects on its own.
//
// Stateless: nothing is stored per session. The key is derived from the admin configuration
// (admin_api_keys and jwt_secret), so every node of a cluster configured alike accepts the same
// cookie, a restart keeps sessions, and rotating those secrets ends every session. With neither
// configured (admin by RS256/ES256 JWT only) the key is random per process.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::auth {

class admin_sessions {
 public:
  using clock_fn = std::function<std::chrono::system_clock::time_point()>;

  /// `secrets`: what the key is derived from (empty strings ignored; none: a random key). Throws
  /// std::runtime_error when no randomness is available (startup only).
  admin_sessions(const std::vector<std::string>& secrets, std::chrono::seconds ttl,
                 clock_fn clock = {});

  /// A new session value, valid for `ttl()` from now. Safe to put in a cookie as it is.
  std::string mint() const;
  /// True when `value` is one that `mint` made (with this key) and it has not expired. Constant
  /// time in the signature comparison.
  bool valid(std::string_view value) const;

  std::chrono::seconds ttl() const { return ttl_; }

 private:
  std::string sign(std::int64_t expires) const;
  std::chrono::system_clock::time_point now() const {
    return clock_ ? clock_() : std::chrono::system_clock::now();
  }

  std::array<unsigned char, 32> key_{};
  std::chrono::seconds ttl_;
  clock_fn clock_;
};

}  // namespace sb::auth
