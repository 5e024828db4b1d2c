#include "http/cors.hpp"

#include <algorithm>
#include <cctype>

namespace sb::http {

cors_policy::cors_policy(std::vector<std::string> origins) : origins_(std::move(origins)) {
  any_ = std::find(origins_.begin(), origins_.end(), "*") != origins_.end();
}

bool cors_policy::allows(std::string_view origin) const {
  return !origin.empty() &&
         (any_ || std::find(origins_.begin(), origins_.end(), origin) != origins_.end());
}

bool cors_policy::lends_cookie(std::string_view origin, std::string_view host) const {
  if (origin.empty()) {
    return true;  // not a cross-site browser request (browsers send Origin on those)
  }
  if (std::find(origins_.begin(), origins_.end(), origin) != origins_.end() && origin != "*") {
    return true;
  }
  // Same origin: "http://HOST[:PORT]" or "https://…" naming the host the request was sent to.
  auto sep = origin.find("://");
  if (sep == std::string_view::npos || host.empty()) {
    return false;
  }
  auto authority = origin.substr(sep + 3);
  return authority.size() == host.size() &&
         std::equal(authority.begin(), authority.end(), host.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

std::vector<std::pair<std::string, std::string>> cors_policy::headers_for(
    std::string_view origin) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (origin.empty()) {
    return out;
  }
  // A literal "Origin: *" is never a listed origin: `*` must not come with credentials.
  bool listed =
      origin != "*" && std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
  if (listed) {
    out.emplace_back("Access-Control-Allow-Origin", std::string(origin));
    out.emplace_back("Access-Control-Allow-Credentials", "true");
    out.emplace_back("Vary", "Origin");
  } else if (any_) {
    out.emplace_back("Access-Control-Allow-Origin", "*");
    if (origins_.size() > 1) {
      out.emplace_back("Vary",
                       "Origin");  // other origins get other answers: caches must not mix them
    }
  }
  if (!out.empty()) {
    out.emplace_back("Access-Control-Expose-Headers", "Content-Type, Location");
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> cors_policy::preflight(
    std::string_view origin, std::string_view request_headers) const {
  if (!allows(origin)) {
    return {};
  }
  auto out = headers_for(origin);
  out.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  out.emplace_back("Access-Control-Allow-Headers",
                   request_headers.empty()
                       ? std::string("Authorization, Content-Type, Last-Event-ID")
                       : std::string(request_headers));
  out.emplace_back("Access-Control-Max-Age", "600");
  return out;
}

}  // namespace sb::http
