#include "auth/jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/base64url.hpp"

namespace sb::auth {
namespace {

using namespace std::chrono_literals;

// ---- Signing helpers (the test plays the token issuer) ----

struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

std::string b64(std::string_view bytes) {
  std::string out;
  append_base64url(out, bytes);
  return out;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string public_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), key), 1);
  return bio_text(bio.get());
}

std::string private_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  return bio_text(bio.get());
}

// Round-trips the private key through PEM, as an issuer holding a key file would load it.
pkey_ptr reload_private(EVP_PKEY* key) {
  auto pem = private_pem(key);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return pkey_ptr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string hmac_sha256(std::string_view secret, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string digest_sign(EVP_PKEY* key, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key), 1);
  std::size_t len = 0;
  auto bytes = reinterpret_cast<const unsigned char*>(data.data());
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, bytes, data.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, bytes,
                           data.size()),
            1);
  sig.resize(len);
  return sig;
}

// ES256 in JOSE form: DER ECDSA-Sig-Value converted to R || S, 32 bytes each.
std::string es256_sign(EVP_PKEY* key, std::string_view data) {
  auto der = digest_sign(key, data);
  auto p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())), ECDSA_SIG_free);
  EXPECT_TRUE(sig);
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(64, '\0');
  BN_bn2binpad(r, reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_bn2binpad(s, reinterpret_cast<unsigned char*>(out.data()) + 32, 32);
  return out;
}

std::string header_for(std::string_view alg) {
  return R"({"alg":")" + std::string(alg) + R"(","typ":"JWT"})";
}

std::string signing_input(std::string_view header_json, std::string_view payload_json) {
  return b64(header_json) + "." + b64(payload_json);
}

std::string hs256_token(std::string_view secret, std::string_view payload_json,
                        std::string_view header_json = R"({"alg":"HS256","typ":"JWT"})") {
  auto input = signing_input(header_json, payload_json);
  return input + "." + b64(hmac_sha256(secret, input));
}

std::string rs256_token(EVP_PKEY* key, std::string_view payload_json) {
  auto input = signing_input(header_for("RS256"), payload_json);
  return input + "." + b64(digest_sign(key, input));
}

std::string es256_token(EVP_PKEY* key, std::string_view payload_json) {
  auto input = signing_input(header_for("ES256"), payload_json);
  return input + "." + b64(es256_sign(key, input));
}

std::filesystem::path write_temp(std::string_view name, std::string_view text) {
  auto path = std::filesystem::temp_directory_path() /
              ("switchboard-auth-" + std::to_string(::getpid()) + "-" + std::string(name));
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// ---- Fixture: keys generated once, a fixed clock ----

constexpr std::int64_t now_s = 1'700'000'000;
const std::string secret = "0123456789abcdef0123456789abcdef";

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048)));
    rsa_other_ =
        pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048)));
    ec_ = pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    ASSERT_TRUE(rsa_ && rsa_other_ && ec_);
    rsa_signer_ = reload_private(rsa_.get());
    ec_signer_ = reload_private(ec_.get());
    ASSERT_TRUE(rsa_signer_ && ec_signer_);
    rsa_file_ = write_temp("rsa.pem", public_pem(rsa_.get()));
    ec_file_ = write_temp("ec.pem", public_pem(ec_.get()));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove(rsa_file_);
    std::filesystem::remove(ec_file_);
    rsa_.reset();
    rsa_other_.reset();
    ec_.reset();
    rsa_signer_.reset();
    ec_signer_.reset();
  }

  static jwt_options options_at(std::int64_t now = now_s) {
    jwt_options o;
    o.clock = [now] { return std::chrono::system_clock::time_point(std::chrono::seconds(now)); };
    return o;
  }
  static std::shared_ptr<const key_set> keys(std::string hs = {},
                                             const std::filesystem::path& pem = {}) {
    auto k = key_set::load(std::move(hs), pem.string());
    EXPECT_TRUE(k.has_value()) << k.error().message();
    return k.has_value() ? *k : nullptr;
  }
  static jwt_verifier hs_verifier(jwt_options o = options_at()) {
    return jwt_verifier(keys(secret), std::move(o));
  }

  static auth_error error_of(const result<claims>& r) {
    EXPECT_FALSE(r.has_value());
    if (r.has_value()) {
      return auth_error::ok;
    }
    EXPECT_EQ(&r.error().category(), &auth_category());
    return static_cast<auth_error>(r.error().value());
  }

  static inline pkey_ptr rsa_, rsa_other_, ec_, rsa_signer_, ec_signer_;
  static inline std::filesystem::path rsa_file_, ec_file_;
};

