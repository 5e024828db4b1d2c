#pragma once
// Why a credential was refused, and why a key could not be loaded. Both travel as
// boost::system::error_code; every one of them answers 401 (`to_errc`). Messages are fixed
// strings: they never contain the token, the key or the secret.
#include <boost/system/error_code.hpp>

#include "core/errc.hpp"

namespace sb::auth {

/// Why `jwt_verifier::verify` refused a token.
enum class auth_error {
  ok = 0,
  malformed = 1,    // not three base64url segments, bad JSON, a claim of the wrong type, too long
  bad_signature,    // the signature does not verify with the configured key
  unsupported_alg,  // `alg` is none, unknown, or has no configured key of its type
  expired,          // `exp` (plus leeway) has passed
  not_yet_valid,    // `nbf` (minus leeway) is still ahead
  wrong_issuer,     // `iss` missing or not the configured issuer
  wrong_audience,   // `aud` missing or does not hold the configured audience
};

/// Why `key_set::load` refused the configured keys (startup or SIGHUP reload).
enum class key_error {
  ok = 0,
  unreadable_file = 1,  // the public key file cannot be opened or is too large
  not_a_public_key,     // no `-----BEGIN PUBLIC KEY-----` PEM in it
  unsupported_key,      // not RSA of 2048 bits or more, nor EC P-256
  secret_is_a_key,      // the HS256 secret is PEM text: it belongs in jwt_public_key_file
};

const boost::system::error_category& auth_category() noexcept;
const boost::system::error_category& key_category() noexcept;

inline boost::system::error_code make_error_code(auth_error e) noexcept {
  return {static_cast<int>(e), auth_category()};
}
inline boost::system::error_code make_error_code(key_error e) noexcept {
  return {static_cast<int>(e), key_category()};
}

/// A short, stable name ("expired") for logs, metrics and JSON error bodies.
const char* code_name(auth_error e) noexcept;

/// Every refused credential is a 401.
constexpr errc to_errc(auth_error) noexcept {
  return errc::unauthorized;
}

}  // namespace sb::auth

namespace boost::system {
template <>
struct is_error_code_enum<sb::auth::auth_error> : std::true_type {};
template <>
struct is_error_code_enum<sb::auth::key_error> : std::true_type {};
}  // namespace boost::system
