#include "auth/auth_error.hpp"

namespace sb::auth {
namespace {

class auth_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "switchboard.auth"; }
  std::string message(int ev) const override {
    switch (static_cast<auth_error>(ev)) {
      case auth_error::ok:
        return "ok";
      case auth_error::malformed:
        return "malformed token";
      case auth_error::bad_signature:
        return "invalid token signature";
      case auth_error::unsupported_alg:
        return "token algorithm not accepted";
      case auth_error::expired:
        return "token expired";
      case auth_error::not_yet_valid:
        return "token not yet valid";
      case auth_error::wrong_issuer:
        return "token issuer not accepted";
      case auth_error::wrong_audience:
        return "token audience not accepted";
    }
    return "invalid token";
  }
};

class key_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "switchboard.key"; }
  std::string message(int ev) const override {
    switch (static_cast<key_error>(ev)) {
      case key_error::ok:
        return "ok";
      case key_error::unreadable_file:
        return "cannot read the public key file (missing, unreadable or over 64 KiB)";
      case key_error::not_a_public_key:
        return "no PEM public key found (expected -----BEGIN PUBLIC KEY-----, as `openssl pkey "
               "-pubout` writes)";
      case key_error::unsupported_key:
        return "unsupported public key: expected RSA of 2048 bits or more, or EC P-256";
      case key_error::secret_is_a_key:
        return "the HS256 secret is PEM key text; a public key belongs in jwt_public_key_file";
    }
    return "key error";
  }
};

}  // namespace

const boost::system::error_category& auth_category() noexcept {
  static const auth_category_impl instance;
  return instance;
}

const boost::system::error_category& key_category() noexcept {
  static const key_category_impl instance;
  return instance;
}

const char* code_name(auth_error e) noexcept {
  switch (e) {
    case auth_error::ok:
      return "ok";
    case auth_error::malformed:
      return "malformed";
    case auth_error::bad_signature:
      return "bad_signature";
    case auth_error::unsupported_alg:
      return "unsupported_alg";
    case auth_error::expired:
      return "expired";
    case auth_error::not_yet_valid:
      return "not_yet_valid";
    case auth_error::wrong_issuer:
      return "wrong_issuer";
    case auth_error::wrong_audience:
      return "wrong_audience";
  }
  return "invalid_token";
}

}  // namespace sb::auth
