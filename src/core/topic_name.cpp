#include "core/topic_name.hpp"

namespace sb {
bool is_valid_topic(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_topic_bytes) {
    return false;
  }
  char previous = '/';  // so a leading '/' counts as an empty first segment
  for (char c : name) {
    if (!is_topic_char(c) || (c == '/' && previous == '/')) {
      return false;
    }
    previous = c;
  }
  if (previous == '/') {
    return false;
  }
  auto last = name.substr(name.rfind('/') + 1);
  return last != "stream" && last != "history" && last != "presence";
}

}  // namespace sb
