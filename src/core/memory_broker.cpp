#include "core/memory_broker.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <climits>
#include <stdexcept>

#include "core/counters.hpp"
#include "core/cursor.hpp"
#include "core/topic_name.hpp"

namespace sb {
namespace {

std::uint64_t random_epoch() {
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  // Kept below 2^53 so an epoch survives any JSON number parser, and never 0.
  return (v & ((std::uint64_t{1} << 53) - 1)) | 1;
}

}  // namespace

memory_broker::memory_broker(history_limits limits, message_encoder encode,
                             std::vector<delivery_sink*> sinks, clock_fn now_ms,
                             history_store* store)
    : limits_(limits),
      encode_(std::move(encode)),
      sinks_(std::move(sinks)),
      now_ms_(std::move(now_ms)),
      store_(store),
      node_epoch_(random_epoch()) {
  if (sinks_.size() > 64) {
    throw std::invalid_argument(
        "memory_broker: at most 64 loops (one bit each in a topic's loop mask)");
  }
  if (store_) {
    restore();
  }
}

void memory_broker::restore() {
  // Before any loop runs: no lock needed. History bounds apply to what was kept as they do to
  // what is published (age counts from each message's publish time).
  node_epoch_ = store_->node_epoch(node_epoch_);
  auto now = now_ms_();
  auto shared = [this](std::unique_ptr<message>&& m) {
    if (encode_) {
      encode_(*m);
    }
    return message_ptr(std::move(m));
  };
  store_->load([&](stored_topic&& st) {
    auto& s = shard_for(st.name);
    auto t = std::make_unique<topic_state>(limits_, st.head.epoch, st.head.seq, ledger_, s.order);
    for (auto& m : st.messages) {
      t->history.append(shared(std::move(m)), now);
    }
    if (st.retained) {
      t->retained = shared(std::move(st.retained));
      retained_messages_.fetch_add(1, std::memory_order_relaxed);
      retained_bytes_.fetch_add(t->retained->stored_bytes(), std::memory_order_relaxed);
    }
    persist_trim(st.name, *t);
    s.topics.emplace(std::move(st.name), std::move(t));
    topics_.fetch_add(1, std::memory_order_relaxed);
  });
  // Topics were read one after another: put each shard's messages back in publish order, which
  // the global bound and the sweep rely on.
  for (auto& s : shards_) {
    s.order.sort([](const auto& a, const auto& b) { return a.time_ms < b.time_ms; });
    settle(s);
  }
  enforce_memory_bound();
}

void memory_broker::set_idempotency_window(std::int64_t window_ms) {
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    s.seen.set_window(window_ms);
  }
}

void memory_broker::persist_trim(std::string_view topic, const topic_state& t) {
  if (store_) {
    store_->trim(topic, t.history.first_seq().value_or(t.last_seq + 1));
  }
}

memory_broker::shard& memory_broker::shard_for(std::string_view topic) {
  return shards_[topic_hash(topic) % shard_count];
}

memory_broker::topic_state& memory_broker::state_for(shard& s, std::string_view topic) {
  auto it = s.topics.find(std::string(topic));
  if (it == s.topics.end()) {
    it = s.topics
             .emplace(std::string(topic), std::make_unique<topic_state>(
                                              limits_, node_epoch_, s.seq_floor, ledger_, s.order))
             .first;
    topics_.fetch_add(1, std::memory_order_relaxed);
  }
  return *it->second;
}

