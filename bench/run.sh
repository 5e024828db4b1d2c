#!/usr/bin/env bash
# Runs the standard SSE workloads against Switchboard and then against nginx + nchan on this
# machine, and writes docs/benchmarks.md.   Usage: bench/run.sh BUILD_DIR
#
# BUILD_DIR holds `switchboard` and `bench/switchboard-loadgen` (make bench uses `build`).
# Each server runs on core 0 (taskset -c 0), the load generator on core 1, with a fresh server
# process for every workload. Everything is on loopback; every step is bounded in time; only the
# processes this script starts are stopped, by PID.
#
# Environment (all optional):
#   BENCH_OUT=FILE       where to write the report (default docs/benchmarks.md)
#   BENCH_SERVERS="switchboard nchan"   which servers to run
#   BENCH_QUICK=1        a 10x smaller, shorter smoke run (its report says so; not for publishing)
#   SB_PORT, NCHAN_PORT  first loopback port to try (default 39180, 39181; the next free one is used)
#   BENCH_QUIET_WAIT=S   before each workload, wait up to S seconds for other load to end (30)
#   BENCH_ATTEMPTS=N     run a workload up to N times while other load disturbs it (2)
set -uo pipefail

usage() { echo "usage: bench/run.sh BUILD_DIR" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
root=$(cd "$(dirname "$0")/.." && pwd)
invoked=""
for v in BENCH_SERVERS BENCH_QUICK BENCH_QUIET_WAIT BENCH_ATTEMPTS BENCH_OUT SB_PORT NCHAN_PORT; do
  [[ -n ${!v:-} ]] && invoked+="$v=${!v} "
done
invoked+="bench/run.sh $*"
build=$1
[[ $build == /* ]] || build="$PWD/$build"
[[ -d $build ]] || { echo "run.sh: no build folder $build" >&2; exit 2; }
sb_bin="$build/switchboard"
lg_bin="$build/bench/switchboard-loadgen"
out=${BENCH_OUT:-$root/docs/benchmarks.md}
servers=${BENCH_SERVERS:-switchboard nchan}
quick=${BENCH_QUICK:-0}
sb_port=${SB_PORT:-39180}
nchan_port=${NCHAN_PORT:-39181}
quiet_wait=${BENCH_QUIET_WAIT:-30}

if [[ ! -x $lg_bin ]] && [[ -f $build/build.ninja || -f $build/Makefile ]]; then
  cmake --build "$build" --target switchboard-loadgen >/dev/null || true
fi
[[ -x $lg_bin ]] || { echo "run.sh: $lg_bin is missing (build the bench/ targets)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/switchboard-bench.XXXXXX)
declare -A live_pids=()  # processes this script started and has not yet seen end
cleanup() {
  local pid
  for pid in "${!live_pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Cores: server on 0, generator on 1 (both on 0 on a one-core machine).
ncpu=$(nproc)
server_cpu=0
gen_cpu=$((ncpu > 1 ? 1 : 0))

# --- workloads ---------------------------------------------------------------------------------
# Each workload: the load generator arguments (the URLs, --pid and --json are added per server).
if [[ $quick == 1 ]]; then
  n_idle=1000 n_max=100 n_big=1000 n_lat=100 d_max=3 d_big=3 d_lat=3
else
  n_idle=10000 n_max=1000 n_big=10000 n_lat=1000 d_max=10 d_big=10 d_lat=20
fi
workloads=(idle max big lat)
declare -A wl_args=(
  [idle]="idle -n $n_idle --settle 3"
  [max]="fanout -n $n_max --rate max --duration $d_max --size 64"
  [big]="fanout -n $n_big --rate 100 --duration $d_big --size 64"
  [lat]="fanout -n $n_lat --rate 10 --duration $d_lat --size 64"
)
declare -A wl_title=(
  [idle]="(a) idle: $n_idle SSE connections"
  [max]="(b) fan-out: $n_max subscribers, max publish rate"
  [big]="(c) fan-out: $n_big subscribers, 100 msg/s for $d_big s"
  [lat]="(d) fan-out: $n_lat subscribers, 10 msg/s for $d_lat s"
)
# Extra Switchboard flags per workload: at max rate the per-connection send queue bound and the
# per-client HTTP publish rate limit are raised, so that the run measures delivery cost, not the
# slow-consumer policy or abuse protection (nchan has neither).
declare -A sb_extra=(
  [idle]="" [big]="" [lat]=""
  [max]="--send-queue-max-bytes 16777216 --http-publish-rate 1000000 --http-publish-burst 1000000"
)

# --- helpers -----------------------------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port_free() { ! port_open "$1"; }

pick_port() {  # first port from $1 on (in steps of 2) that nothing listens on
  local p=$1 i
  for ((i = 0; i < 50; i++)); do
    port_free "$p" && { echo "$p"; return 0; }
    p=$((p + 2))
  done
  return 1
}

cpu_busy_pct() {  # share of all cores busy over the next second, from /proc/stat
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  awk -v u="$((b[1] + b[2] + b[3] + b[6] + b[7] - a[1] - a[2] - a[3] - a[6] - a[7]))" \
      -v i="$((b[4] + b[5] - a[4] - a[5]))" 'BEGIN{t = u + i; printf "%.0f", t ? 100 * u / t : 0}'
}

machine_busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

proc_ticks() {  # utime + stime of a PID, in clock ticks (0 when unknown)
  if [[ -n ${1:-} && -r /proc/$1/stat ]]; then
    sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
  else
    echo 0
  fi
}

wait_quiet() {  # other work on a shared machine skews figures: wait a while for it to calm
  local busy i
  for ((i = 0; i < quiet_wait / 2; i++)); do
    busy=$(cpu_busy_pct)
    ((busy <= 15)) && break
    sleep 1
  done
  echo "$busy"
}

wait_port() {  # port pid -> 0 when listening within 10 s while pid lives
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$2" 2>/dev/null || return 1
    port_open "$1" && return 0
    sleep 0.1
  done
  return 1
}

stop_pid() {  # pid [grace seconds]: TERM, wait, then KILL; only PIDs this script started
  local pid=$1 grace=${2:-15} i
  if ! kill -TERM "$pid" 2>/dev/null; then
    unset "live_pids[$pid]"
    return 0
  fi
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "live_pids[$pid]"
}

ensure_nchan() {
  if command -v nginx >/dev/null && [[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ]]; then
    return 0
  fi
  log "installing nginx and libnginx-mod-nchan (Debian packages)"
  local sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo -n)
  # Keep the package's scripts from starting an nginx service: this script runs its own.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null &&
      "${sudo_cmd[@]}" chmod +x "$policy" && made_policy=1
  fi
  local ok=0
  for attempt in 1 2; do
    if DEBIAN_FRONTEND=noninteractive timeout 600 "${sudo_cmd[@]}" apt-get install -y -qq \
        --no-install-recommends libnginx-mod-nchan nginx >"$tmp/apt.log" 2>&1; then
      ok=1; break
    fi
    timeout 300 "${sudo_cmd[@]}" apt-get update -qq >>"$tmp/apt.log" 2>&1 || true
  done
  ((made_policy)) && "${sudo_cmd[@]}" rm -f "$policy"
  if ((!ok)); then
    log "could not install nchan:"; tail -5 "$tmp/apt.log" >&2
    return 1
  fi
}

server_pid=""    # the process to measure
server_main=""   # the process this script started
start_server() {  # server workload
  local server=$1 wl=$2
  server_pid="" server_main=""
  if [[ $server == switchboard ]]; then
    port_free "$sb_port" || { log "port $sb_port is busy"; return 1; }
    # shellcheck disable=SC2086
    taskset -c "$server_cpu" "$sb_bin" --listen "127.0.0.1:$sb_port" --threads 1 --dev \
      --log-level warn ${sb_extra[$wl]} >"$tmp/switchboard-$wl.log" 2>&1 &
    server_main=$!
    live_pids[$server_main]=1
    if ! wait_port "$sb_port" "$server_main"; then
      log "switchboard did not start:"; tail -5 "$tmp/switchboard-$wl.log" >&2
      stop_pid "$server_main" 2
      return 1
    fi
    server_pid=$server_main
  else
    port_free "$nchan_port" || { log "port $nchan_port is busy"; return 1; }
    local prefix="$tmp/nchan-$wl"
    "$root/bench/nchan/render.sh" "$prefix" "$nchan_port" >/dev/null
    taskset -c "$server_cpu" nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" \
      >"$tmp/nchan-$wl.log" 2>&1 &
    server_main=$!
    live_pids[$server_main]=1
    if ! wait_port "$nchan_port" "$server_main"; then
      log "nginx did not start:"; tail -5 "$prefix/error.log" "$tmp/nchan-$wl.log" >&2
      stop_pid "$server_main" 2
      return 1
    fi
    server_pid=$(pgrep -P "$server_main" | head -1)
    [[ -n $server_pid ]] || { log "no nginx worker"; stop_pid "$server_main" 2; return 1; }
    live_pids[$server_pid]=1
  fi
}

stop_server() {
  [[ -n $server_main ]] || return 0
  stop_pid "$server_main" 15
  [[ -n $server_pid && $server_pid != "$server_main" ]] && stop_pid "$server_pid" 2
  server_main="" server_pid=""
}

declare -A cmdline=()
run_one() {  # server workload index: a second attempt when other work disturbed the first
  local attempt max_attempts=${BENCH_ATTEMPTS:-2}
  for ((attempt = 1; attempt <= max_attempts; attempt++)); do
    other_pct=0
    run_attempt "$1" "$2" "127.$((attempt - 1)).$3.2" || return 1
    ((other_pct <= 25)) && return 0
    if ((attempt < max_attempts)); then
      log "other processes used $other_pct % of a core during $1 $2: running it again"
    else
      echo "  (other processes disturbed this run: $other_pct % of a core; attempt $attempt)" \
        >>"$tmp/$1-$2.summary"
    fi
  done
}

other_pct=0
run_attempt() {  # server workload src-base
  local server=$1 wl=$2 src=$3 port json
  port=$([[ $server == switchboard ]] && echo "$sb_port" || echo "$nchan_port")
  json="$tmp/$server-$wl.json"
  rm -f "$json"
  local busy
  busy=$(wait_quiet)
  if ! start_server "$server" "$wl"; then
    echo "server did not start" >"$tmp/$server-$wl.summary"
    return 1
  fi
  sleep 0.5
  local url="http://127.0.0.1:$port"
  # shellcheck disable=SC2206
  local args=(${wl_args[$wl]} --sub-url "$url/v1/events?topic={topic}"
              --pub-url "$url/v1/topics/{topic}" --src-base "$src"
              --pid "$server_pid" --label "$server" --json "$json")
  [[ $wl == idle ]] && args=(${wl_args[$wl]} --sub-url "$url/v1/events?topic={topic}"
                             --src-base "$src" --pid "$server_pid" --label "$server"
                             --json "$json")
  local shown=() a
  for a in "${args[@]}"; do
    a=${a//$tmp\//}
    [[ $a == *[?{}\ ]* ]] && a="'$a'"
    shown+=("$a")
  done
  cmdline[$server-$wl]="taskset -c $gen_cpu switchboard-loadgen ${shown[*]}"
  log "$server: ${wl_title[$wl]}"
  # Account for the CPU of the whole machine during the run, so that interference shows.
  local t0 b0 s0 k0 t1 b1 s1 k1 rc lg_cpu ksoft
  ksoft=$(pgrep -x "ksoftirqd/$server_cpu" | head -1)
  t0=$(date +%s%N) b0=$(machine_busy_ticks) s0=$(proc_ticks "$server_pid") k0=$(proc_ticks "$ksoft")
  local TIMEFORMAT='%3U %3S'
  { time timeout --signal=TERM --kill-after=5 240 taskset -c "$gen_cpu" "$lg_bin" "${args[@]}" \
      >"$tmp/$server-$wl.summary" 2>"$tmp/$server-$wl.stderr"; } 2>"$tmp/$server-$wl.time"
  rc=$?
  t1=$(date +%s%N) b1=$(machine_busy_ticks) s1=$(proc_ticks "$server_pid") k1=$(proc_ticks "$ksoft")
  lg_cpu=$(awk '{print $1 + $2}' "$tmp/$server-$wl.time" 2>/dev/null)
  awk -v wall="$(((t1 - t0) / 1000))" -v hz="$(getconf CLK_TCK)" -v busy="$((b1 - b0))" \
      -v srv="$((s1 - s0))" -v ks="$((k1 - k0))" -v lg="${lg_cpu:-0}" -v before="$busy" \
      -v summary="$tmp/$server-$wl.summary" '
    BEGIN {
      w = wall / 1e6; if (w <= 0) w = 1
      other = busy / hz - srv / hz - ks / hz - lg; if (other < 0) other = 0
      printf "  (CPU over the %.0f s run, %% of one core: server %.0f, load generator %.0f, " \
             "ksoftirqd %.0f, everything else %.0f; machine %s %% busy just before)\n",
             w, 100 * srv / hz / w, 100 * lg / w, 100 * ks / hz / w, 100 * other / w, before \
             >> summary
      printf "%.0f\n", 100 * other / w
    }' >"$tmp/other"
  other_pct=$(cat "$tmp/other")
  cat "$tmp/$server-$wl.summary" >&2
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "  the server process exited during the run" >>"$tmp/$server-$wl.summary"
    log "$server exited during $wl"; tail -5 "$tmp/$server-$wl.stderr" >&2
  fi
  stop_server
  ((rc == 0)) || log "loadgen exited with $rc"
  sleep 1
}

jget() {  # file key -> value (numbers bare, strings unquoted); empty when absent
  [[ -f $1 ]] || return 0
  sed -n "s/^ *\"$2\": *//p" "$1" | head -1 | sed 's/,$//; s/^"//; s/"$//'
}

# --- run ---------------------------------------------------------------------------------------
have_sb=0 have_nchan=0
for s in $servers; do
  case $s in
    switchboard)
      if [[ -x $sb_bin ]]; then have_sb=1; else log "no $sb_bin: Switchboard is not measured"; fi ;;
    nchan)
      if ensure_nchan; then have_nchan=1; fi ;;
  esac
