// --procs P: the generator as P processes, so that more connections than one process's descriptor
// limit (20,000 here) can be held and the work spreads over cores. The parent forks the children
// (each an ordinary idle or fanout run over its share of -n, on source addresses of its own), waits
// until every child has connected (a byte each on the ready pipe), measures the server's RSS and
// the kernel's socket memory, starts them all at once (a byte each on the go pipe), and merges what
// they send back (proc_report, latency histograms included) into one summary and one --json.
// Child 0 publishes; the others only subscribe and count.
#pragma once

#include <cstdint>

#include "histogram.hpp"
#include "options.hpp"

namespace bench {

// What a child sends its parent at the end, over a pipe, raw (the same binary on both ends).
struct proc_report {
  long subs_connected = 0, subs_failed = 0, subs_closed = 0;
  uint64_t published = 0, publish_errors = 0;
  uint64_t received = 0, duplicates = 0, stale = 0, foreign = 0, errors = 0;
  double self_cpu_s = 0;
  log_histogram hist;
  char first_error[240] = {};
};

// In a child: tells the parent it has connected and waits for the start; the start time (now_ns()
// in the parent, shared by every child so none counts another's first message as stale), or 0
// when the parent is gone. A no-op (now_ns()) when the run is not a child of --procs.
uint64_t child_barrier(const run_options& o);
// In a child: sends the report to the parent.
void child_report(const run_options& o, const proc_report& r);

// The parent of --procs: forks, synchronises, merges; the exit code.
int run_multi(const run_options& o);

}  // namespace bench
