#pragma once
// Redis Cluster's key space, sans-I/O: the hash slot of a key (its hash tag), the slot ranges a
// master lists in CLUSTER SLOTS, and the redirections (MOVED, ASK) a master answers for a slot it
// does not serve. Every key and the channel of a topic T carry the hash tag {T}, so a topic lives
// in one slot: topic_slot(T).
#include <hiredis/hiredis.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::cluster {

constexpr std::size_t slot_count = 16384;

/// The slot Redis Cluster computes for `key`: CRC16-XMODEM of its hash tag (the bytes between the
/// first `{` and the next `}`, when not empty) or of the whole key, modulo 16384.
std::uint16_t key_slot(std::string_view key);
/// The slot of every key and of the channel of `topic`.
std::uint16_t topic_slot(std::string_view topic);

struct slot_range {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  std::string host;  // empty: the host of the master that answered (it does not know its own)
  std::uint16_t port = 0;
};

/// The masters' ranges of a CLUSTER SLOTS reply; nothing when the reply is not one.
std::optional<std::vector<slot_range>> parse_cluster_slots(const redisReply* r);

struct redirection {
  bool ask = false;  // ASK: this command only, after ASKING; MOVED: the slot has a new owner
  std::uint16_t slot = 0;
  std::string host;
  std::uint16_t port = 0;
};

/// "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (an error reply's text).
std::optional<redirection> parse_redirection(std::string_view error);

}  // namespace sb::cluster
