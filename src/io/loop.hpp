#pragma once
// One event loop, run by one thread. A connection lives and dies on its loop, so nothing on a
// connection is locked. Writes are corked: connections with queued bytes are flushed after the
// handlers already queued on the loop have run, at most `flush_budget` connections per pass, so
// messages that arrive together leave together in one gathered write. A connection answering a
// request is flushed before the subscribers of a fan-out, so a publisher's answer never waits
// behind ten thousand subscribers' writes; answers take at most half a pass while subscribers
// wait, so publishers cannot starve them either.
#include <boost/asio/io_context.hpp>
#include <boost/intrusive/list.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "core/counters.hpp"
#include "io/counted.hpp"
#include "io/reactor_wait.hpp"
#include "io/timing_wheel.hpp"

namespace sb::io {

struct member_tag;
using member_hook =
    boost::intrusive::list_base_hook<boost::intrusive::tag<member_tag>,
                                     boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class connection;

class loop {
 public:
  using executor_type = boost::asio::io_context::executor_type;
  /// Connections flushed per pass before the loop lets other handlers run. Measured with
  /// prototypes (1,000 SSE subscribers): flushing every dirty connection each turn sends ~1
  /// message per send (9–12 µs per delivery); ~64 per pass lets 8–14 stack per subscriber (about
  /// 1 µs per delivery), which is what makes a delivery cheap.
  static constexpr int flush_budget = 64;

  /// `time`: null in production (steady_clock, the wheel ticks by itself); a test's clock
  /// otherwise (see io/time_source.hpp), which must outlive the loop.
  loop(std::size_t index, timing_wheel::duration tick, const time_source* time = nullptr);
  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;
  ~loop();

  std::size_t index() const { return index_; }
  boost::asio::io_context& context() { return ctx_; }
  executor_type executor() { return ctx_.get_executor(); }
  timing_wheel& wheel() { return wheel_; }
  /// The loop's time: what protocol code reads instead of steady_clock, so tests can move it.
  time_source::time_point now() const { return wheel_.now(); }

  /// Runs the loop on the calling thread until stop().
  void run();
  /// The loop running on the calling thread, or null off the loops (an asynchronous broker posts
  /// a completion back to the loop that asked).
  static loop* current();
  /// Runs `f` on `origin`'s thread (posted), or at once when `origin` is null (a caller off the
  /// loops): how a broker thread answers the loop that asked (see current()).
  static void run_on(loop* origin, std::function<void()> f);
  void stop();

  /// `c` has bytes to write: flush it on the next pass.
  void request_flush(connection& c);

  /// Makes `c` one of this loop's connections (for drain and counting) until release().
  void adopt(connection& c);
  void release(connection& c);
  /// Open connections; readable from any thread (a relaxed gauge, written by this loop only).
  std::size_t open_connections() const { return open_connections_.get(); }

  /// `f` runs before any connection of this loop writes (history_fsync = always: what was
  /// published must be on disk before an answer or a delivery leaves). Set before run().
  void set_write_barrier(std::function<void()> f) { write_barrier_ = std::move(f); }
  void before_write() {
    if (write_barrier_) {
      write_barrier_();
    }
  }

  /// Calls `f(connection&)` for every connection of this loop; `f` may close them.
  void for_each_connection(const std::function<void(connection&)>& f);

  /// The loop's own epoll set, for long-lived connections (connection::park): it keeps no state
  /// per socket in user space, where Asio's reactor keeps 168 B per socket plus a 96 B wait in
  /// the connection. The set itself is one descriptor on Asio's reactor, so watching it costs one
  /// extra `epoll_wait` per loop turn that has events for it, not per event. `c` is told of its
  /// socket's events (edge-triggered: input, room to write, hang-up) until unwatch().
  bool watch(connection& c, int fd);
  void unwatch(int fd);

 private:
  void flush_pass();
  void post_flush_pass();  // once: a pass already posted takes what is queued meanwhile
  static void on_watched_ready(void* self, boost::system::error_code ec, bool abandoned);
  void dispatch_watched();

  using member_list = boost::intrusive::list<connection, boost::intrusive::base_hook<member_hook>,
                                             boost::intrusive::constant_time_size<false>>;

  std::size_t index_;
  // Before ctx_: a wait still queued when ctx_ is destroyed is completed (abandoned) then.
  read_wait watched_wait_{&loop::on_watched_ready, this};
  boost::asio::io_context ctx_;
  timing_wheel wheel_;
  // Connections waiting for a flush pass, in order, linked through connection::next_flush_ (one
  // pointer in each connection, not a list hook's two). A list holds a count of each: a
  // connection closed meanwhile stays linked and alive until the pass drops it, so nothing has to
  // unlink it from the middle. A connection is on one list at most.
  struct flush_list {
    connection* head = nullptr;
    connection* tail = nullptr;
    void push(connection& c);
    counted_ptr<connection> pop();
  };
  bool flush_queued(const connection& c) const;
  /// Flushes up to `budget` connections of `list`; returns how many.
  static int flush_from(flush_list& list, int budget);
  flush_list answers_;      // connections answering requests: first in every pass
  flush_list subscribers_;  // long-lived connections (connection::long_lived)
  member_list members_;
  loop_counter open_connections_;
  bool flush_posted_ = false;
  std::function<void()> write_barrier_;
  int epoll_fd_ = -1;  // created by the first watch()
  std::unique_ptr<reactor_descriptor> epoll_on_reactor_;
  std::vector<counted_ptr<connection>> batch_;  // the connections of one epoll_wait
};

}  // namespace sb::io
