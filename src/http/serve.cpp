#include "http/serve.hpp"

#include <algorithm>
#include <boost/url/parse.hpp>

#include "core/cursor.hpp"
#include "core/topic_name.hpp"
#include "http/api/admin.hpp"
#include "http/api/history.hpp"
#include "http/api/publish.hpp"
#include "http/api/status.hpp"
#include "http/api/tickets.hpp"
#include "http/credentials.hpp"

namespace sb::http {
namespace bhttp = boost::beast::http;

bool is_public(endpoint e) {
  return e == endpoint::healthz || e == endpoint::readyz || e == endpoint::metrics ||
         e == endpoint::demo_page || e == endpoint::client_js || e == endpoint::client_types ||
         e == endpoint::openapi || e == endpoint::asyncapi;
}

bool is_admin(endpoint e) {
  return e == endpoint::topic_list || e == endpoint::admin_page || e == endpoint::admin_stats ||
         e == endpoint::admin_session;
}

std::string_view header_value(const bhttp::fields& headers, bhttp::field name) {
  auto it = headers.find(name);
  return it == headers.end() ? std::string_view{} : std::string_view(it->value());
}

std::variant<route, response> route_request(std::string_view method, std::string_view target,
                                            const bhttp::fields& headers, loop_services& ctx) {
  auto url = boost::urls::parse_origin_form(target);
  return route_request(method, url ? &*url : nullptr, headers, ctx);
}

std::variant<route, response> route_request(std::string_view method,
                                            const boost::urls::url_view* url,
                                            const bhttp::fields& headers, loop_services& ctx) {
  auto fail = [&ctx](errc e, std::string_view detail = {}) {
    ctx.counters.bad_requests.add();
    return response::error(e, detail);
  };
  if (!url) {
    return fail(errc::invalid_request, "request target is not a path");
  }
  auto where = match_route(url->path());
  bool status = where.endpoint == endpoint::metrics || where.endpoint == endpoint::healthz ||
                where.endpoint == endpoint::readyz;
  if (where.endpoint == endpoint::none || (ctx.shared.status_only && !status) ||
      (where.endpoint == endpoint::metrics && !ctx.shared.serves_metrics)) {
    return fail(errc::not_found);
  }
  if (!method_allowed(where.endpoint, method)) {
    auto r = response::error(errc::method_not_allowed);
    r.headers.emplace_back("Allow", std::string(allowed_methods(where.endpoint)));
    return r;
  }
  if (method == "OPTIONS") {
    response r{204, {}, {}, {}, false};
    r.headers = ctx.shared.cors.preflight(
        header_value(headers, bhttp::field::origin),
        header_value(headers, bhttp::field::access_control_request_headers));
    r.headers.emplace_back("Allow", std::string(allowed_methods(where.endpoint)));
    return r;
  }
  if (where.endpoint == endpoint::metrics && !ctx.shared.metrics_token.empty()) {
    // Only the header counts: a scraper sets it, and a token in a URL or cookie would leak.
    std::string storage[2];
    auto bearer = credentials_of(headers, *url, {}, storage).bearer;
    if (!ctx.shared.metrics_token.matches(bearer)) {
      ctx.counters.bad_requests.add();
      return api::unauthorized(bearer.empty()
                                   ? "GET /metrics needs Authorization: Bearer <metrics_token>"
                                   : "wrong metrics token");
    }
  }
  return where;
}

std::size_t body_limit(endpoint e, const limits& l, const message_limits& m) {
  return e == endpoint::topic_publish ? m.max_message_bytes : l.max_request_bytes;
}

std::optional<response> refuse_stream_publish(const std::string& topic, const auth::identity& who,
                                              loop_services& ctx) {
  std::optional<response> r;
  if (!is_valid_topic(topic)) {
    ctx.counters.bad_requests.add();
    r = response::error(errc::invalid_topic);
  } else if (!who.grants.can_publish(topic)) {
    r = api::refusal(who, "this token may not publish to " + topic);
  }
  return r;
}

namespace {

/// The rate-limit key of an authenticated caller.
std::string client_key(const auth::identity& who, std::string_view bearer,
                       const boost::asio::ip::address& peer) {
  if (who.api_key) {
    return "key:" + std::to_string(std::hash<std::string_view>{}(bearer));
  }
  if (!who.grants.subject.empty()) {
    return "sub:" + who.grants.subject;
  }
  // The address's bytes, not its text: only a map key, and formatting it (inet_ntop, sprintf)
  // cost more than the rest of the rate check on every anonymous publish.
  auto key = [](const auto& bytes) {
    return "ip:" + std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  };
  return peer.is_v4() ? key(peer.to_v4().to_bytes()) : key(peer.to_v6().to_bytes());
}

}  // namespace

std::optional<verdict> authenticate(const bhttp::fields& headers, boost::urls::url_view url,
                                    const boost::asio::ip::address& peer, loop_services& ctx,
                                    std::function<void(verdict)> later) {
  std::string storage[2];
  auto creds = credentials_of(headers, url, ctx.shared.auth->cookie(), storage);
  if (!creds.cookie_token.empty()) {
    auto origin = header_value(headers, bhttp::field::origin);
    if (!ctx.shared.cors.lends_cookie(origin, header_value(headers, bhttp::field::host))) {
      // Another site's page made this request and the browser attached our cookie by itself:
      // it is not taken (other credentials still are), and a request with nothing else is told so.
      creds.cookie_token = {};
      if (!creds.any()) {
        ctx.counters.bad_requests.add();
        return api::unauthorized("the auth cookie is not accepted from origin " +
                                 std::string(origin) + " (not this host, not in cors_origins)");
      }
    }
  }
  if (ctx.shared.auth->authenticates_later(creds)) {
    ctx.shared.auth->authenticate_later(
        creds.ticket,
        [&ctx, peer, later = std::move(later)](result<auth::identity> who, std::string why) {
          if (!who) {
            if (who.error() == errc::unavailable) {
              later(response::error(errc::unavailable, why));
            } else {
              ctx.counters.bad_requests.add();
              later(api::unauthorized(why));
            }
            return;
          }
          auto client = client_key(*who, {}, peer);
          later(caller{std::move(*who), std::move(client)});
        });
    return std::nullopt;
  }
  std::string why;
  auto who = ctx.shared.auth->authenticate(creds, why);
  if (!who) {
    ctx.counters.bad_requests.add();
    return api::unauthorized(why);
  }
  auto client = client_key(*who, creds.bearer, peer);
  return caller{std::move(*who), std::move(client)};
}

std::variant<events_request, response> check_events(const bhttp::fields& headers,
                                                    boost::urls::url_view url,
                                                    const auth::identity& who, loop_services& ctx) {
  auto bad = [&ctx](errc e, std::string_view detail) {
    ctx.counters.bad_requests.add();
    return response::error(e, detail);
  };
  if (ctx.shared.is_draining()) {
    return bad(errc::unavailable, "draining");
  }
  events_request out;
  for (auto param : url.params()) {
    if (param.key != "topic") {
      continue;
    }
    if (!is_valid_topic(param.value)) {
      return bad(errc::invalid_topic, "invalid topic: " + std::string(param.value));
    }
    if (!who.grants.can_subscribe(param.value)) {
      return api::refusal(who, "this token may not subscribe to " + std::string(param.value));
    }
    if (std::find(out.topics.begin(), out.topics.end(), param.value) == out.topics.end()) {
      out.topics.push_back(param.value);
    }
  }
  if (out.topics.empty()) {
    return bad(errc::invalid_request, "name at least one topic: /v1/events?topic=…");
  }
  if (out.topics.size() > ctx.shared.limits.max_topics_per_stream) {
    return bad(errc::invalid_request, "too many topics for one stream");
  }
  // The header wins over ?since= (a browser's reconnect sends both). A malformed header is
  // answered with a gap, never an error: the browser sends it by itself and could not recover.
  if (auto last = headers.find("Last-Event-ID"); last != headers.end()) {
    out.from.text = std::string(last->value());
  } else if (auto it = url.params().find("since"); it != url.params().end()) {
    auto since = std::string((*it).value);
    if (!parse_position(since) && !parse_cursor(since)) {
      return bad(errc::invalid_position, "since must be an id this server sent");
    }
    out.from.text = std::move(since);
  }
  return out;
}

std::optional<response> refuse_admin(endpoint e, const bhttp::fields& headers,
                                     const auth::identity& who, loop_services& ctx) {
  if (who.grants.admin) {
    return std::nullopt;
  }
  // The session cookie counts only from this host's own pages (SameSite=Strict keeps other sites
  // from sending it; this also refuses a listed CORS origin's page, which has no business here).
  auto cookie = cookie_of(headers, admin_cookie);
  auto origin = header_value(headers, bhttp::field::origin);
  bool same_host = origin.empty() ||
                   ctx.shared.cors.lends_cookie(origin, header_value(headers, bhttp::field::host));
  if (!cookie.empty() && same_host && ctx.shared.auth->sessions().valid(cookie)) {
    return std::nullopt;
  }
  response r;
  if (!who.anonymous) {
    r = response::error(errc::forbidden, "these credentials carry no admin rights");
  } else if (!cookie.empty()) {
    r = api::unauthorized("the admin session has expired or is not valid here: sign in again");
  } else {
    r = response::error(errc::unauthorized, "admin credentials required");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  if (e == endpoint::admin_page &&
      header_value(headers, bhttp::field::accept).find("text/html") != std::string_view::npos) {
    auto page = api::admin_page(ctx, r.status);
    for (auto& h : r.headers) {
      page.headers.push_back(std::move(h));
    }
    return page;
  }
  return r;
}

std::variant<events_request, response> check_admin_stats(loop_services& ctx) {
  if (ctx.shared.is_draining()) {
    ctx.counters.bad_requests.add();
    return response::error(errc::unavailable, "draining");
  }
  if (ctx.shared.watch_admin_stats) {
    ctx.shared.watch_admin_stats();
  }
  return events_request{{std::string(admin_stats_topic)}, {}};
}

std::vector<std::pair<std::string, std::string>> events_headers(
    const bhttp::fields& request_headers, loop_services& ctx) {
  std::vector<std::pair<std::string, std::string>> out{{"Content-Type", "text/event-stream"},
                                                       {"Cache-Control", "no-store"},
                                                       {"X-Accel-Buffering", "no"}};
  for (auto& h : ctx.shared.cors.headers_for(header_value(request_headers, bhttp::field::origin))) {
    out.push_back(std::move(h));
  }
  return out;
}

void serve(endpoint e, const api::request& request, loop_services& ctx, api::respond_fn done) {
  switch (e) {
    case endpoint::topic_publish:
      api::publish_one(request, ctx, std::move(done));
      break;
    case endpoint::batch_publish:
      api::publish_batch(request, ctx, std::move(done));
      break;
    case endpoint::topic_history:
      api::read_history(request, ctx, std::move(done));
      break;
    case endpoint::topic_presence:
      api::read_presence(request, ctx, std::move(done));
      break;
    case endpoint::healthz:
      done(response::text(200, "ok\n"));
      break;
    case endpoint::readyz:
      done(api::readiness(ctx));
      break;
    case endpoint::metrics:
      done(api::metrics(ctx));
      break;
    case endpoint::demo_page:
      done(api::demo_page(ctx));
      break;
    case endpoint::client_js:
      done(api::client_js(ctx));
      break;
    case endpoint::client_types:
      done(api::client_types(ctx));
      break;
    case endpoint::openapi:
      done(api::api_document(request, ctx.shared.openapi_json, "application/json",
                             ctx.shared.openapi_etag));
      break;
    case endpoint::asyncapi:
      done(api::api_document(request, ctx.shared.asyncapi_yaml, "application/yaml",
                             ctx.shared.asyncapi_etag));
      break;
    case endpoint::tickets:
      api::mint_ticket(request, ctx, std::move(done));
      break;
    case endpoint::dev_llm:
      done(api::start_dev_llm(request, ctx));
      break;
    case endpoint::topic_list:
      api::list_topics(request, ctx, std::move(done));
      break;
    case endpoint::admin_page:
      done(api::admin_page(ctx, 200));
      break;
    case endpoint::admin_session:
      done(api::start_admin_session(request, ctx));
      break;
    case endpoint::websocket:
    default:
      done(response::error(errc::not_found, "not available in this version"));
      break;
  }
}

}  // namespace sb::http
