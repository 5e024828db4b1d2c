#include "cluster/redis_broker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <map>
#include <random>

#include "cluster/decimal.hpp"
#include "cluster/presence_sync.hpp"
#include "cluster/topic_script.hpp"
#include "core/counters.hpp"
#include "core/idempotency.hpp"
#include "core/publish.hpp"
#include "core/topic_name.hpp"
#include "core/unix_ms.hpp"
#include "io/loop.hpp"

namespace sb::cluster {
namespace {

namespace asio = boost::asio;

/// Live messages of one topic held while its history cannot be read; past this, delivered anyway.
constexpr std::size_t max_held = 100000;

std::string random_epoch() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  // Below 2^53 so an epoch survives any JSON number parser (and Lua's doubles), never 0.
  return std::to_string((rng() & ((std::uint64_t{1} << 53) - 1)) | 1);
}

/// The value of `field` in an INFO reply ("" when absent).
std::string_view info_field(std::string_view info, std::string_view field) {
  std::size_t at = 0;
  while (at < info.size()) {
    auto end = info.find('\n', at);
    auto line = info.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.size() > field.size() && line.starts_with(field) && line[field.size()] == ':') {
      return line.substr(field.size() + 1);
    }
    if (end == std::string_view::npos) {
      break;
    }
    at = end + 1;
  }
  return {};
}

/// The value of a CONFIG GET reply ([name, value]); "" when refused (managed Redis may be).
std::string config_value(const redisReply* r) {
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
    return std::string(reply_text(r->element[1]));
  }
  return {};
}

}  // namespace

redis_broker::redis_broker(redis_settings s, message_encoder encode,
                           std::vector<delivery_sink*> sinks)
    : settings_(std::move(s)),
      encode_(std::move(encode)),
      sinks_(std::move(sinks)),
      outboxes_(sinks_.size()),
      handoffs_(sinks_.size()),
      answers_(sinks_.size()) {
  if (sinks_.size() > 64) {
    throw std::invalid_argument("redis_broker: at most 64 loops");
  }
}

redis_broker::~redis_broker() {
  stop();
}

void redis_broker::start() {
  if (settings_.presence) {
    presence_ = std::make_unique<presence_sync>(
        ctx_,
        presence_sync::redis_access{[this](std::string_view key, std::vector<std::string> cmd,
                                           redis_connection::reply_handler done) {
                                      route_key(key, std::move(cmd), std::move(done));
                                    },
                                    [this] { return ready(); }},
        *settings_.presence,
        presence_sync::options{settings_.node_id, settings_.presence_ttl, settings_.cluster});
  }
  if (settings_.cluster) {
    slots_.assign(slot_count, -1);
  }
  asio::post(ctx_, [this] {
    // Without redis_cluster this is the one Redis; with it, the seed the slot map is asked of.
    add_shard(settings_.at.host, settings_.at.port);
    shards_[0]->serves = !settings_.cluster;
    on_map_tick();
  });
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(ctx_);
    ctx_.run();
  });
}

void redis_broker::stop() {
  if (!thread_.joinable()) {
    return;
  }
  asio::post(ctx_, [this] {
    if (presence_) {
      presence_->stop();
    }
    for (auto& s : shards_) {
      s->command->stop();
      s->pubsub->stop();
    }
    retry_timer_.cancel();
    expiry_timer_.cancel();
    map_timer_.cancel();
    ctx_.stop();
  });
  thread_.join();
}

void redis_broker::on_command_connected(int index, redis_connection& c) {
  // What fencing needs to know of this Redis: who it is (run_id changes on every restart) and
  // whether it can lose an acknowledged write across one.
  struct facts {
    std::string run_id;
    std::string sha;
    bool aof = false;
    bool always = false;
    bool promoted = true;
  };
  auto f = std::make_shared<facts>();
  c.send({"INFO", "server"}, [f](boost::system::error_code ec, reply_ptr r) {
    if (!ec) {
      f->run_id = std::string(info_field(reply_text(r.get()), "run_id"));
    }
  });
  c.send({"INFO", "replication"}, [f](boost::system::error_code ec, reply_ptr r) {
    if (!ec) {
      // A replica promoted to master keeps its old replication id as replid2 with an offset:
      // it may have missed the old master's last writes.
      auto text = reply_text(r.get());
      f->promoted =
          info_field(text, "second_repl_offset") != "-1" || info_field(text, "role") != "master";
    }
  });
  c.send({"CONFIG", "GET", "appendonly"}, [f](boost::system::error_code ec, reply_ptr r) {
    f->aof = !ec && config_value(r.get()) == "yes";
  });
  c.send({"CONFIG", "GET", "appendfsync"}, [f](boost::system::error_code ec, reply_ptr r) {
    f->always = !ec && config_value(r.get()) == "always";
  });
  c.send({"SCRIPT", "LOAD", std::string(topic_script())},
         [f](boost::system::error_code ec, reply_ptr r) {
           if (!ec && r && r->type == REDIS_REPLY_STRING) {
             f->sha = std::string(reply_text(r.get()));
           }
         });
  c.send({"PING"}, [this, index, f, &c](boost::system::error_code ec, reply_ptr) {
    if (ec) {
      return;
    }
    auto& s = *shards_[static_cast<std::size_t>(index)];
    if (f->run_id.empty() || f->sha.empty()) {
      spdlog::error("redis {}: no run_id or the script did not load; retrying", s.at.describe());
      c.reset("setup failed");
      return;
    }
    if (!s.run_id.empty() && s.run_id != f->run_id) {
      spdlog::warn("redis {}: a new Redis process (run_id {}); {}", s.at.describe(), f->run_id,
                   f->aof && f->always && !f->promoted
                       ? "it keeps every acknowledged write, epochs continue"
                       : "it may have lost writes, topics start new epochs");
    }
    s.run_id = f->run_id;
    sha_ = f->sha;
    s.lossless = f->aof && f->always && !f->promoted;
    c.mark_ready();
    s.command_up = true;
    update_up();
    spdlog::info("redis {}: connected (node {})", s.at.describe(), settings_.node_id);
    refresh_map();  // a master that came back may own other slots now (a failover)
    if (presence_) {
      presence_->on_connected();
    }
  });
}

