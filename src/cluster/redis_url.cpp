#include "cluster/redis_url.hpp"

#include "cluster/decimal.hpp"

namespace sb::cluster {
namespace {

/// %XX escapes in the user and password (a password may hold '@' or ':').
std::optional<std::string> unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    unsigned v = 0;
    if (i + 2 >= text.size()) {
      return std::nullopt;
    }
    auto [ptr, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, v, 16);
    if (ec != std::errc{} || ptr != text.data() + i + 3) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(v));
    i += 2;
  }
  return out;
}

}  // namespace

std::string redis_endpoint::describe() const {
  return unix_path.empty() ? host + ":" + std::to_string(port) : unix_path;
}

std::optional<redis_endpoint> parse_redis_url(std::string_view url, std::string& error) {
  redis_endpoint out;
  constexpr std::string_view unix_scheme = "unix://";
  constexpr std::string_view redis_scheme = "redis://";
  if (url.starts_with(unix_scheme)) {
    auto rest = url.substr(unix_scheme.size());
    auto q = rest.find('?');
    out.unix_path = std::string(rest.substr(0, q));
    if (out.unix_path.empty() || out.unix_path.front() != '/') {
      error = "unix:// needs an absolute socket path (unix:///run/redis.sock)";
      return std::nullopt;
    }
    if (q != std::string_view::npos) {
      auto query = rest.substr(q + 1);
      auto db = query.starts_with("db=") ? parse_decimal(query.substr(3)) : std::nullopt;
      if (!db) {
        error = "unix:// takes only ?db=N";
        return std::nullopt;
      }
      out.db = *db;
    }
    return out;
  }
  if (!url.starts_with(redis_scheme)) {
    error = "expected redis://[user:password@]host:port/db or unix:///path";
    return std::nullopt;
  }
  auto rest = url.substr(redis_scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos && slash + 1 < rest.size()) {
    auto db = parse_decimal(rest.substr(slash + 1));
    if (!db) {
      error = "the path names a database number (redis://host:6379/0)";
      return std::nullopt;
    }
    out.db = *db;
  }
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    auto login = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = login.find(':');
    auto user = unescape(login.substr(0, colon));
    auto password = colon == std::string_view::npos ? std::optional<std::string>(std::string())
                                                    : unescape(login.substr(colon + 1));
    if (!user || !password) {
      error = "bad %-escape in the user or password";
      return std::nullopt;
    }
    if (colon == std::string_view::npos) {
      out.password = *user;  // redis://secret@host: a password alone
    } else {
      out.user = *user;
      out.password = *password;
    }
  }
  auto colon = authority.rfind(':');
  auto host = authority.substr(0, colon == std::string_view::npos ? authority.size() : colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    error = "no host in redis_url";
    return std::nullopt;
  }
  out.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  if (colon != std::string_view::npos) {
    auto port = parse_decimal(authority.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) {
      error = "the port must be 1-65535";
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(*port);
  }
  return out;
}

}  // namespace sb::cluster
