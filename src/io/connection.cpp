#include "io/connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

namespace sb::io {
namespace {

std::atomic<std::uint64_t> next_connection_id{1};

/// Writes per flush for one connection before others get their turn.
constexpr int writes_per_flush = 8;
constexpr int max_iov = 64;

}  // namespace

connection::connection(loop& l, socket_type socket)
    : loop_(&l),
      side_(std::make_unique<side_state>()),
      id_(next_id()),
      fd_(socket.native_handle()) {
  side_->reactor.emplace(std::move(socket), this);
  boost::system::error_code ec;
  auto peer = reactor()->socket.remote_endpoint(ec);
  if (!ec) {
    auto address = peer.address();
    peer_port_ = peer.port();
    if (address.is_v6()) {
      peer_.v6 = new v6_address{address.to_v6().to_bytes(), address.to_v6().scope_id()};
      peer_v6_ = true;
    } else {
      peer_.v4 = address.to_v4().to_bytes();
    }
  }
  reactor()->socket.non_blocking(true, ec);
  reactor()->socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);
  timer_.bind<&connection::on_timer>(this);
  l.adopt(*this);
}

std::uint64_t connection::next_id() {
  return next_connection_id.fetch_add(1, std::memory_order_relaxed);
}

connection::~connection() {
  if (!reactor() && state_ != state::closed) {
    loop_->unwatch(fd_);
    ::close(fd_);
  }
  loop_->release(*this);
  if (lease_) {
    lease_->release(peer().address());
  }
  if (peer_v6_) {
    delete peer_.v6;
  }
}

boost::asio::ip::tcp::endpoint connection::peer() const {
  if (peer_v6_) {
    return {boost::asio::ip::address_v6(peer_.v6->bytes, peer_.v6->scope), peer_port_};
  }
  return {boost::asio::ip::address_v4(peer_.v4), peer_port_};
}

void connection::enable_tls(SSL* ssl) {
  if (!side_) {
    side_ = std::make_unique<side_state>();
  }
  side_->tls.emplace(ssl);
}

void connection::start(std::unique_ptr<connection_handler> h) {
  if (!owns_self_) {
    ref().release();
    owns_self_ = true;
  }
  handler_ = std::move(h);
  wait_readable();
}

void connection::replace_handler(std::unique_ptr<connection_handler> h) {
  auto retired = std::move(handler_);
  handler_ = std::move(h);
  if (retired) {
    boost::asio::post(loop_->context(),
                      [old = std::shared_ptr<connection_handler>(std::move(retired))] {});
  }
}

std::size_t connection::read_some(char* data, std::size_t size, boost::system::error_code& ec) {
  return tls() ? read_tls(data, size, ec) : recv_raw(data, size, ec);
}

std::size_t connection::read_tls(char* data, std::size_t size, boost::system::error_code& ec) {
  // Each pass either returns plaintext or moves ciphertext from the socket into OpenSSL; it ends
  // when the socket has nothing more (would_block), so it cannot spin.
  for (;;) {
    std::size_t n = 0;
    auto r = tls()->transport.read(data, size, n);
    if (tls()->transport.has_ciphertext()) {
      request_flush();  // handshake messages, alerts or session tickets to send
    }
    if (r == tls_transport::result::ok) {
      ec = {};
      return n;
    }
    if (r == tls_transport::result::closed) {
      ec = boost::asio::error::eof;
      return 0;
    }
    if (r == tls_transport::result::failed) {
      ec = boost::asio::error::connection_aborted;
      return 0;
    }
    char cipher[16 << 10];
    auto got = recv_raw(cipher, sizeof cipher, ec);
    if (ec) {
      return 0;
    }
    tls()->transport.put_ciphertext(cipher, got);
  }
}

std::size_t connection::recv_raw(char* data, std::size_t size, boost::system::error_code& ec) {
  if (drained_) {
    ec = boost::asio::error::would_block;
    return 0;
  }
  for (;;) {
    iovec into{data, size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr m{};
    m.msg_iov = &into;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    auto n = ::recvmsg(fd_, &m, MSG_DONTWAIT);
    if (n > 0) {
      ec = {};
      // With TCP_INQ (set on the listener, see io/listener.cpp) the kernel says what is left,
      // the peer's FIN counting as one byte: nothing left means the socket is empty and epoll
      // (edge-triggered) reports whatever comes next, so the next read can be skipped. Without
      // it a short read proves nothing: the FIN may have come with the data, and only another
      // read reports it.
      if (auto* c = CMSG_FIRSTHDR(&m);
          c && c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
        int left = 0;
        std::memcpy(&left, CMSG_DATA(c), sizeof left);
        drained_ = left == 0;
      }
      return static_cast<std::size_t>(n);
    }
    if (n == 0) {
      ec = boost::asio::error::eof;
      return 0;
    }
    if (errno == EINTR) {
      continue;
    }
    ec = boost::system::error_code(errno, boost::system::system_category());
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ec = boost::asio::error::would_block;
      drained_ = true;
    }
    return 0;
  }
}

