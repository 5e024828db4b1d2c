#include "core/presence.hpp"

#include <algorithm>

#include "core/cursor.hpp"

namespace sb {

const presence_registry::holder& presence_registry::member::shown() const {
  return *std::max_element(holders.begin(), holders.end(),
                           [](const holder& a, const holder& b) { return a.stamp < b.stamp; });
}

presence_registry::shard& presence_registry::shard_for(std::string_view topic) const {
  return shards_[topic_hash(topic) % shard_count];
}

std::pair<presence_registry::room_iterator, presence_registry::member*>
presence_registry::find_member(shard& s, std::string_view topic, std::string_view id) {
  auto r = s.rooms.find(std::string(topic));
  if (r == s.rooms.end()) {
    return {r, nullptr};
  }
  auto it = r->second.members.find(id);
  return {r, it == r->second.members.end() ? nullptr : &it->second};
}

void presence_registry::note_join(room& r, std::string_view id, const boost::json::value& state,
                                  bool announced) {
  auto& c = r.pending[std::string(id)];
  c.state = state;
  c.was_announced = c.was_announced || announced;
}

void presence_registry::note_leave(room& r, std::string_view id, bool announced) {
  auto p = r.pending.find(id);
  bool was_announced = announced || (p != r.pending.end() && p->second.was_announced);
  if (was_announced) {
    auto& c = r.pending[std::string(id)];
    c.state.reset();
    c.was_announced = true;
  } else if (p != r.pending.end()) {
    r.pending.erase(p);  // joined and left within one tick: nobody needs to know
  }
}

bool presence_registry::hold(shard& s, room& r, std::string_view id, std::string_view node,
                             boost::json::value state, bool always_announce, bool from_snapshot) {
  auto [it, added] = r.members.try_emplace(std::string(id));
  auto& m = it->second;
  std::optional<boost::json::value> before;
  if (!added) {
    before = m.shown().state;
  }
  auto h = std::find_if(m.holders.begin(), m.holders.end(),
                        [node](const holder& x) { return x.node == node; });
  bool fresh = h == m.holders.end();
  if (fresh) {
    h = m.holders.insert(m.holders.end(), holder{std::string(node), {}, 0});
  } else if (!always_announce && h->state == state) {
    return false;  // a snapshot repeating what is known: no change, and the order stays
  }
  h->state = std::move(state);
  h->stamp = fresh && from_snapshot ? 0 : ++s.stamps;
  if (!added && h->stamp == 0) {
    return false;  // another hold shows, unchanged
  }
  bool changed = !before || *before != h->state;
  if (changed || always_announce) {
    note_join(r, id, h->state, m.announced);
  }
  return changed;
}

bool presence_registry::release(room& r, std::string_view id, std::string_view node) {
  auto it = r.members.find(id);
  if (it == r.members.end()) {
    return false;
  }
  auto& m = it->second;
  auto h = std::find_if(m.holders.begin(), m.holders.end(),
                        [node](const holder& x) { return x.node == node; });
  if (h == m.holders.end()) {
    return false;
  }
  auto before = m.shown().state;
  m.holders.erase(h);
  if (m.holders.empty()) {
    bool announced = m.announced;
    r.members.erase(it);
    note_leave(r, id, announced);
  } else if (const auto& now = m.shown(); now.state != before) {
    note_join(r, id, now.state, m.announced);  // another node's hold shows now
  }
  return true;
}

presence_registry::change_note::~change_note() {
  if (noted_ && r_.on_change_ && !r_.change_told_.exchange(true)) {
    r_.on_change_();
  }
}

presence_page presence_registry::join(std::string_view topic, std::string_view id,
                                      boost::json::value state, std::size_t limit) {
  change_note note(*this);
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  note.noted();
  auto& r = s.rooms[std::string(topic)];
  if (track_local_) {
    r.outbox[std::string(id)] = state;
  }
  hold(s, r, id, "", std::move(state), true);
  presence_page out;
  out.count = r.members.size();
  for (auto m = r.members.begin(); m != r.members.end() && out.members.size() < limit; ++m) {
    out.members.push_back({m->first, m->second.shown().state});
  }
  return out;
}

bool presence_registry::update(std::string_view topic, std::string_view id,
                               boost::json::value state) {
  change_note note(*this);
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  auto [r, m] = find_member(s, topic, id);
  if (!m || std::none_of(m->holders.begin(), m->holders.end(),
                         [](const holder& h) { return h.node.empty(); })) {
    return false;
  }
  note.noted();
  if (track_local_) {
    r->second.outbox[std::string(id)] = state;
  }
  hold(s, r->second, id, "", std::move(state), true);
  return true;
}

bool presence_registry::leave(std::string_view topic, std::string_view id) {
  change_note note(*this);
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  auto r = s.rooms.find(std::string(topic));
  if (r == s.rooms.end() || !release(r->second, id, "")) {
    return false;
  }
  note.noted();
  if (track_local_) {
    r->second.outbox[std::string(id)] = std::nullopt;
  }
  if (r->second.idle()) {
    s.rooms.erase(r);
  }
  return true;
}

presence_page presence_registry::page(std::string_view topic, std::string_view after,
                                      std::size_t limit) const {
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  presence_page out;
  auto r = s.rooms.find(std::string(topic));
  if (r == s.rooms.end()) {
    return out;
  }
  out.count = r->second.members.size();
  auto it = after.empty() ? r->second.members.begin() : r->second.members.upper_bound(after);
  for (; it != r->second.members.end() && out.members.size() < limit; ++it) {
    out.members.push_back({it->first, it->second.shown().state});
  }
  return out;
}

std::size_t presence_registry::count(std::string_view topic) const {
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  auto r = s.rooms.find(std::string(topic));
  return r == s.rooms.end() ? 0 : r->second.members.size();
}

std::vector<std::pair<std::string, std::size_t>> presence_registry::room_sizes() const {
  std::vector<std::pair<std::string, std::size_t>> out;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (const auto& [topic, r] : s.rooms) {
      if (!r.members.empty()) {
        out.emplace_back(topic, r.members.size());
      }
    }
  }
  return out;
}

