#include "server/broker_factory.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <random>
#include <stdexcept>

#include "cluster/redis_broker.hpp"
#include "cluster/ticket_ledger.hpp"

namespace sb::server {
namespace {

std::string random_node_id() {
  std::random_device rd;
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 8; ++i) {
    id.push_back(hex[rd() % 16]);
  }
  return id;
}

}  // namespace

broker_choice make_broker(const config& c, message_encoder encode,
                          std::vector<delivery_sink*> sinks, std::function<std::int64_t()> now_ms,
                          history_store* store, presence_registry* presence) {
  broker_choice out;
  if (c.broker != "redis") {
    auto m = std::make_unique<memory_broker>(c.history, std::move(encode), std::move(sinks),
                                             std::move(now_ms), store);
    m->set_idempotency_window(std::chrono::milliseconds(c.idempotency_window).count());
    out.memory = m.get();
    out.hub = std::move(m);
    out.ready = [] { return true; };
    out.metrics = [] { return std::string(); };
    out.has_subscribers = [m = out.memory](std::string_view topic) {
      return m->has_subscribers(topic);
    };
    return out;
  }
  if (!c.store.dir.empty()) {
    throw std::runtime_error(
        "history_dir keeps one node's history; with broker = redis history "
        "lives in Redis: set one or the other");
  }
  std::string error;
  auto at = cluster::parse_redis_url(c.redis.url, error);
  if (!at) {
    throw std::runtime_error("redis_url: " + error);
  }
  if (!c.redis.password_file.empty()) {
    std::ifstream in(c.redis.password_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      throw std::runtime_error("redis_password_file = \"" + c.redis.password_file +
                               "\": cannot read it");
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
      line.pop_back();
    }
    at->password = line;
  }
  if (c.redis.cluster && (at->db != 0 || !at->unix_path.empty())) {
    // A cluster has database 0 only, and names its masters by address: the seed must be one too.
    throw std::runtime_error(
        "redis_cluster = true needs redis_url = redis://[user:password@]host:port (database 0)");
  }
  cluster::redis_settings s;
  s.at = *at;
  s.timeout = c.redis.timeout;
  s.node_id = c.redis.node_id.empty() ? random_node_id() : c.redis.node_id;
  s.limits = c.history;
  s.idempotency_window = c.idempotency_window;
  s.cluster = c.redis.cluster;
  s.presence = presence;
  s.presence_ttl = c.redis.presence_ttl;
  if (presence) {
    presence->track_local_changes();
  }
  auto r = std::make_unique<cluster::redis_broker>(s, std::move(encode), std::move(sinks));
  r->start();
  spdlog::info("broker = redis at {} (node {})", at->describe(), s.node_id);
  out.redis = r.get();
  out.node_id = s.node_id;
  out.ready = [r = out.redis] { return r->ready(); };
  // The admin stats stream is this node's own: computed each second while Redis is the broker (it
  // knows no local subscriber counts off its thread); a tick costs a post to each loop.
  out.has_subscribers = [](std::string_view) { return true; };
  out.hub = std::move(r);
  // With Redis Cluster a ticket's key may live on any master: the broker's routing finds it.
  auto ledger = s.cluster
                    ? std::make_unique<cluster::redis_ticket_ledger>(
                          s.at,
                          [b = out.redis](std::string key, std::vector<std::string> cmd,
                                          cluster::redis_connection::reply_handler done) {
                            b->key_command(std::move(key), std::move(cmd), std::move(done));
                          })
                    : std::make_unique<cluster::redis_ticket_ledger>(s.at, s.timeout, s.node_id);
  ledger->start();
  out.metrics = [r = out.redis, l = ledger.get()] { return r->metrics_text() + l->metrics_text(); };
  out.ticket_ledger = ledger.get();
  out.tickets = std::move(ledger);
  return out;
}

}  // namespace sb::server
