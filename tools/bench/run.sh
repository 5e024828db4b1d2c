#!/usr/bin/env bash
# Runs the standard suite of switchboard-bench workloads against Switchboard and then against
# nginx + nchan on this machine, and rewrites docs/benchmarks.md (tables, SVG charts, ratios,
# machine, date).   Usage: tools/bench/run.sh BUILD_DIR
#
# BUILD_DIR holds `switchboard` and `tools/bench/switchboard-bench` (make bench uses `build`).
# Each server runs on core 0 (taskset -c 0), the generator on core 1, with a fresh server process
# for every workload. Everything is on loopback; every step is bounded in time; only the processes
# this script starts are stopped, by PID.
#
# Environment (all optional):
#   BENCH_OUT=FILE       where to write the report (default docs/benchmarks.md; charts beside it)
#   BENCH_SERVERS="switchboard nchan"   which servers to run; add pushpin to measure Pushpin too
#                        (its SSE workloads: its WebSocket side needs a WebSocket-over-HTTP origin)
#   BENCH_WORKLOADS="idle-sse ..."      which workloads to run (default: all, see below)
#   BENCH_QUICK=1        a 10x smaller, shorter smoke run (its report says so; not for publishing)
#   SB_PORT, NCHAN_PORT, PUSHPIN_PORT  first loopback port to try (39180, 39181, 39185; the
#                        next free one is used)
#   BENCH_QUIET_WAIT=S   before each workload, wait up to S seconds for other load to end (30)
#   BENCH_ATTEMPTS=N     run a workload up to N times while other load disturbs it (2)
set -uo pipefail

