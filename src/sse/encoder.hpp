#pragma once
// The text/event-stream wire format (WHATWG HTML, "Server-sent events"). Sans-I/O: values in,
// bytes out. A message is encoded once here; streams share the bytes.
#include <span>
#include <string>
#include <string_view>

#include "core/message.hpp"

namespace sb::sse {

/// Fills `m.sse` with "id: <epoch>-<seq>\n" followed by the body (`event:` line when the message
/// has a type, one `data:` line per line of data, a blank line), and `m.sse_body_at`. Volatile
/// messages get no id line; presence diffs get no SSE form at all.
void encode_message(message& m);

/// "id: <id>\n": the per-stream id line a multi-topic stream puts before a shared body.
std::string id_line(std::string_view id);

/// The first bytes of a stream: the reconnect delay, and an id-only event that sets the client's
/// last event id to where the stream starts, so a reconnect before any message resumes exactly
/// (an event with an id and no data updates the id without dispatching anything).
std::string preamble(unsigned retry_ms, std::string_view start_id);

/// `event: gap` naming the topics whose position could not be recovered.
std::string gap_event(std::span<const std::string> topics);

/// A comment that keeps proxies and the client's idea of the connection alive.
std::string_view heartbeat();

/// A bare `retry:` field, sent before a stream is closed on drain.
std::string retry_field(unsigned retry_ms);

}  // namespace sb::sse
