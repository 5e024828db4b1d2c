#pragma once
// What a publisher sends, the rules it must meet and the message built from it: written once for
// every way in (HTTP publish, batch and stream publish, WebSocket publish, presence diffs), so a
// limit cannot differ between transports.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/message.hpp"

namespace sb {

struct publish_item {
  std::string topic;
  std::string event;
  std::string data;
  bool retain = false;
  std::string from;  // the publisher's identity, delivered with the message
  /// Idempotency-Key (HTTP) or `idem` (WebSocket): a publish with a key already seen for this
  /// topic within the broker's window answers the first one's position and stores nothing.
  std::string idempotency_key;
};

/// An event type travels on one SSE `event:` line: at most this many bytes, no line break.
inline constexpr std::size_t max_event_bytes = 256;

/// The first rule a publish breaks, in the order they are checked.
enum class publish_fault : std::uint8_t {
  none,
  invalid_topic,   // not a topic name (core/topic_name.hpp)
  data_too_large,  // data over the configured max_message_bytes
  data_not_utf8,   // data is text
  bad_event,       // event type over max_event_bytes, with a line break, or not UTF-8
};

publish_fault check_publish(const publish_item& item, std::size_t max_data_bytes);

/// The one place a message is built from a publish (its wire forms are the caller's encoder's,
/// its position the broker's).
std::shared_ptr<message> make_message(message_kind kind, publish_item&& item, std::int64_t time_ms);

}  // namespace sb
