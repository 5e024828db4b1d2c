#include "auth/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

#include "core/base64url.hpp"
#include "core/topic_pattern.hpp"

namespace sb::auth {
namespace {

namespace json = boost::json;

constexpr std::size_t max_pem_bytes = 64 << 10;
constexpr int min_rsa_bits = 2048;
constexpr std::size_t hs256_bytes = 32;
constexpr std::size_t es256_half = 32;
// NumericDates are clamped into [0, year 2255] so `expires_at` converts to a nanosecond
// system_clock::time_point without overflow.
constexpr std::int64_t max_numeric_date = 9'000'000'000;

struct md_ctx_free {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct ecdsa_sig_free {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct bn_free {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct openssl_free {
  void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};

// A verification failure leaves entries on this thread's OpenSSL error queue; a TLS session on the
// same loop would then misread SSL_get_error, so every path out of OpenSSL here clears it.
struct clear_openssl_errors {
  ~clear_openssl_errors() { ERR_clear_error(); }
};

// decode_base64url accepts any trailing bits; a JWT segment must be the one canonical encoding,
// so that a token has exactly one spelling (denylists and replay caches key on the string).
std::optional<std::string> decode_canonical(std::string_view text) {
  auto bytes = decode_base64url(text);
  if (!bytes) {
    return std::nullopt;
  }
  std::string again;
  again.reserve(text.size());
  append_base64url(again, *bytes);
  if (again != text) {
    return std::nullopt;
  }
  return bytes;
}

// A JSON object, or null. Returned by value: moving a json::value keeps its (arena) storage.
json::value parse_object(std::string_view text, json::storage_ptr storage) {
  json::parse_options options;
  options.max_depth = max_json_depth;
  boost::system::error_code ec;
  auto value = json::parse(json::string_view(text.data(), text.size()), ec, storage, options);
  if (ec || !value.is_object()) {
    return json::value(nullptr, storage);
  }
  return value;
}

bool verify_hs256(const std::string& secret, std::string_view signed_part,
                  std::string_view signature) {
  if (signature.size() != hs256_bytes) {
    return false;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
           &mac_len) == nullptr ||
      mac_len != hs256_bytes) {
    return false;
  }
  return CRYPTO_memcmp(mac, signature.data(), hs256_bytes) == 0;
}

bool digest_verify(EVP_PKEY* key, std::string_view signed_part, const unsigned char* sig,
                   std::size_t sig_len) {
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), sig, sig_len,
                          reinterpret_cast<const unsigned char*>(signed_part.data()),
                          signed_part.size()) == 1;
}

bool verify_rs256(EVP_PKEY* key, std::string_view signed_part, std::string_view signature) {
  if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key))) {
    return false;
  }
  return digest_verify(key, signed_part, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size());
}

// JOSE carries an ES256 signature as R || S, 32 bytes each; OpenSSL verifies DER ECDSA-Sig-Value.
bool verify_es256(EVP_PKEY* key, std::string_view signed_part, std::string_view signature) {
  if (signature.size() != 2 * es256_half) {
    return false;
  }
  auto bytes = reinterpret_cast<const unsigned char*>(signature.data());
  std::unique_ptr<BIGNUM, bn_free> r(BN_bin2bn(bytes, es256_half, nullptr));
  std::unique_ptr<BIGNUM, bn_free> s(BN_bin2bn(bytes + es256_half, es256_half, nullptr));
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_free> sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return false;
  }
  r.release();  // owned by sig now
  s.release();
  unsigned char* der_raw = nullptr;
  int der_len = i2d_ECDSA_SIG(sig.get(), &der_raw);
  std::unique_ptr<unsigned char, openssl_free> der(der_raw);
  if (der_len <= 0) {
    return false;
  }
  return digest_verify(key, signed_part, der.get(), static_cast<std::size_t>(der_len));
}

enum class date_status { absent, ok, bad };