void redis_broker::on_pubsub_connected(int index, redis_connection& c) {
  c.mark_ready();
  c.set_push_mode();
  shards_[static_cast<std::size_t>(index)]->pubsub_up = true;
  update_up();
  // Resubscribe every topic of this master that a loop still wants; what was published meanwhile
  // is repaired from history once the subscription is confirmed.
  reconcile();
}

void redis_broker::on_pubsub_down(int index) {
  shards_[static_cast<std::size_t>(index)]->pubsub_up = false;
  update_up();
  for (auto it = topics_.begin(); it != topics_.end();) {
    auto& t = it->second;
    if (t.shard != index) {
      ++it;
      continue;
    }
    t.want = false;
    t.live = false;
    t.inflight = 0;
    fail_waiters(t);
    if (t.loop_mask == 0) {
      if (presence_) {
        presence_->on_idle(it->first);
      }
      it = topics_.erase(it);
    } else {
      ++it;
    }
  }
  if (shards_[static_cast<std::size_t>(index)]->serves) {
    refresh_map();  // it may have been replaced (a failover)
  }
}

void redis_broker::fail_waiters(topic_state& t) {
  auto waiters = std::move(t.waiters);
  t.waiters.clear();
  for (auto& w : waiters) {
    attach_result out;
    out.unavailable = true;  // neither hang nor claim a gap history may not have: come back
    io::loop::run_on(
        w.origin, [d = std::move(w.done), out = std::move(out)]() mutable { d(std::move(out)); });
  }
}

void redis_broker::subscribe(const std::string& topic, topic_state& t) {
  auto index = shard_index(topic);
  if (index < 0 || !shards_[static_cast<std::size_t>(index)]->pubsub_up) {
    return;
  }
  t.want = true;
  t.shard = index;
  ++t.inflight;
  shards_[static_cast<std::size_t>(index)]->pubsub->send_push(
      {settings_.cluster ? "SSUBSCRIBE" : "SUBSCRIBE", channel_of(topic)});
}

void redis_broker::unsubscribe_if_idle(const std::string& topic) {
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    return;
  }
  auto& t = it->second;
  if (t.loop_mask != 0 || !t.waiters.empty()) {
    return;
  }
  if (t.want && t.shard >= 0 && shards_[static_cast<std::size_t>(t.shard)]->pubsub_up) {
    t.want = false;
    t.live = false;
    ++t.inflight;
    shards_[static_cast<std::size_t>(t.shard)]->pubsub->send_push(
        {settings_.cluster ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", channel_of(topic)});
  }
  if (t.inflight == 0 && !t.repairing) {
    if (presence_) {
      presence_->on_idle(topic);
    }
    topics_.erase(it);
  }
}

void redis_broker::on_push(int index, reply_ptr r) {
  if (is_error(r.get())) {
    on_pubsub_error(index, reply_text(r.get()));
    return;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
    return;
  }
  auto kind = reply_text(r->element[0]);
  std::string topic(topic_of_channel(reply_text(r->element[1])));
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    return;
  }
  auto& t = it->second;
  if (t.shard != index) {
    return;  // from a master the topic has left: the new one's messages and history count
  }
  if (kind == "message" || kind == "smessage") {
    auto payload = reply_text(r->element[2]);
    if (payload.empty()) {
      return;
    }
    if (presence_ && (payload.front() == 'P' || payload.front() == 'L')) {
      if (payload.front() == 'P') {
        presence_->on_record(topic, payload.substr(1));
      } else {
        presence_->on_token(topic, payload.substr(1));
      }
      return;
    }
    auto m = parse_record(topic, payload.substr(1), payload.front() == 'S');
    if (!m) {
      return;
    }
    stats_.pubsub_lag.observe(
        static_cast<double>(std::max<std::int64_t>(0, unix_ms() - m->time_ms)) / 1000.0);
    if (m->stored()) {
      on_stored(topic, std::move(m));
    } else {
      hand_off(t, m);
    }
    return;
  }
  if (kind == "sunsubscribe" && t.want && t.inflight == 0) {
    // Not asked for: the master gave the slot away (a resharding) and dropped its channels. The
    // topic subscribes on the new owner and repairs from history what it published meanwhile.
    stats_.channel_moves.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("redis {}: {} moved to another master",
                 shards_[static_cast<std::size_t>(index)]->name, topic);
    t.want = false;
    t.live = false;
    refresh_map();
    return;
  }
  // subscribe / unsubscribe confirmations, in the order asked.
  if (t.inflight > 0) {
    --t.inflight;
  }
  if (t.inflight != 0) {
    return;
  }
  if (t.want) {
    t.live = true;
    if (presence_) {
      presence_->on_live(topic);  // before the attach's read: the room is loaded when it answers
    }
    if (t.needs_repair) {
      t.needs_repair = false;
      repair(topic, t.last);
    }
    run_waiters(topic);
  } else {
    unsubscribe_if_idle(topic);
  }
}

