// The loop's flush order: a connection answering a request is written before the subscribers of
// a fan-out queued ahead of it, within the same pass, so a publisher's answer never waits behind
// the writes its own message caused; and answers take at most half a pass while subscribers wait,
// so a busy publisher side cannot starve them. Over real loopback connections.
#include "io/loop.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../../support/recording_handler.hpp"
#include "io/connection.hpp"

namespace sb::io {
namespace {

using namespace std::chrono_literals;
namespace ip = boost::asio::ip;

class flush_order : public ::testing::Test {
 protected:
  /// A connection of the loop and its client end; `subscriber`: parked (long-lived).
  struct pair {
    connection_ptr server;
    std::unique_ptr<ip::tcp::socket> client;
  };
  pair open(bool subscriber) {
    ip::tcp::acceptor acceptor(l_.context(), {ip::address_v4::loopback(), 0});
    pair p;
    p.client = std::make_unique<ip::tcp::socket>(client_ctx_);
    p.client->connect(acceptor.local_endpoint());
    p.client->non_blocking(true);
    connection::socket_type s(l_.context());
    acceptor.accept(s);
    p.server = connection::make(l_, std::move(s));
    if (subscriber) {
      p.server->park();
    }
    p.server->start(std::make_unique<testing::recording_handler>(*p.server));
    return p;
  }
  void TearDown() override {
    for (auto& p : pairs_) {
      p.server->close();
    }
    poll();
  }

  /// Runs what is ready now.
  void poll() {
    l_.context().restart();
    l_.context().poll();
  }
  /// Runs handlers one at a time until `c` has been written: the flush pass that writes it.
  void run_pass_writing(connection& c) {
    for (int i = 0; i < 10 && c.queued_bytes() != 0; ++i) {
      l_.context().restart();
      l_.context().poll_one();
    }
  }
  static std::string read_all(ip::tcp::socket& s) {
    std::string got;
    char buf[4096];
    for (;;) {
      boost::system::error_code ec;
      auto n = s.read_some(boost::asio::buffer(buf), ec);
      if (ec) {
        return got;
      }
      got.append(buf, n);
    }
  }
  /// Sends `what` to every subscriber, as a fan-out does.
  void fan_out(const std::string& what) {
    for (auto& p : pairs_) {
      p.server->send(what);
    }
  }

  loop l_{0, 10ms};
  boost::asio::io_context client_ctx_;
  std::vector<pair> pairs_;
};

TEST_F(flush_order, an_answer_goes_before_the_subscribers_queued_ahead_of_it) {
  // More subscribers than one pass writes (loop::flush_budget), so the order shows.
  constexpr int subscribers = loop::flush_budget + 6;
  for (int i = 0; i < subscribers; ++i) {
    pairs_.push_back(open(true));
  }
  auto answer = open(false);
  poll();  // the subscribers are parked now; nothing else is ready
  fan_out("m");
  answer.server->send(std::string("HTTP/1.1 201 Created\r\n\r\n"));
  // One pass: the answer, then the budget's rest of the subscribers, in their order.
  run_pass_writing(*answer.server);
  EXPECT_EQ(read_all(*answer.client), "HTTP/1.1 201 Created\r\n\r\n");
  for (int i = 0; i < subscribers; ++i) {
    bool written = i < loop::flush_budget - 1;
    EXPECT_EQ(pairs_[static_cast<std::size_t>(i)].server->queued_bytes(), written ? 0u : 1u)
        << "subscriber " << i;
  }
  // The next pass writes the rest.
  poll();
  for (auto& p : pairs_) {
    EXPECT_EQ(read_all(*p.client), "m");
  }
  answer.server->close();
}

TEST_F(flush_order, answers_take_at_most_half_a_pass_while_subscribers_wait) {
  constexpr int answers = loop::flush_budget + 6;
  constexpr int subscribers = 3;
  for (int i = 0; i < subscribers; ++i) {
    pairs_.push_back(open(true));
  }
  std::vector<pair> answering;
  for (int i = 0; i < answers; ++i) {
    answering.push_back(open(false));
  }
  poll();
  for (auto& a : answering) {
    a.server->send(std::string("HTTP/1.1 201 Created\r\n\r\n"));
  }
  fan_out("m");
  run_pass_writing(*pairs_.front().server);
  // One pass: half its budget of answers, the three subscribers, then answers again to the end of
  // the budget.
  for (auto& p : pairs_) {
    EXPECT_EQ(read_all(*p.client), "m");
  }
  int written = 0;
  for (auto& a : answering) {
    written += a.server->queued_bytes() == 0 ? 1 : 0;
  }
  EXPECT_EQ(written, loop::flush_budget - subscribers);
  poll();
  for (auto& a : answering) {
    EXPECT_EQ(read_all(*a.client), "HTTP/1.1 201 Created\r\n\r\n");
    a.server->close();
  }
}

}  // namespace
}  // namespace sb::io
