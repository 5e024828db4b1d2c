#include "engine.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "clock.hpp"
#include "proc_stats.hpp"
#include "transports.hpp"

namespace bench {

std::string fmt(const char* f, ...) {
  va_list ap;
  va_start(ap, f);
  char buf[2048];
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

epoll_engine::epoll_engine(const run_options& o, engine_listener& l)
    : o_(o), l_(l), rng_(now_ns() ^ (static_cast<uint64_t>(getpid()) << 32)) {
  start_ = now_ns();
  read_now_ = start_;
}

epoll_engine::~epoll_engine() {
  close_all();
  if (ep_ >= 0)
    ::close(ep_);
}

bool epoll_engine::init(long fds_needed) {
  in_addr base{};
  if (inet_pton(AF_INET, o_.src_base.c_str(), &base) != 1) {
    note_error("bad --src-base: " + o_.src_base);
    return false;
  }
  src_base_ = ntohl(base.s_addr);
  long have = raise_nofile_limit(std::max(o_.max_fds, fds_needed));
  if (have < fds_needed) {
    note_error(fmt("RLIMIT_NOFILE %ld is below the %ld descriptors needed", have, fds_needed));
    return false;
  }
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    note_error(std::string("epoll_create1: ") + std::strerror(errno));
    return false;
  }
  rbuf_.resize(256 * 1024);
  return true;
}

bool epoll_engine::endpoint(const std::string& tmpl, server_endpoint& ep) {
  auto u = parse_url(tmpl, "x");
  if (!u) {
    note_error("bad URL template (expected http:// or ws://IPv4:PORT/path): " + tmpl);
    return false;
  }
  ep.addr = {};
  ep.addr.sin_family = AF_INET;
  ep.addr.sin_port = htons(u->port);
  if (inet_pton(AF_INET, u->host.c_str(), &ep.addr.sin_addr) != 1) {
    note_error("URL host must be a numeric IPv4 address: " + tmpl);
    return false;
  }
  ep.host_header = u->host_header;
  ep.tmpl = tmpl;
  return true;
}

client_conn& epoll_engine::add(conn_kind k, const server_endpoint& ep, std::string_view topic,
                               uint32_t client, bool publisher) {
  auto c = std::make_unique<client_conn>(k, static_cast<uint32_t>(conns_.size()));
  c->client = client;
  c->publisher = publisher;
  c->topic = std::string(topic);
  c->target = parse_url(ep.tmpl, topic)->target;
  c->host = ep.host_header;
  conns_.push_back(std::move(c));
  eps_.push_back(&ep);
  return *conns_.back();
}

void epoll_engine::note_error(const std::string& msg) {
  ++errors_;
  if (first_error_.empty())
    first_error_ = msg;
}

void epoll_engine::log(const char* f, ...) {
  if (o_.quiet)
    return;
  va_list ap;
  va_start(ap, f);
  std::fprintf(stderr, "[bench %7.2fs] ", static_cast<double>(now_ns() - start_) / 1e9);
  std::vfprintf(stderr, f, ap);
  std::fputc('\n', stderr);
  va_end(ap);
}

void epoll_engine::set_progress(std::function<void()> p, double every_s) {
  progress_ = std::move(p);
  progress_every_ = secs_to_ns(every_s);
  progress_at_ = progress_ ? now_ns() + progress_every_ : 0;
}

void epoll_engine::set_mask(client_conn& c, uint32_t mask) {
  if (mask == c.mask || c.fd < 0)
    return;
  epoll_event ev{};
  ev.events = mask;
  ev.data.u64 = key(c);
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  c.mask = mask;
}

void epoll_engine::open(client_conn& c) {
  const sockaddr_in& dst = eps_[c.index]->addr;
  ++c.attempts;
  ++c.gen;
  c.mask = 0;
  c.out.clear();
  c.out_off = 0;
  c.in.clear();
  c.outstanding = 0;
  c.phase = conn_phase::connecting;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    note_error(std::string("socket: ") + std::strerror(errno));
    mark_dead(c);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto src = src_base_ + static_cast<uint32_t>(src_assigned_++ / static_cast<uint64_t>(o_.per_src));
  if ((ntohl(dst.sin_addr.s_addr) >> 24) == 127 && (src >> 24) == 127) {
    // The port is chosen at connect() time for the 4-tuple: 64k connections per source address.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(src);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      note_error(std::string("bind: ") + std::strerror(errno));
      ::close(fd);
      mark_dead(c);
      return;
    }
  }
  c.fd = fd;
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = key(c);
  epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  c.mask = EPOLLOUT;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0 &&
      errno != EINPROGRESS)
    fail_connect(c, errno);
}

