#include "server/app.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "auth/authority.hpp"
#include "cluster/presence_sync.hpp"
#include "cluster/redis_broker.hpp"
#include "cluster/ticket_ledger.hpp"
#include "core/memory_broker.hpp"
#include "core/publish.hpp"
#include "core/unix_ms.hpp"
#include "http/publish_limiter.hpp"
#include "http/services.hpp"
#include "http/session.hpp"
#include "io/listener.hpp"
#include "io/tls.hpp"
#include "server/admin_stats.hpp"
#include "server/broker_factory.hpp"
#include "server/connection_limits.hpp"
#include "server/dev_llm.hpp"
#include "server/fd_limit.hpp"
#include "server/logging.hpp"
#include "server/metrics.hpp"
#include "server/version.hpp"
#include "server/web_assets.hpp"
#include "server/worker.hpp"
#include "sse/encoder.hpp"
#include "store/rocks_history_store.hpp"
#include "ws/protocol.hpp"

namespace sb::server {
namespace {

using namespace std::chrono_literals;

// The metrics_listen port's own connection limits (scrapers and probes, not clients).
constexpr std::uint64_t metrics_max_connections = 64;
constexpr std::uint64_t metrics_max_connections_per_ip = 16;
// Sweeps fall on a grid of this (expirations due within it share one wake-up), so a message
// outlives history_max_age_s by less than this.
constexpr auto history_sweep_interval = 1s;
constexpr auto stats_interval = 1s;
// The stats ticker goes on this long after the last watcher was seen (the one that asked may not
// be subscribed yet when the first tick comes).
constexpr auto stats_grace = 3s;
// Expired history is freed in the middle of the heap, where glibc keeps it for reuse rather than
// handing it back; once sweeps have freed this much, ask it to, so an idle server's RSS goes down.
// (Evictions are not counted: a publish over the bound reuses what it evicts.)
constexpr std::size_t history_trim_threshold = 16 << 20;

void return_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

/// The address a person on this machine opens for `at` (a wildcard address means this host).
std::string browser_url(const boost::asio::ip::tcp::endpoint& at) {
  auto address = at.address();
  if (address.is_unspecified()) {
    address = address.is_v6() ? boost::asio::ip::address(boost::asio::ip::address_v6::loopback())
                              : boost::asio::ip::address(boost::asio::ip::address_v4::loopback());
  }
  auto host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return "http://" + host + ":" + std::to_string(at.port()) + "/";
}

/// `key` names the setting in errors (listen, tls_listen, metrics_listen).
boost::asio::ip::tcp::endpoint parse_listen(const std::string& text,
                                            std::string_view key = "listen") {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    throw std::runtime_error(std::string(key) + " = \"" + text + "\": expected HOST:PORT");
  }
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  unsigned long port = 0;
  try {
    port = std::stoul(text.substr(colon + 1));
  } catch (...) {
    port = 70000;
  }
  if (ec || port > 65535) {
    throw std::runtime_error(
        std::string(key) + " = \"" + text +
        "\": expected HOST:PORT with a numeric address and a port up to 65535");
  }
  return {address, static_cast<unsigned short>(port)};
}

/// Starts the HTTP session of an accepted connection (cleartext or TLS), or refuses it over a
/// connection limit.
void accept(const io::connection_ptr& c, http::loop_services& ctx, http::handoff& to,
            const std::shared_ptr<connection_limits>& limits) {
  if (!limits->admit(c->peer().address())) {
    c->start(std::make_unique<http::refusal>(*c));
    c->send(
        http::serialize(http::response::error(errc::rate_limited, "too many connections"), false));
    c->close_after_flush();
    return;
  }
  c->hold(*limits);
  auto session = std::make_unique<http::session>(*c, ctx, to);
  auto* raw = session.get();
  c->start(std::move(session));
  raw->start();
}

}  // namespace

struct app::shared_state {
  std::shared_ptr<connection_limits> limits;
  std::unique_ptr<auth::authority> auth;
  std::unique_ptr<http::publish_limiter> publish_limits;
  std::unique_ptr<history_store> store;  // history_dir; outlives the broker
  broker_choice broker;                  // memory or Redis (broker_factory)
  std::unique_ptr<io::tls_context> tls;
  message_encoder encode = [](message& m) {
    sse::encode_message(m);
    ws::encode_message(m);
  };
  presence_registry presence;
  std::optional<http::services> services;
  std::optional<http::services> metrics_services;  // the metrics_listen port's: status only
  std::shared_ptr<connection_limits> metrics_limits;
};

