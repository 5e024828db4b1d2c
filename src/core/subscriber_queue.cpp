#include "core/subscriber_queue.hpp"

#include <algorithm>

namespace sb {

void subscriber_queue::enroll(queued_subscription& s) {
  if (!s.enrolled) {
    s.enrolled = true;
    resume_topics_ += s.policy == overflow_policy::resume ? 1 : 0;
  }
}

void subscriber_queue::withdraw(queued_subscription& s) {
  if (s.enrolled) {
    s.enrolled = false;
    resume_topics_ -= s.policy == overflow_policy::resume ? 1 : 0;
  }
}

void subscriber_queue::forget(queued_subscription& s) {
  withdraw(s);
  feed_.forget(s);
  if (early_) {
    std::erase_if(early_->entries, [&](const early_entry& e) {
      if (e.sub == &s) {
        early_->bytes -= e.m->footprint();
        return true;
      }
      return false;
    });
    if (early_->entries.empty()) {
      early_.reset();
    }
  }
}

delivery_verdict subscriber_queue::park(queued_subscription& s, const message_ptr& m) {
  if (!early_) {
    early_ = std::make_unique<early_list>();
  }
  early_->entries.push_back({&s, m});
  early_->bytes += m->footprint();
  delivery_verdict v;
  // An attach the broker never answers must not hold memory without bound: past the hard bound
  // the subscriber is closed, and resumes from history like any slow consumer.
  if (early_->bytes > limits_->hard_bytes) {
    v.act = delivery_verdict::action::close;
    v.reason = close_reason::slow_consumer;
  }
  return v;
}

delivery_verdict subscriber_queue::queue_live(queued_subscription& s, const message_ptr& m,
                                              std::size_t queued, clock::time_point now,
                                              delivery_verdict v) {
  switch (feed_.push_live(s, m, s.policy, *limits_, queued, or_now(now))) {
    case feed::verdict::queued:
      v.act = delivery_verdict::action::hold;
      break;
    case feed::verdict::dropped:
      v.act = delivery_verdict::action::hold;
      v.dropped = true;
      break;
    case feed::verdict::close:
      v.act = delivery_verdict::action::close;
      v.reason = close_reason::slow_consumer;
      break;
  }
  return v;
}

delivery_verdict subscriber_queue::attached(queued_subscription& s, position head,
                                            std::vector<message_ptr> missed, std::size_t queued,
                                            clock::time_point now) {
  s.at = head;
  s.attached = true;
  for (auto& m : missed) {
    feed_.push_replay(s, std::move(m));
  }
  delivery_verdict out;
  out.act = delivery_verdict::action::hold;
  if (!early_) {
    return out;
  }
  // What the broker delivered before it answered, in the order it came: what the replay or the
  // head covers is skipped, the rest queues behind the replay.
  std::vector<early_entry> mine;
  std::erase_if(early_->entries, [&](early_entry& e) {
    if (e.sub != &s) {
      return false;
    }
    early_->bytes -= e.m->footprint();
    mine.push_back(std::move(e));
    return true;
  });
  if (early_->entries.empty()) {
    early_.reset();
  }
  for (auto& e : mine) {
    const auto& m = e.m;
    if (m->pos.epoch == s.at.epoch && m->pos.seq <= s.at.seq) {
      continue;
    }
    if (m->pos.epoch != s.at.epoch) {
      feed_.push_replay(s, nullptr);  // a gap marker, in its place in the order
    }
    s.at = m->pos;
    auto v = queue_live(s, m, queued, now, {});
    out.dropped = out.dropped || v.dropped;
    if (v.act == delivery_verdict::action::close) {
      out.act = v.act;
      out.reason = v.reason;
      return out;
    }
  }
  return out;
}

std::optional<feed::entry> subscriber_queue::next(std::size_t queued) {
  if (holding_ || queued >= high_water_) {
    return std::nullopt;
  }
  return feed_.pop();
}

delivery_verdict subscriber_queue::judge(std::size_t queued, clock::time_point now) {
  delivery_verdict v;
  // A subscriber stuck over the soft bound is judged here too, not only when a message arrives: a
  // reader that stopped on a quiet topic would otherwise hold its backlog until the next publish.
  // Only `resume` topics close; the judgement still keeps the soft bound's clock for the others.
  if (feed_.overdue(*limits_, queued, or_now(now)) && resume_topics_ > 0) {
    v.act = delivery_verdict::action::close;
    v.reason = close_reason::slow_consumer;
  }
  return v;
}

void subscriber_queue::clear() {
  feed_.clear();
  early_.reset();
}

}  // namespace sb
