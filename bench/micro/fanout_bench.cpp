// Fan-out inside one loop, without syscalls: a published message walks the topic's subscriber
// list and a reference to its shared encoded bytes is appended to each subscriber's send queue.
// This is the user-space share of a delivery; the kernel's share (the gathered write) is measured
// by the load run in bench/run.sh.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "core/memory_broker.hpp"
#include "core/topic_registry.hpp"
#include "io/send_queue.hpp"
#include "sse/encoder.hpp"

namespace {

/// A subscriber that does what an SSE stream does on delivery: dedupe by seq, queue a reference.
class queueing_subscriber final : public sb::subscriber {
 public:
  void on_message(sb::subscription& s, const sb::message_ptr& m) override {
    if (m->pos.seq <= s.at.seq)
      return;
    s.at = m->pos;
    queue.push({m, m->sse_event()});
  }
  sb::io::send_queue queue;
};

struct no_sink final : sb::delivery_sink {
  void deliver(sb::message_ptr) override {}
};

void registry_fanout(benchmark::State& state) {
  auto subscribers = static_cast<std::size_t>(state.range(0));
  no_sink sink;
  sb::memory_broker broker({}, sb::sse::encode_message, {&sink}, [] { return std::int64_t{0}; });
  sb::topic_registry registry(broker, 0);
  std::vector<std::unique_ptr<queueing_subscriber>> subs;
  std::vector<std::unique_ptr<sb::subscription>> links;
  for (std::size_t i = 0; i < subscribers; ++i) {
    subs.push_back(std::make_unique<queueing_subscriber>());
    links.push_back(std::make_unique<sb::subscription>(*subs.back()));
    registry.subscribe(*links.back(), "bench", std::nullopt, [](sb::attach_result) {});
  }
  auto m = std::make_shared<sb::message>();
  m->topic = "bench";
  m->data.assign(100, 'x');
  std::uint64_t seq = 0;
  for (auto _ : state) {
    m->pos.seq = ++seq;
    sb::sse::encode_message(*m);
    registry.dispatch(m);
    state.PauseTiming();
    for (auto& s : subs) {
      s->queue.consume(s->queue.bytes());
    }
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * subscribers));
  for (auto& l : links)
    registry.unsubscribe(*l);
}
BENCHMARK(registry_fanout)->Arg(1000)->Arg(10000);

}  // namespace
