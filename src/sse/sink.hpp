#pragma once
// Where an SSE stream's bytes go: an HTTP/1.1 connection (after its response head) or one HTTP/2
// stream. The stream logic (preamble, gaps, replay pacing, slow-consumer policy) is written once
// against this.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "io/send_queue.hpp"

namespace sb::sse {

class sink {
 public:
  /// Queues bytes (references to shared buffers) for this stream only.
  virtual void send(io::shared_bytes b) = 0;
  void send(std::string s) { send(io::shared_bytes::from_string(std::move(s))); }
  /// Bytes this stream has queued and not yet written (what the slow-consumer bound applies to).
  virtual std::size_t queued_bytes() const = 0;
  /// Ends the stream now, dropping what is queued (slow consumer). May be called from inside a
  /// fan-out walk, so the sink defers the actual teardown.
  virtual void abort() = 0;
  /// Ends the stream once what is queued has been written (drain).
  virtual void end() = 0;
  /// The next heartbeat is due in `delay` (an h2 session heartbeats all its streams at once).
  virtual void arm_heartbeat(std::chrono::milliseconds delay) = 0;
  /// For the access log: "sse" or "sse/h2", and the client's address:port.
  virtual std::string_view transport_name() const = 0;
  virtual std::string peer_text() const = 0;

 protected:
  ~sink() = default;
};

}  // namespace sb::sse