// ---- Structure ----

TEST_F(JwtTest, EmptyTokenIsMalformed) {
  auto v = hs_verifier();
  EXPECT_EQ(error_of(v.verify("")), auth_error::malformed);
}

TEST_F(JwtTest, WrongSegmentCountIsMalformed) {
  auto v = hs_verifier();
  auto good = hs256_token(secret, R"({"sub":"a"})");
  EXPECT_EQ(error_of(v.verify("abc")), auth_error::malformed);
  EXPECT_EQ(error_of(v.verify(good.substr(0, good.rfind('.')))), auth_error::malformed);  // two
  EXPECT_EQ(error_of(v.verify(good + ".x")), auth_error::malformed);                      // four
  EXPECT_EQ(error_of(v.verify("..")), auth_error::malformed);
  ASSERT_TRUE(v.verify(good).has_value());
}

TEST_F(JwtTest, MalformedBase64IsMalformed) {
  auto v = hs_verifier();
  auto good = hs256_token(secret, R"({"sub":"a"})");
  auto dot = good.find('.');
  EXPECT_EQ(error_of(v.verify("e30!.e30.AAAA")), auth_error::malformed);
  EXPECT_EQ(error_of(v.verify(good.substr(0, dot) + "+" + good.substr(dot))),
            auth_error::malformed);
  EXPECT_EQ(error_of(v.verify(good + "=")), auth_error::malformed);  // padding
  EXPECT_EQ(error_of(v.verify(" " + good)), auth_error::malformed);
  EXPECT_EQ(error_of(v.verify("Bearer " + good)), auth_error::malformed);
}

TEST_F(JwtTest, NonCanonicalBase64IsMalformed) {
  // A 32-byte signature is 43 characters whose last one carries 2 unused bits. Setting one gives
  // another spelling of the same bytes, which must not be accepted.
  auto v = hs_verifier();
  auto good = hs256_token(secret, R"({"sub":"a"})");
  const std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  auto alt = good;
  alt.back() = alphabet[alphabet.find(alt.back()) ^ 1];
  auto decoded_good = decode_base64url(good.substr(good.rfind('.') + 1));
  auto decoded_alt = decode_base64url(alt.substr(alt.rfind('.') + 1));
  ASSERT_TRUE(decoded_good && decoded_alt);
  ASSERT_EQ(*decoded_good, *decoded_alt);
  EXPECT_EQ(error_of(v.verify(alt)), auth_error::malformed);
  EXPECT_TRUE(v.verify(good).has_value());
  // "e31" decodes to "{}" like "e30" does.
  EXPECT_EQ(error_of(v.verify("e31.e30." + b64(hmac_sha256(secret, "e31.e30")))),
            auth_error::malformed);
}

TEST_F(JwtTest, TooLongTokenIsMalformed) {
  auto v = hs_verifier();
  std::string big(max_token_bytes, 'a');
  auto token = hs256_token(secret, R"({"pad":")" + big + R"("})");
  std::string_view why;
  EXPECT_EQ(error_of(v.verify(token, why)), auth_error::malformed);
  EXPECT_EQ(why, "token too long");
}

TEST_F(JwtTest, BadHeaderJsonIsMalformed) {
  auto v = hs_verifier();
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, "{}", "{\"alg\":"))), auth_error::malformed);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, "{}", R"(["HS256"])"))), auth_error::malformed);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, "{}", R"({"typ":"JWT"})"))),
            auth_error::malformed);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, "{}", R"({"alg":256})"))), auth_error::malformed);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, "{}", R"({"alg":"HS256"} x)"))),
            auth_error::malformed);
}