done

sb_port=$(pick_port "$sb_port") || { echo "run.sh: no free port" >&2; exit 1; }
nchan_port=$(pick_port "$nchan_port") || { echo "run.sh: no free port" >&2; exit 1; }
log "server on core $server_cpu, generator on core $gen_cpu; results in $out"
k=1
for s in switchboard nchan; do
  [[ $s == switchboard && $have_sb == 0 ]] && continue
  [[ $s == nchan && $have_nchan == 0 ]] && continue
  for wl in "${workloads[@]}"; do
    run_one "$s" "$wl" "$k"
    k=$((k + 1))
  done
done

# --- report ------------------------------------------------------------------------------------
val() {  # server workload key
  jget "$tmp/$1-$2.json" "$3"
}
fmtnum() {  # value format -> formatted, or "–" when empty/negative
  local v=$1 f=$2
  if [[ -z $v ]] || awk -v v="$v" 'BEGIN{exit !(v < 0)}'; then echo "–"; return; fi
  awk -v v="$v" -v f="$f" 'BEGIN{printf f, v}'
}
ratio() {  # a b -> a/b
  if [[ -z $1 || -z $2 ]] || awk -v a="$1" -v b="$2" 'BEGIN{exit !(a < 0 || b <= 0)}'; then
    echo "–"; return
  fi
  awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f×", a / b}'
}
meets() {  # value op limit -> met / not met / –
  if [[ -z $1 ]] || awk -v v="$1" 'BEGIN{exit !(v < 0)}'; then echo "not measured"; return; fi
  if awk -v v="$1" -v l="$3" "BEGIN{exit !(v $2 l)}"; then echo "**met**"; else echo "not met"; fi
}
# Share of all the deliveries the workload plans (messages x subscribers), whatever was published.
full_fraction() {  # server workload rate duration n
  local r
  r=$(val "$1" "$2" received_deliveries)
  [[ -n $r ]] || return 0
  awk -v r="$r" -v rate="$3" -v d="$4" -v n="$5" 'BEGIN{printf "%.6f", r / (rate * d * n)}'
}

