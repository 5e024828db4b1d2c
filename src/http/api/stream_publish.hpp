#pragma once
// POST /v1/topics/{topic}/stream: the request body is itself text/event-stream, and each event is
// published the moment its blank line arrives (an LLM's token stream piped straight in).
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "http/response.hpp"
#include "http/services.hpp"
#include "sse/event_parser.hpp"

namespace sb::http::api {

class stream_publisher {
 public:
  stream_publisher(std::string topic, bool retain, std::string from, std::string client,
                   loop_services& ctx);

  /// Publishes every event these body bytes complete. An error (event too large, not UTF-8)
  /// ends the stream: the request is answered with it and nothing more is published.
  errc feed(std::string_view bytes);

  /// The answer once the body has ended and every publish it started was acknowledged (an
  /// asynchronous broker answers later): 200 {"topic","published","last_id"}. `done` runs once,
  /// maybe after this object is gone; it must check that its own receiver still lives.
  void finish(std::function<void(response)> done);

 private:
  /// What the broker's answers update; shared with them, so they may outlive the publisher.
  struct progress {
    std::string topic;
    std::size_t published = 0;
    std::size_t in_flight = 0;
    std::string last_id;
    errc error = errc::ok;
    std::function<void(response)> done;  // set by finish()
    void settle();
  };
  void publish(sse::parsed_event&& e);

  std::string topic_;
  bool retain_;
  std::string from_;
  std::string client_;
  loop_services& ctx_;
  sse::event_parser parser_;
  std::shared_ptr<progress> progress_;
};

}  // namespace sb::http::api
