#include "core/message.hpp"

#include <algorithm>

namespace sb {
namespace {

/// Scoped spin on a message's flag: the critical sections are a shared_ptr copy or two.
class spin_guard {
 public:
  explicit spin_guard(std::atomic_flag& f) : f_(f) {
    while (f_.test_and_set(std::memory_order_acquire)) {
      f_.wait(true, std::memory_order_relaxed);
    }
  }
  ~spin_guard() {
    f_.clear(std::memory_order_release);
    f_.notify_one();
  }
  spin_guard(const spin_guard&) = delete;
  spin_guard& operator=(const spin_guard&) = delete;

 private:
  std::atomic_flag& f_;
};

}  // namespace

std::string_view message::data_view(std::string& scratch) const {
  switch (data_in) {
    case data_place::own:
      return data;
    case data_place::sse_whole:
      return std::string_view(sse).substr(data_at, data_size);
    case data_place::sse_lines:
      break;
  }
  scratch.clear();
  scratch.reserve(data_size);
  std::string_view rest = std::string_view(sse).substr(data_at);
  constexpr std::size_t prefix = 6;  // "data: " before every line after the first
  for (;;) {
    auto end = rest.find('\n');
    scratch.append(rest.substr(0, end));
    if (scratch.size() >= data_size || end == std::string_view::npos) {
      break;
    }
    scratch.push_back('\n');
    rest.remove_prefix(std::min(rest.size(), end + 1 + prefix));
  }
  return scratch;
}

bytes_ptr message::ws_frame() const {
  spin_guard lock(ws_lock_);
  return ws_hold_ ? ws_hold_ : ws_cache_.lock();
}

void message::set_ws_frame(bytes_ptr frame, bool hold) const {
  spin_guard lock(ws_lock_);
  ws_cache_ = frame;
  if (hold) {
    ws_hold_ = std::move(frame);
  }
}

bytes_ptr message::share_ws_frame(bytes_ptr frame) const {
  spin_guard lock(ws_lock_);
  if (auto in_place = ws_hold_ ? ws_hold_ : ws_cache_.lock()) {
    return in_place;  // another loop framed it first
  }
  ws_cache_ = frame;
  if (ws_hold_once_framed_) {
    ws_hold_ = frame;
  }
  return frame;
}

void message::release_ws() const {
  bytes_ptr dropped;
  std::unique_ptr<deflated_slot> dropped_deflated;
  {
    spin_guard lock(ws_lock_);
    ws_hold_once_framed_ = false;
    dropped.swap(ws_hold_);
    // A queue that holds the compressed form keeps it; history keeps no slot for it.
    dropped_deflated.swap(ws_deflated_);
  }
}

bytes_ptr message::ws_deflated() const {
  spin_guard lock(ws_lock_);
  if (!ws_deflated_) {
    return nullptr;
  }
  return ws_deflated_->hold ? ws_deflated_->hold : ws_deflated_->cache.lock();
}

bytes_ptr message::share_ws_deflated(bytes_ptr frame) const {
  auto fresh = std::make_unique<deflated_slot>();  // not allocated under the spin lock
  spin_guard lock(ws_lock_);
  if (!ws_deflated_) {
    ws_deflated_ = std::move(fresh);
  } else if (auto in_place = ws_deflated_->hold ? ws_deflated_->hold : ws_deflated_->cache.lock()) {
    return in_place;  // another loop compressed it first
  }
  ws_deflated_->cache = frame;
  if (ws_hold_) {
    ws_deflated_->hold = frame;
  }
  return frame;
}

void message::live_handoff_done() const {
  auto n = live_handoffs_.load(std::memory_order_relaxed);
  // Messages from a broker that does not count hand-offs stay at 0 and keep their frame.
  while (n > 0 && !live_handoffs_.compare_exchange_weak(n, n - 1, std::memory_order_acq_rel)) {
  }
  if (n == 1) {
    release_ws();
  }
}

}  // namespace sb