TEST_F(JwtTest, BadPayloadJsonIsMalformedEvenWhenSigned) {
  auto v = hs_verifier();
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"sub":)"))), auth_error::malformed);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"("just a string")"))), auth_error::malformed);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, "{\"sub\":\"\xff\"}"))),
            auth_error::malformed);  // not UTF-8
}

TEST_F(JwtTest, DeepJsonIsMalformed) {
  auto v = hs_verifier();
  std::string deep = R"({"x":)" + std::string(64, '[') + std::string(64, ']') + "}";
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, deep))), auth_error::malformed);
}

// ---- Signatures and algorithms ----

TEST_F(JwtTest, TamperedOrWronglySignedTokenHasBadSignature) {
  auto v = hs_verifier();
  auto good = hs256_token(secret, R"({"sub":"alice"})");
  auto tampered_payload =
      signing_input(header_for("HS256"), R"({"sub":"admin"})") + good.substr(good.rfind('.'));
  EXPECT_EQ(error_of(v.verify(tampered_payload)), auth_error::bad_signature);
  EXPECT_EQ(
      error_of(v.verify(hs256_token("another secret of enough length!", R"({"sub":"alice"})"))),
      auth_error::bad_signature);
  auto input = good.substr(0, good.rfind('.'));
  auto sig = hmac_sha256(secret, input);
  sig[0] ^= 1;
  EXPECT_EQ(error_of(v.verify(input + "." + b64(sig))), auth_error::bad_signature);
  EXPECT_EQ(error_of(v.verify(input + "." + b64(sig.substr(0, 31)))), auth_error::bad_signature);
  EXPECT_EQ(error_of(v.verify(input + ".")), auth_error::bad_signature);
}

TEST_F(JwtTest, AlgNoneIsRejected) {
  auto v = hs_verifier();
  for (std::string alg : {"none", "None", "NONE", "nOnE"}) {
    auto input = signing_input(header_for(alg), R"({"sub":"admin"})");
    EXPECT_EQ(error_of(v.verify(input + ".")), auth_error::unsupported_alg) << alg;
    EXPECT_EQ(error_of(v.verify(input + "." + b64(hmac_sha256(secret, input)))),
              auth_error::unsupported_alg)
        << alg;
  }
}

TEST_F(JwtTest, UnknownOrMiscasedAlgIsRejected) {
  auto v = hs_verifier();
  for (std::string alg : {"hs256", "HS384", "HS512", "PS256", "EdDSA", "", "HS256 "}) {
    auto input = signing_input(header_for(alg), "{}");
    EXPECT_EQ(error_of(v.verify(input + "." + b64(hmac_sha256(secret, input)))),
              auth_error::unsupported_alg)
        << alg;
  }
}

TEST_F(JwtTest, CritHeaderIsRejected) {
  auto v = hs_verifier();
  auto token = hs256_token(secret, "{}", R"({"alg":"HS256","crit":["exp"],"exp":1})");
  EXPECT_EQ(error_of(v.verify(token)), auth_error::unsupported_alg);
}

TEST_F(JwtTest, AlgConfusionWithRsaPublicKeyIsRejected) {
  // The classic attack: HS256 "signed" with the server's public key bytes as the HMAC secret.
  jwt_verifier v(keys({}, rsa_file_), options_at());
  auto pem = public_pem(rsa_.get());
  auto forged = hs256_token(pem, R"({"sub":"admin","switchboard.publish":["**"]})");
  EXPECT_EQ(error_of(v.verify(forged)), auth_error::unsupported_alg);
  // Also with the DER bytes and the PEM without its trailing newline.
  EXPECT_EQ(error_of(v.verify(hs256_token(pem.substr(0, pem.size() - 1), "{}"))),
            auth_error::unsupported_alg);
  ASSERT_TRUE(v.verify(rs256_token(rsa_signer_.get(), R"({"sub":"admin"})")).has_value());
}

TEST_F(JwtTest, AlgConfusionWithEcPublicKeyIsRejected) {
  jwt_verifier v(keys({}, ec_file_), options_at());
  EXPECT_EQ(error_of(v.verify(hs256_token(public_pem(ec_.get()), "{}"))),
            auth_error::unsupported_alg);
}

