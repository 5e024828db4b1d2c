#include "http/api/status.hpp"

#include <boost/json.hpp>

#include "core/topic_name.hpp"

namespace sb::http::api {

response readiness(const loop_services& ctx) {
  if (ctx.shared.is_draining()) {
    return response::text(503, "draining\n");
  }
  return response::text(200, "ready\n");
}

response metrics(const loop_services& ctx) {
  auto r = response::text(200, ctx.shared.metrics_text ? ctx.shared.metrics_text() : std::string());
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return r;
}

response demo_page(const loop_services& ctx) {
  if (!ctx.shared.dev || ctx.shared.demo_html.empty()) {
    return response::error(errc::not_found, "the demo page is served in dev mode (--dev)");
  }
  response r{200, "text/html; charset=utf-8", std::string(ctx.shared.demo_html), {}, false};
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

response client_js(const loop_services& ctx) {
  response r{200, "text/javascript; charset=utf-8", std::string(ctx.shared.client_js), {}, false};
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

void read_presence(const request& req, loop_services& ctx, respond_fn done) {
  if (!is_valid_topic(req.topic)) {
    done(response::error(errc::invalid_topic));
    return;
  }
  // Presence is joined over WebSocket; until a connection joins, a topic has no members.
  boost::json::object o;
  o["topic"] = req.topic;
  o["count"] = 0;
  o["members"] = boost::json::array();
  done(response::json(200, boost::json::serialize(o)));
}

}  // namespace sb::http::api
