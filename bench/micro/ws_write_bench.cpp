// The WebSocket write path, measured to choose it (issue 3): Beast's websocket::stream with one
// async_write per message and connection, against what Switchboard does, a frame built once per
// message whose shared bytes every connection queues, then one gathered sendmsg per connection
// per loop turn. Both write to the same 100 real loopback TCP connections; a reader thread drains
// the client ends. The figure is the writing thread's CPU per delivery (kernel share included),
// which is what a server pays: items_per_second is deliveries per CPU second.
#include <benchmark/benchmark.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "io/send_queue.hpp"
#include "ws/frame.hpp"

namespace {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

constexpr int connections = 100;

/// Reads and discards everything that arrives on the client ends, until stopped.
class drain_thread {
 public:
  explicit drain_thread(std::vector<int> fds) : fds_(std::move(fds)) {
    epoll_ = ::epoll_create1(0);
    for (int fd : fds_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    }
    thread_ = std::thread([this] { run(); });
  }
  ~drain_thread() {
    stop_ = true;
    thread_.join();
    ::close(epoll_);
  }

 private:
  void run() {
    std::vector<char> sink(1 << 16);
    epoll_event events[64];
    while (!stop_) {
      int n = ::epoll_wait(epoll_, events, 64, 10);
      for (int i = 0; i < n; ++i) {
        while (::recv(events[i].data.fd, sink.data(), sink.size(), MSG_DONTWAIT) > 0) {
        }
      }
    }
  }

  std::vector<int> fds_;
  int epoll_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// `connections` loopback WebSocket connections after their handshake; the server ends are Beast
/// streams (whose sockets the pre-framed path writes to directly), the client ends are drained.
struct fixture {
  asio::io_context ioc;
  std::vector<std::unique_ptr<websocket::stream<tcp::socket>>> servers;
  std::vector<std::unique_ptr<websocket::stream<tcp::socket>>> clients;
  std::unique_ptr<drain_thread> drain;

  fixture() {
    tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    for (int i = 0; i < connections; ++i) {
      auto client = std::make_unique<websocket::stream<tcp::socket>>(ioc);
      client->next_layer().connect(acceptor.local_endpoint());
      auto server = std::make_unique<websocket::stream<tcp::socket>>(acceptor.accept());
      std::thread handshake([&] { client->handshake("127.0.0.1", "/"); });
      server->accept();
      handshake.join();
      server->text(true);
      servers.push_back(std::move(server));
      clients.push_back(std::move(client));
    }
    std::vector<int> fds;
    for (auto& c : clients) {
      c->next_layer().non_blocking(true);
      fds.push_back(c->next_layer().native_handle());
    }
    drain = std::make_unique<drain_thread>(std::move(fds));
  }
};

fixture& shared_fixture() {
  static fixture f;
  return f;
}

std::string payload(std::size_t size) {
  return R"({"topic":"room/1","id":"1-1","data":")" + std::string(size, 'x') + R"("})";
}

/// A hand-rolled server on Beast: each connection keeps a queue of messages and one async_write
/// in flight (Beast allows no more), so every message is framed and written per connection.
void beast_async_write_per_message(benchmark::State& state) {
  auto& f = shared_fixture();
  auto burst = static_cast<int>(state.range(0));
  auto text = std::make_shared<const std::string>(payload(64));
  struct writer {
    websocket::stream<tcp::socket>* ws;
    std::deque<std::shared_ptr<const std::string>> queue;
    void write_next() {
      ws->async_write(asio::buffer(*queue.front()),
                      [this](boost::system::error_code ec, std::size_t) {
                        queue.pop_front();
                        if (!ec && !queue.empty()) {
                          write_next();
                        }
                      });
    }
  };
  std::vector<writer> writers;
  for (auto& s : f.servers) {
    writers.push_back({s.get(), {}});
  }
  for (auto _ : state) {
    for (int m = 0; m < burst; ++m) {
      for (auto& w : writers) {
        w.queue.push_back(text);
        if (w.queue.size() == 1) {
          w.write_next();
        }
      }
    }
    f.ioc.restart();
    f.ioc.run();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * burst * connections);
}
BENCHMARK(beast_async_write_per_message)->Arg(1)->Arg(8);

/// Switchboard's path: the frame is built once, every connection queues a reference to it, and
/// each connection writes its whole queue with one gathered sendmsg per turn.
void preframed_shared_gathered(benchmark::State& state) {
  auto& f = shared_fixture();
  auto burst = static_cast<int>(state.range(0));
  std::vector<sb::io::send_queue> queues(connections);
  for (auto _ : state) {
    for (int m = 0; m < burst; ++m) {
      auto frame =
          sb::io::shared_bytes::from_string(sb::ws::make_frame(sb::ws::opcode::text, payload(64)));
      for (auto& q : queues) {
        q.push(frame);
      }
    }
    for (int i = 0; i < connections; ++i) {
      auto& q = queues[i];
      int fd = f.servers[i]->next_layer().native_handle();
      while (!q.empty()) {
        iovec iov[64];
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<std::size_t>(q.gather(iov, 64));
        auto n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          q.consume(static_cast<std::size_t>(n));
        } else {
          pollfd p{fd, POLLOUT, 0};
          ::poll(&p, 1, 100);
        }
      }
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * burst * connections);
}
BENCHMARK(preframed_shared_gathered)->Arg(1)->Arg(8);

}  // namespace
