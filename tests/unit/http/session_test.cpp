// The HTTP/1.1 session in process: requests are bytes written into a socketpair and every
// assertion is on the bytes written back, with the loop's clock moved by hand for the header and
// idle timeouts (docs/api.md "Limits and bad input").
#include "http/session.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "../../support/in_process_server.hpp"

namespace sb {
namespace {

using namespace std::chrono_literals;
using testing::in_process_server;
using testing::peer_socket;

constexpr std::string_view healthz = "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

class http_session_test : public ::testing::Test {
 protected:
  http_session_test() {
    w.config.http.header_timeout = 10s;
    w.config.http.idle_timeout = 60s;
    w.config.http.max_header_bytes = 1024;
    w.config.messages.max_message_bytes = 100;
    w.config.http.max_request_bytes = 1000;
  }

  /// The status line of each response in `bytes`, in order (bodies skipped by Content-Length).
  static std::vector<std::string> status_lines(std::string_view bytes) {
    std::vector<std::string> out;
    while (!bytes.empty()) {
      auto head_end = bytes.find("\r\n\r\n");
      if (head_end == std::string_view::npos) {
        out.emplace_back("incomplete: " + std::string(bytes));
        break;
      }
      auto head = bytes.substr(0, head_end);
      out.emplace_back(head.substr(0, head.find("\r\n")));
      std::size_t length = 0;
      if (auto at = head.find("Content-Length: "); at != std::string_view::npos) {
        length = std::stoul(std::string(head.substr(at + 16, head.find("\r\n", at) - at - 16)));
      }
      bytes.remove_prefix(std::min(bytes.size(), head_end + 4 + length));
    }
    return out;
  }

