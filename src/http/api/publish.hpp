#pragma once
#include "http/api/request.hpp"
#include "http/services.hpp"

namespace sb::http::api {

/// POST /v1/topics/{topic}: the body is the data; `?event=`, `?retain=1`. 201 {"topic","id"}
/// once the message is in history.
void publish_one(const request& req, loop_services& ctx, respond_fn done);

/// POST /v1/publish: {"messages":[{"topic","data","event","retain"}]} → {"ids":[…]} in order.
void publish_batch(const request& req, loop_services& ctx, respond_fn done);

/// Checks what the contract asks of one message before anything is stored; ok or why not.
errc check_message(const publish_item& item, const message_limits& l);

}  // namespace sb::http::api