bool memory_broker::forget_if_idle(shard& s, topic_map::iterator it) {
  auto& t = *it->second;
  if (t.loop_mask != 0 || t.history.size() != 0 || t.retained) {
    return false;
  }
  // Nothing is lost with it but its seq: a topic created here later starts past every seq handed
  // out here, so a reader still holding one of this topic's positions is told of a gap (or, at
  // exactly the last one, of nothing) instead of silently skipping reused ids.
  s.seq_floor = std::max(s.seq_floor, t.last_seq);
  s.topics.erase(it);
  topics_.fetch_sub(1, std::memory_order_relaxed);
  reclaimed_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void memory_broker::settle(shard& s) {
  s.oldest_ms.store(s.order.empty() ? INT64_MAX : s.order.front().time_ms,
                    std::memory_order_relaxed);
}

std::optional<position> memory_broker::append(shard& s, publish_item& item, std::int64_t now) {
  auto& t = state_for(s, item.topic);
  auto m = make_message(message_kind::stored, std::move(item), now);
  m->pos = {t.epoch, ++t.last_seq};
  if (encode_) {
    encode_(*m);
  }
  // Written before anyone can see it, so nothing a subscriber was sent is missing after a crash.
  if (store_ && !store_->append(*m)) {
    --t.last_seq;
    return std::nullopt;
  }
  m->set_live_handoffs(static_cast<std::uint32_t>(std::popcount(t.loop_mask)));
  message_ptr shared = std::move(m);
  if (shared->retain) {
    retained_bytes_.fetch_add(shared->stored_bytes(), std::memory_order_relaxed);
    if (t.retained) {
      retained_bytes_.fetch_sub(t.retained->stored_bytes(), std::memory_order_relaxed);
    } else {
      retained_messages_.fetch_add(1, std::memory_order_relaxed);
    }
    t.retained = shared;
  }
  t.history.append(shared, now);
  persist_trim(shared->topic, t);
  settle(s);
  if (t.loop_mask == 0) {
    shared->release_ws();  // no live audience: history keeps one copy from the start
  }
  for (auto mask = t.loop_mask; mask != 0; mask &= mask - 1) {
    sinks_[static_cast<std::size_t>(std::countr_zero(mask))]->deliver(shared);
  }
  auto pos = shared->pos;
  if (t.history.size() == 0) {
    forget_if_idle(s, s.topics.find(shared->topic));  // max_messages = 0 keeps nothing
  }
  return pos;
}

void memory_broker::publish(std::vector<publish_item> items, publish_handler done) {
  for (const auto& item : items) {
    if (!is_valid_topic(item.topic)) {
      done(errc::invalid_topic);
      return;
    }
  }
  std::vector<position> positions;
  positions.reserve(items.size());
  auto now = now_ms_();
  for (auto& item : items) {
    auto& s = shard_for(item.topic);
    std::optional<position> p;
    {
      std::lock_guard lock(s.mutex);
      if (!item.idempotency_key.empty()) {
        p = s.seen.find(item.topic, item.idempotency_key, now);
      }
      if (!p) {
        auto key = std::move(item.idempotency_key);
        auto topic = key.empty() ? std::string() : item.topic;
        p = append(s, item, now);
        if (p && !key.empty()) {
          s.seen.record(topic, key, *p, now);
        }
      }
    }
    if (!p) {
      done(errc::unavailable);  // the store failed (logged); what came before it is kept
      return;
    }
    positions.push_back(*p);
  }
  enforce_memory_bound();
  done(std::move(positions));
}

void memory_broker::attach(std::size_t loop_index, std::string_view topic,
                           std::optional<position> since, attach_handler done) {
  attach_result out;
  {
    auto& s = shard_for(topic);
    std::lock_guard lock(s.mutex);
    auto& t = state_for(s, topic);
    t.loop_mask |= std::uint64_t{1} << loop_index;
    expirations_.fetch_add(t.history.trim(now_ms_()), std::memory_order_relaxed);
    persist_trim(topic, t);
    settle(s);
    out.head = {t.epoch, t.last_seq};
    if (since) {
      if (since->epoch == t.epoch) {
        auto read = t.history.read_after(since->seq, t.last_seq, t.history.size());
        out.gap = !read.recoverable;
        out.missed = std::move(read.messages);
      } else {
        out.gap = true;
      }
    }
    if (!since || out.gap) {
      out.retained = t.retained;
    }
  }
  done(std::move(out));
}

void memory_broker::broadcast(message_ptr m) {
  auto& s = shard_for(m->topic);
  std::uint64_t mask = 0;
  {
    std::lock_guard lock(s.mutex);
    auto it = s.topics.find(m->topic);
    if (it == s.topics.end()) {
      return;
    }
    mask = it->second->loop_mask;
  }
  // Not stored, so no order to keep with history: hand off outside the lock.
  for (; mask != 0; mask &= mask - 1) {
    sinks_[static_cast<std::size_t>(std::countr_zero(mask))]->deliver(m);
  }
}

void memory_broker::detach(std::size_t loop_index, std::string_view topic) {
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  auto it = s.topics.find(std::string(topic));
  if (it == s.topics.end()) {
    return;
  }
  auto& t = *it->second;
  t.loop_mask &= ~(std::uint64_t{1} << loop_index);
  expirations_.fetch_add(t.history.trim(now_ms_()), std::memory_order_relaxed);
  settle(s);
  // An idle topic is forgotten, so subscribers to ever-new topic names cost nothing once gone.
  // A topic that never had a message comes back in the same node epoch at the same seq.
  forget_if_idle(s, it);
}

void memory_broker::read_history(std::string_view topic, std::optional<position> since,
                                 std::size_t limit, history_handler done) {
  history_page page;
  {
    auto& s = shard_for(topic);
    std::lock_guard lock(s.mutex);
    auto it = s.topics.find(std::string(topic));
    if (it != s.topics.end()) {
      auto& t = *it->second;
      expirations_.fetch_add(t.history.trim(now_ms_()), std::memory_order_relaxed);
      persist_trim(topic, t);
      settle(s);
      std::uint64_t after = 0;
      bool known = true;
      if (since) {
        known = since->epoch == t.epoch;
        after = known ? since->seq : 0;
      }
      auto first = t.history.first_seq();
      if (!known || after > t.last_seq || (first && after + 1 < *first) ||
          (!first && after < t.last_seq)) {
        page.gap = since.has_value();
        after = first ? *first - 1 : t.last_seq;
      }
      auto read = t.history.read_after(after, t.last_seq, limit);
      page.messages = std::move(read.messages);
      page.more = read.more;
      forget_if_idle(s, it);
    } else if (since) {
      // Unknown here: only the position a topic created now would start at can be honoured.
      page.gap = !(since->epoch == node_epoch_ && since->seq == s.seq_floor);
    }
  }
  done(std::move(page));
}

void memory_broker::enforce_memory_bound() {
  while (ledger_.bytes.load(std::memory_order_relaxed) > limits_.max_memory_bytes) {
    // The shard holding the oldest message, from each shard's published front time: a publish
    // pays a scan of 64 words only while history is over the bound, never a global lock.
    shard* victim = nullptr;
    auto oldest = INT64_MAX;
    for (auto& s : shards_) {
      auto t = s.oldest_ms.load(std::memory_order_relaxed);
      if (t < oldest) {
        oldest = t;
        victim = &s;
      }
    }
    if (!victim) {
      return;
    }
    std::lock_guard lock(victim->mutex);
    if (!victim->order.empty()) {
      // A shard's oldest message is its topic's oldest too: both lists are in publish order.
      auto it = victim->topics.find(victim->order.front().topic);
      it->second->history.pop_front();
      evictions_.fetch_add(1, std::memory_order_relaxed);
      persist_trim(it->first, *it->second);
      forget_if_idle(*victim, it);
    }
    settle(*victim);
  }
}

std::size_t memory_broker::sweep() {
  auto now = now_ms_();
  std::size_t dropped_bytes = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    while (!s.order.empty() && now - s.order.front().time_ms > limits_.max_age_ms) {
      auto it = s.topics.find(s.order.front().topic);
      auto held = it->second->history.bytes();
      auto dropped = it->second->history.trim(now);
      dropped_bytes += held - it->second->history.bytes();
      expirations_.fetch_add(dropped, std::memory_order_relaxed);
      if (dropped != 0) {
        persist_trim(it->first, *it->second);
      }
      if (!forget_if_idle(s, it) && dropped == 0) {
        break;  // the clock went back: what is left is younger by its own topic's measure
      }
    }
    settle(s);
  }
  return dropped_bytes;
}

