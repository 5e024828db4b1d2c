// The redis_broker's masters: its connections to each (one without redis_cluster), the slot map
// of a Redis Cluster, and the routing of a topic's commands and subscription to the master of its
// slot. See redis_broker.hpp; everything here runs on the broker's thread.
#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>

#include "cluster/redis_broker.hpp"

#include <boost/asio/post.hpp>
#include "cluster/topic_script.hpp"

namespace sb::cluster {
namespace {

namespace asio = boost::asio;

/// MOVED, ASK and NOSCRIPT answers one command follows before it fails: a slot map that keeps
/// changing under a command is a cluster being reconfigured, and the client retries.
constexpr int max_redirects = 8;
/// While a master of the map is unreachable (or no map is known), the map is asked again this
/// often: a failover shows up as a new master of the same slots. While all is up nothing is asked
/// on a timer: a resharding shows itself by MOVED answers and dropped sharded channels, a master
/// that fails by its connections.
constexpr std::chrono::milliseconds map_retry{500};

boost::system::error_code unavailable() {
  return make_error_code(boost::system::errc::connection_refused);
}

}  // namespace

int redis_broker::add_shard(const std::string& host, std::uint16_t port) {
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    if (shards_[i]->at.unix_path.empty() && shards_[i]->at.host == host &&
        shards_[i]->at.port == port) {
      return static_cast<int>(i);
    }
  }
  auto s = std::make_unique<shard>();
  s->at = settings_.at;  // another master logs in as the seed does, at its own address
  if (!shards_.empty()) {
    s->at.host = host;
    s->at.port = port;
    s->at.unix_path.clear();
  }
  s->name = s->at.describe();
  auto index = static_cast<int>(shards_.size());
  redis_connection::options o{s->at, settings_.timeout,
                              "switchboard:" + settings_.node_id + ":cmd"};
  s->command = std::make_shared<redis_connection>(
      ctx_, o,
      redis_connection::events{
          [this, index](redis_connection& c) { on_command_connected(index, c); },
          [this, index] {
            auto& s = *shards_[static_cast<std::size_t>(index)];
            s.command_up = false;
            update_up();
            if (s.serves) {
              refresh_map();  // it may have been replaced (a failover)
            }
          },
          nullptr},
      stats_);
  o.name = "switchboard:" + settings_.node_id + ":sub";
  s->pubsub = std::make_shared<redis_connection>(
      ctx_, o,
      redis_connection::events{
          [this, index](redis_connection& c) { on_pubsub_connected(index, c); },
          [this, index] { on_pubsub_down(index); },
          [this, index](reply_ptr r) { on_push(index, std::move(r)); }},
      stats_);
  shards_.push_back(std::move(s));
  shards_.back()->command->start();
  shards_.back()->pubsub->start();
  if (settings_.cluster && index > 0) {
    spdlog::info("redis cluster: connecting to master {}", shards_.back()->name);
  }
  return index;
}

int redis_broker::shard_index(std::string_view topic) const {
  if (!settings_.cluster) {
    return 0;
  }
  return slots_[topic_slot(topic)];
}

redis_broker::shard* redis_broker::shard_of(std::string_view topic) {
  auto index = shard_index(topic);
  return index < 0 ? nullptr : shards_[static_cast<std::size_t>(index)].get();
}

void redis_broker::update_up() {
  // Ready when every master of the map (the one Redis without redis_cluster) is reachable on both
  // connections, and the map covers every slot: docs/decisions.md says why not per slot.
  bool up = !shards_.empty() && (!settings_.cluster || map_known_);
  for (const auto& s : shards_) {
    if (s->serves && !(s->command_up && s->pubsub_up)) {
      up = false;
    }
  }
  stats_.up.store(up, std::memory_order_relaxed);
}

void redis_broker::on_map_tick() {
  if (!settings_.cluster) {
    return;
  }
  if (!ready() || map_again_) {
    refresh_map();
  }
  map_timer_.expires_after(map_retry);
  map_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      on_map_tick();
    }
  });
}

void redis_broker::refresh_map() {
  if (!settings_.cluster) {
    return;
  }
  if (map_refreshing_) {
    map_again_ = true;
    return;
  }
  // Ask a master that serves slots now; the seed when none is reachable (at start, or when every
  // master of the map moved).
  int asked = -1;
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    if (shards_[i]->command_up && (asked < 0 || shards_[i]->serves)) {
      asked = static_cast<int>(i);
      if (shards_[i]->serves) {
        break;
      }
    }
  }
  if (asked < 0) {
    return;  // the first master to connect asks
  }
  map_refreshing_ = true;
  map_again_ = false;
  shards_[static_cast<std::size_t>(asked)]->command->command(
      {"CLUSTER", "SLOTS"},
      [this, asked](boost::system::error_code ec, reply_ptr r) { on_map(asked, ec, r.get()); });
}