/// The stats ticker's memory between ticks (control thread only).
struct app::stats_state {
  std::optional<stats_sample> previous;  // counters of the last tick, for the rates
};

struct app::control_state {
  boost::asio::io_context context;
  boost::asio::signal_set signals{context, SIGTERM, SIGINT};
  boost::asio::signal_set hangups{context, SIGHUP};
  boost::asio::steady_timer presence_timer{context};
  boost::asio::steady_timer history_timer{context};
  boost::asio::steady_timer drain_timer{context};
  boost::asio::steady_timer stats_timer{context};
  // Presence ticks and history sweeps fall on grids from run() on, as periodic timers would: a
  // presence change waits for the next grid point, and changes between two points go out together.
  std::chrono::steady_clock::time_point grid_epoch = std::chrono::steady_clock::now();
  /// The first point at or after `at` of the grid of `step` from grid_epoch.
  std::chrono::steady_clock::time_point on_grid(std::chrono::steady_clock::time_point at,
                                                std::chrono::milliseconds step) const {
    const auto grain = std::chrono::duration_cast<std::chrono::steady_clock::duration>(step);
    auto points = (at - grid_epoch + grain - std::chrono::steady_clock::duration(1)) / grain;
    return grid_epoch + points * grain;
  }
  bool presence_armed = false;
  bool stats_running = false;
  std::chrono::steady_clock::time_point stats_watched;  // the last watcher asked or was seen
  std::size_t swept_since_trim = 0;
  std::chrono::steady_clock::time_point drain_deadline;
  bool hurried = false;
};

app::app(config c)
    : config_(std::move(c)),
      endpoint_(parse_listen(config_.listen)),
      stats_(std::make_unique<stats_state>()),
      shared_(std::make_unique<shared_state>()),
      control_(std::make_unique<control_state>()) {
  start_time_s_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  make_auth();
  // Before anything can join (the Redis broker applies other nodes' members from its thread).
  shared_->presence.on_change(
      [this] { boost::asio::post(control_->context, [this] { arm_presence(); }); });
  make_workers_and_broker();
  if (!config_.metrics.listen.empty()) {
    metrics_endpoint_ = parse_listen(config_.metrics.listen, "metrics_listen");
  }
  make_services();
  make_tls();
  reserve_descriptors();
  open_listeners();
}

app::~app() {
  // The Redis broker's thread delivers to the workers' sinks and posts answers to their loops: it
  // stops before they go (the workers are destroyed first).
  if (shared_ && shared_->broker.redis) {
    shared_->broker.redis->stop();
  }
  if (shared_ && shared_->broker.ticket_ledger) {
    shared_->broker.ticket_ledger->stop();
  }
}

void app::make_auth() {
  auto resolved = config_.auth.resolved(config_.dev);
  if (!config_.dev && !config_.auth.configured() && !*resolved.anonymous_publish) {
    throw std::runtime_error(
        "no credentials are configured, so nobody could publish: set api_keys, jwt_secret or "
        "jwt_public_key_file, "
        "or allow_anonymous_publish = true to publish without credentials (or run with --dev)");
  }
  if (!config_.dev && config_.auth.anonymous_publish.value_or(false)) {
    spdlog::warn("allow_anonymous_publish = true: anyone who can reach {} may publish",
                 config_.listen);
  }
  std::string error;
  auto authority = auth::authority::create(resolved, error);
  if (!authority) {
    throw std::runtime_error(error);
  }
  shared_->auth = std::move(*authority);
  shared_->publish_limits = std::make_unique<http::publish_limiter>(config_.http_publish);
}

