#pragma once
// What the Redis backplane is configured with: the struct the config table fills (redis_url,
// redis_password_file, redis_cluster, redis_timeout_ms, node_id, presence_ttl_s), used with
// broker = redis.
#include <chrono>
#include <string>

namespace sb::cluster {

struct settings {
  std::string url = "redis://127.0.0.1:6379/0";  // a secret: it may hold the password
  std::string password_file;                     // the password, when not in url
  bool cluster = false;                          // Redis Cluster (sharded pub/sub, slot map)
  std::chrono::milliseconds timeout{1000};       // a command, connect or keep-alive
  std::string node_id;                           // empty: random per start
  std::chrono::seconds presence_ttl{15};         // a dead node's members leave within this
};

}  // namespace sb::cluster
