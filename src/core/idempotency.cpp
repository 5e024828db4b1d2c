#include "core/idempotency.hpp"

namespace sb {

bool is_valid_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > 200) {
    return false;
  }
  for (unsigned char c : key) {
    if (c <= 0x20 || c >= 0x7f) {
      return false;
    }
  }
  return true;
}

std::string idempotency_window::slot(std::string_view topic, std::string_view key) {
  std::string s;
  s.reserve(topic.size() + 1 + key.size());
  s.append(topic).push_back('\n');  // no topic holds a newline
  s.append(key);
  return s;
}

void idempotency_window::expire(std::int64_t now_ms) {
  while (!order_.empty() && now_ms - order_.front().first >= window_ms_) {
    entries_.erase(order_.front().second);
    order_.pop_front();
  }
}

std::optional<position> idempotency_window::find(std::string_view topic, std::string_view key,
                                                 std::int64_t now_ms) {
  expire(now_ms);
  auto it = entries_.find(slot(topic, key));
  if (it == entries_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void idempotency_window::record(std::string_view topic, std::string_view key, position p,
                                std::int64_t now_ms) {
  expire(now_ms);
  auto s = slot(topic, key);
  if (entries_.emplace(s, p).second) {
    order_.emplace_back(now_ms, std::move(s));
  }
}

}  // namespace sb
