#include "server/app.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "auth/authority.hpp"
#include "core/memory_broker.hpp"
#include "http/publish_limiter.hpp"
#include "http/services.hpp"
#include "http/session.hpp"
#include "io/listener.hpp"
#include "io/tls.hpp"
#include "server/broker_factory.hpp"
#include "server/connection_limits.hpp"
#include "server/dev_llm.hpp"
#include "server/fd_limit.hpp"
#include "server/metrics.hpp"
#include "server/version.hpp"
#include "server/web_assets.hpp"
#include "sse/encoder.hpp"
#include "store/rocks_history_store.hpp"
#include "ws/protocol.hpp"

namespace sb::server {
namespace {

using namespace std::chrono_literals;

constexpr auto wheel_tick = 10ms;  // fine enough for volatile pacing at volatile_hz
constexpr auto drain_tick = 50ms;
// The metrics_listen port's own connection limits (scrapers and probes, not clients).
constexpr std::uint64_t metrics_max_connections = 64;
constexpr std::uint64_t metrics_max_connections_per_ip = 16;
// Ages are whole seconds, so a message outlives history_max_age_s by at most this.
constexpr auto history_sweep_interval = 1s;
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
void accept(const std::shared_ptr<io::connection>& c, http::loop_services& ctx,
            const std::shared_ptr<connection_limits>& limits) {
  if (!limits->admit(c->peer().address())) {
    c->start(std::make_unique<http::refusal>(*c));
    c->send(
        http::serialize(http::response::error(errc::rate_limited, "too many connections"), false));
    c->close_after_flush();
    return;
  }
  c->hold(limits);
  auto session = std::make_unique<http::session>(*c, ctx);
  auto* raw = session.get();
  c->start(std::move(session));
  raw->start();
}

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct app::worker final : delivery_sink {
  explicit worker(std::size_t index) : loop(index, wheel_tick), drain_timer(loop.context()) {}

  /// Called by the broker under the topic's lock, from any thread: messages enter the inbox in
  /// seq order and leave it in that order. (A plain post per message would not keep it: Asio defers
  /// a post made from the loop's own thread until its current handler returns, so a message posted
  /// by another loop meanwhile would overtake it.) One post drains everything that has arrived.
  void deliver(message_ptr m) override {
    bool schedule = false;
    {
      std::lock_guard lock(inbox_mutex);
      inbox.push_back(std::move(m));
      schedule = !inbox_scheduled;
      inbox_scheduled = true;
    }
    if (schedule) {
      boost::asio::post(loop.context(), [this] { drain_inbox(); });
    }
  }

  void drain_inbox() {
    std::vector<message_ptr> batch;
    {
      std::lock_guard lock(inbox_mutex);
      batch.swap(inbox);
      inbox_scheduled = false;
    }
    for (const auto& m : batch) {
      registry->dispatch(m);
      if (m->stored()) {
        m->live_handoff_done();  // the last loop lets go of the WebSocket frame
      }
    }
  }

  /// Says goodbye to connections at `per_tick` a tick (fractions accumulate across ticks, so a
  /// rate below one per tick is honoured) until none is left.
  void drain_some(double per_tick) {
    drain_budget += per_tick;
    std::size_t n = 0;
    while (n + 1 <= drain_budget && !to_drain.empty()) {
      auto c = to_drain.back().lock();
      to_drain.pop_back();
      if (c && c->is_open() && c->handler()) {
        c->handler()->on_drain();
        ++n;
      }
    }
    drain_budget -= static_cast<double>(n);
    if (!to_drain.empty()) {
      drain_timer.expires_after(drain_tick);
      drain_timer.async_wait([this, per_tick](boost::system::error_code ec) {
        if (!ec) {
          drain_some(per_tick);
        }
      });
    }
  }

  io::loop loop;
  std::mutex inbox_mutex;
  std::vector<message_ptr> inbox;
  bool inbox_scheduled = false;
  loop_counters counters;
  std::optional<topic_registry> registry;
  std::optional<http::loop_services> services;
  std::unique_ptr<io::listener> listener;
  std::unique_ptr<io::listener> tls_listener;
  std::optional<http::loop_services>
      metrics_services;  // the first loop's, when metrics_listen is set
  std::unique_ptr<io::listener> metrics_listener;
  boost::asio::steady_timer drain_timer;
  std::vector<std::weak_ptr<io::connection>> to_drain;
  double drain_budget = 0;
  std::atomic<bool> drain_started{false};  // its listeners are closed (set on the loop)
  std::thread thread;
};

struct app::shared_state {
  std::shared_ptr<connection_limits> limits;
  std::unique_ptr<auth::authority> auth;
  std::unique_ptr<http::publish_limiter> publish_limits;
  std::unique_ptr<history_store> store;  // history_dir; outlives the broker
  broker_choice broker;                  // memory or Redis (broker_factory)
  std::unique_ptr<io::tls_context> tls;
  presence_registry presence;
  policy_table policies;
  http::services services;
  http::services metrics_services;  // the metrics_listen port's: status endpoints only
  std::shared_ptr<connection_limits> metrics_limits;
};

app::app(config c) : config_(std::move(c)), shared_(std::make_unique<shared_state>()) {
  auto endpoint = parse_listen(config_.listen);

  // Anonymous access: what the config says, else only in dev mode while no auth is configured.
  bool implicit_anonymous = config_.dev && !config_.auth_configured();
  bool anonymous_subscribe = config_.allow_anonymous_subscribe.value_or(implicit_anonymous);
  bool anonymous_publish = config_.allow_anonymous_publish.value_or(implicit_anonymous);
  if (!config_.dev && !config_.auth_configured() && !anonymous_publish) {
    throw std::runtime_error(
        "no credentials are configured, so nobody could publish: set api_keys, jwt_secret or "
        "jwt_public_key_file, "
        "or allow_anonymous_publish = true to publish without credentials (or run with --dev)");
  }
  if (!config_.dev && config_.allow_anonymous_publish.value_or(false)) {
    spdlog::warn("allow_anonymous_publish = true: anyone who can reach {} may publish",
                 config_.listen);
  }
  std::string auth_error;
  auto authority = auth::authority::create(
      auth::authority_config{config_.jwt_secret, config_.jwt_public_key_file, config_.jwt_issuer,
                             config_.jwt_audience, config_.api_keys, anonymous_subscribe,
                             anonymous_publish, std::chrono::seconds(config_.ticket_ttl_s),
                             config_.jwt_require_exp.value_or(!config_.dev),
                             std::chrono::seconds(config_.jwt_leeway_s)},
      auth_error);
  if (!authority) {
    throw std::runtime_error(auth_error);
  }
  shared_->auth = std::move(*authority);
  shared_->publish_limits =
      std::make_unique<http::publish_limiter>(static_cast<double>(config_.http_publish_rate),
                                              static_cast<double>(config_.http_publish_burst));
  // At most 64 loops: the broker keeps which loops want a topic in one 64-bit mask.
  auto threads =
      config_.threads ? config_.threads : std::clamp(std::thread::hardware_concurrency(), 1u, 64u);

  std::vector<delivery_sink*> sinks;
  for (std::size_t i = 0; i < threads; ++i) {
    workers_.push_back(std::make_unique<worker>(i));
    sinks.push_back(workers_.back().get());
  }
  history_limits limits{config_.history_max_messages, config_.history_max_bytes,
                        static_cast<std::int64_t>(config_.history_max_age_s) * 1000,
                        config_.history_max_memory_bytes};
  message_encoder encode = [](message& m) {
    sse::encode_message(m);
    ws::encode_message(m);
  };
  auto fsync = store::parse_fsync_mode(config_.history_fsync).value_or(store::fsync_mode::everysec);
  if (!config_.history_dir.empty()) {
    shared_->store = std::make_unique<store::rocks_history_store>(config_.history_dir, fsync);
  }
  shared_->broker =
      make_broker(config_, limits, encode, std::move(sinks), unix_ms, shared_->store.get());
  if (shared_->store && fsync == store::fsync_mode::always) {
    // Group commit: whatever this loop's turn (and every other loop) wrote is synced once, before
    // the first byte of an answer or a delivery leaves.
    for (auto& w : workers_) {
      w->loop.set_write_barrier([store = shared_->store.get()] {
        if (store->needs_sync() && !store->sync()) {
          // What waits to be written was promised to be on disk first; it may not be. As Redis
          // does under appendfsync always: stop rather than acknowledge what may be lost.
          spdlog::critical("history_fsync = always and the disk refused a sync: exiting");
          std::_Exit(3);
        }
      });
    }
  }
  std::string policy_error;
  auto policies = policy_table::parse(config_.slow_consumer_policies, policy_error);
  if (!policies) {
    throw std::runtime_error("slow_consumer_policies: " + policy_error);
  }
  shared_->policies = std::move(*policies);

  auto& s = shared_->services;
  s.hub = shared_->broker.hub.get();
  s.backplane_ready = shared_->broker.ready;
  s.limits.max_message_bytes = config_.max_message_bytes;
  s.limits.max_request_bytes = config_.max_request_bytes;
  s.limits.max_header_bytes = config_.max_header_bytes;
  s.limits.max_topics_per_stream = config_.max_topics_per_stream;
  s.limits.header_timeout = std::chrono::milliseconds(config_.header_timeout_ms);
  s.limits.idle_timeout = std::chrono::seconds(config_.idle_timeout_s);
  s.limits.h2_max_concurrent_streams =
      static_cast<std::uint32_t>(config_.h2_max_concurrent_streams);
  s.limits.h2_max_header_list_size = config_.h2_max_header_list_size;
  s.sse.heartbeat = std::chrono::seconds(config_.heartbeat_s);
  s.sse.retry_ms = static_cast<unsigned>(config_.retry_ms);
  backlog_limits backlog{config_.send_queue_max_bytes, config_.send_queue_soft_bytes,
                         std::chrono::seconds(config_.send_queue_soft_s)};
  s.sse.backlog = backlog;
  s.sse.replay_high_water = std::min<std::size_t>(
      64 << 10, std::min(config_.send_queue_max_bytes, config_.send_queue_soft_bytes) / 2);
  s.sse.policies = &shared_->policies;
  s.ws.max_message_bytes = config_.max_message_bytes;
  s.ws.max_frame_bytes = 2 * config_.max_message_bytes + 4096;  // JSON escaping can double the data
  s.ws.volatile_hz = static_cast<unsigned>(config_.volatile_hz);
  s.ws.publish_rate = static_cast<double>(config_.ws_publish_rate);
  s.ws.publish_burst = static_cast<double>(config_.ws_publish_burst);
  s.ws.ping_interval = std::chrono::seconds(config_.ws_ping_interval_s);
  s.ws.backlog = backlog;
  s.ws.message_timeout = std::chrono::milliseconds(config_.ws_message_timeout_ms);
  s.ws.high_water = s.sse.replay_high_water;
  s.ws.max_topics = config_.max_topics_per_connection;
  s.ws.policies = &shared_->policies;
  s.presence = &shared_->presence;
  s.auth = shared_->auth.get();
  s.auth_cookie = config_.auth_cookie;
  s.publish_limits = shared_->publish_limits.get();
  s.encode = encode;
  auto origins = config_.cors_origins;
  if (origins.empty() && config_.dev) {
    origins.push_back("*");
  }
  s.cors = http::cors_policy(std::move(origins));
  s.dev = config_.dev;
  s.draining = &draining_;
  s.demo_html = demo_html();
  s.client_js = client_js();
  s.client_types = client_types();
  s.metrics_text = [this] { return metrics_text(); };
  if (!config_.metrics_token.empty()) {
    s.metrics_token = auth::api_key_set({config_.metrics_token});
  }
  std::optional<boost::asio::ip::tcp::endpoint> metrics_endpoint;
  if (!config_.metrics_listen.empty()) {
    metrics_endpoint = parse_listen(config_.metrics_listen, "metrics_listen");
    s.serves_metrics = false;
  }
  if (config_.dev) {
    auto key = config_.api_keys.empty() ? std::string() : config_.api_keys.front();
    s.start_dev_llm = [endpoint, key](io::loop& loop, std::string topic) {
      start_dev_llm(loop.context(), endpoint, std::move(topic), key);
    };
  }

  std::optional<boost::asio::ip::tcp::endpoint> tls_endpoint;
  if (!config_.tls_listen.empty()) {
    if (config_.tls_cert_file.empty() || config_.tls_key_file.empty()) {
      throw std::runtime_error("tls_listen needs tls_cert_file and tls_key_file");
    }
    tls_endpoint = parse_listen(config_.tls_listen, "tls_listen");
    shared_->tls = std::make_unique<io::tls_context>(config_.tls_cert_file, config_.tls_key_file,
                                                     std::vector<std::string>{"h2", "http/1.1"});
  }
  // Every listener sets SO_REUSEPORT, so a metrics port equal to another port would bind without
  // error and take a share of that port's clients.
  if (metrics_endpoint && (metrics_endpoint->port() == endpoint.port() ||
                           (tls_endpoint && metrics_endpoint->port() == tls_endpoint->port()))) {
    throw std::runtime_error("metrics_listen = \"" + config_.metrics_listen +
                             "\": needs a port of its own (not the one of listen or tls_listen)");
  }

  if (!config_.reuse_port) {
    for (const auto& [at, text] : {std::pair{std::optional(endpoint), config_.listen},
                                   {tls_endpoint, config_.tls_listen},
                                   {metrics_endpoint, config_.metrics_listen}}) {
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
  auto reserved = reserved_fds(threads, tls_endpoint ? 2 : 1,
                               metrics_endpoint ? metrics_max_connections + 1 : 0);
  max_connections_ = connection_budget(config_.max_connections, fd_limit_, reserved);
  if (max_connections_ == 0) {
    throw std::runtime_error("the open-file limit (" + std::to_string(fd_limit_) +
                             ") leaves no descriptor for connections (" + std::to_string(reserved) +
                             " kept for listeners, loops and files): raise ulimit -n");
  }
  shared_->limits =
      std::make_shared<connection_limits>(max_connections_, config_.max_connections_per_ip);
  for (auto& w : workers_) {
    w->registry.emplace(*shared_->broker.hub, w->loop.index());
    w->services.emplace(
        http::loop_services{w->loop, *w->registry, w->counters, s,
                            ws::context{*w->registry, *shared_->broker.hub, shared_->presence,
                                        w->counters, s.ws, s.encode}});
    auto* ctx = &*w->services;
    auto limits = shared_->limits;
    try {
      w->listener = std::make_unique<io::listener>(
          w->loop, endpoint,
          [ctx, limits](const std::shared_ptr<io::connection>& c) { accept(c, *ctx, limits); });
      if (tls_endpoint) {
        auto* tls = shared_->tls.get();
        w->tls_listener = std::make_unique<io::listener>(
            w->loop, *tls_endpoint, [ctx, limits, tls](const std::shared_ptr<io::connection>& c) {
              c->enable_tls(tls->new_ssl());
              accept(c, *ctx, limits);
            });
      }
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot listen on " + config_.listen +
                               (tls_endpoint ? " or " + config_.tls_listen : "") + ": " +
                               e.code().message());
    }
  }
  if (metrics_endpoint) {
    // One loop is plenty for scrapes and probes; the port has its own small connection limit, so
    // a flood on the main port never locks the operator out of /metrics and /readyz.
    shared_->metrics_services = s;
    shared_->metrics_services.serves_metrics = true;
    shared_->metrics_services.status_only = true;
    shared_->metrics_limits = std::make_shared<connection_limits>(metrics_max_connections,
                                                                  metrics_max_connections_per_ip);
    auto& w = *workers_.front();
    auto& ms = shared_->metrics_services;
    w.metrics_services.emplace(
        http::loop_services{w.loop, *w.registry, w.counters, ms,
                            ws::context{*w.registry, *shared_->broker.hub, shared_->presence,
                                        w.counters, ms.ws, ms.encode}});
    auto* ctx = &*w.metrics_services;
    auto port_limits = shared_->metrics_limits;
    try {
      w.metrics_listener = std::make_unique<io::listener>(
          w.loop, *metrics_endpoint, [ctx, port_limits](const std::shared_ptr<io::connection>& c) {
            accept(c, *ctx, port_limits);
          });
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot listen on " + config_.metrics_listen + ": " +
                               e.code().message());
    }
  }
}

app::~app() = default;

std::string app::metrics_text() const {
  std::vector<const loop_counters*> loops;
  std::vector<std::size_t> connections;
  for (const auto& w : workers_) {
    loops.push_back(&w->counters);
    connections.push_back(w->loop.open_connections());
  }
  auto* memory = shared_->broker.memory;
  return render_metrics({loops, connections, draining_.load(),
                         memory ? memory->snapshot() : memory_broker::stats{}}) +
         shared_->broker.metrics();
}

int app::run() {
  for (auto& w : workers_) {
    w->listener->start();
    if (w->tls_listener) {
      w->tls_listener->start();
    }
    if (w->metrics_listener) {
      w->metrics_listener->start();
    }
    w->thread = std::thread([&loop = w->loop] { loop.run(); });
  }
  spdlog::info(
      "switchboard {} listening on {}{}{} with {} loop(s), max_connections {} (fd limit {}{}){}",
      version, config_.listen,
      config_.tls_listen.empty() ? "" : " and " + config_.tls_listen + " (TLS, h2)",
      config_.metrics_listen.empty() ? "" : " and " + config_.metrics_listen + " (metrics)",
      workers_.size(), max_connections_, fd_limit_,
      max_connections_ < config_.max_connections
          ? ", capped from " + std::to_string(config_.max_connections)
          : std::string(),
      config_.dev ? "; dev mode, open " + browser_url(parse_listen(config_.listen)) : "");

  boost::asio::io_context control;
  boost::asio::signal_set signals(control, SIGTERM, SIGINT);

  // SIGHUP re-reads key files; connections are not touched.
  boost::asio::signal_set hangups(control, SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangups.async_wait([&](boost::system::error_code ec, int) {
      if (ec)
        return;
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
    });
  };
  wait_hangup();

  // Presence changes are announced once per tick, one coalesced diff per changed topic.
  boost::asio::steady_timer presence_tick(control);
  std::function<void()> announce_presence = [&] {
    for (auto& diff : shared_->presence.take_diffs()) {
      auto m = std::make_shared<message>();
      m->kind = message_kind::presence;
      m->topic = diff.topic;
      m->time_ms = unix_ms();
      m->set_ws_frame(std::make_shared<const std::string>(ws::presence_diff_frame(diff)), true);
      shared_->broker.hub->broadcast(std::move(m));
    }
    presence_tick.expires_after(std::chrono::milliseconds(config_.presence_tick_ms));
    presence_tick.async_wait([&](boost::system::error_code ec) {
      if (!ec)
        announce_presence();
    });
  };
  announce_presence();

  // One timer for all history: expires messages past history_max_age_s in topics nobody
  // publishes to or reads any more, and forgets idle topics (not one timer per topic).
  boost::asio::steady_timer history_tick(control);
  std::size_t swept_since_trim = 0;
  std::function<void()> sweep_history = [&] {
    swept_since_trim += shared_->broker.memory ? shared_->broker.memory->sweep() : 0;
    if (swept_since_trim >= history_trim_threshold) {
      return_free_memory();
      swept_since_trim = 0;
    }
    history_tick.expires_after(history_sweep_interval);
    history_tick.async_wait([&](boost::system::error_code ec) {
      if (!ec)
        sweep_history();
    });
  };
  sweep_history();
  boost::asio::steady_timer poll(control);
  std::chrono::steady_clock::time_point deadline;
  bool hurried = false;

  std::function<void()> watch = [&] {
    std::size_t open = 0;
    bool stopped_accepting = true;
    for (auto& w : workers_) {
      open += w->loop.open_connections();
      stopped_accepting = stopped_accepting && w->drain_started.load();
    }
    auto now = std::chrono::steady_clock::now();
    // Not before every loop has closed its listener: exiting with a listener open would reset what
    // the kernel queued on it (connections a handover to a reuse_port successor must keep).
    if ((open == 0 && stopped_accepting) || now >= deadline) {
      if (open) {
        spdlog::warn("drain timeout: closing {} connection(s) that did not finish", open);
      }
      control.stop();
      return;
    }
    if (!hurried && now >= deadline - std::chrono::seconds(1)) {
      // Pacing ran out of time: say goodbye to everyone left at once, then stop at the deadline.
      hurried = true;
      for (auto& w : workers_) {
        boost::asio::post(w->loop.context(), [&w] { w->drain_some(1e18); });
      }
    }
    poll.expires_after(drain_tick);
    poll.async_wait([&](boost::system::error_code ec) {
      if (!ec)
        watch();
    });
  };

  signals.async_wait([&](boost::system::error_code ec, int signo) {
    if (ec)
      return;
    spdlog::info("{}: draining", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config_.drain_timeout_s);
    begin_drain();
    signals.async_wait([&](boost::system::error_code e, int) {
      if (!e) {
        spdlog::warn("second signal: stopping now");
        control.stop();
      }
    });
    watch();
  });
  control.run();

  for (auto& w : workers_) {
    w->loop.stop();
  }
  for (auto& w : workers_) {
    w->thread.join();
  }
  spdlog::info("drained; exiting");
  return 0;
}

void app::begin_drain() {
  draining_.store(true);
  auto per_tick = static_cast<double>(config_.drain_rate) *
                  static_cast<double>(drain_tick.count()) / 1000.0 /
                  static_cast<double>(workers_.size());
  for (auto& w : workers_) {
    boost::asio::post(w->loop.context(), [w = w.get(), per_tick] {
      w->listener->stop();
      if (w->tls_listener) {
        w->tls_listener->stop();
      }
      if (w->metrics_listener) {
        w->metrics_listener->stop();
      }
      w->loop.for_each_connection(
          [w](io::connection& c) { w->to_drain.push_back(c.weak_from_this()); });
      w->drain_some(per_tick);
      w->drain_started.store(true);
    });
  }
}

}  // namespace sb::server
