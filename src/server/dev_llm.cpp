#include "server/dev_llm.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <sstream>
#include <vector>

namespace sb::server {
namespace {

constexpr auto token_interval = std::chrono::milliseconds(60);
constexpr std::string_view answer =
    "Server-Sent Events are a good fit for streaming a model's answer: the server is the source of "
    "truth, the browser only listens, and plain HTTP carries it through every proxy and CDN. "
    "If the connection drops, EventSource reconnects by itself with Last-Event-ID and Switchboard "
    "replays exactly the tokens that were missed.";

std::vector<std::string> tokens() {
  std::vector<std::string> out;
  std::istringstream words{std::string(answer)};
  std::string word;
  while (words >> word) {
    out.push_back(out.empty() ? word : " " + word);
  }
  return out;
}

class generation : public std::enable_shared_from_this<generation> {
 public:
  generation(boost::asio::io_context& ctx, std::string topic, std::string api_key)
      : socket_(ctx),
        timer_(ctx),
        topic_(std::move(topic)),
        api_key_(std::move(api_key)),
        tokens_(tokens()) {}

  void start(const boost::asio::ip::tcp::endpoint& server) {
    socket_.async_connect(server, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) {
        spdlog::warn("dev llm: cannot reach the server: {}", ec.message());
        return;
      }
      std::string head =
          "POST /v1/topics/" + self->topic_ +
          "/stream HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/event-stream\r\n"
          "Transfer-Encoding: chunked\r\n";
      if (!self->api_key_.empty()) {
        head += "Authorization: Bearer " + self->api_key_ + "\r\n";
      }
      head += "\r\n";
      self->write(std::move(head));
    });
  }

 private:
  static std::string chunk(std::string_view event, std::string_view data) {
    std::string body = "event: " + std::string(event) + "\ndata: " + std::string(data) + "\n\n";
    char size[20];
    std::snprintf(size, sizeof size, "%zx\r\n", body.size());
    return size + body + "\r\n";
  }

  void write(std::string bytes) {
    auto buffer = std::make_shared<std::string>(std::move(bytes));
    boost::asio::async_write(
        socket_, boost::asio::buffer(*buffer),
        [self = shared_from_this(), buffer](boost::system::error_code ec, std::size_t) {
          if (!ec)
            self->next();
        });
  }

  void next() {
    if (done_) {
      // The terminating chunk went out: read the answer so the server finishes the request.
      boost::asio::async_read(
          socket_, reply_, boost::asio::transfer_at_least(1),
          [self = shared_from_this()](boost::system::error_code, std::size_t) {});
      return;
    }
    timer_.expires_after(token_interval);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec)
        return;
      if (self->at_ < self->tokens_.size()) {
        self->write(chunk("token", self->tokens_[self->at_++]));
      } else {
        self->done_ = true;
        self->write(chunk("done", "") + "0\r\n\r\n");
      }
    });
  }

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  boost::asio::streambuf reply_;
  std::string topic_;
  std::string api_key_;
  std::vector<std::string> tokens_;
  std::size_t at_ = 0;
  bool done_ = false;
};

}  // namespace

void start_dev_llm(boost::asio::io_context& ctx, boost::asio::ip::tcp::endpoint server,
                   std::string topic, std::string api_key) {
  if (server.address().is_unspecified()) {
    server.address(server.address().is_v6()
                       ? boost::asio::ip::address_v6::loopback()
                       : boost::asio::ip::address(boost::asio::ip::address_v4::loopback()));
  }
  std::make_shared<generation>(ctx, std::move(topic), std::move(api_key))->start(server);
}

}  // namespace sb::server
