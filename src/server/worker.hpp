#pragma once
// One event loop and what lives on it: its thread, its topic registry and counters, its listeners,
// the HTTP services its sessions read, its inbox of published messages and its drain.
#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "core/broker.hpp"
#include "core/counters.hpp"
#include "core/topic_registry.hpp"
#include "http/handoff.hpp"
#include "http/services.hpp"
#include "io/listener.hpp"
#include "io/loop.hpp"
#include "io/mailbox.hpp"
#include "server/drain.hpp"

namespace sb::server {

class worker final : public delivery_sink {
 public:
  /// `index`: the loop's place among the loops (the broker's bit for it).
  explicit worker(std::size_t index);
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  ~worker();

  /// Called by the broker under the topic's lock, from any thread: the message is handed to this
  /// loop's thread in seq order (io::mailbox).
  void deliver(message_ptr m) override { inbox_.post(std::move(m)); }
  void deliver_batch(std::vector<message_ptr>& ms) override { inbox_.post_all(ms); }

  /// Starts the listeners and the loop's thread.
  void start();
  /// On any thread: closes the listeners and starts saying goodbye to every connection.
  void begin_drain(double per_tick);
  /// On any thread: goodbye to every connection left, now.
  void hurry_drain();
  /// Every listener of this loop is closed (a successor on the port gets what the kernel queues).
  bool stopped_accepting() const { return stopped_accepting_.load(); }
  /// On any thread: the loop stops after what it is running; join() waits for it.
  void stop() { loop.stop(); }
  void join();

  io::loop loop;
  loop_counters counters;
  std::optional<topic_registry> registry;
  std::optional<ws::context> ws;
  std::optional<http::handoff> handoff;
  std::optional<http::loop_services> services;
  std::optional<http::loop_services> metrics_services;  // the first loop's, with metrics_listen
  std::unique_ptr<io::listener> listener;
  std::unique_ptr<io::listener> tls_listener;
  std::unique_ptr<io::listener> metrics_listener;

 private:
  void on_message(const message_ptr& m);

  io::mailbox<message_ptr> inbox_;
  drain_pacer drain_;
  std::atomic<bool> stopped_accepting_{false};  // set on the loop
  std::thread thread_;
};

}  // namespace sb::server
