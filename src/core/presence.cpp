#include "core/presence.hpp"

#include "core/cursor.hpp"

namespace sb {

presence_registry::shard& presence_registry::shard_for(std::string_view topic) const {
  return shards_[topic_hash(topic) % shard_count];
}

std::pair<std::unordered_map<std::string, presence_registry::room>::iterator,
          presence_registry::member*>
presence_registry::find_member(shard& s, std::string_view topic, std::string_view id) {
  auto r = s.rooms.find(std::string(topic));
  if (r == s.rooms.end()) {
    return {r, nullptr};
  }
  auto it = r->second.members.find(id);
  return {r, it == r->second.members.end() ? nullptr : &it->second};
}

presence_page presence_registry::join(std::string_view topic, std::string_view id,
                                      boost::json::value state, std::size_t limit) {
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  auto& r = s.rooms[std::string(topic)];
  auto [it, added] = r.members.try_emplace(std::string(id));
  it->second.state = state;
  auto& c = r.pending[std::string(id)];
  c.state = std::move(state);
  c.was_announced = c.was_announced || it->second.announced;
  presence_page out;
  out.count = r.members.size();
  for (auto m = r.members.begin(); m != r.members.end() && out.members.size() < limit; ++m) {
    out.members.push_back({m->first, m->second.state});
  }
  return out;
}

bool presence_registry::update(std::string_view topic, std::string_view id,
                               boost::json::value state) {
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  auto [r, m] = find_member(s, topic, id);
  if (!m) {
    return false;
  }
  m->state = state;
  auto& c = r->second.pending[std::string(id)];
  c.state = std::move(state);
  c.was_announced = c.was_announced || m->announced;
  return true;
}

bool presence_registry::leave(std::string_view topic, std::string_view id) {
  auto& s = shard_for(topic);
  std::lock_guard lock(s.mutex);
  auto [r, m] = find_member(s, topic, id);
  if (!m) {
    return false;
  }
  bool announced = m->announced;
  r->second.members.erase(r->second.members.find(id));
  auto p = r->second.pending.find(id);
  bool was_announced = announced || (p != r->second.pending.end() && p->second.was_announced);
  if (was_announced) {
    auto& c = r->second.pending[std::string(id)];
    c.state.reset();
    c.was_announced = true;
  } else if (p != r->second.pending.end()) {
    r->second.pending.erase(p);  // joined and left within one tick: nobody needs to know
  }
  if (r->second.members.empty() && r->second.pending.empty()) {
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
    out.members.push_back({it->first, it->second.state});
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
      r = room.members.empty() ? s.rooms.erase(r) : std::next(r);
    }
  }
  return out;
}

}  // namespace sb