void redis_broker::on_map(int asked, boost::system::error_code ec, const redisReply* r) {
  map_refreshing_ = false;
  const auto& s = *shards_[static_cast<std::size_t>(asked)];
  auto ranges = ec ? std::nullopt : parse_cluster_slots(r);
  if (!ranges) {
    // The map tick asks again: said once (a Redis without cluster support would say it twice a
    // second).
    auto why = ec ? ec.message() : std::string(reply_text(r));
    if (why != map_error_) {
      spdlog::warn("redis cluster: CLUSTER SLOTS on {} failed: {}", s.name, why);
      map_error_ = why;
    }
    return;
  }
  map_error_.clear();
  apply_map(*ranges, s.at.host);
  if (map_again_) {
    refresh_map();
  }
}

void redis_broker::apply_map(const std::vector<slot_range>& ranges, const std::string& asked_host) {
  std::vector<int> next(slot_count, -1);
  for (const auto& r : ranges) {
    auto index = add_shard(r.host.empty() ? asked_host : r.host, r.port);
    std::fill(next.begin() + r.first, next.begin() + r.last + 1, index);
  }
  std::vector<bool> serving(shards_.size(), false);
  std::size_t covered = 0;
  for (auto index : next) {
    if (index >= 0) {
      serving[static_cast<std::size_t>(index)] = true;
      ++covered;
    }
  }
  bool changed = next != slots_;
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    shards_[i]->serves = serving[i];
  }
  slots_ = std::move(next);
  map_known_ = covered == slot_count;
  if (changed) {
    std::size_t masters = 0;
    for (auto s : serving) {
      masters += s ? 1 : 0;
    }
    spdlog::info("redis cluster: {} masters serve {} of {} slots", masters, covered, slot_count);
  }
  update_up();
  reconcile();
}

void redis_broker::reconcile() {
  for (auto& [topic, t] : topics_) {
    if (t.loop_mask == 0 && t.waiters.empty()) {
      continue;
    }
    auto index = shard_index(topic);
    if (t.want && t.shard == index) {
      continue;
    }
    if (t.want) {
      // Subscribed on a master that no longer owns the slot: leave it (its confirmation is
      // ignored, t.shard changes below) and repair from history what the new owner published. A
      // subscription it never confirmed (refused with MOVED) needs no leaving.
      auto& old = *shards_[static_cast<std::size_t>(t.shard)];
      if (old.pubsub_up && t.live) {
        old.pubsub->send_push({"SUNSUBSCRIBE", channel_of(topic)});
      }
      t.want = false;
      t.live = false;
      t.inflight = 0;
      stats_.channel_moves.fetch_add(1, std::memory_order_relaxed);
    }
    if (index < 0 || !shards_[static_cast<std::size_t>(index)]->pubsub_up) {
      fail_waiters(t);  // this master's connection, when it comes back, subscribes the topic
      continue;
    }
    t.needs_repair = t.known;
    subscribe(topic, t);
  }
}

void redis_broker::on_pubsub_error(int index, std::string_view error) {
  auto& s = *shards_[static_cast<std::size_t>(index)];
  auto to = parse_redirection(error);
  if (!settings_.cluster || !to) {
    // The subscription it answered cannot be told: start the connection over, so every topic
    // of this master resubscribes and repairs.
    spdlog::warn("redis {}: pub/sub error: {}", s.name, error);
    s.pubsub->reset("an error on the pub/sub connection");
    return;
  }
  // An SSUBSCRIBE sent on a stale map: the slot's owner is named, the topics of that slot move
  // there (reconcile), and the whole map is asked again.
  spdlog::debug("redis {}: {}", s.name, error);
  stats_.moved.fetch_add(1, std::memory_order_relaxed);
  slots_[to->slot] = add_shard(to->host.empty() ? s.at.host : to->host, to->port);
  refresh_map();
  reconcile();
}

std::string redis_broker::vouchers(const shard& s) const {
  std::string out = s.lossless ? "1" : "0";
  if (settings_.cluster) {
    // A topic's epoch vouched for by another master of the current map reached this one by a
    // resharding (MIGRATE moves a key whole): see topic_script.hpp.
    for (const auto& o : shards_) {
      if (o.get() != &s && o->serves && o->command_up && !o->run_id.empty()) {
        out += ' ';
        out += o->run_id;
      }
    }
  }
  return out;
}

