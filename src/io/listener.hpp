#pragma once
// Accepts connections for one loop. Every loop has its own listener bound to the same address
// with SO_REUSEPORT, so the kernel spreads new connections over the loops and no accept is shared.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>

#include "io/connection.hpp"
#include "io/loop.hpp"

namespace sb::io {

/// Throws `system_error(address_in_use)` when any socket already listens on `at`. Every loop binds
/// with SO_REUSEPORT, and so would a second Switchboard process started by mistake: the kernel
/// would then split new connections between two servers with different histories, silently. A
/// probe bound without SO_REUSEPORT is refused by any listener, ours or another program's; it is
/// closed again before the loops bind (a deliberate handover skips this check: `reuse_port`).
void ensure_address_free(const boost::asio::ip::tcp::endpoint& at);

class listener {
 public:
  /// Called on the loop for every accepted connection; installs its first handler.
  using accept_handler = std::function<void(const connection_ptr&)>;

  /// Binds and listens; throws on failure (startup only).
  listener(loop& l, const boost::asio::ip::tcp::endpoint& at, accept_handler on_accept);

  void start();
  /// Stops accepting; safe to call from the listener's loop only.
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void do_accept();

  loop* loop_;
  boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, loop::executor_type> acceptor_;
  boost::asio::steady_timer backoff_;
  accept_handler on_accept_;
  bool stopped_ = false;
};

}  // namespace sb::io
