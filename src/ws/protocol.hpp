#pragma once
// The switchboard.v1 protocol: JSON text frames (docs/api.md "WebSocket: switchboard.v1").
// Sans-I/O: text in, operations out; values in, frames out.
#include <boost/json/value.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "core/message.hpp"
#include "core/presence.hpp"

namespace sb::ws {

enum class op_kind {
  subscribe,
  unsubscribe,
  publish,
  presence_join,
  presence_update,
  presence_leave,
  ping
};

struct client_op {
  op_kind kind = op_kind::ping;
  boost::json::value ref;  // null when absent
  std::string topic;
  std::optional<std::string> since;
  std::string data;
  std::string event;
  bool is_volatile = false;
  std::string idem;  // publish: the Idempotency-Key (`idem`), empty when absent
  boost::json::value state;
};

/// Why a frame is not an operation; answered with an `error` frame, the connection stays up.
struct op_error {
  boost::json::value ref;
  std::string code;  // bad_json, unknown_op, bad_field
  std::string message;
};

std::variant<client_op, op_error> parse_client_op(std::string_view text);

/// Sets `m`'s WebSocket frame, held until its live fan-out ends:
/// {"op":"message","topic","id","event","data","from"} as one text frame (`id` null for volatile
/// messages, `event` and `from` null when absent). Presence diffs are left alone: the presence
/// ticker frames them.
void encode_message(message& m);

/// `m`'s WebSocket frame: the one it holds or that a queue still holds, else framed again (a
/// replay of a message whose live fan-out is over; history does not keep frames).
bytes_ptr frame_of(const message& m);

std::string ack_frame(const boost::json::value& ref,
                      std::optional<std::string_view> id = std::nullopt);
std::string error_frame(const boost::json::value& ref, std::string_view code,
                        std::string_view message);
std::string gap_frame(std::span<const std::string> topics);
/// {"op":"presence","topic","count","members":[{"id","state"}]}: the snapshot a join gets.
std::string presence_snapshot_frame(std::string_view topic, const presence_page& page);
/// {"op":"presence","topic","joins":[{"id","state"}],"leaves":[ids]}.
std::string presence_diff_frame(const presence_diff& diff);
/// {"op":"pong","ref"} answering a ping op.
std::string pong_frame(const boost::json::value& ref);

}  // namespace sb::ws