void app::make_workers_and_broker() {
  // At most 64 loops: the broker keeps which loops want a topic in one 64-bit mask.
  auto threads =
      config_.threads ? config_.threads : std::clamp(std::thread::hardware_concurrency(), 1u, 64u);
  std::vector<delivery_sink*> sinks;
  for (std::size_t i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<worker>(i));
    sinks.push_back(workers_.back().get());
  }
  auto fsync = config_.store.mode();
  if (!config_.store.dir.empty()) {
    shared_->store = std::make_unique<store::rocks_history_store>(config_.store.dir, fsync);
  }
  shared_->broker = make_broker(config_, shared_->encode, std::move(sinks), unix_ms,
                                shared_->store.get(), &shared_->presence);
  if (shared_->broker.tickets) {
    shared_->auth->tickets().set_ledger(shared_->broker.tickets.get());
  }
  if (shared_->store && fsync == store::fsync_mode::always) {
    // Group commit: whatever this loop's turn (and every other loop) wrote is synced once, before
    // the first byte of an answer or a delivery leaves.
    for (auto& w : workers_) {
      w->loop.set_write_barrier([store = shared_->store.get()] {
        if (store->needs_sync() && !store->sync()) {
          // What waits to be written was promised to be on disk first; it may not be. As Redis
          // does under appendfsync always: stop rather than acknowledge what may be lost.
          spdlog::critical("history_fsync = always and the disk refused a sync: exiting");
          shutdown_logging();
          std::_Exit(3);
        }
      });
    }
  }
}

void app::make_services() {
  auto& s = shared_->services.emplace(
      http::services{.limits = config_.http, .messages = config_.messages});
  s.hub = shared_->broker.hub.get();
  s.backplane_ready = shared_->broker.ready;
  s.presence = &shared_->presence;
  s.auth = shared_->auth.get();
  s.publish_limits = shared_->publish_limits.get();
  s.cors = config_.cors.policy(config_.dev);
  s.dev = config_.dev;
  s.draining = &draining_;
  s.demo_html = demo_html();
  s.client_js = client_js();
  s.client_types = client_types();
  s.openapi_json = openapi_json();
  s.openapi_etag = openapi_etag();
  s.asyncapi_yaml = asyncapi_yaml();
  s.asyncapi_etag = asyncapi_etag();
  s.metrics_text = [this] { return metrics_text(); };
  s.admit_websocket = [this](const boost::asio::ip::address& peer) -> std::shared_ptr<void> {
    auto limits = shared_->limits;  // made once the open-file limit is known, before serving
    if (!limits || !limits->admit(peer)) {
      return {};
    }
    return {limits.get(), [limits, peer](void*) { limits->release(peer); }};
  };
  s.admin_html = admin_html();
  s.watch_admin_stats = [this] { boost::asio::post(control_->context, [this] { watch_stats(); }); };
  if (auto* memory = shared_->broker.memory) {
    // With broker = redis the topics live in Redis, which this listing does not scan (yet).
    s.list_topics = [memory](std::string_view prefix, std::string_view after, std::size_t limit) {
      return memory->list_topics(prefix, after, limit);
    };
  }
  if (auto* sync = shared_->broker.redis ? shared_->broker.redis->presence() : nullptr) {
    s.cluster_presence =
        [sync](io::loop& from, std::string topic,
               std::function<void(std::optional<std::vector<presence_member>>)> done) {
          sync->read(std::move(topic), [&from, done = std::move(done)](
                                           std::optional<std::vector<presence_member>> all) {
            boost::asio::post(from.context(),
                              [done, all = std::move(all)]() mutable { done(std::move(all)); });
          });
        };
  }
  s.count_subscribers = [this](io::loop& from, std::vector<std::string> topics,
                               std::function<void(std::vector<std::size_t>)> done) {
    count_subscribers(from, std::move(topics), std::move(done));
  };
  if (!config_.metrics.token.empty()) {
    s.metrics_token = auth::api_key_set({config_.metrics.token});
  }
  s.serves_metrics = !metrics_endpoint_;
  if (config_.dev) {
    auto key = config_.auth.api_keys.empty() ? std::string() : config_.auth.api_keys.front();
    s.start_dev_llm = [at = endpoint_, key](io::loop& loop, std::string topic) {
      start_dev_llm(loop.context(), at, std::move(topic), key);
    };
  }
  if (metrics_endpoint_) {
    auto& ms = shared_->metrics_services.emplace(s);
    ms.serves_metrics = true;
    ms.status_only = true;
  }
  for (auto& w : workers_) {
    w->registry.emplace(*shared_->broker.hub, w->loop.index());
    w->ws.emplace(ws::context{*w->registry, *shared_->broker.hub, shared_->presence, w->counters,
                              config_.ws, config_.messages, config_.subscribers, shared_->encode});
    if (shared_->broker.redis) {
      w->ws->connection_suffix = "@" + shared_->broker.node_id;
    }
    w->handoff.emplace(http::handoff{
        *w->registry, sse::context{*w->registry, w->counters, config_.sse, config_.subscribers},
        *w->ws});
    w->services.emplace(http::loop_services{w->loop, w->counters, s});
  }
  if (metrics_endpoint_) {
    auto& w = *workers_.front();
    w.metrics_services.emplace(http::loop_services{w.loop, w.counters, *shared_->metrics_services});
  }
}