// A NumericDate: a JSON number of seconds since the epoch, possibly fractional (floored).
date_status numeric_date(const json::object& payload, std::string_view name, std::int64_t& out) {
  auto it = payload.find(json::string_view(name.data(), name.size()));
  if (it == payload.end()) {
    return date_status::absent;
  }
  const auto& v = it->value();
  if (v.is_int64()) {
    out = v.get_int64();
  } else if (v.is_uint64()) {
    out = max_numeric_date;  // above int64 max: beyond any clamp anyway
  } else if (v.is_double() && std::isfinite(v.get_double())) {
    auto d = std::floor(v.get_double());
    out = d <= 0                                       ? 0
          : d >= static_cast<double>(max_numeric_date) ? max_numeric_date
                                                       : static_cast<std::int64_t>(d);
  } else {
    return date_status::bad;
  }
  out = std::clamp<std::int64_t>(out, 0, max_numeric_date);
  return date_status::ok;
}

enum class list_status { absent, ok, bad };

list_status pattern_list(const json::value* v, std::vector<std::string>& out) {
  if (v == nullptr) {
    return list_status::absent;
  }
  if (!v->is_array()) {
    return list_status::bad;
  }
  out.reserve(v->get_array().size());
  for (const auto& item : v->get_array()) {
    if (!item.is_string()) {
      return list_status::bad;
    }
    std::string_view pattern(item.get_string().data(), item.get_string().size());
    if (!is_valid_topic_pattern(pattern)) {
      return list_status::bad;
    }
    out.emplace_back(pattern);
  }
  return list_status::ok;
}

const json::value* member(const json::object& o, std::string_view name) {
  return o.if_contains(json::string_view(name.data(), name.size()));
}

bool string_equals(const json::value& v, std::string_view expected) {
  return v.is_string() &&
         std::string_view(v.get_string().data(), v.get_string().size()) == expected;
}

}  // namespace

void key_set::pkey_deleter::operator()(evp_pkey_st* key) const noexcept {
  EVP_PKEY_free(key);
}

key_set::~key_set() {
  if (!secret_.empty()) {
    OPENSSL_cleanse(secret_.data(), secret_.size());
  }
}

result<std::shared_ptr<const key_set>> key_set::load(std::string hs256_secret,
                                                     const std::string& public_key_file) {
  if (public_key_file.empty()) {
    return from_pem(std::move(hs256_secret), {});
  }
  std::ifstream in(public_key_file, std::ios::binary);
  if (!in) {
    return key_error::unreadable_file;
  }
  std::string pem;
  char buffer[4096];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    pem.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (pem.size() > max_pem_bytes) {
      return key_error::unreadable_file;
    }
  }
  if (in.bad()) {
    return key_error::unreadable_file;
  }
  return from_pem(std::move(hs256_secret), pem);
}

result<std::shared_ptr<const key_set>> key_set::from_pem(std::string hs256_secret,
                                                         std::string_view public_key_pem) {
  clear_openssl_errors clear;
  // Configuring PEM text as the HMAC secret is the one way alg confusion could still verify.
  if (hs256_secret.find("-----BEGIN") != std::string::npos) {
    OPENSSL_cleanse(hs256_secret.data(), hs256_secret.size());
    return key_error::secret_is_a_key;
  }
  std::shared_ptr<key_set> keys(new key_set());
  keys->secret_ = std::move(hs256_secret);
  if (public_key_pem.empty()) {
    return std::shared_ptr<const key_set>(std::move(keys));
  }
  if (public_key_pem.size() > max_pem_bytes) {
    return key_error::unreadable_file;
  }
  std::unique_ptr<BIO, bio_free> bio(
      BIO_new_mem_buf(public_key_pem.data(), static_cast<int>(public_key_pem.size())));
  if (!bio) {
    return key_error::not_a_public_key;
  }
  keys->public_key_.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  EVP_PKEY* key = keys->public_key_.get();
  if (key == nullptr) {
    return key_error::not_a_public_key;
  }
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key) < min_rsa_bits) {
        return key_error::unsupported_key;
      }
      keys->alg_ = key_alg::rs256;
      break;
    case EVP_PKEY_EC: {
      char group[64] = {};
      std::size_t group_len = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof group, &group_len) != 1) {
        return key_error::unsupported_key;
      }
      int nid = OBJ_sn2nid(group);
      if (nid == NID_undef) {
        nid = EC_curve_nist2nid(group);
      }
      if (nid != NID_X9_62_prime256v1) {
        return key_error::unsupported_key;
      }
      keys->alg_ = key_alg::es256;
      break;
    }
    default:
      return key_error::unsupported_key;
  }
  return std::shared_ptr<const key_set>(std::move(keys));
}

