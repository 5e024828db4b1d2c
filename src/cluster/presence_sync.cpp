#include "cluster/presence_sync.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <memory>
#include <random>

#include "cluster/topic_script.hpp"

namespace sb::cluster {
namespace {

namespace asio = boost::asio;

std::string random_incarnation() {
  std::random_device rd;
  return std::to_string((static_cast<std::uint64_t>(rd()) << 32) | rd());
}

bool failed(boost::system::error_code ec, const reply_ptr& r) {
  return ec || !r || is_error(r.get());
}

/// The strings of an array reply (nothing for anything else).
std::vector<std::string> strings_of(const redisReply* r) {
  std::vector<std::string> out;
  if (r && r->type == REDIS_REPLY_ARRAY) {
    for (std::size_t i = 0; i < r->elements; ++i) {
      out.emplace_back(reply_text(r->element[i]));
    }
  }
  return out;
}

}  // namespace

presence_sync::presence_sync(boost::asio::io_context& ctx, redis_access redis,
                             presence_registry& registry, options o)
    : ctx_(ctx),
      redis_(std::move(redis)),
      registry_(registry),
      options_(std::move(o)),
      incarnation_(random_incarnation()),
      beat_timer_(ctx) {
  beat();
}

void presence_sync::send(std::vector<std::string> cmd, redis_connection::reply_handler done) {
  std::string key;
  if ((cmd[0] == "EVALSHA" || cmd[0] == "EVAL") && cmd.size() > 3 && cmd[2] != "0") {
    key = cmd[3];
  } else if (cmd[0] != "EVALSHA" && cmd[0] != "EVAL" && cmd.size() > 1) {
    key = cmd[1];
  }
  redis_.command(key, std::move(cmd), std::move(done));
}

void presence_sync::stop() {
  stopped_ = true;
  beat_timer_.cancel();
}

void presence_sync::eval(std::vector<std::string> keys, std::vector<std::string> args,
                         redis_connection::reply_handler done) {
  auto cmd = std::make_shared<std::vector<std::string>>();
  cmd->reserve(3 + keys.size() + args.size());
  cmd->push_back(sha_.empty() ? "EVAL" : "EVALSHA");
  cmd->push_back(sha_.empty() ? std::string(presence_script()) : sha_);
  cmd->push_back(std::to_string(keys.size()));
  for (auto& k : keys) {
    cmd->push_back(std::move(k));
  }
  for (auto& a : args) {
    cmd->push_back(std::move(a));
  }
  send(*cmd, [this, cmd, done = std::move(done)](boost::system::error_code ec, reply_ptr r) {
    if (!ec && is_error(r.get()) && reply_text(r.get()).starts_with("NOSCRIPT")) {
      // The script cache was flushed (SCRIPT FLUSH, a failover): send the script
      // itself.
      (*cmd)[0] = "EVAL";
      (*cmd)[1] = std::string(presence_script());
      send(*cmd, done);
      return;
    }
    done(ec, std::move(r));
  });
}

void presence_sync::on_connected() {
  ready_ = false;
  full_ = true;  // writes in flight when the connection dropped may or may not have happened
  send({"SCRIPT", "LOAD", std::string(presence_script())},
       [this](boost::system::error_code ec, reply_ptr r) {
         if (!failed(ec, r) && r->type == REDIS_REPLY_STRING) {
           sha_ = std::string(reply_text(r.get()));
         }
       });
  refresh();
  send({"SADD", std::string(all_nodes_key()), options_.node_id}, [](auto, auto) {});
  auto finish = [this] {
    registered_ = true;
    ready_ = true;
    flush_now();
    for (auto& [topic, r] : rooms_) {
      if (r.load_wanted) {
        load(topic, r);
      }
    }
  };
  if (registered_) {
    send({"PING"}, [finish](boost::system::error_code ec, reply_ptr) {
      if (!ec) {
        finish();
      }
    });
    return;
  }
  // A process that ran under this node id before (killed, restarted within presence_ttl_s) may
  // have left members in Redis: they are nobody's now.
  send({"SMEMBERS", node_rooms_key(options_.node_id)},
       [this, finish](boost::system::error_code ec, reply_ptr r) {
         if (failed(ec, r)) {
           return;  // the next connect tries again
         }
         for (const auto& topic : strings_of(r.get())) {
           expel(options_.node_id, topic);
         }
         send({"DEL", node_rooms_key(options_.node_id)},
              [finish](boost::system::error_code ec, reply_ptr) {
                if (!ec) {
                  finish();
                }
              });
       });
}

void presence_sync::refresh() {
  auto px = std::to_string(std::max<std::int64_t>(options_.ttl.count() * 2 / 3, 1));
  send({"SET", node_liveness_key(options_.node_id), incarnation_, "PX", px, "GET"},
       [this](boost::system::error_code ec, reply_ptr r) {
         if (failed(ec, r) || !registered_) {
           return;
         }
         if (r->type == REDIS_REPLY_NIL) {
           // Our key had expired: the others took this node for dead and removed its
           // members.
           spdlog::warn(
               "presence: node {} was taken for dead (its liveness key expired); "
               "writing its members again",
               options_.node_id);
           full_ = true;
           send({"SADD", std::string(all_nodes_key()), options_.node_id}, [](auto, auto) {});
         } else if (reply_text(r.get()) != incarnation_) {
           spdlog::error("presence: another process uses node_id {}: give each node its own",
                         options_.node_id);
         }
       });
}

void presence_sync::beat() {
  if (stopped_) {
    return;
  }
  if (!withdrawn_ && ready_ && redis_.ready()) {
    refresh();
    sweep();
    if (full_) {
      flush_now();
    }
    for (auto& [topic, r] : rooms_) {
      if (r.load_wanted) {
        load(topic, r);
      }
    }
  }
  beat_timer_.expires_after(std::max(options_.ttl / 6, std::chrono::milliseconds(100)));
  beat_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      beat();
    }
  });
}

