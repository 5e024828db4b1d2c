#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace bench {

const char* const usage_text = R"(usage: switchboard-bench MODE [options]

modes:
  idle       N subscribers held (--transport sse|ws|sse-h2); server RSS per subscriber (VmRSS
             after - before, --pid), kernel socket memory per subscriber (machine-wide, both ends)
  fanout     N subscribers (--transport sse|ws|sse-h2) on one topic; a publisher (--pub http|ws) at
             --rate R msg/s or "max" (closed loop: at most --max-lag messages per subscriber in
             flight) for --duration s; deliveries/s, latency (payload timestamp -> parsed),
             server CPU per delivery (/proc/PID/stat utime+stime)
  room       N WebSocket clients on one topic, each publishing --rate msg/s, all receiving
  roundtrip  N clients, each on its own topic, send one message and wait to hear it back:
             --transport sse: POST, then the client's SSE stream; ws: publish and receive over
             one WebSocket. Latency is send -> received by the same client.
  source     the generator's own ceiling: a stub sender process (--sender-cpu) blasts
             pre-encoded SSE events (or WebSocket frames with --transport ws) to N connections
             for --duration s; events/s parsed and the generator's CPU
  storm      the resume storm: N SSE subscribers on the first --base (the victim), an HTTP
             publisher at --rate through the second; after --kill-after S, SIGKILL to --kill PID;
             every subscriber reconnects at once through --resume-base URL (the balancer) with
             Last-Event-ID; time until each has every message sent before it reconnected, and
             every acknowledged message exactly once at the end (--at-kill CMD, --at-resumed CMD: shell hooks)
  report     switchboard-bench report --md FILE --svg-dir DIR RESULT.json... (see report.hpp)

target:
  --target switchboard|nchan|pushpin   adapter: URL templates and WebSocket dialect (switchboard)
  --base http://HOST:PORT[,...]        server base URL (http://127.0.0.1:8080); repeat it or give
                                       a list for several servers (nodes of a cluster): idle and
                                       fanout spread subscribers and publishers round-robin
  --sse-url T --pub-url T --ws-url T   override a template ("{topic}" is replaced)
  --pub-body T                         publish body ("{data}" and "{topic}" are replaced)
  --pub-content-type T --ws-protocol P --ws-style switchboard.v1|raw

workload options:
  -n N                      connections or clients (idle/fanout 1000, room 50, roundtrip 10,
                            source 100)
  --transport sse|ws|sse-h2 subscriber transport (sse): SSE over HTTP/1.1, WebSocket, or SSE
                            over HTTP/2 (h2c with prior knowledge; idle and fanout only)
  --streams-per-conn K      sse-h2: subscriber streams per TCP connection (100), so N
                            subscribers take ceil(N/K) connections
  --pub http|ws             fanout publisher (http)
  --rate R|max              fanout: msg/s or max (10); room: per client (30); roundtrip: round
                            trips per client per second, or max: back to back (max)
  --duration S              publishing time (10)
  --size B                  message data bytes, >= 32 (64); data starts with the CLOCK_MONOTONIC
                            send time in ns and a message number
  --pub-conns N             http publisher connections (rate 1, max 4)
  --pipeline N              requests in flight per publisher connection (rate unbounded, max 32)
  --max-lag M               max: messages per subscriber published but not received (64)
  --rooms R                 room: the N clients are spread over R topics (<topic>-0 ...), each
                            client in one (1: all on --topic)
  --volatile                room: publish volatile messages (switchboard.v1 "volatile": true:
                            coalesced per sender, not stored, not echoed to the sender)
  --verify                  track every (subscriber, message): duplicates and missing counted
  --topic NAME              topic (bench; roundtrip: rt-N per client)
  --pid PID[,PID...]        server process(es) to measure, summed (RSS, CPU); 0 = none
  --json FILE               write the results as a JSON object
  --label TEXT              copied into the summary and the JSON
  --src-base A.B.C.D        first client source address (127.0.0.2); --per-src N per address
                            (1000), so ephemeral ports never run out
  --connect-concurrency N   connection attempts in flight (256)
  --connect-timeout S       give up opening connections after S seconds (120)
  --settle S                wait after connecting (idle 3, others 1)
  --hold S                  idle: keep the connections S more seconds after measuring
  --warmup W                idle: open W connections before the RSS baseline, so the server's
                            one-off costs (code paged in, pools) are not counted per connection
                            (0; the cold figure is reported too)
  --drain S                 wait at most S seconds for late deliveries (10)
  --sender-cpu N            source: core for the stub sender
  --max-fds N               descriptors to raise RLIMIT_NOFILE to (20000)
  --procs P                 idle and fanout: run as P generator processes (each its own fd
                            limit, -n split between them, source addresses apart); one of them
                            publishes, all count; the parent measures the server (RSS, kernel
                            memory, CPU) and prints the merged figures (histograms merged)
  --quiet                   no progress lines on stderr
)";