usage() { echo "usage: tools/bench/run.sh BUILD_DIR" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
root=$(cd "$(dirname "$0")/../.." && pwd)
invoked=""
for v in BENCH_SERVERS BENCH_WORKLOADS BENCH_QUICK BENCH_QUIET_WAIT BENCH_ATTEMPTS BENCH_OUT SB_PORT NCHAN_PORT; do
  [[ -n ${!v:-} ]] && invoked+="$v=${!v} "
done
invoked+="tools/bench/run.sh $*"
build=$1
[[ $build == /* ]] || build="$PWD/$build"
[[ -d $build ]] || { echo "run.sh: no build folder $build" >&2; exit 2; }
sb_bin="$build/switchboard"
lg_bin="$build/tools/bench/switchboard-bench"
out=${BENCH_OUT:-$root/docs/benchmarks.md}
out_dir=$(cd "$(dirname "$out")" && pwd)
servers=${BENCH_SERVERS:-switchboard nchan}
quick=${BENCH_QUICK:-0}
sb_port=${SB_PORT:-39180}
nchan_port=${NCHAN_PORT:-39181}
pushpin_port=${PUSHPIN_PORT:-39185}
pushpin_offset=300  # Pushpin's internal ports 5560..5563 move to 5860..5863 (publish API: 5861)
quiet_wait=${BENCH_QUIET_WAIT:-30}

if [[ ! -x $lg_bin ]] && [[ -f $build/build.ninja || -f $build/Makefile ]]; then
  cmake --build "$build" --target switchboard-bench >/dev/null || true
fi
[[ -x $lg_bin ]] || { echo "run.sh: $lg_bin is missing (build tools/bench)" >&2; exit 2; }

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
# Each workload: switchboard-bench arguments; the target, URLs, --pid, --label and --json are added
# per server. The label names the workload in the JSON and matches runs across servers.
if [[ $quick == 1 ]]; then
  n_idle=1000 n_fan=100 n_big=1000 n_room=10 n_rt=5 d=3 d_lat=3 d_room=3 room_runs=2
  n_cursor=200 n_cursor_rooms=10 d_ingest=2
else
  n_idle=10000 n_fan=1000 n_big=10000 n_room=50 n_rt=10 d=10 d_lat=20 d_room=20 room_runs=5
  n_cursor=2000 n_cursor_rooms=100 d_ingest=5
fi
room_runs=${BENCH_ROOM_RUNS:-$room_runs}
# `ingest` is not a switchboard-bench workload: wrk drives it (tools/bench/ingest.sh).
all_workloads=(idle-sse idle-ws idle-h2 sse-fanout-max ws-fanout-max h2-fanout-max sse-fanout-big
               sse-fanout-lat ws-fanout-lat room cursor rt-sse rt-ws ingest)
# shellcheck disable=SC2206
workloads=(${BENCH_WORKLOADS:-${all_workloads[*]}})
declare -A wl_args=(
  [idle-sse]="idle --transport sse -n $n_idle --warmup 100 --settle 3"
  [idle-ws]="idle --transport ws -n $n_idle --warmup 100 --settle 3"
  [idle-h2]="idle --transport sse-h2 --streams-per-conn 100 -n $n_idle --warmup 100 --settle 3"
  [sse-fanout-max]="fanout --transport sse -n $n_fan --rate max --duration $d --size 64"
  [ws-fanout-max]="fanout --transport ws -n $n_fan --rate max --duration $d --size 64"
  [h2-fanout-max]="fanout --transport sse-h2 --streams-per-conn 100 -n $n_fan --rate max --duration $d --size 64"
  [sse-fanout-big]="fanout --transport sse -n $n_big --rate 100 --duration $d --size 64"
  [sse-fanout-lat]="fanout --transport sse -n $n_fan --rate 10 --duration $d_lat --size 64"
  [ws-fanout-lat]="fanout --transport ws -n $n_fan --rate 10 --duration $d_lat --size 64"
  [room]="room -n $n_room --rate 30 --duration $d_room --size 64"
  [cursor]="room -n $n_cursor --rooms $n_cursor_rooms --volatile --rate 30 --duration $d_room --size 64 --drain 3"
  [rt-sse]="roundtrip --transport sse -n $n_rt --rate 100 --duration $d --size 64"
  [rt-ws]="roundtrip --transport ws -n $n_rt --rate 100 --duration $d --size 64"
)
# One Switchboard configuration for every workload: the per-connection send queue bound and the
# per-client publish rate limits are raised, so that runs measure delivery cost, not the
# slow-consumer policy or abuse protection (nchan has neither).
sb_flags="--threads 1 --dev --log-level warn --send-queue-max-bytes 16777216 --http-publish-rate 1000000 --http-publish-burst 1000000 --ws-publish-rate 100000 --ws-publish-burst 100000"

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

proc_ticks() {  # utime + stime of PID[,PID...], in clock ticks (0 when unknown)
  local sum=0 p t
  for p in ${1//,/ }; do
    if [[ -r /proc/$p/stat ]]; then
      t=$(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
      sum=$((sum + t))
    fi
  done
  echo "$sum"
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

ensure_pushpin() {
  command -v pushpin >/dev/null && command -v nginx >/dev/null && return 0
  install_packages pushpin nginx
}

ensure_nchan() {
  if command -v nginx >/dev/null && [[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ]]; then
    return 0
  fi
  install_packages libnginx-mod-nchan nginx
}

install_packages() {  # Debian packages, without letting their scripts start services
  log "installing $* (Debian packages)"
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
        --no-install-recommends "$@" >"$tmp/apt.log" 2>&1; then
      ok=1; break
    fi
    timeout 300 "${sudo_cmd[@]}" apt-get update -qq >>"$tmp/apt.log" 2>&1 || true
  done
  ((made_policy)) && "${sudo_cmd[@]}" rm -f "$policy"
  if ((!ok)); then
    log "could not install $*:"; tail -5 "$tmp/apt.log" >&2
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
    taskset -c "$server_cpu" "$sb_bin" --listen "127.0.0.1:$sb_port" $sb_flags \
      >"$tmp/switchboard-$wl.log" 2>&1 &
    server_main=$!
    live_pids[$server_main]=1
    if ! wait_port "$sb_port" "$server_main"; then
      local status=running
      kill -0 "$server_main" 2>/dev/null || { wait "$server_main"; status="exit status $?"; }
      log "switchboard did not start ($status):"; tail -5 "$tmp/switchboard-$wl.log" >&2
      stop_pid "$server_main" 2
      return 1
    fi
    server_pid=$server_main
  elif [[ $server == pushpin ]]; then
    port_free "$pushpin_port" || { log "port $pushpin_port is busy"; return 1; }
    local prefix="$tmp/pushpin-$wl" origin_port=$((pushpin_port + 100))
    "$root/tools/bench/pushpin/render.sh" "$prefix" "$pushpin_port" "$origin_port" \
      "$pushpin_offset" >/dev/null
    # The origin only answers subscribes (not measured): on the generator's core.
    taskset -c "$gen_cpu" nginx -p "$prefix" -c "$prefix/origin.conf" \
      -e "$prefix/origin-error.log" >"$tmp/pushpin-origin-$wl.log" 2>&1 &
    origin_pid=$!
    live_pids[$origin_pid]=1
    taskset -c "$server_cpu" pushpin --config "$prefix/pushpin.conf" >"$tmp/pushpin-$wl.log" 2>&1 &
    server_main=$!
    live_pids[$server_main]=1
    if ! wait_port "$pushpin_port" "$server_main" || ! wait_port "$origin_port" "$origin_pid" ||
       ! wait_port "$((5561 + pushpin_offset))" "$server_main"; then
      log "pushpin did not start:"; tail -5 "$tmp/pushpin-$wl.log" "$prefix"/log/*.log >&2
      stop_pid "$server_main" 2; stop_pid "$origin_pid" 2; origin_pid=""
      return 1
    fi
    # The runner and every process it started (condure, zurl, proxy, handler): measured together.
    local kids
    kids=$(pgrep -P "$server_main" | tr '\n' ',')
    server_pid="$server_main,${kids%,}"
  else
    port_free "$nchan_port" || { log "port $nchan_port is busy"; return 1; }
    local prefix="$tmp/nchan-$wl"
    "$root/tools/bench/nchan/render.sh" "$prefix" "$nchan_port" >/dev/null
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

origin_pid=""
stop_server() {
  [[ -n $server_main ]] || return 0
  stop_pid "$server_main" 15
  [[ -n $server_pid && $server_pid != "$server_main" && $server_pid != *,* ]] &&
    stop_pid "$server_pid" 2
  [[ -n $origin_pid ]] && stop_pid "$origin_pid" 5
  server_main="" server_pid="" origin_pid=""
}

declare -A cmdline=()
run_one() {  # server workload index: a second attempt when other work disturbed the first
  local attempt max_attempts=${BENCH_ATTEMPTS:-2}
  for ((attempt = 1; attempt <= max_attempts; attempt++)); do
    other_pct=0
    # A retry that cannot even start its server keeps the earlier attempt's figures.
    [[ -f $tmp/$1-$2.json ]] && for f in json summary; do cp "$tmp/$1-$2.$f" "$tmp/$1-$2.$f.prev"; done
    if ! run_attempt "$1" "$2" "127.$((attempt + 1)).$3.2"; then
      if [[ -f $tmp/$1-$2.json.prev ]]; then
        for f in json summary; do mv "$tmp/$1-$2.$f.prev" "$tmp/$1-$2.$f"; done
        echo "  (a second attempt was wanted, but the server did not start again)" \
          >>"$tmp/$1-$2.summary"
      fi
      return 1
    fi
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
  case $server in
    switchboard) port=$sb_port ;;
    nchan) port=$nchan_port ;;
    *) port=$pushpin_port ;;
  esac
  json="$tmp/$server-$wl.json"
  rm -f "$json"
  local busy
  busy=$(wait_quiet)
  local tries
  for ((tries = 1; tries <= 3; tries++)); do
    start_server "$server" "$wl" && break
    sleep 2
  done
  if ((tries > 3)); then
    echo "server did not start" >"$tmp/$server-$wl.summary"
    return 1
  fi
  sleep 0.5
  # shellcheck disable=SC2206
  local args=(${wl_args[$wl]} --target "$server" --base "http://127.0.0.1:$port" --src-base "$src"
              --pid "$server_pid" --label "$wl" --json "$json")
  # Pushpin's publish API answers one request per connection (Connection: close), and its proxy
  # refuses subscribes (502) when hundreds arrive at once.
  [[ $server == pushpin ]] && args+=(--pub-url "http://127.0.0.1:$((5561 + pushpin_offset))/publish/"
                                     --pipeline 1 --connect-concurrency 16)
  local shown=() a
  for a in "${args[@]}"; do
    a=${a//$tmp\//}
    [[ $a == *[?{}\ ]* ]] && a="'$a'"
    shown+=("$a")
  done
  cmdline[$server-$wl]="taskset -c $gen_cpu switchboard-bench ${shown[*]}"
  log "$server: $wl: ${wl_args[$wl]}"
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
  ((rc == 0)) || log "switchboard-bench exited with $rc"
  sleep 1
}

jget() {  # file key -> value (numbers bare, strings unquoted); empty when absent
  [[ -f $1 ]] || return 0
  sed -n "s/^ *\"$2\": *//p" "$1" | head -1 | sed 's/,$//; s/^"//; s/"$//'
}

# --- run ---------------------------------------------------------------------------------------
have_sb=0 have_nchan=0 have_pushpin=0
for s in $servers; do
  case $s in
    switchboard)
      if [[ -x $sb_bin ]]; then have_sb=1; else log "no $sb_bin: Switchboard is not measured"; fi ;;
    nchan)
      if ensure_nchan; then have_nchan=1; fi ;;
    pushpin)
      if ensure_pushpin; then have_pushpin=1; fi ;;
  esac