void presence_sync::sweep() {
  send({"SMEMBERS", std::string(all_nodes_key())},
       [this](boost::system::error_code ec, reply_ptr r) {
         if (failed(ec, r)) {
           return;
         }
         auto nodes = peers_;
         for (auto& n : strings_of(r.get())) {
           nodes.insert(std::move(n));
         }
         for (const auto& node : nodes) {
           if (node == options_.node_id || buried_.count(node)) {
             continue;
           }
           send({"EXISTS", node_liveness_key(node)},
                [this, node](boost::system::error_code ec, reply_ptr r) {
                  if (!failed(ec, r) && r->type == REDIS_REPLY_INTEGER && r->integer == 0 &&
                      !buried_.count(node)) {
                    bury(node);
                  }
                });
         }
       });
}

void presence_sync::bury(const std::string& node) {
  spdlog::info("presence: node {} is gone (its liveness key expired): its members leave", node);
  buried_.insert(node);
  peers_.erase(node);
  registry_.remove_node(node);
  send({"SMEMBERS", node_rooms_key(node)}, [this, node](boost::system::error_code ec, reply_ptr r) {
    if (failed(ec, r)) {
      buried_.erase(node);  // the next sweep tries again
      return;
    }
    for (const auto& topic : strings_of(r.get())) {
      expel(node, topic);
    }
    send({"DEL", node_rooms_key(node)}, [](auto, auto) {});
    send({"SREM", std::string(all_nodes_key()), node},
         [this, node](auto, auto) { buried_.erase(node); });
  });
}

void presence_sync::expel(const std::string& node, const std::string& topic) {
  eval({presence_member_key(topic, node), presence_nodes_key(topic)},
       {"x", node, channel_of(topic), publish_command()}, [](auto, auto) {});
}

void presence_sync::flush() {
  asio::post(ctx_, [this] { flush_now(); });
}

