#include "core/message.hpp"

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

void message::release_ws() const {
  bytes_ptr dropped;
  {
    spin_guard lock(ws_lock_);
    dropped.swap(ws_hold_);
  }
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