void redis_broker::run_waiters(const std::string& topic) {
  auto& t = topics_[topic];
  auto waiters = std::move(t.waiters);
  t.waiters.clear();
  // Waiters asking from the same position share one read: a connection storm (every new
  // subscriber of a topic asks for its head) or the clients of a killed node resuming together
  // (most stand at the same id) costs Redis one script call per topic and position per turn, not
  // one per subscriber. The read is sent after every one of them was registered on its loop, so
  // the seam is the same as if each had read on its own.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::vector<waiter>> resuming;
  std::vector<waiter> fresh;
  for (auto& w : waiters) {
    if (w.since) {
      resuming[{w.since->epoch, w.since->seq}].push_back(std::move(w));
    } else {
      fresh.push_back(std::move(w));
    }
  }
  if (!fresh.empty()) {
    read_for_waiters(topic, std::nullopt, std::move(fresh));
  }
  for (auto& [at, group] : resuming) {
    read_for_waiters(topic, position{at.first, at.second}, std::move(group));
  }
}

void redis_broker::run_waiters_soon(const std::string& topic) {
  // Attaches to a live topic arrive one post each; gathering those of this turn lets
  // run_waiters share their reads. Under load the turn is long and the group large; when idle it
  // costs one extra post.
  waiters_due_.insert(topic);
  if (waiters_posted_) {
    return;
  }
  waiters_posted_ = true;
  asio::post(ctx_, [this] {
    waiters_posted_ = false;
    auto due = std::move(waiters_due_);
    waiters_due_.clear();
    for (const auto& topic : due) {
      auto it = topics_.find(topic);
      if (it != topics_.end() && it->second.live && !it->second.waiters.empty()) {
        run_waiters(topic);
      }
    }
  });
}

struct redis_broker::backlog_read {
  read_result out;
  bool first = true;
  read_handler done;
};

void redis_broker::read_backlog(const std::string& topic, position since, read_handler done) {
  auto st = std::make_shared<backlog_read>();
  st->done = std::move(done);
  read_backlog_page(topic, since, std::move(st));
}

void redis_broker::read_backlog_page(const std::string& topic, position after,
                                     std::shared_ptr<backlog_read> st) {
  stats_.resume_reads.fetch_add(1, std::memory_order_relaxed);  // one per page
  read(topic, after, backlog_page, [this, topic, st](bool ok, read_result res) {
    auto& out = st->out;
    if (!ok) {
      st->done(false, std::move(out));
      return;
    }
    out.head = res.head;
    if (st->first) {
      st->first = false;
      out.retained = std::move(res.retained);
      out.gap = res.gap;
    } else if (res.gap) {
      // History was trimmed past the last page read (published faster than read): the backlog
      // has a hole, so the whole read is a gap.
      out.gap = true;
      out.messages.clear();
    }
    if (!out.gap) {
      out.messages.insert(out.messages.end(), std::make_move_iterator(res.messages.begin()),
                          std::make_move_iterator(res.messages.end()));
    }
    if (out.gap || !res.more || out.messages.empty()) {
      out.more = false;
      st->done(true, std::move(out));
      return;
    }
    read_backlog_page(topic, out.messages.back()->pos, st);
  });
}

