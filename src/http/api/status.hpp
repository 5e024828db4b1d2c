#pragma once
// The small endpoints: readiness, metrics, the demo page and client library, presence counts.
#include "http/api/request.hpp"
#include "http/services.hpp"

namespace sb::http::api {

/// GET /readyz: 200 while serving, 503 while draining.
response readiness(const loop_services& ctx);
/// GET /metrics: Prometheus text format.
response metrics(const loop_services& ctx);
/// GET / (dev mode): the demo page.
response demo_page(const loop_services& ctx);
/// GET /client.js: the browser client library (ES module).
response client_js(const loop_services& ctx);
/// The TypeScript declarations of client.js (`/// <reference path>` or a copy beside it).
response client_types(const loop_services& ctx);
/// GET /v1/openapi.json, GET /v1/asyncapi.yaml: a document of the API, with its ETag; a request
/// whose If-None-Match names that ETag gets 304 without a body.
response api_document(const request& req, std::string_view body, std::string_view content_type,
                      std::string_view etag);
/// POST /v1/dev/llm?topic= (dev mode): 202, then the demo token stream flows into the topic.
response start_dev_llm(const request& req, loop_services& ctx);
/// GET /v1/topics/{topic}/presence?limit=&after=: {"topic","count","members":[{"id","state"}],
/// "next"}; members ordered by id, `next` is the `after` of the following page or null.
void read_presence(const request& req, loop_services& ctx, respond_fn done);

}  // namespace sb::http::api