void epoll_engine::close_fd(client_conn& c) {
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
  }
  c.fd = -1;
  c.mask = 0;
}

void epoll_engine::close_all() {
  stopping_ = true;
  for (auto& c : conns_)
    close_fd(*c);
}

void epoll_engine::fail_connect(client_conn& c, int err) {
  close_fd(c);
  if (c.attempts < 3 && (err == ECONNREFUSED || err == ETIMEDOUT || err == EADDRNOTAVAIL ||
                         err == ECONNRESET || err == EAGAIN)) {
    c.phase = conn_phase::idle;
    retry_.push_back({c.index, now_ns() + ns_per_sec / 10 * static_cast<uint64_t>(c.attempts)});
    return;
  }
  note_error(std::string("connect: ") + std::strerror(err));
  mark_dead(c);
}

void epoll_engine::became_ready(client_conn& c) {
  c.phase = conn_phase::ready;
  --in_flight_;
  if (c.publisher)
    ++pubs_ready_;
  else if (c.kind != conn_kind::sse_h2)
    ++subs_ready_;
  l_.on_ready(c);
}

void epoll_engine::stream_ready(client_conn&, stream_sub& s) {
  s.ready = true;
  ++subs_ready_;
}

void epoll_engine::stream_ended(client_conn&, stream_sub& s, bool was_ready) {
  s.ready = false;
  if (was_ready) {
    --subs_ready_;
    ++subs_closed_;
  } else {
    ++subs_failed_;
  }
}

void epoll_engine::mark_dead(client_conn& c) {
  conn_phase was = c.phase;
  close_fd(c);
  c.phase = conn_phase::dead;
  if (was == conn_phase::dead)
    return;
  if (c.kind == conn_kind::sse_h2) {
    sse_h2_client::on_dead(*this, c);
    if (was != conn_phase::ready)
      --in_flight_;
    return;
  }
  if (was == conn_phase::ready) {
    if (c.publisher) {
      --pubs_ready_;
    } else {
      --subs_ready_;
      ++subs_closed_;
      if (!stopping_)
        l_.on_closed(c);
    }
  } else {
    --in_flight_;
    if (!c.publisher) {
      ++subs_failed_;
      if (!stopping_)
        l_.on_closed(c);
    }
  }
}

void epoll_engine::reconnect(client_conn& c) {
  close_fd(c);
  if (c.phase == conn_phase::ready && c.publisher) {
    --pubs_ready_;
    ++in_flight_;
    c.attempts = 0;
    open(c);
  } else {
    mark_dead(c);
  }
}

void epoll_engine::reopen(client_conn& c, const server_endpoint& ep) {
  if (c.phase != conn_phase::dead)
    return;
  eps_[c.index] = &ep;
  c.target = parse_url(ep.tmpl, c.topic)->target;
  c.host = ep.host_header;
  c.attempts = 0;
  c.phase = conn_phase::idle;
  ++in_flight_;
  open(c);
}

void epoll_engine::flush(client_conn& c) {
  while (c.out_off < c.out.size()) {
    ssize_t w = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (w > 0) {
      c.out_off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_mask(c, EPOLLIN | EPOLLOUT);
      return;
    }
    note_error(std::string("send: ") + std::strerror(errno));
    mark_dead(c);
    return;
  }
  c.out.clear();
  c.out_off = 0;
  set_mask(c, EPOLLIN);
}

void epoll_engine::on_connected(client_conn& c) {
  switch (c.kind) {
    case conn_kind::sse:
      sse_client::on_connected(*this, c);
      break;
    case conn_kind::ws:
      ws_client::on_connected(*this, c);
      break;
    case conn_kind::http_pub:
      http_publisher::on_connected(*this, c);
      break;
    case conn_kind::sse_h2:
      sse_h2_client::on_connected(*this, c);
      break;
  }
}

