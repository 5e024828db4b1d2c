#pragma once
// Which browser origins may read our responses. Configured origins get their origin echoed with
// credentials allowed; `*` allows any origin but never with credentials; a foreign origin gets no
// CORS headers at all (the browser then refuses to hand the response to the page).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sb::http {

class cors_policy {
 public:
  cors_policy() = default;
  explicit cors_policy(std::vector<std::string> origins);

  /// Headers for a response to a request from `origin` (empty when there is no Origin).
  std::vector<std::pair<std::string, std::string>> headers_for(std::string_view origin) const;

  /// Whether a request from `origin` may be authenticated by the auth cookie: the browser attaches
  /// cookies to requests other sites make too (a form POST, a WebSocket upgrade), which CORS does
  /// not stop, so a cookie counts only from a listed origin (never by `*`) or from our own host.
  bool lends_cookie(std::string_view origin, std::string_view host) const;

  /// Headers answering a preflight; empty when the origin is not allowed.
  std::vector<std::pair<std::string, std::string>> preflight(
      std::string_view origin, std::string_view request_headers) const;

 private:
  bool allows(std::string_view origin) const;

  std::vector<std::string> origins_;
  bool any_ = false;
};

/// cors_origins as configured; policy() is what the sessions use.
struct cors_settings {
  std::vector<std::string> origins;

  /// No origin listed means none, except in dev mode, where it means any (`*`).
  cors_policy policy(bool dev) const {
    if (origins.empty() && dev) {
      return cors_policy({"*"});
    }
    return cors_policy(origins);
  }
};

}  // namespace sb::http
