#include "server/fd_limit.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sb::server {

std::uint64_t raise_fd_limit(std::string& note) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    note = std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
    return 1024;
  }
  if (lim.rlim_cur != lim.rlim_max) {
    auto want = lim;
    // An unlimited hard limit is refused for RLIMIT_NOFILE beyond fs.nr_open; 1 Mi is Linux's
    // default nr_open.
    want.rlim_cur = lim.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) {
      lim = want;
    } else {
      note = std::string("setrlimit(RLIMIT_NOFILE, ") + std::to_string(want.rlim_cur) +
             "): " + std::strerror(errno);
    }
  }
  return lim.rlim_cur == RLIM_INFINITY ? std::uint64_t{1} << 20
                                       : static_cast<std::uint64_t>(lim.rlim_cur);
}

std::uint64_t reserved_fds(std::uint64_t loops, std::uint64_t listeners_per_loop,
                           std::uint64_t metrics_connections) {
  // Per loop: its listeners, epoll, an eventfd and a timerfd. Then a fixed margin for files, the
  // store and outgoing connections, and what the metrics port may hold.
  return 64 + loops * (3 + listeners_per_loop) + metrics_connections;
}

std::uint64_t connection_budget(std::uint64_t configured, std::uint64_t fd_limit,
                                std::uint64_t reserved) {
  if (fd_limit <= reserved) {
    return 0;
  }
  return std::min(configured, fd_limit - reserved);
}

}  // namespace sb::server