done

sb_port=$(pick_port "$sb_port") || { echo "run.sh: no free port" >&2; exit 1; }
nchan_port=$(pick_port "$nchan_port") || { echo "run.sh: no free port" >&2; exit 1; }
pushpin_port=$(pick_port "$pushpin_port") || { echo "run.sh: no free port" >&2; exit 1; }
log "server on core $server_cpu, generator on core $gen_cpu; results in $out"
k=1
for s in switchboard nchan pushpin; do
  [[ $s == switchboard && $have_sb == 0 ]] && continue
  [[ $s == nchan && $have_nchan == 0 ]] && continue
  [[ $s == pushpin && $have_pushpin == 0 ]] && continue
  for wl in "${workloads[@]}"; do
    # Pushpin is measured on its SSE side only (see the header).
    [[ $s == pushpin && ( $wl == *ws* || $wl == room ) ]] && continue
    # SSE over HTTP/2 (h2c with prior knowledge) is Switchboard's only: nchan and Pushpin serve
    # HTTP/1.1 on these ports, so their cells stay empty.
    [[ $s != switchboard && $wl == *h2* ]] && continue
    # Volatile (coalesced, unstored) messages are Switchboard's only.
    [[ $s != switchboard && $wl == cursor ]] && continue
    [[ $wl == ingest ]] && continue
    run_one "$s" "$wl" "$k"
    k=$((k + 1))
    # The room's tail latency varies from run to run: it runs room_runs times, each a fresh server.
    if [[ $wl == room ]]; then
      for ((r = 2; r <= room_runs; r++)); do
        wl_args[room-run$r]=${wl_args[room]}
        run_one "$s" "room-run$r" "$k"
        k=$((k + 1))
      done
    fi
  done
