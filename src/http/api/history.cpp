#include "http/api/history.hpp"

#include <boost/json.hpp>
#include <charconv>

namespace sb::http::api {
namespace {

constexpr std::size_t default_page = 100;
constexpr std::size_t max_page = 1000;

}  // namespace

void read_history(const request& req, loop_services& ctx, respond_fn done) {
  if (auto refused = refuse_topic_read(req)) {
    done(std::move(*refused));
    return;
  }
  std::optional<position> since;
  if (auto text = req.query("since"); text && !text->empty()) {
    since = parse_position(*text);
    if (!since) {
      done(response::error(errc::invalid_position, "since must be an id \"<epoch>-<seq>\""));
      return;
    }
  }
  std::size_t limit = default_page;
  if (auto text = req.query("limit")) {
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc{} || ptr != text->data() + text->size() || limit == 0) {
      done(response::error(errc::invalid_request, "limit must be a positive integer"));
      return;
    }
    limit = std::min(limit, max_page);
  }
  ctx.shared.hub->read_history(
      req.topic, since, limit, [done = std::move(done)](history_page page) {
        if (page.error != errc::ok) {
          done(response::error(page.error, "history is unavailable (the backplane is down)"));
          return;
        }
        boost::json::array messages;
        std::string scratch;
        for (const auto& m : page.messages) {
          boost::json::object o;
          o["id"] = m->id();
          o["event"] =
              m->event.empty() ? boost::json::value(nullptr) : boost::json::value(m->event);
          o["data"] = m->data_view(scratch);
          o["time"] = m->time_ms;
          messages.push_back(std::move(o));
        }
        boost::json::object body;
        body["next"] = page.more ? boost::json::value(page.messages.back()->id())
                                 : boost::json::value(nullptr);
        body["gap"] = page.gap;
        body["messages"] = std::move(messages);
        auto r = response::json(200, boost::json::serialize(body));
        r.headers.emplace_back("Cache-Control", "no-store");
        done(std::move(r));
      });
}

}  // namespace sb::http::api
