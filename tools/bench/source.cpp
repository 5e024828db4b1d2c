// source: the generator's own ceiling. A stub sender process (forked here, pinned with
// --sender-cpu) accepts N connections and blasts pre-encoded SSE events (or switchboard.v1
// WebSocket frames with --transport ws) as fast as the sockets take them; the generator parses
// them exactly as in the other workloads, and reports events/s and its own CPU.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "clock.hpp"
#include "payload.hpp"
#include "workload.hpp"

namespace bench {

namespace {

// The stub sender: never returns.
[[noreturn]] void sender(int lfd, long n, bool ws, size_t size, long cpu) {
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<int>(cpu), &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  std::string data;
  make_payload(data, now_ns(), 0, size);
  std::string one;
  if (ws) {
    std::string m =
        "{\"op\":\"message\",\"topic\":\"bench\",\"id\":\"1-1\",\"data\":\"" + data + "\"}";
    one.push_back(static_cast<char>(0x81));
    if (m.size() < 126) {
      one.push_back(static_cast<char>(m.size()));
    } else {
      one.push_back(126);
      one.push_back(static_cast<char>(m.size() >> 8));
      one.push_back(static_cast<char>(m.size() & 0xff));
    }
    one += m;
  } else {
    one = "data: " + data + "\n\n";
  }
  std::string blast;
  while (blast.size() < 64 * 1024)
    blast += one;
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct source_peer {
    std::string head;
    bool streaming = false;
    size_t off = 0;  // into blast
  };
  std::vector<source_peer> peers(static_cast<size_t>(n) + 1024);
  std::vector<epoll_event> evs(1024);
  for (;;) {
    int k = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 1000);
    if (getppid() == 1)
      _exit(0);
    for (int i = 0; i < k; ++i) {
      int fd = evs[static_cast<size_t>(i)].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
          if (static_cast<size_t>(c) >= peers.size())
            peers.resize(static_cast<size_t>(c) * 2);
          peers[static_cast<size_t>(c)] = source_peer{};
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLOUT | EPOLLET;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      source_peer& p = peers[static_cast<size_t>(fd)];
      if (!p.streaming) {
        char buf[4096];
        ssize_t r;
        while ((r = ::recv(fd, buf, sizeof buf, 0)) > 0)
          p.head.append(buf, static_cast<size_t>(r));
        if (r == 0) {
          ::close(fd);
          continue;
        }
        size_t end = p.head.find("\r\n\r\n");
        if (end == std::string::npos)
          continue;
        std::string answer;
        if (ws) {
          size_t kpos = p.head.find("Sec-WebSocket-Key: ");
          std::string key = p.head.substr(kpos + 19, p.head.find("\r\n", kpos) - kpos - 19);
          answer =
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: " +
              expected_accept(key) + "\r\nSec-WebSocket-Protocol: switchboard.v1\r\n\r\n";
          // The subscribe ack the generator waits for.
          std::string ack = "{\"op\":\"ack\",\"ref\":1}";
          answer.push_back(static_cast<char>(0x81));
          answer.push_back(static_cast<char>(ack.size()));
          answer += ack;
        } else {
          answer = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
        }
        ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        p.streaming = true;
      }
      for (;;) {
        ssize_t w = ::send(fd, blast.data() + p.off, blast.size() - p.off, MSG_NOSIGNAL);
        if (w < 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK) {
            ::close(fd);
            p.streaming = false;
          }
          break;
        }
        // The buffer holds whole events, so wrapping around keeps the stream well-formed.
        p.off += static_cast<size_t>(w);
        if (p.off >= blast.size())
          p.off = 0;
      }
    }
  }
}

class source_workload : public workload_base {
 public:
  explicit source_workload(const run_options& o) : workload_base(o) {
    o_.target.ws_style = ws_flavor::switchboard_v1;
    o_.target.ws_protocol = "switchboard.v1";
  }

  int run() override {
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(lfd, 4096) != 0 || getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      std::fprintf(stderr, "switchboard-bench: source listener: %s\n", std::strerror(errno));
      return 2;
    }
    bool ws = o_.transport == "ws";
    if (!e_.init(o_.n + 16))
      return 2;
    pid_t child = fork();
    if (child == 0)
      sender(lfd, o_.n, ws, static_cast<size_t>(o_.size), o_.sender_cpu);
    ::close(lfd);
    if (child < 0) {
      std::fprintf(stderr, "switchboard-bench: fork: %s\n", std::strerror(errno));
      return 2;
    }
    int port = ntohs(sa.sin_port);
    std::string url = ws ? fmt("ws://127.0.0.1:%d/v1/ws", port)
                         : fmt("http://127.0.0.1:%d/v1/events?topic={topic}", port);
    server_endpoint ep;
    e_.endpoint(url, ep);
    for (long i = 0; i < o_.n; ++i)
      e_.add(ws ? conn_kind::ws : conn_kind::sse, ep, o_.topic, static_cast<uint32_t>(i), false);
    e_.open_all(now_ns() + secs_to_ns(o_.connect_timeout), "connections to the stub sender");
    e_.settle(o_.settle);
    o_.pids = {child};
    begin();
    e_.set_progress([this] { e_.log("received %" PRIu64, received_); }, 2);
    e_.settle(o_.duration);
    end();
    e_.close_all();
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);

    double per_s = static_cast<double>(received_) / window_s();
    double self = (self1_ - self0_) / window_s() * 100.0;
    std::printf("%s: %ld connections, %.1f s, %ld B events: %" PRIu64
                " events parsed, %.0f events/s, generator CPU %.0f%% of a core (%.0f events/s per "
                "core), stub sender CPU %.0f%%\n",
                title().c_str(), subs_at_start_, window_s(), o_.size, received_, per_s, self,
                self > 0 ? per_s * 100.0 / self : 0.0,
                server_cpu_s() >= 0 ? server_cpu_s() / window_s() * 100.0 : -1.0);
    print_errors();
    run_result r;
    add_header(r);
    r.num("events", static_cast<double>(received_));
    r.num("events_per_s", per_s);
    r.num("generator_cpu_pct", self);
    r.num("events_per_s_per_core", self > 0 ? per_s * 100.0 / self : 0.0);
    r.num("sender_cpu_pct", server_cpu_s() >= 0 ? server_cpu_s() / window_s() * 100.0 : -1.0);
    r.num("foreign_messages", static_cast<double>(foreign_));
    r.num("errors", static_cast<double>(e_.errors()));
    r.str("first_error", e_.first_error());
    int rc = finish(r);
    return rc ? rc : (received_ ? 0 : 1);
  }

  // Same parse and record as a real delivery; the stub's timestamp is fixed, so no latency.
  void on_data(client_conn& c, std::string_view data) override {
    auto p = parse_payload(data);
    if (!p) {
      ++foreign_;
      return;
    }
    if (!measuring_)
      return;
    ++received_;
    ++c.received;
    uint64_t now = e_.read_now();
    hist_.record(now > p->ts ? now - p->ts : 0);
  }
};

}  // namespace

int run_source(const run_options& o) {
  return source_workload(o).run();
}

}  // namespace bench