void app::make_tls() {
  if (config_.tls.listen.empty()) {
    return;
  }
  if (config_.tls.cert_file.empty() || config_.tls.key_file.empty()) {
    throw std::runtime_error("tls_listen needs tls_cert_file and tls_key_file");
  }
  tls_endpoint_ = parse_listen(config_.tls.listen, "tls_listen");
  shared_->tls = std::make_unique<io::tls_context>(config_.tls.cert_file, config_.tls.key_file,
                                                   std::vector<std::string>{"h2", "http/1.1"});
}

void app::reserve_descriptors() {
  // Every listener sets SO_REUSEPORT, so a metrics port equal to another port would bind without
  // error and take a share of that port's clients.
  if (metrics_endpoint_ &&
      (metrics_endpoint_->port() == endpoint_.port() ||
       (tls_endpoint_ && metrics_endpoint_->port() == tls_endpoint_->port()))) {
    throw std::runtime_error("metrics_listen = \"" + config_.metrics.listen +
                             "\": needs a port of its own (not the one of listen or tls_listen)");
  }
  if (!config_.reuse_port) {
    for (const auto& [at, text] : {std::pair{std::optional(endpoint_), config_.listen},
                                   {tls_endpoint_, config_.tls.listen},
                                   {metrics_endpoint_, config_.metrics.listen}}) {
      if (!at) {
        continue;
      }
      try {
        io::ensure_address_free(*at);
      } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot listen on " + text + ": " + e.code().message() +
                                 " (another process serves it: stop it or choose another address; "
                                 "reuse_port = true shares it on purpose, for a handover)");
      }
    }
  }
  // Every connection is a descriptor: take all the kernel allows, and never admit more connections
  // than descriptors are left for them, so a full server answers 429 instead of failing accept().
  std::string fd_note;
  fd_limit_ = raise_fd_limit(fd_note);
  if (!fd_note.empty()) {
    spdlog::warn("{}; keeping the open-file limit at {}", fd_note, fd_limit_);
  }
  auto reserved = reserved_fds(workers_.size(), tls_endpoint_ ? 2 : 1,
                               metrics_endpoint_ ? metrics_max_connections + 1 : 0);
  max_connections_ = connection_budget(config_.connections.max_connections, fd_limit_, reserved);
  if (max_connections_ == 0) {
    throw std::runtime_error("the open-file limit (" + std::to_string(fd_limit_) +
                             ") leaves no descriptor for connections (" + std::to_string(reserved) +
                             " kept for listeners, loops and files): raise ulimit -n");
  }
  shared_->limits = std::make_shared<connection_limits>(max_connections_,
                                                        config_.connections.max_connections_per_ip);
}

void app::open_listeners() {
  for (auto& w : workers_) {
    auto* ctx = &*w->services;
    auto* to = &*w->handoff;
    auto limits = shared_->limits;
    try {
      w->listener = std::make_unique<io::listener>(
          w->loop, endpoint_,
          [ctx, to, limits](const io::connection_ptr& c) { accept(c, *ctx, *to, limits); });
      if (tls_endpoint_) {
        auto* tls = shared_->tls.get();
        w->tls_listener = std::make_unique<io::listener>(
            w->loop, *tls_endpoint_, [ctx, to, limits, tls](const io::connection_ptr& c) {
              c->enable_tls(tls->new_ssl());
              accept(c, *ctx, *to, limits);
            });
      }
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot listen on " + config_.listen +
                               (tls_endpoint_ ? " or " + config_.tls.listen : "") + ": " +
                               e.code().message());
    }
  }
  if (metrics_endpoint_) {
    // One loop is plenty for scrapes and probes; the port has its own small connection limit, so
    // a flood on the main port never locks the operator out of /metrics and /readyz.
    shared_->metrics_limits = std::make_shared<connection_limits>(metrics_max_connections,
                                                                  metrics_max_connections_per_ip);
    auto& w = *workers_.front();
    auto* ctx = &*w.metrics_services;
    auto* to = &*w.handoff;
    auto limits = shared_->metrics_limits;
    try {
      w.metrics_listener = std::make_unique<io::listener>(
          w.loop, *metrics_endpoint_,
          [ctx, to, limits](const io::connection_ptr& c) { accept(c, *ctx, *to, limits); });
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot listen on " + config_.metrics.listen + ": " +
                               e.code().message());
    }
  }
}

