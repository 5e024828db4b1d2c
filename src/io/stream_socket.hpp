#pragma once
// The TCP socket of a connection, with a wait for input that costs no syscall to arm (see
// io/reactor_wait.hpp for why).
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "io/loop.hpp"
#include "io/reactor_wait.hpp"

namespace sb::io {

class stream_socket final
    : public boost::asio::basic_stream_socket<boost::asio::ip::tcp, loop::executor_type> {
 public:
  using base = boost::asio::basic_stream_socket<boost::asio::ip::tcp, loop::executor_type>;
  explicit stream_socket(base&& s) : base(std::move(s)) {}

  /// Calls `w`'s callback once the socket has input (or an error, or end of stream) that arrived
  /// after the last time it had none; with operation_aborted when the socket closes first.
  void wait_readable(read_wait& w);
};

}  // namespace sb::io