void epoll_engine::on_readable(client_conn& c) {
  ssize_t n = ::recv(c.fd, rbuf_.data(), rbuf_.size(), 0);
  read_now_ = now_ns();  // the receive time of everything in this read
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n <= 0) {
    if (!stopping_ && (!c.publisher || c.outstanding)) {
      const char* what = c.publisher ? "publisher" : "subscriber";
      note_error(n == 0 ? fmt("%s connection closed by the server (phase %d)", what,
                              static_cast<int>(c.phase))
                        : fmt("%s recv: %s", what, std::strerror(errno)));
    }
    mark_dead(c);
    return;
  }
  auto len = static_cast<size_t>(n);
  switch (c.kind) {
    case conn_kind::sse:
      sse_client::on_bytes(*this, c, rbuf_.data(), len);
      break;
    case conn_kind::ws:
      ws_client::on_bytes(*this, c, rbuf_.data(), len);
      break;
    case conn_kind::http_pub:
      http_publisher::on_bytes(*this, c, rbuf_.data(), len);
      break;
    case conn_kind::sse_h2:
      sse_h2_client::on_bytes(*this, c, rbuf_.data(), len);
      break;
  }
}

void epoll_engine::on_event(uint64_t k, uint32_t events) {
  auto index = static_cast<uint32_t>(k & 0xffffffffu);
  if (index >= conns_.size())
    return;
  client_conn& c = *conns_[index];
  if (c.gen != static_cast<uint32_t>(k >> 32) || c.fd < 0)
    return;  // a stale event for a closed or reopened socket
  if (c.phase == conn_phase::connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0)
      fail_connect(c, err);
    else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
      on_connected(c);
    return;
  }
  if (events & EPOLLOUT) {
    flush(c);
    if (c.fd < 0)
      return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
    on_readable(c);
}

void epoll_engine::start_connects() {
  if (!retry_.empty()) {
    uint64_t now = now_ns();
    std::vector<pending_retry> pending;
    pending.swap(retry_);  // open() may queue new retries
    for (const pending_retry& r : pending) {
      if (r.at <= now)
        open(*conns_[r.index]);
      else
        retry_.push_back(r);
    }
  }
  while (next_open_ < conns_.size() && in_flight_ < o_.connect_concurrency) {
    client_conn& c = *conns_[next_open_++];
    if (c.phase != conn_phase::idle)
      continue;
    ++in_flight_;
    open(c);
  }
}

bool epoll_engine::loop_until(uint64_t deadline, const std::function<bool()>& done,
                              const std::function<uint64_t()>& tick) {
  epoll_event evs[1024];
  while (!done()) {
    start_connects();
    uint64_t wake_tick = tick ? tick() : UINT64_MAX;
    uint64_t now = now_ns();
    if (now >= deadline)
      break;
    uint64_t wake = std::min({deadline, now + 50 * ns_per_sec / 1000, wake_tick});
    if (progress_at_ && now >= progress_at_) {
      progress_();
      progress_at_ = now + progress_every_;
    }
    if (progress_at_)
      wake = std::min(wake, progress_at_);
    uint64_t wait = wake > now ? wake - now : 0;
    timespec ts{static_cast<time_t>(wait / ns_per_sec), static_cast<long>(wait % ns_per_sec)};
    int n = epoll_pwait2(ep_, evs, 1024, &ts, nullptr);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      note_error(std::string("epoll_pwait2: ") + std::strerror(errno));
      return false;
    }
    read_now_ = now_ns();
    for (int i = 0; i < n; ++i)
      on_event(evs[i].data.u64, evs[i].events);
  }
  return done();
}

void epoll_engine::settle(double seconds) {
  loop_until(now_ns() + secs_to_ns(seconds), [] { return false; });
}

long epoll_engine::open_all(uint64_t deadline, const char* what) {
  log("opening %zu %s", conns_.size() - next_open_, what);
  auto saved = progress_;
  set_progress(
      [this] {
        log("connections: %ld subscribers and %ld publishers ready, %ld failed, %ld in flight",
            subs_ready_, pubs_ready_, subs_failed_, in_flight_);
      },
      2);
  loop_until(deadline,
             [&] { return next_open_ >= conns_.size() && retry_.empty() && in_flight_ == 0; });
  set_progress(saved, 2);
  log("%ld subscribers and %ld publishers ready, %ld failed, in %.2f s", subs_ready_, pubs_ready_,
      subs_failed_, static_cast<double>(now_ns() - start_) / 1e9);
  if (!first_error_.empty())
    log("first error: %s", first_error_.c_str());
  return subs_ready_;
}

}  // namespace bench