void presence_sync::flush_now() {
  if (withdrawn_ || !ready_ || !redis_.ready()) {
    return;  // the registry keeps the changes until the next flush
  }
  if (!full_) {
    for (const auto& changes : registry_.take_local_changes()) {
      write(changes, false);
    }
    return;
  }
  full_ = false;
  registry_.take_local_changes();  // what follows writes all of it
  std::unordered_set<std::string> now;
  for (const auto& members : registry_.local_members()) {
    now.insert(members.topic);
    write(members, true);
  }
  std::vector<std::string> gone;
  for (const auto& [topic, inflight] : written_) {
    if (!now.count(topic)) {
      gone.push_back(topic);
    }
  }
  for (const auto& topic : gone) {
    write(presence_diff{topic, {}, {}}, true);
  }
}

void presence_sync::write(const presence_diff& changes, bool reset) {
  const auto& topic = changes.topic;
  auto [it, added] = written_.try_emplace(topic, 0);
  if (added || reset) {
    // Before the members: whoever cleans up after this node finds the room (again, on a rewrite:
    // a survivor that took this node for dead deleted its set).
    send({"SADD", node_rooms_key(options_.node_id), topic}, [](auto, auto) {});
  }
  ++it->second;
  std::vector<std::string> args{"w",
                                options_.node_id,
                                channel_of(topic),
                                publish_command(),
                                reset ? "1" : "0",
                                presence_body(changes),
                                std::to_string(changes.joins.size())};
  args.reserve(args.size() + changes.joins.size() * 2 + changes.leaves.size());
  for (const auto& m : changes.joins) {
    args.push_back(m.id);
    args.push_back(boost::json::serialize(m.state));
  }
  for (const auto& id : changes.leaves) {
    args.push_back(id);
  }
  eval({presence_member_key(topic, options_.node_id), presence_nodes_key(topic)}, std::move(args),
       [this, topic](boost::system::error_code ec, reply_ptr r) {
         auto it = written_.find(topic);
         int left = it == written_.end() ? 0 : --it->second;
         if (failed(ec, r) || r->type != REDIS_REPLY_INTEGER) {
           spdlog::warn("presence: writing {} failed ({}); writing every room again", topic,
                        ec ? ec.message() : std::string(reply_text(r.get())));
           full_ = true;
           return;
         }
         if (r->integer == 1 && left == 0 && it != written_.end()) {
           // Nobody of this node is in the room any more, and no later write is on its way.
           written_.erase(it);
           send({"SREM", node_rooms_key(options_.node_id), topic}, [](auto, auto) {});
         }
       });
}

void presence_sync::withdraw() {
  asio::post(ctx_, [this] {
    if (withdrawn_) {
      return;
    }
    withdrawn_ = true;
    if (!redis_.ready()) {
      return;  // the others remove this node's members once its liveness key expires
    }
    for (const auto& [topic, inflight] : written_) {
      expel(options_.node_id, topic);
    }
    written_.clear();
    send({"DEL", node_rooms_key(options_.node_id)}, [](auto, auto) {});
    send({"SREM", std::string(all_nodes_key()), options_.node_id}, [](auto, auto) {});
    send({"DEL", node_liveness_key(options_.node_id)}, [](auto, auto) {});
    spdlog::info("presence: draining, this node's members left the cluster");
  });
}

void presence_sync::on_live(const std::string& topic) {
  load(topic, rooms_[topic]);
}

void presence_sync::on_idle(const std::string& topic) {
  rooms_.erase(topic);
  registry_.drop_remote(topic);
}

