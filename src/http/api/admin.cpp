#include "http/api/admin.hpp"

#include <boost/json.hpp>
#include <charconv>

#include "core/position.hpp"

namespace sb::http::api {
namespace {

constexpr std::size_t default_page = 100;
constexpr std::size_t max_page = 1000;
constexpr std::size_t max_name_bytes = 200;  // the longest topic name

}  // namespace

response admin_page(const loop_services& ctx, unsigned status) {
  std::string html(ctx.shared.admin_html);
  if (status != 200) {
    // One page, two views: the markup says which one to show first.
    constexpr std::string_view dashboard = R"(data-view="dashboard")";
    if (auto at = html.find(dashboard); at != std::string::npos) {
      html.replace(at, dashboard.size(), R"(data-view="signin")");
    }
  }
  response r{status, "text/html; charset=utf-8", std::move(html), {}, false};
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; script-src 'unsafe-inline'; style-src "
                         "'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'");
  return r;
}

response start_admin_session(const request&, loop_services& ctx) {
  const auto& sessions = ctx.shared.auth->sessions();
  response r{204, {}, {}, {}, false};
  r.headers.emplace_back(
      "Set-Cookie", std::string(admin_cookie) + "=" + sessions.mint() + "; Path=/; Max-Age=" +
                        std::to_string(sessions.ttl().count()) + "; HttpOnly; SameSite=Strict");
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

void list_topics(const request& req, loop_services& ctx, respond_fn done) {
  std::size_t limit = default_page;
  if (auto text = req.query("limit")) {
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc{} || ptr != text->data() + text->size() || limit == 0 || limit > max_page) {
      done(response::error(errc::invalid_request, "limit must be an integer from 1 to 1000"));
      return;
    }
  }
  auto prefix = req.query("prefix").value_or("");
  auto after = req.query("after").value_or("");
  if (prefix.size() > max_name_bytes || after.size() > max_name_bytes) {
    done(response::error(errc::invalid_request, "prefix and after are at most 200 bytes"));
    return;
  }
  if (!ctx.shared.list_topics || !ctx.shared.count_subscribers) {
    done(response::error(errc::not_found, "not available in this version"));
    return;
  }
  // One more than asked tells whether another page follows.
  auto entries = ctx.shared.list_topics(prefix, after, limit + 1);
  bool more = entries.size() > limit;
  if (more) {
    entries.pop_back();
  }
  std::vector<std::string> names;
  names.reserve(entries.size());
  for (const auto& e : entries) {
    names.push_back(e.name);
  }
  auto* presence = ctx.shared.presence;
  ctx.shared.count_subscribers(
      ctx.loop, std::move(names),
      [entries = std::move(entries), more, presence,
       done = std::move(done)](std::vector<std::size_t> counts) {
        boost::json::array topics;
        for (std::size_t i = 0; i < entries.size(); ++i) {
          const auto& e = entries[i];
          boost::json::object o;
          o["topic"] = e.name;
          o["subscribers"] = i < counts.size() ? counts[i] : 0;
          o["presence"] = presence ? presence->count(e.name) : 0;
          o["last_id"] =
              e.head.seq == 0 ? boost::json::value(nullptr) : boost::json::value(to_string(e.head));
          topics.push_back(std::move(o));
        }
        boost::json::object body;
        body["topics"] = std::move(topics);
        body["next"] = more ? boost::json::value(entries.back().name) : boost::json::value(nullptr);
        auto r = response::json(200, boost::json::serialize(body));
        r.headers.emplace_back("Cache-Control", "no-store");
        done(std::move(r));
      });
}

}  // namespace sb::http::api
