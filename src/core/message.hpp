#pragma once
// A published message. It is built once on publish, encoded once per wire format, then shared
// immutably (message_ptr) by the history and every subscriber queue on every loop.
//
// Memory: a stored message may sit in history for an hour, so history keeps one copy of its
// bytes. The SSE encoding is kept (SSE first; a replay over SSE costs nothing), the data is read
// from inside it (it is there verbatim, or line by line), and the WebSocket frame is held only
// while the message is fanned out live: after that, queues that reference it keep it alive, and a
// WebSocket replay that finds it gone frames it again (ws::frame_of) and shares that frame.
#include <atomic>
#include <boost/intrusive/list_hook.hpp>
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

using bytes_ptr = std::shared_ptr<const std::string>;

struct message {
  message() = default;
  message(const message&) = delete;
  message& operator=(const message&) = delete;

  message_kind kind = message_kind::stored;
  std::string topic;
  position pos;       // seq 0 for messages that are not stored
  std::string event;  // empty: the default type ("message")
  /// The data as published. The SSE encoder empties it when `sse` holds it: read it through
  /// data_view().
  std::string data;
  std::int64_t time_ms = 0;  // publish time, Unix milliseconds
  /// Publish time on the steady clock (nanoseconds), for the delivery-lag histogram; 0 for a
  /// message that was not published by this process (restored from history_dir).
  std::int64_t published_ns = 0;
  bool retain = false;
  /// Set by a backplane before the message is shared: it lost the messages just before this one
  /// (history trimmed past what it had delivered while it could not hear them), so a subscriber
  /// whose position is not the one right before is told of a gap rather than skip silently.
  mutable bool after_hole = false;
  std::string from;  // the publisher's identity; empty when anonymous (HTTP without auth)

  // Wire forms, written once by the installed encoder before the message is shared.
  std::string sse;                // "id: <epoch>-<seq>\n" then the body
  std::uint32_t sse_body_at = 0;  // where the body (event:/data: lines, blank line) starts in `sse`
  /// Where the data is: in `data`, or moved into `sse` by its encoder: verbatim (one line), or
  /// as lines separated by LF, each behind "data: " (data with a CR stays in `data`).
  enum class data_place : std::uint8_t { own, sse_whole, sse_lines };
  data_place data_in = data_place::own;
  std::uint32_t data_at = 0;    // in `sse`: where the data (its first line) starts
  std::uint32_t data_size = 0;  // the data's size as published
  std::uint32_t ws_bytes = 0;   // size of the WebSocket frame (held or not), for queue bounds

  /// Links the message into its broker shard's age order while it is in history. Guarded by that
  /// shard's lock, not by constness: the broker alone touches it.
  mutable boost::intrusive::list_member_hook<
      boost::intrusive::link_mode<boost::intrusive::auto_unlink>>
      order_hook;

  std::string id() const { return to_string(pos); }
  /// The data as published. Multi-line data kept in `sse` is put back together in `scratch` (the
  /// view then points there); otherwise no copy is made.
  std::string_view data_view(std::string& scratch) const;
  /// The data as published, copied.
  std::string data_copy() const {
    std::string scratch;
    auto v = data_view(scratch);
    return v.data() == scratch.data() ? std::move(scratch) : std::string(v);
  }
  /// The whole SSE event, with the topic position as its id (single-topic streams).
  std::string_view sse_event() const { return sse; }
  /// The SSE event without its id line (multi-topic streams prepend their own cursor id).
  std::string_view sse_body() const { return std::string_view(sse).substr(sse_body_at); }

  /// What history keeps of this message in memory, allocator overhead included (one allocation
  /// for the message and its control block, one per string on the heap). Stable once shared.
  std::size_t stored_bytes() const {
    return sizeof(message) + alloc_overhead + heap_bytes(topic) + heap_bytes(event) +
           heap_bytes(data) + heap_bytes(from) + heap_bytes(sse);
  }
  /// What a subscriber queue holding this message pins: the stored bytes and the WebSocket frame.
  std::size_t footprint() const { return stored_bytes() + ws_bytes; }
  bool stored() const { return kind == message_kind::stored; }

  /// The WebSocket frame, or null when it was released and no queue holds it any more.
  bytes_ptr ws_frame() const;
  /// Sets the frame. `hold`: keep it until release_ws() (publish); otherwise only remember it
  /// while someone else holds it (a replay's rebuilt frame, shared by concurrent replays).
  void set_ws_frame(bytes_ptr frame, bool hold) const;
  /// The frame is made on first need (ws::frame_of) rather than at publish, and held from then
  /// until release_ws() as if set with `hold`: a message nobody receives over WebSocket is never
  /// framed. Called before the message is shared.
  void hold_ws_once_framed() const { ws_hold_once_framed_ = true; }
  /// Installs `frame` unless another loop framed the message first; returns the one in place.
  /// Held (see hold_ws_once_framed) or only remembered like set_ws_frame's.
  bytes_ptr share_ws_frame(bytes_ptr frame) const;
  /// Stops holding the frame (and its compressed form).
  void release_ws() const;
  /// The frame's compressed form (the WebSocket layer's permessage-deflate), or null: made on
  /// first need by whichever loop needs it first, then shared by every loop.
  bytes_ptr ws_deflated() const;
  /// Installs `frame` as the compressed form unless another loop did first; returns the one in
  /// place. Held like the frame: until release_ws() while the frame is held (live fan-out), else
  /// only remembered while a queue holds it.
  bytes_ptr share_ws_deflated(bytes_ptr frame) const;
  /// The broker sets how many loops it handed a live message to; each loop calls
  /// live_handoff_done() once its subscribers have queued it, and the last releases the frame.
  void set_live_handoffs(std::uint32_t n) const {
    live_handoffs_.store(n, std::memory_order_relaxed);
  }
  void live_handoff_done() const;

 private:
  static constexpr std::size_t alloc_overhead = 32;  // make_shared control block and malloc header
  /// A string's heap block beyond the small-string buffer, with its NUL and a malloc header.
  static std::size_t heap_bytes(const std::string& s) {
    return s.capacity() > 15 ? s.capacity() + 1 + 16 : 0;
  }

  struct deflated_slot {
    bytes_ptr hold;
    std::weak_ptr<const std::string> cache;
  };

  // A spin lock: held for a pointer copy, contended only by replays. The two atomics share a
  // word, so the compressed form's slot costs a message nothing in size.
  mutable std::atomic_flag ws_lock_;
  mutable bool ws_hold_once_framed_ = false;  // guarded by ws_lock_ once shared; fills padding
  mutable std::atomic<std::uint32_t> live_handoffs_{0};
  mutable bytes_ptr ws_hold_;
  mutable std::weak_ptr<const std::string> ws_cache_;
  /// Only for messages that reached a connection which negotiated compression.
  mutable std::unique_ptr<deflated_slot> ws_deflated_;
};

using message_ptr = std::shared_ptr<const message>;

/// Fills a message's wire forms; installed by the server so that core knows no protocol.
using message_encoder = std::function<void(message&)>;

}  // namespace sb
