#pragma once
// Presence in Redis (broker = redis): the one script every room change runs, the key names, and the
// record nodes publish to each other. Pure: no connection here (cluster/presence_sync.hpp runs it).
//
// Keys of room (topic) T, hash-tagged like the topic's other keys (topic_script.hpp):
//   sb:{T}:p:N   hash: member id -> state (JSON text), the members node N owns in T
//   sb:{T}:pn    hash: node -> 1, the nodes with members in T
// Keys of node N:
//   sb:node:N        its liveness: refreshed every presence_ttl_s / 6, expiring after 2/3 of it
//   sb:node:N:rooms  set: the rooms N has (or had) members in, for whoever cleans up after N
//   sb:nodes         set: every node that registered, for the survivors' sweep
// Record, published on the topic's channel (sb:{T}:c) as "P" + record:
//   "<reset 0|1> <node bytes>\n" node, then {"j":[[id,state],…],"l":[id,…]}
// A reset record holds all of N's members in T (none: N holds nothing there any more).
// A load (reading the whole room) publishes "L" + a token on the same channel in the same script:
// the node that loads drops the records that arrive before its token (the snapshot has them) and
// applies those after it, so the seam between snapshot and live records has no hole and no step
// back. A node that may have missed records (its pub/sub connection dropped) loads again.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/presence.hpp"

namespace sb::cluster {

std::string_view presence_script();

std::string presence_member_key(std::string_view topic, std::string_view node);
std::string presence_nodes_key(std::string_view topic);
/// The prefix of presence_member_key (the load reads every node's hash with it).
std::string presence_member_prefix(std::string_view topic);
std::string node_liveness_key(std::string_view node);
std::string node_rooms_key(std::string_view node);
std::string_view all_nodes_key();

/// {"j":[[id,state],…],"l":[id,…]} of one node's changes in one room.
std::string presence_body(const presence_diff& changes);

struct presence_record {
  bool reset = false;
  std::string node;
  std::vector<presence_member> joins;
  std::vector<std::string> leaves;
};

/// A record as published (without its "P"); nullopt when malformed.
std::optional<presence_record> parse_presence_record(std::string_view record);
/// A member as stored (its state as JSON text; null when it is not JSON).
presence_member parse_presence_member(std::string_view id, std::string_view state);

/// Where a node that loads a room stands with the records that reach it meanwhile.
class presence_seam {
 public:
  enum class step { drop, hold, apply };
  /// A load with `token` was sent.
  void begin(std::string token);
  /// A record arrived: before the token it is in the snapshot (drop); after it, held until the
  /// snapshot is applied, then applied.
  step on_record() const;
  /// A token arrived; true when it is the one awaited.
  bool on_token(std::string_view token);
  /// The snapshot was applied.
  void on_snapshot() { snapshot_ = true; }
  /// Both the token and the snapshot are in: what was held can be applied, then live records.
  bool done() const { return token_seen_ && snapshot_; }
  bool loading() const { return !token_.empty() && !done(); }

 private:
  std::string token_;
  bool token_seen_ = false;
  bool snapshot_ = false;
};

}  // namespace sb::cluster
