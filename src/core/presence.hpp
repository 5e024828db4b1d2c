#pragma once
// Who is in each topic (room), with each member's state. Thread-safe (sharded locks): members
// join from any loop. Changes are not announced one by one: they accumulate per topic and are
// taken as one coalesced diff per tick, so a room where people come and go costs one message per
// tick, and a member who joins and leaves within a tick is never announced at all.
//
// In a cluster (broker = redis) the registry also holds the members other nodes own, for the rooms
// this node has an interest in, each tagged with its owning node, so that snapshots and pages are
// still answered here, synchronously. The local operations (join, update, leave) act on this
// node's own members; the *_remote operations are the cluster's (cluster/presence_sync.hpp). A
// member id held by several nodes (one subject connected to two nodes) is one member, present while
// any node holds it, showing the state of the latest change this node heard of.
#include <array>
#include <atomic>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
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
  /// The changes since the last call, one diff per changed topic (to announce on this node).
  std::vector<presence_diff> take_diffs();

  /// `f` is called when a change is noted (for take_diffs or take_local_changes) and none was
  /// since the last take_diffs, so whoever takes the diffs needs a timer only while something is
  /// pending. It runs on the thread making the change, outside the registry's locks, at most once
  /// between two take_diffs calls; it may be called when the change turns out to be nothing to
  /// announce (a snapshot repeating what is known). Set once, before any member joins.
  void on_change(std::function<void()> f) { on_change_ = std::move(f); }

  // --- Cluster ---

  /// From now on, changes of this node's own members are also kept for take_local_changes()
  /// (off by default: a single node has nobody to tell).
  void track_local_changes() { track_local_ = true; }
  /// This node's own changes since the last call, per room, coalesced per member (the latest
  /// wins): what the other nodes must hear of.
  std::vector<presence_diff> take_local_changes();
  /// This node's own members, one diff of joins per room (a full rewrite of what it owns).
  std::vector<presence_diff> local_members() const;
  /// Node `node`'s changes in `topic`: `joins` set a member's state, `leaves` remove it.
  void apply_remote(std::string_view topic, std::string_view node,
                    const std::vector<presence_member>& joins,
                    const std::vector<std::string>& leaves);
  /// Node `node` holds exactly `members` in `topic` (a snapshot read from the cluster).
  void replace_remote(std::string_view topic, std::string_view node,
                      const std::vector<presence_member>& members);
  /// The other nodes hold exactly `holds` (node, members) in `topic` (a snapshot of the room).
  void replace_room(std::string_view topic,
                    const std::vector<std::pair<std::string, std::vector<presence_member>>>& holds);
  /// Forgets what other nodes hold in `topic` (this node has no interest in it any more).
  void drop_remote(std::string_view topic);
  /// Removes every member `node` holds, in every room (the node died or withdrew).
  void remove_node(std::string_view node);

 private:
  /// One node's hold on a member: "" is this node. `stamp` orders changes (the newest shows).
  struct holder {
    std::string node;
    boost::json::value state;
    std::uint64_t stamp = 0;
  };
  struct member {
    std::vector<holder> holders;  // never empty while in the room
    bool announced = false;       // the others have been told it joined
    const holder& shown() const;
  };
  struct change {
    std::optional<boost::json::value> state;  // nullopt: left
    bool was_announced = false;
  };
  struct room {
    std::map<std::string, member, std::less<>> members;
    std::map<std::string, change, std::less<>> pending;
    /// This node's own changes not yet taken by take_local_changes (nullopt: left).
    std::map<std::string, std::optional<boost::json::value>, std::less<>> outbox;
    bool idle() const { return members.empty() && pending.empty() && outbox.empty(); }
  };
  struct shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, room> rooms;
    std::uint64_t stamps = 0;
  };
  static constexpr std::size_t shard_count = 32;
  using room_iterator = std::unordered_map<std::string, room>::iterator;
  shard& shard_for(std::string_view topic) const;
  /// The room of `topic` in `s` and its member `id`, or nulls when either is absent. `s` locked.
  static std::pair<room_iterator, member*> find_member(shard& s, std::string_view topic,
                                                       std::string_view id);
  /// Sets `node`'s hold on `id`; true when what the room shows of `id` changed. `s` locked.
  /// `from_snapshot`: a hold new to this node shows only where no other does (a snapshot is older
  /// than anything heard live).
  static bool hold(shard& s, room& r, std::string_view id, std::string_view node,
                   boost::json::value state, bool always_announce, bool from_snapshot = false);
  /// Ends `node`'s hold on `id`; true when it held it. `s` locked.
  static bool release(room& r, std::string_view id, std::string_view node);
  /// Queues `id` as joined with `state` (or changed). `s` locked.
  static void note_join(room& r, std::string_view id, const boost::json::value& state,
                        bool announced);
  /// Queues `id` as gone (nothing when it was never announced). `s` locked.
  static void note_leave(room& r, std::string_view id, bool announced);
  /// Drops every hold of a node other than this one that `keep(node, id)` refuses. `s` locked.
  template <class Keep>
  static void release_remote(room& r, Keep keep);

  /// Calls on_change_ when set and not called since the last take_diffs; declared before the
  /// shard's lock, so it runs after the lock is released.
  class change_note {
   public:
    explicit change_note(presence_registry& r) : r_(r) {}
    change_note(const change_note&) = delete;
    change_note& operator=(const change_note&) = delete;
    ~change_note();
    void noted() { noted_ = true; }

   private:
    presence_registry& r_;
    bool noted_ = false;
  };

  mutable std::array<shard, shard_count> shards_;
  bool track_local_ = false;  // set once, before any member joins
  std::function<void()> on_change_;
  std::atomic<bool> change_told_{false};  // on_change_ was called since the last take_diffs
};

}  // namespace sb