void redis_broker::read_for_waiters(const std::string& topic, std::optional<position> since,
                                    std::vector<waiter> group) {
  auto answer = [this, topic, since, group = std::move(group)](bool ok, read_result res) mutable {
    spdlog::debug("redis: attach of {} to {} since {}: {} head {} gap {}", group.size(), topic,
                  since ? to_string(*since) : "-", ok ? "read" : "failed", to_string(res.head),
                  res.gap);
    if (ok) {
      auto it = topics_.find(topic);
      if (it != topics_.end() && !it->second.known) {
        it->second.last = res.head;
        it->second.known = true;
      }
    }
    bool retried = false;
    for (std::size_t i = 0; i < group.size(); ++i) {
      auto& w = group[i];
      if (!ok && std::chrono::steady_clock::now() < w.deadline) {
        auto it = topics_.find(topic);
        if (it != topics_.end()) {
          it->second.waiters.push_back(std::move(w));
          retried = true;
          continue;
        }
      }
      attach_result out;
      if (!ok) {
        // History could not be read in time (Redis down, or busy with a resume storm): it
        // may well still cover the asked position, so the subscriber is told to come back,
        // not of a gap it may not have had.
        out.unavailable = true;
      } else {
        bool last = i + 1 == group.size();
        out.head = res.head;
        out.gap = since && res.gap;
        if (since && !res.gap) {
          out.missed = last ? std::move(res.messages) : res.messages;
        }
        if (!since || res.gap) {
          out.retained = last ? std::move(res.retained) : res.retained;
        }
      }
      io::loop::run_on(
          w.origin, [d = std::move(w.done), out = std::move(out)]() mutable { d(std::move(out)); });
    }
    if (retried) {
      note_waiting(topic);
      stalled_attaches_.insert(topic);
      retry_stalled();
    }
  };
  if (since) {
    read_backlog(topic, *since, std::move(answer));
  } else {
    // Without a position only the head and the retained message are needed.
    read(topic, std::nullopt, 1, std::move(answer));
  }
}

void redis_broker::on_stored(const std::string& topic, message_ptr m) {
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    return;
  }
  auto& t = it->second;
  if (t.repairing) {
    t.held.push_back(std::move(m));
    return;
  }
  if (t.known) {
    if (m->pos.epoch == t.last.epoch) {
      if (m->pos.seq <= t.last.seq) {
        return;  // repaired already
      }
      if (m->pos.seq > t.last.seq + 1) {
        auto from = t.last;
        t.held.push_back(std::move(m));
        repair(topic, from);
        return;
      }
    } else if (m->pos.seq > 1) {
      auto epoch = m->pos.epoch;
      t.held.push_back(std::move(m));
      repair(topic, {epoch, 0});
      return;
    }
  }
  hand_off(t, m);
}

void redis_broker::repair(const std::string& topic, position from) {
  auto& t = topics_[topic];
  spdlog::debug("redis: repairing {} after {}", topic, to_string(from));
  t.repairing = true;
  stats_.repairs.fetch_add(1, std::memory_order_relaxed);
  stats_.resume_reads.fetch_add(1, std::memory_order_relaxed);
  read(topic, from, 0, [this, topic, from](bool ok, read_result res) {
    auto it = topics_.find(topic);
    if (it == topics_.end()) {
      return;
    }
    auto& t = it->second;
    spdlog::debug("redis: repair of {}: {} ({} messages)", topic, ok ? "read" : "failed",
                  res.messages.size());
    if (!ok && t.held.size() < max_held) {
      // History cannot be read now: hold what arrives and try again, rather than deliver past
      // the hole.
      stalled_[topic] = from;
      retry_stalled();
      return;
    }
    t.repairing = false;
    auto newer = [&t](const message_ptr& m) {
      return !t.known || m->pos.epoch != t.last.epoch || m->pos.seq > t.last.seq;
    };
    // History no longer reaches back to `from` (trimmed while this node could not hear the
    // topic), or cannot be read at all: the next message handed off comes after a hole.
    t.hole = !ok || res.gap;
    if (ok) {
      for (auto& m : res.messages) {
        if (newer(m)) {
          hand_off(t, m);
        }
      }
    } else {
      spdlog::error(
          "redis: {} messages of {} held while history was unreadable: delivering them "
          "past the hole",
          t.held.size(), topic);
    }
    auto held = std::move(t.held);
    t.held.clear();
    for (auto& m : held) {
      if (ok) {
        on_stored(topic, std::move(m));
      } else if (newer(m)) {
        hand_off(t, m);
      }
    }
    if (t.loop_mask == 0) {
      unsubscribe_if_idle(topic);
    }
  });
}

void redis_broker::note_waiting(const std::string& topic) {
  waiting_.insert(topic);
  if (expiry_armed_) {
    return;
  }
  expiry_armed_ = true;
  expiry_timer_.expires_after(settings_.timeout / 2);
  expiry_timer_.async_wait([this](boost::system::error_code ec) {
    expiry_armed_ = false;
    if (!ec) {
      expire_waiters();
    }
  });
}

void redis_broker::expire_waiters() {
  auto now = std::chrono::steady_clock::now();
  std::vector<std::string> still;
  for (const auto& topic : waiting_) {
    auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.waiters.empty()) {
      continue;
    }
    auto& waiters = it->second.waiters;
    auto late = std::stable_partition(waiters.begin(), waiters.end(),
                                      [now](const waiter& w) { return now < w.deadline; });
    for (auto w = late; w != waiters.end(); ++w) {
      spdlog::debug("redis: attach to {} unanswered in time: come back later", topic);
      attach_result out;
      out.unavailable = true;
      io::loop::run_on(w->origin, [done = std::move(w->done), out = std::move(out)]() mutable {
        done(std::move(out));
      });
    }
    waiters.erase(late, waiters.end());
    if (!waiters.empty()) {
      still.push_back(topic);
    }
  }
  waiting_.clear();
  for (const auto& topic : still) {
    note_waiting(topic);
  }
}