TEST_F(JwtTest, AlgConfusionWithBothKeysConfiguredFailsTheSignature) {
  jwt_verifier v(keys(secret, rsa_file_), options_at());
  EXPECT_EQ(error_of(v.verify(hs256_token(public_pem(rsa_.get()), "{}"))),
            auth_error::bad_signature);
}

TEST_F(JwtTest, AlgMustMatchTheConfiguredKeyType) {
  jwt_verifier hs_only(keys(secret), options_at());
  jwt_verifier rsa_only(keys({}, rsa_file_), options_at());
  jwt_verifier ec_only(keys({}, ec_file_), options_at());
  EXPECT_EQ(error_of(hs_only.verify(rs256_token(rsa_signer_.get(), "{}"))),
            auth_error::unsupported_alg);
  EXPECT_EQ(error_of(hs_only.verify(es256_token(ec_signer_.get(), "{}"))),
            auth_error::unsupported_alg);
  EXPECT_EQ(error_of(rsa_only.verify(es256_token(ec_signer_.get(), "{}"))),
            auth_error::unsupported_alg);
  EXPECT_EQ(error_of(ec_only.verify(rs256_token(rsa_signer_.get(), "{}"))),
            auth_error::unsupported_alg);
  // An RS256 header over an ES256 signature is checked as RS256 and fails.
  auto input = signing_input(header_for("RS256"), "{}");
  EXPECT_EQ(error_of(rsa_only.verify(input + "." + b64(es256_sign(ec_signer_.get(), input)))),
            auth_error::bad_signature);
}

TEST_F(JwtTest, NoKeysRefusesEverything) {
  jwt_verifier v(nullptr, options_at());
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, "{}"))), auth_error::unsupported_alg);
  jwt_verifier empty(keys(), options_at());
  EXPECT_EQ(error_of(empty.verify(hs256_token(secret, "{}"))), auth_error::unsupported_alg);
}

TEST_F(JwtTest, ValidHs256) {
  auto v = hs_verifier();
  auto r = v.verify(hs256_token(secret, R"({"sub":"alice","exp":1700000100})"));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->subject, "alice");
  ASSERT_TRUE(r->expires_at.has_value());
  EXPECT_EQ(r->expires_at->time_since_epoch(), std::chrono::seconds(1'700'000'100));
}

TEST_F(JwtTest, ValidRs256FromPemFile) {
  jwt_verifier v(keys({}, rsa_file_), options_at());
  EXPECT_EQ(v.keys()->public_key_alg(), key_alg::rs256);
  auto r = v.verify(rs256_token(rsa_signer_.get(), R"({"sub":"bob"})"));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->subject, "bob");
  EXPECT_EQ(error_of(v.verify(rs256_token(rsa_other_.get(), R"({"sub":"bob"})"))),
            auth_error::bad_signature);
}

TEST_F(JwtTest, ValidEs256FromPemFile) {
  jwt_verifier v(keys({}, ec_file_), options_at());
  EXPECT_EQ(v.keys()->public_key_alg(), key_alg::es256);
  auto token = es256_token(ec_signer_.get(), R"({"sub":"carol"})");
  auto r = v.verify(token);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->subject, "carol");

  auto input = token.substr(0, token.rfind('.'));
  // A DER signature (what OpenSSL emits) is not the JOSE form.
  EXPECT_EQ(error_of(v.verify(input + "." + b64(digest_sign(ec_signer_.get(), input)))),
            auth_error::bad_signature);
  EXPECT_EQ(error_of(v.verify(input + "." + b64(std::string(64, '\0')))),
            auth_error::bad_signature);
  auto sig = es256_sign(ec_signer_.get(), input);
  sig[40] ^= 0x10;
  EXPECT_EQ(error_of(v.verify(input + "." + b64(sig))), auth_error::bad_signature);
}

TEST_F(JwtTest, HsAndPublicKeyTogether) {
  jwt_verifier v(keys(secret, ec_file_), options_at());
  EXPECT_TRUE(v.verify(hs256_token(secret, "{}")).has_value());
  EXPECT_TRUE(v.verify(es256_token(ec_signer_.get(), "{}")).has_value());
}

// ---- Time ----

