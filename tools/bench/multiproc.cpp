#include "multiproc.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "clock.hpp"
#include "proc_stats.hpp"
#include "result.hpp"
#include "workload.hpp"

namespace bench {

namespace {

bool write_all(int fd, const void* p, size_t n) {
  auto* b = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, b, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    b += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_all(int fd, void* p, size_t n) {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = ::read(fd, b, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    b += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

std::string shift_address(const std::string& base, uint32_t by) {
  in_addr a{};
  if (inet_pton(AF_INET, base.c_str(), &a) != 1)
    return base;  // the child's engine reports the bad address
  a.s_addr = htonl(ntohl(a.s_addr) + by);
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, buf, sizeof buf) ? buf : base;
}

struct child {
  pid_t pid = -1;
  int result_fd = -1;
  long n = 0;
  bool reported = false;
  proc_report r;
};

bool at_barrier = false;  // this child has said it is ready (or failed), so it is not awaited

}  // namespace

uint64_t child_barrier(const run_options& o) {
  if (o.proc_index < 0)
    return now_ns();
  char b = 'r';
  at_barrier = true;
  uint64_t go = 0;
  if (!write_all(o.ready_fd, &b, 1) || !read_all(o.go_fd, &go, sizeof go))
    return 0;
  return go;
}

void child_report(const run_options& o, const proc_report& r) {
  if (o.proc_index >= 0)
    write_all(o.result_fd, &r, sizeof r);
}

int run_multi(const run_options& o) {
  const long procs = o.procs;
  const long slice = (o.n + procs - 1) / procs;
  // Each child's connections take ceil(share / per_src) source addresses (its publishers too).
  const auto addrs_per_child =
      static_cast<uint32_t>((slice + o.pub_conns + 16 + o.per_src - 1) / o.per_src);
  int ready[2], go[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) {
    std::perror("switchboard-bench: pipe");
    return 2;
  }
  auto rss0 = read_rss_kib(o.pids);
  kernel_memory k0 = read_kernel_memory();
  std::vector<child> kids(static_cast<size_t>(procs));
  long assigned = 0;
  std::fflush(nullptr);
  for (long i = 0; i < procs; ++i) {
    child& k = kids[static_cast<size_t>(i)];
    k.n = std::min(slice, o.n - assigned);
    assigned += k.n;
    int res[2];
    if (k.n <= 0 || pipe2(res, O_CLOEXEC) != 0) {
      k.n = 0;
      continue;
    }
    pid_t pid = fork();
    if (pid == 0) {
      run_options co = o;
      co.procs = 1;
      co.n = k.n;
      co.proc_index = i;
      co.ready_fd = ready[1];
      co.go_fd = go[0];
      co.result_fd = res[1];
      co.json_path.clear();
      co.quiet = o.quiet || i > 0;
      co.src_base = shift_address(o.src_base, static_cast<uint32_t>(i) * addrs_per_child);
      ::close(ready[0]);
      ::close(go[1]);
      ::close(res[0]);
      int rc = o.mode == "idle" ? run_idle(co) : run_fanout(co);
      if (!at_barrier) {
        // Failed before connecting: the parent must not wait for this child's ready byte.
        char b = 'f';
        write_all(ready[1], &b, 1);
      }
      std::fflush(nullptr);
      _exit(rc);
    }
    ::close(res[1]);
    if (pid < 0) {
      std::perror("switchboard-bench: fork");
      ::close(res[0]);
      k.n = 0;
      continue;
    }
    k.pid = pid;
    k.result_fd = res[0];
  }
  ::close(ready[1]);
  ::close(go[0]);
  long started = 0;
  for (const child& k : kids)
    started += k.pid > 0 ? 1 : 0;
  // Every child connects (or gives up after --connect-timeout) before anything is measured; a
  // child that exits early closes its end, so the count falls short at EOF instead of hanging.
  // A child that crashes writes nothing and its siblings keep the pipe open: bounded by
  // --connect-timeout (and a minute for the rest), after which the children are stopped.
  long ready_count = 0;
  uint64_t ready_deadline = now_ns() + secs_to_ns(o.connect_timeout + 60);
  while (ready_count < started) {
    uint64_t now = now_ns();
    pollfd p{ready[0], POLLIN, 0};
    int left_ms = now < ready_deadline ? static_cast<int>((ready_deadline - now) / 1000000) : 0;
    int n = ::poll(&p, 1, left_ms);
    if (n < 0 && errno == EINTR)
      continue;
    char b;
    if (n <= 0 || !read_all(ready[0], &b, 1)) {
      std::fprintf(stderr, "switchboard-bench: %ld of %ld children ready in time; stopping them\n",
                   ready_count, started);
      for (const child& k : kids)
        if (k.pid > 0)
          ::kill(k.pid, SIGKILL);
      break;
    }
    ++ready_count;
  }
  auto sleep_s = [](double s) {
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long>(s * 1e6)));
  };
  sleep_s(o.settle);
  auto rss1 = read_rss_kib(o.pids);
  kernel_memory k1 = read_kernel_memory();
  if (o.mode == "idle" && o.hold > 0)
    sleep_s(o.hold);
  auto cpu0 = read_cpu_s(o.pids);
  uint64_t t0 = now_ns();
  for (long i = 0; i < started; ++i)
    write_all(go[1], &t0, sizeof t0);  // 8 bytes: below PIPE_BUF, so each write is whole
  ::close(go[1]);

