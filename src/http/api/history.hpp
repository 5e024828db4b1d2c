#pragma once
#include "http/api/request.hpp"
#include "http/services.hpp"

namespace sb::http::api {

/// GET /v1/topics/{topic}/history?since=&limit=: {"messages":[{"id","event","data","time"}],
/// "next","gap"}. `since` is exclusive; `next` is the `since` of the following page, or null when
/// this page reaches the newest message; `gap` is true when `since` was older than what is kept.
void read_history(const request& req, loop_services& ctx, respond_fn done);

}  // namespace sb::http::api