TEST_F(JwtTest, ExpiredBeyondLeeway) {
  auto v = hs_verifier();  // leeway 30 s
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"exp":1699999969})"))),
            auth_error::expired);  // now-31
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"exp":1699999970})"))),
            auth_error::expired);  // now-30
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"exp":1699999971})")).has_value());
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"exp":1700000000})")).has_value());
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"exp":0})"))), auth_error::expired);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"exp":-5})"))), auth_error::expired);
}

TEST_F(JwtTest, ExpWithoutLeeway) {
  auto o = options_at();
  o.leeway = 0s;
  auto v = hs_verifier(o);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"exp":1700000000})"))), auth_error::expired);
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"exp":1700000001})")).has_value());
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"exp":1700000000.5})"))),
            auth_error::expired);  // floored
}

TEST_F(JwtTest, ExpIsOptionalUnlessRequired) {
  EXPECT_TRUE(hs_verifier().verify(hs256_token(secret, R"({"sub":"a"})")).has_value());
  auto o = options_at();
  o.require_exp = true;
  auto v = hs_verifier(o);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"sub":"a"})"))), auth_error::malformed);
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"sub":"a","exp":1700000600})")).has_value());
}

TEST_F(JwtTest, NumericDateTypes) {
  auto v = hs_verifier();
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"exp":"1700000600"})"))),
            auth_error::malformed);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"nbf":null})"))), auth_error::malformed);
  auto r = v.verify(hs256_token(secret, R"({"exp":1700000600.9})"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->expires_at->time_since_epoch(), std::chrono::seconds(1'700'000'600));
  // Huge dates are clamped so expires_at converts to system_clock without overflow.
  auto far = v.verify(hs256_token(secret, R"({"exp":18446744073709551615})"));
  ASSERT_TRUE(far.has_value());
  auto as_system =
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(*far->expires_at);
  EXPECT_GT(as_system, std::chrono::system_clock::time_point(std::chrono::seconds(now_s)));
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"exp":1e300})")).has_value());
}

TEST_F(JwtTest, RequiredExpSaysWhy) {
  auto o = options_at();
  o.require_exp = true;
  auto v = hs_verifier(o);
  std::string_view why;
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"sub":"a","nbf":1699999000})"), why)),
            auth_error::malformed);
  EXPECT_NE(why.find("no `exp`"), std::string_view::npos) << why;
}

TEST_F(JwtTest, LeewayAppliesToExpAndNbfAlike) {
  auto o = options_at();
  o.leeway = 60s;
  auto v = hs_verifier(o);
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"exp":1699999941})")).has_value());  // now-59
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"exp":1699999940})"))), auth_error::expired);
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"nbf":1700000060})")).has_value());  // now+60
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"nbf":1700000061})"))),
            auth_error::not_yet_valid);
}

TEST_F(JwtTest, NotYetValid) {
  auto v = hs_verifier();
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"nbf":1700000031})"))),
            auth_error::not_yet_valid);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"nbf":1700003600})"))),
            auth_error::not_yet_valid);
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"nbf":1700000030})")).has_value());
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"nbf":1699990000})")).has_value());
}

TEST_F(JwtTest, UsesTheInjectedClock) {
  auto token = hs256_token(secret, R"({"nbf":1700000000,"exp":1700000600})");
  EXPECT_TRUE(hs_verifier(options_at(now_s)).verify(token).has_value());
  EXPECT_EQ(error_of(hs_verifier(options_at(now_s - 3600)).verify(token)),
            auth_error::not_yet_valid);
  EXPECT_EQ(error_of(hs_verifier(options_at(now_s + 3600)).verify(token)), auth_error::expired);
}

// ---- Issuer and audience ----

TEST_F(JwtTest, WrongIssuer) {
  auto o = options_at();
  o.issuer = "https://auth.example";
  auto v = hs_verifier(o);
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"iss":"https://auth.example"})")).has_value());
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"iss":"https://evil.example"})"))),
            auth_error::wrong_issuer);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({})"))), auth_error::wrong_issuer);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"iss":["https://auth.example"]})"))),
            auth_error::wrong_issuer);
  // Not configured: not checked.
  EXPECT_TRUE(hs_verifier().verify(hs256_token(secret, R"({"iss":"anyone"})")).has_value());
}

