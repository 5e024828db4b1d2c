#pragma once
// A wait for input that costs no syscall to arm, on a socket (io/stream_socket.hpp) or on any
// other descriptor the loop watches (its own epoll set, io/loop.hpp).
//
// Why not Asio's own waits: `async_wait(wait_read)` re-arms the descriptor with an
// `epoll_ctl(MOD)` every time, and `async_receive` first tries a `recv` that, for a keep-alive
// request that arrives alone, finds nothing. Either costs one syscall per request on top of the
// read and the write, about a third of the work of a small publish (docs/benchmarks.md, publish
// ingest; a syscall costs ~1.2 µs on these VMs). The descriptor is registered edge-triggered, so a
// wait only has to learn whether input arrived since the last read that emptied it: this op says
// "done" whenever the reactor asks, and the reactor asks at arming only when an event came since
// the last completion (`try_speculative_`), else it queues the op without a syscall.
//
// It uses Asio's reactor through its detail API (epoll_reactor::start_op, reactor_op), which is
// not a stable interface: it is checked for the Boost that Debian 12 ships (1.81), and any other
// Boost, or a build whose reactor is not epoll, falls back to async_wait.
#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>
#include <boost/version.hpp>

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define SB_READ_WAIT_ON_REACTOR 1
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#else
#define SB_READ_WAIT_ON_REACTOR 0
#include <boost/asio/posix/stream_descriptor.hpp>
#endif

namespace sb::io {

/// One wait for input, owned by whoever waits and reused for every wait (no allocation).
class read_wait final
#if SB_READ_WAIT_ON_REACTOR
    : private boost::asio::detail::reactor_op
#endif
{
 public:
  /// `abandoned`: the loop is being destroyed with the wait pending; release, do not read.
  using callback = void (*)(void* target, boost::system::error_code ec, bool abandoned);

  read_wait(callback cb, void* target);
  read_wait(const read_wait&) = delete;
  read_wait& operator=(const read_wait&) = delete;

  bool pending() const {
    return pending_;
  }

 private:
  friend class stream_socket;
  friend class reactor_descriptor;
#if SB_READ_WAIT_ON_REACTOR
  static status perform(reactor_op*) {
    return done_and_exhausted;
  }
  static void complete(void* owner, boost::asio::detail::operation* base,
                       const boost::system::error_code&, std::size_t);
#endif
  void finish(boost::system::error_code ec, bool abandoned);

  callback cb_;
  void* target_;
  bool pending_ = false;
};

/// A descriptor that is not a socket (the loop's epoll set) watched by the loop's reactor, with
/// the same wait as a stream_socket. Does not own the descriptor: deregister it before closing.
class reactor_descriptor {
 public:
  reactor_descriptor(boost::asio::io_context& ctx, int fd);
  reactor_descriptor(const reactor_descriptor&) = delete;
  reactor_descriptor& operator=(const reactor_descriptor&) = delete;
  /// Deregisters; a pending wait completes with operation_aborted (abandoned if the context is
  /// being destroyed).
  ~reactor_descriptor();

  /// Calls `w`'s callback once the descriptor is readable after the last completed wait.
  void wait_readable(read_wait& w);

 private:
#if SB_READ_WAIT_ON_REACTOR
  boost::asio::detail::epoll_reactor& reactor_;
  boost::asio::detail::epoll_reactor::per_descriptor_data data_ = nullptr;
  int fd_;
#else
  boost::asio::posix::stream_descriptor descriptor_;
#endif
};

}  // namespace sb::io
