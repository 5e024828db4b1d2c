#include "io/send_queue.hpp"

namespace sb::io {

void send_queue::push(shared_bytes b) {
  if (b.bytes.empty()) {
    return;
  }
  bytes_ += b.bytes.size();
  segments_.push_back(std::move(b));
}

int send_queue::gather(iovec* iov, int max) const {
  int n = 0;
  for (auto i = head_; i < segments_.size() && n < max; ++i, ++n) {
    auto view = segments_[i].bytes;
    if (i == head_) {
      view.remove_prefix(offset_);
    }
    iov[n].iov_base = const_cast<char*>(view.data());
    iov[n].iov_len = view.size();
  }
  return n;
}

void send_queue::consume(std::size_t n) {
  bytes_ -= n;
  while (n > 0) {
    auto left = segments_[head_].bytes.size() - offset_;
    if (n < left) {
      offset_ += static_cast<std::uint32_t>(n);
      return;
    }
    n -= left;
    offset_ = 0;
    segments_[head_++].owner.reset();
  }
  if (head_ == segments_.size()) {
    // An idle connection keeps no ring: most connections are idle most of the time. (Not
    // `segments_ = {}`: that is the initializer-list assignment, which keeps the capacity.)
    std::vector<shared_bytes>().swap(segments_);
    head_ = 0;
  } else if (head_ >= 64 && head_ * 2 >= segments_.size()) {
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void send_queue::drop_unstarted() {
  std::size_t keep = head_ + (offset_ > 0 ? 1U : 0U);
  for (auto i = keep; i < segments_.size(); ++i) {
    bytes_ -= segments_[i].bytes.size();
  }
  segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(keep), segments_.end());
  if (head_ == segments_.size()) {
    clear();
  }
}

void send_queue::clear() {
  segments_.clear();
  segments_.shrink_to_fit();
  head_ = offset_ = 0;
  bytes_ = 0;
}

}  // namespace sb::io
