#include "io/stream_socket.hpp"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/query.hpp>

namespace sb::io {

read_wait::read_wait(callback cb, void* target)
#if SB_READ_WAIT_ON_REACTOR
    : reactor_op(boost::system::error_code(), &read_wait::perform, &read_wait::complete),
      cb_(cb),
      target_(target)
#else
    : cb_(cb),
      target_(target)
#endif
{
}

void read_wait::finish(boost::system::error_code ec, bool abandoned) {
  pending_ = false;
  cb_(target_, ec, abandoned);
}

#if SB_READ_WAIT_ON_REACTOR
void read_wait::complete(void* owner, boost::asio::detail::operation* base,
                         const boost::system::error_code&, std::size_t) {
  auto* self = static_cast<read_wait*>(static_cast<reactor_op*>(base));
  // The reactor reports cancellation (the socket closed) in the op's own error code.
  auto ec = self->ec_;
  self->ec_ = {};
  self->finish(ec, owner == nullptr);
}
#endif

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
