#include "io/loop.hpp"

#include <boost/asio/post.hpp>
#include <vector>

#include "io/access_log.hpp"
#include "io/connection.hpp"

namespace sb::io {

loop::loop(std::size_t index, timing_wheel::duration tick, const time_source* time)
    : index_(index), ctx_(1), wheel_(ctx_, tick, 512, time) {}

loop::~loop() {
  pending_flush_.clear();
  members_.clear();
}

namespace {
thread_local loop* running = nullptr;
}

loop* loop::current() {
  return running;
}

void loop::run() {
  running = this;
  auto guard = boost::asio::make_work_guard(ctx_);
  wheel_.start();
  bind_access_log(&ctx_);
  ctx_.run();
  bind_access_log(nullptr);
  flush_access_log();  // what the last turn gathered
}

void loop::stop() {
  boost::asio::post(ctx_, [this] {
    wheel_.stop();
    ctx_.stop();
  });
}

void loop::request_flush(connection& c) {
  if (static_cast<flush_hook&>(c).is_linked()) {
    return;
  }
  pending_flush_.push_back(c);
  if (!flush_posted_) {
    flush_posted_ = true;
    boost::asio::post(ctx_, [this] { flush_pass(); });
  }
}

void loop::flush_pass() {
  flush_posted_ = false;
  for (int i = 0; i < flush_budget && !pending_flush_.empty(); ++i) {
    auto& c = pending_flush_.front();
    pending_flush_.pop_front();
    auto keep = c.shared_from_this();
    c.flush();
  }
  if (!pending_flush_.empty() && !flush_posted_) {
    flush_posted_ = true;
    boost::asio::post(ctx_, [this] { flush_pass(); });
  }
}

void loop::adopt(connection& c) {
  members_.push_back(c);
  open_connections_.add();
}

void loop::release(connection& c) {
  if (static_cast<member_hook&>(c).is_linked()) {
    static_cast<member_hook&>(c).unlink();
    open_connections_.sub();
  }
}

void loop::for_each_connection(const std::function<void(connection&)>& f) {
  // Collect first: `f` may close connections, which unlinks them from the list.
  std::vector<std::shared_ptr<connection>> all;
  for (auto& c : members_) {
    all.push_back(c.shared_from_this());
  }
  for (auto& c : all) {
    f(*c);
  }
}

}  // namespace sb::io
