#include "http/api/stream_publish.hpp"

#include <boost/json.hpp>

#include "http/api/publish.hpp"

namespace sb::http::api {

stream_publisher::stream_publisher(std::string topic, bool retain, std::string from,
                                   std::string client, loop_services& ctx)
    : topic_(std::move(topic)),
      retain_(retain),
      from_(std::move(from)),
      client_(std::move(client)),
      ctx_(ctx),
      parser_(ctx.shared.messages.max_message_bytes + 1024,
              [this](sse::parsed_event&& e) { publish(std::move(e)); }),
      progress_(std::make_shared<progress>()) {
  progress_->topic = topic_;
}

errc stream_publisher::feed(std::string_view bytes) {
  if (progress_->error == errc::ok && !parser_.feed(bytes)) {
    progress_->error = errc::payload_too_large;
  }
  return progress_->error;
}

void stream_publisher::publish(sse::parsed_event&& e) {
  auto& p = *progress_;
  if (p.error != errc::ok) {
    return;
  }
  publish_item item{topic_, std::move(e.event), std::move(e.data), retain_, from_};
  if (auto err = check_message(item, ctx_.shared.messages); err != errc::ok) {
    p.error = err;
    return;
  }
  if (!ctx_.shared.publish_limits->take(client_)) {
    p.error = errc::rate_limited;
    return;
  }
  std::vector<publish_item> items;
  items.push_back(std::move(item));
  ++p.in_flight;
  ctx_.shared.hub->publish(std::move(items), [state = progress_, counters = &ctx_.counters](
                                                 result<std::vector<position>> r) {
    --state->in_flight;
    if (!r) {
      if (state->error == errc::ok) {
        state->error = static_cast<errc>(r.error().value());
      }
    } else {
      ++state->published;
      counters->http_published.add();
      // Answers come in publish order (one connection, one topic), so the last is the newest.
      state->last_id = to_string(r->front());
    }
    state->settle();
  });
}

void stream_publisher::finish(std::function<void(response)> done) {
  parser_.finish();
  progress_->done = std::move(done);
  progress_->settle();
}

void stream_publisher::progress::settle() {
  if (in_flight != 0 || !done) {
    return;
  }
  auto answer = std::move(done);
  done = nullptr;
  if (error != errc::ok) {
    answer(response::error(error));
    return;
  }
  boost::json::object o;
  o["topic"] = topic;
  o["published"] = published;
  o["last_id"] = last_id.empty() ? boost::json::value(nullptr) : boost::json::value(last_id);
  answer(response::json(200, boost::json::serialize(o)));
}

}  // namespace sb::http::api
