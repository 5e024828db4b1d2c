// A parked connection (connection::park): watched by its loop's own epoll set instead of Asio's
// reactor. Over a real loopback TCP pair, since what is tested is the epoll set's edges.
#include "io/connection.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "../../support/recording_handler.hpp"

namespace sb::io {
namespace {

using namespace std::chrono_literals;
namespace ip = boost::asio::ip;

using recorder = testing::recording_handler;

class parked_connection : public ::testing::Test {
 protected:
  void SetUp() override {
    ip::tcp::acceptor acceptor(l_.context(), {ip::address_v4::loopback(), 0});
    // Small buffers, so a few hundred KiB fill the socket.
    client_.open(ip::tcp::v4());
    client_.set_option(boost::asio::socket_base::receive_buffer_size(8192));
    client_.connect(acceptor.local_endpoint());
    connection::socket_type s(l_.context());
    acceptor.accept(s);
    s.set_option(boost::asio::socket_base::send_buffer_size(8192));
    conn_ = connection::make(l_, std::move(s));
    auto h = std::make_unique<recorder>(*conn_);
    handler_ = h.get();
    conn_->park();
    conn_->start(std::move(h));
    turn();
  }
  void TearDown() override {
    conn_->close();
    turn();
  }

  /// Runs what the loop has ready, for a few milliseconds.
  void turn() {
    l_.context().restart();
    l_.context().run_for(5ms);
  }
  template <class F>
  bool turn_until(F done) {
    for (int i = 0; i < 400 && !done(); ++i) {
      turn();
    }
    return done();
  }

  loop l_{0, 10ms};
  boost::asio::io_context client_ctx_;
  ip::tcp::socket client_{client_ctx_};
  connection_ptr conn_;
  recorder* handler_ = nullptr;
};

// What an idle connection costs is mostly this struct: with its 8 bytes of counts and malloc's
// header it fills a 144-byte block. A field more moves it a size class up, for every connection.
TEST(connection_size, an_idle_connection_fits_a_144_byte_block) {
  EXPECT_LE(sizeof(connection), 128u);
}

TEST_F(parked_connection, leaves_the_reactor_at_its_first_wait_and_still_gets_input) {
  EXPECT_TRUE(conn_->parked());
  boost::asio::write(client_, boost::asio::buffer(std::string("hello ")));
  ASSERT_TRUE(turn_until([&] { return handler_->got == "hello "; })) << handler_->got;
  // A second edge: input after the socket was found empty again.
  boost::asio::write(client_, boost::asio::buffer(std::string("world")));
  ASSERT_TRUE(turn_until([&] { return handler_->got == "hello world"; })) << handler_->got;
  EXPECT_TRUE(conn_->is_open());
}

TEST_F(parked_connection, writes_everything_past_a_full_socket_in_order) {
  // Far more than the (small) socket buffers hold: the connection must wait for room (EPOLLOUT) and
  // resume, while the client reads slowly.
  std::string sent;
  for (int i = 0; sent.size() < (1u << 20); ++i) {
    auto piece = std::string(64 << 10, static_cast<char>('a' + i % 26)) + std::to_string(i);
    sent += piece;
    conn_->send(piece);
  }
  client_.non_blocking(true);
  std::string received;
  char buf[65536];
  for (int i = 0; i < 20000 && received.size() < sent.size(); ++i) {
    turn();
    boost::system::error_code ec;
    auto n = client_.read_some(boost::asio::buffer(buf), ec);
    if (!ec) {
      received.append(buf, n);
    }
  }
  ASSERT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
  EXPECT_EQ(conn_->queued_bytes(), 0u);
}

TEST_F(parked_connection, sees_the_peer_hang_up) {
  boost::asio::write(client_, boost::asio::buffer(std::string("bye")));
  client_.close();
  ASSERT_TRUE(turn_until([&] { return handler_->ended; }));
  EXPECT_EQ(handler_->got, "bye");
  EXPECT_FALSE(conn_->is_open());
}

}  // namespace
}  // namespace sb::io