std::string app::metrics_text() const {
  std::vector<const loop_counters*> loops;
  std::vector<std::size_t> connections;
  for (const auto& w : workers_) {
    loops.push_back(&w->counters);
    connections.push_back(w->loop.open_connections());
  }
  auto* memory = shared_->broker.memory;
  return render_metrics({loops, connections, draining_.load(),
                         memory ? memory->snapshot() : memory_broker::stats{}, max_connections_,
                         log_lines_dropped(), start_time_s_}) +
         shared_->broker.metrics();
}

void app::count_subscribers(io::loop& from, std::vector<std::string> topics,
                            std::function<void(std::vector<std::size_t>)> done) {
  struct gather {
    std::mutex mutex;
    std::vector<std::string> topics;  // read by every loop, written by none
    std::vector<std::size_t> counts;
    std::size_t pending = 0;
    std::function<void(std::vector<std::size_t>)> done;
  };
  auto g = std::make_shared<gather>();
  g->counts.assign(topics.size(), 0);
  g->topics = std::move(topics);
  g->pending = workers_.size();
  g->done = std::move(done);
  for (auto& w : workers_) {
    boost::asio::post(w->loop.context(), [g, w = w.get(), back = &from] {
      std::vector<std::size_t> local(g->topics.size());
      for (std::size_t i = 0; i < local.size(); ++i) {
        local[i] = w->registry->subscriber_count(g->topics[i]);
      }
      bool last = false;
      {
        std::lock_guard lock(g->mutex);
        for (std::size_t i = 0; i < local.size(); ++i) {
          g->counts[i] += local[i];
        }
        last = --g->pending == 0;
      }
      if (last) {
        boost::asio::post(back->context(), [g] { g->done(std::move(g->counts)); });
      }
    });
  }
}

void app::gather_topics(std::function<void(topic_counts)> done) {
  struct gather {
    std::mutex mutex;
    std::unordered_map<std::string, std::size_t> counts;
    std::size_t pending = 0;
    std::function<void(topic_counts)> done;
  };
  auto g = std::make_shared<gather>();
  g->pending = workers_.size();
  g->done = std::move(done);
  for (auto& w : workers_) {
    boost::asio::post(w->loop.context(), [g, w = w.get()] {
      topic_counts local;
      local.reserve(w->registry->topic_count());
      w->registry->for_each_topic(
          [&local](std::string_view topic, std::size_t n) { local.emplace_back(topic, n); });
      bool last = false;
      {
        std::lock_guard lock(g->mutex);
        for (auto& [topic, n] : local) {
          g->counts[std::move(topic)] += n;
        }
        last = --g->pending == 0;
      }
      if (last) {
        g->done(topic_counts(g->counts.begin(), g->counts.end()));
      }
    });
  }
}

void app::tick_stats(bool publish) {
  stats_sample sample;
  sample.uptime_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  sample.time_ms = unix_ms();
  for (const auto& w : workers_) {
    const auto& c = w->counters;
    sample.connections += w->loop.open_connections();
    sample.sse_streams += c.sse.open.get();
    sample.sse_h2_streams += c.sse_h2_streams.get();
    sample.ws_sessions += c.ws.open.get();
    sample.h2_connections += c.h2_sessions.get();
    sample.published += c.http_published.get() + c.ws.published.get();
    sample.deliveries += c.sse.deliveries.get() + c.ws.deliveries.get();
    sample.slow_consumer_closes +=
        c.sse.slow_consumer_closes.get() + c.ws.slow_consumer_closes.get();
    sample.gaps += c.sse.gaps.get() + c.ws.gaps.get();
    sample.drops += c.sse.drops.get() + c.ws.drops.get();
    sample.http_requests += c.http_requests.get();
  }
  auto* memory = shared_->broker.memory;
  auto history = memory ? memory->snapshot() : memory_broker::stats{};
  sample.topics = history.topics;
  sample.history_messages = history.messages;
  sample.history_bytes = history.bytes;
  auto before = std::move(stats_->previous);
  stats_->previous = sample;
  // Nobody watching costs nothing but the counter reads above: no loop is asked for its topics.
  if (!publish || !shared_->broker.has_subscribers(http::admin_stats_topic)) {
    return;
  }
  gather_topics([this, sample = std::move(sample),
                 before = std::move(before)](topic_counts subscribers) mutable {
    sample.subscribers = std::move(subscribers);
    sample.rooms = shared_->presence.room_sizes();
    auto m = make_message(message_kind::volatile_,
                          publish_item{std::string(http::admin_stats_topic), "stats",
                                       render_admin_stats(sample, before ? &*before : nullptr,
                                                          version, git_revision)},
                          sample.time_ms);
    sse::encode_message(*m);
    shared_->broker.hub->broadcast(std::move(m));
  });
}

