#include "io/send_queue.hpp"

#include <new>
#include <utility>

namespace sb::io {
namespace {

// A burst of fan-out deliveries stacks 8 to 14 messages per subscriber (io/loop.hpp): two
// doublings from here, where a vector growing from one took four.
constexpr std::uint32_t first_capacity = 4;

}  // namespace

void send_queue::push(shared_bytes b) {
  if (b.bytes.empty()) {
    return;
  }
  if (!ring_) {
    relocate(first_capacity);
  } else if (ring_->size == ring_->cap) {
    auto live = ring_->size - ring_->head;
    // Written slots at the front are reused before the ring grows.
    relocate(live * 2 <= ring_->cap ? ring_->cap : ring_->cap * 2);
  }
  ring_->bytes += b.bytes.size();
  new (&ring_->at(ring_->size)) shared_bytes(std::move(b));
  ++ring_->size;
}

void send_queue::relocate(std::uint32_t cap) {
  auto* next = ring_;
  if (!ring_ || cap != ring_->cap) {
    void* memory = ::operator new (sizeof(ring) + std::size_t{cap} * sizeof(shared_bytes));
    next = new (memory) ring{0, 0, 0, cap, 0};
  }
  if (ring_) {
    next->bytes = ring_->bytes;
    next->offset = ring_->offset;
    std::uint32_t to = 0;
    for (auto i = ring_->head; i < ring_->size; ++i, ++to) {
      auto& from = ring_->at(i);
      new (&next->at(to)) shared_bytes(std::move(from));
      from.~shared_bytes();
    }
    next->head = 0;
    next->size = to;
    if (next != ring_) {
      ring_->~ring();
      ::operator delete(ring_);
    }
  }
  ring_ = next;
}

int send_queue::gather(iovec* iov, int max) const {
  if (!ring_) {
    return 0;
  }
  int n = 0;
  for (auto i = ring_->head; i < ring_->size && n < max; ++i, ++n) {
    auto view = ring_->at(i).bytes;
    if (i == ring_->head) {
      view.remove_prefix(ring_->offset);
    }
    iov[n].iov_base = const_cast<char*>(view.data());
    iov[n].iov_len = view.size();
  }
  return n;
}

void send_queue::consume(std::size_t n) {
  if (!ring_) {
    return;
  }
  ring_->bytes -= n;
  while (n > 0) {
    auto& front = ring_->at(ring_->head);
    auto left = front.bytes.size() - ring_->offset;
    if (n < left) {
      ring_->offset += static_cast<std::uint32_t>(n);
      return;
    }
    n -= left;
    ring_->offset = 0;
    front.~shared_bytes();
    ++ring_->head;
  }
  if (ring_->head == ring_->size) {
    release();  // an idle connection keeps no ring: most connections are idle most of the time
  }
}

void send_queue::drop_unstarted() {
  if (!ring_) {
    return;
  }
  std::uint32_t keep = ring_->head + (ring_->offset > 0 ? 1U : 0U);
  for (auto i = keep; i < ring_->size; ++i) {
    auto& segment = ring_->at(i);
    ring_->bytes -= segment.bytes.size();
    segment.~shared_bytes();
  }
  ring_->size = keep;
  if (ring_->head == ring_->size) {
    release();
  }
}

void send_queue::clear() {
  release();
}

void send_queue::release() {
  if (!ring_) {
    return;
  }
  for (auto i = ring_->head; i < ring_->size; ++i) {
    ring_->at(i).~shared_bytes();
  }
  ring_->~ring();
  ::operator delete(ring_);
  ring_ = nullptr;
}

}  // namespace sb::io
