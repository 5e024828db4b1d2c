#pragma once
// JWT verification (RFC 7519 / 7515), sans-I/O: bytes in, claims or an `auth_error` out.
// Accepted algorithms: HS256 with the configured secret, RS256 / ES256 with the configured public
// key; the token's `alg` must match the type of a configured key, so `none`, unknown algorithms,
// and HS256 tokens when only a public key is configured (alg confusion) are all refused. Header
// keys that would point at other keys (`jwk`, `jku`, `x5u`, `kid`) are ignored: only configured
// keys are ever used.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_error.hpp"
#include "core/errc.hpp"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace sb::auth {

/// Longest token `verify` looks at; longer ones are `malformed` without being decoded.
inline constexpr std::size_t max_token_bytes = 8 << 10;
/// Deepest JSON nesting accepted in the header and the payload.
inline constexpr std::size_t max_json_depth = 16;

/// The asymmetric algorithm that a public key verifies.
enum class key_alg { none, rs256, es256 };

/// The keys a verifier uses, immutable once loaded: build a new one on SIGHUP and hand it to
/// `jwt_verifier::set_keys`; verifications in flight keep the old one alive. Safe to share across
/// threads (OpenSSL 3 allows concurrent use of an EVP_PKEY that nobody modifies).
class key_set {
 public:
  /// `hs256_secret` empty: no HS256. `public_key_file` empty: no RS256/ES256; otherwise a PEM
  /// SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`) holding RSA (>= 2048 bits, RS256) or EC
  /// P-256 (ES256). Errors are `key_error`s; the caller adds the path to its message.
  static result<std::shared_ptr<const key_set>> load(std::string hs256_secret,
                                                     const std::string& public_key_file);
  /// As `load`, with the PEM text itself (empty: no public key).
  static result<std::shared_ptr<const key_set>> from_pem(std::string hs256_secret,
                                                         std::string_view public_key_pem);

  key_set(const key_set&) = delete;
  key_set& operator=(const key_set&) = delete;
  ~key_set();  // wipes the secret

  bool has_hs256() const noexcept { return !secret_.empty(); }
  key_alg public_key_alg() const noexcept { return alg_; }
  bool empty() const noexcept { return secret_.empty() && alg_ == key_alg::none; }

 private:
  friend class jwt_verifier;
  struct pkey_deleter {
    void operator()(evp_pkey_st* key) const noexcept;
  };

  key_set() = default;

  std::string secret_;
  std::unique_ptr<evp_pkey_st, pkey_deleter> public_key_;
  key_alg alg_ = key_alg::none;
};

/// What a verified token grants. Topic patterns are validated (`is_valid_topic_pattern`).
struct claims {
  std::string subject;                                 // `sub`; empty when absent
  std::vector<std::string> subscribe;                  // `switchboard.subscribe`; empty when absent
  std::vector<std::string> publish;                    // `switchboard.publish`; empty when absent
  bool admin = false;                                  // `switchboard.admin: true` (or nested)
  std::optional<std::chrono::sys_seconds> expires_at;  // `exp`, when present
};

struct jwt_options {
  std::string issuer;    // required `iss` when non-empty
  std::string audience;  // required in `aud` (a string or an array of strings) when non-empty
  std::chrono::seconds leeway{30};  // clock skew allowed on `exp` and `nbf`
  // `exp` is optional by default (a backend may mint long-lived service tokens and revoke by
  // rotating the key) but always enforced when present; set this to refuse tokens without one.
  bool require_exp = false;
  std::function<std::chrono::system_clock::time_point()> clock{};  // empty: system_clock::now
};

/// Verifies tokens against the current key set. `verify` may be called from any number of
/// threads at once, concurrently with `set_keys`.
class jwt_verifier {
 public:
  explicit jwt_verifier(std::shared_ptr<const key_set> keys = nullptr, jwt_options options = {});

  /// The token's claims, or why it is refused. The token never appears in any message.
  ///
  /// Checks, in order: at most `max_token_bytes`; exactly three canonical unpadded base64url
  /// segments; the header a JSON object with a string `alg` and no `crit`; `alg` in {HS256, RS256,
  /// ES256} with a configured key of that type; the signature (constant time for HMAC); the
  /// payload a JSON object; `exp`, `nbf` (NumericDates, +/- leeway), `iss`, `aud`; claim types
  /// (`sub` a string, `switchboard.subscribe`/`publish` arrays of valid topic patterns, either as
  /// those flat keys or as `"switchboard": {"subscribe": [...], "publish": [...]}`, not both;
  /// `switchboard.admin` (or nested `admin`) a boolean).
  result<claims> verify(std::string_view token) const;
  /// As above; on failure `why` names the failed check (a static string, safe to log).
  result<claims> verify(std::string_view token, std::string_view& why) const;

  /// Swaps the keys atomically (SIGHUP reload); nullptr refuses every token.
  void set_keys(std::shared_ptr<const key_set> keys) noexcept;
  std::shared_ptr<const key_set> keys() const noexcept;

  const jwt_options& options() const noexcept { return options_; }

 private:
  std::atomic<std::shared_ptr<const key_set>> keys_;
  jwt_options options_;
};

}  // namespace sb::auth
