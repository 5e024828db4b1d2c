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

class Workload : public Listener {
 public:
  explicit Workload(const Options& o) : o_(o), e_(o_, *this) {}
  // Runs the workload, prints the summary line, writes --json; the process exit code.
  virtual int run() = 0;

  void on_ready(Conn&) override {}
  // Counts a delivery to a subscriber (publishers' own echoes are ignored).
  void on_data(Conn& c, std::string_view data) override;
  void on_stream_data(Conn& c, Sub& s, std::string_view data) override;
  void on_answer(Conn& c, bool ok) override;

 protected:
  // The engine's Kind for --transport (sse, ws or sse-h2).
  Kind sub_kind() const;
  // Adds subscribers [from, to) on ep: one connection each, or for sse-h2 one connection per
  // --streams-per-conn of them.
  void add_subscribers(const Endpoint& ep, long from, long to);
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
  void add_header(Result& r) const;
  void add_deliveries(Result& r, uint64_t expected) const;
  void add_latency(Result& r, const LogHistogram& h, const std::string& prefix) const;
  std::string latency_text(const LogHistogram& h) const;
  std::string cpu_text() const;
  std::string title() const;
  void print_errors() const;
  int finish(const Result& r);  // writes --json; 0, or 2 when it cannot

  uint64_t us(double s) const { return static_cast<uint64_t>(s * 1e6); }
  double server_cpu_s() const { return cpu0_ && cpu1_ ? *cpu1_ - *cpu0_ : -1; }
  double window_s() const { return static_cast<double>(t1_ - t0_) / 1e9; }

  Options o_;
  Engine e_;
  LogHistogram hist_;
  bool measuring_ = false;
  uint64_t t0_ = 0, t1_ = 0;
  uint64_t received_ = 0, stale_ = 0, foreign_ = 0, duplicates_ = 0;
  uint64_t pub_sent_ = 0, pub_ok_ = 0, pub_err_ = 0;
  uint64_t last_delivery_ns_ = 0, last_ack_ns_ = 0;
  long subs_at_start_ = 0;
  std::optional<double> cpu0_, cpu1_;
  double self0_ = 0, self1_ = 0;
};

int run_idle(const Options& o);
int run_fanout(const Options& o);
int run_room(const Options& o);
int run_roundtrip(const Options& o);
int run_source(const Options& o);

}  // namespace bench