std::vector<presence_diff> presence_registry::take_diffs() {
  // Before taking: a change made while the shards are walked is told again (it may land in a
  // shard already walked), so it is never left pending with nobody waiting for it.
  change_told_.store(false);
  std::vector<presence_diff> out;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (auto r = s.rooms.begin(); r != s.rooms.end();) {
      auto& room = r->second;
      if (!room.pending.empty()) {
        presence_diff d;
        d.topic = r->first;
        for (auto& [id, c] : room.pending) {
          if (c.state) {
            if (auto m = room.members.find(id); m != room.members.end()) {
              m->second.announced = true;
            }
            d.joins.push_back({id, std::move(*c.state)});
          } else if (c.was_announced) {
            d.leaves.push_back(id);
          }
        }
        room.pending.clear();
        if (!d.joins.empty() || !d.leaves.empty()) {
          out.push_back(std::move(d));
        }
      }
      r = room.idle() ? s.rooms.erase(r) : std::next(r);
    }
  }
  return out;
}

std::vector<presence_diff> presence_registry::take_local_changes() {
  std::vector<presence_diff> out;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (auto r = s.rooms.begin(); r != s.rooms.end();) {
      auto& room = r->second;
      if (!room.outbox.empty()) {
        presence_diff d;
        d.topic = r->first;
        for (auto& [id, state] : room.outbox) {
          if (state) {
            d.joins.push_back({id, std::move(*state)});
          } else {
            d.leaves.push_back(id);
          }
        }
        room.outbox.clear();
        out.push_back(std::move(d));
      }
      r = room.idle() ? s.rooms.erase(r) : std::next(r);
    }
  }
  return out;
}

