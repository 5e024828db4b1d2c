#pragma once
// The client's end of an in-process connection (in_process_server::accept): writes bytes, reads
// everything the server has written so far, and tells when the server has hung up. Non-blocking:
// the test turns the server's loop (in_process_server::run) between a write and a read.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

namespace sb::testing {

class peer_socket {
 public:
  peer_socket() = default;
  explicit peer_socket(int fd) : fd_(fd) {}
  peer_socket(const peer_socket&) = delete;
  peer_socket& operator=(const peer_socket&) = delete;
  peer_socket& operator=(peer_socket&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
      hung_up_ = std::exchange(o.hung_up_, false);
    }
    return *this;
  }
  ~peer_socket() { close(); }

  int fd() const { return fd_; }

  /// Writes all of `bytes` (small writes: the socketpair's buffer takes them at once). False if
  /// the server is gone.
  bool write(std::string_view bytes) {
    while (!bytes.empty()) {
      auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// What the server wrote since the last read.
  std::string read() {
    std::string out;
    char buf[65536];
    for (;;) {
      auto n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        hung_up_ = true;
      }
      return out;
    }
  }

  /// The last read() met the end of the stream: the server closed, or shut down its side.
  bool hung_up() const { return hung_up_; }

  /// Half-closes: the server reads end of stream.
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_ = -1;
  bool hung_up_ = false;
};

}  // namespace sb::testing
