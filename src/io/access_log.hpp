#pragma once
// The access log: one line per answered request and one per ended stream or WebSocket session,
// in text (logfmt-like) or JSON. A loop formats its lines completely (time, level, fields) into a
// buffer of its own and hands the buffer to the logger once per batch of handlers (or at 16 KiB):
// no lock, no syscall per line. The logger the server installs is asynchronous and writes the
// buffers as they are. What could carry a credential never reaches a line: query values whose
// names suggest one, JWT-shaped values, and any configured secret wherever it appears.
#include <spdlog/logger.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sb::io {

enum class log_format { text, json };

struct access_log_settings {
  log_format format = log_format::text;
  spdlog::level::level_enum level = spdlog::level::info;
  std::uint64_t sample = 1;  // 1 in N lines is written (errors always)
  /// Writes the lines; null: no access log. Its payloads are complete lines, newline included:
  /// it must format them as they are ("%v", no end of line of its own).
  std::shared_ptr<spdlog::logger> logger;
  /// Configured secrets (API keys, JWT secret, metrics token) scrubbed from every line.
  std::vector<std::string> secrets;
};

/// Installs the settings; call before the loops start (they are read without a lock).
void configure_access_log(access_log_settings s);

/// The loop run on the calling thread: its lines are handed over once per batch of handlers
/// (io::loop::run sets it). Threads without one hand each line over at once.
void bind_access_log(boost::asio::io_context* loop);

/// Hands over what the calling thread has gathered (at exit).
void flush_access_log();

/// Whether the access log writes anything at all (streams keep their origin only then).
bool access_log_wanted_at_all();

/// Whether a line is to be written now: the level is enabled and the 1-in-N sample picks this
/// one (per thread), or `always` (errors, slow consumers). Ask before formatting anything.
bool access_log_wanted(bool always);

struct request_entry {
  std::string_view transport;  // "http/1.1", "h2"
  std::string_view method;
  std::string_view target;  // as received: redacted here
  unsigned status = 0;
  std::uint64_t bytes = 0;  // response body bytes
  double seconds = 0;       // from the request head to the answer queued
  std::string client;       // address:port
  std::string_view subject;
};
void log_request(const request_entry& e);

struct stream_entry {
  std::string_view transport;  // "sse", "sse/h2", "ws", "ws/h2"
  std::size_t topics = 0;
  double seconds = 0;
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::string_view reason;
  std::string client;
  std::string_view subject;
};
void log_stream_end(const stream_entry& e);

/// "address:port" ("[v6]:port") for the client field.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& at);

/// The request target with every credential-like query value replaced by "REDACTED".
std::string redact_target(std::string_view target);

/// Appends `s` as a JSON string (with quotes): control characters, quotes and backslashes
/// escaped, bytes that are not UTF-8 replaced by U+FFFD, so a line is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace sb::io
