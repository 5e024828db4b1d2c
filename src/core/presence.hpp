#pragma once
// Who is in each topic (room), with each member's state. Thread-safe (sharded locks): members
// join from any loop. Changes are not announced one by one: they accumulate per topic and are
// taken as one coalesced diff per tick, so a room where people come and go costs one message per
// tick, and a member who joins and leaves within a tick is never announced at all.
#include <array>
#include <boost/json/value.hpp>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sb {

struct presence_member {
  std::string id;
  boost::json::value state;
};

struct presence_page {
  std::size_t count = 0;
  std::vector<presence_member> members;  // ordered by id
};

struct presence_diff {
  std::string topic;
  std::vector<presence_member> joins;  // new members, and members whose state changed
  std::vector<std::string> leaves;
};

class presence_registry {
 public:
  /// Adds `id` to `topic` (or replaces its state); answers the first `limit` members and the count.
  presence_page join(std::string_view topic, std::string_view id, boost::json::value state,
                     std::size_t limit);
  /// Changes a member's state; false when `id` is not a member of `topic`.
  bool update(std::string_view topic, std::string_view id, boost::json::value state);
  /// Removes `id` from `topic`; false when it was not a member.
  bool leave(std::string_view topic, std::string_view id);
  /// Members after `after` (exclusive, by id), at most `limit`.
  presence_page page(std::string_view topic, std::string_view after, std::size_t limit) const;
  std::size_t count(std::string_view topic) const;
  /// Every room with a member and its member count, unordered (the admin page; one shard lock at
  /// a time).
  std::vector<std::pair<std::string, std::size_t>> room_sizes() const;
  /// The changes since the last call, one diff per changed topic.
  std::vector<presence_diff> take_diffs();

 private:
  struct member {
    boost::json::value state;
    bool announced = false;  // the others have been told it joined
  };
  struct change {
    std::optional<boost::json::value> state;  // nullopt: left
    bool was_announced = false;
  };
  struct room {
    std::map<std::string, member, std::less<>> members;
    std::map<std::string, change, std::less<>> pending;
  };
  struct shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, room> rooms;
  };
  static constexpr std::size_t shard_count = 32;
  shard& shard_for(std::string_view topic) const;
  /// The room of `topic` in `s` and its member `id`, or nulls when either is absent. `s` locked.
  static std::pair<std::unordered_map<std::string, room>::iterator, member*> find_member(
      shard& s, std::string_view topic, std::string_view id);

  mutable std::array<shard, shard_count> shards_;
};

}  // namespace sb