TEST_F(JwtTest, WrongAudience) {
  auto o = options_at();
  o.audience = "switchboard";
  auto v = hs_verifier(o);
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"aud":"switchboard"})")).has_value());
  EXPECT_TRUE(v.verify(hs256_token(secret, R"({"aud":["billing","switchboard"]})")).has_value());
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"aud":"billing"})"))),
            auth_error::wrong_audience);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"aud":["billing"]})"))),
            auth_error::wrong_audience);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"aud":[]})"))), auth_error::wrong_audience);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({"aud":[["switchboard"]]})"))),
            auth_error::wrong_audience);
  EXPECT_EQ(error_of(v.verify(hs256_token(secret, R"({})"))), auth_error::wrong_audience);
  EXPECT_TRUE(hs_verifier().verify(hs256_token(secret, R"({"aud":"billing"})")).has_value());
}

// ---- Claims ----

TEST_F(JwtTest, ParsesFlatTopicClaims) {
  auto r = hs_verifier().verify(hs256_token(
      secret,
      R"({"sub":"u1","switchboard.subscribe":["rooms/*","user/u1/**"],"switchboard.publish":["rooms/42"]})"));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->subject, "u1");
  EXPECT_EQ(r->subscribe, (std::vector<std::string>{"rooms/*", "user/u1/**"}));
  EXPECT_EQ(r->publish, (std::vector<std::string>{"rooms/42"}));
  EXPECT_FALSE(r->expires_at.has_value());
}

TEST_F(JwtTest, ParsesNestedTopicClaims) {
  auto r = hs_verifier().verify(hs256_token(
      secret, R"({"switchboard":{"subscribe":["a/*"],"publish":[]},"other":{"x":[1,{"y":2}]}})"));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->subscribe, (std::vector<std::string>{"a/*"}));
  EXPECT_TRUE(r->publish.empty());
  EXPECT_TRUE(r->subject.empty());
}

TEST_F(JwtTest, ParsesTheAdminClaimFlatOrNested) {
  auto v = hs_verifier();
  for (auto [payload, admin] : std::vector<std::pair<std::string, bool>>{
           {R"({"switchboard.admin":true})", true},
           {R"({"switchboard":{"admin":true,"subscribe":["a"]}})", true},
           {R"({"switchboard.admin":false})", false},
           {R"({"sub":"u"})", false},
       }) {
    auto r = v.verify(hs256_token(secret, payload));
    ASSERT_TRUE(r.has_value()) << payload;
    EXPECT_EQ(r->admin, admin) << payload;
  }
  for (std::string payload : {R"({"switchboard.admin":"true"})", R"({"switchboard.admin":1})",
                              R"({"switchboard.admin":true,"switchboard":{"admin":true}})"}) {
    EXPECT_EQ(error_of(v.verify(hs256_token(secret, payload))), auth_error::malformed) << payload;
  }
}

TEST_F(JwtTest, AbsentTopicClaimsGrantNothing) {
  auto r = hs_verifier().verify(hs256_token(secret, R"({"sub":"u"})"));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->subscribe.empty());
  EXPECT_TRUE(r->publish.empty());
}

TEST_F(JwtTest, BadClaimTypesAreMalformed) {
  auto v = hs_verifier();
  for (std::string payload : {
           R"({"sub":42})",
           R"({"switchboard.subscribe":"rooms/*"})",
           R"({"switchboard.subscribe":[1]})",
           R"({"switchboard.publish":["a//b"]})",
           R"({"switchboard.publish":["a/**/b"]})",
           R"({"switchboard.publish":[""]})",
           R"({"switchboard.subscribe":["a b"]})",
           R"({"switchboard":["a"]})",
           R"({"switchboard":{"subscribe":{"a":1}}})",
           R"({"switchboard.subscribe":["a"],"switchboard":{"subscribe":["b"]}})",
       }) {
    EXPECT_EQ(error_of(v.verify(hs256_token(secret, payload))), auth_error::malformed) << payload;
  }
}

// ---- Keys ----

