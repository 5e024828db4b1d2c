// The delivery core (core/subscriber_queue) driven by random operations, checked against a simple
// model of what a subscriber must receive. Three topics: two under the `resume` policy, where
// every message published after the subscriber's position must reach it exactly once and in seq
// order until it is closed (written at once, or handed out by next()), and one under `drop` or
// `latest`, where what reaches it must still be in order and never twice. Attaches are answered
// late (live messages arrive first, and the answer's head may be older than what was delivered),
// the socket's fill and the clock move at random, and the timer is judged in between.
//
// Input: a stream of operations, one byte each plus its arguments.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "core/subscriber_queue.hpp"

namespace {

using namespace sb;
using action = delivery_verdict::action;

struct null_subscriber final : subscriber {
  void on_message(subscription&, const message_ptr&) override {}
};

struct input {
  const std::uint8_t* p;
  std::size_t n;
  bool empty() const { return n == 0; }
  std::uint8_t byte() {
    if (n == 0) {
      return 0;
    }
    --n;
    return *p++;
  }
};

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

struct topic_model {
  queued_subscription sub;
  std::uint64_t epoch = 1;
  std::uint64_t published = 0;    // the last seq published in `epoch`
  position have;                  // what the subscriber was given or has queued (the model's `at`)
  std::deque<position> expected;  // resume policy: still to be handed out, in order
  position last_out;              // the last stored message handed out
  bool attached = false;
  std::uint64_t asked_at = 0;  // `published` when the attach was asked
  bool forgotten = false;
};

message_ptr make(position pos, std::size_t bytes, bool is_volatile) {
  auto m = std::make_shared<message>();
  m->kind = is_volatile ? message_kind::volatile_ : message_kind::stored;
  m->pos = is_volatile ? position{} : pos;
  m->data.assign(bytes, 'x');
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input in{data, size};
  null_subscriber owner;
  backlog_limits limits{20000, 8000, std::chrono::milliseconds(50)};
  subscriber_queue q(limits, 3000);
  topic_model topics[3];
  topics[2].sub.policy = (in.byte() & 1) ? overflow_policy::drop : overflow_policy::latest;
  auto now = subscriber_queue::clock::time_point{} + std::chrono::hours(1);
  bool held = false;
  for (auto& t : topics) {
    t.sub.set_owner(owner);
    q.enroll(t.sub);
    q.attached(t.sub, {t.epoch, 0}, {}, 0, now);
    t.attached = true;
    t.have = {t.epoch, 0};
  }
  auto handed_out = [&](topic_model& t, const message_ptr& m) {
    if (!m || !m->stored()) {
      return;  // a gap marker or a volatile message
    }
    if (m->pos.epoch == t.last_out.epoch) {
      check(m->pos.seq > t.last_out.seq);  // in order, never twice
    }
    t.last_out = m->pos;
    if (t.sub.policy == overflow_policy::resume) {
      check(!t.expected.empty() && t.expected.front() == m->pos);
      t.expected.pop_front();
    }
  };
  auto pop_all = [&](std::size_t queued) {
    while (auto e = q.next(queued)) {
      check(!held);
      auto* t = &topics[0];
      while (&t->sub != e->sub) {
        ++t;
      }
      check(!t->forgotten);
      handed_out(*t, e->m);
    }
  };
  while (!in.empty()) {
    auto op = in.byte();
    auto& t = topics[op % 3];
    auto arg = in.byte();
    std::size_t queued = (arg & 0x0f) * 1700;  // 0 .. 25500: under and over every bound
    now += std::chrono::milliseconds(in.byte() % 40);
    delivery_verdict v;
    switch ((op >> 2) % 9) {
      case 0:
      case 1:
      case 2: {  // a stored message published now
        if (t.forgotten) {
          break;
        }
        position pos{t.epoch, ++t.published};
        v = q.offer(t.sub, make(pos, 200 + arg * 8, false), queued, now);
        if (!t.attached) {
          check(v.act == action::skip || v.act == action::close);
          break;
        }
        check(v.gap == (pos.epoch != t.have.epoch));
        t.have = pos;
        if (t.sub.policy == overflow_policy::resume && v.act != action::close) {
          t.expected.push_back(pos);
        }
        if (v.act == action::write) {
          check(!held && queued < 3000);
          handed_out(t, make(pos, 0, false));
        }
        break;
      }
      case 3: {  // a message delivered again (the broker may repeat what the head covers)
        if (t.forgotten || !t.attached || t.published == 0) {
          break;
        }
        position pos{t.epoch, 1 + arg % t.published};
        v = q.offer(t.sub, make(pos, 100, false), queued, now);
        check(v.act == action::skip);
        break;
      }
      case 4:  // a volatile message
        if (!t.forgotten) {
          v = q.offer(t.sub, make({}, 100 + arg * 4, true), queued, now);
          check(v.act != action::close);
          if (v.act == action::write) {
            check(!held && queued < 3000);
          }
        }
        break;
      case 5:  // the socket drained to `queued`
        pop_all(queued);
        break;
      case 6:  // the timer
        v = q.judge(queued, now);
        break;
      case 7:  // ask to attach again, or answer the attach, with a head at or after the position
        if (t.forgotten) {
          break;
        }
        if (t.attached) {
          subscriber_queue::begin_attach(t.sub);
          t.attached = false;
          t.asked_at = t.published;
        } else {
          // The answer: head somewhere between the ask and now; the replay is what the
          // subscriber did not have up to it; what arrived after it follows from the side.
          // (Seqs start again in a new epoch: the subscriber has none of it yet.)
          std::uint64_t base = t.have.epoch == t.epoch ? t.have.seq : 0;
          std::uint64_t span = t.published - base;
          std::uint64_t head = base + (span == 0 ? 0 : arg % (span + 1));
          head = std::max(head, t.asked_at);
          std::vector<message_ptr> missed;
          for (auto s = base + 1; s <= head; ++s) {
            missed.push_back(make({t.epoch, s}, 150, false));
          }
          v = q.attached(t.sub, {t.epoch, head}, std::move(missed), queued, now);
          check(v.act == action::hold || v.act == action::close);
          t.attached = true;
          if (t.sub.policy == overflow_policy::resume && v.act != action::close) {
            for (auto s = base + 1; s <= t.published; ++s) {
              t.expected.push_back({t.epoch, s});
            }
          }
          t.have = {t.epoch, t.published};
        }
        break;
      case 8:
        if ((arg & 3) == 0) {
          q.forget(t.sub);  // unsubscribed
          t.forgotten = true;
          t.expected.clear();
        } else if ((arg & 3) == 1) {
          held = !held;
          q.hold(held);
        } else if (t.attached && !t.forgotten && (arg & 3) == 2) {
          ++t.epoch;  // the topic's history was lost: seqs start again
          t.published = 0;
        }
        break;
    }
    if (v.act == action::close) {
      check(v.reason == close_reason::slow_consumer);
      return 0;  // the owner closes the subscriber: nothing more is owed to it
    }
  }
  // A reader that catches up gets everything it is owed.
  held = false;
  q.hold(false);
  for (auto& t : topics) {
    if (!t.attached && !t.forgotten) {
      std::uint64_t base = t.have.epoch == t.epoch ? t.have.seq : 0;
      std::vector<message_ptr> missed;
      for (auto s = base + 1; s <= t.published; ++s) {
        missed.push_back(make({t.epoch, s}, 150, false));
      }
      if (q.attached(t.sub, {t.epoch, t.published}, std::move(missed), 0, now).act ==
          action::close) {
        return 0;
      }
      if (t.sub.policy == overflow_policy::resume) {
        for (auto s = base + 1; s <= t.published; ++s) {
          t.expected.push_back({t.epoch, s});
        }
      }
    }
  }
  pop_all(0);
  check(q.empty());
  for (auto& t : topics) {
    check(t.expected.empty());
  }
  return 0;
}