int app::run() {
  for (auto& w : workers_) {
    w->start();
  }
  spdlog::info(
      "switchboard {} listening on {}{}{} with {} loop(s), max_connections {} (fd limit {}{}){}",
      version, config_.listen,
      config_.tls.listen.empty() ? "" : " and " + config_.tls.listen + " (TLS, h2)",
      config_.metrics.listen.empty() ? "" : " and " + config_.metrics.listen + " (metrics)",
      workers_.size(), max_connections_, fd_limit_,
      max_connections_ < config_.connections.max_connections
          ? ", capped from " + std::to_string(config_.connections.max_connections)
          : std::string(),
      config_.dev ? "; dev mode, open " + browser_url(endpoint_) : "");
  spdlog::default_logger()->flush();  // whoever waits for "listening" sees it now

  wait_signal();
  wait_hangup();
  control_->grid_epoch = std::chrono::steady_clock::now();
  sweep_history();
  control_->context.run();

  if (shared_->broker.redis) {
    shared_->broker.redis->stop();  // nothing more reaches the loops from Redis
  }
  if (shared_->broker.ticket_ledger) {
    shared_->broker.ticket_ledger->stop();
  }
  for (auto& w : workers_) {
    w->stop();
  }
  for (auto& w : workers_) {
    w->join();
  }
  spdlog::info("drained; exiting");
  return 0;
}

void app::wait_signal() {
  control_->signals.async_wait([this](boost::system::error_code ec, int signo) {
    if (!ec) {
      on_signal(signo);
    }
  });
}

void app::on_signal(int signo) {
  if (draining_.load()) {
    spdlog::warn("second signal: stopping now");
    control_->context.stop();
    return;
  }
  spdlog::info("{}: draining", signo == SIGTERM ? "SIGTERM" : "SIGINT");
  control_->drain_deadline = std::chrono::steady_clock::now() + config_.drain.timeout;
  begin_drain();
  wait_signal();
  watch_drain();
}

// SIGHUP re-reads key files; connections are not touched.
void app::wait_hangup() {
  control_->hangups.async_wait([this](boost::system::error_code ec, int) {
    if (!ec) {
      on_hangup();
    }
  });
}

void app::on_hangup() {
  std::string error;
  if (shared_->auth->reload(error)) {
    spdlog::info("SIGHUP: keys reloaded");
  } else {
    spdlog::error("SIGHUP: keeping the old keys: {}", error);
  }
  if (shared_->tls) {
    if (shared_->tls->reload(error)) {
      spdlog::info("SIGHUP: TLS certificate reloaded");
    } else {
      spdlog::error("SIGHUP: keeping the old TLS certificate: {}", error);
    }
  }
  wait_hangup();
}

// The registry told of a change (presence_registry::on_change): the next tick is armed, on the
// grid from grid_epoch, unless it already is. No change, no tick.
void app::arm_presence() {
  if (control_->presence_armed) {
    return;
  }
  control_->presence_armed = true;
  // Strictly after now: a change made on a grid point waits for the next one.
  control_->presence_timer.expires_at(
      control_->on_grid(std::chrono::steady_clock::now() + std::chrono::steady_clock::duration(1),
                        std::chrono::milliseconds(config_.presence_tick)));
  control_->presence_timer.async_wait([this](boost::system::error_code ec) {
    control_->presence_armed = false;
    if (!ec) {
      announce_presence();
    }
  });
}

