#include "core/feed.hpp"

namespace sb {

std::optional<overflow_policy> parse_overflow_policy(std::string_view text) {
  if (text == "resume") return overflow_policy::resume;
  if (text == "latest") return overflow_policy::latest;
  if (text == "drop") return overflow_policy::drop;
  return std::nullopt;
}

void feed::append(subscription& s, message_ptr m, bool live) {
  if (live) {
    live_bytes_ += cost(m);
    newest_live_[&s] = entries_.size();
  }
  entries_.push_back({{&s, std::move(m)}, live});
}

void feed::push_replay(subscription& s, message_ptr m) { append(s, std::move(m), false); }

feed::verdict feed::push_live(subscription& s, message_ptr m, overflow_policy policy, std::size_t room) {
  auto newest = newest_live_.find(&s);
  slot* pending = newest == newest_live_.end() ? nullptr : &entries_[newest->second];
  bool is_volatile = m->kind == message_kind::volatile_;
  // Conflate into a pending live entry of the same topic when latest-wins applies: always for
  // volatile-over-volatile, and for the `latest` policy once the subscriber is over its room.
  bool over = live_bytes_ + cost(m) > room;
  if (pending && pending->e.m && pending->e.m->kind == m->kind && (is_volatile || (over && policy == overflow_policy::latest))) {
    live_bytes_ += cost(m) - cost(pending->e.m);
    pending->e.m = std::move(m);
    return verdict::queued;
  }
  if (!over) {
    append(s, std::move(m), true);
    return verdict::queued;
  }
  if (is_volatile) {
    return verdict::dropped;  // volatile goes first, and never closes anyone
  }
  switch (policy) {
    case overflow_policy::resume:
      return verdict::close;
    case overflow_policy::latest:
      append(s, std::move(m), true);  // the first pending message of this topic
      return verdict::queued;
    case overflow_policy::drop:
      if (!pending || pending->e.m) {
        append(s, nullptr, true);  // one gap marker stands for every message dropped after it
      }
      return verdict::dropped;
  }
  return verdict::close;
}

std::optional<feed::entry> feed::pop() {
  while (!empty() && entries_[head_].e.sub == nullptr) {
    ++head_;  // forgotten
  }
  if (empty()) {
    clear();
    return std::nullopt;
  }
  auto index = head_++;
  auto& slot = entries_[index];
  if (slot.live) {
    live_bytes_ -= cost(slot.e.m);
    if (auto it = newest_live_.find(slot.e.sub); it != newest_live_.end() && it->second == index) {
      newest_live_.erase(it);
    }
  }
  auto out = std::move(slot.e);
  if (empty()) {
    clear();
  }
  return out;
}

void feed::forget(const subscription& s) {
  for (auto i = head_; i < entries_.size(); ++i) {
    if (entries_[i].e.sub == &s) {
      if (entries_[i].live) {
        live_bytes_ -= cost(entries_[i].e.m);
      }
      entries_[i].e.sub = nullptr;  // skipped by the owner
      entries_[i].e.m.reset();
      entries_[i].live = false;
    }
  }
  newest_live_.erase(&s);
}

void feed::clear() {
  entries_ = {};
  head_ = 0;
  live_bytes_ = 0;
  newest_live_ = {};
}

}  // namespace sb
