// libFuzzer target: arbitrary bytes as a JWT, against a verifier holding an HS256 secret and an
// EC P-256 public key. Random bytes almost never carry a valid signature, so an input starting
// with 0x01 is instead taken as a payload that this target signs with the HS256 secret: that
// reaches the claims checks (dates, iss, aud, topic patterns) behind the signature.
// Build: clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/jwt_fuzz.cpp
//        <switchboard_core built with -fsanitize=fuzzer-no-link> -lboost_json -lssl -lcrypto
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "auth/jwt.hpp"
#include "core/base64url.hpp"

namespace {

std::string ec_public_pem() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!key || !bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
    throw std::runtime_error("cannot make the fuzzing key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

constexpr std::string_view secret = "fuzzing-secret-0123456789abcdef";

std::string sign_hs256(std::string_view payload) {
  std::string token;
  sb::append_base64url(token, R"({"alg":"HS256","typ":"JWT"})");
  token += '.';
  sb::append_base64url(token, payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, &len);
  token += '.';
  sb::append_base64url(token, std::string_view(reinterpret_cast<const char*>(mac), len));
  return token;
}

const sb::auth::jwt_verifier& verifier() {
  static const sb::auth::jwt_verifier instance = [] {
    auto keys = sb::auth::key_set::from_pem(std::string(secret), ec_public_pem());
    if (!keys) {
      throw std::runtime_error("cannot load the fuzzing keys");
    }
    sb::auth::jwt_options options;
    options.issuer = "fuzz";
    options.audience = "switchboard";
    options.clock = [] {
      return std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    };
    return sb::auth::jwt_verifier(*keys, std::move(options));
  }();
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string signed_token;
  if (!input.empty() && input.front() == '\x01') {
    signed_token = sign_hs256(input.substr(1));
    input = signed_token;
  }
  std::string_view why;
  auto result = verifier().verify(input, why);
  if (result) {
    // Touch everything a caller would read.
    volatile std::size_t sink =
        result->subject.size() + result->subscribe.size() + result->publish.size();
    (void)sink;
  }
  return 0;
}
