#!/usr/bin/env bash
# Capacity of Switchboard with broker = redis on this machine (issue 13, "Performance"): publish
# through Redis beside bare `redis-benchmark PUBLISH`, server CPU per delivery Redis vs memory
# broker, latency over 3 nodes vs one, 100,000 SSE subscribers over several nodes sharing one
# Redis, and the resume storm through HAProxy. Writes docs/benchmarks-cluster.md (sections of
# workloads not run this time are kept from the previous file).
#
#   tools/bench/cluster.sh BUILD_DIR
#
# Environment (all optional):
#   CLUSTER_WORKLOADS="publish fanout-cpu latency big storm"   which workloads (default: all)
#   CLUSTER_OUT=FILE     report (docs/benchmarks-cluster.md)
#   BIG_N=100000 BIG_NODES=6 BIG_DURATION=30   the many-subscribers run
#   STORM_N=10000        the resume storm's subscribers
#   PORT_BASE=39400      first loopback port (Redis; nodes and HAProxy take the next ones)
#   CLUSTER_KEEP=1       keep the scratch folder (logs, JSON) and say where
#
# Cores (2 here): a measured node on core 0, Redis and the generator on core 1, unless a workload
# says otherwise (the multi-node ones leave the scheduler to spread nodes over both cores). Only
# the processes this script starts are stopped, by PID. Nothing system-wide is changed: every
# process runs under this box's RLIMIT_NOFILE of 20,000 (which cannot be raised here), so the
# balancer is two HAProxy processes sharing one port.
set -uo pipefail

