#include "io/reactor_wait.hpp"

#include <boost/asio/execution/context.hpp>
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

reactor_descriptor::reactor_descriptor(boost::asio::io_context& ctx, int fd)
    : reactor_(boost::asio::use_service<boost::asio::detail::epoll_reactor>(ctx)), fd_(fd) {
  if (reactor_.register_descriptor(fd_, data_) != 0) {
    data_ = nullptr;  // a wait then completes at once with bad_descriptor
  }
}

reactor_descriptor::~reactor_descriptor() {
  if (data_) {
    reactor_.deregister_descriptor(fd_, data_, false);
    reactor_.cleanup_descriptor_data(data_);
  }
}

void reactor_descriptor::wait_readable(read_wait& w) {
  w.pending_ = true;
  reactor_.start_op(boost::asio::detail::epoll_reactor::read_op, fd_, data_, &w, false, true);
}
#else
reactor_descriptor::reactor_descriptor(boost::asio::io_context& ctx, int fd)
    : descriptor_(ctx, fd) {}

reactor_descriptor::~reactor_descriptor() {
  descriptor_.release();  // the owner closes the descriptor
}

void reactor_descriptor::wait_readable(read_wait& w) {
  w.pending_ = true;
  descriptor_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                         [&w](boost::system::error_code ec) { w.finish(ec, false); });
}
#endif

}  // namespace sb::io
