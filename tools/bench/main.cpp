// switchboard-bench: a load generator for Switchboard and any SSE (HTTP/1.1 or h2c) or WebSocket
// server reachable through URL templates (nginx + nchan, Pushpin). See `switchboard-bench --help`,
// docs/benchmarks.md and tools/bench/run.sh.
#include <signal.h>

#include <cstdio>
#include <string_view>

#include "multiproc.hpp"
#include "options.hpp"
#include "report.hpp"
#include "workload.hpp"

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc >= 2 && std::string_view(argv[1]) == "report")
    return bench::run_report(argc - 1, argv + 1);
  auto o = bench::parse_args(argc, argv);
  if (!o) {
    std::fputs(bench::usage_text, stderr);
    return 2;
  }
  if (o->procs > 1)
    return bench::run_multi(*o);
  if (o->mode == "idle")
    return bench::run_idle(*o);
  if (o->mode == "fanout")
    return bench::run_fanout(*o);
  if (o->mode == "storm")
    return bench::run_storm(*o);
  if (o->mode == "room")
    return bench::run_room(*o);
  if (o->mode == "roundtrip")
    return bench::run_roundtrip(*o);
  return bench::run_source(*o);
}