std::int64_t memory_broker::oldest_ms() const {
  std::int64_t oldest = INT64_MAX;
  for (const auto& s : shards_) {
    oldest = std::min(oldest, s.oldest_ms.load(std::memory_order_relaxed));
  }
  return oldest;
}

std::vector<memory_broker::topic_entry> memory_broker::list_topics(std::string_view prefix,
                                                                   std::string_view after,
                                                                   std::size_t limit) {
  // A max-heap by name of the `limit` smallest names seen so far.
  auto later = [](const topic_entry& a, const topic_entry& b) { return a.name < b.name; };
  std::vector<topic_entry> best;
  if (limit == 0) {
    return best;
  }
  best.reserve(limit + 1);
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (const auto& [name, t] : s.topics) {
      if (!name.starts_with(prefix) || name.starts_with('$') || std::string_view(name) <= after) {
        continue;
      }
      if (best.size() == limit && name >= best.front().name) {
        continue;
      }
      best.push_back({name, {t->epoch, t->last_seq}});
      std::push_heap(best.begin(), best.end(), later);
      if (best.size() > limit) {
        std::pop_heap(best.begin(), best.end(), later);
        best.pop_back();
      }
    }
  }
  std::sort_heap(best.begin(), best.end(), later);
  return best;
}

bool memory_broker::has_subscribers(std::string_view topic) {
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  auto it = s.topics.find(std::string(topic));
  return it != s.topics.end() && it->second->loop_mask != 0;
}

memory_broker::stats memory_broker::snapshot() const {
  stats out;
  out.topics = topics_.load(std::memory_order_relaxed);
  out.messages = ledger_.messages.load(std::memory_order_relaxed);
  out.bytes = ledger_.bytes.load(std::memory_order_relaxed);
  out.retained_messages = retained_messages_.load(std::memory_order_relaxed);
  out.retained_bytes = retained_bytes_.load(std::memory_order_relaxed);
  out.evictions = evictions_.load(std::memory_order_relaxed);
  out.expirations = expirations_.load(std::memory_order_relaxed);
  out.topics_reclaimed = reclaimed_.load(std::memory_order_relaxed);
  return out;
}

}  // namespace sb