void presence_sync::load(const std::string& topic, room& r) {
  if (!ready_ || !redis_.ready()) {
    r.load_wanted = true;
    return;
  }
  r.load_wanted = false;
  auto token = options_.node_id + ":" + incarnation_ + ":" + std::to_string(++tokens_);
  r.seam.begin(token);
  r.held.clear();
  eval({presence_member_key(topic, options_.node_id), presence_nodes_key(topic)},
       {"l", presence_member_prefix(topic), channel_of(topic), publish_command(), token},
       [this, topic, token](boost::system::error_code ec, reply_ptr reply) {
         auto it = rooms_.find(topic);
         if (it == rooms_.end()) {
           return;  // no interest any more
         }
         auto& r = it->second;
         if (failed(ec, reply) || reply->type != REDIS_REPLY_ARRAY) {
           spdlog::debug("presence: loading {} failed; trying again", topic);
           r.load_wanted = true;
           return;
         }
         std::vector<std::pair<std::string, std::vector<presence_member>>> holds;
         for (std::size_t i = 0; i + 1 < reply->elements; i += 2) {
           std::string node(reply_text(reply->element[i]));
           const auto* fields = reply->element[i + 1];
           if (node == options_.node_id || buried_.count(node) ||
               fields->type != REDIS_REPLY_ARRAY) {
             continue;
           }
           std::vector<presence_member> members;
           members.reserve(fields->elements / 2);
           for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
             members.push_back(parse_presence_member(reply_text(fields->element[f]),
                                                     reply_text(fields->element[f + 1])));
           }
           peers_.insert(node);
           holds.emplace_back(std::move(node), std::move(members));
         }
         registry_.replace_room(topic, holds);
         r.seam.on_snapshot();
         if (r.seam.done()) {
           auto held = std::move(r.held);
           r.held.clear();
           for (const auto& rec : held) {
             apply(topic, rec);
           }
         }
       });
}

void presence_sync::read(std::string topic,
                         std::function<void(std::optional<std::vector<presence_member>>)> done) {
  asio::post(ctx_, [this, topic = std::move(topic), done = std::move(done)]() mutable {
    if (rooms_.count(topic) || !ready_ || !redis_.ready()) {
      done(std::nullopt);
      return;
    }
    eval({presence_member_key(topic, options_.node_id), presence_nodes_key(topic)},
         {"l", presence_member_prefix(topic), channel_of(topic), publish_command(), ""},
         [this, done = std::move(done)](boost::system::error_code ec, reply_ptr reply) {
           if (failed(ec, reply) || reply->type != REDIS_REPLY_ARRAY) {
             done(std::nullopt);
             return;
           }
           // One subject on two nodes is one member (the first node's state shows).
           std::map<std::string, boost::json::value, std::less<>> members;
           for (std::size_t i = 0; i + 1 < reply->elements; i += 2) {
             const auto* fields = reply->element[i + 1];
             if (buried_.count(std::string(reply_text(reply->element[i]))) ||
                 fields->type != REDIS_REPLY_ARRAY) {
               continue;
             }
             for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
               auto m = parse_presence_member(reply_text(fields->element[f]),
                                              reply_text(fields->element[f + 1]));
               members.try_emplace(std::move(m.id), std::move(m.state));
             }
           }
           std::vector<presence_member> out;
           out.reserve(members.size());
           for (auto& [id, state] : members) {
             out.push_back({id, std::move(state)});
           }
           done(std::move(out));
         });
  });
}

void presence_sync::on_token(const std::string& topic, std::string_view token) {
  auto it = rooms_.find(topic);
  if (it == rooms_.end() || !it->second.seam.on_token(token) || !it->second.seam.done()) {
    return;
  }
  auto held = std::move(it->second.held);
  it->second.held.clear();
  for (const auto& rec : held) {
    apply(topic, rec);
  }
}

void presence_sync::on_record(const std::string& topic, std::string_view record) {
  auto it = rooms_.find(topic);
  if (it == rooms_.end()) {
    return;
  }
  auto rec = parse_presence_record(record);
  if (!rec) {
    spdlog::debug("presence: a malformed record on {}", topic);
    return;
  }
  if (rec->node == options_.node_id) {
    return;  // this node's own members are in the registry already
  }
  switch (it->second.seam.on_record()) {
    case presence_seam::step::drop:
      return;
    case presence_seam::step::hold:
      it->second.held.push_back(std::move(*rec));
      return;
    case presence_seam::step::apply:
      apply(topic, *rec);
      return;
  }
}

void presence_sync::apply(const std::string& topic, const presence_record& rec) {
  if (rec.reset) {
    registry_.replace_remote(topic, rec.node, rec.joins);
  } else {
    registry_.apply_remote(topic, rec.node, rec.joins, rec.leaves);
  }
  if (!rec.joins.empty()) {
    peers_.insert(rec.node);
  }
}

}  // namespace sb::cluster
