#pragma once
// What HTTP/1.1 and HTTP/2 sessions share once a request's head is parsed: authentication, the
// checks of GET /v1/events, and the dispatch of a complete request to its API handler. Framing
// stays with each session; everything the contract says about a request is here, once.
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/url/url_view.hpp>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "http/api/request.hpp"
#include "http/response.hpp"
#include "http/router.hpp"
#include "http/services.hpp"
#include "sse/stream.hpp"

namespace sb::http {

/// Endpoints answered without credentials.
bool is_public(endpoint e);

/// Endpoints for operators only: an admin key, a JWT with `switchboard.admin`, or an admin
/// session cookie (docs/api.md "Admin"). Never anonymous, dev mode included.
bool is_admin(endpoint e);

/// A request header's value, empty when it is absent.
std::string_view header_value(const boost::beast::http::fields& headers,
                              boost::beast::http::field name);

/// The first checks of every request once its head is read: the target, the route, the method.
/// Gives the route, or the answer: 400 (target not a path) and 404, counted as bad requests; 405
/// with `Allow`; 204 to a CORS preflight. Whether the connection stays is the session's call (an
/// HTTP/1.1 answer given before the request's body was read closes it).
std::variant<route, response> route_request(std::string_view method, std::string_view target,
                                            const boost::beast::http::fields& headers,
                                            loop_services& ctx);
/// The same, for a target already parsed (`url`, null when it is not a path): a session parses
/// it once and reads it again at every later step of the request.
std::variant<route, response> route_request(std::string_view method,
                                            const boost::urls::url_view* url,
                                            const boost::beast::http::fields& headers,
                                            loop_services& ctx);

/// The most body bytes a request to `e` may carry.
std::size_t body_limit(endpoint e, const limits& l, const message_limits& m);

/// Whether a streaming publish to `topic` may begin: nothing, or the answer (400 invalid topic,
/// counted as a bad request; 401/403 not granted).
std::optional<response> refuse_stream_publish(const std::string& topic, const auth::identity& who,
                                              loop_services& ctx);

/// Who is asking, and as which rate-limit key.
struct caller {
  auth::identity who;
  std::string client;
};

/// The caller behind a request's credentials, or the answer (401; 503 when a ticket cannot be
/// checked). Given at once; or, when a ticket must be redeemed in the ledger the nodes share
/// (broker = redis), nullopt now and `later` called on this loop with it: a redeem takes a round
/// trip, and the loop does not wait for it. `later` must find out whether its request is still
/// there (the connection may have closed or changed hands meanwhile).
using verdict = std::variant<caller, response>;
std::optional<verdict> authenticate(const boost::beast::http::fields& headers,
                                    boost::urls::url_view url, const boost::asio::ip::address& peer,
                                    loop_services& ctx, std::function<void(verdict)> later);

/// GET /v1/events, checked: the topics (valid, granted, distinct) and where to resume.
struct events_request {
  std::vector<std::string> topics;
  sse::resume_from from;
};
std::variant<events_request, response> check_events(const boost::beast::http::fields& headers,
                                                    boost::urls::url_view url,
                                                    const auth::identity& who, loop_services& ctx);

/// Whether `who` (or the request's admin session cookie) may use admin endpoint `e`: nothing when
/// it may; otherwise 401 (no credentials, or an admin session that is not valid) or 403
/// (credentials without admin rights). A browser asking for GET /admin (Accept: text/html) gets
/// the page's sign-in view with that status instead of the JSON error.
std::optional<response> refuse_admin(endpoint e, const boost::beast::http::fields& headers,
                                     const auth::identity& who, loop_services& ctx);

/// GET /v1/admin/stats once the caller is known to be an admin: the stream of the server's stats
/// topic (no resume: each snapshot is whole), or 503 while draining.
std::variant<events_request, response> check_admin_stats(loop_services& ctx);

/// The headers of an SSE response besides its status and framing (content type, caching, CORS).
std::vector<std::pair<std::string, std::string>> events_headers(
    const boost::beast::http::fields& request_headers, loop_services& ctx);

/// Answers a complete request to an endpoint other than events, websocket and stream publish.
void serve(endpoint e, const api::request& req, loop_services& ctx, api::respond_fn done);

}  // namespace sb::http