void redis_broker::retry_stalled() {
  if (retry_armed_ || (stalled_.empty() && stalled_attaches_.empty())) {
    return;
  }
  retry_armed_ = true;
  retry_timer_.expires_after(std::chrono::milliseconds(50));
  retry_timer_.async_wait([this](boost::system::error_code ec) {
    retry_armed_ = false;
    if (ec) {
      return;
    }
    // What waits on a master that is still away waits on (the others are read now).
    auto down = [this](const std::string& topic) {
      auto* s = shard_of(topic);
      return !s || !s->command_up;
    };
    auto stalled = std::move(stalled_);
    stalled_.clear();
    for (auto& [topic, from] : stalled) {
      if (!topics_.count(topic)) {
        continue;
      }
      if (down(topic)) {
        stalled_[topic] = from;
      } else {
        repair(topic, from);
      }
    }
    auto attaches = std::move(stalled_attaches_);
    stalled_attaches_.clear();
    for (const auto& topic : attaches) {
      auto it = topics_.find(topic);
      if (it == topics_.end() || !it->second.live || it->second.waiters.empty()) {
        continue;
      }
      if (down(topic)) {
        stalled_attaches_.insert(topic);
      } else {
        run_waiters(topic);
      }
    }
    retry_stalled();
  });
}

void redis_broker::hand_off(topic_state& t, const message_ptr& m) {
  if (m->stored()) {
    if (t.hole) {
      m->after_hole = true;  // not shared yet: read from Redis by this thread
      t.hole = false;
    }
    t.last = m->pos;
    t.known = true;
    m->set_live_handoffs(static_cast<std::uint32_t>(std::popcount(t.loop_mask)));
    if (t.loop_mask == 0) {
      m->release_ws();
    }
  }
  if (t.loop_mask == 0) {
    return;
  }
  for (auto mask = t.loop_mask; mask != 0; mask &= mask - 1) {
    handoffs_[static_cast<std::size_t>(std::countr_zero(mask))].push_back(m);
  }
  schedule_flush();
}

void redis_broker::schedule_flush() {
  if (!flush_posted_) {
    flush_posted_ = true;
    asio::post(ctx_, [this] { flush_to_loops(); });
  }
}

void redis_broker::flush_to_loops() {
  flush_posted_ = false;
  for (std::size_t i = 0; i < answers_.size(); ++i) {
    if (!answers_[i].handlers.empty()) {
      asio::post(answers_[i].to->context(), [fs = std::move(answers_[i].handlers)] {
        for (const auto& f : fs) {
          f();
        }
      });
      answers_[i].handlers.clear();
    }
  }
  for (std::size_t i = 0; i < handoffs_.size(); ++i) {
    if (!handoffs_[i].empty()) {
      sinks_[i]->deliver_batch(handoffs_[i]);
    }
  }
}

message_ptr redis_broker::parse_record(std::string_view topic, std::string_view record,
                                       bool stored) const {
  auto nl = record.find('\n');
  if (nl == std::string_view::npos) {
    return nullptr;
  }
  std::uint64_t f[6];
  auto header = record.substr(0, nl);
  for (auto& v : f) {
    auto sp = header.find(' ');
    auto n = parse_decimal(header.substr(0, sp));
    if (!n) {
      return nullptr;
    }
    v = *n;
    header = sp == std::string_view::npos ? std::string_view() : header.substr(sp + 1);
  }
  auto body = record.substr(nl + 1);
  if (f[4] + f[5] > body.size()) {
    return nullptr;
  }
  // delivery_lag on this node counts from receipt (make_message's stamp): the publisher's steady
  // clock is another node's.
  auto m = make_message(stored ? message_kind::stored : message_kind::volatile_,
                        publish_item{std::string(topic), std::string(body.substr(0, f[4])),
                                     std::string(body.substr(f[4] + f[5])), f[3] == 1,
                                     std::string(body.substr(f[4], f[5]))},
                        static_cast<std::int64_t>(f[2]));
  if (stored) {
    m->pos = {f[0], f[1]};
  }
  if (encode_) {
    encode_(*m);
  }
  return m;
}

void redis_broker::eval(std::string_view topic, std::vector<std::string> keys,
                        std::vector<std::string> args, redis_connection::reply_handler done) {
  std::vector<std::string> cmd;
  cmd.reserve(3 + keys.size() + args.size());
  cmd.push_back("EVALSHA");
  cmd.push_back(sha_);
  cmd.push_back(std::to_string(keys.size()));
  for (auto& k : keys) {
    cmd.push_back(std::move(k));
  }
  // ARGV[2] and ARGV[3] (fence_args) are filled for the master the command goes to.
  auto fence_at = cmd.size() + 1;
  for (auto& a : args) {
    cmd.push_back(std::move(a));
  }
  route(topic, std::move(cmd), fence_at, std::move(done));
}

std::vector<std::string> redis_broker::fence_args(char mode) const {
  const auto& l = settings_.limits;
  auto ttl = l.max_age_ms * 2 + 3600 * 1000;
  return {std::string(1, mode),
          std::string(),
          std::string(),
          random_epoch(),
          std::to_string(l.max_messages),
          std::to_string(l.max_bytes),
          std::to_string(l.max_age_ms),
          std::to_string(ttl)};
}

