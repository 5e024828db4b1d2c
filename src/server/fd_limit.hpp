#pragma once
// Open-file limits: every connection is a descriptor, so the number of connections the server can
// hold is the process's descriptor limit less what it needs for itself.
#include <cstdint>
#include <string>

namespace sb::server {

/// Raises the soft RLIMIT_NOFILE to the hard one (the default soft limit, often 1,024, is far
/// below what a hub holds). Returns the soft limit in force afterwards; `note` says what happened
/// when the raise failed (the old limit then stays).
std::uint64_t raise_fd_limit(std::string& note);

/// Descriptors kept for everything but connections: listeners, each loop's epoll and wake-up
/// descriptors, log and key files, a history store, outgoing connections (Redis, the dev stream).
std::uint64_t reserved_fds(std::uint64_t loops, std::uint64_t listeners_per_loop,
                           std::uint64_t metrics_connections);

/// The most connections `fd_limit` descriptors allow after `reserved`, at most `configured`;
/// 0 when nothing is left for connections.
std::uint64_t connection_budget(std::uint64_t configured, std::uint64_t fd_limit,
                                std::uint64_t reserved);

}  // namespace sb::server
