// Sans-I/O client for SSE over HTTP/2 (cleartext h2c with prior knowledge): one nghttp2 client
// session carrying many concurrent GET text/event-stream streams. It takes the bytes read from the
// connection (feed) and hands back what to write (take_output); each stream's DATA goes through
// its own sse_stream_parser, and every stream's fate is reported to the event_sink it was built
// with.
//
// Windows: each stream is offered Config::stream_window (1 MiB, as SETTINGS_INITIAL_WINDOW_SIZE),
// the connection Config::connection_window (1 GiB); nghttp2 gives the credit back as DATA is
// consumed, so the generator's flow control never holds the server back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sse_parser.hpp"

struct nghttp2_session;

namespace bench {

class h2_sse_session {
 public:
  // What the session reports, during feed(); `slot` is the stream's index in the paths given to
  // start(). Each slot gets on_ready at most once and on_ended exactly once unless the session is
  // destroyed first.
  class event_sink {
   public:
    virtual ~event_sink() = default;
    // :status 200 with a text/event-stream Content-Type: the subscriber is ready.
    virtual void on_ready(uint32_t slot) = 0;
    // One dispatched event's data (valid during the call only).
    virtual void on_event(uint32_t slot, std::string_view data) = 0;
    // The stream is over: refused (why: the status or what was wrong), reset, or ended by the
    // server. was_ready says whether on_ready came first.
    virtual void on_ended(uint32_t slot, bool was_ready, const std::string& why) = 0;
  };

  struct config {
    uint32_t stream_window = 1u << 20;      // SETTINGS_INITIAL_WINDOW_SIZE
    int32_t connection_window = (1 << 30);  // the connection's receive window
  };

  h2_sse_session(event_sink& ev, config cfg);
  ~h2_sse_session();
  h2_sse_session(const h2_sse_session&) = delete;
  h2_sse_session& operator=(const h2_sse_session&) = delete;

  // Queues the connection preface, SETTINGS, the window update and one GET per path (authority is
  // the :authority). False (and error()) when nghttp2 refuses.
  bool start(std::string_view authority, const std::vector<std::string>& paths);
  // Feeds bytes read from the connection. False on a connection-level error (error() says why);
  // the session must not be fed again then.
  bool feed(const char* p, size_t n);
  // Appends everything nghttp2 wants to send (SETTINGS ACK, WINDOW_UPDATE, PING ACK, requests).
  bool take_output(std::string& out);
  // Whether the session has nothing more to read or write (GOAWAY exchanged, or a fatal error).
  bool finished() const;
  // Ends every stream still open (on_ended with `why`): the connection is gone.
  void close_all(const std::string& why);

  size_t streams() const { return streams_.size(); }
  size_t streams_open() const { return open_; }
  const std::string& error() const { return error_; }

 private:
  struct h2_stream {
    int32_t id = -1;
    int status = 0;
    std::string content_type;
    bool ready = false;
    bool ended = false;
    sse_stream_parser sse;
  };
  friend struct h2_sse_callbacks;
  h2_stream* stream_of(int32_t id);
  void end(uint32_t slot, const std::string& why);

  event_sink& ev_;
  config cfg_;
  nghttp2_session* s_ = nullptr;
  std::vector<h2_stream> streams_;
  size_t open_ = 0;
  std::string error_;
};

}  // namespace bench
