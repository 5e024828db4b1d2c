#include "workload.hpp"

#include <cinttypes>
#include <cstdio>

#include "clock.hpp"
#include "multiproc.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"

namespace bench {

void workload_base::on_data(client_conn& c, std::string_view data) {
  if (!c.publisher)
    count(c.received, c.seen, data);
}

void workload_base::on_stream_data(client_conn&, stream_sub& s, std::string_view data) {
  count(s.received, s.seen, data);
}

conn_kind workload_base::sub_kind() const {
  return o_.transport == "ws"       ? conn_kind::ws
         : o_.transport == "sse-h2" ? conn_kind::sse_h2
                                    : conn_kind::sse;
}

void workload_base::add_subscribers(const server_endpoint& ep, long from, long to) {
  conn_kind k = sub_kind();
  long per = k == conn_kind::sse_h2 ? o_.streams_per_conn : 1;
  for (long i = from; i < to; i += per) {
    client_conn& c = e_.add(k, ep, o_.topic, static_cast<uint32_t>(i), false);
    if (k != conn_kind::sse_h2)
      continue;
    c.subs.resize(static_cast<size_t>(std::min(per, to - i)));
    for (size_t j = 0; j < c.subs.size(); ++j)
      c.subs[j].client = static_cast<uint32_t>(i) + static_cast<uint32_t>(j);
  }
}

void workload_base::add_subscribers(const std::vector<server_endpoint>& eps, long from, long to) {
  long per = sub_kind() == conn_kind::sse_h2 ? o_.streams_per_conn : 1;
  size_t next = 0;
  for (long i = from; i < to; i += per) {
    add_subscribers(eps[next], i, std::min(i + per, to));
    next = (next + 1) % eps.size();
  }
}

bool workload_base::resolve(std::string bench_target::*url, std::vector<server_endpoint>& eps) {
  eps.assign(o_.targets.size(), server_endpoint{});
  for (size_t i = 0; i < o_.targets.size(); ++i)
    if (!e_.endpoint(o_.targets[i].*url, eps[i]))
      return false;
  return true;
}

void workload_base::report_to_parent() const {
  proc_report r;
  r.subs_connected = subs_at_start_;
  r.subs_failed = e_.subs_failed();
  r.subs_closed = e_.subs_closed();
  r.published = pub_sent_ - pub_err_;
  r.publish_errors = pub_err_;
  r.received = received_;
  r.duplicates = duplicates_;
  r.stale = stale_;
  r.foreign = foreign_;
  r.errors = e_.errors();
  r.self_cpu_s = self1_ - self0_;
  r.hist = hist_;
  std::snprintf(r.first_error, sizeof r.first_error, "%s", e_.first_error().c_str());
  child_report(o_, r);
}

long workload_base::sub_connections(long n) const {
  return sub_kind() == conn_kind::sse_h2 ? (n + o_.streams_per_conn - 1) / o_.streams_per_conn : n;
}

void workload_base::count(uint64_t& received, std::vector<uint8_t>& seen, std::string_view data) {
  auto p = parse_payload(data);
  if (!p) {
    ++foreign_;
    return;
  }
  if (!measuring_ || p->ts < t0_) {
    ++stale_;
    return;
  }
  if (o_.verify) {
    if (p->msgno >= seen.size())
      seen.resize(std::max<size_t>(p->msgno + 1, seen.size() * 2), 0);
    if (seen[p->msgno]) {
      ++duplicates_;
      return;
    }
    seen[p->msgno] = 1;
  }
  ++received_;
  ++received;
  uint64_t now = e_.read_now();
  hist_.record(now > p->ts ? now - p->ts : 0);
  last_delivery_ns_ = now;
}

void workload_base::on_answer(client_conn&, bool ok) {
  if (ok) {
    ++pub_ok_;
    last_ack_ns_ = e_.read_now();
  } else {
    ++pub_err_;
  }
}

void workload_base::begin() {
  subs_at_start_ = e_.subs_ready();
  cpu0_ = read_cpu_s(o_.pids);
  self0_ = self_cpu_s();
  t0_ = now_ns();
  last_delivery_ns_ = last_ack_ns_ = t0_;
  measuring_ = true;
}

void workload_base::drain(const std::function<uint64_t()>& expected) {
  uint64_t last_seen = received_;
  uint64_t last_progress = now_ns();
  e_.loop_until(now_ns() + secs_to_ns(o_.drain), [&] {
    if (received_ >= expected())
      return true;
    uint64_t now = now_ns();
    if (received_ != last_seen) {
      last_seen = received_;
      last_progress = now;
    }
    return now - last_progress > 3 * ns_per_sec;
  });
}

void workload_base::end() {
  cpu1_ = read_cpu_s(o_.pids);
  self1_ = self_cpu_s();
  t1_ = now_ns();
  measuring_ = false;
  e_.set_stopping();
  e_.set_progress({}, 0);
}

std::string workload_base::title() const {
  std::string t = o_.mode + " " + o_.transport;
  if (o_.mode == "fanout")
    t += "/" + o_.pub + "-pub";
  t += " " + o_.target.name;
  if (!o_.label.empty())
    t += " (" + o_.label + ")";
  return t;
}

void workload_base::add_header(run_result& r) const {
  r.str("mode", o_.mode);
  r.str("transport", o_.transport);
  r.str("target", o_.target.name);
  r.str("label", o_.label);
  r.num("connections", static_cast<double>(o_.n));
  if (sub_kind() == conn_kind::sse_h2) {
    r.num("streams_per_conn", static_cast<double>(o_.streams_per_conn));
    r.num("tcp_connections", static_cast<double>(sub_connections(o_.n)));
  }
  r.num("duration_s", o_.duration);
  r.num("size", static_cast<double>(o_.size));
}

void workload_base::add_latency(run_result& r, const log_histogram& h,
                                const std::string& prefix) const {
  auto ms = [&](double p) { return static_cast<double>(h.percentile(p)) / 1e6; };
  r.num(prefix + "latency_samples", static_cast<double>(h.count()));
  r.num(prefix + "latency_ms_p50", ms(50));
  r.num(prefix + "latency_ms_p90", ms(90));
  r.num(prefix + "latency_ms_p99", ms(99));
  r.num(prefix + "latency_ms_p999", ms(99.9));
  r.num(prefix + "latency_ms_max", static_cast<double>(h.max()) / 1e6);
  r.num(prefix + "latency_ms_mean", h.mean() / 1e6);
}

void workload_base::add_deliveries(run_result& r, uint64_t expected) const {
  double del_window = static_cast<double>(std::max(last_delivery_ns_, t0_ + 1) - t0_) / 1e9;
  double cpu = server_cpu_s();
  r.num("subscribers_connected", static_cast<double>(subs_at_start_));
  r.num("subscribers_failed", static_cast<double>(e_.subs_failed()));
  r.num("subscribers_closed", static_cast<double>(e_.subs_closed()));
  r.num("published", static_cast<double>(pub_sent_ - pub_err_));
  r.num("publish_errors", static_cast<double>(pub_err_));
  r.num("expected_deliveries", static_cast<double>(expected));
  r.num("received_deliveries", static_cast<double>(received_));
  r.num("duplicate_deliveries", o_.verify ? static_cast<double>(duplicates_) : -1.0);
  r.num("delivered_fraction",
        expected ? static_cast<double>(received_) / static_cast<double>(expected) : 0.0);
  r.num("deliveries_per_s", static_cast<double>(received_) / del_window);
  add_latency(r, hist_, "");
  r.num("window_s", window_s());
  r.num("server_cpu_s", cpu);
  r.num("server_cpu_us_per_delivery",
        cpu >= 0 && received_ ? cpu * 1e6 / static_cast<double>(received_) : -1.0);
  r.num("server_cpu_pct", cpu >= 0 ? cpu / window_s() * 100.0 : -1.0);
  r.num("generator_cpu_pct", (self1_ - self0_) / window_s() * 100.0);
  r.num("foreign_messages", static_cast<double>(foreign_));
  r.num("stale_messages", static_cast<double>(stale_));
  r.num("errors", static_cast<double>(e_.errors()));
  r.str("first_error", e_.first_error());
}

std::string workload_base::latency_text(const log_histogram& h) const {
  auto ms = [&](double p) { return static_cast<double>(h.percentile(p)) / 1e6; };
  return fmt("latency p50 %.3f ms p90 %.3f ms p99 %.3f ms p99.9 %.3f ms max %.3f ms", ms(50),
             ms(90), ms(99), ms(99.9), static_cast<double>(h.max()) / 1e6);
}

std::string workload_base::cpu_text() const {
  std::string s;
  double cpu = server_cpu_s();
  if (cpu >= 0 && received_)
    s += fmt(", server CPU %.3f us/delivery (%.0f%% of a core)",
             cpu * 1e6 / static_cast<double>(received_), cpu / window_s() * 100.0);
  return s + fmt(", generator CPU %.0f%%", (self1_ - self0_) / window_s() * 100.0);
}

void workload_base::print_errors() const {
  if (o_.verify && duplicates_)
    std::printf("  duplicate deliveries: %" PRIu64 "\n", duplicates_);
  if (!e_.first_error().empty())
    std::printf("  first error (%" PRIu64 " in all): %s\n", e_.errors(), e_.first_error().c_str());
}

int workload_base::finish(const run_result& r) {
  std::fflush(stdout);
  if (!o_.json_path.empty() && !r.write(o_.json_path)) {
    std::fprintf(stderr, "switchboard-bench: cannot write %s\n", o_.json_path.c_str());
    return 2;
  }
  return 0;
}

}  // namespace bench