// Presence changes are announced once per tick, one coalesced diff per changed topic; with
// broker = redis this node's own changes of the tick also go to the other nodes.
void app::announce_presence() {
  if (auto* sync = shared_->broker.redis ? shared_->broker.redis->presence() : nullptr) {
    sync->flush();
  }
  for (auto& diff : shared_->presence.take_diffs()) {
    auto m = make_message(message_kind::presence, publish_item{diff.topic}, unix_ms());
    m->set_ws_frame(std::make_shared<const std::string>(ws::presence_diff_frame(diff)), true);
    shared_->broker.hub->broadcast(std::move(m));
  }
}

void app::watch_stats() {
  control_->stats_watched = std::chrono::steady_clock::now();
  if (control_->stats_running) {
    return;
  }
  control_->stats_running = true;
  tick_stats(false);  // the first snapshot's rates count from here
  control_->stats_timer.expires_after(stats_interval);
  control_->stats_timer.async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      publish_stats();
    }
  });
}

// The admin page's figures, once a second (GET /v1/admin/stats), while someone watches.
void app::publish_stats() {
  auto now = std::chrono::steady_clock::now();
  if (shared_->broker.has_subscribers(http::admin_stats_topic)) {
    control_->stats_watched = now;
  } else if (now - control_->stats_watched >= stats_grace) {
    control_->stats_running = false;
    stats_->previous.reset();
    return;
  }
  tick_stats();
  control_->stats_timer.expires_after(stats_interval);
  control_->stats_timer.async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      publish_stats();
    }
  });
}

// One timer for all history: expires messages past history_max_age_s in topics nobody publishes
// to or reads any more, and forgets idle topics (not one timer per topic). It is set for when the
// oldest message passes the age bound: with nothing in history, no message can expire before
// history_max_age_s from now. With broker = redis, Redis expires history: no timer at all.
void app::sweep_history() {
  auto* memory = shared_->broker.memory;
  if (!memory) {
    return;
  }
  control_->swept_since_trim += memory->sweep();
  if (control_->swept_since_trim >= history_trim_threshold) {
    return_free_memory();
    control_->swept_since_trim = 0;
  }
  auto max_age = std::chrono::milliseconds(config_.history.max_age_ms);
  auto now_ms = unix_ms();
  auto oldest = memory->oldest_ms();
  // sweep() drops what is strictly older than the bound: 1 ms past it.
  auto wait = oldest == INT64_MAX
                  ? max_age
                  : std::clamp(std::chrono::milliseconds(oldest - now_ms) + max_age + 1ms,
                               std::chrono::milliseconds(0), max_age);
  // Onto the grid, so expirations due close together share a sweep.
  control_->history_timer.expires_at(
      control_->on_grid(std::chrono::steady_clock::now() + wait, history_sweep_interval));
  control_->history_timer.async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      sweep_history();
    }
  });
}

void app::begin_drain() {
  draining_.store(true);
  if (auto* sync = shared_->broker.redis ? shared_->broker.redis->presence() : nullptr) {
    sync->withdraw();  // the other nodes need not wait for this node's clients to go
  }
  auto per_tick = config_.drain.per_tick(workers_.size());
  for (auto& w : workers_) {
    w->begin_drain(per_tick);
  }
}

// Until every connection is gone, or the deadline.
void app::watch_drain() {
  std::size_t open = 0;
  bool stopped_accepting = true;
  for (auto& w : workers_) {
    open += w->loop.open_connections();
    stopped_accepting = stopped_accepting && w->stopped_accepting();
  }
  auto now = std::chrono::steady_clock::now();
  // Not before every loop has closed its listener: exiting with a listener open would reset what
  // the kernel queued on it (connections a handover to a reuse_port successor must keep).
  if ((open == 0 && stopped_accepting) || now >= control_->drain_deadline) {
    if (open) {
      spdlog::warn("drain timeout: closing {} connection(s) that did not finish", open);
    }
    control_->context.stop();
    return;
  }
  if (!control_->hurried && now >= control_->drain_deadline - std::chrono::seconds(1)) {
    // Pacing ran out of time: say goodbye to everyone left at once, then stop at the deadline.
    control_->hurried = true;
    for (auto& w : workers_) {
      w->hurry_drain();
    }
  }
  control_->drain_timer.expires_after(drain_settings::tick);
  control_->drain_timer.async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      watch_drain();
    }
  });
}

}  // namespace sb::server
