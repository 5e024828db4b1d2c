#pragma once
// A broker decorator for tests: every answer that reads history (attach, read_history) completes
// later, posted to the subscriber's loop, as a Redis broker completes after a round trip.
// held(true) keeps the answers back until release(), so a test can deliver live messages (or close
// the stream) before the answer arrives. Deliveries themselves go through the inner broker's sinks
// unchanged.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "core/broker.hpp"

namespace sb::testing {

class deferred_broker final : public broker {
 public:
  deferred_broker(broker& inner, boost::asio::io_context& loop) : inner_(inner), loop_(loop) {}

  /// While held, answers wait here; release() posts them all, in the order they came.
  void hold(bool on) { held_ = on; }
  void release() {
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& f : waiting) {
      boost::asio::post(loop_, std::move(f));
    }
  }
  std::size_t waiting() const { return waiting_.size(); }

  /// Publish acknowledgements stay synchronous here; the Redis broker's later ones (the stream
  /// publish answering once all are acknowledged, a WebSocket ack after the session is gone) are
  /// exercised by tests/integration/cluster.test.mjs.
  void publish(std::vector<publish_item> items, publish_handler done) override {
    inner_.publish(std::move(items), std::move(done));
  }
  void attach(std::size_t loop_index, std::string_view topic, std::optional<position> since,
              attach_handler done) override {
    inner_.attach(
        loop_index, topic, since, [this, done = std::move(done)](attach_result r) mutable {
          later([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
        });
  }
  void broadcast(message_ptr m) override { inner_.broadcast(std::move(m)); }
  void detach(std::size_t loop_index, std::string_view topic) override {
    inner_.detach(loop_index, topic);
  }
  void read_history(std::string_view topic, std::optional<position> since, std::size_t limit,
                    history_handler done) override {
    inner_.read_history(
        topic, since, limit, [this, done = std::move(done)](history_page p) mutable {
          later([done = std::move(done), p = std::move(p)]() mutable { done(std::move(p)); });
        });
  }

 private:
  /// std::function needs a copyable target; the answer is moved out once, when it runs.
  template <class F>
  void later(F f) {
    auto shared = std::make_shared<F>(std::move(f));
    std::function<void()> run = [shared] { (*shared)(); };
    if (held_) {
      waiting_.push_back(std::move(run));
    } else {
      boost::asio::post(loop_, std::move(run));
    }
  }

  broker& inner_;
  boost::asio::io_context& loop_;
  std::vector<std::function<void()>> waiting_;
  bool held_ = false;
};

}  // namespace sb::testing
