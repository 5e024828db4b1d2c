#include "sse/encoder.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace sb::sse {
namespace {

/// Appends one `data:` line per line of `data`; CR, LF and CRLF all end a line in the format.
void append_data_lines(std::string& out, std::string_view data) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\n' || data[i] == '\r') {
      out.append("data: ").append(data.substr(start, i - start)).push_back('\n');
      if (data[i] == '\r' && i + 1 < data.size() && data[i + 1] == '\n') {
        ++i;
      }
      start = i + 1;
    }
  }
  out.append("data: ").append(data.substr(start)).push_back('\n');
}

}  // namespace

void encode_message(message& m) {
  if (m.data_in != message::data_place::own) {
    // Encoded before: take the data back out of the old bytes (unless new data was set since).
    if (m.data.empty()) {
      m.data = m.data_copy();
    }
    m.data_in = message::data_place::own;
  }
  auto& out = m.sse;
  out.clear();
  m.sse_body_at = 0;
  if (m.kind == message_kind::presence) {
    return;  // presence is a WebSocket feature
  }
  std::string_view data = m.data;
  std::size_t breaks = 0;
  bool has_cr = false;
  for (char c : data) {
    breaks += (c == '\n' || c == '\r') ? 1 : 0;
    has_cr = has_cr || c == '\r';
  }
  // Sized exactly (a CRLF counts twice, so at most a few bytes over): history keeps these bytes
  // for as long as the message lives, and growth by doubling would keep up to twice as many.
  char id_buffer[max_position_text];
  std::string_view id_text(id_buffer, m.stored() ? format_position(id_buffer, m.pos) : 0);
  out.reserve((m.stored() ? 5 + id_text.size() : 0) + (m.event.empty() ? 0 : 8 + m.event.size()) +
              data.size() + 7 * (breaks + 1) + 1);
  if (m.stored()) {
    // Volatile messages carry no id: they are not in history, so they are no resume position.
    out.append("id: ").append(id_text).push_back('\n');
    m.sse_body_at = static_cast<std::uint32_t>(out.size());
  }
  if (!m.event.empty()) {
    out.append("event: ").append(m.event).push_back('\n');
  }
  auto data_at = out.size() + 6;
  append_data_lines(out, data);
  out.push_back('\n');
  if (!has_cr && out.size() <= UINT32_MAX) {
    // The SSE bytes hold the data, verbatim or line by line: keep only that copy. (A CR is lost
    // in them: the format ends a line at CR, LF or CRLF alike, so such data keeps its own copy.)
    m.data_at = static_cast<std::uint32_t>(data_at);
    m.data_size = static_cast<std::uint32_t>(data.size());
    m.data_in = breaks == 0 ? message::data_place::sse_whole : message::data_place::sse_lines;
    std::string().swap(m.data);
  } else if (m.data.capacity() > m.data.size() + 64) {
    m.data.shrink_to_fit();
  }
}

std::string id_line(std::string_view id) {
  std::string out;
  out.reserve(id.size() + 5);
  out.append("id: ").append(id).push_back('\n');
  return out;
}

std::string preamble(unsigned retry_ms, std::string_view start_id) {
  std::string out = "retry: " + std::to_string(retry_ms) + "\n";
  out.append("id: ").append(start_id).append("\n\n");
  return out;
}

std::string gap_event(std::span<const std::string> topics) {
  boost::json::array names;
  for (const auto& t : topics) {
    names.emplace_back(t);
  }
  boost::json::object data;
  data["topics"] = std::move(names);
  std::string out = "event: gap\ndata: ";
  out += boost::json::serialize(data);
  out += "\n\n";
  return out;
}

std::string_view heartbeat() {
  return ":\n\n";
}

std::string retry_field(unsigned retry_ms) {
  return "retry: " + std::to_string(retry_ms) + "\n\n";
}

}  // namespace sb::sse