void redis_broker::route(std::string_view topic, std::vector<std::string> cmd, std::size_t fence_at,
                         redis_connection::reply_handler done) {
  route_slot(settings_.cluster ? topic_slot(topic) : 0, std::move(cmd), fence_at, std::move(done));
}

void redis_broker::key_command(std::string key, std::vector<std::string> cmd,
                               redis_connection::reply_handler done) {
  boost::asio::post(
      ctx_, [this, key = std::move(key), cmd = std::move(cmd), done = std::move(done)]() mutable {
        route_key(key, std::move(cmd), std::move(done));
      });
}

void redis_broker::route_key(std::string_view key, std::vector<std::string> cmd,
                             redis_connection::reply_handler done) {
  route_slot(settings_.cluster ? key_slot(key) : 0, std::move(cmd), 0, std::move(done));
}

void redis_broker::route_slot(std::uint16_t slot, std::vector<std::string> cmd,
                              std::size_t fence_at, redis_connection::reply_handler done) {
  auto op = std::make_shared<routed>();
  op->cmd = std::move(cmd);
  op->fence_at = fence_at;
  op->slot = slot;
  op->done = std::move(done);
  op->deadline = clock::now() + settings_.timeout;
  send(std::move(op));
}

void redis_broker::send(std::shared_ptr<routed> op, int ask) {
  auto index = ask >= 0 ? ask : settings_.cluster ? slots_[op->slot] : 0;
  auto* s = index < 0 ? nullptr : shards_[static_cast<std::size_t>(index)].get();
  if (!s || !s->command_up) {
    // Never queue for a master that is not there; only a redirected command waits (until its
    // deadline) for the master it was sent to, which may be connecting still.
    if (op->redirects == 0 || clock::now() >= op->deadline) {
      op->done(unavailable(), nullptr);
    } else {
      send_later(std::move(op), ask);
    }
    return;
  }
  if (op->fence_at != 0) {
    op->cmd[op->fence_at] = s->run_id;
    op->cmd[op->fence_at + 1] = vouchers(*s);
  }
  if (ask >= 0) {
    s->command->command({"ASKING"}, [](auto, auto) {});
  }
  s->command->command(op->cmd, [this, op, index, ask](boost::system::error_code ec, reply_ptr r) {
    if (ec || !is_error(r.get())) {
      op->done(ec, std::move(r));
      return;
    }
    auto text = reply_text(r.get());
    if (text.starts_with("NOSCRIPT") && op->cmd[0] == "EVALSHA" && op->cmd[1] == sha_ &&
        op->redirects < max_redirects) {
      // The script cache was flushed (SCRIPT FLUSH, a failover): send the script itself. Only the
      // topic script's: another script's sender (presence) answers its own NOSCRIPT.
      op->cmd[0] = "EVAL";
      op->cmd[1] = std::string(topic_script());
      ++op->redirects;
      send(op, ask);
      return;
    }
    if (!settings_.cluster) {
      op->done(ec, std::move(r));
      return;
    }
    if (text.starts_with("TRYAGAIN") && clock::now() < op->deadline) {
      // A multi-key command while its slot migrates, some keys moved: shortly, all of them will
      // have.
      stats_.tryagain.fetch_add(1, std::memory_order_relaxed);
      ++op->redirects;
      send_later(op, ask);
      return;
    }
    auto to = parse_redirection(text);
    if (!to || op->redirects >= max_redirects) {
      op->done(ec, std::move(r));
      return;
    }
    ++op->redirects;
    const auto& from = *shards_[static_cast<std::size_t>(index)];
    auto target = add_shard(to->host.empty() ? from.at.host : to->host, to->port);
    (to->ask ? stats_.ask : stats_.moved).fetch_add(1, std::memory_order_relaxed);
    if (to->ask) {
      send(op, target);  // this command only: the slot is being imported there
      return;
    }
    slots_[to->slot] = target;
    refresh_map();
    send(op);
  });
}

void redis_broker::send_later(std::shared_ptr<routed> op, int ask) {
  auto timer = std::make_shared<asio::steady_timer>(ctx_, std::chrono::milliseconds(10));
  timer->async_wait([this, timer, op = std::move(op), ask](boost::system::error_code ec) mutable {
    if (ec) {
      op->done(unavailable(), nullptr);
      return;
    }
    send(std::move(op), ask);
  });
}

}  // namespace sb::cluster
