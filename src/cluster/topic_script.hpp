#pragma once
// The one server-side script every topic operation runs, so that fencing, appending, trimming,
// the retained value, the idempotency record and the PUBLISH happen atomically in Redis.
//
// Keys of topic T, all in one hash slot (the `{T}` hash tag) so that Redis Cluster can run it:
//   sb:{T}:m   hash: epoch, seq, first (seq of the oldest kept), bytes, run (Redis run_id the
//              epoch was last vouched for under), retained (a record)
//   sb:{T}:h   list of records, oldest first: seq s is at index s - first
//   sb:{T}:i:K the id a publish with Idempotency-Key K got (expires with the window); KEYS[3] of
//              a publish that has a key, absent otherwise
// Channel: sb:{T}:c, payload "S" + record (stored) or "V" + record (volatile, epoch and seq 0).
// Record: "<epoch> <seq> <time_ms> <retain 0|1> <event bytes> <from bytes>\n" event from data.
#include <string>
#include <string_view>

namespace sb::cluster {

std::string_view topic_script();

std::string meta_key(std::string_view topic);
std::string history_key(std::string_view topic);
std::string idempotency_key(std::string_view topic, std::string_view key);
std::string channel_of(std::string_view topic);
/// The topic a channel names; empty when it is not one of ours.
std::string_view topic_of_channel(std::string_view channel);

}  // namespace sb::cluster