  void expect_still_serving() {
    auto answer = w.request("GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_lines(answer), std::vector<std::string>{"HTTP/1.1 200 OK"}) << answer;
  }

  in_process_server w{[](server::config&) {}};
};

TEST_F(http_session_test, pipelined_requests_are_answered_in_order_on_one_connection) {
  peer_socket peer;
  w.accept(peer);
  peer.write(std::string(healthz) + "GET /nowhere HTTP/1.1\r\nHost: test\r\n\r\n" +
             "DELETE /healthz HTTP/1.1\r\nHost: test\r\n\r\n" + std::string(healthz));
  w.run();
  auto got = peer.read();
  EXPECT_EQ(status_lines(got),
            (std::vector<std::string>{"HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found",
                                      "HTTP/1.1 405 Method Not Allowed", "HTTP/1.1 200 OK"}))
      << got;
  EXPECT_EQ(got.find("Connection: close"), std::string::npos);
  EXPECT_NE(got.find("Allow: GET, HEAD"), std::string::npos) << got;
  EXPECT_FALSE(peer.hung_up());
  // Still open for more.
  peer.write(healthz);
  w.run();
  EXPECT_EQ(status_lines(peer.read()), std::vector<std::string>{"HTTP/1.1 200 OK"});
}

TEST_F(http_session_test, a_request_split_byte_by_byte_is_one_request) {
  peer_socket peer;
  w.accept(peer);
  for (char c : healthz) {
    peer.write(std::string_view(&c, 1));
    w.run();
  }
  EXPECT_EQ(status_lines(peer.read()), std::vector<std::string>{"HTTP/1.1 200 OK"});
}

TEST_F(http_session_test, a_head_not_complete_in_header_timeout_is_a_408_and_closed) {
  peer_socket peer;
  w.accept(peer);
  peer.write("GET /healthz HTTP/1.1\r\nHo");
  w.run();
  w.advance(10s - 10ms);
  EXPECT_EQ(peer.read(), "");
  EXPECT_FALSE(peer.hung_up());
  w.advance(10ms);
  auto got = peer.read();
  EXPECT_EQ(status_lines(got), std::vector<std::string>{"HTTP/1.1 408 Request Timeout"}) << got;
  EXPECT_NE(got.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(peer.hung_up());
  expect_still_serving();
}

TEST_F(http_session_test, the_header_timeout_runs_from_the_first_byte_of_a_request) {
  peer_socket peer;
  w.accept(peer);
  w.advance(9s);  // silent before the first request: not yet late
  peer.write("GET /healthz HTTP/1.1\r\n");
  w.run();
  w.advance(5s);
  peer.write("Host: test\r\n");  // more bytes do not restart the deadline
  w.run();
  w.advance(5s - 10ms);
  EXPECT_EQ(peer.read(), "");
  w.advance(10ms);
  EXPECT_EQ(status_lines(peer.read()), std::vector<std::string>{"HTTP/1.1 408 Request Timeout"});
  EXPECT_TRUE(peer.hung_up());
}

TEST_F(http_session_test, a_connection_that_never_sends_is_closed_silently_after_header_timeout) {
  peer_socket peer;
  w.accept(peer);
  w.advance(10s - 10ms);
  EXPECT_EQ(peer.read(), "");
  EXPECT_FALSE(peer.hung_up());
  w.advance(10ms);
  EXPECT_EQ(peer.read(), "");  // no 408: nothing of a request had arrived
  EXPECT_TRUE(peer.hung_up());
}

TEST_F(http_session_test, an_idle_keep_alive_connection_is_closed_silently_after_idle_timeout) {
  peer_socket peer;
  w.accept(peer);
  peer.write(healthz);
  w.run();
  EXPECT_EQ(status_lines(peer.read()), std::vector<std::string>{"HTTP/1.1 200 OK"});
  w.advance(60s - 10ms);
  EXPECT_EQ(peer.read(), "");
  EXPECT_FALSE(peer.hung_up());
  w.advance(10ms);
  EXPECT_EQ(peer.read(), "");  // no 408: nothing of a request had arrived
  EXPECT_TRUE(peer.hung_up());
}

TEST_F(http_session_test, a_head_over_max_header_bytes_is_a_431_and_closed) {
  peer_socket peer;
  w.accept(peer);
  peer.write("GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + std::string(1100, 'a') +
             "\r\n\r\n" + std::string(healthz));
  w.run();
  auto got = peer.read();
  EXPECT_EQ(status_lines(got),
            std::vector<std::string>{"HTTP/1.1 431 Request Header Fields Too Large"})
      << got;
  EXPECT_NE(got.find("\"error\":\"headers_too_large\""), std::string::npos) << got;
  EXPECT_TRUE(peer.hung_up());
  expect_still_serving();
}

TEST_F(http_session_test, a_head_just_under_max_header_bytes_is_served) {
  std::string head = "GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: ";
  head.append(1024 - head.size() - 4, 'a').append("\r\n\r\n");
  ASSERT_EQ(head.size(), 1024u);
  peer_socket peer;
  w.accept(peer);
  peer.write(head);
  w.run();
  EXPECT_EQ(status_lines(peer.read()), std::vector<std::string>{"HTTP/1.1 200 OK"});
}

TEST_F(http_session_test, a_declared_body_over_its_bound_is_a_413_at_once_and_closed) {
  peer_socket peer;
  w.accept(peer);
  // max_message_bytes (100) for a topic publish: refused on the head, before any body arrives.
  peer.write("POST /v1/topics/t/1 HTTP/1.1\r\nHost: test\r\nContent-Length: 101\r\n\r\n");
  w.run();
  auto got = peer.read();
  EXPECT_EQ(status_lines(got), std::vector<std::string>{"HTTP/1.1 413 Content Too Large"}) << got;
  EXPECT_NE(got.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(peer.hung_up());
  expect_still_serving();
}

TEST_F(http_session_test, a_chunked_body_over_its_bound_is_a_413_and_closed) {
  peer_socket peer;
  w.accept(peer);
  peer.write(
      "POST /v1/topics/t/1 HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
      "65\r\n" +
      std::string(101, 'x') + "\r\n0\r\n\r\n");
  w.run();
  EXPECT_EQ(status_lines(peer.read()), std::vector<std::string>{"HTTP/1.1 413 Content Too Large"});
  EXPECT_TRUE(peer.hung_up());
  expect_still_serving();
}

TEST_F(http_session_test, a_body_at_its_bound_is_published_and_the_connection_kept) {
  peer_socket peer;
  w.accept(peer);
  peer.write("POST /v1/topics/t/1 HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n" +
             std::string(100, 'x') + std::string(healthz));
  w.run();
  auto got = peer.read();
  EXPECT_EQ(status_lines(got),
            (std::vector<std::string>{"HTTP/1.1 201 Created", "HTTP/1.1 200 OK"}))
      << got;
  EXPECT_NE(got.find("{\"topic\":\"t/1\",\"id\":\""), std::string::npos) << got;
  EXPECT_FALSE(peer.hung_up());
}

TEST_F(http_session_test, smuggling_framing_is_a_400_and_closed) {
  peer_socket peer;
  w.accept(peer);
  peer.write(
      "POST /v1/topics/t/1 HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  w.run();
  EXPECT_EQ(status_lines(peer.read()), std::vector<std::string>{"HTTP/1.1 400 Bad Request"});
  EXPECT_TRUE(peer.hung_up());
  expect_still_serving();
}

TEST_F(http_session_test, a_request_followed_by_fin_is_answered_before_the_close) {
  peer_socket peer;
  w.accept(peer);
  peer.write(healthz);
  peer.shutdown_write();
  w.run();
  auto got = peer.read();
  EXPECT_EQ(status_lines(got), std::vector<std::string>{"HTTP/1.1 200 OK"}) << got;
  EXPECT_TRUE(peer.hung_up());
}

TEST_F(http_session_test, publishes_over_the_clients_rate_are_429_and_the_connection_kept) {
  w.limiter.emplace(http::publish_rate{0.001, 2});  // a burst of 2, then (almost) nothing
  peer_socket peer;
  w.accept(peer);
  std::string publish =
      "POST /v1/topics/rate/1 HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\n\r\nx";
  peer.write(publish + publish + publish + std::string(healthz));
  w.run();
  auto got = peer.read();
  EXPECT_EQ(status_lines(got),
            (std::vector<std::string>{"HTTP/1.1 201 Created", "HTTP/1.1 201 Created",
                                      "HTTP/1.1 429 Too Many Requests", "HTTP/1.1 200 OK"}))
      << got;
  EXPECT_NE(got.find("\"error\":\"rate_limited\""), std::string::npos) << got;
  EXPECT_FALSE(peer.hung_up());
}

TEST_F(http_session_test,
       on_drain_an_idle_keep_alive_connection_is_closed_and_a_request_answered_with_close) {
  peer_socket idle, busy;
  w.accept(idle);
  idle.write(healthz);
  w.accept(busy);
  busy.write("GET /healthz HTTP/1.1\r\nHost: test\r\n");  // a head in progress
  w.run();
  EXPECT_EQ(status_lines(idle.read()), std::vector<std::string>{"HTTP/1.1 200 OK"});
  w.drain();
  EXPECT_EQ(idle.read(), "");
  EXPECT_TRUE(idle.hung_up());
  busy.write("\r\n");
  w.run();
  auto got = busy.read();
  EXPECT_EQ(status_lines(got), std::vector<std::string>{"HTTP/1.1 200 OK"});
  EXPECT_TRUE(busy.hung_up());
}

}  // namespace
}  // namespace sb
