// Targets: how one server kind is spoken to. Each adapter is a set of URL templates ("{topic}" is
// replaced), a publish body template ("{data}" is replaced) and the WebSocket dialect, so the same
// workload runs against Switchboard, nginx + nchan or Pushpin. Every field can be overridden on
// the command line (--sse-url, --pub-url, --ws-url, --pub-body, ...), which covers other servers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bench {

enum class ws_flavor {
  switchboard_v1,  // JSON ops: {"op":"subscribe"} acked, {"op":"publish","ref"} acked,
                   // deliveries {"op":"message",...,"data":"..."}
  raw,             // subscribed by URL; a text frame sent is a publish, a text frame received is
                   // one message's data (nchan's websocket subscriber and pubsub locations)
};

struct bench_target {
  std::string name;
  std::string sse_url;  // GET, text/event-stream
  std::string pub_url;  // POST, body = pub_body
  std::string pub_body = "{data}";
  std::string pub_content_type = "text/plain";
  std::string ws_url;  // empty: no WebSocket support in this adapter
  std::string ws_protocol;
  ws_flavor ws_style = ws_flavor::raw;
};

// The adapter for a server kind ("switchboard", "nchan", "pushpin") at a base URL
// "http://HOST:PORT" (for pushpin, the proxy port; its publish endpoint is HOST:5561).
std::optional<bench_target> make_target(std::string_view kind, std::string_view base);

// Replaces "{data}" in a body template with data, escaping it for JSON when the template is JSON
// (content type application/json). Splits once: head + data + tail.
struct body_template {
  std::string head, tail;
  bool json = false;
  void append(std::string& out, std::string_view data) const;
  size_t size(size_t data_size) const { return head.size() + data_size + tail.size(); }
};
body_template split_body(const std::string& tmpl, std::string_view topic, bool json);

}  // namespace bench
