#pragma once
// Per-loop counters, written only by their loop's thread and summed by the metrics scrape
// (STYLE.md habit 11). Relaxed load+store, not fetch_add: one writer needs no locked instruction.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sb {

/// The steady clock in nanoseconds, as latency histograms and message timestamps keep it.
inline std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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

/// A latency histogram in seconds with fixed buckets, one per loop like the counters (one writer,
/// no lock); the scrape sums the loops' buckets. Durations are kept in nanoseconds.
class loop_histogram {
 public:
  /// Upper bounds in seconds, Prometheus-style (cumulative when rendered; +Inf implied).
  static constexpr std::array<double, 14> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  static constexpr std::array<std::uint64_t, 14> bounds_ns{
      500'000ULL,       1'000'000ULL,     2'500'000ULL,     5'000'000ULL,     10'000'000ULL,
      25'000'000ULL,    50'000'000ULL,    100'000'000ULL,   250'000'000ULL,   500'000'000ULL,
      1'000'000'000ULL, 2'500'000'000ULL, 5'000'000'000ULL, 10'000'000'000ULL};

  /// The time from `since_ns` (steady_now_ns()) to `now_ns`; nothing for an unknown start (0).
  void observe_since(std::int64_t since_ns, std::int64_t now_ns) {
    if (since_ns > 0) {
      observe_ns(now_ns > since_ns ? static_cast<std::uint64_t>(now_ns - since_ns) : 0);
    }
  }
  void observe_ns(std::uint64_t ns) {
    std::size_t i = 0;
    while (i < bounds_ns.size() && ns > bounds_ns[i]) {
      ++i;
    }
    buckets_[i].add();
    sum_ns_.add(ns);
  }
  /// Observations in bucket `i` alone (not cumulative); i == bounds.size() is over the last bound.
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }
  std::uint64_t sum_ns() const { return sum_ns_.get(); }

 private:
  std::array<loop_counter, bounds.size() + 1> buckets_;
  loop_counter sum_ns_;
};

/// Why a stream or WebSocket session ended (the `reason` label and the access log's field).
enum class end_reason : std::uint8_t {
  client_closed,  // the client hung up or sent a close frame
  slow_consumer,  // closed by the `resume` slow-consumer policy
  drain,          // the server is draining (SIGTERM)
  idle,           // no answer to a ping, or a message not completed in time
  protocol,       // the client broke the protocol (bad frame, rate limit, too big)
  error,          // a socket error
  unavailable,    // the backplane could not be read for its start: told to come back
};
inline constexpr std::size_t end_reason_count = 7;

inline std::string_view to_string(end_reason r) {
  switch (r) {
    case end_reason::client_closed:
      return "client_closed";
    case end_reason::slow_consumer:
      return "slow_consumer";
    case end_reason::drain:
      return "drain";
    case end_reason::idle:
      return "idle";
    case end_reason::protocol:
      return "protocol";
    case end_reason::error:
      return "error";
    case end_reason::unavailable:
      return "unavailable";
  }
  return "error";
}

/// What one stream sent, for its access-log line: kept inline (24 bytes, no allocation per
/// stream); `started_ns` is 0 when the access log was off as it started (nothing is counted then).
struct stream_tally {
  std::int64_t started_ns = 0;
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;

  bool on() const { return started_ns != 0; }
  void sent(std::uint64_t n, bool is_message) {
    if (on()) {
      bytes += n;
      messages += is_message ? 1 : 0;
    }
  }
};

/// What a subscriber transport (SSE or WebSocket) counts on one loop.
struct transport_counters {
  loop_counter open;                  // gauge: open SSE streams / WebSocket sessions
  loop_counter published;             // messages accepted from publishes over this transport
  loop_counter deliveries;            // messages queued to a subscriber
  loop_counter drops;                 // messages a subscriber lost to a slow-consumer policy
  loop_counter slow_consumer_closes;  // closed by the `resume` policy
  loop_counter gaps;                  // gap notices sent (lost history, dropped messages)
  loop_counter resumes;               // subscriptions that asked to resume from a position
  std::array<loop_counter, end_reason_count> ended;  // by end_reason

  void end(end_reason r) { ended[static_cast<std::size_t>(r)].add(); }
};

struct loop_counters {
  loop_counter sse_h2_streams;  // gauge: SSE streams on an HTTP/2 stream (also in sse.open)
  loop_counter ws_h2_streams;   // gauge: WebSockets on an HTTP/2 stream, RFC 8441 (also in ws.open)
  loop_counter h2_sessions;     // gauge: open HTTP/2 connections
  loop_counter http_requests;   // requests answered (all statuses)
  loop_counter http_published;  // messages accepted by HTTP publishes on this loop
  loop_counter bad_requests;    // requests answered 4xx by the protocol layer
  transport_counters sse;       // SSE streams, over HTTP/1.1 and HTTP/2
  transport_counters ws;        // WebSocket sessions
  /// Responses by status code (100..599); what a scrape shows as the `code` label.
  std::array<loop_counter, 500> http_responses;
  /// From a publish request parsed to its acknowledgement written (HTTP and WebSocket).
  loop_histogram publish_duration;
  /// From a message's publish to its hand-off into this loop's subscribers' send queues (written
  /// at the end of the same loop turn). Observed once per message per loop, with one clock read
  /// per batch: never per delivery.
  loop_histogram delivery_lag;

  void response(unsigned status) {
    http_requests.add();
    if (status >= 100 && status < 600) {
      http_responses[status - 100].add();
    }
  }
};

}  // namespace sb
