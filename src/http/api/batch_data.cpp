#include "http/api/batch_data.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/serialize.hpp>
#include <cstddef>

namespace sb::http::api {
namespace {

namespace json = boost::json;

/// Handler for Boost.JSON's SAX parser (the tokenizer stays Boost's): it follows the path to
/// messages[i].data and, while inside such a value, writes the tokens back out as text, taking
/// each number's characters from the source instead of from its converted value.
class data_text_handler {
 public:
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  std::vector<std::optional<std::string>> texts;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return open(false, '['); }
  bool on_array_end(std::size_t, json::error_code&) { return close(']'); }
  bool on_object_begin(json::error_code&) { return open(true, '{'); }
  bool on_object_end(std::size_t, json::error_code&) { return close('}'); }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    pending_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    pending_.append(s.data(), s.size());
    begin_value();
    if (capturing()) {
      out() += json::serialize(json::string_view(pending_));
    }
    pending_.clear();
    end_value();
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    pending_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    pending_.append(s.data(), s.size());
    auto& f = stack_.back();
    if (capturing() && stack_.size() > capture_depth_) {
      if (f.elements++ > 0) {
        out() += ',';
      }
      out() += json::serialize(json::string_view(pending_));
      out() += ':';
    }
    if (stack_.size() <= path_depth) {
      f.key = pending_;
    }
    pending_.clear();
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    pending_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t, json::string_view s, json::error_code&) { return number(s); }
  bool on_uint64(std::uint64_t, json::string_view s, json::error_code&) { return number(s); }
  bool on_double(double, json::string_view s, json::error_code&) { return number(s); }
  bool on_bool(bool b, json::error_code&) { return literal(b ? "true" : "false"); }
  bool on_null(json::error_code&) { return literal("null"); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  struct frame {
    bool object = false;
    std::size_t elements = 0;  // values so far (arrays), keys so far (objects)
    std::string key;           // the current key, kept only along the path to `data`
  };
  /// messages[i].data sits inside three containers: the body, the list, the message.
  static constexpr std::size_t path_depth = 3;

  bool capturing() const { return capture_.has_value(); }
  std::string& out() { return *texts[*capture_]; }

  /// A value starts: separate it from its sibling, and start capturing at messages[i].data.
  void begin_value() {
    if (!stack_.empty() && !stack_.back().object) {
      if (stack_.back().elements++ > 0 && capturing() && stack_.size() > capture_depth_) {
        out() += ',';
      }
    }
    if (stack_.size() == 1 && stack_[0].object && stack_[0].key == "messages") {
      texts.clear();  // a repeated "messages" key: the DOM keeps the last one, so do we
    }
    if (!capturing() && stack_.size() == path_depth && stack_[0].object &&
        stack_[0].key == "messages" && !stack_[1].object && stack_[2].object &&
        stack_[2].key == "data") {
      auto index = stack_[1].elements - 1;
      if (texts.size() <= index) {
        texts.resize(index + 1);
      }
      texts[index].emplace();
      capture_ = index;
      capture_depth_ = stack_.size();
    }
  }
  void end_value() {
    if (capturing() && stack_.size() == capture_depth_) {
      capture_.reset();
    }
  }
  bool open(bool object, char bracket) {
    begin_value();
    if (capturing()) {
      out() += bracket;
    }
    stack_.push_back(frame{object, 0, {}});
    return true;
  }
  bool close(char bracket) {
    stack_.pop_back();
    if (capturing()) {
      out() += bracket;
    }
    end_value();
    return true;
  }
  bool number(json::string_view rest) {
    pending_.append(rest.data(), rest.size());
    begin_value();
    if (capturing()) {
      out() += pending_;
    }
    pending_.clear();
    end_value();
    return true;
  }
  bool literal(std::string_view text) {
    begin_value();
    if (capturing()) {
      out() += text;
    }
    end_value();
    return true;
  }

  std::vector<frame> stack_;
  std::string pending_;                 // the parts of a string, key or number seen so far
  std::optional<std::size_t> capture_;  // the message whose data is being written
  std::size_t capture_depth_ = 0;       // stack size where that data value sits
};

}  // namespace

std::vector<std::optional<std::string>> batch_data_texts(std::string_view body) {
  json::basic_parser<data_text_handler> p(json::parse_options{});
  json::error_code ec;
  auto used = p.write_some(false, body.data(), body.size(), ec);
  if (ec || used != body.size()) {
    return {};
  }
  return std::move(p.handler().texts);
}

}  // namespace sb::http::api