void redis_broker::read(std::string_view topic, std::optional<position> since, std::size_t limit,
                        read_handler done) {
  auto args = fence_args('r');
  args.push_back(since ? std::to_string(since->epoch) : std::string());
  args.push_back(since ? std::to_string(since->seq) : "0");
  args.push_back(std::to_string(limit));
  std::string name(topic);
  eval(topic, {meta_key(topic), history_key(topic)}, std::move(args),
       [this, name, done = std::move(done)](boost::system::error_code ec, reply_ptr r) {
         read_result out;
         if (ec || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
           if (r && is_error(r.get())) {
             spdlog::warn("redis: history read of {} failed: {}", name, reply_text(r.get()));
           } else {
             spdlog::debug("redis: history read of {} failed: {}", name,
                           ec ? ec.message() : "an unexpected reply");
           }
           done(false, std::move(out));
           return;
         }
         auto epoch = parse_decimal(reply_text(r->element[0]));
         auto seq = parse_decimal(reply_text(r->element[1]));
         if (!epoch || !seq) {
           done(false, std::move(out));
           return;
         }
         out.head = {*epoch, *seq};
         out.gap = r->element[2]->integer != 0;
         out.more = r->element[3]->integer != 0;
         if (auto ret = reply_text(r->element[4]); !ret.empty()) {
           out.retained = parse_record(name, ret, true);
         }
         auto* list = r->element[5];
         if (list->type == REDIS_REPLY_ARRAY) {
           out.messages.reserve(list->elements);
           for (std::size_t i = 0; i < list->elements; ++i) {
             if (auto m = parse_record(name, reply_text(list->element[i]), true)) {
               m->release_ws();  // a replay frames it again when it needs to
               out.messages.push_back(std::move(m));
             }
           }
         }
         done(true, std::move(out));
       });
}

void redis_broker::publish(std::vector<publish_item> items, publish_handler done) {
  for (const auto& item : items) {
    if (!is_valid_topic(item.topic)) {
      done(errc::invalid_topic);
      return;
    }
  }
  auto* origin = io::loop::current();
  publish_request req{std::move(items), std::move(done), origin};
  if (origin && origin->index() < outboxes_.size()) {
    // Every publish of this loop turn goes to the broker's thread in one post, at the end of the
    // turn: a read of many pipelined requests wakes that thread once (it shares a core with the
    // loop when the node is pinned, and each wake-up preempts the loop), and store() makes one
    // script call of what they publish to one topic.
    outboxes_[origin->index()].publishes.push_back(std::move(req));
    post_outbox(*origin);
    return;
  }
  std::vector<publish_request> requests;
  requests.push_back(std::move(req));
  asio::post(ctx_,
             [this, requests = std::move(requests)]() mutable { store(std::move(requests)); });
}

void redis_broker::to_broker(io::loop* origin, std::function<void()> op) {
  if (!origin || origin->index() >= outboxes_.size()) {
    asio::post(ctx_, std::move(op));
    return;
  }
  // With this turn's publishes, in the order asked (a detach never overtakes its attach): the
  // attaches of a connection storm reach the broker together and share their history reads.
  outboxes_[origin->index()].ops.push_back(std::move(op));
  post_outbox(*origin);
}

void redis_broker::post_outbox(io::loop& origin) {
  auto& box = outboxes_[origin.index()];
  if (box.posted) {
    return;
  }
  box.posted = true;
  asio::post(origin.context(), [this, i = origin.index()] {
    auto& box = outboxes_[i];
    box.posted = false;
    asio::post(ctx_,
               [this, requests = std::move(box.publishes), ops = std::move(box.ops)]() mutable {
                 for (auto& op : ops) {
                   op();
                 }
                 if (!requests.empty()) {
                   store(std::move(requests));
                 }
               });
    box.publishes.clear();
    box.ops.clear();
  });
}

