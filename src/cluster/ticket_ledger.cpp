#include "cluster/ticket_ledger.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "io/loop.hpp"

namespace sb::cluster {
namespace {

namespace asio = boost::asio;

}  // namespace

std::string ticket_key(std::string_view digest) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string key = "sb:ticket:{";
  key.reserve(key.size() + 2 * digest.size() + 1);
  for (unsigned char c : digest) {
    key.push_back(hex[c >> 4]);
    key.push_back(hex[c & 0xf]);
  }
  key.push_back('}');
  return key;
}

redis_ticket_ledger::redis_ticket_ledger(redis_endpoint at, std::chrono::milliseconds timeout,
                                         std::string node_id)
    : at_(at) {
  redis_connection::options o{std::move(at), timeout, "switchboard:" + node_id + ":tickets"};
  // No setup beyond AUTH and SELECT: the connection marks itself ready.
  connection_ =
      std::make_shared<redis_connection>(ctx_, std::move(o), redis_connection::events{}, stats_);
}

redis_ticket_ledger::redis_ticket_ledger(redis_endpoint at, command_fn via)
    : at_(std::move(at)), via_(std::move(via)) {}

redis_ticket_ledger::~redis_ticket_ledger() {
  stop();
}

void redis_ticket_ledger::start() {
  if (via_) {
    return;
  }
  asio::post(ctx_, [this] { connection_->start(); });
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(ctx_);
    ctx_.run();
  });
}

void redis_ticket_ledger::stop() {
  if (!thread_.joinable()) {
    return;
  }
  asio::post(ctx_, [this] {
    connection_->stop();
    ctx_.stop();
  });
  thread_.join();
}

void redis_ticket_ledger::send(std::string key, std::vector<std::string> cmd,
                               redis_connection::reply_handler done) {
  if (via_) {
    via_(std::move(key), std::move(cmd), std::move(done));
    return;
  }
  asio::post(ctx_, [this, cmd = std::move(cmd), done = std::move(done)]() mutable {
    connection_->command(cmd, std::move(done));
  });
}

void redis_ticket_ledger::put(std::string digest, std::string record, std::chrono::milliseconds ttl,
                              put_handler done) {
  auto* origin = io::loop::current();
  auto key = ticket_key(digest);
  std::vector<std::string> cmd{"SET", key, std::move(record), "PX", std::to_string(ttl.count()),
                               "NX"};
  // NX: a key that exists already is a collision of 256 random bits, never overwritten.
  send(std::move(key), std::move(cmd),
       [this, origin, done = std::move(done)](boost::system::error_code ec, reply_ptr r) mutable {
         auto e = errc::unavailable;  // no answer in time, or the connection is down
         if (!ec && r && r->type == REDIS_REPLY_STATUS && reply_text(r.get()) == "OK") {
           e = errc::ok;
         } else if (!ec && r && is_error(r.get()) && !std::exchange(warned_, true)) {
           spdlog::error("redis {}: a ticket could not be stored: {}", at_.describe(),
                         reply_text(r.get()));
         }
         io::loop::run_on(origin, [done = std::move(done), e] { done(e); });
       });
}

void redis_ticket_ledger::take(std::string digest, take_handler done) {
  auto* origin = io::loop::current();
  auto key = ticket_key(digest);
  std::vector<std::string> cmd{"GETDEL", key};
  send(std::move(key), std::move(cmd),
       [this, origin, done = std::move(done)](boost::system::error_code ec, reply_ptr r) mutable {
         auto e = errc::unavailable;
         std::string record;
         if (!ec && r && r->type == REDIS_REPLY_STRING) {
           e = errc::ok;
           record.assign(r->str, r->len);
         } else if (!ec && r && r->type == REDIS_REPLY_NIL) {
           e = errc::not_found;
         } else if (!ec && r && is_error(r.get()) && !std::exchange(warned_, true)) {
           // GETDEL is Redis >= 6.2 (and Valkey): an older Redis cannot redeem tickets.
           spdlog::error("redis {}: a ticket could not be redeemed: {} (tickets need Redis >= 6.2)",
                         at_.describe(), reply_text(r.get()));
         }
         io::loop::run_on(origin,
                          [done = std::move(done), e, record = std::move(record)]() mutable {
                            done(e, std::move(record));
                          });
       });
}

std::string redis_ticket_ledger::metrics_text() const {
  if (!connection_) {
    return {};
  }
  std::string out;
  stats_.roundtrip.render(out, "switchboard_redis_tickets_roundtrip_seconds",
                          "round trips of the subscribe-ticket connection to Redis");
  out +=
      "# HELP switchboard_redis_tickets_reconnects_total reconnections of the subscribe-ticket "
      "connection to Redis\n# TYPE switchboard_redis_tickets_reconnects_total counter\n"
      "switchboard_redis_tickets_reconnects_total " +
      std::to_string(stats_.reconnects.load(std::memory_order_relaxed)) + "\n";
  return out;
}

}  // namespace sb::cluster