done

# Publish ingest: wrk against each server (a fresh one per row), in this same run.
ingest_ran=0
if [[ " ${workloads[*]} " == *" ingest "* ]] && command -v wrk >/dev/null; then
  ingest_servers=""
  [[ $have_sb == 1 ]] && ingest_servers+="switchboard "
  [[ $have_nchan == 1 ]] && ingest_servers+="nchan"
  log "publish ingest (wrk)"
  wait_quiet >/dev/null
  INGEST_SERVERS=$ingest_servers timeout 600 "$root/tools/bench/ingest.sh" "$build" "$d_ingest" \
    >"$tmp/ingest.md" 2>"$tmp/ingest.stderr" && ingest_ran=1
  cat "$tmp/ingest.md" >&2
elif [[ " ${workloads[*]} " == *" ingest "* ]]; then
  log "wrk is missing (apt-get install wrk): publish ingest is not measured"
fi

# The generator's own ceiling: a stub sender on core 0 blasting pre-encoded events.
declare -A ceiling=()
for t in sse ws; do
  [[ -n ${BENCH_WORKLOADS:-} ]] && break
  json="$tmp/source-$t.json"
  log "generator ceiling ($t)"
  timeout 120 taskset -c "$gen_cpu" "$lg_bin" source --transport "$t" -n 100 --duration "$d" \
    --sender-cpu "$server_cpu" --src-base "127.1.$((k + 1)).2" --label "source-$t" --json "$json" \
    --quiet >"$tmp/source-$t.summary" 2>"$tmp/source-$t.stderr"
  cat "$tmp/source-$t.summary" >&2
  ceiling[$t]=$(cat "$tmp/source-$t.summary")
  cmdline[source-$t]="taskset -c $gen_cpu switchboard-bench source --transport $t -n 100 --duration $d --sender-cpu $server_cpu"
  k=$((k + 1))