void redis_broker::store(std::vector<publish_request> requests) {
  struct batch {
    std::vector<position> ids;
    std::size_t left;
    bool failed = false;
    publish_handler done;
    io::loop* origin;
  };
  // One item of one request.
  struct item_ref {
    std::shared_ptr<batch> b;
    std::size_t i;
    publish_item* item;
  };
  auto window = std::to_string(settings_.idempotency_window.count());
  auto finish_one = [this](const std::shared_ptr<batch>& b) {
    if (--b->left == 0) {
      answer(b->origin, [b] {
        if (b->failed) {
          b->done(errc::unavailable);
        } else {
          b->done(std::move(b->ids));
        }
      });
    }
  };
  // One script call per message with an Idempotency-Key; the others of one topic go together,
  // one call per run between keyed ones (so seqs still follow the order the requests came in),
  // across the requests of this hand-off: the script's fixed cost (clock, meta, trim check,
  // expiry) and a round of replies are paid once per run, not once per message, and Redis
  // publishes the run in one write, which reaches the loops as one batch.
  auto send_single = [&](item_ref r) {
    auto& item = *r.item;
    bool idem = !item.idempotency_key.empty();
    std::vector<std::string> keys{meta_key(item.topic), history_key(item.topic)};
    if (idem) {
      // Named only when used: during a resharding a key that does not exist yet (it never
      // does before its first publish) would make Redis answer TRYAGAIN to the whole script.
      keys.push_back(idempotency_key(item.topic, item.idempotency_key));
    }
    auto args = fence_args('p');
    args.push_back(channel_of(item.topic));
    args.push_back(std::move(item.event));
    args.push_back(std::move(item.from));
    args.push_back(item.retain ? "1" : "0");
    args.push_back(std::move(item.data));
    args.push_back(idem ? window : "0");
    args.push_back(settings_.cluster ? "SPUBLISH" : "PUBLISH");
    eval(item.topic, std::move(keys), std::move(args),
         [b = std::move(r.b), i = r.i, finish_one](boost::system::error_code ec, reply_ptr reply) {
           std::optional<position> id;
           if (!ec && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
             id = parse_position(reply_text(reply->element[1]));
           } else if (reply && is_error(reply.get())) {
             spdlog::warn("redis: publish refused: {}", reply_text(reply.get()));
           }
           if (id) {
             b->ids[i] = *id;
           } else {
             b->failed = true;
           }
           finish_one(b);
         });
  };
  auto send_run = [&](std::vector<item_ref> run) {
    if (run.size() == 1) {
      send_single(std::move(run.front()));
      return;
    }
    const auto& topic = run.front().item->topic;
    auto args = fence_args('p');
    args.reserve(args.size() + 8 + 4 * run.size());
    args.push_back(channel_of(topic));
    args.insert(args.end(), {"", "", "0", ""});  // the single message's slots, unused
    args.push_back("0");
    args.push_back(settings_.cluster ? "SPUBLISH" : "PUBLISH");
    args.push_back(std::to_string(run.size()));
    for (auto& r : run) {
      auto& item = *r.item;
      args.push_back(std::move(item.event));
      args.push_back(std::move(item.from));
      args.push_back(item.retain ? "1" : "0");
      args.push_back(std::move(item.data));
      r.item = nullptr;  // moved from; the reply needs only the batch and the index
    }
    // One reply settles the whole run.
    eval(topic, {meta_key(topic), history_key(topic)}, std::move(args),
         [run = std::move(run), finish_one](boost::system::error_code ec, reply_ptr reply) {
           std::optional<position> first;
           if (!ec && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3) {
             first = parse_position(std::string(reply_text(reply->element[1])) + "-" +
                                    std::string(reply_text(reply->element[2])));
           } else if (reply && is_error(reply.get())) {
             spdlog::warn("redis: publish refused: {}", reply_text(reply.get()));
           }
           for (std::size_t k = 0; k < run.size(); ++k) {
             const auto& r = run[k];
             if (first) {
               r.b->ids[r.i] = {first->epoch, first->seq + k};
             } else {
               r.b->failed = true;
             }
             finish_one(r.b);
           }
         });
  };
  std::unordered_map<std::string_view, std::vector<item_ref>> open;  // topic -> its run
  for (auto& req : requests) {
    auto b =
        std::make_shared<batch>(batch{std::vector<position>(req.items.size()), req.items.size(),
                                      false, std::move(req.done), req.origin});
    for (std::size_t i = 0; i < req.items.size(); ++i) {
      auto& item = req.items[i];
      std::string_view topic = item.topic;
      if (item.idempotency_key.empty()) {
        open[topic].push_back({b, i, &item});
        continue;
      }
      if (auto it = open.find(topic); it != open.end() && !it->second.empty()) {
        send_run(std::move(it->second));
        it->second.clear();
      }
      send_single({b, i, &item});
    }
  }
  for (auto& [topic, run] : open) {
    if (!run.empty()) {
      send_run(std::move(run));
    }
  }
}

void redis_broker::answer(io::loop* origin, std::function<void()> f) {
  if (!origin || origin->index() >= answers_.size()) {
    io::loop::run_on(origin, std::move(f));
    return;
  }
  auto& a = answers_[origin->index()];
  a.to = origin;
  a.handlers.push_back(std::move(f));
  schedule_flush();
}

void redis_broker::attach(std::size_t loop_index, std::string_view topic,
                          std::optional<position> since, attach_handler done) {
  auto* origin = io::loop::current();
  to_broker(origin, [this, loop_index, topic = std::string(topic), since, done = std::move(done),
                     origin]() mutable {
    auto& t = topics_[topic];
    t.loop_mask |= std::uint64_t{1} << loop_index;
    auto* s = shard_of(topic);
    if (!s || !s->pubsub_up || !s->command_up) {
      spdlog::debug("redis: attach to {} while Redis is unreachable: come back later", topic);
      attach_result out;
      out.unavailable = true;  // neither hang nor claim a gap history may not have
      io::loop::run_on(origin, [done = std::move(done), out = std::move(out)]() mutable {
        done(std::move(out));
      });
      return;
    }
    t.waiters.push_back(
        {since, std::move(done), origin, std::chrono::steady_clock::now() + 2 * settings_.timeout});
    note_waiting(topic);
    if (!t.want) {
      subscribe(topic, t);
    } else if (t.live) {
      run_waiters_soon(topic);
    }
  });
}

