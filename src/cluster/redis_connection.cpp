#include "cluster/redis_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <random>

namespace sb::cluster {
namespace {

namespace asio = boost::asio;
constexpr std::chrono::milliseconds backoff_min{50};
constexpr std::chrono::milliseconds backoff_max{1000};

boost::system::error_code unavailable() {
  return make_error_code(boost::system::errc::connection_refused);
}

}  // namespace

std::string_view reply_text(const redisReply* r) {
  if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
            r->type == REDIS_REPLY_ERROR)) {
    return {r->str, r->len};
  }
  return {};
}

bool is_error(const redisReply* r) {
  return r && r->type == REDIS_REPLY_ERROR;
}

redis_connection::redis_connection(asio::io_context& ctx, options o, events e, redis_stats& stats)
    : ctx_(ctx),
      options_(std::move(o)),
      events_(std::move(e)),
      stats_(stats),
      socket_(ctx),
      resolver_(ctx),
      tick_timer_(ctx),
      reconnect_timer_(ctx),
      in_(64 << 10) {}

redis_connection::~redis_connection() {
  if (reader_) {
    redisReaderFree(reader_);
  }
}

void redis_connection::start() {
  connect();
  tick();
}

void redis_connection::stop() {
  state_ = state::stopped;
  ++generation_;
  boost::system::error_code ignored;
  socket_.close(ignored);
  resolver_.cancel();
  tick_timer_.cancel();
  reconnect_timer_.cancel();
  fail_pending(make_error_code(boost::system::errc::operation_canceled));
}

void redis_connection::connect() {
  if (state_ == state::stopped) {
    return;
  }
  state_ = state::connecting;
  auto gen = ++generation_;
  connect_deadline_ = clock::now() + options_.timeout;
  push_mode_ = false;
  pong_deadline_ = clock::time_point::max();
  out_.clear();
  if (reader_) {
    redisReaderFree(reader_);
  }
  reader_ = redisReaderCreate();
  auto self = shared_from_this();
  auto on_connect = [this, self, gen](boost::system::error_code ec) {
    if (gen != generation_) {
      return;
    }
    if (ec) {
      reset(ec.message());
      return;
    }
    on_socket_connected();
  };
  const auto& at = options_.at;
  if (!at.unix_path.empty()) {
    socket_.async_connect(asio::local::stream_protocol::endpoint(at.unix_path), on_connect);
    return;
  }
  resolver_.async_resolve(
      at.host, std::to_string(at.port),
      [this, self, gen, on_connect](boost::system::error_code ec,
                                    asio::ip::tcp::resolver::results_type results) {
        if (gen != generation_) {
          return;
        }
        if (ec || results.empty()) {
          reset(ec ? ec.message() : "no address");
          return;
        }
        socket_.async_connect(results.begin()->endpoint(), on_connect);
      });
}

void redis_connection::on_socket_connected() {
  if (options_.at.unix_path.empty()) {
    int one = 1;
    ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  state_ = state::handshaking;
  do_read();
  // Log in and choose the database before the owner's setup; any error ends this attempt.
  auto check = [this](std::string what) {
    return [this, what](boost::system::error_code ec, reply_ptr r) {
      if (!ec && is_error(r.get())) {
        spdlog::warn("redis {}: {} refused: {}", options_.at.describe(), what, reply_text(r.get()));
        reset(what + " refused");
      }
    };
  };
  const auto& at = options_.at;
  if (!at.password.empty()) {
    if (at.user.empty()) {
      send({"AUTH", at.password}, check("AUTH"));
    } else {
      send({"AUTH", at.user, at.password}, check("AUTH"));
    }
  }
  if (at.db != 0) {
    send({"SELECT", std::to_string(at.db)}, check("SELECT"));
  }
  if (!options_.name.empty()) {
    send({"CLIENT", "SETNAME", options_.name}, [](auto, auto) {});
  }
  // The setup waits for these replies: PING answers after them, in order.
  auto gen = generation_;
  send({"PING"}, [this, gen](boost::system::error_code ec, reply_ptr) {
    if (ec || gen != generation_ || state_ != state::handshaking) {
      return;
    }
    if (events_.on_connected) {
      events_.on_connected(*this);
    } else {
      mark_ready();
    }
  });
}

void redis_connection::mark_ready() {
  if (state_ != state::handshaking) {
    return;
  }
  state_ = state::ready;
  backoff_ = std::chrono::milliseconds(0);
  if (ever_ready_) {
    stats_.reconnects.fetch_add(1, std::memory_order_relaxed);
  }
  ever_ready_ = true;
  last_ping_ = clock::now();
}

void redis_connection::command(const std::vector<std::string>& args, reply_handler done) {
  if (state_ != state::ready || pending_.size() >= options_.max_pending) {
    done(unavailable(), nullptr);
    return;
  }
  send(args, std::move(done));
}

void redis_connection::send(const std::vector<std::string>& args, reply_handler done) {
  if (state_ != state::ready && state_ != state::handshaking) {
    done(unavailable(), nullptr);
    return;
  }
  pending_.push_back({std::move(done), clock::now()});
  write(args);
}

void redis_connection::send_push(const std::vector<std::string>& args) {
  if (state_ == state::ready || state_ == state::handshaking) {
    write(args);
  }
}

void redis_connection::write(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  auto n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  if (n < 0) {
    reset("out of memory formatting a command");
    return;
  }
  out_.append(cmd, static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
  do_write();
}

void redis_connection::do_write() {
  if (write_in_flight_ || out_.empty()) {
    return;
  }
  write_in_flight_ = true;
  writing_.swap(out_);
  out_.clear();
  auto gen = generation_;
  asio::async_write(
      socket_, asio::buffer(writing_),
      [this, self = shared_from_this(), gen](boost::system::error_code ec, std::size_t) {
        write_in_flight_ = false;
        writing_.clear();
        if (gen != generation_) {
          do_write();  // a new connection queued commands meanwhile
          return;
        }
        if (ec) {
          reset(ec.message());
          return;
        }
        do_write();
      });
}

void redis_connection::do_read() {
  auto gen = generation_;
  socket_.async_read_some(asio::buffer(in_), [this, self = shared_from_this(), gen](
                                                 boost::system::error_code ec, std::size_t n) {
    if (gen != generation_) {
      return;
    }
    if (ec) {
      reset(ec == asio::error::eof ? "closed by Redis" : ec.message());
      return;
    }
    if (redisReaderFeed(reader_, in_.data(), n) != REDIS_OK) {
      reset("unreadable reply");
      return;
    }
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
        reset("unreadable reply");
        return;
      }
      if (!raw) {
        break;
      }
      on_reply(reply_ptr(static_cast<redisReply*>(raw)));
      if (gen != generation_) {
        return;  // a handler reset the connection
      }
    }
    do_read();
  });
}

