// idle: N connections held open (SSE streams, or subscribed WebSockets); what each costs the
// server (VmRSS) and the kernel (TCP buffer pages and slab, machine-wide, both ends).
#include <cstdio>

#include "clock.hpp"
#include "proc_stats.hpp"
#include "workload.hpp"

namespace bench {

namespace {

class Idle : public Workload {
 public:
  using Workload::Workload;

  int run() override {
    Endpoint ep;
    bool ws = o_.transport == "ws";
    if (!e_.init(o_.n + 16) || !e_.endpoint(ws ? o_.target.ws_url : o_.target.sse_url, ep))
      return fail();
    for (long i = 0; i < o_.n; ++i)
      e_.add(ws ? Kind::ws : Kind::sse, ep, o_.topic, static_cast<uint32_t>(i), false);
    auto rss0 = read_rss_kib(o_.pids);
    KernelMemory k0 = read_kernel_memory();
    long open = e_.open_all(now_ns() + secs_to_ns(o_.connect_timeout), "idle connections");
    if (open > 0)
      e_.settle(o_.settle);
    auto rss1 = read_rss_kib(o_.pids);
    KernelMemory k1 = read_kernel_memory();
    open = e_.subs_ready();
    auto per = [&](double a, double b) { return a >= 0 && b >= 0 && open ? (b - a) / open : -1; };
    double rss_per =
        rss0 && rss1 ? per(static_cast<double>(*rss0) * 1024.0, static_cast<double>(*rss1) * 1024.0)
                     : -1;
    double tcp_per = per(k0.tcp_buffers, k1.tcp_buffers);
    double slab_per = per(k0.slab, k1.slab);
    if (o_.hold > 0)
      e_.settle(o_.hold);
    e_.set_stopping();

    std::string line = fmt("%s: %ld/%ld connections open", title().c_str(), open, o_.n);
    if (rss_per >= 0)
      line +=
          fmt(", server RSS %.1f MiB -> %.1f MiB: %.0f B per connection",
              static_cast<double>(*rss0) / 1024.0, static_cast<double>(*rss1) / 1024.0, rss_per);
    line += fmt(", kernel per connection (both ends): TCP buffers %.0f B, slab %.0f B", tcp_per,
                slab_per);
    std::printf("%s\n", line.c_str());
    print_errors();
    Result r;
    add_header(r);
    r.num("connections_open", static_cast<double>(open));
    r.num("connections_failed", static_cast<double>(e_.subs_failed()));
    r.num("connections_closed", static_cast<double>(e_.subs_closed()));
    r.num("rss_before_kib", rss0 ? static_cast<double>(*rss0) : -1.0);
    r.num("rss_after_kib", rss1 ? static_cast<double>(*rss1) : -1.0);
    r.num("rss_bytes_per_conn", rss_per);
    r.num("kernel_tcp_buffer_bytes_per_conn", tcp_per);
    r.num("kernel_slab_bytes_per_conn", slab_per);
    r.num("errors", static_cast<double>(e_.errors()));
    r.str("first_error", e_.first_error());
    int rc = finish(r);
    return rc ? rc : (open == o_.n ? 0 : 1);
  }

 private:
  int fail() {
    std::fprintf(stderr, "switchboard-bench: %s\n", e_.first_error().c_str());
    return 2;
  }
};

}  // namespace

int run_idle(const Options& o) {
  return Idle(o).run();
}

}  // namespace bench
