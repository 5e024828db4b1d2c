// Incremental text/event-stream parser following the WHATWG HTML "Interpreting an event stream"
// rules: lines end with CRLF, LF or CR (also when split across reads); a line starting with ':'
// is a comment; "field: value" with one optional space after the colon; data lines are joined
// with '\n'; a blank line dispatches the event unless its data buffer is empty; "id" persists
// as the last event id (ignored when it contains NUL); "retry" must be all ASCII digits; a
// leading UTF-8 BOM is skipped.
//
// Hand-written because the generator must not depend on the server's own sources, and no
// packaged C++ library parses a byte stream into SSE events incrementally.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bench {

struct sse_event {
  std::string_view type;  // "message" when no event field was given
  std::string_view data;
  std::string_view id;  // the last event id in force when the event was dispatched
};

class sse_stream_parser {
 public:
  // Feeds the next bytes of the stream; calls on_event(const sse_event&) for every dispatched
  // event. The views are valid only during the call.
  template <class F>
  void feed(std::string_view in, F&& on_event) {
    size_t i = 0;
    if (skip_lf_ && !in.empty()) {
      if (in[0] == '\n')
        i = 1;
      skip_lf_ = false;
    }
    while (i < in.size()) {
      size_t j = i;
      while (j < in.size() && in[j] != '\n' && in[j] != '\r')
        ++j;
      if (j == in.size()) {  // partial line: keep it for the next feed
        line_.append(in.data() + i, j - i);
        break;
      }
      std::string_view line(in.data() + i, j - i);
      if (!line_.empty()) {
        line_.append(line);
        line = line_;
      }
      process_line(line, on_event);
      line_.clear();
      if (in[j] == '\r') {
        if (j + 1 < in.size()) {
          if (in[j + 1] == '\n')
            ++j;
        } else {
          skip_lf_ = true;
        }
      }
      i = j + 1;
    }
  }

  // Counters useful to a load generator.
  uint64_t events() const { return events_; }
  uint64_t comments() const { return comments_; }
  int64_t retry_ms() const { return retry_ms_; }  // -1 until a valid retry field is seen
  const std::string& last_event_id() const { return last_id_; }

  // The stream ended (EOF): per the spec an incomplete event is discarded.
  void reset() {
    line_.clear();
    data_.clear();
    type_.clear();
    skip_lf_ = false;
    bom_checked_ = false;
  }

 private:
  template <class F>
  void process_line(std::string_view line, F& on_event) {
    if (!bom_checked_) {
      bom_checked_ = true;
      if (line.starts_with("\xEF\xBB\xBF"))
        line.remove_prefix(3);
    }
    if (line.empty()) {
      if (data_.empty()) {
        type_.clear();
        return;
      }
      data_.pop_back();  // the '\n' appended after the last data line
      ++events_;
      sse_event ev{type_.empty() ? std::string_view("message") : std::string_view(type_), data_,
                   last_id_};
      on_event(ev);
      data_.clear();
      type_.clear();
      return;
    }
    if (line[0] == ':') {
      ++comments_;
      return;
    }
    std::string_view field = line, value;
    if (size_t c = line.find(':'); c != std::string_view::npos) {
      field = line.substr(0, c);
      value = line.substr(c + 1);
      if (!value.empty() && value[0] == ' ')
        value.remove_prefix(1);
    }
    if (field == "data") {
      data_.append(value);
      data_.push_back('\n');
    } else if (field == "event") {
      type_.assign(value);
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos)
        last_id_.assign(value);
    } else if (field == "retry") {
      if (value.empty())
        return;
      int64_t v = 0;
      for (char ch : value) {
        if (ch < '0' || ch > '9')
          return;
        v = v * 10 + (ch - '0');
        if (v > (int64_t{1} << 40))
          return;
      }
      retry_ms_ = v;
    }
  }

  std::string line_;
  std::string data_;
  std::string type_;
  std::string last_id_;
  uint64_t events_ = 0;
  uint64_t comments_ = 0;
  int64_t retry_ms_ = -1;
  bool skip_lf_ = false;
  bool bom_checked_ = false;
};

}  // namespace bench