namespace {

bool parse_long(std::string_view s, long& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_double(const std::string& s, double& out) {
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size();
}

}  // namespace

std::optional<run_options> parse_args(int argc, char** argv) {
  if (argc < 2)
    return std::nullopt;
  run_options o;
  o.mode = argv[1];
  if (o.mode != "idle" && o.mode != "fanout" && o.mode != "room" && o.mode != "roundtrip" &&
      o.mode != "source" && o.mode != "storm") {
    if (o.mode != "-h" && o.mode != "--help")
      std::fprintf(stderr, "unknown mode: %s\n", o.mode.c_str());
    return std::nullopt;
  }
  std::vector<std::string> bases;
  std::optional<std::string> sse_url, pub_url, ws_url, pub_body, pub_ct, ws_protocol, ws_style;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    auto num = [&](long& out) {
      auto v = value();
      if (!v || !parse_long(*v, out)) {
        std::fprintf(stderr, "%s: expected an integer\n", a.c_str());
        return false;
      }
      return true;
    };
    auto real = [&](double& out) {
      auto v = value();
      if (!v || !parse_double(*v, out) || out < 0) {
        std::fprintf(stderr, "%s: expected a non-negative number\n", a.c_str());
        return false;
      }
      return true;
    };
    auto str = [&](std::string& out) {
      auto v = value();
      if (v)
        out = *v;
      return v.has_value();
    };
    auto opt = [&](std::optional<std::string>& out) {
      auto v = value();
      if (v)
        out = *v;
      return v.has_value();
    };
    bool ok = true;
    if (a == "--target")
      ok = str(o.target_kind);
    else if (a == "--base") {
      auto v = value();
      ok = v.has_value();
      for (size_t at = 0; ok && at <= v->size();) {
        size_t comma = std::min(v->find(',', at), v->size());
        if (comma > at)
          bases.push_back(v->substr(at, comma - at));
        at = comma + 1;
      }
    } else if (a == "--procs")
      ok = num(o.procs);
    else if (a == "--sse-url" || a == "--sub-url")
      ok = opt(sse_url);
    else if (a == "--pub-url")
      ok = opt(pub_url);
    else if (a == "--ws-url" || a == "--url")
      ok = opt(ws_url);
    else if (a == "--pub-body")
      ok = opt(pub_body);
    else if (a == "--pub-content-type")
      ok = opt(pub_ct);
    else if (a == "--ws-protocol")
      ok = opt(ws_protocol);
    else if (a == "--ws-style")
      ok = opt(ws_style);
    else if (a == "--transport")
      ok = str(o.transport);
    else if (a == "--streams-per-conn")
      ok = num(o.streams_per_conn);
    else if (a == "--pub")
      ok = str(o.pub);
    else if (a == "--topic")
      ok = str(o.topic);
    else if (a == "-n" || a == "--connections")
      ok = num(o.n);
    else if (a == "--rate") {
      auto v = value();
      ok = v.has_value();
      if (ok && *v == "max") {
        o.max_rate = true;
      } else if (ok) {
        ok = parse_double(*v, o.rate) && o.rate > 0;
        if (!ok)
          std::fprintf(stderr, "--rate: expected a positive number or max\n");
      }
    } else if (a == "--duration")
      ok = real(o.duration);
    else if (a == "--size")
      ok = num(o.size);
    else if (a == "--pid") {
      auto v = value();
      ok = v.has_value();
      for (size_t at = 0; ok && at <= v->size();) {
        size_t comma = std::min(v->find(',', at), v->size());
        long pid = 0;
        ok = parse_long(std::string_view(*v).substr(at, comma - at), pid) && pid >= 0;
        if (ok && pid > 0)
          o.pids.push_back(pid);
        at = comma + 1;
      }
      if (!ok)
        std::fprintf(stderr, "--pid: expected PID[,PID...]\n");
    } else if (a == "--json")
      ok = str(o.json_path);
    else if (a == "--label")
      ok = str(o.label);
    else if (a == "--src-base")
      ok = str(o.src_base);
    else if (a == "--per-src")
      ok = num(o.per_src);
    else if (a == "--connect-concurrency")
      ok = num(o.connect_concurrency);
    else if (a == "--connect-timeout")
      ok = real(o.connect_timeout);
    else if (a == "--settle")
      ok = real(o.settle);
    else if (a == "--hold")
      ok = real(o.hold);
    else if (a == "--warmup")
      ok = num(o.warmup);
    else if (a == "--pub-conns")
      ok = num(o.pub_conns);
    else if (a == "--pipeline")
      ok = num(o.pipeline);
    else if (a == "--max-lag")
      ok = num(o.max_lag);
    else if (a == "--rooms")
      ok = num(o.rooms);
    else if (a == "--volatile")
      o.volatile_ = true;
    else if (a == "--drain")
      ok = real(o.drain);
    else if (a == "--sender-cpu")
      ok = num(o.sender_cpu);
    else if (a == "--max-fds")
      ok = num(o.max_fds);
    else if (a == "--kill")
      ok = num(o.kill_pid);
    else if (a == "--kill-after")
      ok = real(o.kill_after);
    else if (a == "--resume-base")
      ok = str(o.resume_base);
    else if (a == "--at-kill")
      ok = str(o.at_kill);
    else if (a == "--at-resumed")
      ok = str(o.at_resumed);
    else if (a == "--verify")
      o.verify = true;
    else if (a == "--quiet")
      o.quiet = true;
    else if (a == "-h" || a == "--help")
      return std::nullopt;
    else {
      std::fprintf(stderr, "unknown option: %s\n", a.c_str());
      return std::nullopt;
    }
    if (!ok)
      return std::nullopt;
  }