std::vector<presence_diff> presence_registry::local_members() const {
  std::vector<presence_diff> out;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (const auto& [topic, r] : s.rooms) {
      presence_diff d;
      for (const auto& [id, m] : r.members) {
        for (const auto& h : m.holders) {
          if (h.node.empty()) {
            d.joins.push_back({id, h.state});
          }
        }
      }
      if (!d.joins.empty()) {
        d.topic = topic;
        out.push_back(std::move(d));
      }
    }
  }
  return out;
}

template <class Keep>
void presence_registry::release_remote(room& r, Keep keep) {
  std::vector<std::pair<std::string, std::string>> gone;  // (id, node)
  for (const auto& [id, m] : r.members) {
    for (const auto& h : m.holders) {
      if (!h.node.empty() && !keep(h.node, id)) {
        gone.emplace_back(id, h.node);
      }
    }
  }
  for (const auto& [id, node] : gone) {
    release(r, id, node);
  }
}

void presence_registry::apply_remote(std::string_view topic, std::string_view node,
                                     const std::vector<presence_member>& joins,
                                     const std::vector<std::string>& leaves) {
  change_note note(*this);
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  note.noted();
  auto r = s.rooms.try_emplace(std::string(topic)).first;
  for (const auto& m : joins) {
    hold(s, r->second, m.id, node, m.state, false);
  }
  for (const auto& id : leaves) {
    release(r->second, id, node);
  }
  if (r->second.idle()) {
    s.rooms.erase(r);
  }
}

void presence_registry::replace_remote(std::string_view topic, std::string_view node,
                                       const std::vector<presence_member>& members) {
  change_note note(*this);
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  note.noted();
  auto r = s.rooms.try_emplace(std::string(topic)).first;
  std::vector<std::string_view> ids;
  ids.reserve(members.size());
  for (const auto& m : members) {
    ids.push_back(m.id);
  }
  std::sort(ids.begin(), ids.end());
  release_remote(r->second, [node, &ids](std::string_view n, std::string_view id) {
    return n != node || std::binary_search(ids.begin(), ids.end(), id);
  });
  for (const auto& m : members) {
    hold(s, r->second, m.id, node, m.state, false);
  }
  if (r->second.idle()) {
    s.rooms.erase(r);
  }
}

void presence_registry::replace_room(
    std::string_view topic,
    const std::vector<std::pair<std::string, std::vector<presence_member>>>& holds) {
  change_note note(*this);
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  note.noted();
  auto r = s.rooms.try_emplace(std::string(topic)).first;
  std::vector<std::pair<std::string_view, std::string_view>> kept;  // (node, id)
  for (const auto& [node, members] : holds) {
    for (const auto& m : members) {
      kept.emplace_back(node, m.id);
    }
  }
  std::sort(kept.begin(), kept.end());
  release_remote(r->second, [&kept](std::string_view n, std::string_view id) {
    return std::binary_search(kept.begin(), kept.end(), std::pair{n, id});
  });
  for (const auto& [node, members] : holds) {
    for (const auto& m : members) {
      hold(s, r->second, m.id, node, m.state, false, true);
    }
  }
  if (r->second.idle()) {
    s.rooms.erase(r);
  }
}

void presence_registry::drop_remote(std::string_view topic) {
  change_note note(*this);
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  note.noted();
  auto r = s.rooms.find(std::string(topic));
  if (r == s.rooms.end()) {
    return;
  }
  release_remote(r->second, [](std::string_view, std::string_view) { return false; });
  if (r->second.idle()) {
    s.rooms.erase(r);
  }
}

void presence_registry::remove_node(std::string_view node) {
  change_note note(*this);
  note.noted();
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (auto r = s.rooms.begin(); r != s.rooms.end();) {
      release_remote(r->second, [node](std::string_view n, std::string_view) { return n != node; });
      r = r->second.idle() ? s.rooms.erase(r) : std::next(r);
    }
  }
}

}  // namespace sb
