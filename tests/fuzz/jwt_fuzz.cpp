// libFuzzer target: arbitrary bytes as a JWT, against a verifier holding an HS256 secret and an
// EC P-256 public key (so HS256 and ES256 tokens reach signature checks and claims parsing).
// Build: clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/jwt_fuzz.cpp
//        <switchboard_core built with -fsanitize=fuzzer-no-link> -lboost_json -lssl -lcrypto
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "auth/jwt.hpp"

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

const sb::auth::jwt_verifier& verifier() {
  static const sb::auth::jwt_verifier instance = [] {
    auto keys = sb::auth::key_set::from_pem("fuzzing-secret-0123456789abcdef", ec_public_pem());
    if (!keys) {
      throw std::runtime_error("cannot load the fuzzing keys");
    }
    sb::auth::jwt_options options;
    options.issuer = "fuzz";
    options.audience = "switchboard";
    options.clock = [] { return std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)); };
    return sb::auth::jwt_verifier(*keys, std::move(options));
  }();
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view token(reinterpret_cast<const char*>(data), size);
  std::string_view why;
  auto result = verifier().verify(token, why);
  if (result) {
    // Touch everything a caller would read.
    volatile std::size_t sink = result->subject.size() + result->subscribe.size() + result->publish.size();
    (void)sink;
  }
  return 0;
}
