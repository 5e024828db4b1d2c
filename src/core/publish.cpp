#include "core/publish.hpp"

#include "core/counters.hpp"

#include "core/topic_name.hpp"
#include "core/utf8.hpp"

namespace sb {

publish_fault check_publish(const publish_item& item, std::size_t max_data_bytes) {
  if (!is_valid_topic(item.topic)) {
    return publish_fault::invalid_topic;
  }
  if (item.data.size() > max_data_bytes) {
    return publish_fault::data_too_large;
  }
  if (!is_valid_utf8(item.data)) {
    return publish_fault::data_not_utf8;
  }
  if (item.event.size() > max_event_bytes ||
      item.event.find_first_of("\r\n") != std::string::npos || !is_valid_utf8(item.event)) {
    return publish_fault::bad_event;
  }
  return publish_fault::none;
}

std::shared_ptr<message> make_message(message_kind kind, publish_item&& item,
                                      std::int64_t time_ms) {
  auto m = std::make_shared<message>();
  m->kind = kind;
  m->topic = std::move(item.topic);
  m->event = std::move(item.event);
  m->data = std::move(item.data);
  m->time_ms = time_ms;
  m->published_ns = steady_now_ns();  // the start of its delivery lag
  m->retain = item.retain;
  m->from = std::move(item.from);
  return m;
}

}  // namespace sb
