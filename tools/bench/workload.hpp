// What every workload shares: the engine, delivery counting (latency from the payload timestamp
// into a log histogram, the exactly-once check with --verify), the measurement window (server and
// generator CPU), the drain after publishing, and the common result keys.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "engine.hpp"
#include "histogram.hpp"
#include "options.hpp"
#include "result.hpp"

namespace bench {

class workload_base : public engine_listener {
 public:
  explicit workload_base(const run_options& o) : o_(o), e_(o_, *this) {}
  // Runs the workload, prints the summary line, writes --json; the process exit code.
  virtual int run() = 0;

  void on_ready(client_conn&) override {}
  // Counts a delivery to a subscriber (publishers' own echoes are ignored).
  void on_data(client_conn& c, std::string_view data) override;
  void on_stream_data(client_conn& c, stream_sub& s, std::string_view data) override;
  void on_answer(client_conn& c, bool ok) override;

 protected:
  // The engine's conn_kind for --transport (sse, ws or sse-h2).
  conn_kind sub_kind() const;
  // Adds subscribers [from, to) on ep: one connection each, or for sse-h2 one connection per
  // --streams-per-conn of them.
  void add_subscribers(const server_endpoint& ep, long from, long to);
  // The same, connections spread round-robin over eps (one per --base target).
  void add_subscribers(const std::vector<server_endpoint>& eps, long from, long to);
  // One endpoint per --base target for a URL role (bench_target::sse_url, pub_url or ws_url);
  // false (and the engine's error) when one does not resolve. eps must not grow afterwards: the
  // engine keeps pointers into it.
  bool resolve(std::string bench_target::*url, std::vector<server_endpoint>& eps);
  // A child of --procs: the figures its parent merges (multiproc.hpp).
  void report_to_parent() const;
  // TCP connections that n subscribers take.
  long sub_connections(long n) const;
  // Counts one delivery into a subscriber's figures (latency, --verify).
  void count(uint64_t& received, std::vector<uint8_t>& seen, std::string_view data);

  // Starts the measured window: server and own CPU, t0.
  void begin();
  // Waits for late deliveries: until expected() arrived, nothing came for 3 s, or --drain.
  void drain(const std::function<uint64_t()>& expected);
  // Ends the measured window.
  void end();

  // Keys every run writes (mode, target, labels), and the delivery figures.
  void add_header(run_result& r) const;
  void add_deliveries(run_result& r, uint64_t expected) const;
  void add_latency(run_result& r, const log_histogram& h, const std::string& prefix) const;
  std::string latency_text(const log_histogram& h) const;
  std::string cpu_text() const;
  std::string title() const;
  void print_errors() const;
  int finish(const run_result& r);  // writes --json; 0, or 2 when it cannot

  uint64_t us(double s) const { return static_cast<uint64_t>(s * 1e6); }
  double server_cpu_s() const { return cpu0_ && cpu1_ ? *cpu1_ - *cpu0_ : -1; }
  double window_s() const { return static_cast<double>(t1_ - t0_) / 1e9; }

  run_options o_;
  epoll_engine e_;
  log_histogram hist_;
  bool measuring_ = false;
  uint64_t t0_ = 0, t1_ = 0;
  uint64_t received_ = 0, stale_ = 0, foreign_ = 0, duplicates_ = 0;
  uint64_t pub_sent_ = 0, pub_ok_ = 0, pub_err_ = 0;
  uint64_t last_delivery_ns_ = 0, last_ack_ns_ = 0;
  long subs_at_start_ = 0;
  std::optional<double> cpu0_, cpu1_;
  double self0_ = 0, self1_ = 0;
};

int run_idle(const run_options& o);
int run_fanout(const run_options& o);
int run_room(const run_options& o);
int run_roundtrip(const run_options& o);
int run_source(const run_options& o);
int run_storm(const run_options& o);

}  // namespace bench
