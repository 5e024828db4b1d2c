#pragma once
// Per-loop counters, written only by their loop's thread and summed by the metrics scrape
// (STYLE.md habit 11). Relaxed load+store, not fetch_add: one writer needs no locked instruction.
#include <atomic>
#include <cstdint>

namespace sb {

class loop_counter {
 public:
  void add(std::uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(std::uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

struct loop_counters {
  loop_counter connections;           // gauge: open TCP connections
  loop_counter sse_streams;           // gauge: open SSE streams (HTTP/1.1 and HTTP/2)
  loop_counter sse_h2_streams;        // gauge: of those, the ones on an HTTP/2 stream
  loop_counter ws_sessions;           // gauge: open WebSocket sessions
  loop_counter h2_sessions;           // gauge: open HTTP/2 connections
  loop_counter http_requests;         // requests answered
  loop_counter messages_published;    // messages accepted by publishes on this loop
  loop_counter deliveries;            // messages queued to a subscriber
  loop_counter drops;                 // messages a subscriber lost to a slow-consumer policy
  loop_counter slow_consumer_closes;  // connections closed by the `resume` policy
  loop_counter gaps;                  // gap notices sent (SSE `event: gap`, WebSocket `gap` op)
  loop_counter bad_requests;          // requests answered 4xx by the protocol layer
};

}  // namespace sb