rows=()
row() {  # workload metric sb nchan ratio target met
  rows+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 |")
}
metric_row() {  # workload-key title key format unit target-op target-limit target-text
  local wl=$1 title=$2 key=$3 f=$4 op=${5:-} lim=${6:-} ttext=${7:-}
  local a b
  a=$(val switchboard "$wl" "$key"); b=$(val nchan "$wl" "$key")
  local met="–"
  [[ -n $op ]] && met=$(meets "$a" "$op" "$lim")
  row "${wl_title[$wl]}" "$title" "$(fmtnum "$a" "$f")" "$(fmtnum "$b" "$f")" "$(ratio "$a" "$b")" \
    "${ttext:-–}" "$met"
}

metric_row idle "server RSS per connection, B (lower is better)" rss_bytes_per_conn "%.0f" \
  "<=" 1024 "≤ 1,024 B"
metric_row max "server CPU per delivery, µs (lower is better)" server_cpu_us_per_delivery "%.3f" \
  "<=" 2 "≤ 2 µs"
metric_row max "deliveries per second (higher is better)" deliveries_per_s "%.0f"
metric_row max "messages published per second" published_per_s "%.0f"
metric_row max "server CPU, % of its core" server_cpu_pct "%.0f"
fa=$(full_fraction switchboard big 100 "$d_big" "$n_big")
fb=$(full_fraction nchan big 100 "$d_big" "$n_big")
row "${wl_title[big]}" "delivered, % of $((100 * d_big)) msgs × $n_big subs" \
  "$(fmtnum "$(awk -v f="$fa" 'BEGIN{if (f != "") printf "%.4f", f * 100}')" "%.3f")" \
  "$(fmtnum "$(awk -v f="$fb" 'BEGIN{if (f != "") printf "%.4f", f * 100}')" "%.3f")" \
  "$(ratio "$fa" "$fb")" "all delivered" "$(meets "$fa" ">=" 1)"