void connection::wait_readable() {
  if (read_armed_ || state_ == state::closed) {
    return;
  }
  if (park_wanted_ && reactor() && !write_armed_) {
    move_to_loop_set();  // no wait is pending on the reactor now, so it can let go
  }
  read_armed_ = true;
  // Epoll is edge-triggered: it tells of input that arrives, not of input already there. So the
  // wait is for real only once a read has found the socket empty; before that (a new connection,
  // a handler that stopped reading early) the handler is asked to read again on the next turn.
  // Likewise when OpenSSL holds input the handler has not taken yet.
  bool input_may_wait =
      !drained_ || (tls() && tls()->transport.has_buffered_input() && state_ == state::open);
  if (input_may_wait) {
    boost::asio::post(loop_->context(), [self = ref()] {
      self->read_armed_ = false;
      if (self->state_ == state::lingering) {
        self->discard_input();
      } else if (self->state_ == state::open && self->handler_) {
        self->readable();
      }
    });
    return;
  }
  if (!reactor()) {
    return;  // the loop's epoll set says when input comes (on_watched_event)
  }
  reactor()->hold = ref();
  reactor()->socket.wait_readable(reactor()->wait);
}

void connection::move_to_loop_set() {
  park_wanted_ = false;
  if (!loop_->watch(*this, fd_)) {
    return;  // stays on the reactor
  }
  // Asio forgets the socket (its registration and its state) and leaves it open.
  boost::system::error_code ec;
  reactor()->socket.release(ec);
  if (ec) {
    loop_->unwatch(fd_);
    return;
  }
  side_->reactor.reset();
  if (!side_->tls) {
    side_.reset();
  }
}

void connection::on_watched_event(std::uint32_t events) {
  if (state_ == state::closed) {
    return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    // A wait is for real only when the socket was found empty; otherwise a read is already
    // posted (wait_readable) and will see this input.
    bool waiting = read_armed_ && drained_;
    drained_ = false;
    if (waiting) {
      read_armed_ = false;
      if (state_ == state::lingering) {
        discard_input();
      } else if (state_ == state::open && handler_) {
        readable();
      }
    }
  }
  if (write_armed_ && state_ != state::closed && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
    write_armed_ = false;
    flush();
  }
}

void connection::on_read_wait(void* target, boost::system::error_code ec, bool abandoned) {
  auto* self = static_cast<connection*>(target);
  auto keep = std::move(self->reactor()->hold);  // may be the last owner: ends with this call
  self->read_armed_ = false;
  if (abandoned || ec || self->state_ == state::closed) {
    return;
  }
  self->drained_ = false;
  if (self->state_ == state::lingering) {
    self->discard_input();
  } else if (self->state_ == state::open && self->handler_) {
    self->readable();
  }
}

void connection::readable() {
  // What the handler answers to this input is written when it returns: all the answers to
  // pipelined requests in one write, and no extra loop turn (a posted flush pass would make the
  // loop poll epoll once more before it) for a request that came alone.
  reading_ = true;
  handler_->on_readable();
  reading_ = false;
  if (flush_wanted_) {
    flush_wanted_ = false;
    flush();
  }
}

void connection::send(shared_bytes b) {
  if (state_ != state::open) {
    return;
  }
  queue_.push(std::move(b));
  request_flush();
}

void connection::request_flush() {
  if (state_ == state::closed || write_armed_) {
    return;
  }
  if (reading_) {
    flush_wanted_ = true;  // readable() flushes when the handler returns
    return;
  }
  loop_->request_flush(*this);
}

void connection::flush() {
  if (state_ == state::closed || write_armed_) {
    return;
  }
  if (state_ == state::open && handler_) {
    handler_->on_flush();
    if (state_ == state::closed) {
      return;
    }
  }
  loop_->before_write();
  if (tls()) {
    flush_tls();
    return;
  }
  iovec iov[max_iov];
  bool wrote = false;
  for (int i = 0; i < writes_per_flush && !queue_.empty(); ++i) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(queue_.gather(iov, max_iov));
    auto n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_writable();
        break;
      }
      close();
      return;
    }
    queue_.consume(static_cast<std::size_t>(n));
    wrote = true;
  }
  if (!queue_.empty() && !write_armed_) {
    loop_->request_flush(*this);  // over this pass's share: continue next pass
  }
  if (wrote && handler_ && state_ == state::open) {
    handler_->on_sent();
  }
  if (queue_.empty() && state_ == state::flushing_to_close) {
    begin_linger();
  }
}

