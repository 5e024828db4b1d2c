#include "io/tls.hpp"

#include <openssl/err.h>

#include <stdexcept>

namespace sb::io {
namespace {

std::string openssl_error() {
  std::string out;
  while (auto e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += out.empty() ? "" : "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

/// The server picks from the client's list by its own preference (SSL_select_next_proto is
/// client-preference order and falls back to our first protocol, which a client offering only
/// http/1.1 would not accept).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* arg) {
  const auto* ours = static_cast<const std::string*>(arg);
  for (std::size_t i = 0; i < ours->size();) {
    auto len = static_cast<unsigned char>((*ours)[i]);
    std::string_view want(ours->data() + i + 1, len);
    for (unsigned j = 0; j < inlen;) {
      unsigned char l = in[j];
      if (j + 1 + l > inlen) {
        break;
      }
      if (std::string_view(reinterpret_cast<const char*>(in + j + 1), l) == want) {
        *out = in + j + 1;
        *outlen = l;
        return SSL_TLSEXT_ERR_OK;
      }
      j += 1 + l;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN (HTTP/1.1)
}

}  // namespace

tls_context::tls_context(std::string cert_file, std::string key_file, std::vector<std::string> alpn)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {
  for (const auto& p : alpn) {
    alpn_wire_.push_back(static_cast<char>(p.size()));
    alpn_wire_ += p;
  }
  std::string error;
  ctx_ = build(error);
  if (!ctx_) {
    throw std::runtime_error(error);
  }
}

tls_context::~tls_context() {
  SSL_CTX_free(ctx_);
}

SSL_CTX* tls_context::build(std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    error = "TLS: " + openssl_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // RFC 7540 9.2: no renegotiation, no compression under HTTP/2.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file_.c_str()) != 1) {
    error = "tls_cert_file \"" + cert_file_ + "\": " + openssl_error();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file_.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    error = "tls_key_file \"" + key_file_ + "\": " + openssl_error();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, &alpn_wire_);
  return ctx;
}

bool tls_context::reload(std::string& error) {
  auto* fresh = build(error);
  if (!fresh) {
    return false;
  }
  std::lock_guard lock(mutex_);
  SSL_CTX_free(ctx_);  // connections made from it hold their own reference
  ctx_ = fresh;
  return true;
}

SSL* tls_context::new_ssl() {
  std::lock_guard lock(mutex_);
  return SSL_new(ctx_);
}

tls_transport::tls_transport(SSL* ssl)
    : ssl_(ssl), in_(BIO_new(BIO_s_mem())), out_(BIO_new(BIO_s_mem())) {
  // An empty memory BIO reports "retry" rather than end of file, which is what a socket with no
  // input yet means.
  BIO_set_mem_eof_return(in_, -1);
  SSL_set_bio(ssl_, in_, out_);  // the SSL owns both from here
  SSL_set_accept_state(ssl_);
}

tls_transport::~tls_transport() {
  SSL_free(ssl_);
}

void tls_transport::put_ciphertext(const char* data, std::size_t size) {
  BIO_write(in_, data, static_cast<int>(size));
}

tls_transport::result tls_transport::failure(int r) const {
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return result::want_input;
    case SSL_ERROR_ZERO_RETURN:
      return result::closed;
    default:
      return result::failed;
  }
}

tls_transport::result tls_transport::read(char* data, std::size_t size, std::size_t& n) {
  n = 0;
  ERR_clear_error();
  int r = SSL_read(ssl_, data, static_cast<int>(size));
  if (r > 0) {
    n = static_cast<std::size_t>(r);
    return result::ok;
  }
  return failure(r);
}

tls_transport::result tls_transport::write(const char* data, std::size_t size, std::size_t& n) {
  n = 0;
  if (size == 0) {
    return result::ok;
  }
  ERR_clear_error();
  int r = SSL_write(ssl_, data, static_cast<int>(size));
  if (r > 0) {
    n = static_cast<std::size_t>(r);
    return result::ok;
  }
  return failure(r);
}

void tls_transport::shutdown() {
  if (handshake_done()) {
    SSL_shutdown(ssl_);
  }
}

std::size_t tls_transport::take_ciphertext(std::string& out) {
  auto pending = BIO_ctrl_pending(out_);
  if (pending == 0) {
    return 0;
  }
  auto at = out.size();
  out.resize(at + pending);
  auto n = BIO_read(out_, out.data() + at, static_cast<int>(pending));
  out.resize(at + static_cast<std::size_t>(std::max(n, 0)));
  return static_cast<std::size_t>(std::max(n, 0));
}

bool tls_transport::has_ciphertext() const {
  return BIO_ctrl_pending(out_) > 0;
}

bool tls_transport::has_buffered_input() const {
  return SSL_pending(ssl_) > 0 || BIO_ctrl_pending(in_) > 0;
}

std::string_view tls_transport::alpn() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view{};
}

}  // namespace sb::io