void redis_connection::on_reply(reply_ptr r) {
  if (push_mode_ && pending_.empty()) {
    // PING in pub/sub mode answers ["pong", ""] (or +PONG while nothing is subscribed).
    if ((r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && reply_text(r->element[0]) == "pong") ||
        (r->type == REDIS_REPLY_STATUS && reply_text(r.get()) == "PONG")) {
      pong_deadline_ = clock::time_point::max();
      return;
    }
    if (events_.on_push) {
      events_.on_push(std::move(r));
    }
    return;
  }
  if (pending_.empty()) {
    reset("a reply nobody asked for");
    return;
  }
  auto p = std::move(pending_.front());
  pending_.pop_front();
  stats_.roundtrip.observe(std::chrono::duration<double>(clock::now() - p.sent).count());
  if (p.done) {
    p.done({}, std::move(r));
  }
}

void redis_connection::tick() {
  if (state_ == state::stopped) {
    return;
  }
  auto now = clock::now();
  if ((state_ == state::connecting || state_ == state::handshaking) && now > connect_deadline_) {
    reset("connect timed out");
  } else if (state_ == state::ready) {
    if (!pending_.empty() && now - pending_.front().sent > options_.timeout) {
      reset("a command timed out");  // a blackhole or a stalled Redis: fail fast, reconnect
    } else if (push_mode_ && now > pong_deadline_) {
      reset("no PONG on the pub/sub connection");
    } else if (now - last_ping_ >= options_.timeout / 2) {
      // Keep-alive, so an idle connection that went dark is noticed within the timeout.
      last_ping_ = now;
      if (push_mode_) {
        if (pong_deadline_ == clock::time_point::max()) {
          pong_deadline_ = now + options_.timeout;
          write({"PING"});
        }
      } else if (pending_.empty()) {
        send({"PING"}, [](auto, auto) {});
      }
    }
  }
  tick_timer_.expires_after(std::max(std::chrono::milliseconds(10), options_.timeout / 8));
  tick_timer_.async_wait([this, self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) {
      tick();
    }
  });
}

void redis_connection::reset(std::string_view why) {
  if (state_ == state::stopped) {
    return;
  }
  bool was_ready = state_ == state::ready;
  if (was_ready) {
    spdlog::warn("redis {}: connection lost ({}); reconnecting", options_.at.describe(), why);
  } else {
    spdlog::debug("redis {}: {}", options_.at.describe(), why);
  }
  ++generation_;
  state_ = state::idle;
  boost::system::error_code ignored;
  socket_.close(ignored);
  resolver_.cancel();
  fail_pending(make_error_code(boost::system::errc::connection_reset));
  if (events_.on_down) {
    events_.on_down();
  }
  schedule_reconnect();
}

void redis_connection::fail_pending(boost::system::error_code ec) {
  auto failed = std::move(pending_);
  pending_.clear();
  for (auto& p : failed) {
    if (p.done) {
      p.done(ec, nullptr);
    }
  }
}

void redis_connection::schedule_reconnect() {
  if (state_ == state::stopped) {
    return;
  }
  backoff_ = std::clamp(backoff_ * 2, backoff_min, backoff_max);
  thread_local std::minstd_rand rng{std::random_device{}()};
  // Jitter, so nodes that lost the same Redis do not come back in step.
  auto wait = backoff_ / 2 +
              std::chrono::milliseconds(rng() % static_cast<unsigned>(backoff_.count() / 2 + 1));
  reconnect_timer_.expires_after(wait);
  reconnect_timer_.async_wait([this, self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) {
      connect();
    }
  });
}

}  // namespace sb::cluster
