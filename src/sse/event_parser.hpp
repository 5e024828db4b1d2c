#pragma once
// An incremental text/event-stream parser (WHATWG rules), for the streaming publish endpoint:
// bytes arrive in arbitrary pieces; each complete event is handed out the moment its blank line
// arrives. Sans-I/O and bounded: an event larger than the limit is an error, not a buffer.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace sb::sse {

struct parsed_event {
  std::string event;  // empty when no `event:` field
  std::string data;
  std::string id;
};

class event_parser {
 public:
  using event_handler = std::function<void(parsed_event&&)>;

  event_parser(std::size_t max_event_bytes, event_handler on_event)
      : max_event_bytes_(max_event_bytes), on_event_(std::move(on_event)) {}

  /// Feeds bytes; calls the handler for each event they complete. False when an event exceeds
  /// the limit (the parser is then unusable).
  bool feed(std::string_view bytes);

  /// End of input: an unterminated last event is discarded, as the format says.
  void finish() {}

 private:
  void on_line(std::string_view line);
  void dispatch();

  std::size_t max_event_bytes_;
  event_handler on_event_;
  std::string line_;
  parsed_event pending_;
  bool data_seen_ = false;
  bool after_cr_ = false;
  bool started_ = false;
  bool first_line_ = true;
};

}  // namespace sb::sse
