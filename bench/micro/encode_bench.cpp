// Encoding happens once per published message, for every wire format; these measure that cost.
#include <benchmark/benchmark.h>

#include <memory>

#include "core/cursor.hpp"
#include "sse/encoder.hpp"
#include "ws/protocol.hpp"

namespace {

std::unique_ptr<sb::message> sample(std::size_t data_bytes, bool multiline) {
  auto m = std::make_unique<sb::message>();
  m->topic = "orders/42";
  m->pos = {5810417456840789ULL, 123456};
  m->event = "update";
  m->data.assign(data_bytes, 'x');
  if (multiline) {
    for (std::size_t i = 40; i < m->data.size(); i += 40)
      m->data[i] = '\n';
  }
  m->from = "c42";
  return m;
}

void sse_encode(benchmark::State& state) {
  auto m = sample(static_cast<std::size_t>(state.range(0)), state.range(1) != 0);
  for (auto _ : state) {
    // One-line data moves into the SSE bytes; encoding again first copies it back out, so the
    // one-line figures include one copy of the data more than a publish pays.
    sb::sse::encode_message(*m);
    benchmark::DoNotOptimize(m->sse.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(sse_encode)->Args({64, 0})->Args({1024, 0})->Args({1024, 1})->Args({65536, 0});

void ws_encode(benchmark::State& state) {
  auto m = sample(static_cast<std::size_t>(state.range(0)), false);
  for (auto _ : state) {
    sb::ws::encode_message(*m);
    benchmark::DoNotOptimize(m->ws_frame()->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(ws_encode)->Arg(64)->Arg(1024)->Arg(65536);

/// A multi-topic SSE stream writes one cursor id per delivery: this is that per-subscriber cost.
void cursor_encode(benchmark::State& state) {
  std::vector<sb::cursor_entry> entries;
  for (int i = 0; i < state.range(0); ++i) {
    entries.push_back(
        {sb::topic_hash("topic/" + std::to_string(i)), {5810417456840789ULL, 1000u + i}});
  }
  for (auto _ : state) {
    std::string out;
    sb::append_cursor(out, entries);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(cursor_encode)->Arg(2)->Arg(8)->Arg(64);

}  // namespace
