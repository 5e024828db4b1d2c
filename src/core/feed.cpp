#include "core/feed.hpp"

namespace sb {

std::optional<overflow_policy> parse_overflow_policy(std::string_view text) {
  if (text == "resume")
    return overflow_policy::resume;
  if (text == "latest")
    return overflow_policy::latest;
  if (text == "drop")
    return overflow_policy::drop;
  return std::nullopt;
}

void feed::append(subscription& s, message_ptr m, bool live) {
  if (!q_) {
    q_ = std::make_unique<queue>();
  }
  if (live) {
    q_->live_bytes += cost(m);
    q_->newest_live[&s] = q_->entries.size();
  }
  q_->entries.push_back({{&s, std::move(m)}, live});
}

void feed::push_replay(subscription& s, message_ptr m) {
  append(s, std::move(m), false);
  // A live message of `s` queued before this one must not take a later message's place by
  // conflation (latest-wins, a gap marker): that would put it ahead of this one.
  q_->newest_live.erase(&s);
}

bool feed::judge(std::size_t bytes, const backlog_limits& limits, clock::time_point now) {
  if (bytes <= limits.soft_bytes) {
    q_->over_soft_since.reset();  // a break: the soft bound's time starts again next time over
    return bytes > limits.hard_bytes;
  }
  if (!q_->over_soft_since) {
    q_->over_soft_since = now;
  }
  return bytes > limits.hard_bytes || now - *q_->over_soft_since >= limits.soft_for;
}

bool feed::overdue(const backlog_limits& limits, std::size_t held, clock::time_point now) {
  if (!q_) {
    return false;  // nothing waits in the feed: the socket queue alone stays under every bound
  }
  return judge(held + q_->live_bytes, limits, now);
}

feed::verdict feed::push_live(subscription& s, message_ptr m, overflow_policy policy,
                              const backlog_limits& limits, std::size_t held,
                              clock::time_point now) {
  if (!q_) {
    q_ = std::make_unique<queue>();
  }
  auto newest = q_->newest_live.find(&s);
  slot* pending = newest == q_->newest_live.end() ? nullptr : &q_->entries[newest->second];
  bool is_volatile = m->kind == message_kind::volatile_;
  // Conflate into a pending live entry of the same topic when latest-wins applies: always for
  // volatile-over-volatile, and for the `latest` policy once the subscriber is over its room.
  bool over = judge(held + q_->live_bytes + cost(m), limits, now);
  if (pending && pending->e.m && pending->e.m->kind == m->kind &&
      (is_volatile || (over && policy == overflow_policy::latest))) {
    q_->live_bytes += cost(m) - cost(pending->e.m);
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
  while (!empty() && q_->entries[q_->head].e.sub == nullptr) {
    ++q_->head;  // forgotten
  }
  if (empty()) {
    clear();
    return std::nullopt;
  }
  auto index = q_->head++;
  auto& slot = q_->entries[index];
  if (slot.live) {
    q_->live_bytes -= cost(slot.e.m);
    if (auto it = q_->newest_live.find(slot.e.sub);
        it != q_->newest_live.end() && it->second == index) {
      q_->newest_live.erase(it);
    }
  }
  auto out = std::move(slot.e);
  if (empty()) {
    clear();
  }
  return out;
}

void feed::forget(const subscription& s) {
  if (!q_) {
    return;
  }
  for (auto i = q_->head; i < q_->entries.size(); ++i) {
    auto& slot = q_->entries[i];
    if (slot.e.sub == &s) {
      if (slot.live) {
        q_->live_bytes -= cost(slot.e.m);
      }
      slot.e.sub = nullptr;  // skipped by pop()
      slot.e.m.reset();
      slot.live = false;
    }
  }
  q_->newest_live.erase(&s);
}

void feed::clear() {
  q_.reset();
}

}  // namespace sb
