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
              [this](sse::parsed_event&& e) { publish(std::move(e)); }) {}

errc stream_publisher::feed(std::string_view bytes) {
  if (error_ == errc::ok && !parser_.feed(bytes)) {
    error_ = errc::payload_too_large;
  }
  return error_;
}

void stream_publisher::publish(sse::parsed_event&& e) {
  if (error_ != errc::ok) {
    return;
  }
  publish_item item{topic_, std::move(e.event), std::move(e.data), retain_, from_};
  if (auto err = check_message(item, ctx_.shared.messages); err != errc::ok) {
    error_ = err;
    return;
  }
  if (!ctx_.shared.publish_limits->take(client_)) {
    error_ = errc::rate_limited;
    return;
  }
  std::vector<publish_item> items;
  items.push_back(std::move(item));
  ctx_.shared.hub->publish(std::move(items), [this](result<std::vector<position>> r) {
    if (!r) {
      error_ = static_cast<errc>(r.error().value());
      return;
    }
    ++published_;
    ctx_.counters.http_published.add();
    last_id_ = to_string(r->front());
  });
}

response stream_publisher::finish() {
  parser_.finish();
  if (error_ != errc::ok) {
    return response::error(error_);
  }
  boost::json::object o;
  o["topic"] = topic_;
  o["published"] = published_;
  o["last_id"] = last_id_.empty() ? boost::json::value(nullptr) : boost::json::value(last_id_);
  return response::json(200, boost::json::serialize(o));
}

}  // namespace sb::http::api
