#!/usr/bin/env bash
# Publish ingest, Switchboard beside nginx + nchan in the same run: wrk keep-alive POSTs of a 5-byte
# body to one topic with no subscribers, the server on core 0 (one loop), wrk on core 1, a fresh
# server per row. Not yet a row of `make bench` (issue 15).
#   Usage: tools/bench/ingest.sh BUILD_DIR [SECONDS]      (needs wrk and libnginx-mod-nchan)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
sb="${1:?usage: tools/bench/ingest.sh BUILD_DIR [SECONDS]}/switchboard"
seconds=${2:-5}
sb_port=39995 nchan_port=39996
command -v wrk >/dev/null || { echo "ingest.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/switchboard-ingest.XXXXXX)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
printf 'wrk.method = "POST"\nwrk.body = "hello"\nwrk.headers["Content-Type"] = "text/plain"\n' >"$tmp/post.lua"

row() {  # name url connections
  local out
  out=$(taskset -c 1 wrk -t1 -c"$3" -d"$seconds" -s "$tmp/post.lua" --latency "$2" 2>&1)
  printf '| %s | %s | %s | %s |\n' "$1" "$3" "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
    "$(awk '$1 == "50%" {print $2}' <<<"$out")"
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; }

echo "| server | connections | requests/s | p50 |"
echo "| --- | ---: | ---: | ---: |"
for c in 4 64; do
  taskset -c 0 "$sb" --threads 1 --dev --log-level warn --access-log-level off \
    --listen "127.0.0.1:$sb_port" --http-publish-rate 10000000 --http-publish-burst 10000000 \
    >"$tmp/sb.log" 2>&1 &
  pid=$!
  sleep 0.7
  row switchboard "http://127.0.0.1:$sb_port/v1/topics/t" "$c"
  stop
  "$root/tools/bench/nchan/render.sh" "$tmp/nchan" "$nchan_port" >/dev/null
  taskset -c 0 nginx -p "$tmp/nchan" -c "$tmp/nchan/nginx.conf" -e "$tmp/nchan/error.log" \
    >/dev/null 2>&1 &
  pid=$!
  sleep 0.7
  row "nginx + nchan" "http://127.0.0.1:$nchan_port/v1/topics/t" "$c"
  stop
done
