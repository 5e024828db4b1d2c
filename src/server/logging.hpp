#pragma once
// The process's loggers: the server's own messages and the access log, in text or JSON lines, on
// stdout through one asynchronous sink (a loop formats a line; a logging thread writes it, so no
// loop waits on the terminal or a pipe). Startup prints the effective config, secrets redacted.
#include <cstdint>

#include "server/config.hpp"

namespace sb::server {

/// Installs the loggers for `c` (log_level, log_format, access_log_*). Call once, before any
/// thread logs.
void setup_logging(const config& c);

/// One line with every setting's effective value; secret ones show as "REDACTED" when set.
void log_effective_config(const config& c);

/// Lines lost because the logging thread fell behind (the queue keeps the newest).
std::uint64_t log_lines_dropped();

/// Writes out what is queued and stops the logging thread (before exit).
void shutdown_logging();

}  // namespace sb::server
