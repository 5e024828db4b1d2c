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
  void push(shared_bytes b);
  bool empty() const { return head_ == segments_.size(); }
  std::size_t bytes() const { return bytes_; }
  std::size_t segments() const { return segments_.size() - head_; }
  /// Segment slots allocated: none once everything queued has been written (an idle connection
  /// holds no storage).
  std::size_t capacity() const { return segments_.capacity(); }

  /// Fills up to `max` iovecs with the front of the queue; returns how many.
  int gather(iovec* iov, int max) const;

  /// Drops `n` bytes from the front (what a write took).
  void consume(std::size_t n);

  /// Takes the first `n` bytes (at most bytes()) off the queue, calling `each(shared_bytes)` with
  /// references to the same owners: an HTTP/2 stream hands a DATA frame's payload on, no copy.
  template <class F>
  void take_front(std::size_t n, F&& each) {
    n = n < bytes_ ? n : bytes_;
    std::size_t left = n;
    for (auto i = head_; left > 0 && i < segments_.size(); ++i) {
      auto view = segments_[i].bytes;
      if (i == head_) {
        view.remove_prefix(offset_);
      }
      auto piece = view.substr(0, left);
      each(shared_bytes{segments_[i].owner, piece});
      left -= piece.size();
    }
    consume(n);
  }

  /// Drops every byte that has not started going out; a segment partly written stays, so the
  /// peer never sees a unit (a WebSocket frame, a TLS record) cut short.
  void drop_unstarted();

  void clear();

 private:
  // 32-bit positions: one queue per connection, and its bound is far below 4 GiB.
  std::vector<shared_bytes> segments_;
  std::size_t bytes_ = 0;
  std::uint32_t head_ = 0;
  std::uint32_t offset_ = 0;  // bytes of segments_[head_] already written
};

}  // namespace sb::io
