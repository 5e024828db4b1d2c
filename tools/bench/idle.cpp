// idle: N subscribers held open (SSE streams over HTTP/1.1 or HTTP/2, or subscribed WebSockets);
// what each costs the server (VmRSS) and the kernel (TCP buffer pages and slab, machine-wide, both
// ends). With sse-h2 a subscriber is a stream, K of them sharing one TCP connection.
#include <algorithm>
#include <cstdio>
#include <optional>

#include "clock.hpp"
#include "multiproc.hpp"
#include "proc_stats.hpp"
#include "workload.hpp"

namespace bench {

namespace {

class idle_workload : public workload_base {
 public:
  using workload_base::workload_base;

  int run() override {
    bool ws = o_.transport == "ws";
    if (!e_.init(sub_connections(o_.n) + 16) ||
        !resolve(ws ? &bench_target::ws_url : &bench_target::sse_url, eps_))
      return fail();
    if (o_.proc_index >= 0)
      return run_child();
    long warm = std::clamp(o_.warmup, 0L, o_.n);
    auto add = [&](long from, long to) { add_subscribers(eps_, from, to); };
    auto deadline = now_ns() + secs_to_ns(o_.connect_timeout);
    auto cold = read_rss_kib(o_.pids);
    long warm_open = 0;
    if (warm > 0) {
      // The first connections also pay for what the server sets up once (code paged in, pools);
      // the baseline is taken after them, so the figure is what one more connection costs.
      add(0, warm);
      warm_open = e_.open_all(deadline, "warm-up connections");
      e_.settle(1);
    }
    auto rss0 = read_rss_kib(o_.pids);
    kernel_memory k0 = read_kernel_memory();
    add(warm, o_.n);
    long open = e_.open_all(deadline, "idle connections");
    if (open > 0)
      e_.settle(o_.settle);
    auto rss1 = read_rss_kib(o_.pids);
    kernel_memory k1 = read_kernel_memory();
    open = e_.subs_ready();
    long measured = open - warm_open;
    auto per = [&](double a, double b) {
      return a >= 0 && b >= 0 && measured > 0 ? (b - a) / static_cast<double>(measured) : -1;
    };
    auto kib = [](const std::optional<uint64_t>& v) {
      return v ? static_cast<double>(*v) * 1024.0 : -1.0;
    };
    double rss_per = rss0 && rss1 ? per(kib(rss0), kib(rss1)) : -1;
    double cold_per =
        cold && rss1 && open > 0 ? (kib(rss1) - kib(cold)) / static_cast<double>(open) : -1;
    double tcp_per = per(k0.tcp_buffers, k1.tcp_buffers);
    double slab_per = per(k0.slab, k1.slab);
    if (o_.hold > 0)
      e_.settle(o_.hold);
    e_.set_stopping();

    bool h2 = sub_kind() == conn_kind::sse_h2;
    const char* unit = h2 ? "stream" : "connection";
    std::string line = fmt("%s: %ld/%ld %ss open", title().c_str(), open, o_.n, unit);
    if (h2)
      line += fmt(" on %ld connections", sub_connections(o_.n));
    if (rss_per >= 0)
      line += fmt(", server RSS %.1f MiB -> %.1f MiB: %.0f B per %s",
                  static_cast<double>(*rss0) / 1024.0, static_cast<double>(*rss1) / 1024.0, rss_per,
                  unit);
    if (warm > 0 && cold_per >= 0)
      line += fmt(" after %ld warm-up %ss (%.0f B counting them and the one-off costs)", warm_open,
                  unit, cold_per);
    line += fmt(", kernel per %s (both ends): TCP buffers %.0f B, slab %.0f B", unit, tcp_per,
                slab_per);
    std::printf("%s\n", line.c_str());
    print_errors();
    run_result r;
    add_header(r);
    r.num("connections_open", static_cast<double>(open));
    r.num("connections_failed", static_cast<double>(e_.subs_failed()));
    r.num("connections_closed", static_cast<double>(e_.subs_closed()));
    r.num("rss_before_kib", rss0 ? static_cast<double>(*rss0) : -1.0);
    r.num("rss_after_kib", rss1 ? static_cast<double>(*rss1) : -1.0);
    r.num("rss_bytes_per_conn", rss_per);
    r.num("warmup_connections", static_cast<double>(warm_open));
    r.num("rss_cold_bytes_per_conn", cold_per);
    r.num("kernel_tcp_buffer_bytes_per_conn", tcp_per);
    r.num("kernel_slab_bytes_per_conn", slab_per);
    r.num("errors", static_cast<double>(e_.errors()));
    r.str("first_error", e_.first_error());
    int rc = finish(r);
    return rc ? rc : (open == o_.n ? 0 : 1);
  }

 private:
  // A child of --procs: connect, say so, and hold until the parent has measured.
  int run_child() {
    add_subscribers(eps_, 0, o_.n);
    e_.open_all(now_ns() + secs_to_ns(o_.connect_timeout), "idle connections");
    e_.settle(o_.settle);
    subs_at_start_ = e_.subs_ready();
    self0_ = self_cpu_s();
    child_barrier(o_);
    self1_ = self_cpu_s();
    e_.set_stopping();
    report_to_parent();
    return subs_at_start_ == o_.n ? 0 : 1;
  }

  std::vector<server_endpoint> eps_;

  int fail() {
    std::fprintf(stderr, "switchboard-bench: %s\n", e_.first_error().c_str());
    return 2;
  }
};

}  // namespace

int run_idle(const run_options& o) {
  return idle_workload(o).run();
}

}  // namespace bench
