#pragma once
// TLS for io::connection, protocol-agnostic: a server context (certificate, key, ALPN choice) that
// SIGHUP can replace, and a per-connection transport that OpenSSL drives through memory BIOs, so
// the socket stays ours (direct non-blocking syscalls, one gathered write per flush) and OpenSSL
// only turns plaintext into records and back.
#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sb::io {

class tls_context {
 public:
  /// Loads `cert_file` (PEM chain) and `key_file`; throws std::runtime_error with the reason
  /// (startup only). `alpn` lists the protocols offered, most preferred first ("h2", "http/1.1").
  tls_context(std::string cert_file, std::string key_file, std::vector<std::string> alpn);
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;
  ~tls_context();

  /// Re-reads the certificate and key; new connections use them, open ones keep theirs. On
  /// failure the old ones stay and `error` says why. Any thread.
  bool reload(std::string& error);

  /// A new server-side SSL object on the current certificate. Any thread.
  SSL* new_ssl();

 private:
  SSL_CTX* build(std::string& error);

  std::string cert_file_;
  std::string key_file_;
  std::string alpn_wire_;  // ALPN protocol list in wire format (length-prefixed)
  std::mutex mutex_;
  SSL_CTX* ctx_ = nullptr;
};

/// One connection's TLS state: ciphertext in, plaintext out, and the reverse.
class tls_transport {
 public:
  explicit tls_transport(SSL* ssl);
  tls_transport(const tls_transport&) = delete;
  tls_transport& operator=(const tls_transport&) = delete;
  ~tls_transport();

  enum class result : std::uint8_t { ok, want_input, closed, failed };

  /// Hands received ciphertext to OpenSSL.
  void put_ciphertext(const char* data, std::size_t size);
  /// Decrypts into `data`; `n` is what was produced (when `ok`). Drives the handshake.
  result read(char* data, std::size_t size, std::size_t& n);
  /// Encrypts up to `size` bytes; `n` is how many were taken (0 while the handshake runs).
  result write(const char* data, std::size_t size, std::size_t& n);
  /// Queues a close_notify alert.
  void shutdown();
  /// Moves the ciphertext OpenSSL has produced (records, handshake messages) to the back of `out`.
  std::size_t take_ciphertext(std::string& out);
  bool has_ciphertext() const;
  /// OpenSSL holds input not yet returned by read() (decrypted, or ciphertext not yet decrypted).
  bool has_buffered_input() const;
  bool handshake_done() const { return SSL_is_init_finished(ssl_) == 1; }
  /// The protocol ALPN chose ("h2", "http/1.1"), empty when none was.
  std::string_view alpn() const;

 private:
  /// What a failed SSL_read or SSL_write (return value r) means for the caller.
  result failure(int r) const;
  SSL* ssl_;
  BIO* in_;   // ciphertext from the peer, read by OpenSSL
  BIO* out_;  // ciphertext for the peer, written by OpenSSL
};

}  // namespace sb::io
