#include "server/config.hpp"

#include "server/config_file_text.hpp"
#include "server/config_help.hpp"

#include <toml++/toml.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <optional>

namespace sb::server {
namespace {

constexpr std::uint64_t unbounded = UINT64_MAX;

/// Where an entry lives: field<&config::http, &http::limits::max_header_bytes>() names
/// config.http.max_header_bytes (a path of members, as deep as the struct nests).
template <auto... path>
config_entry::member field() {
  return +[](config & c) -> auto& {
    return (c.*....*path);
  };
}

template <class T>
using field_type = std::remove_cvref_t<decltype(std::declval<T>()(std::declval<config&>()))>;

template <class T>
constexpr bool is_duration = false;
template <class Rep, class Period>
constexpr bool is_duration<std::chrono::duration<Rep, Period>> = true;

/// Fields that take a number: integers, rates (double) and durations.
template <class T>
constexpr bool is_number = is_duration<T> || std::is_same_v<T, double> ||
                           (std::is_integral_v<T> && !std::is_same_v<T, bool>);

/// A number of the key's unit into the field (`_s` into a milliseconds field is * 1000).
template <class T>
T to_field(const config_entry& entry, std::uint64_t v) {
  if constexpr (is_duration<T>) {
    if (entry.key.ends_with("_ms")) {
      return std::chrono::duration_cast<T>(std::chrono::milliseconds(v));
    }
    return std::chrono::duration_cast<T>(std::chrono::seconds(v));
  } else {
    return static_cast<T>(v * entry.scale);
  }
}

/// The field back in the key's unit.
template <class T>
std::uint64_t from_field(const config_entry& entry, const T& v) {
  if constexpr (is_duration<T>) {
    if (entry.key.ends_with("_ms")) {
      return static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(v).count());
    }
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(v).count());
  } else {
    return static_cast<std::uint64_t>(v) / entry.scale;
  }
}

/// A raw value from one source, and which source, for error messages.
struct raw_value {
  std::string text;
  std::string origin;
};

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto piece = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!piece.empty() && piece.front() == ' ')
      piece.remove_prefix(1);
    while (!piece.empty() && piece.back() == ' ')
      piece.remove_suffix(1);
    if (!piece.empty()) {
      out.emplace_back(piece);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return out;
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

/// "65536", "64K", "64KiB", "1M", "1MiB", "2G", "2GiB" (powers of 1024; the letter in any case).
std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto digits = text.find_first_not_of("0123456789");
  auto number = parse_number(text.substr(0, digits));
  if (!number || digits == std::string_view::npos) {
    return number;
  }
  auto unit = text.substr(digits);
  int shift = 0;
  switch (unit.front()) {
    case 'k':
    case 'K':
      shift = 10;
      break;
    case 'm':
    case 'M':
      shift = 20;
      break;
    case 'g':
    case 'G':
      shift = 30;
      break;
    default:
      return std::nullopt;
  }
  unit.remove_prefix(1);
  if (!unit.empty() && unit != "iB" && unit != "B") {
    return std::nullopt;
  }
  if (*number > (UINT64_MAX >> shift)) {
    return std::nullopt;
  }
  return *number << shift;
}

/// A number of bytes, which takes K, M and G: `*_bytes`, and `h2_max_header_list_size`.
bool is_size(const config_entry& entry) {
  return entry.key.ends_with("_bytes") || entry.key.ends_with("_size");
}

