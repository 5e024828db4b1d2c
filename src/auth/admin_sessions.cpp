#include "auth/admin_sessions.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <stdexcept>

#include "core/base64url.hpp"

namespace sb::auth {
namespace {

constexpr std::string_view key_label = "switchboard admin session v1";

}  // namespace

admin_sessions::admin_sessions(const std::vector<std::string>& secrets, std::chrono::seconds ttl,
                               clock_fn clock)
    : ttl_(ttl), clock_(std::move(clock)) {
  std::string material;
  for (const auto& s : secrets) {
    if (!s.empty()) {
      // Length-prefixed, so ("ab","c") and ("a","bc") derive different keys.
      material.append(std::to_string(s.size())).append(":").append(s);
    }
  }
  if (material.empty()) {
    if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1) {
      throw std::runtime_error("admin sessions: no randomness for a key");  // startup only
    }
    return;
  }
  unsigned int n = 0;
  HMAC(EVP_sha256(), key_label.data(), static_cast<int>(key_label.size()),
       reinterpret_cast<const unsigned char*>(material.data()), material.size(), key_.data(), &n);
  OPENSSL_cleanse(material.data(), material.size());
}

std::string admin_sessions::sign(std::int64_t expires) const {
  auto text = "admin:" + std::to_string(expires);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &n);
  std::string out;
  append_base64url(out, std::string_view(reinterpret_cast<const char*>(mac), n));
  return out;
}

std::string admin_sessions::mint() const {
  auto expires =
      std::chrono::duration_cast<std::chrono::seconds>((now() + ttl_).time_since_epoch()).count();
  return std::to_string(expires) + "." + sign(expires);
}

bool admin_sessions::valid(std::string_view value) const {
  auto dot = value.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 19) {
    return false;
  }
  std::int64_t expires = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + dot, expires);
  if (ec != std::errc{} || ptr != value.data() + dot) {
    return false;
  }
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now().time_since_epoch()).count();
  if (expires <= now_s) {
    return false;
  }
  auto expected = sign(expires);
  auto presented = value.substr(dot + 1);
  return presented.size() == expected.size() &&
         CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

}  // namespace sb::auth