[[ $# -ge 1 ]] || { echo "usage: tools/bench/cluster.sh BUILD_DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
invoked=""
for v in CLUSTER_WORKLOADS BIG_N BIG_NODES BIG_DURATION STORM_N; do
  [[ -n ${!v:-} ]] && invoked+="$v=${!v} "
done
invoked+="tools/bench/cluster.sh $*"
build=$1
[[ $build == /* ]] || build="$PWD/$build"
sb="$build/switchboard"
lg="$build/tools/bench/switchboard-bench"
out=${CLUSTER_OUT:-$root/docs/benchmarks-cluster.md}
for f in "$sb" "$lg"; do [[ -x $f ]] || { echo "cluster.sh: $f is missing" >&2; exit 2; }; done
for t in redis-server redis-cli redis-benchmark haproxy wrk taskset; do
  command -v "$t" >/dev/null || { echo "cluster.sh: $t is missing" >&2; exit 2; }
done
all_workloads=(publish fanout-cpu latency big storm)
# shellcheck disable=SC2206
workloads=(${CLUSTER_WORKLOADS:-${all_workloads[*]}})
big_n=${BIG_N:-100000}
big_nodes=${BIG_NODES:-6}
big_duration=${BIG_DURATION:-30}
storm_n=${STORM_N:-10000}
port_base=${PORT_BASE:-39400}

tmp=$(mktemp -d /tmp/switchboard-cluster-bench.XXXXXX)
declare -A live=()
cleanup() {
  local p
  for p in "${!live[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [[ -n ${CLUSTER_KEEP:-} ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
jget() {  # file key -> value
  [[ -f $1 ]] || return 0
  sed -n "s/^ *\"$2\": *//p" "$1" | head -1 | sed 's/,$//; s/^"//; s/"$//'
}
num() { awk -v v="${1:-}" -v f="$2" 'BEGIN{if (v == "" || v < 0) print "–"; else printf f, v}'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {  # port pid
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    port_open "$1" && return 0
    sleep 0.1
  done
  return 1
}
stop() {  # pid...: TERM, then KILL after 10 s
  local p i
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset "live[$p]"
  done
}
ticks() {  # utime + stime of PID[,PID...] in clock ticks
  local s=0 p
  for p in ${1//,/ }; do
    [[ -r /proc/$p/stat ]] && s=$((s + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$s"
}
hz=$(getconf CLK_TCK)
busy_pct() {  # share of both cores busy over the next second (other developers' work included)
  local a b
  read -ra a </proc/stat; sleep 1; read -ra b </proc/stat
  awk -v u="$((b[1] + b[2] + b[3] + b[6] + b[7] - a[1] - a[2] - a[3] - a[6] - a[7]))" \
      -v i="$((b[4] + b[5] - a[4] - a[5]))" 'BEGIN{t = u + i; printf "%.0f", t ? 100 * u / t : 0}'
}
noise() { echo "load average $(cut -d' ' -f1 /proc/loadavg), both cores $(busy_pct) % busy before the run"; }

redis_port=$port_base
redis_pid=""
start_redis() {  # [cpu]: a fresh redis-server without persistence
  local cpu=${1:-}
  local pre=()
  [[ -n $cpu ]] && pre=(taskset -c "$cpu")
  "${pre[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --loglevel warning --dir "$tmp" --maxclients 10000 >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  live[$redis_pid]=1
  wait_port "$redis_port" "$redis_pid" || { log "redis-server did not start"; return 1; }
}
rcli() { redis-cli -p "$redis_port" "$@"; }
cmdstats() { rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),.*/\1 \2/p' | LC_ALL=C sort; }

node_pids=()
node_ports=()
# start_node INDEX BROKER CPU THREADS [extra flags]: node INDEX on port base+1+INDEX.
start_node() {
  local i=$1 broker=$2 cpu=$3 threads=$4
  shift 4
  local port=$((port_base + 1 + i)) pre=()
  [[ -n $cpu ]] && pre=(taskset -c "$cpu")
  (
    ulimit -n 20000
    exec "${pre[@]}" "$sb" --listen "127.0.0.1:$port" --threads "$threads" --log-level warn \
      --access-log-level off --broker "$broker" --redis-url "redis://127.0.0.1:$redis_port/0" \
      --node-id "bench$i" --dev --max-connections-per-ip 1000000 \
      --http-publish-rate 10000000 --http-publish-burst 10000000 \
      --send-queue-max-bytes 16777216 "$@"
  ) >"$tmp/node$i.log" 2>&1 &
  local pid=$!
  live[$pid]=1
  wait_port "$port" "$pid" || { log "node $i did not start:"; tail -3 "$tmp/node$i.log" >&2; return 1; }
  node_pids[$i]=$pid
  node_ports[$i]=$port
}
stop_nodes() { [[ ${#node_pids[@]} -gt 0 ]] && stop "${node_pids[@]}"; node_pids=(); node_ports=(); }
base_of() { echo "http://127.0.0.1:${node_ports[$1]}"; }

haproxy_pids=()
lb_port=$((port_base + 90))
# start_haproxy NODE-INDEX...: round-robin in front of those nodes. HAProxy holds two descriptors
# per balanced connection and RLIMIT_NOFILE cannot be raised past 20,000 here, so two HAProxy
# processes share the port (SO_REUSEPORT, HAProxy's default on Linux; the kernel spreads new
# connections over them), each with maxconn 9,000.
start_haproxy() {
  local i k
  {
    printf 'global\n  maxconn 9000\ndefaults\n  mode http\n  timeout connect 1s\n'
    printf '  timeout client 1h\n  timeout server 1h\n  timeout tunnel 1h\n  retries 3\n'
    printf '  option redispatch\nfrontend web\n  bind 127.0.0.1:%s\n' "$lb_port"
    printf '  default_backend nodes\nbackend nodes\n  balance roundrobin\n  option httpchk GET /readyz\n'
    for i in "$@"; do
      printf '  server n%s 127.0.0.1:%s check inter 500ms fall 2 rise 1\n' "$i" "${node_ports[$i]}"
    done
  } >"$tmp/haproxy.cfg"
  for k in 1 2; do
    haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy$k.log" 2>&1 &
    haproxy_pids+=($!)
    live[$!]=1
    wait_port "$lb_port" "$!" || { log "haproxy did not start"; tail -3 "$tmp/haproxy$k.log" >&2; return 1; }
  done
}

src_next=10
src() {  # a fresh loopback source range per run: no TIME_WAIT left over from the previous one
  src_next=$((src_next + 1))
  echo "127.$src_next.0.2"
}

bench_pre=()  # e.g. (taskset -c 1): where the generator runs
bench() {  # name args...: switchboard-bench, its summary line kept
  local name=$1
  shift
  "${bench_pre[@]}" "$lg" "$@" --json "$tmp/$name.json" --quiet >"$tmp/$name.txt" 2>"$tmp/$name.err"
  local rc=$?
  cat "$tmp/$name.txt" >&2
  return $rc
}

# --- publish: Redis's own ceiling and publishes through a node -----------------------------------
wrk_post() {  # name url body-file seconds connections -> $tmp/name.wrk
  printf 'wrk.method = "POST"\nlocal f = io.open("%s")\nwrk.body = f:read("*a")\nf:close()\n' "$3" >"$tmp/$1.lua"
  printf 'wrk.headers["Content-Type"] = "%s"\n' "$( [[ $3 == *.json ]] && echo application/json || echo text/plain)" >>"$tmp/$1.lua"
  taskset -c 1 wrk -t1 -c"$5" -d"$4" -s "$tmp/$1.lua" "$2" >"$tmp/$1.wrk" 2>&1
}
wrk_rps() { awk '/Requests\/sec/{print $2}' "$tmp/$1.wrk"; }
wrk_reqs() { awk '/requests in/{print $1}' "$tmp/$1.wrk"; }
wrk_non2xx() { awk '/Non-2xx/{print $NF}' "$tmp/$1.wrk"; }

wl_publish() {
  local n rows="" seconds=5 c=16
  printf 'hello' >"$tmp/single.txt"
  {
    printf '{"messages":['
    for ((n = 0; n < 100; n++)); do
      ((n)) && printf ','
      printf '{"topic":"bench-batch","data":"hello"}'
    done
    printf ']}'
  } >"$tmp/batch100.json"
  start_redis 1 || return 1
  local noise_txt
  noise_txt=$(noise)
  # The ceiling: bare PUBLISH from redis-benchmark (on core 0, where a node runs below).
  local rb rbp
  rb=$(taskset -c 0 redis-benchmark -p "$redis_port" -c "$c" -n 400000 -q PUBLISH bench-ceiling hello 2>&1 |
       tr '\r' '\n' | awk '/requests per second/{for (i = 1; i <= NF; i++) if ($(i+1) ~ /^requests/) print $i}' | tail -1)
  rbp=$(taskset -c 0 redis-benchmark -p "$redis_port" -c "$c" -n 2000000 -P 32 -q PUBLISH bench-ceiling hello 2>&1 |
        tr '\r' '\n' | awk '/requests per second/{for (i = 1; i <= NF; i++) if ($(i+1) ~ /^requests/) print $i}' | tail -1)
  log "redis-benchmark PUBLISH: $rb/s, pipelined 32: $rbp/s"
  local broker threads kind name url body rps reqs per evals n0 n1 r0 r1 e0 e1 cpu_node cpu_redis
  for broker in redis memory; do
    for threads in 1 2; do
      local cpu=0
      ((threads == 2)) && cpu=""
      start_node 0 "$broker" "$cpu" "$threads" || return 1
      for kind in single batch; do
        name="pub-$broker-$threads-$kind"
        if [[ $kind == single ]]; then
          url="$(base_of 0)/v1/topics/bench-single" body="$tmp/single.txt" per=1
        else
          url="$(base_of 0)/v1/publish" body="$tmp/batch100.json" per=100
        fi
        e0=$(cmdstats | awk '$1 == "evalsha" {print $2}')
        n0=$(ticks "${node_pids[0]}") r0=$(ticks "$redis_pid")
        wrk_post "$name" "$url" "$body" "$seconds" "$c"
        n1=$(ticks "${node_pids[0]}") r1=$(ticks "$redis_pid")
        e1=$(cmdstats | awk '$1 == "evalsha" {print $2}')
        rps=$(wrk_rps "$name") reqs=$(wrk_reqs "$name")
        local msgs=$((reqs * per))
        cpu_node=$(awk -v t="$((n1 - n0))" -v m="$msgs" -v hz="$hz" 'BEGIN{printf "%.2f", m ? t / hz * 1e6 / m : -1}')
        cpu_redis=$(awk -v t="$((r1 - r0))" -v m="$msgs" -v hz="$hz" 'BEGIN{printf "%.2f", m ? t / hz * 1e6 / m : -1}')
        evals=$(awk -v a="${e0:-0}" -v b="${e1:-0}" -v m="$msgs" 'BEGIN{printf "%.2f", m ? (b - a) / m : 0}')
        [[ $broker == memory ]] && evals="–" cpu_redis="–"
        local where="1 loop on core 0"
        ((threads == 2)) && where="2 loops, unpinned"
        rows+="| $broker | $where | $kind$([[ $kind == batch ]] && echo " (100 per POST)") | $(num "$(awk -v r="$rps" -v p="$per" 'BEGIN{print r * p}')" "%.0f") | $cpu_node | $cpu_redis | $evals | $(wrk_non2xx "$name") |"$'\n'
        log "$name: $rps requests/s"
      done
      stop_nodes
    done
  done
  stop "$redis_pid"
  cat >"$tmp/section-publish.md" <<EOF
## Publish through Redis

\`wrk -t1 -c$c -d${seconds}s\` (keep-alive, $c connections, on core 1) POSTs to one node: single
publishes (\`POST /v1/topics/bench-single\`, 5-byte body) and batches (\`POST /v1/publish\`, 100
messages of 5 bytes to one topic per request), with no subscribers. Redis (no persistence) on core
1 too. Messages/s is what wrk saw answered (2xx; the last column counts others). CPU per message is
utime + stime from /proc/PID/stat over the run divided by messages (10 ms ticks), for the node and
for redis-server. EVALSHA per message from \`INFO commandstats\` (deterministic).

The ceiling, in the same run: \`redis-benchmark -c $c -n 400000 PUBLISH bench-ceiling hello\`
(on core 0) **$(num "$rb" "%.0f") PUBLISH/s**; pipelined 32 deep (\`-P 32\`): **$(num "$rbp" "%.0f")/s**.
$noise_txt.

| broker | node | publish | messages/s | node CPU µs/message | Redis CPU µs/message | EVALSHA/message | non-2xx |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |
$rows
EOF
}

# --- fanout-cpu: per-delivery server CPU at 1,000 subscribers, max rate, Redis vs memory ---------
wl_fanout_cpu() {
  local rows="" broker run name noise_txt sum_mem=0 sum_redis=0 fix_mem=0 fix_redis=0
  start_redis 1 || return 1
  noise_txt=$(noise)
  local rate
  # Publishes come from 64 connections with one request in flight each, never from pipelining: a
  # node reads a connection's next request only once the last one is answered, which the memory
  # broker does at once and the Redis broker after its round trip. Pipelined (4 connections 32
  # deep at max rate, 1 unbounded at a fixed rate), the memory broker took a burst per read while
  # the Redis broker had at most one publish per connection in flight and delivered them that
  # way: ~10 messages per subscriber write against ~40 at max rate, and whenever the generator
  # ran late at 200 msg/s, 1.2 against 1.9.
  for run in 1 2 fixed1 fixed2; do
    for broker in memory redis; do
      start_node 0 "$broker" 0 1 || return 1
      name="fan-$broker-$run"
      rate=max
      [[ $run == fixed* ]] && rate=200
      local r0 r1
      r0=$(ticks "$redis_pid")
      bench_pre=(taskset -c 1)
      bench "$name" fanout --base "$(base_of 0)" -n 1000 --rate "$rate" --duration 10 --size 64 \
        --pub-conns 64 --pipeline 1 --pid "${node_pids[0]}" --src-base "$(src)" \
        --topic "fan-$broker-$run"
      bench_pre=()
      r1=$(ticks "$redis_pid")
      stop_nodes
      local f="$tmp/$name.json" us
      us=$(jget "$f" server_cpu_us_per_delivery)
      if [[ $run == fixed* ]]; then
        [[ $broker == memory ]] && fix_mem=$(awk -v a="$fix_mem" -v b="$us" 'BEGIN{print a + b}')
        [[ $broker == redis ]] && fix_redis=$(awk -v a="$fix_redis" -v b="$us" 'BEGIN{print a + b}')
      else
        [[ $broker == memory ]] && sum_mem=$(awk -v a="$sum_mem" -v b="$us" 'BEGIN{print a + b}')
        [[ $broker == redis ]] && sum_redis=$(awk -v a="$sum_redis" -v b="$us" 'BEGIN{print a + b}')
      fi
      local redis_us="–"
      [[ $broker == redis ]] && redis_us=$(awk -v t="$((r1 - r0))" -v p="$(jget "$f" published)" -v hz="$hz" 'BEGIN{printf "%.1f", p ? t / hz * 1e6 / p : -1}')
      rows+="| $run | $broker | $rate | $(num "$(jget "$f" published_per_s)" "%.0f") | $(num "$(jget "$f" deliveries_per_s)" "%.0f") | $(num "$(jget "$f" delivered_fraction)" "%.4f") | **$(num "$us" "%.3f")** | $(num "$(jget "$f" server_cpu_pct)" "%.0f") | $redis_us | $(num "$(jget "$f" latency_ms_p99)" "%.1f") |"$'\n'
    done
  done
  stop "$redis_pid"
  local ratio fratio
  ratio=$(awk -v r="$sum_redis" -v m="$sum_mem" 'BEGIN{if (m > 0) printf "%.2f", r / m; else print "–"}')
  fratio=$(awk -v r="$fix_redis" -v m="$fix_mem" 'BEGIN{if (m > 0) printf "%.2f", r / m; else print "–"}')
  cat >"$tmp/section-fanout-cpu.md" <<EOF
## Server CPU per delivery: Redis vs memory broker

One node (\`--threads 1\`, core 0), 1,000 SSE subscribers on one topic, an HTTP publisher at max
rate (closed loop: at most 64 messages per subscriber in flight) for 10 s, 64-byte messages, from
64 keep-alive connections with one request in flight each (a node reads a connection's next
request only after answering the last, so pipelining would favour the broker that answers at once); the
generator and Redis on core 1. Server CPU per delivery = the node's utime + stime
(/proc/PID/stat) over the window / deliveries. Two alternating runs of each broker, each a fresh
node; then the same at a fixed 200 msg/s (runs fixed1, fixed2), where both brokers wake the
loop once per message, so the comparison is not skewed by how many messages each write carries.
Redis CPU per message: redis-server's utime + stime over the run / messages published.
$noise_txt.

| run | broker | rate | messages/s | deliveries/s | delivered | server CPU µs/delivery | server CPU % | Redis CPU µs/message | p99 ms |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$rows
**Redis / memory, mean of the max-rate runs: ${ratio}×** (target: within 1.10×); at 200 msg/s:
**${fratio}×**.
EOF
}

# --- latency: 1,000 subscribers over 3 nodes at 10 msg/s vs one memory node --------------------
wl_latency() {
  local rows="" noise_txt
  start_redis 1 || return 1
  noise_txt=$(noise)
  bench_pre=(taskset -c 1)
  start_node 0 memory 0 1 || return 1
  bench lat-memory fanout --base "$(base_of 0)" -n 1000 --rate 10 --duration 20 --size 64 \
    --pid "${node_pids[0]}" --src-base "$(src)" --topic lat-memory
  stop_nodes
  local i
  for i in 0 1 2; do start_node "$i" redis 0 1 || return 1; done
  bench lat-redis3 fanout --base "$(base_of 0),$(base_of 1),$(base_of 2)" -n 1000 --rate 10 \
    --duration 20 --size 64 --pid "$(IFS=,; echo "${node_pids[*]}")" --src-base "$(src)" --topic lat-redis3
  bench_pre=()
  stop_nodes
  stop "$redis_pid"
  local name label f
  for name in lat-memory lat-redis3; do
    f="$tmp/$name.json"
    label="1 node, memory broker"
    [[ $name == lat-redis3 ]] && label="3 nodes, redis broker (publish to node 1)"
    rows+="| $label | $(num "$(jget "$f" delivered_fraction)" "%.4f") | $(num "$(jget "$f" latency_ms_p50)" "%.2f") | $(num "$(jget "$f" latency_ms_p90)" "%.2f") | **$(num "$(jget "$f" latency_ms_p99)" "%.2f")** | $(num "$(jget "$f" latency_ms_max)" "%.2f") | $(num "$(jget "$f" server_cpu_us_per_delivery)" "%.2f") |"$'\n'
  done
  local d
  d=$(awk -v a="$(jget "$tmp/lat-redis3.json" latency_ms_p99)" -v b="$(jget "$tmp/lat-memory.json" latency_ms_p99)" 'BEGIN{printf "%+.2f", a - b}')
  cat >"$tmp/section-latency.md" <<EOF
## Latency over 3 nodes

1,000 SSE subscribers at 10 msg/s for 20 s (64-byte messages; latency = the publish time carried
in the payload to the event parsed, both CLOCK_MONOTONIC on this box). One memory node, then three
redis nodes with the subscribers spread round-robin and the publisher on node 1 (so two thirds of
the deliveries cross Redis pub/sub to another node). Every node \`--threads 1\` on core 0;
Redis and the generator on core 1. $noise_txt.

| setup | delivered | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/delivery |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
$rows
**p99, 3 redis nodes minus 1 memory node: $d ms** (target: at most +2 ms).
EOF
}

# --- big: 100,000 SSE subscribers over several nodes sharing one Redis ---------------------------
wl_big() {
  local avail_kib
  avail_kib=$(awk '/MemAvailable/{print $2}' /proc/meminfo)
  if ((avail_kib < 6 * 1024 * 1024)); then
    log "big: only $((avail_kib / 1024)) MiB available; skipped"
    return 1
  fi
  start_redis || return 1
  local noise_txt i bases="" pids=""
  noise_txt=$(noise)
  local per_node=$(((big_n + big_nodes - 1) / big_nodes))
  for ((i = 0; i < big_nodes; i++)); do
    start_node "$i" redis "" 1 || return 1
    bases+="${bases:+,}$(base_of "$i")"
    pids+="${pids:+,}${node_pids[$i]}"
  done
  local r0 rss_redis0 rss_redis1
  rss_redis0=$(awk '/VmRSS/{print $2}' "/proc/$redis_pid/status")
  r0=$(ticks "$redis_pid")
  local procs=$big_nodes
  # The most descriptors any node holds, sampled while the run lasts.
  (
    m=0
    while :; do
      for p in ${pids//,/ }; do
        c=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        ((c > m)) && m=$c && echo "$m" >"$tmp/big-fds"
      done
      sleep 2
    done
  ) &
  local sampler=$!
  live[$sampler]=1
  bench big fanout --base "$bases" --procs "$procs" -n "$big_n" --rate 1 --duration "$big_duration" \
    --size 64 --settle 5 --connect-timeout 300 --drain 15 --pid "$pids" --src-base "$(src)" \
    --topic big --verify
  stop "$sampler"
  local fds
  fds=$(cat "$tmp/big-fds" 2>/dev/null || echo "–")
  rss_redis1=$(awk '/VmRSS/{print $2}' "/proc/$redis_pid/status")
  stop_nodes
  stop "$redis_pid"
  local f="$tmp/big.json"
  local rss tcp slab total
  rss=$(jget "$f" rss_bytes_per_conn) tcp=$(jget "$f" kernel_tcp_buffer_bytes_per_conn) slab=$(jget "$f" kernel_slab_bytes_per_conn)
  total=$(awk -v a="$rss" -v b="$tcp" -v c="$slab" 'BEGIN{printf "%.0f", a + b + c}')
  cat >"$tmp/section-big.md" <<EOF
## $(num "$big_n" "%.0f") SSE subscribers over $big_nodes nodes

$big_nodes nodes (\`--threads 1\` each, RLIMIT_NOFILE 20,000 each, unpinned: the scheduler spreads
them over both cores) with broker = redis sharing one redis-server; \`switchboard-bench\` as
$procs processes (\`--procs $procs\`, each under its own 20,000-descriptor limit, on source
addresses of its own) opens $(num "$big_n" "%.0f") SSE subscribers of one topic, round-robin over the nodes
(about $(num "$per_node" "%.0f") each); one of them publishes one 64-byte message per second for
${big_duration} s, every subscriber counts every message (\`--verify\`). Most descriptors held by a
node: $fds. $noise_txt.

\`\`\`
$(cat "$tmp/big.txt")
\`\`\`

| figure | value |
| --- | ---: |
| subscribers connected | $(num "$(jget "$f" subscribers_connected)" "%.0f") |
| deliveries / expected | $(num "$(jget "$f" received_deliveries)" "%.0f") / $(num "$(jget "$f" expected_deliveries)" "%.0f") |
| duplicates | $(jget "$f" duplicate_deliveries) |
| latency p50 / p99 / max (publish to parsed) | $(num "$(jget "$f" latency_ms_p50)" "%.0f") / **$(num "$(jget "$f" latency_ms_p99)" "%.0f")** / $(num "$(jget "$f" latency_ms_max)" "%.0f") ms |
| server CPU per delivery (all nodes) | $(num "$(jget "$f" server_cpu_us_per_delivery)" "%.2f") µs |
| server RSS per connection (all nodes, VmRSS after − before connecting) | $(num "$rss" "%.0f") B |
| kernel per connection, both ends (TCP buffer pages + slab, machine-wide) | $(num "$tcp" "%.0f") + $(num "$slab" "%.0f") B |
| **total per connection (user + kernel)** | **$(num "$total" "%.0f") B** |
| redis-server RSS before → after | $((rss_redis0 / 1024)) → $((rss_redis1 / 1024)) MiB |
EOF
}

# --- storm: the resume storm through HAProxy ----------------------------------------------------
# storm_once NAME [node flags...]: one storm; writes $tmp/NAME.block.md (figures and commands).
storm_once() {
  local name=$1
  shift
  start_redis || return 1
  local noise_txt i
  noise_txt=$(noise)
  for i in 0 1 2; do start_node "$i" redis "" 1 "$@" || return 1; done
  start_haproxy 0 1 2 || return 1
  local victim=${node_pids[0]}
  bench "$name" storm --base "$(base_of 0)" --base "$(base_of 1)" \
    --resume-base "http://127.0.0.1:$lb_port" --kill "$victim" -n "$storm_n" --rate 10 \
    --duration 25 --kill-after 5 --size 64 --src-base "$(src)" --topic storm \
    --connect-timeout 120 --drain 20 \
    --at-kill "redis-cli -p $redis_port info commandstats > $tmp/$name-kill.txt" \
    --at-resumed "redis-cli -p $redis_port info commandstats > $tmp/$name-resumed.txt"
  unset "live[$victim]"
  wait "$victim" 2>/dev/null
  node_pids[0]=""
  local warnings
  warnings=$(cat "$tmp"/node1.log "$tmp"/node2.log | grep -c "timed out")
  stop "${node_pids[1]}" "${node_pids[2]}" "${haproxy_pids[@]}"
  haproxy_pids=()
  node_pids=()
  stop "$redis_pid"
  local f="$tmp/$name.json" resumed pubs per_cmd
  resumed=$(jget "$f" resumed)
  pubs=$(jget "$f" published_kill_to_all_resumed)
  # Commands between the kill and the last resume, per resume; the publishes of that window
  # (one EVALSHA each) are taken out. usec: Redis's own time in the command.
  per_cmd=$(LC_ALL=C join -a2 -e 0 -o 0,1.2,2.2,1.3,2.3 \
    <(tr -d '\r' <"$tmp/$name-kill.txt" | sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=\([0-9]*\),.*/\1 \2 \3/p' | LC_ALL=C sort) \
    <(tr -d '\r' <"$tmp/$name-resumed.txt" | sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=\([0-9]*\),.*/\1 \2 \3/p' | LC_ALL=C sort) |
    awk -v n="$resumed" -v p="${pubs:-0}" '
      BEGIN { inside = " time hmget del hdel hset llen lindex lpop get rpush pexpire publish spublish set lrange hget " }
      $1 != "info" && $3 > $2 {
        d = $3 - $2; u = $5 - $4; if ($1 == "evalsha") d -= p
        where = index(inside, " " $1 " ") ? "inside the scripts" : "sent by the nodes"
        c = toupper($1); gsub(/[|]/, " ", c)
        if (n > 0) printf "| %s | %s | %d | %.3f | %.1f |\n", c, where, d, d / n, u / ($3 - $2) }')
  cat >"$tmp/$name.block.md" <<EOF
$noise_txt. Node log lines "a command timed out" (the Redis connection dropped and remade): $warnings.

\`\`\`
$(cat "$tmp/$name.txt")
\`\`\`

| figure | value |
| --- | ---: |
| subscribers resumed | $(num "$resumed" "%.0f") / $(num "$(jget "$f" subscribers)" "%.0f") (reconnect attempts $(jget "$f" reopen_attempts)) |
| reconnected (kill → 200 on the new stream) p50 / p99 / max | $(num "$(jget "$f" reconnect_s_p50)" "%.2f") / $(num "$(jget "$f" reconnect_s_p99)" "%.2f") / $(num "$(jget "$f" reconnect_s_max)" "%.2f") s |
| **resumed (kill → every message sent before its reconnect received) p50 / p99 / max** | $(num "$(jget "$f" resume_s_p50)" "%.2f") / $(num "$(jget "$f" resume_s_p99)" "%.2f") / **$(num "$(jget "$f" resume_s_max)" "%.2f") s** (target: 15 s) |
| **subscribers with every acknowledged message exactly once** | **$(num "$(jget "$f" exact_subscribers)" "%.0f")** |
| missing / duplicate deliveries / gap events | $(jget "$f" missing_deliveries) / $(jget "$f" duplicate_deliveries) / $(jget "$f" foreign_events) |
| publishes refused (503) | $(jget "$f" publish_errors) |

Redis commands from the kill to the last resume (\`INFO commandstats\` before and after; the
$pubs publishes of that window, one EVALSHA each, taken out of the count), per resume, and
Redis's own time per call in that window:

| command | | calls | per resume | µs per call |
| --- | --- | ---: | ---: | ---: |
$per_cmd
EOF
}

wl_storm() {
  storm_once storm-default || return 1
  storm_once storm-timeout5s --redis-timeout-ms 5000 || return 1
  cat >"$tmp/section-storm.md" <<EOF
## Resume storm

Redis, three nodes (broker = redis, \`--threads 1\`, unpinned) and HAProxy round-robin in front
(health check \`GET /readyz\` every 500 ms, \`option redispatch\`; two HAProxy processes sharing
the port with SO_REUSEPORT, since one process cannot hold 20,000 descriptors here).
$(num "$storm_n" "%.0f") SSE subscribers connect straight to node 1; one HTTP publisher sends 10 msg/s to
node 2 for 25 s. After 5 s the generator sends SIGKILL to node 1: every subscriber sees its stream
end and at once reconnects through HAProxy with the \`Last-Event-ID\` it last received (a refused
reconnect is retried after 0.5 s). "Resumed" = its new stream has delivered every message sent
before it reconnected (what it missed while away); a client told of a gap never resumes. At the
end every subscriber must hold every acknowledged message exactly once. Run twice: with the default settings, then with \`redis_timeout_ms = 5000\`.

### Default settings (redis_timeout_ms = 1000)

$(cat "$tmp/storm-default.block.md")

### redis_timeout_ms = 5000

$(cat "$tmp/storm-timeout5s.block.md")
EOF
}

# --- run ---------------------------------------------------------------------------------------
ran=()
for wl in "${workloads[@]}"; do
  log "workload $wl"
  case $wl in
    publish) wl_publish ;;
    fanout-cpu) wl_fanout_cpu ;;
    latency) wl_latency ;;
    big) wl_big ;;
    storm) wl_storm ;;
    *) log "unknown workload $wl"; continue ;;
  esac || log "workload $wl failed"
  stop_nodes 2>/dev/null
  [[ -n $redis_pid ]] && stop "$redis_pid"
  [[ -f $tmp/section-$wl.md ]] && ran+=("$wl")
done

title_of() {
  case $1 in
    publish) echo "## Publish through Redis" ;;
    fanout-cpu) echo "## Server CPU per delivery" ;;
    latency) echo "## Latency over 3 nodes" ;;
    big) echo "## [0-9,]* SSE subscribers over" ;;
    storm) echo "## Resume storm" ;;
  esac
}
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "# Benchmarks: Switchboard with broker = redis (capacity on this machine)"
  echo
  echo "Written by \`tools/bench/cluster.sh\` (issue 13, \"Performance\"); rerun it rather than editing"
  echo "this file. Single-node figures against nginx + nchan are in [benchmarks.md](benchmarks.md); the"
  echo "cluster itself is described in [scaling.md](scaling.md)."
  echo
  echo "## Run"
  echo
  echo "- last run: $(date -u '+%Y-%m-%d %H:%M UTC') (sections not run then keep their own date below)"
  echo "- machine: $(nproc) cores ($cpu_model), $mem, Linux $(uname -r), shared with other developers' builds"
  echo "- command: \`$invoked\`"
  echo "- Switchboard: git \`$git_rev\`; $(redis-server --version | awk '{print $1, $2, $3}'); $(haproxy -v | head -1 | awk '{print $1, $2, $3}')"
  echo "- kernel limits, unchanged: tcp_mem $(tr '\t' ' ' </proc/sys/net/ipv4/tcp_mem) pages, fs.file-max $(cat /proc/sys/fs/file-max), RLIMIT_NOFILE 20,000 per node"
  # The findings are written by hand from these runs and from perf/strace: kept as they are.
  if [[ -f $out ]]; then
    echo
    awk '/^<!-- /{next} /^## /{keep = ($0 ~ /^## Findings/)} keep' "$out"
  fi
  for wl in "${all_workloads[@]}"; do
    echo
    if [[ -f $tmp/section-$wl.md ]]; then
      echo "<!-- $wl: $(date -u '+%Y-%m-%d %H:%M UTC') -->"
      cat "$tmp/section-$wl.md"
    elif [[ -f $out ]]; then
      awk -v t="$(title_of "$wl")" '/^<!-- /{c = $0; next} /^## /{keep = ($0 ~ "^" t)} keep {if (c != "") print c; c = ""; print}' "$out"
    fi
  done
} >"$tmp/report.md"
sed -i -e '/^$/N;/^\n$/D' "$tmp/report.md"
cp "$tmp/report.md" "$out"
log "wrote $out (${ran[*]:-nothing new})"
