// Command line of switchboard-bench: one table of options shared by every workload.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "adapters.hpp"

namespace bench {

struct run_options {
  std::string mode;  // idle, fanout, room, roundtrip, source
  std::string target_kind = "switchboard";
  std::string base = "http://127.0.0.1:8080";
  bench_target target;                // the first target (publish body, dialect, WebSocket style)
  std::vector<bench_target> targets;  // one per --base; subscribers and publishers round-robin
  long procs = 1;                     // --procs: generator processes (idle and fanout)
  // Set in a child of --procs: its index and the pipes to its parent (multiproc.hpp).
  long proc_index = -1;
  int ready_fd = -1, go_fd = -1, result_fd = -1;
  std::string transport = "sse";  // subscribers: sse, ws or sse-h2
  long streams_per_conn = 100;    // sse-h2: subscriber streams per TCP connection
  std::string pub = "http";       // fanout publisher: http or ws
  std::string topic;
  long n = -1;
  bool max_rate = false;
  double rate = -1;
  double duration = 10;
  long size = 64;
  std::vector<long> pids;  // server processes measured together (a multi-process server)
  std::string json_path;
  std::string label;
  std::string src_base = "127.0.0.2";
  long per_src = 1000;
  long connect_concurrency = 256;
  double connect_timeout = 120;
  double settle = -1;
  double hold = 0;
  long warmup =
      0;  // idle: connections opened before the baseline, so one-off costs are not counted
  long pub_conns = 0;
  long pipeline = 0;
  long max_lag = 64;
  long rooms = 1;          // room: clients spread over this many topics (<topic>-<k>)
  bool volatile_ = false;  // room: publish volatile (coalesced, not stored, not echoed)
  double drain = 10;
  bool verify = false;
  bool quiet = false;
  long sender_cpu = -1;  // source: pin the stub sender to this core
  long max_fds = 20000;
  long kill_pid = -1;               // storm: the victim node
  double kill_after = 3;            // storm: seconds into publishing
  std::string resume_base;          // storm: where subscribers reconnect (the balancer)
  std::string at_kill, at_resumed;  // storm: shell commands run just before the kill and once
                                    // every subscriber has resumed (e.g. Redis INFO snapshots)
};

extern const char* const usage_text;

// Parses argv (argv[1] is the mode); prints what is wrong and returns nullopt on a bad command.
std::optional<run_options> parse_args(int argc, char** argv);

}  // namespace bench
