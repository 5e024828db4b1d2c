#pragma once
// A published message. It is built once on publish, encoded once per wire format, then shared
// immutably (message_ptr) by the history and every subscriber queue on every loop.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/position.hpp"

namespace sb {

/// Stored messages have a position and live in history; volatile messages (cursor moves) and
/// presence diffs are fanned out once and never stored.
enum class message_kind : std::uint8_t { stored, volatile_, presence };

struct message {
  message_kind kind = message_kind::stored;
  std::string topic;
  position pos;  // seq 0 for messages that are not stored
  std::string event;  // empty: the default type ("message")
  std::string data;
  std::int64_t time_ms = 0;  // publish time, Unix milliseconds
  bool retain = false;
  std::string from;  // the publisher's identity; empty when anonymous (HTTP without auth)

  // Wire forms, written once by the installed encoder before the message is shared.
  std::string sse;               // "id: <epoch>-<seq>\n" then the body
  std::uint32_t sse_body_at = 0; // where the body (event:/data: lines, blank line) starts in `sse`
  std::string ws;                // one complete WebSocket text frame (switchboard.v1 JSON)

  std::string id() const { return to_string(pos); }
  /// The whole SSE event, with the topic position as its id (single-topic streams).
  std::string_view sse_event() const { return sse; }
  /// The SSE event without its id line (multi-topic streams prepend their own cursor id).
  std::string_view sse_body() const { return std::string_view(sse).substr(sse_body_at); }
  /// What this message holds in memory, for history byte bounds.
  std::size_t footprint() const {
    return sizeof(message) + topic.size() + event.size() + data.size() + from.size() + sse.size() + ws.size();
  }
  bool stored() const { return kind == message_kind::stored; }
};

using message_ptr = std::shared_ptr<const message>;

/// Fills a message's wire forms; installed by the server so that core knows no protocol.
using message_encoder = std::function<void(message&)>;

}  // namespace sb