  proc_report sum;
  std::string first_error;
  long reported = 0;
  for (child& k : kids) {
    if (k.pid <= 0)
      continue;
    k.reported = read_all(k.result_fd, &k.r, sizeof k.r);
    ::close(k.result_fd);
    if (!k.reported)
      continue;
    ++reported;
    sum.subs_connected += k.r.subs_connected;
    sum.subs_failed += k.r.subs_failed;
    sum.subs_closed += k.r.subs_closed;
    sum.published += k.r.published;
    sum.publish_errors += k.r.publish_errors;
    sum.received += k.r.received;
    sum.duplicates += k.r.duplicates;
    sum.stale += k.r.stale;
    sum.foreign += k.r.foreign;
    sum.errors += k.r.errors;
    sum.self_cpu_s += k.r.self_cpu_s;
    sum.hist.merge(k.r.hist);
    if (first_error.empty() && k.r.first_error[0])
      first_error = k.r.first_error;
  }
  uint64_t t1 = now_ns();
  auto cpu1 = read_cpu_s(o.pids);
  int worst = 0;
  for (child& k : kids) {
    int status = 0;
    if (k.pid > 0 && waitpid(k.pid, &status, 0) == k.pid) {
      int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 3;
      worst = std::max(worst, rc);
    }
  }
  ::close(ready[0]);

  double window = static_cast<double>(t1 - t0) / 1e9;
  double cpu = cpu0 && cpu1 ? *cpu1 - *cpu0 : -1;
  double conns = static_cast<double>(sum.subs_connected);
  auto per_conn = [&](double a, double b) {
    return a >= 0 && b >= 0 && conns > 0 ? (b - a) / conns : -1;
  };
  double rss_per = rss0 && rss1 ? per_conn(static_cast<double>(*rss0) * 1024.0,
                                           static_cast<double>(*rss1) * 1024.0)
                                : -1;
  double tcp_per = per_conn(k0.tcp_buffers, k1.tcp_buffers);
  double slab_per = per_conn(k0.slab, k1.slab);
  uint64_t expected =
      o.mode == "fanout" ? sum.published * static_cast<uint64_t>(sum.subs_connected) : 0;
  auto ms = [&](double p) { return static_cast<double>(sum.hist.percentile(p)) / 1e6; };