  if (bases.empty())
    bases.push_back(o.base);
  o.base = bases.front();
  // Overrides apply to every target: a template naming a host sends that role to that host.
  for (const std::string& base : bases) {
    auto t = make_target(o.target_kind, base);
    if (!t) {
      std::fprintf(stderr, "--target %s --base %s: unknown target or bad base URL\n",
                   o.target_kind.c_str(), base.c_str());
      return std::nullopt;
    }
    if (sse_url)
      t->sse_url = *sse_url;
    if (pub_url)
      t->pub_url = *pub_url;
    if (ws_url)
      t->ws_url = *ws_url;
    if (pub_body)
      t->pub_body = *pub_body;
    if (pub_ct)
      t->pub_content_type = *pub_ct;
    if (ws_protocol)
      t->ws_protocol = *ws_protocol;
    if (ws_style) {
      if (*ws_style == "switchboard.v1") {
        t->ws_style = ws_flavor::switchboard_v1;
      } else if (*ws_style == "raw") {
        t->ws_style = ws_flavor::raw;
      } else {
        std::fprintf(stderr, "--ws-style: switchboard.v1 or raw\n");
        return std::nullopt;
      }
    }
    o.targets.push_back(*t);
  }
  o.target = o.targets.front();
  if (o.resume_base.empty())
    o.resume_base = o.base;
  if (o.targets.size() > 1 && o.mode != "idle" && o.mode != "fanout" && o.mode != "storm") {
    std::fprintf(stderr, "several --base targets: idle and fanout only\n");
    return std::nullopt;
  }
  if (o.procs < 1 || o.procs > 64 || (o.procs > 1 && o.mode != "idle" && o.mode != "fanout")) {
    std::fprintf(stderr, "--procs must be in [1, 64], and above 1 for idle and fanout only\n");
    return std::nullopt;
  }

  if (o.transport != "sse" && o.transport != "ws" && o.transport != "sse-h2") {
    std::fprintf(stderr, "--transport: sse, ws or sse-h2\n");
    return std::nullopt;
  }
  if (o.transport == "sse-h2" && o.mode != "idle" && o.mode != "fanout") {
    std::fprintf(stderr, "--transport sse-h2: idle and fanout only\n");
    return std::nullopt;
  }
  if (o.streams_per_conn < 1 || o.streams_per_conn > 100000) {
    std::fprintf(stderr, "--streams-per-conn must be in [1, 100000]\n");
    return std::nullopt;
  }
  if (o.pub != "http" && o.pub != "ws") {
    std::fprintf(stderr, "--pub: http or ws\n");
    return std::nullopt;
  }
  if (o.mode == "room")
    o.transport = "ws";
  bool needs_ws = o.transport == "ws" || (o.mode == "fanout" && o.pub == "ws");
  if (o.mode != "source" && needs_ws && o.target.ws_url.empty()) {
    std::fprintf(stderr, "target %s has no WebSocket endpoint (--ws-url)\n", o.target.name.c_str());
    return std::nullopt;
  }
  if (o.n < 0)
    o.n = o.mode == "room" ? 50 : o.mode == "roundtrip" ? 10 : o.mode == "source" ? 100 : 1000;
  if (o.rate < 0 && !o.max_rate) {
    if (o.mode == "roundtrip")
      o.max_rate = true;
    else
      o.rate = o.mode == "room" ? 30 : 10;
  }
  if (o.rooms < 1 || o.rooms > o.n) {
    std::fprintf(stderr, "--rooms must be in [1, -n]\n");
    return std::nullopt;
  }
  if (o.mode == "room" && o.max_rate) {
    std::fprintf(stderr, "room: --rate max is not supported (a fixed schedule per client)\n");
    return std::nullopt;
  }
  if (o.topic.empty())
    o.topic = o.mode == "room" ? "room" : o.mode == "roundtrip" ? "rt" : "bench";
  if (o.n < 1 || o.per_src < 1 || o.connect_concurrency < 1 || o.max_lag < 1) {
    std::fprintf(stderr, "-n, --per-src, --connect-concurrency and --max-lag must be >= 1\n");
    return std::nullopt;
  }
  if (o.size < 32 || o.size > 16 * 1024 * 1024) {
    std::fprintf(stderr, "--size must be in [32, 16777216]\n");
    return std::nullopt;
  }
  if (o.settle < 0)
    o.settle = o.mode == "idle" ? 3.0 : 1.0;
  if (o.pub_conns <= 0)
    o.pub_conns = o.max_rate ? 4 : 1;
  if (o.pipeline <= 0)
    o.pipeline = o.max_rate ? 32 : 1000000;
  return o;
}

}  // namespace bench
