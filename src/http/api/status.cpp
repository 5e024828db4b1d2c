#include "http/api/status.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "core/topic_name.hpp"

namespace sb::http::api {

response readiness(const loop_services& ctx) {
  if (ctx.shared.is_draining()) {
    return response::text(503, "draining\n");
  }
  if (ctx.shared.backplane_ready && !ctx.shared.backplane_ready()) {
    auto r = response::text(503, "backplane unavailable\n");
    r.headers.emplace_back("Retry-After", "1");
    return r;
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

response client_types(const loop_services& ctx) {
  // text/plain: TypeScript has no registered media type, and a browser shows plain text inline.
  response r{200, "text/plain; charset=utf-8", std::string(ctx.shared.client_types), {}, false};
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

namespace {

/// True when an If-None-Match list (RFC 9110 13.1.2) names `etag`, weakly compared, or is "*".
bool none_match_names(std::string_view list, std::string_view etag) {
  auto opaque = [](std::string_view tag) { return tag.starts_with("W/") ? tag.substr(2) : tag; };
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
      item.remove_prefix(1);
    }
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
      item.remove_suffix(1);
    }
    if (item == "*" || opaque(item) == opaque(etag)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

response api_document(const request& req, std::string_view body, std::string_view content_type,
                      std::string_view etag) {
  // Revalidated on every use (no-cache) so that a client never keeps the document of a server
  // that has since been upgraded; an unchanged one costs a 304.
  response r{200, std::string(content_type), {}, {}, false};
  r.headers.emplace_back("ETag", std::string(etag));
  r.headers.emplace_back("Cache-Control", "no-cache");
  bool fresh = false;
  auto [first, last] = req.headers.equal_range(boost::beast::http::field::if_none_match);
  for (auto it = first; it != last; ++it) {
    fresh = fresh || none_match_names(it->value(), etag);
  }
  if (fresh) {
    r.status = 304;
    r.content_type.clear();
  } else {
    r.body = std::string(body);
  }
  return r;
}

response start_dev_llm(const request& req, loop_services& ctx) {
  if (!ctx.shared.dev || !ctx.shared.start_dev_llm) {
    return response::error(errc::not_found, "the demo generator runs in dev mode (--dev)");
  }
  auto topic = req.query("topic").value_or("demo/llm");
  if (!is_valid_topic(topic)) {
    return response::error(errc::invalid_topic);
  }
  if (!req.who.grants.can_publish(topic)) {
    return refusal(req.who, "this token may not publish to " + topic);
  }
  ctx.shared.start_dev_llm(ctx.loop, topic);
  boost::json::object o{{"topic", topic}};
  return response::json(202, boost::json::serialize(o));
}

void read_presence(const request& req, loop_services& ctx, respond_fn done) {
  if (auto refused = refuse_topic_read(req)) {
    done(std::move(*refused));
    return;
  }
  std::size_t limit = 100;
  if (auto text = req.query("limit")) {
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc{} || ptr != text->data() + text->size() || limit == 0) {
      done(response::error(errc::invalid_request, "limit must be a positive integer"));
      return;
    }
    limit = std::min<std::size_t>(limit, 1000);
  }
  std::string after(req.query("after").value_or(""));
  auto answer = [topic = req.topic, after, limit, done](presence_page page) {
    bool more = page.members.size() > limit;
    if (more) {
      page.members.pop_back();
    }
    boost::json::array members;
    for (auto& m : page.members) {
      members.push_back(boost::json::object{{"id", m.id}, {"state", std::move(m.state)}});
    }
    boost::json::object o;
    o["topic"] = topic;
    o["count"] = page.count;
    o["members"] = std::move(members);
    o["next"] = more ? boost::json::value(page.members.back().id) : boost::json::value(nullptr);
    auto r = response::json(200, boost::json::serialize(o));
    r.headers.emplace_back("Cache-Control", "no-store");
    done(std::move(r));
  };
  auto* registry = ctx.shared.presence;
  if (!ctx.shared.cluster_presence) {
    // One more than asked tells whether another page follows.
    answer(registry->page(req.topic, after, limit + 1));
    return;
  }
  ctx.shared.cluster_presence(
      ctx.loop, req.topic,
      [registry, topic = req.topic, after, limit,
       answer](std::optional<std::vector<presence_member>> all) {
        if (!all) {
          answer(registry->page(topic, after, limit + 1));
          return;
        }
        presence_page page;
        page.count = all->size();
        auto from = std::upper_bound(
            all->begin(), all->end(), after,
            [](const std::string& a, const presence_member& m) { return a < m.id; });
        for (; from != all->end() && page.members.size() < limit + 1; ++from) {
          page.members.push_back(std::move(*from));
        }
        answer(std::move(page));
      });
}

}  // namespace sb::http::api