done

# --- report ------------------------------------------------------------------------------------
jget() {  # file key -> value (numbers bare, strings unquoted); empty when absent
  [[ -f $1 ]] || return 0
  sed -n "s/^ *\"$2\": *//p" "$1" | head -1 | sed 's/,$//; s/^"//; s/"$//'
}
results=()
for wl in "${workloads[@]}"; do
  for s in switchboard nchan pushpin; do
    [[ -f $tmp/$s-$wl.json ]] && results+=("$tmp/$s-$wl.json")
  done
done
if ((${#results[@]})); then
  "$lg_bin" report --md "$tmp/tables.md" --svg-dir "$out_dir" "${results[@]}" ||
    log "the report writer failed"
fi
# One-line summary: the headline ratios.
ratio_of() {  # workload key -> "a/b" as "N.NN×" or "–"
  local a b
  a=$(jget "$tmp/switchboard-$1.json" "$2"); b=$(jget "$tmp/nchan-$1.json" "$2")
  if [[ -z $a || -z $b ]] || awk -v a="$a" -v b="$b" 'BEGIN{exit !(a < 0 || b <= 0)}'; then
    echo "–"; return
  fi
  awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f×", a / b}'
}
fmtv() { [[ -n $1 ]] && awk -v v="$1" -v f="$2" 'BEGIN{if (v < 0) print "–"; else printf f, v}' || echo "–"; }

# Sections written by hand from other measurements (HTTP/2, the WebSocket write path, WebSocket
# compression: tools/bench/ws_deflate.mjs, durable history, the cluster pointer, what a publish
# costs in instructions and syscalls) are kept.
kept=""
if [[ -f $out ]]; then
  kept=$(awk '/^## /{keep = ($0 ~ /^## (HTTP\/2|WebSocket write path|WebSocket compression|Durable history|Cluster|What a publish costs)/)} keep' "$out")
fi

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
nginx_ver=$(nginx -v 2>&1 | sed 's/^nginx version: //' || true)
nchan_ver=$(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null || echo unknown)
sb_cpu=$(jget "$tmp/switchboard-sse-fanout-max.json" server_cpu_us_per_delivery)
nc_cpu=$(jget "$tmp/nchan-sse-fanout-max.json" server_cpu_us_per_delivery)
summary="SSE fan-out: Switchboard $(fmtv "$sb_cpu" "%.3f") µs vs nchan $(fmtv "$nc_cpu" "%.3f") µs of server CPU per delivery ($(ratio_of sse-fanout-max server_cpu_us_per_delivery)); WebSocket fan-out $(ratio_of ws-fanout-max server_cpu_us_per_delivery); idle RSS per connection SSE $(ratio_of idle-sse rss_bytes_per_conn), WebSocket $(ratio_of idle-ws rss_bytes_per_conn); generator ceiling $(fmtv "$(jget "$tmp/source-sse.json" events_per_s)" "%.0f") SSE events/s on one core."

{
  echo "# Benchmarks: Switchboard vs nginx + nchan$([[ $have_pushpin == 1 ]] && echo " and Pushpin")"
  echo
  echo "Written by \`tools/bench/run.sh\` (\`make bench\`); rerun it rather than editing this file."
  [[ $quick == 1 ]] && echo && echo "**BENCH_QUICK=1: a 10× smaller smoke run, not the standard workloads.**"
  echo
  echo "**Summary:** $summary"
  echo
  echo "## Run"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $ncpu cores ($cpu_model), $mem, Linux $(uname -r)"
  echo "- command: \`$invoked\`"
  echo "- Switchboard: git \`$git_rev\` (working tree as built in \`$(basename "$build")\`)"
  echo "- nchan: $nginx_ver with libnginx-mod-nchan $nchan_ver (Debian)"
  [[ $have_pushpin == 1 ]] && echo "- Pushpin: $(pushpin --version 2>/dev/null | head -1) (Debian)"
  echo "- each server is a fresh process per workload, pinned to core $server_cpu; the load generator"
  echo "  (\`switchboard-bench\`, one thread, epoll) is pinned to core $gen_cpu"
  echo
  echo "## Results"
  echo
  echo "Ratio = Switchboard / nginx + nchan (below 1 is better for Switchboard where lower is"
  echo "better: CPU, memory, latency). \"–\": not measured or not applicable."
  echo
  if [[ -f $tmp/tables.md ]]; then cat "$tmp/tables.md"; else echo "(no results)"; echo; fi
  if [[ -f $tmp/switchboard-room.json || -f $tmp/nchan-room.json ]]; then
    echo "## Room, $room_runs runs"
    echo
    echo "The room workload above, run $room_runs times, each against a fresh server: latency"
    echo "p50 / p99 in ms per run (the table above shows run 1)."
    echo
    printf '| server |'; for ((r = 1; r <= room_runs; r++)); do printf ' run %d |' "$r"; done; echo
    printf '| --- |'; for ((r = 1; r <= room_runs; r++)); do printf ' ---: |'; done; echo
    for s in switchboard nchan; do
      [[ -f $tmp/$s-room.json ]] || continue
      printf '| %s |' "$([[ $s == switchboard ]] && echo Switchboard || echo "nginx + nchan")"
      for ((r = 1; r <= room_runs; r++)); do
        f=$tmp/$s-room$([[ $r == 1 ]] || echo "-run$r").json
        printf ' %s / %s |' "$(fmtv "$(jget "$f" latency_ms_p50)" "%.2f")" \
          "$(fmtv "$(jget "$f" latency_ms_p99)" "%.2f")"
      done
      echo
    done
    echo
  fi
  if ((ingest_ran)); then
    echo "## Publish ingest"
    echo
    echo "\`tools/bench/ingest.sh $(basename "$build") $d_ingest\`: wrk (one thread, core $gen_cpu) sends"
    echo "keep-alive POSTs of a 5-byte body to one topic with no subscribers; each server is a fresh"
    echo "process with one loop (nginx: one worker) on core $server_cpu; server CPU per message from"
    echo "/proc/PID/stat over the run. nchan has no batch publish. Reference (issue 15's harness):"
    echo "uWebSockets' minimal pub/sub server took 94,000 single publishes/s at p50 0.025 ms."
    echo
    cat "$tmp/ingest.md"
    echo
  fi
  echo "## The generator's own ceiling"
  echo
  echo "A stub sender process (\`switchboard-bench source\`, pinned to core $server_cpu) blasts"
  echo "pre-encoded 64-byte events over 100 loopback connections; the generator on core $gen_cpu"
  echo "parses them exactly as in the runs above (event-stream or WebSocket frames and switchboard.v1"
  echo "JSON, payload numbers, histogram)."
  echo
  for t in sse ws; do
    [[ -n ${ceiling[$t]:-} ]] || continue
    echo "- \`${cmdline[source-$t]}\`"
    echo
    echo '  ```'
    sed 's/^/  /' "$tmp/source-$t.summary"
    echo '  ```'
  done
  [[ -n ${ceiling[sse]:-} ]] || echo "(not run: BENCH_WORKLOADS was set)"
  echo
  echo "## How to run"
  echo
  echo "\`make bench\` (builds \`build/\`, then runs \`tools/bench/run.sh build\`), or"
  echo "\`tools/bench/run.sh BUILD_DIR\`. It installs nginx and libnginx-mod-nchan with apt-get when"
  echo "missing, takes about 10 minutes, needs nothing else on the machine running (before each"
  echo "workload it waits up to \`BENCH_QUIET_WAIT\` = 30 s for other load to settle; a disturbed"
  echo "workload runs again, up to \`BENCH_ATTEMPTS\` = 2 times), and rewrites this file and the"
  echo "charts beside it. \`BENCH_SERVERS=switchboard\` or \`=nchan\` runs one side;"
  echo "\`BENCH_WORKLOADS='room rt-sse'\` a subset; \`BENCH_OUT=FILE\` writes elsewhere;"
  echo "\`BENCH_QUICK=1\` is a 10× smaller smoke run. For your own workload, run"
  echo "\`switchboard-bench --help\` (\`BUILD_DIR/tools/bench/switchboard-bench\`) against any server:"
  echo "\`--target switchboard|nchan|pushpin --base http://HOST:PORT\`, or URL templates"
  echo "(\`--sse-url\`, \`--pub-url\`, \`--ws-url\`, \`--pub-body\`)."
  echo
  echo "## Setup"
  echo
  echo "- Switchboard: \`switchboard --listen 127.0.0.1:$sb_port $sb_flags\`. Dev mode only allows"
  echo "  anonymous access; history is the default (in memory, 1,000 messages, 4 MiB, 1 h)."
  echo "- nchan: nginx with \`worker_processes 1\` (the worker is measured), config"
  echo "  [tools/bench/nchan/nginx.conf.in](../tools/bench/nchan/nginx.conf.in): in-memory store,"
  echo "  \`nchan_message_buffer_length 1000\`, \`nchan_message_timeout 3600s\`,"
  echo "  \`nchan_subscriber_first_message newest\`; EventSource subscribers on \`/v1/events\`,"
  echo "  WebSocket clients on a \`nchan_pubsub websocket\` location (raw frames), same topics."
  echo "- SSE subscribers: HTTP/1.1 \`GET /v1/events?topic=T\`; the 200 head is checked, the stream"
  echo "  parsed by the WHATWG event-stream rules. WebSocket: RFC 6455 handshake checked; on"
  echo "  Switchboard \`switchboard.v1\` with \`{\"op\":\"subscribe\"}\` acked before a client counts."
  echo "  Publisher: keep-alive HTTP/1.1 \`POST /v1/topics/T\` (both servers), or \`{\"op\":\"publish\"}\`"
  echo "  frames (room, WebSocket round trip). Each message's data (64 B) starts with the"
  echo "  CLOCK_MONOTONIC send time in ns and a message number: latency is send → parsed at the"
  echo "  receiver, on one clock; the numbers let \`--verify\` prove exactly-once delivery."
  echo "- Fixed-rate runs send on a schedule (pipelined when answers lag). \`--rate max\` is"
  echo "  closed-loop: 4 publisher connections, up to 32 requests in flight each, and no new publish"
  echo "  while more than 64 messages per subscriber are published but not yet received; so it"
  echo "  measures the delivery rate the server sustains, and its latency is queueing by"
  echo "  construction (not charted)."
  echo "- Room: every client publishes on a staggered fixed schedule and receives everyone's"
  echo "  messages, its own too. Round trip: each client has its own topic and sends its next"
  echo "  message 10 ms after the previous one (or when it came back, if later): over SSE it POSTs"
  echo "  and hears it on its event stream (two connections), over WebSocket one connection does both."
  echo "- Cursor rooms (Switchboard only: nchan has no volatile messages): $n_cursor WebSocket clients in"
  echo "  $n_cursor_rooms rooms, each sending \`\"volatile\": true\` moves at 30 Hz (the cursor shape: not"
  echo "  stored, paced per sender at \`volatile_hz\` = 30, not echoed); expected deliveries are every"
  echo "  move to the other clients of its room, so moves coalesced away count as not delivered."
  echo "- RSS per connection: 100 warm-up connections are opened first (they pay for what the server"
  echo "  sets up once: code paged in, allocator pools), then (VmRSS after the other connections are"
  echo "  open and 3 s of settling − VmRSS before them) / their number: what one more connection"
  echo "  costs. The cold-start row divides the whole growth from a fresh process by all connections."
  echo "- CPU per delivery: server utime+stime (/proc/PID/stat, 10 ms ticks)"
  echo "  from the first publish until every delivery arrived, divided by deliveries received."
  echo "- On loopback the kernel's TCP receive work for each delivery runs in the sending process,"
  echo "  so server CPU includes the subscribers' receive path (and the generator's includes the"
  echo "  servers' ACK processing); with a network card part of it would land elsewhere. Both"
  echo "  servers are measured the same way."
  echo "- This machine may be shared: every run lists the CPU used by the server, the generator,"
  echo "  ksoftirqd and everything else; a run where everything else took over 25 % of a core is"
  echo "  run once more, and says so if the second attempt was disturbed too."
  if [[ $have_pushpin == 1 ]]; then
    echo "- Pushpin: $(pushpin --version 2>/dev/null | head -1) (Debian), the runner and every process it"
    echo "  starts (condure, zurl, pushpin-proxy, pushpin-handler) pinned to core $server_cpu and measured"
    echo "  together; subscribers go through the proxy to a GRIP origin (a plain nginx answering"
    echo "  \`Grip-Hold: stream\`, [tools/bench/pushpin/](../tools/bench/pushpin/)); publishes are"
    echo "  POSTs of JSON items to its publish API, which closes the connection after each answer, so"
    echo "  the generator publishes one request per connection and opens subscribers 16 at a time."
    echo "  SSE only: its WebSocket side needs a WebSocket-over-HTTP origin, not set up here."
  fi
  echo "- SSE over HTTP/2 (Switchboard only: nchan and Pushpin do not serve h2c): the generator"
  echo "  speaks cleartext HTTP/2 with prior knowledge (libnghttp2's client session), each TCP"
  echo "  connection carrying 100 concurrent \`GET /v1/events?topic=T\` streams (\`--streams-per-conn\`),"
  echo "  1 MiB window per stream and 1 GiB per connection, so its flow control never holds the server"
  echo "  back. Each stream is one subscriber: its \`:status\` 200 and \`text/event-stream\` checked,"
  echo "  its DATA parsed, counted and verified on its own; idle RSS is per stream."
  echo
  echo "## Each run"
  echo
  for s in switchboard nchan pushpin; do
    for wl in "${workloads[@]}" $(for ((r = 2; r <= room_runs; r++)); do echo "room-run$r"; done); do
      [[ -f $tmp/$s-$wl.summary ]] || continue
      echo "- \`${cmdline[$s-$wl]:-}\`"
      echo
      echo '  ```'
      sed 's/^/  /' "$tmp/$s-$wl.summary"
      echo '  ```'
    done
  done
  if [[ -n $kept ]]; then
    echo
    echo "$kept"
  fi
} >"$out"
log "wrote $out"
echo "$summary"