TEST_F(JwtTest, KeyLoadErrors) {
  auto missing = key_set::load({}, "/nonexistent/switchboard/key.pem");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error(), make_error_code(key_error::unreadable_file));

  auto priv = write_temp("private.pem", private_pem(ec_.get()));
  auto as_private = key_set::load({}, priv.string());
  std::filesystem::remove(priv);
  ASSERT_FALSE(as_private.has_value());
  EXPECT_EQ(as_private.error(), make_error_code(key_error::not_a_public_key));

  EXPECT_EQ(key_set::from_pem({}, "not a pem").error(),
            make_error_code(key_error::not_a_public_key));

  pkey_ptr small_rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(1024)));
  EXPECT_EQ(key_set::from_pem({}, public_pem(small_rsa.get())).error(),
            make_error_code(key_error::unsupported_key));
  pkey_ptr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  EXPECT_EQ(key_set::from_pem({}, public_pem(p384.get())).error(),
            make_error_code(key_error::unsupported_key));
  pkey_ptr ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  EXPECT_EQ(key_set::from_pem({}, public_pem(ed.get())).error(),
            make_error_code(key_error::unsupported_key));

  EXPECT_EQ(key_set::from_pem(public_pem(rsa_.get()), {}).error(),
            make_error_code(key_error::secret_is_a_key));
}

TEST_F(JwtTest, KeysSwapAtomically) {
  jwt_verifier v(keys(secret), options_at());
  auto token = hs256_token(secret, "{}");
  ASSERT_TRUE(v.verify(token).has_value());
  v.set_keys(keys("a rotated secret, also long enough", ec_file_));
  EXPECT_EQ(error_of(v.verify(token)), auth_error::bad_signature);
  EXPECT_TRUE(v.verify(es256_token(ec_signer_.get(), "{}")).has_value());
  v.set_keys(nullptr);
  EXPECT_EQ(error_of(v.verify(token)), auth_error::unsupported_alg);
}

TEST_F(JwtTest, VerifiesConcurrentlyWithKeySwaps) {
  jwt_verifier v(keys(secret, ec_file_), options_at());
  auto hs = hs256_token(secret, R"({"sub":"x"})");
  auto es = es256_token(ec_signer_.get(), R"({"sub":"y"})");
  auto a = keys(secret, ec_file_);
  auto b = keys(secret, rsa_file_);
  std::atomic<bool> stop{false};
  std::atomic<int> hs_failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      while (!stop) {
        if (!v.verify(hs).has_value()) {
          ++hs_failures;
        }
        (void)v.verify(es);
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    v.set_keys(i % 2 ? a : b);
  }
  stop = true;
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(hs_failures, 0);  // both key sets hold the secret
}

// ---- Errors ----

TEST_F(JwtTest, ErrorsNeverContainTheToken) {
  auto v = hs_verifier();
  std::string payload = R"({"sub":"secret-subject-xyz"})";
  for (std::string token :
       {hs256_token("wrong secret", payload), hs256_token(secret, payload, header_for("none")),
        std::string("eyJhbGciOiJIUzI1NiJ9.e30"), hs256_token(secret, R"({"exp":1})")}) {
    std::string_view why;
    auto r = v.verify(token, why);
    ASSERT_FALSE(r.has_value());
    EXPECT_FALSE(why.empty());
    for (auto text : {r.error().message(), std::string(why), r.error().to_string()}) {
      EXPECT_EQ(text.find(token.substr(0, 10)), std::string::npos) << text;
      EXPECT_EQ(text.find("secret-subject"), std::string::npos) << text;
    }
  }
}

TEST(AuthError, NamesAndStatus) {
  EXPECT_STREQ(code_name(auth_error::expired), "expired");
  EXPECT_STREQ(code_name(auth_error::wrong_audience), "wrong_audience");
  EXPECT_EQ(make_error_code(auth_error::bad_signature).message(), "invalid token signature");
  EXPECT_EQ(http_status_of(to_errc(auth_error::malformed)), 401u);
  boost::system::error_code ec = auth_error::not_yet_valid;
  EXPECT_EQ(ec.category().name(), std::string("switchboard.auth"));
}

}  // namespace
}  // namespace sb::auth
