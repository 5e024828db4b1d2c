#include "io/listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/socket_base.hpp>

#include "io/log_throttle.hpp"

namespace sb::io {
namespace {

// Out of descriptors, every loop retries every 100 ms: without a throttle that is tens of lines a
// second for as long as the condition lasts, which buries everything else in the log.
constexpr auto accept_backoff = std::chrono::milliseconds(100);
log_throttle& accept_failures() {
  static log_throttle throttle{std::chrono::seconds(5)};
  return throttle;
}

}  // namespace

void ensure_address_free(const boost::asio::ip::tcp::endpoint& at) {
  boost::asio::io_context scratch;
  boost::asio::ip::tcp::acceptor probe(scratch);
  probe.open(at.protocol());
  // SO_REUSEADDR only lets the probe past connections in TIME_WAIT from an earlier run; a
  // listening socket still refuses it.
  probe.set_option(boost::asio::socket_base::reuse_address(true));
  probe.bind(at);
}

listener::listener(loop& l, const boost::asio::ip::tcp::endpoint& at, accept_handler on_accept)
    : loop_(&l), acceptor_(l.executor()), backoff_(l.context()), on_accept_(std::move(on_accept)) {
  acceptor_.open(at.protocol());
  acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
  int one = 1;
  if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw boost::system::system_error(errno, boost::system::system_category(), "SO_REUSEPORT");
  }
  // Every read then also says how much the socket still holds, the peer's FIN counting as one
  // byte (TCP_INQ, Linux 4.18): a read that empties the socket is known to, so a request that came
  // alone costs one read, not a second one that finds nothing (io/connection.cpp, recv_raw).
  // Accepted sockets inherit it. Without it (an older kernel) reads go on until one finds nothing.
  ::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_INQ, &one, sizeof one);
  acceptor_.bind(at);
  acceptor_.listen(4096);
  acceptor_.non_blocking(true);
}

void listener::start() {
  do_accept();
}

void listener::stop() {
  stopped_ = true;
  // What the kernel already queued for this socket would be reset by the close: take it first,
  // so that a draining server (or one handing its port over, reuse_port) answers what reached it.
  boost::system::error_code ec;
  for (int taken = 0; taken < 4096; ++taken) {
    connection::socket_type socket = acceptor_.accept(loop_->executor(), ec);
    if (ec) {
      break;
    }
    on_accept_(connection::make(*loop_, std::move(socket)));
  }
  acceptor_.close(ec);
  backoff_.cancel();
}

void listener::do_accept() {
  if (stopped_) {
    return;
  }
  acceptor_.async_accept(loop_->executor(), [this](boost::system::error_code ec,
                                                   connection::socket_type socket) {
    if (stopped_) {
      return;
    }
    if (ec) {
      if (ec == boost::asio::error::no_descriptors || ec == boost::asio::error::no_buffer_space ||
          ec == boost::asio::error::no_memory) {
        // Out of descriptors: back off instead of spinning on a listen queue we cannot empty.
        if (auto suppressed = accept_failures().admit()) {
          spdlog::warn(
              "accept: {}; pausing accepts for {} ms ({} more since the last line; one line per 5 "
              "s)",
              ec.message(), accept_backoff.count(), *suppressed);
        }
        backoff_.expires_after(accept_backoff);
        backoff_.async_wait([this](boost::system::error_code e) {
          if (!e) {
            do_accept();
          }
        });
        return;
      }
      if (ec == boost::asio::error::operation_aborted) {
        return;
      }
      spdlog::debug("accept: {}", ec.message());
    } else {
      on_accept_(connection::make(*loop_, std::move(socket)));
    }
    do_accept();
  });
}

}  // namespace sb::io
