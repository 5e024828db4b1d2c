#include "core/history.hpp"

#include <algorithm>

namespace sb {

topic_history::~topic_history() {
  while (!messages_.empty()) {
    pop_front();
  }
}

void topic_history::append(message_ptr m, std::int64_t now_ms) {
  auto size = m->stored_bytes();
  bytes_ += size;
  if (ledger_) {
    ledger_->bytes.fetch_add(size, std::memory_order_relaxed);
    ledger_->messages.fetch_add(1, std::memory_order_relaxed);
  }
  if (order_) {
    order_->push_back(const_cast<message&>(*m));  // the hook is the broker's, under its lock
  }
  messages_.push_back(std::move(m));
  while (messages_.size() > limits_->max_messages ||
         (bytes_ > limits_->max_bytes && messages_.size() > 1)) {
    pop_front();
  }
  if (messages_.size() > limits_->max_messages) {
    pop_front();  // max_messages may be 0: keep nothing
  }
  trim(now_ms);
}

std::size_t topic_history::trim(std::int64_t now_ms) {
  std::size_t dropped = 0;
  while (!messages_.empty() && now_ms - messages_.front()->time_ms > limits_->max_age_ms) {
    pop_front();
    ++dropped;
  }
  return dropped;
}

void topic_history::pop_front() {
  if (messages_.empty()) {
    return;
  }
  const auto& m = messages_.front();
  auto size = m->stored_bytes();
  bytes_ -= size;
  if (ledger_) {
    ledger_->bytes.fetch_sub(size, std::memory_order_relaxed);
    ledger_->messages.fetch_sub(1, std::memory_order_relaxed);
  }
  m->order_hook.unlink();
  messages_.pop_front();
}

std::optional<std::uint64_t> topic_history::first_seq() const {
  if (messages_.empty()) {
    return std::nullopt;
  }
  return messages_.front()->pos.seq;
}

history_read topic_history::read_after(std::uint64_t since, std::uint64_t last_seq,
                                       std::size_t limit) const {
  history_read out;
  if (since > last_seq) {
    return out;
  }
  if (since == last_seq) {
    out.recoverable = true;
    return out;
  }
  // Seqs are contiguous in the deque, so the first one after `since` is found by offset.
  auto first = first_seq();
  if (!first || since + 1 < *first) {
    return out;
  }
  out.recoverable = true;
  auto begin = messages_.begin() + static_cast<std::ptrdiff_t>(since + 1 - *first);
  auto available = static_cast<std::size_t>(messages_.end() - begin);
  auto count = std::min(available, limit);
  out.messages.assign(begin, begin + static_cast<std::ptrdiff_t>(count));
  out.more = count < available;
  return out;
}

}  // namespace sb
