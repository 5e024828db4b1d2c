#include "cluster/presence_script.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "cluster/decimal.hpp"

namespace sb::cluster {

// KEYS[1] sb:{T}:p:N (this node's members), KEYS[2] sb:{T}:pn. ARGV[1] mode, ARGV[2] node N.
// "w" writes N's changes: ARGV[3] channel, [4] PUBLISH or SPUBLISH, [5] reset "0"|"1" (replace
// all of N's members), [6] the record's body, [7] number of joins J, then J pairs id, state, then
// the ids that left. Returns 1 when N holds nobody in T any more, else 0.
// "x" removes all of N's members (a dead node's, or a draining one's own): ARGV[3], [4] as above.
// "l" loads the room: ARGV[2] is the member keys' prefix, ARGV[3], [4] as above, ARGV[5] the token
// published ("": none, a read for an HTTP page). Returns {node, {id, state, …}, …}. It reads keys
// it was not given (one per node): they share the room's hash slot.
static constexpr std::string_view script = R"lua(
local mode, node, mine, nodes = ARGV[1], ARGV[2], KEYS[1], KEYS[2]
if mode == 'l' then
  local out = {}
  local vs = redis.call('HGETALL', nodes)
  for i = 1, #vs, 2 do
    out[#out + 1] = vs[i]
    out[#out + 1] = redis.call('HGETALL', node .. vs[i])
  end
  if ARGV[5] ~= '' then
    redis.call(ARGV[4], ARGV[3], 'L' .. ARGV[5])
  end
  return out
end
if mode == 'x' then
  redis.call('DEL', mine)
  redis.call('HDEL', nodes, node)
  redis.call(ARGV[4], ARGV[3], 'P1 ' .. #node .. '\n' .. node .. '{"j":[],"l":[]}')
  return 1
end
local reset = ARGV[5]
if reset == '1' then
  redis.call('DEL', mine)
end
local at = 8
for i = 1, tonumber(ARGV[7]) do
  redis.call('HSET', mine, ARGV[at], ARGV[at + 1])
  at = at + 2
end
for i = at, #ARGV do
  redis.call('HDEL', mine, ARGV[i])
end
redis.call(ARGV[4], ARGV[3], 'P' .. reset .. ' ' .. #node .. '\n' .. node .. ARGV[6])
if redis.call('EXISTS', mine) == 0 then
  redis.call('HDEL', nodes, node)
  return 1
end
redis.call('HSET', nodes, node, '1')
return 0
)lua";

std::string_view presence_script() {
  return script;
}

std::string presence_member_prefix(std::string_view topic) {
  return "sb:{" + std::string(topic) + "}:p:";
}

std::string presence_member_key(std::string_view topic, std::string_view node) {
  return presence_member_prefix(topic) + std::string(node);
}

std::string presence_nodes_key(std::string_view topic) {
  return "sb:{" + std::string(topic) + "}:pn";
}

std::string node_liveness_key(std::string_view node) {
  return "sb:node:" + std::string(node);
}

std::string node_rooms_key(std::string_view node) {
  return "sb:node:" + std::string(node) + ":rooms";
}

std::string_view all_nodes_key() {
  return "sb:nodes";
}

std::string presence_body(const presence_diff& changes) {
  boost::json::array joins;
  joins.reserve(changes.joins.size());
  for (const auto& m : changes.joins) {
    joins.push_back(boost::json::array{boost::json::string(m.id), m.state});
  }
  boost::json::array leaves;
  leaves.reserve(changes.leaves.size());
  for (const auto& id : changes.leaves) {
    leaves.push_back(boost::json::string(id));
  }
  return boost::json::serialize(
      boost::json::object{{"j", std::move(joins)}, {"l", std::move(leaves)}});
}

std::optional<presence_record> parse_presence_record(std::string_view record) {
  auto nl = record.find('\n');
  if (nl == std::string_view::npos) {
    return std::nullopt;
  }
  auto header = record.substr(0, nl);
  auto sp = header.find(' ');
  if (sp == std::string_view::npos) {
    return std::nullopt;
  }
  auto reset = header.substr(0, sp);
  auto node_bytes = parse_decimal(header.substr(sp + 1));
  auto rest = record.substr(nl + 1);
  if ((reset != "0" && reset != "1") || !node_bytes || *node_bytes == 0 ||
      *node_bytes > rest.size()) {
    return std::nullopt;
  }
  presence_record out;
  out.reset = reset == "1";
  out.node = std::string(rest.substr(0, *node_bytes));
  boost::system::error_code ec;
  auto body = boost::json::parse(rest.substr(*node_bytes), ec);
  if (ec || !body.is_object()) {
    return std::nullopt;
  }
  const auto& o = body.get_object();
  const auto* joins = o.if_contains("j");
  const auto* leaves = o.if_contains("l");
  if (!joins || !joins->is_array() || !leaves || !leaves->is_array()) {
    return std::nullopt;
  }
  for (const auto& j : joins->get_array()) {
    if (!j.is_array() || j.get_array().size() != 2 || !j.get_array()[0].is_string()) {
      return std::nullopt;
    }
    const auto& pair = j.get_array();
    out.joins.push_back({std::string(pair[0].get_string()), pair[1]});
  }
  for (const auto& id : leaves->get_array()) {
    if (!id.is_string()) {
      return std::nullopt;
    }
    out.leaves.emplace_back(id.get_string());
  }
  return out;
}

presence_member parse_presence_member(std::string_view id, std::string_view state) {
  boost::system::error_code ec;
  auto v = boost::json::parse(state, ec);
  return {std::string(id), ec ? boost::json::value() : std::move(v)};
}

void presence_seam::begin(std::string token) {
  token_ = std::move(token);
  token_seen_ = false;
  snapshot_ = false;
}

presence_seam::step presence_seam::on_record() const {
  if (token_.empty() || done()) {
    return step::apply;
  }
  return token_seen_ ? step::hold : step::drop;
}

bool presence_seam::on_token(std::string_view token) {
  if (token_.empty() || token != token_ || token_seen_) {
    return false;
  }
  token_seen_ = true;
  return true;
}

}  // namespace sb::cluster
