#include "http/router.hpp"

namespace sb::http {
namespace {

constexpr std::string_view topic_prefix = "/v1/topics/";
constexpr std::string_view topic_param = "/v1/topics/{topic}";

constexpr route_spec routes[] = {
    {"/v1/events", endpoint::events, "GET, OPTIONS"},
    {"/v1/topics/{topic}", endpoint::topic_publish, "POST, OPTIONS"},
    {"/v1/topics/{topic}/stream", endpoint::topic_stream, "POST, OPTIONS"},
    {"/v1/topics/{topic}/history", endpoint::topic_history, "GET, HEAD, OPTIONS"},
    {"/v1/topics/{topic}/presence", endpoint::topic_presence, "GET, HEAD, OPTIONS"},
    {"/v1/publish", endpoint::batch_publish, "POST, OPTIONS"},
    {"/v1/tickets", endpoint::tickets, "POST, OPTIONS"},
    {"/v1/ws", endpoint::websocket, "GET, OPTIONS"},
    {"/v1/topics", endpoint::topic_list, "GET, HEAD, OPTIONS"},
    {"/v1/admin/stats", endpoint::admin_stats, "GET, OPTIONS"},
    {"/v1/admin/session", endpoint::admin_session, "POST, OPTIONS"},
    {"/admin", endpoint::admin_page, "GET, HEAD, OPTIONS"},
    {"/v1/openapi.json", endpoint::openapi, "GET, HEAD, OPTIONS"},
    {"/v1/asyncapi.yaml", endpoint::asyncapi, "GET, HEAD, OPTIONS"},
    {"/v1/dev/llm", endpoint::dev_llm, "POST, OPTIONS"},
    {"/metrics", endpoint::metrics, "GET, HEAD, OPTIONS"},
    {"/healthz", endpoint::healthz, "GET, HEAD, OPTIONS"},
    {"/readyz", endpoint::readyz, "GET, HEAD, OPTIONS"},
    {"/", endpoint::demo_page, "GET, HEAD, OPTIONS"},
    {"/index.html", endpoint::demo_page, "GET, HEAD, OPTIONS"},
    {"/client.js", endpoint::client_js, "GET, HEAD, OPTIONS"},
    {"/client.d.ts", endpoint::client_types, "GET, HEAD, OPTIONS"},
};

endpoint find_path(std::string_view path) {
  for (const auto& r : routes) {
    if (r.path == path) {
      return r.endpoint;
    }
  }
  return endpoint::none;
}

}  // namespace

std::span<const route_spec> route_table() {
  return routes;
}

route match_route(std::string_view path) {
  if (!path.starts_with(topic_prefix)) {
    return {find_path(path), {}};
  }
  if (path.size() == topic_prefix.size()) {
    return {};
  }
  auto rest = path.substr(topic_prefix.size());
  // The last segment names a sub-resource only when a route has it ({topic}/history…); the
  // topic itself may hold slashes, so everything before that segment is the topic.
  if (auto slash = rest.rfind('/'); slash != std::string_view::npos) {
    auto last = rest.substr(slash);
    for (const auto& r : routes) {
      if (r.path.starts_with(topic_param) && r.path.substr(topic_param.size()) == last) {
        return {r.endpoint, std::string(rest.substr(0, slash))};
      }
    }
  }
  return {endpoint::topic_publish, std::string(rest)};
}

std::string_view allowed_methods(endpoint e) {
  for (const auto& r : routes) {
    if (r.endpoint == e) {
      return r.methods;
    }
  }
  return "";
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
