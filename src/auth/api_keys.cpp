#include "auth/api_keys.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdexcept>

namespace sb::auth {
namespace {

bool sha256(std::string_view text, std::array<unsigned char, 32>& out) {
  unsigned int len = 0;
  return EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr) == 1 &&
         len == out.size();
}

}  // namespace

api_key_set::api_key_set(const std::vector<std::string>& keys) {
  digests_.reserve(keys.size());
  for (const auto& key : keys) {
    if (key.empty()) {
      continue;
    }
    digest d{};
    if (!sha256(key, d)) {
      throw std::runtime_error("SHA-256 unavailable for API keys");  // startup only
    }
    digests_.push_back(d);
  }
}

bool api_key_set::matches(std::string_view presented) const {
  digest candidate{};
  if (presented.empty() || digests_.empty() || !sha256(presented, candidate)) {
    return false;
  }
  int found = 0;
  for (const auto& d : digests_) {
    found |= CRYPTO_memcmp(d.data(), candidate.data(), d.size()) == 0;
  }
  return found != 0;
}

}  // namespace sb::auth