jwt_verifier::jwt_verifier(std::shared_ptr<const key_set> keys, jwt_options options)
    : keys_(std::move(keys)), options_(std::move(options)) {
  if (options_.leeway < std::chrono::seconds::zero()) {
    options_.leeway = std::chrono::seconds::zero();
  }
  options_.leeway = std::min<std::chrono::seconds>(options_.leeway, std::chrono::hours(24));
}

void jwt_verifier::set_keys(std::shared_ptr<const key_set> keys) noexcept {
  keys_.store(std::move(keys));
}

std::shared_ptr<const key_set> jwt_verifier::keys() const noexcept {
  return keys_.load();
}

result<claims> jwt_verifier::verify(std::string_view token) const {
  std::string_view why;
  return verify(token, why);
}

result<claims> jwt_verifier::verify(std::string_view token, std::string_view& why) const {
  auto fail = [&why](auth_error e, std::string_view reason) -> result<claims> {
    why = reason;
    return e;
  };

  if (token.empty()) {
    return fail(auth_error::malformed, "empty token");
  }
  if (token.size() > max_token_bytes) {
    return fail(auth_error::malformed, "token too long");
  }
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return fail(auth_error::malformed, "not three dot-separated segments");
  }
  auto header_b64 = token.substr(0, dot1);
  auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  auto signature_b64 = token.substr(dot2 + 1);
  auto signed_part = token.substr(0, dot2);

  auto header_text = decode_canonical(header_b64);
  auto payload_text = decode_canonical(payload_b64);
  auto signature = decode_canonical(signature_b64);
  if (!header_text || !payload_text || !signature) {
    return fail(auth_error::malformed, "a segment is not unpadded base64url");
  }

  // Header and payload together are under max_token_bytes, so one stack buffer usually holds both.
  unsigned char arena[16 << 10];
  json::monotonic_resource storage(arena, sizeof arena);

  json::value header = parse_object(*header_text, &storage);
  if (!header.is_object()) {
    return fail(auth_error::malformed, "header is not a JSON object");
  }
  const auto& header_object = header.get_object();
  const json::value* alg_value = member(header_object, "alg");
  if (alg_value == nullptr || !alg_value->is_string()) {
    return fail(auth_error::malformed, "header has no string `alg`");
  }
  // RFC 7515 4.1.11: extensions listed in `crit` must be understood; we understand none.
  if (member(header_object, "crit") != nullptr) {
    return fail(auth_error::unsupported_alg, "header has `crit`");
  }
  std::string_view alg(alg_value->get_string().data(), alg_value->get_string().size());

  auto keys = keys_.load();
  clear_openssl_errors clear;
  bool signature_ok = false;
  // The algorithm must match a configured key of its type. An HS256 token is only ever checked
  // against the configured secret, never against public key bytes (alg confusion).
  if (alg == "HS256" && keys && keys->has_hs256()) {
    signature_ok = verify_hs256(keys->secret_, signed_part, *signature);
  } else if (alg == "RS256" && keys && keys->alg_ == key_alg::rs256) {
    signature_ok = verify_rs256(keys->public_key_.get(), signed_part, *signature);
  } else if (alg == "ES256" && keys && keys->alg_ == key_alg::es256) {
    signature_ok = verify_es256(keys->public_key_.get(), signed_part, *signature);
  } else {
    return fail(auth_error::unsupported_alg, "`alg` is not one with a configured key");
  }
  if (!signature_ok) {
    return fail(auth_error::bad_signature, "signature does not verify");
  }

  json::value payload = parse_object(*payload_text, &storage);
  if (!payload.is_object()) {
    return fail(auth_error::malformed, "payload is not a JSON object");
  }
  const auto& body = payload.get_object();

  auto now_tp = options_.clock ? options_.clock() : std::chrono::system_clock::now();
  std::int64_t now = std::chrono::floor<std::chrono::seconds>(now_tp.time_since_epoch()).count();
  std::int64_t leeway = options_.leeway.count();

  claims out;
  std::int64_t exp = 0;
  switch (numeric_date(body, "exp", exp)) {
    case date_status::bad:
      return fail(auth_error::malformed, "`exp` is not a number");
    case date_status::absent:
      if (options_.require_exp) {
        return fail(auth_error::malformed, "the token has no `exp` (jwt_require_exp is on)");
      }
      break;
    case date_status::ok:
      if (now - leeway >= exp) {
        return fail(auth_error::expired, "`exp` has passed");
      }
      out.expires_at = std::chrono::sys_seconds(std::chrono::seconds(exp));
      break;
  }
  std::int64_t nbf = 0;
  switch (numeric_date(body, "nbf", nbf)) {
    case date_status::bad:
      return fail(auth_error::malformed, "`nbf` is not a number");
    case date_status::absent:
      break;
    case date_status::ok:
      if (now + leeway < nbf) {
        return fail(auth_error::not_yet_valid, "`nbf` is ahead");
      }
      break;
  }

  if (!options_.issuer.empty()) {
    const json::value* iss = member(body, "iss");
    if (iss == nullptr || !string_equals(*iss, options_.issuer)) {
      return fail(auth_error::wrong_issuer, "`iss` is not the configured issuer");
    }
  }
  // With no audience configured, `aud` is not checked (as most verifiers do).
  if (!options_.audience.empty()) {
    const json::value* aud = member(body, "aud");
    bool ok = false;
    if (aud != nullptr && aud->is_array()) {
      const auto& list = aud->get_array();
      ok = std::any_of(list.begin(), list.end(),
                       [&](const json::value& v) { return string_equals(v, options_.audience); });
    } else if (aud != nullptr) {
      ok = string_equals(*aud, options_.audience);
    }
    if (!ok) {
      return fail(auth_error::wrong_audience, "`aud` does not hold the configured audience");
    }
  }

  if (const json::value* sub = member(body, "sub")) {
    if (!sub->is_string()) {
      return fail(auth_error::malformed, "`sub` is not a string");
    }
    out.subject.assign(sub->get_string().data(), sub->get_string().size());
  }

  const json::value* flat_subscribe = member(body, "switchboard.subscribe");
  const json::value* flat_publish = member(body, "switchboard.publish");
  const json::value* flat_admin = member(body, "switchboard.admin");
  const json::value* nested_subscribe = nullptr;
  const json::value* nested_publish = nullptr;
  const json::value* nested_admin = nullptr;
  if (const json::value* ns = member(body, "switchboard")) {
    if (!ns->is_object()) {
      return fail(auth_error::malformed, "`switchboard` is not an object");
    }
    nested_subscribe = member(ns->get_object(), "subscribe");
    nested_publish = member(ns->get_object(), "publish");
    nested_admin = member(ns->get_object(), "admin");
  }
  if ((flat_subscribe && nested_subscribe) || (flat_publish && nested_publish) ||
      (flat_admin && nested_admin)) {
    return fail(auth_error::malformed, "topic grants given both flat and nested");
  }
  if (const json::value* admin = flat_admin ? flat_admin : nested_admin) {
    if (!admin->is_bool()) {
      return fail(auth_error::malformed, "`switchboard.admin` is not a boolean");
    }
    out.admin = admin->get_bool();
  }
  if (pattern_list(flat_subscribe ? flat_subscribe : nested_subscribe, out.subscribe) ==
      list_status::bad) {
    return fail(auth_error::malformed, "`switchboard.subscribe` is not an array of topic patterns");
  }
  if (pattern_list(flat_publish ? flat_publish : nested_publish, out.publish) == list_status::bad) {
    return fail(auth_error::malformed, "`switchboard.publish` is not an array of topic patterns");
  }
  return out;
}

}  // namespace sb::auth