/// Applies `raw` to `entry`'s field; an error message, or empty on success.
std::string apply(config& c, const config_entry& entry, const raw_value& raw) {
  auto shown = entry.secret ? std::string("…") : raw.text;
  auto where = std::string(entry.key) + " = \"" + shown + "\" (from " + raw.origin + ")";
  return std::visit(
      [&](auto slot) -> std::string {
        auto& value = slot(c);
        using T = std::remove_cvref_t<decltype(value)>;
        if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::optional<bool>>) {
          if (raw.text == "true" || raw.text == "1" || raw.text == "yes" || raw.text == "on") {
            value = true;
          } else if (raw.text == "false" || raw.text == "0" || raw.text == "no" ||
                     raw.text == "off") {
            value = false;
          } else {
            return "config: " + where + ": must be true or false";
          }
        } else if constexpr (is_number<T>) {
          bool size = is_size(entry);
          auto v = size ? parse_size(raw.text) : parse_number(raw.text);
          if (!v || *v < entry.min || *v > entry.max) {
            return "config: " + where + ": must be a whole number from " +
                   std::to_string(entry.min) + " to " +
                   (entry.max == unbounded ? std::string("any") : std::to_string(entry.max)) +
                   (size ? " (bytes; K, M or G for KiB, MiB, GiB)" : "");
          }
          value = to_field<T>(entry, *v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          auto choices = split_list(entry.choices);
          if (!choices.empty() &&
              std::find(choices.begin(), choices.end(), raw.text) == choices.end()) {
            return "config: " + where + ": must be one of " + std::string(entry.choices);
          }
          value = raw.text;
        } else if constexpr (std::is_same_v<T, policy_table>) {
          std::string error;
          auto table = policy_table::parse(split_list(raw.text), error);
          if (!table) {
            return "config: " + where + ": " + error;
          }
          value = std::move(*table);
        } else {
          value = split_list(raw.text);
        }
        return {};
      },
      entry.field);
}

std::optional<std::string> toml_list(const toml::node& node);

/// The text form of a TOML value, when its type is the one `entry` takes (a list also takes one
/// string); nullopt otherwise.
std::optional<std::string> toml_text(const config_entry& entry, const toml::node& node) {
  return std::visit(
      [&](auto slot) -> std::optional<std::string> {
        using T = field_type<decltype(slot)>;
        if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::optional<bool>>) {
          if (auto b = node.value_exact<bool>())
            return *b ? "true" : "false";
        } else if constexpr (is_number<T>) {
          if (auto i = node.value_exact<std::int64_t>())
            return std::to_string(*i);
          if (is_size(entry)) {
            if (auto text = node.value_exact<std::string>())
              return *text;  // "64KiB"
          }
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (auto s = node.value_exact<std::string>())
            return *s;
        } else {
          if (auto s = node.value_exact<std::string>())
            return *s;
          return toml_list(node);
        }
        return std::nullopt;
      },
      entry.field);
}

