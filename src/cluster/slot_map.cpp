#include "cluster/slot_map.hpp"

#include <boost/crc.hpp>

#include "cluster/decimal.hpp"

namespace sb::cluster {
namespace {

std::string_view text_of(const redisReply* r) {
  if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) {
    return {r->str, r->len};
  }
  return {};
}

std::optional<std::uint16_t> port_of(std::string_view text) {
  auto v = parse_decimal(text);
  if (!v || *v == 0 || *v > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(*v);
}

}  // namespace

std::uint16_t key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  // Redis Cluster's CRC16 is XMODEM: polynomial 0x1021, initial 0, no reflection, no final xor.
  // Boost.CRC computes it (already a dependency): nothing to hand-write.
  boost::crc_optimal<16, 0x1021, 0, 0, false, false> crc;
  crc.process_bytes(key.data(), key.size());
  return static_cast<std::uint16_t>(crc.checksum() % slot_count);
}

std::uint16_t topic_slot(std::string_view topic) {
  return key_slot("{" + std::string(topic) + "}");
}

std::optional<std::vector<slot_range>> parse_cluster_slots(const redisReply* r) {
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    return std::nullopt;
  }
  std::vector<slot_range> out;
  for (std::size_t i = 0; i < r->elements; ++i) {
    const auto* e = r->element[i];
    // [first, last, [host, port, id, ...], replicas...]
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER ||
        e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
        e->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
      return std::nullopt;
    }
    auto first = e->element[0]->integer;
    auto last = e->element[1]->integer;
    auto port = e->element[2]->element[1]->integer;
    if (first < 0 || last < first || last >= static_cast<long long>(slot_count) || port <= 0 ||
        port > 65535) {
      return std::nullopt;
    }
    slot_range s;
    s.first = static_cast<std::uint16_t>(first);
    s.last = static_cast<std::uint16_t>(last);
    s.host = std::string(text_of(e->element[2]->element[0]));
    if (s.host == "?") {
      s.host.clear();  // an endpoint Redis does not know (cluster-preferred-endpoint-type unknown)
    }
    s.port = static_cast<std::uint16_t>(port);
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<redirection> parse_redirection(std::string_view error) {
  redirection out;
  if (error.starts_with("MOVED ")) {
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    out.ask = true;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  auto sp = error.find(' ');
  if (sp == std::string_view::npos) {
    return std::nullopt;
  }
  auto slot = parse_decimal(error.substr(0, sp));
  auto at = error.substr(sp + 1);
  auto colon = at.rfind(':');  // the last one: an IPv6 address has its own
  if (!slot || *slot >= slot_count || colon == std::string_view::npos) {
    return std::nullopt;
  }
  auto port = port_of(at.substr(colon + 1));
  if (!port) {
    return std::nullopt;
  }
  out.slot = static_cast<std::uint16_t>(*slot);
  out.host = std::string(at.substr(0, colon));
  out.port = *port;
  return out;
}

}  // namespace sb::cluster
