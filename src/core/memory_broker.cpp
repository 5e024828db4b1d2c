#include "core/memory_broker.hpp"

#include <bit>
#include <stdexcept>

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
                             std::vector<delivery_sink*> sinks, clock_fn now_ms, history_store* store)
    : limits_(limits),
      encode_(std::move(encode)),
      sinks_(std::move(sinks)),
      now_ms_(std::move(now_ms)),
      store_(store),
      node_epoch_(random_epoch()) {
  if (sinks_.size() > 64) {
    throw std::invalid_argument("memory_broker: at most 64 loops (one bit each in a topic's loop mask)");
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
  auto shared = [this](message&& m) {
    auto p = std::make_shared<message>(std::move(m));
    if (encode_) {
      encode_(*p);
    }
    return message_ptr(std::move(p));
  };
  store_->load([&](stored_topic&& st) {
    auto t = std::make_unique<topic_state>(limits_, st.head.epoch);
    t->last_seq = st.head.seq;
    for (auto& m : st.messages) {
      t->history.append(shared(std::move(m)), now);
    }
    if (st.retained) {
      t->retained = shared(std::move(*st.retained));
    }
    persist_trim(st.name, *t);
    auto& s = shard_for(st.name);
    s.topics.emplace(std::move(st.name), std::move(t));
  });
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
    it = s.topics.emplace(std::string(topic), std::make_unique<topic_state>(limits_, node_epoch_)).first;
  }
  return *it->second;
}

std::optional<position> memory_broker::append(shard& s, publish_item& item, std::int64_t now) {
  auto& t = state_for(s, item.topic);
  auto m = std::make_shared<message>();
  m->pos = {t.epoch, ++t.last_seq};
  m->topic = std::move(item.topic);
  m->event = std::move(item.event);
  m->data = std::move(item.data);
  m->time_ms = now;
  m->retain = item.retain;
  m->from = std::move(item.from);
  if (encode_) {
    encode_(*m);
  }
  // Written before anyone can see it, so nothing a subscriber was sent is missing after a crash.
  if (store_ && !store_->append(*m)) {
    --t.last_seq;
    return std::nullopt;
  }
  message_ptr shared = std::move(m);
  if (shared->retain) {
    t.retained = shared;
  }
  t.history.append(shared, now);
  persist_trim(shared->topic, t);
  for (auto mask = t.loop_mask; mask != 0; mask &= mask - 1) {
    sinks_[static_cast<std::size_t>(std::countr_zero(mask))]->deliver(shared);
  }
  return shared->pos;
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
      p = append(s, item, now);
    }
    if (!p) {
      done(errc::unavailable);  // the store failed (logged); what came before it is kept
      return;
    }
    positions.push_back(*p);
  }
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
    t.history.trim(now_ms_());
    persist_trim(topic, t);
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
  // A topic that never had a message holds nothing worth an epoch: forget it, so subscribers to
  // ever-new topic names cost nothing once gone. It comes back in the same node epoch, at seq 0.
  if (t.loop_mask == 0 && t.last_seq == 0) {
    s.topics.erase(it);
  }
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
      t.history.trim(now_ms_());
      persist_trim(topic, t);
      std::uint64_t after = 0;
      bool known = true;
      if (since) {
        known = since->epoch == t.epoch;
        after = known ? since->seq : 0;
      }
      auto first = t.history.first_seq();
      if (!known || after > t.last_seq || (first && after + 1 < *first) || (!first && after < t.last_seq)) {
        page.gap = since.has_value();
        after = first ? *first - 1 : t.last_seq;
      }
      auto read = t.history.read_after(after, t.last_seq, limit);
      page.messages = std::move(read.messages);
      page.more = read.more;
    } else if (since) {
      // Unknown here: only "before anything, in this node's epoch" is a position we can honour.
      page.gap = !(since->epoch == node_epoch_ && since->seq == 0);
    }
  }
  done(std::move(page));
}

}  // namespace sb
