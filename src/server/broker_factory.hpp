#pragma once
// Chooses the broker (config `broker`): the in-memory one (one node) or the Redis backplane.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/ticket_ledger.hpp"
#include "core/broker.hpp"
#include "core/history.hpp"
#include "core/history_store.hpp"
#include "core/memory_broker.hpp"
#include "core/presence.hpp"
#include "server/config.hpp"

namespace sb::cluster {
class redis_broker;
class redis_ticket_ledger;
}  // namespace sb::cluster

namespace sb::server {

struct broker_choice {
  std::unique_ptr<broker> hub;
  memory_broker* memory = nullptr;         // set with broker = memory
  cluster::redis_broker* redis = nullptr;  // set with broker = redis (started already)
  /// With broker = redis: where subscribe tickets live, so every node honours them (started
  /// already; `ticket_ledger` is the same object, to stop it before the loops go).
  std::unique_ptr<auth::ticket_ledger> tickets;
  cluster::redis_ticket_ledger* ticket_ledger = nullptr;
  std::string node_id;  // with broker = redis: this node's name in the cluster
  /// False while the backplane cannot be reached (always true in memory).
  std::function<bool()> ready;
  /// Prometheus lines of the backplane ("" in memory).
  std::function<std::string()> metrics;
  /// Some loop has subscribers of `topic` (the admin stats stream asks). Any thread.
  std::function<bool(std::string_view)> has_subscribers;
};

/// Throws std::runtime_error on a bad redis_url or an unreadable redis_password_file. With broker =
/// redis, `presence` (outliving the broker) holds the members of every node (presence_sync).
broker_choice make_broker(const config& c, message_encoder encode,
                          std::vector<delivery_sink*> sinks, std::function<std::int64_t()> now_ms,
                          history_store* store, presence_registry* presence = nullptr);

}  // namespace sb::server
