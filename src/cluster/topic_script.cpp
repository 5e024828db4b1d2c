#include "cluster/topic_script.hpp"

namespace sb::cluster {

// ARGV[1] mode: "p" publish, "r" read. ARGV[2] the Redis run_id this node is connected to,
// ARGV[3] "1" when that Redis loses no acknowledged write across a restart (appendonly, fsync
// always, never promoted from a replica), else "0"; with Redis Cluster followed by the run_ids of
// the other masters of the current slot map, space-separated (see Fencing), ARGV[4] the epoch to
// start when history cannot be vouched for, ARGV[5..7] max messages, max bytes, max age (ms),
// ARGV[8] key TTL (ms). Publish: ARGV[9] channel, [10] event, [11] from, [12] retain, [13] data,
// [14] idempotency window (ms, 0: none), [15] PUBLISH or SPUBLISH. Returns {1, id} or {0, id of the
// first publish}. A batch of one topic's messages (no idempotency window): ARGV[16] their count k
// > 1, then for each its event, from, retain and data from ARGV[17] on (ARGV[10..13] unused);
// appended in order with consecutive seqs, one PUBLISH each; returns {2, epoch, first seq}.
// Read: ARGV[9] since epoch ("" for none), [10] since seq, [11] limit (0: all). Returns {epoch,
// last seq, gap, more, retained record or "", {records}}.
//
// Fencing: a topic whose hash is gone (Redis restarted empty) starts a new epoch; so does one
// whose epoch was vouched for under another run_id, unless this Redis is lossless: a restore from
// an older snapshot or a failover to a replica that missed writes must not reuse the epoch with
// seqs a client may already hold. In a cluster, an epoch vouched for under another master that
// serves slots now (ARGV[3]'s list) came here by a resharding: MIGRATE moves a key whole and that
// master is alive, so the epoch continues (and is vouched for here from now on). A failed master
// is not in the map, so a failover to its replica is still a new epoch.
static constexpr std::string_view script = R"lua(
local meta, list = KEYS[1], KEYS[2]
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local h = redis.call('HMGET', meta, 'epoch', 'run', 'seq', 'first', 'bytes')
local epoch, seq, first, bytes = h[1], tonumber(h[3]), tonumber(h[4]), tonumber(h[5])
local vouched = h[2] == ARGV[2] or string.sub(ARGV[3], 1, 1) == '1' or
                (h[2] and string.find(ARGV[3] .. ' ', ' ' .. h[2] .. ' ', 2, true))
if not epoch or not seq or not first or not bytes or not vouched then
  epoch, seq, first, bytes = ARGV[4], 0, 1, 0
  redis.call('DEL', list)
  redis.call('HDEL', meta, 'retained')
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0, 'first', 1, 'bytes', 0, 'run', ARGV[2])
elseif h[2] ~= ARGV[2] then
  redis.call('HSET', meta, 'run', ARGV[2])
end
local max_n, max_bytes, max_age = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local n = redis.call('LLEN', list)
local first0 = first
while n > 0 do
  local old = redis.call('LINDEX', list, 0)
  local t0 = tonumber(string.match(old, '^%d+ %d+ (%d+)'))
  if n > max_n or bytes > max_bytes or now - t0 > max_age then
    redis.call('LPOP', list)
    n = n - 1
    bytes = bytes - #old
    first = first + 1
  else
    break
  end
end
local ttl = tonumber(ARGV[8])
if ARGV[1] == 'p' then
  local window = tonumber(ARGV[14])
  if window > 0 then
    local seen = redis.call('GET', KEYS[3])
    if seen then
      if first ~= first0 then
        redis.call('HSET', meta, 'first', first, 'bytes', bytes)
      end
      return {0, seen}
    end
  end
  local k = tonumber(ARGV[16] or '1')
  local first_new, retained = seq + 1, nil
  for j = 1, k do
    local ev, from, keep, data = ARGV[10], ARGV[11], ARGV[12], ARGV[13]
    if k > 1 then
      local at = 17 + 4 * (j - 1)
      ev, from, keep, data = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
    end
    seq = seq + 1
    local rec = epoch .. ' ' .. string.format('%d %d %s %d %d', seq, now, keep, #ev, #from) ..
                '\n' .. ev .. from .. data
    redis.call('RPUSH', list, rec)
    n = n + 1
    bytes = bytes + #rec
    while n > 0 and (n > max_n or bytes > max_bytes) do
      local old = redis.call('LPOP', list)
      n = n - 1
      bytes = bytes - #old
      first = first + 1
    end
    if keep == '1' then
      retained = rec
    end
    redis.call(ARGV[15], ARGV[9], 'S' .. rec)
  end
  redis.call('HSET', meta, 'seq', seq, 'first', first, 'bytes', bytes)
  if retained then
    redis.call('HSET', meta, 'retained', retained)
  end
  redis.call('PEXPIRE', meta, ttl)
  redis.call('PEXPIRE', list, ttl)
  if k > 1 then
    return {2, epoch, string.format('%d', first_new)}
  end
  local id = epoch .. '-' .. string.format('%d', seq)
  if window > 0 then
    redis.call('SET', KEYS[3], id, 'PX', window)
  end
  return {1, id}
end
if first ~= first0 then
  redis.call('HSET', meta, 'first', first, 'bytes', bytes)
end
local gap, after = 0, first - 1
if ARGV[9] ~= '' then
  local s = tonumber(ARGV[10])
  if ARGV[9] == epoch and s <= seq and s + 1 >= first then
    after = s
  else
    gap = 1
  end
end
local limit = tonumber(ARGV[11])
local msgs = {}
if after < seq then
  local from_i = after + 1 - first
  local stop = -1
  if limit > 0 then
    stop = from_i + limit - 1
  end
  msgs = redis.call('LRANGE', list, from_i, stop)
end
local more = 0
if after + #msgs < seq then
  more = 1
end
local retained = redis.call('HGET', meta, 'retained') or ''
return {epoch, string.format('%d', seq), gap, more, retained, msgs}
)lua";

std::string_view topic_script() {
  return script;
}

std::string meta_key(std::string_view topic) {
  return "sb:{" + std::string(topic) + "}:m";
}

std::string history_key(std::string_view topic) {
  return "sb:{" + std::string(topic) + "}:h";
}

std::string idempotency_key(std::string_view topic, std::string_view key) {
  return "sb:{" + std::string(topic) + "}:i:" + std::string(key);
}

std::string channel_of(std::string_view topic) {
  return "sb:{" + std::string(topic) + "}:c";
}

std::string_view topic_of_channel(std::string_view channel) {
  if (channel.size() < 7 || !channel.starts_with("sb:{") || !channel.ends_with("}:c")) {
    return {};
  }
  return channel.substr(4, channel.size() - 7);
}

}  // namespace sb::cluster
