#pragma once
// The server's configuration as one table (STYLE.md habit 12): each entry is typed, bounded and
// documented once, and that entry drives the TOML file, the SWITCHBOARD_* environment variable,
// the command-line flag and --help. Later sources win: defaults < file < environment < flags.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sb::server {

struct config {
  std::string listen = "127.0.0.1:8080";
  bool reuse_port = false;
  std::uint64_t threads = 0;
  bool dev = false;
  std::string log_level = "info";
  std::uint64_t heartbeat_s = 15;
  std::uint64_t retry_ms = 2000;
  std::uint64_t max_message_bytes = 64 << 10;
  std::uint64_t max_request_bytes = 1 << 20;
  std::uint64_t max_header_bytes = 8 << 10;
  std::uint64_t max_topics_per_stream = 64;
  std::uint64_t header_timeout_ms = 10000;
  std::uint64_t idle_timeout_s = 60;
  std::uint64_t history_max_messages = 1000;
  std::uint64_t history_max_bytes = 4 << 20;
  std::uint64_t history_max_age_s = 3600;
  std::string history_dir;  // empty: history in memory only, lost on restart
  std::string history_fsync = "everysec";
  std::uint64_t history_max_memory_bytes = std::uint64_t{256} << 20;
  std::uint64_t send_queue_max_bytes = 8 << 20;
  std::uint64_t send_queue_soft_bytes = 1 << 20;
  std::uint64_t send_queue_soft_s = 10;
  std::uint64_t drain_timeout_s = 10;
  std::uint64_t drain_rate = 2000;
  std::vector<std::string> cors_origins;
  std::vector<std::string> slow_consumer_policies;
  std::uint64_t volatile_hz = 30;
  std::uint64_t ws_publish_rate = 100;
  std::uint64_t ws_publish_burst = 200;
  std::uint64_t ws_ping_interval_s = 25;
  std::uint64_t ws_message_timeout_ms = 10000;
  std::uint64_t max_topics_per_connection = 256;
  std::uint64_t presence_tick_ms = 50;
  // Auth (docs/api.md "Auth", "CORS").
  std::string jwt_secret;
  std::string jwt_public_key_file;
  std::string jwt_issuer;
  std::string jwt_audience;
  std::vector<std::string> api_keys;
  std::string auth_cookie = "switchboard_token";
  std::optional<bool>
      allow_anonymous_subscribe;  // unset: only in dev mode while no auth is configured
  std::optional<bool> allow_anonymous_publish;
  std::uint64_t ticket_ttl_s = 30;
  std::optional<bool> jwt_require_exp;  // unset: required outside dev mode
  std::uint64_t jwt_leeway_s = 60;
  std::uint64_t max_connections = 100000;
  std::uint64_t max_connections_per_ip = 10000;
  std::uint64_t http_publish_rate = 10000;  // per client (key, subject or address) per second
  std::uint64_t http_publish_burst = 20000;
  // TLS and HTTP/2.
  std::string tls_listen;  // empty: no TLS port
  std::string tls_cert_file;
  std::string tls_key_file;
  std::uint64_t h2_max_concurrent_streams = 256;
  std::uint64_t h2_max_header_list_size = 16 << 10;
  // Metrics.
  std::string metrics_token;   // empty: /metrics needs no token
  std::string metrics_listen;  // empty: /metrics on the main port
  // Broker and cluster (docs/scaling.md).
  std::string broker = "memory";  // memory: one node; redis: history and fan-out in Redis
  std::string redis_url = "redis://127.0.0.1:6379/0";
  std::string redis_password_file;  // the password, when not in redis_url
  bool redis_cluster = false;
  std::string node_id;  // empty: random per start
  std::uint64_t redis_timeout_ms = 1000;
  std::uint64_t idempotency_window_s = 300;

  /// True when any credential is configured (then anonymous access is off unless allowed).
  bool auth_configured() const {
    return !jwt_secret.empty() || !jwt_public_key_file.empty() || !api_keys.empty();
  }
};

struct config_entry {
  using member =
      std::variant<bool config::*, std::optional<bool> config::*, std::uint64_t config::*,
                   std::string config::*, std::vector<std::string> config::*>;
  std::string_view key;  // TOML name; the flag is --key-with-dashes, the env SWITCHBOARD_KEY
  member field;
  std::uint64_t min = 0;  // numbers only
  std::uint64_t max = 0;
  std::string_view help;
  bool secret = false;       // never echoed back (errors, --help defaults)
  std::string_view choices;  // strings only: the accepted values, comma-separated (empty: any)
};

/// Every setting, in --help order.
const std::vector<config_entry>& config_table();

/// The value of `entry` in `c` as config text ("15", "true", "unset", "a,b"); secrets as they are.
std::string shown_value(const config& c, const config_entry& entry);
/// True for flags that take no value (`--dev`, `--no-dev`).
bool is_boolean(const config_entry& entry);
/// What --help calls the value: SIZE, SECONDS, MILLISECONDS, N, HOST:PORT, FILE, LIST, a|b|c…
std::string value_name(const config_entry& entry);

std::string flag_name(std::string_view key);  // "heartbeat_s" -> "heartbeat-s"
std::string env_name(std::string_view key);   // "heartbeat_s" -> "SWITCHBOARD_HEARTBEAT_S"

/// What loading produced: a config, or the message that explains why the server will not start
/// (and `help` when --help was asked, with the text to print).
struct load_result {
  config value;
  std::string error;
  std::string help;
};

/// Reads flags (argv), the file named by --config, and the environment.
load_result load_config(int argc, const char* const* argv);

}  // namespace sb::server
