#pragma once
// Where a Redis is and how to log in: `redis://[user:password@]host:port/db` or `unix:///path`
// (`unix:///path?db=N` selects a database over a unix socket too).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb::cluster {

struct redis_endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string unix_path;  // not empty: a unix socket instead of host:port
  std::string user;       // empty: AUTH with the password alone (the default user)
  std::string password;   // empty: no AUTH
  std::uint64_t db = 0;

  /// "host:port" or the socket path, for logs (never the password).
  std::string describe() const;
};

/// Parses a redis_url; nullopt (and `error` set) on anything else.
std::optional<redis_endpoint> parse_redis_url(std::string_view url, std::string& error);

}  // namespace sb::cluster
