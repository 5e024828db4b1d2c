#include "io/stream_socket.hpp"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/query.hpp>

namespace sb::io {

void stream_socket::wait_readable(read_wait& w) {
  w.pending_ = true;
#if SB_READ_WAIT_ON_REACTOR
  auto& impl = impl_.get_implementation();
  auto& reactor = boost::asio::use_service<boost::asio::detail::epoll_reactor>(
      boost::asio::query(get_executor(), boost::asio::execution::context));
  reactor.start_op(boost::asio::detail::epoll_reactor::read_op, impl.socket_, impl.reactor_data_,
                   &w, false, true);
#else
  async_wait(wait_read, [&w](boost::system::error_code ec) { w.finish(ec, false); });
#endif
}

}  // namespace sb::io
