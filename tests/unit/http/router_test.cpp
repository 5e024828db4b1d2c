#include "http/router.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sb::http {
namespace {

struct path_case {
  const char* path;
  endpoint e;
  const char* topic;
};

TEST(Router, EveryContractPath) {
  const path_case cases[] = {
      {"/v1/events", endpoint::events, ""},
      {"/v1/publish", endpoint::batch_publish, ""},
      {"/v1/tickets", endpoint::tickets, ""},
      {"/v1/ws", endpoint::websocket, ""},
      {"/metrics", endpoint::metrics, ""},
      {"/healthz", endpoint::healthz, ""},
      {"/readyz", endpoint::readyz, ""},
      {"/", endpoint::demo_page, ""},
      {"/index.html", endpoint::demo_page, ""},
      {"/client.js", endpoint::client_js, ""},
      {"/v1/topics/orders", endpoint::topic_publish, "orders"},
      {"/v1/topics/orders/stream", endpoint::topic_stream, "orders"},
      {"/v1/topics/orders/history", endpoint::topic_history, "orders"},
      {"/v1/topics/orders/presence", endpoint::topic_presence, "orders"},
  };
  for (const auto& c : cases) {
    auto r = match_route(c.path);
    EXPECT_EQ(r.endpoint, c.e) << c.path;
    EXPECT_EQ(r.topic, c.topic) << c.path;
  }
}

TEST(Router, TopicsWithSlashes) {
  const path_case cases[] = {
      {"/v1/topics/orders/42", endpoint::topic_publish, "orders/42"},
      {"/v1/topics/orders/42/stream", endpoint::topic_stream, "orders/42"},
      {"/v1/topics/orders/42/history", endpoint::topic_history, "orders/42"},
      {"/v1/topics/orders/42/presence", endpoint::topic_presence, "orders/42"},
      {"/v1/topics/a/b/c/d", endpoint::topic_publish, "a/b/c/d"},
      {"/v1/topics/a:b@c.d/e-f_g/history", endpoint::topic_history, "a:b@c.d/e-f_g"},
  };
  for (const auto& c : cases) {
    auto r = match_route(c.path);
    EXPECT_EQ(r.endpoint, c.e) << c.path;
    EXPECT_EQ(r.topic, c.topic) << c.path;
  }
}

TEST(Router, ReservedNamesOnlyCountAsTheLastSegment) {
  const path_case cases[] = {
      // A reserved word earlier in the path is part of the topic.
      {"/v1/topics/stream/x", endpoint::topic_publish, "stream/x"},
      {"/v1/topics/history/presence/x", endpoint::topic_publish, "history/presence/x"},
      {"/v1/topics/stream/history", endpoint::topic_history, "stream"},
      {"/v1/topics/a/history/stream", endpoint::topic_stream, "a/history"},
      // Near misses of the reserved names are topic segments.
      {"/v1/topics/a/streams", endpoint::topic_publish, "a/streams"},
      {"/v1/topics/a/History", endpoint::topic_publish, "a/History"},
      {"/v1/topics/a/historyx", endpoint::topic_publish, "a/historyx"},
      // A bare reserved word is routed as a topic name (which validation then refuses with 400).
      {"/v1/topics/stream", endpoint::topic_publish, "stream"},
      {"/v1/topics/history", endpoint::topic_publish, "history"},
  };
  for (const auto& c : cases) {
    auto r = match_route(c.path);
    EXPECT_EQ(r.endpoint, c.e) << c.path;
    EXPECT_EQ(r.topic, c.topic) << c.path;
  }
}

TEST(Router, RawTopicIsPassedOnUnvalidated) {
  // The router splits; the handler validates (400), so odd names must reach it intact.
  EXPECT_EQ(match_route("/v1/topics/a//b").topic, "a//b");
  EXPECT_EQ(match_route("/v1/topics/a/").topic, "a/");
  EXPECT_EQ(match_route("/v1/topics/a%2Fb").topic, "a%2Fb");
  auto empty_topic = match_route("/v1/topics//history");
  EXPECT_EQ(empty_topic.endpoint, endpoint::topic_history);
  EXPECT_EQ(empty_topic.topic, "");
}

TEST(Router, EveryRowOfTheTableRoutesToItself) {
  // The table is what matching, Allow headers and the OpenAPI test read: each row must be reached
  // by its own path ({topic} standing for a topic with slashes) and answer its own methods.
  ASSERT_GE(route_table().size(), 15u);
  for (const auto& row : route_table()) {
    std::string path(row.path);
    std::string topic;
    if (auto at = path.find("{topic}"); at != std::string::npos) {
      topic = "orders/42";
      path.replace(at, 7, topic);
    }
    auto r = match_route(path);
    EXPECT_EQ(r.endpoint, row.endpoint) << row.path;
    EXPECT_EQ(r.topic, topic) << row.path;
    EXPECT_EQ(allowed_methods(row.endpoint), row.methods) << row.path;
    EXPECT_TRUE(method_allowed(row.endpoint, "OPTIONS")) << row.path;
  }
}

TEST(Router, TheApiDocumentsAreRoutes) {
  EXPECT_EQ(match_route("/v1/openapi.json").endpoint, endpoint::openapi);
  EXPECT_EQ(match_route("/v1/asyncapi.yaml").endpoint, endpoint::asyncapi);
  for (auto e : {endpoint::openapi, endpoint::asyncapi}) {
    EXPECT_EQ(allowed_methods(e), "GET, HEAD, OPTIONS");
  }
}

TEST(Router, UnknownPathsAreNone) {
  for (const char* path : {"", "/v1", "/v1/", "/v1/topics/", "/v1/events/", "/v1/eventsx",
                           "/V1/events", "/v1/topic/a", "/metrics/", "/healthz/x", "/client.js.map",
                           "/index.htm", "//", "/v2/events", "v1/events"}) {
    auto r = match_route(path);
    EXPECT_EQ(r.endpoint, endpoint::none) << '"' << path << '"';
    EXPECT_EQ(r.topic, "") << '"' << path << '"';
  }
}

TEST(Router, AdminPaths) {
  EXPECT_EQ(match_route("/v1/topics").endpoint, endpoint::topic_list);
  EXPECT_EQ(match_route("/admin").endpoint, endpoint::admin_page);
  EXPECT_EQ(match_route("/v1/admin/stats").endpoint, endpoint::admin_stats);
  EXPECT_EQ(match_route("/v1/admin/session").endpoint, endpoint::admin_session);
  // The per-topic endpoints under /v1/topics/ are untouched by the listing.
  EXPECT_EQ(match_route("/v1/topics/a").endpoint, endpoint::topic_publish);
  EXPECT_EQ(match_route("/v1/topics/a/history").endpoint, endpoint::topic_history);
  for (const char* path :
       {"/admin/", "/admin.html", "/v1/admin", "/v1/admin/", "/v1/admin/statsx"}) {
    EXPECT_EQ(match_route(path).endpoint, endpoint::none) << path;
  }
  EXPECT_EQ(allowed_methods(endpoint::topic_list), "GET, HEAD, OPTIONS");
  EXPECT_EQ(allowed_methods(endpoint::admin_page), "GET, HEAD, OPTIONS");
  EXPECT_EQ(allowed_methods(endpoint::admin_stats), "GET, OPTIONS");
  EXPECT_EQ(allowed_methods(endpoint::admin_session), "POST, OPTIONS");
}

TEST(Router, AllowedMethods) {
  EXPECT_EQ(allowed_methods(endpoint::none), "");
  EXPECT_EQ(allowed_methods(endpoint::events), "GET, OPTIONS");
  EXPECT_EQ(allowed_methods(endpoint::websocket), "GET, OPTIONS");
  for (auto e : {endpoint::topic_publish, endpoint::topic_stream, endpoint::batch_publish,
                 endpoint::tickets}) {
    EXPECT_EQ(allowed_methods(e), "POST, OPTIONS") << static_cast<int>(e);
  }
  for (auto e : {endpoint::topic_history, endpoint::topic_presence, endpoint::metrics,
                 endpoint::healthz, endpoint::readyz, endpoint::demo_page, endpoint::client_js}) {
    EXPECT_EQ(allowed_methods(e), "GET, HEAD, OPTIONS") << static_cast<int>(e);
  }
}

TEST(Router, MethodAllowedMatchesTheAllowList) {
  struct method_case {
    endpoint e;
    const char* method;
    bool allowed;
  };
  const method_case cases[] = {
      {endpoint::events, "GET", true},
      {endpoint::events, "HEAD", false},
      {endpoint::events, "POST", false},
      {endpoint::events, "OPTIONS", true},
      {endpoint::websocket, "GET", true},
      {endpoint::websocket, "HEAD", false},
      {endpoint::topic_publish, "POST", true},
      {endpoint::topic_publish, "GET", false},
      {endpoint::topic_publish, "HEAD", false},
      {endpoint::topic_publish, "OPTIONS", true},
      {endpoint::topic_publish, "PUT", false},
      {endpoint::topic_publish, "DELETE", false},
      {endpoint::topic_stream, "POST", true},
      {endpoint::topic_stream, "GET", false},
      {endpoint::batch_publish, "POST", true},
      {endpoint::tickets, "POST", true},
      {endpoint::tickets, "GET", false},
      {endpoint::topic_history, "GET", true},
      {endpoint::topic_history, "HEAD", true},
      {endpoint::topic_history, "POST", false},
      {endpoint::topic_history, "OPTIONS", true},
      {endpoint::topic_presence, "GET", true},
      {endpoint::metrics, "GET", true},
      {endpoint::metrics, "HEAD", true},
      {endpoint::metrics, "POST", false},
      {endpoint::healthz, "HEAD", true},
      {endpoint::readyz, "GET", true},
      {endpoint::demo_page, "GET", true},
      {endpoint::client_js, "HEAD", true},
      {endpoint::client_js, "PATCH", false},
      {endpoint::none, "GET", false},
      {endpoint::none, "OPTIONS", false},
      {endpoint::none, "HEAD", false},
      {endpoint::none, "POST", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(method_allowed(c.e, c.method), c.allowed) << static_cast<int>(c.e) << ' ' << c.method;
  }
}

TEST(Router, MethodMustMatchExactly) {
  // Prefixes, case variants and padding of an allowed method are other methods.
  for (const char* method : {"", "G", "GE", "get", "Get", "GET ", " GET", "GETS", "GET,"}) {
    EXPECT_FALSE(method_allowed(endpoint::metrics, method)) << '"' << method << '"';
  }
  for (const char* method : {"P", "POS", "post", "POSTX", "OPTION", "options", "OPTIONSX"}) {
    EXPECT_FALSE(method_allowed(endpoint::topic_publish, method)) << '"' << method << '"';
  }
  EXPECT_FALSE(method_allowed(endpoint::metrics, "head"));
  EXPECT_FALSE(method_allowed(endpoint::metrics, "HEADX"));
}

}  // namespace
}  // namespace sb::http