std::optional<std::string> toml_list(const toml::node& node) {
  if (const auto* arr = node.as_array()) {
    std::string out;
    for (const auto& item : *arr) {
      auto s = item.value<std::string>();
      if (!s)
        return std::nullopt;
      out += (out.empty() ? "" : ",") + *s;
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace

const std::vector<config_entry>& config_table() {
  static const std::vector<config_entry> table = {
      {"listen", field<&config::listen>(), 0, 0, "address to accept on, HOST:PORT"},
      {"reuse_port", field<&config::reuse_port>(), 0, 0,
       "share listen addresses with another switchboard process already serving them "
       "(zero-downtime handover: start the new one, then SIGTERM the old); otherwise a busy "
       "address refuses to start"},
      {"threads", field<&config::threads>(), 0, 64, "event loops (0: one per core)"},
      {"dev", field<&config::dev>(), 0, 0,
       "dev mode: demo page at /, anonymous access while no auth is configured"},
      {"log_level", field<&config::log_level>(), 0, 0, "trace, debug, info, warn, error, off",
       false, "trace, debug, info, warn, error, off"},
      {"log_format", field<&config::log_format>(), 0, 0,
       "text (human-readable) or json (one JSON object a line: ts, level, logger, msg and the "
       "access log's fields)",
       false, "text,json"},
      {"access_log_level", field<&config::access_log_level>(), 0, 0,
       "level of the access log's lines (one per answered request, one per ended stream); off "
       "disables it, and a level below log_level hides it",
       false, "trace,debug,info,warn,error,off"},
      {"access_log_sample", field<&config::access_log_sample>(), 1, 1000000,
       "write 1 access-log line in N (per loop); answers >= 400 and streams ended by an error or "
       "a slow consumer are always written"},
      {"heartbeat_s", field<&config::sse, &sse::settings::heartbeat>(), 1, 3600,
       "seconds between SSE heartbeat comments"},
      {"retry_ms", field<&config::sse, &sse::settings::retry_ms>(), 100, 600000,
       "the retry: an SSE stream starts with, jittered per stream to [retry_ms, 2 × retry_ms)"},
      {"max_message_bytes", field<&config::messages, &message_limits::max_message_bytes>(), 1,
       16 << 20, "largest message data (413 over it)"},
      {"max_request_bytes", field<&config::http, &http::limits::max_request_bytes>(), 1024,
       64 << 20, "largest request body, e.g. a batch publish (413 over it)"},
      {"max_header_bytes", field<&config::http, &http::limits::max_header_bytes>(), 1024, 1 << 20,
       "largest request head; chunk extensions (413) and trailers count against it too (431 over "
       "it)"},
      {"max_topics_per_stream", field<&config::http, &http::limits::max_topics_per_stream>(), 1,
       1024, "topics one SSE stream may name"},
      {"header_timeout_ms", field<&config::http, &http::limits::header_timeout>(), 100, 600000,
       "a request head must arrive within this (408)"},
      {"idle_timeout_s", field<&config::http, &http::limits::idle_timeout>(), 1, 86400,
       "idle keep-alive connections are closed after this"},
      {"history_max_messages", field<&config::history, &history_limits::max_messages>(), 0,
       10000000, "messages kept per topic"},
      {"history_max_bytes", field<&config::history, &history_limits::max_bytes>(), 0, unbounded,
       "bytes kept per topic"},
      {"history_max_age_s", field<&config::history, &history_limits::max_age_ms>(), 1, 365 * 86400,
       "seconds a message is kept", false, "", 1000},
      {"history_max_memory_bytes", field<&config::history, &history_limits::max_memory_bytes>(),
       1 << 20, unbounded,
       "bytes of history kept across all topics; over it the oldest messages of any topic are "
       "evicted (resuming from them is a gap)"},
      {"history_dir", field<&config::store, &store::settings::dir>(), 0, 0,
       "directory that keeps history, retained messages and epochs across restarts (empty: in "
       "memory only)"},
      {"history_fsync", field<&config::store, &store::settings::fsync>(), 0, 0,
       "with history_dir: always (a publish is answered once on disk), everysec (synced within a "
       "second), no (when the OS likes)",
       false, "always, everysec, no"},
      {"send_queue_max_bytes",
       field<&config::subscribers, &subscriber_settings::backlog, &backlog_limits::hard_bytes>(),
       4096, 1 << 30,
       "hard bound on what a subscriber may have waiting: over it, its topic's slow-consumer "
       "policy applies at once"},
      {"send_queue_soft_bytes",
       field<&config::subscribers, &subscriber_settings::backlog, &backlog_limits::soft_bytes>(),
       4096, 1 << 30,
       "soft bound on what a subscriber may have waiting: over it for send_queue_soft_s without a "
       "break, the policy applies (no effect at or over send_queue_max_bytes)"},
      {"send_queue_soft_s",
       field<&config::subscribers, &subscriber_settings::backlog, &backlog_limits::soft_for>(), 1,
       3600, "seconds a subscriber may stay over send_queue_soft_bytes"},
      {"drain_timeout_s", field<&config::drain, &drain_settings::timeout>(), 1, 3600,
       "SIGTERM: exit within this"},
      {"drain_rate", field<&config::drain, &drain_settings::rate>(), 1, 10000000,
       "SIGTERM: streams closed per second"},
      {"cors_origins", field<&config::cors, &http::cors_settings::origins>(), 0, 0,
       "allowed browser origins, comma-separated (* for any, without credentials); the auth cookie "
       "counts only from these and this host"},
      {"slow_consumer_policies", field<&config::subscribers, &subscriber_settings::policies>(), 0,
       0,
       "per-topic policy over the send queue bound, PATTERN=resume|latest|drop, comma-separated; "
       "first match wins, resume otherwise"},
      {"volatile_hz", field<&config::ws, &ws::settings::volatile_hz>(), 1, 1000,
       "volatile messages per sender per topic per second (latest wins in between)"},
      {"ws_publish_rate", field<&config::ws, &ws::settings::publish_rate>(), 1, 1000000,
       "stored publishes per second per WebSocket connection (1008 over it)"},
      {"ws_publish_burst", field<&config::ws, &ws::settings::publish_burst>(), 1, 1000000,
       "burst allowance for ws_publish_rate"},
      {"ws_ping_interval_s", field<&config::ws, &ws::settings::ping_interval>(), 1, 3600,
       "WebSocket ping interval; a peer silent for two is closed"},
      {"ws_message_timeout_ms", field<&config::ws, &ws::settings::message_timeout>(), 100, 3600000,
       "a WebSocket frame or fragmented message, once started, must end within this (1008)"},
      {"ws_deflate", field<&config::ws, &ws::settings::deflate, &ws::deflate_settings::enabled>(),
       0, 0,
       "negotiate permessage-deflate (RFC 7692) when a WebSocket client offers it: each message is "
       "compressed once for every subscriber"},
      {"ws_deflate_min_bytes",
       field<&config::ws, &ws::settings::deflate, &ws::deflate_settings::min_bytes>(), 0, 1 << 30,
       "WebSocket messages shorter than this go out uncompressed"},
      {"ws_deflate_level",
       field<&config::ws, &ws::settings::deflate, &ws::deflate_settings::level>(), 1, 9,
       "zlib compression level of permessage-deflate (paid once per message)"},
      {"ws_deflate_client_window_bits",
       field<&config::ws, &ws::settings::deflate, &ws::deflate_settings::client_window_bits>(), 8,
       15,
       "client_max_window_bits answered to a client that offers it: at most 2^bits bytes of its "
       "past messages are kept per connection"},
      {"ws_deflate_client_takeover",
       field<&config::ws, &ws::settings::deflate, &ws::deflate_settings::client_context_takeover>(),
       0, 0,
       "let clients compress against their past messages (false: answer "
       "client_no_context_takeover, and keep nothing per connection)"},
      {"max_topics_per_connection", field<&config::ws, &ws::settings::max_topics>(), 1, 100000,
       "topics one WebSocket connection may subscribe or join"},
      {"presence_tick_ms", field<&config::presence_tick>(), 10, 10000,
       "presence changes are announced once per tick, coalesced"},
      {"jwt_secret", field<&config::auth, &auth::authority_config::jwt_secret>(), 0, 0,
       "HS256 secret for JWTs", true},
      {"jwt_public_key_file", field<&config::auth, &auth::authority_config::jwt_public_key_file>(),
       0, 0, "PEM public key for RS256/ES256 JWTs (reloaded on SIGHUP)"},
      {"jwt_issuer", field<&config::auth, &auth::authority_config::jwt_issuer>(), 0, 0,
       "required `iss` when set"},
      {"jwt_audience", field<&config::auth, &auth::authority_config::jwt_audience>(), 0, 0,
       "required `aud` when set"},
      {"jwt_require_exp", field<&config::auth, &auth::authority_config::jwt_require_exp>(), 0, 0,
       "refuse a JWT without `exp` (401) (unset: true, false in dev mode)"},
      {"jwt_leeway_s", field<&config::auth, &auth::authority_config::jwt_leeway>(), 0, 3600,
       "clock skew allowed on a JWT's `exp` and `nbf`"},
      {"api_keys", field<&config::auth, &auth::authority_config::api_keys>(), 0, 0,
       "static API keys for backends, comma-separated (Authorization: Bearer <key>)", true},
      {"admin_api_keys", field<&config::auth, &auth::authority_config::admin_api_keys>(), 0, 0,
       "keys for the admin page, /v1/topics and the stats stream, comma-separated "
       "(Authorization: Bearer <key>); they grant no topic",
       true},
      {"admin_session_ttl_s", field<&config::auth, &auth::authority_config::admin_session_ttl>(),
       60, 7 * 24 * 3600, "lifetime of the admin page's sign-in cookie"},
      {"auth_cookie", field<&config::auth, &auth::authority_config::cookie>(), 0, 0,
       "cookie that may carry a JWT"},
      {"allow_anonymous_subscribe",
       field<&config::auth, &auth::authority_config::anonymous_subscribe>(), 0, 0,
       "subscribe without credentials (unset: only in dev mode while no auth is configured)"},
      {"allow_anonymous_publish",
       field<&config::auth, &auth::authority_config::anonymous_publish>(), 0, 0,
       "publish without credentials (unset: only in dev mode while no auth is configured)"},
      {"ticket_ttl_s", field<&config::auth, &auth::authority_config::ticket_ttl>(), 1, 3600,
       "lifetime of a subscribe ticket"},
      {"max_connections", field<&config::connections, &connection_settings::max_connections>(), 1,
       10000000,
       "open connections in all (429 over it); capped at the open-file limit less a reserve, as "
       "the start line says"},
      {"max_connections_per_ip",
       field<&config::connections, &connection_settings::max_connections_per_ip>(), 1, 10000000,
       "open connections per client address (429 over it)"},
      {"http_publish_rate", field<&config::http_publish, &http::publish_rate::rate>(), 1, 10000000,
       "HTTP publishes per second per client: API key, token subject or address (429 over it)"},
      {"http_publish_burst", field<&config::http_publish, &http::publish_rate::burst>(), 1,
       10000000, "burst allowance for http_publish_rate"},
      {"tls_listen", field<&config::tls, &tls_settings::listen>(), 0, 0,
       "TLS port, HOST:PORT (empty: off); ALPN offers h2 and http/1.1"},
      {"tls_cert_file", field<&config::tls, &tls_settings::cert_file>(), 0, 0,
       "PEM certificate chain for tls_listen (reloaded on SIGHUP)"},
      {"tls_key_file", field<&config::tls, &tls_settings::key_file>(), 0, 0,
       "PEM private key for tls_listen (reloaded on SIGHUP)"},
      {"h2_max_concurrent_streams",
       field<&config::http, &http::limits::h2_max_concurrent_streams>(), 1, 100000,
       "HTTP/2 streams one connection may have open (SETTINGS_MAX_CONCURRENT_STREAMS)"},
      {"h2_max_header_list_size", field<&config::http, &http::limits::h2_max_header_list_size>(),
       1024, 1 << 20, "largest HTTP/2 request header list, RFC 9113 size (431 over it)"},
      {"metrics_token", field<&config::metrics, &metrics_settings::token>(), 0, 0,
       "when set, GET /metrics needs Authorization: Bearer <metrics_token> (401 otherwise)", true},
      {"metrics_listen", field<&config::metrics, &metrics_settings::listen>(), 0, 0,
       "separate HOST:PORT for /metrics, /healthz and /readyz only (empty: /metrics on the main "
       "port; set: the main port answers /metrics 404)"},
      {"broker", field<&config::broker>(), 0, 0,
       "where history and fan-out live: memory (this node alone) or redis (any node serves any "
       "client; see docs/scaling.md)",
       false, "memory, redis"},
      {"redis_url", field<&config::redis, &cluster::settings::url>(), 0, 0,
       "with broker = redis: redis://[user:password@]host:port/db or unix:///path[?db=N]", true},
      {"redis_password_file", field<&config::redis, &cluster::settings::password_file>(), 0, 0,
       "file holding the Redis password (its first line), when not in redis_url"},
      {"redis_cluster", field<&config::redis, &cluster::settings::cluster>(), 0, 0,
       "Redis Cluster: redis_url names any master (database 0); the slot map is read from it, "
       "each topic lives in one slot and fans out with sharded pub/sub (docs/scaling.md)"},
      {"node_id", field<&config::redis, &cluster::settings::node_id>(), 0, 0,
       "this node's name in Redis client names and logs (empty: random per start)"},
      {"redis_timeout_ms", field<&config::redis, &cluster::settings::timeout>(), 50, 60000,
       "a Redis command, connect or keep-alive unanswered for this fails (publish: 503) and the "
       "connection is remade"},
      {"presence_ttl_s", field<&config::redis, &cluster::settings::presence_ttl>(), 2, 3600,
       "with broker = redis: the members of a node that stops answering (killed, cut off) leave "
       "every other node's presence within this; a live node refreshes its liveness every "
       "presence_ttl_s / 6"},
      {"idempotency_window_s", field<&config::idempotency_window>(), 1, 86400,
       "seconds an Idempotency-Key (WebSocket idem) is remembered per topic, by either broker"},
  };
  return table;
}

std::string shown_value(const config& c, const config_entry& entry) {
  // The slot only projects a member; it writes nothing.
  auto& mutable_config = const_cast<config&>(c);
  auto list = [](const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items)
      out += (out.empty() ? "" : ",") + item;
    return out;
  };
  return std::visit(
      [&](auto slot) -> std::string {
        const auto& value = slot(mutable_config);
        using T = std::remove_cvref_t<decltype(value)>;
        if constexpr (std::is_same_v<T, bool>) {
          return value ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::optional<bool>>) {
          return value ? (*value ? "true" : "false") : "unset";
        } else if constexpr (is_number<T>) {
          return std::to_string(from_field(entry, value));
        } else if constexpr (std::is_same_v<T, std::string>) {
          return value;
        } else if constexpr (std::is_same_v<T, policy_table>) {
          return list(value.items());
        } else {
          return list(value);
        }
      },
      entry.field);
}

bool is_boolean(const config_entry& entry) {
  return std::holds_alternative<config_entry::slot<bool>>(entry.field) ||
         std::holds_alternative<config_entry::slot<std::optional<bool>>>(entry.field);
}

std::string value_name(const config_entry& entry) {
  auto ends_with = [&](std::string_view suffix) { return entry.key.ends_with(suffix); };
  if (is_boolean(entry)) {
    return "";
  }
  if (std::holds_alternative<config_entry::slot<std::vector<std::string>>>(entry.field) ||
      std::holds_alternative<config_entry::slot<policy_table>>(entry.field)) {
    return "LIST";
  }
  bool number =
      std::visit([](auto slot) { return is_number<field_type<decltype(slot)>>; }, entry.field);
  if (number) {
    if (is_size(entry))
      return "SIZE";
    if (ends_with("_ms"))
      return "MILLISECONDS";
    if (ends_with("_s"))
      return "SECONDS";
    return "N";
  }
  if (!entry.choices.empty()) {
    std::string out;
    for (const auto& choice : split_list(entry.choices))
      out += (out.empty() ? "" : "|") + choice;
    return out;
  }
  if (entry.key == "listen" || ends_with("_listen"))
    return "HOST:PORT";
  if (ends_with("_file"))
    return "FILE";
  if (ends_with("_dir"))
    return "DIR";
  if (ends_with("_url"))
    return "URL";
  if (entry.secret)
    return "SECRET";
  return "STRING";
}

std::string flag_name(std::string_view key) {
  std::string out(key);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

std::string env_name(std::string_view key) {
  std::string out = "SWITCHBOARD_";
  for (char c : key)
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

load_result load_config(int argc, const char* const* argv) {
  load_result out;
  const auto& table = config_table();

  CLI::App app{"Switchboard: a realtime hub (SSE and WebSocket on one topic model)", "switchboard"};
  app.set_help_flag();
  bool want_help = false;
  bool want_version = false;
  bool want_reference = false;
  app.add_flag("-h,--help", want_help);
  app.add_flag("--version", want_version);
  app.add_flag("--config-reference", want_reference);
  bool want_config_text = false;
  app.add_flag("--print-config", want_config_text);
  std::string config_file;
  app.add_option("--config", config_file);
  // One option per table entry; a boolean also gets its --no-… form. The help text is ours
  // (help_text below): CLI11's names every value TEXT and does not wrap.
  std::map<std::string, std::string> flag_values;
  std::map<std::string, CLI::Option*> set_options;
  std::map<std::string, CLI::Option*> unset_flags;
  for (const auto& e : table) {
    auto key = std::string(e.key);
    auto name = "--" + flag_name(e.key);
    if (is_boolean(e)) {
      set_options[key] = app.add_option(name, flag_values[key])->expected(0, 1);
      unset_flags[key] = app.add_flag("--no-" + flag_name(e.key));
    } else {
      set_options[key] = app.add_option(name, flag_values[key]);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    out.error = std::string("command line: ") + err.what() + " (see --help)";
    return out;
  }
  if (want_help) {
    out.help = help_text(out.value);
    return out;
  }
  if (want_version) {
    out.help = version_text();
    return out;
  }
  if (want_reference) {
    out.help = config_reference();
    return out;
  }

  std::map<std::string, raw_value> chosen;  // key -> winning raw value
  if (!config_file.empty()) {
    toml::table file;
    try {
      file = toml::parse_file(config_file);
    } catch (const toml::parse_error& err) {
      out.error = "config file " + config_file + ": " + std::string(err.description());
      return out;
    }
    for (const auto& [key, node] : file) {
      auto name = key.str();  // (a structured binding cannot be captured by clang 14)
      auto it =
          std::find_if(table.begin(), table.end(), [name](const auto& e) { return e.key == name; });
      if (it == table.end()) {
        out.error =
            "config file " + config_file + ": unknown key \"" + std::string(key.str()) + "\"";
        return out;
      }
      auto text = toml_text(*it, node);
      if (!text) {
        out.error = "config file " + config_file + ": " + std::string(key.str()) +
                    " has a value of the wrong type";
        return out;
      }
      chosen[std::string(key.str())] = {*text, config_file};
    }
  }
  for (const auto& e : table) {
    if (const char* v = std::getenv(env_name(e.key).c_str())) {
      chosen[std::string(e.key)] = {v, env_name(e.key)};
    }
  }
  for (const auto& e : table) {
    auto key = std::string(e.key);
    auto name = "--" + flag_name(e.key);
    if (auto no = unset_flags.find(key); no != unset_flags.end() && no->second->count() > 0) {
      chosen[key] = {"false", "--no-" + flag_name(e.key)};
    } else if (set_options[key]->count() == 0) {
      continue;
    } else if (is_boolean(e) && flag_values[key].empty()) {
      chosen[key] = {"true", name};
    } else {
      chosen[key] = {flag_values[key], name};
    }
  }
  for (const auto& e : table) {
    if (auto it = chosen.find(std::string(e.key)); it != chosen.end()) {
      if (auto err = apply(out.value, e, it->second); !err.empty()) {
        out.error = err;
        return out;
      }
    }
  }
  if (want_config_text) {
    out.help = config_file_text(out.value);
  }
  return out;
}

}  // namespace sb::server
