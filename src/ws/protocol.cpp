#include "ws/protocol.hpp"

#include "core/idempotency.hpp"

#include <boost/json.hpp>

#include "ws/frame.hpp"

namespace sb::ws {
namespace {

namespace json = boost::json;

std::string text_frame(const json::value& v) {
  return make_frame(opcode::text, json::serialize(v));
}

json::array members_json(const std::vector<presence_member>& members) {
  json::array out;
  for (const auto& m : members) {
    out.push_back(json::object{{"id", m.id}, {"state", m.state}});
  }
  return out;
}

}  // namespace

std::variant<client_op, op_error> parse_client_op(std::string_view text) {
  json::error_code ec;
  auto doc = json::parse(text, ec);
  if (ec || !doc.is_object()) {
    return op_error{nullptr, "bad_json", "each frame must be a JSON object"};
  }
  const auto& o = doc.as_object();
  client_op op;
  if (const auto* ref = o.if_contains("ref")) {
    op.ref = *ref;
  }
  auto fail = [&](std::string code, std::string message) -> std::variant<client_op, op_error> {
    return op_error{op.ref, std::move(code), std::move(message)};
  };
  const auto* name = o.if_contains("op");
  if (!name || !name->is_string()) {
    return fail("bad_field", "\"op\" must be a string");
  }
  std::string_view kind = name->as_string();
  if (kind == "subscribe")
    op.kind = op_kind::subscribe;
  else if (kind == "unsubscribe")
    op.kind = op_kind::unsubscribe;
  else if (kind == "publish")
    op.kind = op_kind::publish;
  else if (kind == "presence.join")
    op.kind = op_kind::presence_join;
  else if (kind == "presence.update")
    op.kind = op_kind::presence_update;
  else if (kind == "presence.leave")
    op.kind = op_kind::presence_leave;
  else if (kind == "ping")
    return op;
  else
    return fail("unknown_op", "unknown op \"" + std::string(kind) + "\"");

  const auto* topic = o.if_contains("topic");
  if (!topic || !topic->is_string()) {
    return fail("bad_field", "\"topic\" must be a string");
  }
  op.topic = topic->as_string();
  if (const auto* since = o.if_contains("since"); since && !since->is_null()) {
    if (!since->is_string())
      return fail("bad_field", "\"since\" must be an id string");
    op.since = std::string(since->as_string());
  }
  if (op.kind == op_kind::publish) {
    const auto* data = o.if_contains("data");
    if (!data)
      return fail("bad_field", "publish needs \"data\"");
    op.data = data->is_string() ? std::string(data->as_string()) : json::serialize(*data);
    if (const auto* e = o.if_contains("event"); e && !e->is_null()) {
      if (!e->is_string())
        return fail("bad_field", "\"event\" must be a string");
      op.event = e->as_string();
    }
    if (const auto* v = o.if_contains("volatile"); v && !v->is_null()) {
      if (!v->is_bool())
        return fail("bad_field", "\"volatile\" must be a boolean");
      op.is_volatile = v->as_bool();
    }
    if (const auto* k = o.if_contains("idem"); k && !k->is_null()) {
      if (!k->is_string() || !is_valid_idempotency_key(k->as_string()))
        return fail("bad_field", "\"idem\" must be 1-200 printable ASCII characters");
      op.idem = k->as_string();
    }
  }
  if (const auto* state = o.if_contains("state")) {
    op.state = *state;
  } else if (op.kind == op_kind::presence_update) {
    return fail("bad_field", "presence.update needs \"state\"");
  }
  return op;
}

namespace {

/// `s` as a JSON string, quoted and escaped exactly as json::serialize writes it, appended to
/// `out` without building a value.
void append_json_string(std::string& out, std::string_view s) {
  json::serializer writer;
  writer.reset(json::string_view(s.data(), s.size()));
  char chunk[512];
  while (!writer.done()) {
    auto part = writer.read(chunk, sizeof chunk);
    out.append(part.data(), part.size());
  }
}

/// The size of what append_json_string writes for `s`: the quotes, and each byte as Boost.JSON's
/// serializer escapes it (protocol_test checks every byte against it).
std::size_t json_string_size(std::string_view s) {
  std::size_t n = 2;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      n += 2;
    } else if (c < 0x20) {
      n += (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') ? 2 : 6;
    } else {
      n += 1;
    }
  }
  return n;
}

std::size_t decimal_digits(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

/// The same bytes as serializing {"op","topic","id","event","data","from"} as a json::object,
/// written straight into one buffer: every publish is framed once, and building the object
/// (a hashed table, a copy of each string) was a sixth of a small publish's CPU.
std::string message_frame(const message& m) {
  thread_local std::string text;
  text.clear();
  text += R"({"op":"message","topic":)";
  append_json_string(text, m.topic);
  text += R"(,"id":)";
  if (m.stored()) {
    text += '"';
    append_position(text, m.pos);  // digits and one '-': nothing to escape
    text += '"';
  } else {
    text += "null";
  }
  text += R"(,"event":)";
  if (m.event.empty()) {
    text += "null";
  } else {
    append_json_string(text, m.event);
  }
  text += R"(,"data":)";
  std::string scratch;
  append_json_string(text, m.data_view(scratch));
  text += R"(,"from":)";
  if (m.from.empty()) {
    text += "null";
  } else {
    append_json_string(text, m.from);
  }
  text += '}';
  return make_frame(opcode::text, text);
}

/// message_frame(m).size() without making it.
std::size_t message_frame_size(const message& m) {
  using namespace std::string_view_literals;
  auto or_null = [](const std::string& s) { return s.empty() ? 4 : json_string_size(s); };
  std::string scratch;
  std::size_t payload =
      R"({"op":"message","topic":)"sv.size() + json_string_size(m.topic) + R"(,"id":)"sv.size() +
      (m.stored() ? 2 + decimal_digits(m.pos.epoch) + 1 + decimal_digits(m.pos.seq) : 4) +
      R"(,"event":)"sv.size() + or_null(m.event) + R"(,"data":)"sv.size() +
      json_string_size(m.data_view(scratch)) + R"(,"from":)"sv.size() + or_null(m.from) + 1;
  std::size_t header = payload < 126 ? 2 : payload <= 0xFFFF ? 4 : 10;
  return header + payload;
}

}  // namespace

void encode_message(message& m) {
  if (m.kind == message_kind::presence) {
    return;
  }
  // Framed by the first WebSocket subscriber that needs it (frame_of): most publishes reach
  // SSE streams only, or nobody, and framing was a tenth of a small publish's CPU. The size is
  // known now, for the queue bounds.
  m.ws_bytes = static_cast<std::uint32_t>(message_frame_size(m));
  m.hold_ws_once_framed();
}

bytes_ptr frame_of(const message& m) {
  if (auto f = m.ws_frame()) {
    return f;
  }
  // Not framed yet (its live fan-out holds the frame once made), or released after it and no
  // queue holds it (remembered while a replay holds it): framed once for every loop either way.
  return m.share_ws_frame(std::make_shared<const std::string>(message_frame(m)));
}

std::string ack_frame(const json::value& ref, std::optional<std::string_view> id) {
  json::object o{{"op", "ack"}, {"ref", ref}};
  if (id) {
    o["id"] = *id;
  }
  return text_frame(o);
}

std::string error_frame(const json::value& ref, std::string_view code, std::string_view message) {
  return text_frame(
      json::object{{"op", "error"}, {"ref", ref}, {"code", code}, {"message", message}});
}

std::string gap_frame(std::span<const std::string> topics) {
  json::array names;
  for (const auto& t : topics)
    names.emplace_back(t);
  return text_frame(json::object{{"op", "gap"}, {"topics", std::move(names)}});
}

std::string presence_snapshot_frame(std::string_view topic, const presence_page& page) {
  return text_frame(json::object{{"op", "presence"},
                                 {"topic", topic},
                                 {"count", page.count},
                                 {"members", members_json(page.members)}});
}

std::string presence_diff_frame(const presence_diff& diff) {
  json::array leaves;
  for (const auto& id : diff.leaves)
    leaves.emplace_back(id);
  return text_frame(json::object{{"op", "presence"},
                                 {"topic", diff.topic},
                                 {"joins", members_json(diff.joins)},
                                 {"leaves", std::move(leaves)}});
}

std::string pong_frame(const json::value& ref) {
  return text_frame(json::object{{"op", "pong"}, {"ref", ref}});
}

}  // namespace sb::ws
