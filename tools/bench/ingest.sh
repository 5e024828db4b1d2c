#!/usr/bin/env bash
# Publish ingest, Switchboard beside nginx + nchan in the same run: wrk keep-alive POSTs of a 5-byte
# body to one topic with no subscribers, the server on core 0 (one loop), wrk on core 1, a fresh
# server per row. Rows: one request at a time per connection (4 and 64 connections), pipelined
# (16 requests in flight per connection), and batches of 100 messages (`POST /v1/publish`, which
# nchan has no counterpart of). Prints a Markdown table; `make bench` (run.sh) includes it.
#   Usage: tools/bench/ingest.sh BUILD_DIR [SECONDS]      (needs wrk and libnginx-mod-nchan)
#   INGEST_SERVERS="switchboard nchan" (default both)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
sb="${1:?usage: tools/bench/ingest.sh BUILD_DIR [SECONDS]}/switchboard"
seconds=${2:-5}
servers=${INGEST_SERVERS:-switchboard nchan}
sb_port=39995 nchan_port=39996
command -v wrk >/dev/null || { echo "ingest.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/switchboard-ingest.XXXXXX)
pid="" measured=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# One request per call, or `depth` identical requests written back to back (wrk counts each answer).
write_script() {  # file path body depth
  local body=$3
  body=${body//\\/\\\\}
  body=${body//\"/\\\"}
  cat >"$1" <<EOF
local depth = $4
wrk.method = "POST"
wrk.path = "$2"
wrk.body = "$body"
wrk.headers["Content-Type"] = "$([[ $body == "{"* ]] && echo application/json || echo text/plain)"
local all
-- Built in init, per thread, once wrk has set the Host header.
init = function(args) all = string.rep(wrk.format(), depth) end
request = function() return all end
EOF
}
batch_body=$(printf '{"messages":['; for i in $(seq 1 100); do
  printf '%s{"topic":"t","data":"hello"}' "$([[ $i == 1 ]] || echo ,)"; done; printf ']}')
write_script "$tmp/single.lua" /v1/topics/t hello 1
write_script "$tmp/pipelined.lua" /v1/topics/t hello 16
write_script "$tmp/batch.lua" /v1/publish "$batch_body" 1

ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

row() {  # server-label shape connections script messages-per-request
  local out t0 t1 rps hz
  hz=$(getconf CLK_TCK)
  t0=$(ticks "$measured")
  out=$(taskset -c 1 wrk -t1 -c"$3" -d"$seconds" -s "$4" --latency "http://127.0.0.1:$port/" 2>&1)
  t1=$(ticks "$measured")
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  local non2xx
  non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out")
  local name=$1
  [[ $name == switchboard ]] && name=Switchboard
  [[ $name == nchan ]] && name="nginx + nchan"
  awk -v name="$name" -v shape="$2" -v c="$3" -v rps="${rps:-0}" -v per="$5" -v secs="$seconds" \
      -v cpu="$(((t1 - t0)))" -v hz="$hz" -v p50="$(awk '$1 == "50%" {print $2}' <<<"$out")" \
      -v bad="${non2xx:-0}" 'BEGIN {
    msgs = rps * per
    us = msgs > 0 ? 1e6 * cpu / hz / (msgs * secs) : 0
    printf "| %s | %s | %d | %.0f | %.0f | %s | %.2f |%s\n", name, shape, c, rps, msgs, p50, us,
           (bad > 0 ? " " bad " non-2xx answers" : "")
  }'
}

start() {  # server
  if [[ $1 == switchboard ]]; then
    port=$sb_port
    taskset -c 0 "$sb" --threads 1 --dev --log-level warn --access-log-level off \
      --listen "127.0.0.1:$sb_port" --http-publish-rate 10000000 --http-publish-burst 10000000 \
      >"$tmp/sb.log" 2>&1 &
    pid=$! measured=$pid
  else
    port=$nchan_port
    "$root/tools/bench/nchan/render.sh" "$tmp/nchan" "$nchan_port" >/dev/null
    taskset -c 0 nginx -p "$tmp/nchan" -c "$tmp/nchan/nginx.conf" -e "$tmp/nchan/error.log" \
      >/dev/null 2>&1 &
    pid=$!
    sleep 0.5
    measured=$(pgrep -P "$pid" | head -1)
  fi
  sleep 0.7
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; }

echo "| server | requests | connections | requests/s | messages/s | p50 | server CPU per message, µs |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for shape in "single 4" "single 64" "pipelined 4" "batch 4"; do
  set -- $shape
  for s in $servers; do
    [[ $s == nchan && $1 == batch ]] && continue  # nchan has no batch publish
    [[ $s == switchboard && ! -x $sb ]] && continue
    start "$s"
    case $1 in
      single) row "$s" "one at a time" "$2" "$tmp/single.lua" 1 ;;
      pipelined)
        # nchan is given the same pipelined path; its location answers one request at a time.
        row "$s" "16 pipelined" "$2" "$tmp/pipelined.lua" 1 ;;
      batch) row "$s" "batches of 100" "$2" "$tmp/batch.lua" 100 ;;
    esac
    stop
  done
done