void connection::flush_tls() {
  constexpr std::size_t record_batch = 64 << 10;
  auto& t = *tls();
  bool wrote = false;
  for (int i = 0; i < writes_per_flush; ++i) {
    if (t.out_at == t.out.size()) {
      t.out.clear();
      t.out_at = 0;
      // Encrypt a batch of the queue: many small messages become few records and one send.
      iovec iov[max_iov];
      while (!queue_.empty() && t.out.size() < record_batch && t.transport.handshake_done()) {
        int count = queue_.gather(iov, max_iov);
        std::size_t taken = 0;
        for (int k = 0; k < count && t.out.size() < record_batch; ++k) {
          std::size_t n = 0;
          auto r = t.transport.write(static_cast<const char*>(iov[k].iov_base), iov[k].iov_len, n);
          taken += n;
          t.transport.take_ciphertext(t.out);
          if (r == tls_transport::result::failed || r == tls_transport::result::closed) {
            close();
            return;
          }
          if (n < iov[k].iov_len) {
            break;
          }
        }
        if (taken == 0) {
          break;
        }
        queue_.consume(taken);
      }
      t.transport.take_ciphertext(t.out);
      if (t.out.empty()) {
        break;
      }
    }
    auto n =
        ::send(fd_, t.out.data() + t.out_at, t.out.size() - t.out_at, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_writable();
        break;
      }
      close();
      return;
    }
    t.out_at += static_cast<std::size_t>(n);
    wrote = true;
  }
  bool more = t.out_at < t.out.size() || t.transport.has_ciphertext() ||
              (!queue_.empty() && t.transport.handshake_done());
  if (more && !write_armed_) {
    loop_->request_flush(*this);
  }
  if (t.out_at == t.out.size() && t.out.capacity() > (256 << 10)) {
    std::string().swap(t.out);  // an idle connection keeps no large buffer (`= {}` would keep it)
    t.out_at = 0;
  }
  if (wrote && handler_ && state_ == state::open) {
    handler_->on_sent();
  }
  if (output_idle() && state_ == state::flushing_to_close) {
    begin_linger();
  }
}

void connection::wait_writable() {
  write_armed_ = true;
  if (!reactor()) {
    return;  // the loop's epoll set says when there is room (on_watched_event)
  }
  reactor()->socket.async_wait(socket_type::wait_write,
                               [self = ref()](boost::system::error_code ec) {
                                 self->write_armed_ = false;
                                 if (!ec) {
                                   self->flush();
                                 }
                               });
}

void connection::set_timer(timing_wheel::duration delay) {
  if (state_ != state::closed) {
    loop_->wheel().schedule(timer_, delay);
  }
}

void connection::set_beat(timing_wheel::duration interval) {
  if (state_ != state::closed) {
    loop_->wheel().schedule_beat(timer_, interval);
  }
}

void connection::on_timer() {
  if (state_ == state::lingering || state_ == state::flushing_to_close) {
    close();  // the peer did not finish in time
  } else if (handler_) {
    handler_->on_timer();
  }
}

void connection::close_after_flush(timing_wheel::duration linger) {
  if (state_ != state::open) {
    return;
  }
  state_ = state::flushing_to_close;
  if (handler_) {
    handler_->on_close();
  }
  set_timer(linger);
  if (output_idle()) {
    begin_linger();
  }
}

void connection::begin_linger() {
  // Shut down our side, then read until the peer hangs up: closing with unread input would send
  // a reset that can destroy the response we just wrote before the peer reads it.
  state_ = state::lingering;
  if (tls()) {
    // close_notify, best effort: the peer may already be gone, and nothing waits for it.
    tls()->transport.shutdown();
    std::string alert;
    tls()->transport.take_ciphertext(alert);
    if (!alert.empty()) {
      [[maybe_unused]] auto n =
          ::send(fd_, alert.data(), alert.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
  ::shutdown(fd_, SHUT_WR);
  discard_input();
}

void connection::discard_input() {
  char sink[4096];
  boost::system::error_code ec;
  for (int i = 0; i < 16; ++i) {
    recv_raw(sink, sizeof sink, ec);
    if (ec == boost::asio::error::would_block) {
      wait_readable();
      return;
    }
    if (ec) {
      close();
      return;
    }
  }
  wait_readable();
}

void connection::close() {
  if (state_ == state::closed) {
    return;
  }
  // `this` may be destroyed when this function returns.
  auto keep = owns_self_ ? connection_ptr::adopt(this) : connection_ptr{};
  owns_self_ = false;
  auto was = state_;
  state_ = state::closed;
  timer_.cancel();
  loop_->release(*this);
  queue_.clear();
  if (was == state::open && handler_) {
    handler_->on_close();
  }
  if (reactor()) {
    boost::system::error_code ec;
    reactor()->socket.close(ec);  // a pending wait completes (aborted) and lets go of `this`
  } else {
    loop_->unwatch(fd_);
    ::close(fd_);
  }
}

}  // namespace sb::io
