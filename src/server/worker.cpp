#include "server/worker.hpp"

#include <boost/asio/post.hpp>
#include <chrono>

namespace sb::server {
namespace {

// Fine enough for volatile pacing at volatile_hz.
constexpr std::chrono::milliseconds wheel_tick{10};

}  // namespace

worker::worker(std::size_t index)
    : loop(index, wheel_tick),
      inbox_(loop, [this](message_ptr& m) { on_message(m); }),
      drain_(loop) {}

worker::~worker() = default;

void worker::on_message(const message_ptr& m) {
  // The lag is observed once per message per loop (a vDSO clock read), never per delivery: the
  // subscribers' writes follow at the end of this turn.
  counters.delivery_lag.observe_since(m->published_ns, steady_now_ns());
  registry->dispatch(m);
  if (m->stored()) {
    m->live_handoff_done();  // the last loop lets go of the WebSocket frame
  }
}

void worker::start() {
  for (auto* l : {listener.get(), tls_listener.get(), metrics_listener.get()}) {
    if (l) {
      l->start();
    }
  }
  thread_ = std::thread([this] { loop.run(); });
}

void worker::begin_drain(double per_tick) {
  boost::asio::post(loop.context(), [this, per_tick] {
    for (auto* l : {listener.get(), tls_listener.get(), metrics_listener.get()}) {
      if (l) {
        l->stop();
      }
    }
    drain_.start(per_tick);
    stopped_accepting_.store(true);
  });
}

void worker::hurry_drain() {
  boost::asio::post(loop.context(), [this] { drain_.hurry(); });
}

void worker::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace sb::server
