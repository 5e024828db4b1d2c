#include "http/router.hpp"

namespace sb::http {

route match_route(std::string_view path) {
  if (path == "/v1/events")
    return {endpoint::events, {}};
  if (path == "/v1/publish")
    return {endpoint::batch_publish, {}};
  if (path == "/v1/tickets")
    return {endpoint::tickets, {}};
  if (path == "/v1/ws")
    return {endpoint::websocket, {}};
  if (path == "/metrics")
    return {endpoint::metrics, {}};
  if (path == "/healthz")
    return {endpoint::healthz, {}};
  if (path == "/readyz")
    return {endpoint::readyz, {}};
  if (path == "/" || path == "/index.html")
    return {endpoint::demo_page, {}};
  if (path == "/client.js")
    return {endpoint::client_js, {}};
  if (path == "/client.d.ts")
    return {endpoint::client_types, {}};
  if (path == "/v1/dev/llm")
    return {endpoint::dev_llm, {}};
  if (path == "/v1/topics")
    return {endpoint::topic_list, {}};
  if (path == "/admin")
    return {endpoint::admin_page, {}};
  if (path == "/v1/admin/stats")
    return {endpoint::admin_stats, {}};
  if (path == "/v1/admin/session")
    return {endpoint::admin_session, {}};
  constexpr std::string_view topics = "/v1/topics/";
  if (path.starts_with(topics) && path.size() > topics.size()) {
    auto rest = path.substr(topics.size());
    auto slash = rest.rfind('/');
    if (slash != std::string_view::npos) {
      auto last = rest.substr(slash + 1);
      auto topic = std::string(rest.substr(0, slash));
      if (last == "stream")
        return {endpoint::topic_stream, topic};
      if (last == "history")
        return {endpoint::topic_history, topic};
      if (last == "presence")
        return {endpoint::topic_presence, topic};
    }
    return {endpoint::topic_publish, std::string(rest)};
  }
  return {};
}

std::string_view allowed_methods(endpoint e) {
  switch (e) {
    case endpoint::topic_publish:
    case endpoint::topic_stream:
    case endpoint::batch_publish:
    case endpoint::tickets:
    case endpoint::dev_llm:
    case endpoint::admin_session:
      return "POST, OPTIONS";
    case endpoint::none:
      return "";
    case endpoint::events:
    case endpoint::websocket:
    case endpoint::admin_stats:
      return "GET, OPTIONS";
    default:
      return "GET, HEAD, OPTIONS";
  }
}

bool method_allowed(endpoint e, std::string_view method) {
  if (method == "OPTIONS") {
    return e != endpoint::none;
  }
  auto allowed = allowed_methods(e);
  if (method == "HEAD") {
    return allowed.find("HEAD") != std::string_view::npos;
  }
  return allowed.starts_with(method) && allowed.size() > method.size() &&
         allowed[method.size()] == ',';
}

}  // namespace sb::http
