#include "adapters.hpp"

#include "http_response.hpp"

namespace bench {

std::optional<bench_target> make_target(std::string_view kind, std::string_view base) {
  std::string b(base);
  while (!b.empty() && b.back() == '/')
    b.pop_back();
  auto u = parse_url(b + "/", "");
  if (!u || u->scheme != "http")
    return std::nullopt;
  std::string ws = "ws://" + u->host_header;
  bench_target t;
  t.name = std::string(kind);
  if (kind == "switchboard") {
    t.sse_url = b + "/v1/events?topic={topic}";
    t.pub_url = b + "/v1/topics/{topic}";
    t.ws_url = ws + "/v1/ws";
    t.ws_protocol = "switchboard.v1";
    t.ws_style = ws_flavor::switchboard_v1;
  } else if (kind == "nchan") {
    // Paths of tools/bench/nchan/nginx.conf.in.
    t.sse_url = b + "/v1/events?topic={topic}";
    t.pub_url = b + "/v1/topics/{topic}";
    t.ws_url = ws + "/v1/pubsub?topic={topic}";
    t.ws_style = ws_flavor::raw;
  } else if (kind == "pushpin") {
    // Subscribers go through the proxy to an origin that answers with Grip-Hold: stream and
    // Grip-Channel: {topic} (tools/bench/pushpin/); publishes go to the control API.
    t.sse_url = b + "/v1/events?topic={topic}";
    t.pub_url = "http://" + u->host + ":5561/publish/";
    t.pub_body =
        R"({"items":[{"channel":"{topic}","formats":{"http-stream":{"content":"data: {data}\n\n"}}}]})";
    t.pub_content_type = "application/json";
  } else {
    return std::nullopt;
  }
  return t;
}

void body_template::append(std::string& out, std::string_view data) const {
  out += head;
  if (!json) {
    out += data;
  } else {
    for (char ch : data) {
      if (ch == '"' || ch == '\\')
        out.push_back('\\');
      out.push_back(ch);
    }
  }
  out += tail;
}

body_template split_body(const std::string& tmpl, std::string_view topic, bool json) {
  std::string s = replace_all(tmpl, "{topic}", topic);
  body_template b;
  b.json = json;
  size_t at = s.find("{data}");
  if (at == std::string::npos) {
    b.head = s;
  } else {
    b.head = s.substr(0, at);
    b.tail = s.substr(at + 6);
  }
  return b;
}

}  // namespace bench
