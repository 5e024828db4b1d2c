#include "http/api/publish.hpp"

#include <boost/json.hpp>

#include "core/idempotency.hpp"
#include "core/position.hpp"
#include "core/publish.hpp"
#include "http/api/batch_data.hpp"

namespace sb::http::api {
namespace {

constexpr std::size_t max_batch_messages = 1000;

response bad(errc e, std::string_view detail) {
  return response::error(e, detail);
}

}  // namespace

errc check_message(const publish_item& item, const message_limits& l) {
  switch (check_publish(item, l.max_message_bytes)) {
    case publish_fault::none:
      return errc::ok;
    case publish_fault::invalid_topic:
      return errc::invalid_topic;
    case publish_fault::data_too_large:
      return errc::payload_too_large;
    case publish_fault::data_not_utf8:
    case publish_fault::bad_event:
      return errc::invalid_request;
  }
  return errc::invalid_request;
}

void publish_one(const request& req, loop_services& ctx, respond_fn done) {
  publish_item item{req.topic, req.query("event").value_or(""), std::string(req.body),
                    req.query_flag("retain"), req.who.grants.subject};
  if (auto e = check_message(item, ctx.shared.messages); e != errc::ok) {
    done(bad(e, e == errc::invalid_request ? "data must be UTF-8 and event a single line" : ""));
    return;
  }
  if (!req.who.grants.can_publish(item.topic)) {
    done(refusal(req.who, "this token may not publish to " + item.topic));
    return;
  }
  if (auto key = req.headers.find("Idempotency-Key"); key != req.headers.end()) {
    item.idempotency_key = std::string(key->value());
    if (!is_valid_idempotency_key(item.idempotency_key)) {
      done(bad(errc::invalid_request, "Idempotency-Key must be 1-200 printable ASCII characters"));
      return;
    }
  }
  if (!ctx.shared.publish_limits->take(req.client)) {
    done(bad(errc::rate_limited, "publish rate limit (http_publish_rate)"));
    return;
  }
  std::vector<publish_item> items;
  items.push_back(std::move(item));
  auto& counters = ctx.counters;
  auto start = steady_now_ns();
  ctx.shared.hub->publish(std::move(items), [topic = req.topic, done = std::move(done), &counters,
                                             start](result<std::vector<position>> r) {
    if (!r) {
      done(response::error(static_cast<errc>(r.error().value())));
      return;
    }
    counters.http_published.add();
    counters.publish_duration.observe_since(start, steady_now_ns());
    // Written by hand: a topic name and an id hold nothing JSON escapes (is_topic_char).
    std::string body;
    body.reserve(topic.size() + 64);
    body += R"({"topic":")";
    body += topic;
    body += R"(","id":")";
    append_position(body, r->front());
    body += R"("})";
    auto resp = response::json(201, std::move(body));
    resp.headers.emplace_back("Location", "/v1/topics/" + topic + "/history");
    done(std::move(resp));
  });
}

void publish_batch(const request& req, loop_services& ctx, respond_fn done) {
  // The document lives only for this call: parsed into one arena (a stack block first), freed at
  // once, instead of an allocation per string, object and array that malloc must then take back
  // one by one (a third of a batch's CPU went to malloc and free).
  unsigned char arena[16384];
  boost::json::monotonic_resource memory(arena, sizeof arena);
  boost::system::error_code ec;
  auto doc = boost::json::parse(req.body, ec, &memory);
  if (ec || !doc.is_object()) {
    done(bad(errc::invalid_request, "body must be a JSON object {\"messages\":[…]}"));
    return;
  }
  auto* list = doc.as_object().if_contains("messages");
  if (!list || !list->is_array() || list->as_array().empty()) {
    done(bad(errc::invalid_request, "\"messages\" must be a non-empty array"));
    return;
  }
  if (list->as_array().size() > max_batch_messages) {
    done(bad(errc::payload_too_large, "at most 1000 messages per batch"));
    return;
  }
  std::vector<publish_item> items;
  items.reserve(list->as_array().size());
  std::optional<std::vector<std::optional<std::string>>> data_texts;  // read once, when needed
  for (const auto& v : list->as_array()) {
    const auto* m = v.if_object();
    const auto* topic = m ? m->if_contains("topic") : nullptr;
    const auto* data = m ? m->if_contains("data") : nullptr;
    if (!topic || !topic->is_string() || !data) {
      done(bad(errc::invalid_request, "each message needs a string \"topic\" and a \"data\""));
      return;
    }
    publish_item item;
    item.topic = topic->as_string();
    // Data is text; a client that sends a JSON value instead gets that value's JSON text, with its
    // numbers as written (the DOM holds them as doubles: 1e400 would be infinity).
    if (data->is_string()) {
      item.data = data->as_string();
    } else {
      if (!data_texts) {
        data_texts = batch_data_texts(req.body);
      }
      auto i = items.size();
      item.data = i < data_texts->size() && (*data_texts)[i] ? *(*data_texts)[i]
                                                             : boost::json::serialize(*data);
    }
    if (const auto* e = m->if_contains("event"); e && !e->is_null()) {
      if (!e->is_string()) {
        done(bad(errc::invalid_request, "\"event\" must be a string"));
        return;
      }
      item.event = e->as_string();
    }
    if (const auto* r = m->if_contains("retain"); r && !r->is_null()) {
      if (!r->is_bool()) {
        done(bad(errc::invalid_request, "\"retain\" must be a boolean"));
        return;
      }
      item.retain = r->as_bool();
    }
    if (auto e = check_message(item, ctx.shared.messages); e != errc::ok) {
      done(bad(e, e == errc::invalid_topic ? "invalid topic: " + item.topic : ""));
      return;
    }
    if (!req.who.grants.can_publish(item.topic)) {
      done(refusal(req.who, "this token may not publish to " + item.topic));
      return;
    }
    item.from = req.who.grants.subject;
    items.push_back(std::move(item));
  }
  if (auto key = req.headers.find("Idempotency-Key"); key != req.headers.end()) {
    // Each message gets its own key, so a retried batch stores each of them once.
    auto base = std::string(key->value());
    if (base.size() > 190 || !is_valid_idempotency_key(base)) {
      done(bad(errc::invalid_request, "Idempotency-Key must be 1-190 printable ASCII characters"));
      return;
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      items[i].idempotency_key = base + ":" + std::to_string(i);
    }
  }
  if (!ctx.shared.publish_limits->take(req.client, static_cast<double>(items.size()))) {
    done(bad(errc::rate_limited, "publish rate limit (http_publish_rate)"));
    return;
  }
  auto count = items.size();
  auto& counters = ctx.counters;
  auto start = steady_now_ns();
  ctx.shared.hub->publish(std::move(items), [count, done = std::move(done), &counters,
                                             start](result<std::vector<position>> r) {
    if (!r) {
      done(response::error(static_cast<errc>(r.error().value())));
      return;
    }
    counters.http_published.add(count);
    counters.publish_duration.observe_since(start, steady_now_ns());
    // Written by hand: an id is digits and a dash.
    std::string body;
    body.reserve(16 + r->size() * 36);
    body += R"({"ids":[)";
    for (std::size_t i = 0; i < r->size(); ++i) {
      body += i ? R"(,")" : R"(")";
      append_position(body, (*r)[i]);
      body += '"';
    }
    body += "]}";
    done(response::json(200, std::move(body)));
  });
}

}  // namespace sb::http::api
