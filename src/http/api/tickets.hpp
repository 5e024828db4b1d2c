#pragma once
#include "http/api/request.hpp"
#include "http/services.hpp"

namespace sb::http::api {

/// POST /v1/tickets (API key only): {"subject","topics":[…],"ttl_s"?} → 201 {"ticket",
/// "expires_in"}: a single-use, short-lived subscribe ticket for `/v1/events?…&ticket=`.
void mint_ticket(const request& req, loop_services& ctx, respond_fn done);

}  // namespace sb::http::api