  std::string title = o.mode + " " + o.transport + " " + o.target.name + " x" +
                      std::to_string(o.targets.size()) + " targets, " + std::to_string(reported) +
                      "/" + std::to_string(procs) + " procs";
  if (!o.label.empty())
    title += " (" + o.label + ")";
  std::string line = fmt("%s: %ld/%ld subscribers", title.c_str(), sum.subs_connected, o.n);
  if (rss_per >= 0)
    line += fmt(", server RSS %.1f -> %.1f MiB: %.0f B per connection",
                static_cast<double>(*rss0) / 1024.0, static_cast<double>(*rss1) / 1024.0, rss_per);
  line += fmt(", kernel per connection (both ends): TCP buffers %.0f B, slab %.0f B", tcp_per,
              slab_per);
  if (o.mode == "fanout") {
    line += fmt(
        "; published %" PRIu64 ", deliveries %" PRIu64 "/%" PRIu64
        " (%.3f%%), latency p50 "
        "%.3f ms p99 %.3f ms p99.9 %.3f ms max %.3f ms",
        sum.published, sum.received, expected,
        expected ? 100.0 * static_cast<double>(sum.received) / static_cast<double>(expected) : 0.0,
        ms(50), ms(99), ms(99.9), static_cast<double>(sum.hist.max()) / 1e6);
    if (cpu >= 0 && sum.received)
      line += fmt(", server CPU %.3f us/delivery (%.0f%% of a core over %.1f s)",
                  cpu * 1e6 / static_cast<double>(sum.received), cpu / window * 100.0, window);
  }
  line += fmt(", generator CPU %.0f%%", sum.self_cpu_s / window * 100.0);
  std::printf("%s\n", line.c_str());
  if (sum.subs_failed || sum.subs_closed || sum.publish_errors)
    std::printf("  subscribers failed %ld, closed %ld; publish errors %" PRIu64 "\n",
                sum.subs_failed, sum.subs_closed, sum.publish_errors);
  if (o.verify && sum.duplicates)
    std::printf("  duplicate deliveries: %" PRIu64 "\n", sum.duplicates);
  if (!first_error.empty())
    std::printf("  first error (%" PRIu64 " in all): %s\n", sum.errors, first_error.c_str());

  run_result r;
  r.str("mode", o.mode);
  r.str("transport", o.transport);
  r.str("target", o.target.name);
  r.str("label", o.label);
  r.num("targets", static_cast<double>(o.targets.size()));
  r.num("procs", static_cast<double>(procs));
  r.num("procs_reported", static_cast<double>(reported));
  r.num("connections", static_cast<double>(o.n));
  r.num("subscribers_connected", conns);
  r.num("subscribers_failed", static_cast<double>(sum.subs_failed));
  r.num("subscribers_closed", static_cast<double>(sum.subs_closed));
  r.num("rss_before_kib", rss0 ? static_cast<double>(*rss0) : -1.0);
  r.num("rss_after_kib", rss1 ? static_cast<double>(*rss1) : -1.0);
  r.num("rss_bytes_per_conn", rss_per);
  r.num("kernel_tcp_buffer_bytes_per_conn", tcp_per);
  r.num("kernel_slab_bytes_per_conn", slab_per);
  if (o.mode == "fanout") {
    r.str("rate", o.max_rate ? "max" : fmt("%g", o.rate));
    r.num("duration_s", o.duration);
    r.num("size", static_cast<double>(o.size));
    r.num("published", static_cast<double>(sum.published));
    r.num("publish_errors", static_cast<double>(sum.publish_errors));
    r.num("expected_deliveries", static_cast<double>(expected));
    r.num("received_deliveries", static_cast<double>(sum.received));
    r.num("duplicate_deliveries", o.verify ? static_cast<double>(sum.duplicates) : -1.0);
    r.num("delivered_fraction",
          expected ? static_cast<double>(sum.received) / static_cast<double>(expected) : 0.0);
    r.num("latency_samples", static_cast<double>(sum.hist.count()));
    r.num("latency_ms_p50", ms(50));
    r.num("latency_ms_p90", ms(90));
    r.num("latency_ms_p99", ms(99));
    r.num("latency_ms_p999", ms(99.9));
    r.num("latency_ms_max", static_cast<double>(sum.hist.max()) / 1e6);
    r.num("latency_ms_mean", sum.hist.mean() / 1e6);
    r.num("server_cpu_s", cpu);
    r.num("server_cpu_us_per_delivery",
          cpu >= 0 && sum.received ? cpu * 1e6 / static_cast<double>(sum.received) : -1.0);
  }
  r.num("window_s", window);
  r.num("generator_cpu_s", sum.self_cpu_s);
  r.num("stale_messages", static_cast<double>(sum.stale));
  r.num("foreign_messages", static_cast<double>(sum.foreign));
  r.num("errors", static_cast<double>(sum.errors));
  r.str("first_error", first_error);
  std::fflush(stdout);
  if (!o.json_path.empty() && !r.write(o.json_path)) {
    std::fprintf(stderr, "switchboard-bench: cannot write %s\n", o.json_path.c_str());
    return 2;
  }
  if (reported < procs || sum.subs_connected < o.n)
    return 1;
  return o.mode == "fanout" && sum.received == 0 ? 1 : worst;
}

}  // namespace bench
