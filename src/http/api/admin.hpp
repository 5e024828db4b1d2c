#pragma once
// The operator's endpoints (docs/api.md "Admin"): the admin page, its sign-in cookie and the topic
// listing. Callers have passed refuse_admin() (http/serve.hpp) first; the stats stream itself is
// an SSE stream of the server's own topic (check_admin_stats).
#include "http/api/request.hpp"
#include "http/services.hpp"

namespace sb::http::api {

/// GET /admin: the page (web/admin.html). With a status of 401 or 403 it is the page's sign-in
/// view (the browser's answer to an operator without admin credentials yet).
response admin_page(const loop_services& ctx, unsigned status);

/// POST /v1/admin/session: 204 with `Set-Cookie: switchboard_admin=…` (HttpOnly, SameSite=Strict,
/// Max-Age admin_session_ttl_s), so the page and its EventSource are authenticated by a cookie.
response start_admin_session(const request& req, loop_services& ctx);

/// GET /v1/topics?prefix=&limit=&after=: {"topics":[{"topic","subscribers","presence","last_id"}],
/// "next"}, by name; `limit` 1–1000 (default 100, 400 otherwise); `next` is the `after` of the
/// following page or null. Subscriber counts are asked of every loop, so the answer comes later.
void list_topics(const request& req, loop_services& ctx, respond_fn done);

}  // namespace sb::http::api
