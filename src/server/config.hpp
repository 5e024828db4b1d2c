#pragma once
// The server's configuration as one table (STYLE.md habit 12): each entry is typed, bounded and
// documented once, and that entry drives the TOML file, the SWITCHBOARD_* environment variable,
// the command-line flag and --help. Later sources win: defaults < file < environment < flags.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/authority.hpp"
#include "cluster/settings.hpp"
#include "core/history.hpp"
#include "core/idempotency.hpp"
#include "core/message_limits.hpp"
#include "core/subscriber_settings.hpp"
#include "http/cors.hpp"
#include "http/limits.hpp"
#include "http/publish_limiter.hpp"
#include "server/connection_limits.hpp"
#include "server/drain.hpp"
#include "sse/settings.hpp"
#include "store/rocks_history_store.hpp"
#include "ws/settings.hpp"

namespace sb::server {

/// tls_listen, tls_cert_file, tls_key_file.
struct tls_settings {
  std::string listen;  // empty: no TLS port
  std::string cert_file;
  std::string key_file;
};

/// metrics_token, metrics_listen.
struct metrics_settings {
  std::string token;   // empty: /metrics needs no token
  std::string listen;  // empty: /metrics on the main port
};

/// Every setting, each in the struct of the layer that uses it: the app hands these structs over
/// as they are. Each default is written once, in its struct.
struct config {
  std::string listen = "127.0.0.1:8080";
  bool reuse_port = false;
  std::uint64_t threads = 0;  // 0: one loop per core
  bool dev = false;
  std::string log_level = "info";
  std::string log_format = "text";        // text or json lines
  std::string access_log_level = "info";  // off disables the access log
  std::uint64_t access_log_sample = 1;    // one access-log line in N
  http::limits http;
  message_limits messages;
  sse::settings sse;
  ws::settings ws;
  subscriber_settings subscribers;  // send_queue_*, slow_consumer_policies
  history_limits history;
  store::settings store;  // history_dir, history_fsync
  auth::authority_config auth;
  http::cors_settings cors;
  http::publish_rate http_publish;
  connection_settings connections;
  drain_settings drain;
  tls_settings tls;
  metrics_settings metrics;
  std::chrono::milliseconds presence_tick{50};  // presence changes announced once per tick
  std::string broker = "memory";  // memory: one node; redis: history and fan-out in Redis
  cluster::settings redis;        // with broker = redis (docs/scaling.md)
  /// An Idempotency-Key is remembered this long per topic (either broker).
  std::chrono::seconds idempotency_window = default_idempotency_window;
};

/// One setting: its public name (the TOML key; the flag is --key-with-dashes, the environment
/// variable SWITCHBOARD_KEY), where it lives in `config`, its bounds and its help.
struct config_entry {
  template <class T>
  using slot = T& (*)(config&);
  using member =
      std::variant<slot<bool>, slot<std::optional<bool>>, slot<std::uint64_t>, slot<std::int64_t>,
                   slot<unsigned>, slot<double>, slot<std::chrono::seconds>,
                   slot<std::chrono::milliseconds>, slot<std::string>,
                   slot<std::vector<std::string>>, slot<policy_table>>;
  std::string_view key;
  member field;
  std::uint64_t min = 0;  // numbers only, in the key's unit (`_s`: seconds, `_ms`: milliseconds)
  std::uint64_t max = 0;
  std::string_view help;
  bool secret = false;       // never echoed back (errors, --help defaults)
  std::string_view choices;  // strings only: the accepted values, comma-separated (empty: any)
  /// Plain numbers only: the field's units per unit of the key (1000 for a `_s` key stored in
  /// milliseconds). A duration field converts by its type instead.
  std::uint64_t scale = 1;
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
