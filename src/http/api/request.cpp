#include "http/api/request.hpp"

#include "core/topic_name.hpp"

namespace sb::http::api {

std::optional<std::string> request::query(std::string_view key) const {
  if (!url.has_query()) {
    return std::nullopt;  // most requests: no need to walk the parameters (Boost.URL's is slow)
  }
  auto params = url.params();
  auto it = params.find(key);
  if (it == params.end()) {
    return std::nullopt;
  }
  return std::string((*it).value);
}

response unauthorized(std::string_view why) {
  auto r = response::error(errc::unauthorized, why);
  r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
  return r;
}

response refusal(const auth::identity& who, std::string_view detail) {
  if (who.anonymous) {
    auto r = response::error(errc::unauthorized, "credentials required");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  return response::error(errc::forbidden, detail);
}

std::optional<response> refuse_topic_read(const request& req) {
  if (!is_valid_topic(req.topic)) {
    return response::error(errc::invalid_topic);
  }
  if (!req.who.grants.can_subscribe(req.topic)) {
    return refusal(req.who, "this token may not read " + req.topic);
  }
  return std::nullopt;
}

bool request::query_flag(std::string_view key) const {
  auto v = query(key);
  return v && (*v == "1" || *v == "true");
}

}  // namespace sb::http::api
