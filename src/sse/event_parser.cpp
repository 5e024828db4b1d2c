#include "sse/event_parser.hpp"

namespace sb::sse {

bool event_parser::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (!started_) {
      started_ = true;
      if (static_cast<unsigned char>(c) == 0xEF) {
        line_.push_back(c);  // possibly a UTF-8 BOM; stripped when its line ends
        continue;
      }
    }
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') {
        continue;  // the LF of a CRLF
      }
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      on_line(line_);
      line_.clear();
      continue;
    }
    line_.push_back(c);
    if (line_.size() + pending_.data.size() + pending_.event.size() > max_event_bytes_) {
      return false;
    }
  }
  return pending_.data.size() + pending_.event.size() <= max_event_bytes_;
}

void event_parser::on_line(std::string_view line) {
  if (first_line_) {
    first_line_ = false;
    if (line.starts_with("\xEF\xBB\xBF")) {
      line.remove_prefix(3);  // a BOM is only ever stripped at the start of the stream
    }
  }
  if (line.empty()) {
    dispatch();
    return;
  }
  if (line.front() == ':') {
    return;  // comment
  }
  auto colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
  }
  if (field == "data") {
    pending_.data.append(value).push_back('\n');
    data_seen_ = true;
  } else if (field == "event") {
    pending_.event.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      pending_.id.assign(value);
    }
  }
}

void event_parser::dispatch() {
  if (!data_seen_) {
    pending_.event.clear();
    return;
  }
  pending_.data.pop_back();  // the LF after the last data line
  on_event_(std::move(pending_));
  pending_ = {};
  data_seen_ = false;
}

}  // namespace sb::sse
