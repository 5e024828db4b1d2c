#include "io/loop.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <vector>

#include "io/access_log.hpp"
#include "io/connection.hpp"

namespace sb::io {

loop::loop(std::size_t index, timing_wheel::duration tick, const time_source* time)
    : index_(index), ctx_(1), wheel_(ctx_, tick, 512, time) {}

loop::~loop() {
  members_.clear();
  epoll_on_reactor_.reset();
  if (epoll_fd_ >= 0) {
    ::close(epoll_fd_);
    epoll_fd_ = -1;
  }
  // The flush lists' counts, as the context's queued handlers give theirs back when it goes.
  for (auto* list : {&answers_, &subscribers_}) {
    while (list->head) {
      list->pop();
    }
  }
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

void loop::run_on(loop* origin, std::function<void()> f) {
  if (origin) {
    boost::asio::post(origin->context(), std::move(f));
  } else {
    f();
  }
}

void loop::stop() {
  boost::asio::post(ctx_, [this] {
    wheel_.stop();
    ctx_.stop();
  });
}

bool loop::flush_queued(const connection& c) const {
  return c.next_flush_ != nullptr || answers_.tail == &c || subscribers_.tail == &c;
}

void loop::flush_list::push(connection& c) {
  c.ref().release();  // the list's count, given back by pop()
  if (tail) {
    tail->next_flush_ = &c;
  } else {
    head = &c;
  }
  tail = &c;
}

counted_ptr<connection> loop::flush_list::pop() {
  auto* c = head;
  head = c->next_flush_;
  if (!head) {
    tail = nullptr;
  }
  c->next_flush_ = nullptr;
  return connection_ptr::adopt(c);  // the count push() took
}

void loop::request_flush(connection& c) {
  if (flush_queued(c)) {
    return;
  }
  (c.long_lived() ? subscribers_ : answers_).push(c);
  post_flush_pass();
}

void loop::post_flush_pass() {
  if (!flush_posted_) {
    flush_posted_ = true;
    boost::asio::post(ctx_, [this] { flush_pass(); });
  }
}

int loop::flush_from(flush_list& list, int budget) {
  int flushed = 0;
  for (; flushed < budget && list.head; ++flushed) {
    auto c = list.pop();  // held through flush(): it may close the connection
    c->flush();
  }
  return flushed;
}

void loop::flush_pass() {
  flush_posted_ = false;
  // Answers first, but with subscribers waiting at most half the pass: a loop busy with
  // publishers still writes its subscribers in every pass.
  int budget = flush_budget;
  budget -= flush_from(answers_, subscribers_.head ? flush_budget / 2 : flush_budget);
  budget -= flush_from(subscribers_, budget);
  flush_from(answers_, budget);
  if (answers_.head || subscribers_.head) {
    post_flush_pass();
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
  std::vector<connection_ptr> all;
  for (auto& c : members_) {
    all.push_back(c.ref());
  }
  for (auto& c : all) {
    f(*c);
  }
}

}  // namespace sb::io

namespace sb::io {

bool loop::watch(connection& c, int fd) {
  if (epoll_fd_ < 0) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
      return false;
    }
    epoll_on_reactor_ = std::make_unique<reactor_descriptor>(ctx_, epoll_fd_);
    epoll_on_reactor_->wait_readable(watched_wait_);
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void loop::unwatch(int fd) {
  // Also takes the socket's events off the ready list, so no later batch names a connection
  // that is gone.
  epoll_event ev{};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &ev);
}

void loop::on_watched_ready(void* self, boost::system::error_code ec, bool abandoned) {
  if (abandoned || ec == boost::asio::error::operation_aborted) {
    return;  // the loop is going away
  }
  static_cast<loop*>(self)->dispatch_watched();
}

void loop::dispatch_watched() {
  // A few batches per turn, then the rest of the loop's work gets its turn too.
  constexpr int max_events = 128;
  constexpr int max_rounds = 4;
  epoll_event events[max_events];
  for (int round = 0; round < max_rounds; ++round) {
    int n = ::epoll_wait(epoll_fd_, events, max_events, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      epoll_on_reactor_->wait_readable(watched_wait_);
      return;
    }
    // Held for the batch: an event's handler may close (and so free) another of its connections.
    for (int i = 0; i < n; ++i) {
      batch_.push_back(static_cast<connection*>(events[i].data.ptr)->ref());
    }
    for (int i = 0; i < n; ++i) {
      batch_[static_cast<std::size_t>(i)]->on_watched_event(events[i].events);
    }
    batch_.clear();
    if (n < max_events) {
      epoll_on_reactor_->wait_readable(watched_wait_);
      return;
    }
  }
  // Probably more is ready; the set's edge has been consumed, so ask again without waiting for
  // a new one.
  boost::asio::post(ctx_, [this] { dispatch_watched(); });
}

}  // namespace sb::io
