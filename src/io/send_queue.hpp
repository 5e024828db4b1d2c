#pragma once
// A connection's outgoing bytes: references to shared immutable buffers, never copies of them.
// A ring of segments (no erase from the front of a vector), bounded by its owner by bytes.
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sb::io {

/// Bytes kept alive by whatever owns them (a message shared by many queues, or a string).
struct shared_bytes {
  std::shared_ptr<const void> owner;
  std::string_view bytes;

  static shared_bytes from_string(std::string s) {
    auto p = std::make_shared<const std::string>(std::move(s));
    std::string_view v(*p);
    return {std::move(p), v};
  }
};

class send_queue {
 public:
  send_queue() = default;
  send_queue(const send_queue&) = delete;
  send_queue& operator=(const send_queue&) = delete;
  ~send_queue() { clear(); }

  void push(shared_bytes b);
  bool empty() const { return ring_ == nullptr; }
  std::size_t bytes() const { return ring_ ? ring_->bytes : 0; }
  std::size_t segments() const { return ring_ ? ring_->size - ring_->head : 0; }
  /// Segment slots allocated: none once everything queued has been written (an idle connection
  /// holds no storage).
  std::size_t capacity() const { return ring_ ? ring_->cap : 0; }

  /// Fills up to `max` iovecs with the front of the queue; returns how many.
  int gather(iovec* iov, int max) const;

  /// Drops `n` bytes from the front (what a write took).
  void consume(std::size_t n);

  /// Takes the first `n` bytes (at most bytes()) off the queue, calling `each(shared_bytes)` with
  /// references to the same owners: an HTTP/2 stream hands a DATA frame's payload on, no copy.
  template <class F>
  void take_front(std::size_t n, F&& each) {
    if (!ring_) {
      return;
    }
    n = n < ring_->bytes ? n : ring_->bytes;
    std::size_t left = n;
    for (auto i = ring_->head; left > 0 && i < ring_->size; ++i) {
      auto& segment = ring_->at(i);
      auto view = segment.bytes;
      if (i == ring_->head) {
        view.remove_prefix(ring_->offset);
      }
      auto piece = view.substr(0, left);
      each(shared_bytes{segment.owner, piece});
      left -= piece.size();
    }
    consume(n);
  }

  /// Drops every byte that has not started going out; a segment partly written stays, so the
  /// peer never sees a unit (a WebSocket frame, a TLS record) cut short.
  void drop_unstarted();

  void clear();

 private:
  /// The queued segments and their positions in one allocation, which exists only while
  /// something is queued: an idle connection's queue is one null pointer (8 bytes, not the 40 of
  /// a vector and its positions). Slots [head, size) hold live segments; those before `head` have
  /// been written and destroyed.
  struct ring {
    std::size_t bytes;
    // 32-bit positions: one queue per connection, and its bound is far below 4 GiB.
    std::uint32_t head;
    std::uint32_t size;
    std::uint32_t cap;
    std::uint32_t offset;  // bytes of at(head) already written
    shared_bytes& at(std::uint32_t i) { return reinterpret_cast<shared_bytes*>(this + 1)[i]; }
    const shared_bytes& at(std::uint32_t i) const {
      return reinterpret_cast<const shared_bytes*>(this + 1)[i];
    }
  };
  static_assert(sizeof(ring) % alignof(shared_bytes) == 0);

  /// Moves the live segments to the front of a ring of `cap` slots (a new one when `cap` differs).
  void relocate(std::uint32_t cap);
  void release();

  ring* ring_ = nullptr;
};

}  // namespace sb::io
