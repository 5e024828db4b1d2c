#include "io/listener.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/socket_base.hpp>

namespace sb::io {

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
    on_accept_(std::make_shared<connection>(*loop_, std::move(socket)));
  }
  acceptor_.close(ec);
  backoff_.cancel();
}

void listener::do_accept() {
  if (stopped_) {
    return;
  }
  acceptor_.async_accept(
      loop_->executor(), [this](boost::system::error_code ec, connection::socket_type socket) {
        if (stopped_) {
          return;
        }
        if (ec) {
          if (ec == boost::asio::error::no_descriptors ||
              ec == boost::asio::error::no_buffer_space || ec == boost::asio::error::no_memory) {
            // Out of descriptors: back off instead of spinning on a listen queue we cannot empty.
            spdlog::warn("accept: {}; pausing accepts for 100 ms", ec.message());
            backoff_.expires_after(std::chrono::milliseconds(100));
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
          on_accept_(std::make_shared<connection>(*loop_, std::move(socket)));
        }
        do_accept();
      });
}

}  // namespace sb::io