metric_row big "latency p50, ms" latency_ms_p50 "%.2f"
metric_row big "latency p99, ms" latency_ms_p99 "%.2f" "<=" 100 "≤ 100 ms"
metric_row big "server CPU per delivery, µs" server_cpu_us_per_delivery "%.3f"
metric_row lat "latency p50, ms" latency_ms_p50 "%.2f" "<=" 3 "≤ 3 ms"
metric_row lat "latency p99, ms" latency_ms_p99 "%.2f" "<=" 10 "≤ 10 ms"
metric_row lat "server CPU per delivery, µs" server_cpu_us_per_delivery "%.3f"

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
nginx_ver=$(nginx -v 2>&1 | sed 's/^nginx version: //' || true)
nchan_ver=$(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null || echo unknown)
sb_state="measured"
[[ $have_sb == 1 ]] || sb_state="**not measured**: no \`$sb_bin\`"

{
  echo "# Benchmarks: Switchboard vs nginx + nchan"
  echo
  echo "Written by \`bench/run.sh\` (\`make bench\`); rerun it rather than editing this file."
  [[ $quick == 1 ]] && echo && echo "**BENCH_QUICK=1: a 10× smaller smoke run, not the standard workloads.**"
  echo
  echo "## Run"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $ncpu cores ($cpu_model), $mem, Linux $(uname -r)"
  echo "- command: \`$invoked\`"
  echo "- Switchboard: git \`$git_rev\` (working tree as built in \`$(basename "$build")\`), $sb_state"
  echo "- nchan: $nginx_ver with libnginx-mod-nchan $nchan_ver (Debian)"
  echo "- each server is a fresh process per workload, pinned to core $server_cpu; the load generator"
  echo "  (\`switchboard-loadgen\`, single-threaded epoll) is pinned to core $gen_cpu"
  echo
  echo "## Results"
  echo
  echo "Ratio = Switchboard / nchan. Targets are Switchboard's (from the design); \"met\" refers to"
  echo "the Switchboard figure."
  echo
  echo "| workload | metric | Switchboard | nginx + nchan | ratio | target (Switchboard) | met? |"
  echo "| --- | --- | ---: | ---: | ---: | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Targets met by Switchboard: $(printf '%s\n' "${rows[@]}" | grep -c '| \*\*met\*\* |$') of" \
    "$(printf '%s\n' "${rows[@]}" | grep -cE '\| (\*\*met\*\*|not met|not measured) \|$')."
  echo
  echo "## How to run"
  echo
  echo "\`make bench\` (builds \`build/\`, then runs \`bench/run.sh build\`), or \`bench/run.sh BUILD_DIR\`"
  echo "with a Release build. It installs nginx and libnginx-mod-nchan with apt-get when missing,"
  echo "takes about 4 minutes, needs nothing else on the machine running (before each workload it"
  echo "waits up to \`BENCH_QUIET_WAIT\` = 30 s for other load to settle; a disturbed workload runs"
  echo "again, up to \`BENCH_ATTEMPTS\` = 2 times), and rewrites this file."
  echo "\`BENCH_SERVERS=switchboard\` or \`=nchan\` runs one side; \`BENCH_OUT=FILE\` writes"
  echo "elsewhere; \`BENCH_QUICK=1\` is a 10× smaller smoke run. For other workloads, run"
  echo "\`switchboard-loadgen --help\` (\`BUILD_DIR/bench/switchboard-loadgen\`) against any SSE server."
  echo
  echo "## Setup"
  echo
  echo "- Switchboard: \`switchboard --listen 127.0.0.1:$sb_port --threads 1 --dev --log-level warn\`,"
  echo "  plus \`${sb_extra[max]}\` for (b). Dev mode only allows anonymous publishing; history"
  echo "  is the default (in memory, 1,000 messages, 4 MiB, 1 h)."
  echo "- nchan: nginx with \`worker_processes 1\` (the worker is measured), config"
  echo "  [bench/nchan/nginx.conf.in](../bench/nchan/nginx.conf.in): in-memory store,"
  echo "  \`nchan_message_buffer_length 1000\`, \`nchan_message_timeout 3600s\`,"
  echo "  \`nchan_subscriber_first_message newest\`, EventSource subscribers only, same paths as"
  echo "  Switchboard."
  echo "- Subscribers: HTTP/1.1 \`GET /v1/events?topic=bench\`; the 200 head is checked, the stream"
  echo "  parsed by the WHATWG event-stream rules. Publisher: keep-alive HTTP/1.1"
  echo "  \`POST /v1/topics/bench\`; each body (64 B) starts with the CLOCK_MONOTONIC publish time in"
  echo "  ns, so latency is publish → parsed at the subscriber, on the same clock."
  echo "- Rate runs send on a fixed schedule over one connection (pipelined when answers lag)."
  echo "  \`--rate max\` is closed-loop: 4 publisher connections, up to 32 requests in flight each,"
  echo "  and no new publish while more than 64 messages per subscriber are published but not yet"
  echo "  received; so it measures the delivery rate the server sustains, and its latency is queueing"
  echo "  by construction (not reported as a target)."
  echo "- RSS per connection: (VmRSS after all connections are open and 3 s of settling − VmRSS"
  echo "  before) / connections. CPU per delivery: server utime+stime (/proc/PID/stat, 10 ms ticks)"
  echo "  from the first publish until every delivery arrived, divided by deliveries received."
  echo "- On loopback the kernel's TCP receive work for each delivery runs in the sending process,"
  echo "  so server CPU includes the subscribers' receive path (and the generator's includes the"
  echo "  servers' ACK processing); with a network card part of it would land elsewhere. Both"
  echo "  servers are measured the same way."
  echo "- This machine may be shared: every run lists the CPU used by the server, the generator,"
  echo "  ksoftirqd and everything else; a run where everything else took over 25 % of a core is"
  echo "  run once more, and says so if the second attempt was disturbed too."
  echo "- Delivered: deliveries received / (messages planned × subscribers); with a late or failed"
  echo "  publish this is below 100 % even if every published message arrived."
  echo
  echo "## Each run"
  echo
  for s in switchboard nchan; do
    for wl in "${workloads[@]}"; do
      [[ -f $tmp/$s-$wl.summary ]] || continue
      echo "- \`${cmdline[$s-$wl]:-}\`"
      echo
      echo '  ```'
      sed 's/^/  /' "$tmp/$s-$wl.summary"
      echo '  ```'
    done
  done
} >"$out"
log "wrote $out"
cat "$out" | sed -n '/^## Results/,/^## Setup/p' >&2