void redis_broker::broadcast(message_ptr m) {
  asio::post(ctx_, [this, m = std::move(m)] {
    if (m->kind == message_kind::presence || m->topic.starts_with('$')) {
      // A presence diff is this node's announcement (presence_sync carries the members across
      // nodes), and a `$` topic is the server's own (the admin stats stream: this node's
      // figures): hand them to the local loops only.
      auto it = topics_.find(m->topic);
      if (it != topics_.end()) {
        hand_off(it->second, m);
      }
      return;
    }
    // Volatile: dropped while Redis is away (route fails at once), as under any congestion.
    std::string record = "V0 0 " + std::to_string(m->time_ms) + " 0 " +
                         std::to_string(m->event.size()) + " " + std::to_string(m->from.size()) +
                         "\n" + m->event + m->from + m->data_copy();
    route(m->topic,
          {settings_.cluster ? "SPUBLISH" : "PUBLISH", channel_of(m->topic), std::move(record)}, 0,
          [](auto, auto) {});
  });
}

void redis_broker::detach(std::size_t loop_index, std::string_view topic) {
  to_broker(io::loop::current(), [this, loop_index, topic = std::string(topic)] {
    auto it = topics_.find(topic);
    if (it == topics_.end()) {
      return;
    }
    it->second.loop_mask &= ~(std::uint64_t{1} << loop_index);
    unsubscribe_if_idle(topic);
  });
}

void redis_broker::read_history(std::string_view topic, std::optional<position> since,
                                std::size_t limit, history_handler done) {
  auto* origin = io::loop::current();
  asio::post(ctx_, [this, topic = std::string(topic), since, limit, done = std::move(done),
                    origin]() mutable {
    if (auto* s = shard_of(topic); !s || !s->command_up) {
      history_page page;
      page.error = errc::unavailable;
      io::loop::run_on(origin, [done = std::move(done), page = std::move(page)]() mutable {
        done(std::move(page));
      });
      return;
    }
    if (since) {
      stats_.resume_reads.fetch_add(1, std::memory_order_relaxed);
    }
    read(topic, since, limit,
         [this, origin, done = std::move(done)](bool ok, read_result res) mutable {
           history_page page;
           if (!ok) {
             page.error = errc::unavailable;
           } else {
             page.messages = std::move(res.messages);
             page.gap = res.gap;
             page.more = res.more;
           }
           io::loop::run_on(origin, [done = std::move(done), page = std::move(page)]() mutable {
             done(std::move(page));
           });
         });
  });
}

std::string redis_broker::metrics_text() const {
  std::string out;
  stats_.roundtrip.render(out, "switchboard_redis_roundtrip_seconds",
                          "Redis command round trips (sent to reply read)");
  stats_.pubsub_lag.render(out, "switchboard_redis_pubsub_lag_seconds",
                           "publish time (Redis clock) to receipt on this node");
  auto counter = [&out](std::string_view name, std::string_view type, std::string_view help,
                        std::uint64_t v) {
    std::string n(name);
    out += "# HELP " + n + " " + std::string(help) + "\n# TYPE " + n + " " + std::string(type) +
           "\n" + n + " " + std::to_string(v) + "\n";
  };
  counter("switchboard_redis_reconnects_total", "counter",
          "reconnections to Redis after a connection was lost",
          stats_.reconnects.load(std::memory_order_relaxed));
  counter("switchboard_redis_resume_reads_total", "counter",
          "history reads from Redis for a resume, a history page or a repair",
          stats_.resume_reads.load(std::memory_order_relaxed));
  counter("switchboard_redis_repairs_total", "counter",
          "holes in a topic's live messages filled from history (resubscription, lost message)",
          stats_.repairs.load(std::memory_order_relaxed));
  if (settings_.cluster) {
    out +=
        "# HELP switchboard_redis_redirects_total Redis Cluster answers that sent a command to "
        "another master (moved, ask) or again later (tryagain)\n"
        "# TYPE switchboard_redis_redirects_total counter\n";
    for (auto [kind, n] : {std::pair{"moved", &stats_.moved}, std::pair{"ask", &stats_.ask},
                           std::pair{"tryagain", &stats_.tryagain}}) {
      out += std::string("switchboard_redis_redirects_total{kind=\"") + kind + "\"} " +
             std::to_string(n->load(std::memory_order_relaxed)) + "\n";
    }
    counter("switchboard_redis_channel_moves_total", "counter",
            "topics whose channel moved to another master (resharding, failover): resubscribed "
            "there and repaired from history",
            stats_.channel_moves.load(std::memory_order_relaxed));
  }
  counter("switchboard_redis_up", "gauge",
          "1 while the command and pub/sub connections to Redis (every master of a cluster) are up",
          ready() ? 1 : 0);
  return out;
}

}  // namespace sb::cluster
