#!/usr/bin/env bash
# Publish throughput and memory per history mode (docs/benchmarks.md, "Durable history"): single
# HTTP/1.1 publishes of 1 KiB over keep-alive connections (h2load), to one topic whose history is
# full (the default 1,000 messages), so every publish also trims one message, on disk too.
# The server runs one loop pinned to CPU 1, the load generator on CPU 0.
#   bench/history_fsync.sh [BIN] ; N=20000 C=8 to change the size
set -euo pipefail
bin=${1:-build/switchboard}
n=${N:-20000}
c=${C:-8}
port=${PORT:-18990}
body=$(mktemp)
head -c 1024 /dev/zero | tr '\0' x >"$body"
trap 'rm -f "$body"' EXIT
printf '| mode | publishes/s | failed | RSS before | RSS after | peak RSS | on disk |\n| --- | --- | --- | --- | --- | --- | --- |\n'
for mode in memory always everysec no; do
  dir=$(mktemp -d)
  args=(--dev --threads 1 --listen "127.0.0.1:$port" --http-publish-rate 10000000 --http-publish-burst 10000000)
  if [[ $mode != memory ]]; then
    args+=(--history-dir "$dir/h" --history-fsync "$mode")
  fi
  taskset -c 1 "$bin" "${args[@]}" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.05
  done
  rss0=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  out=$(taskset -c 0 h2load --h1 -n "$n" -c "$c" -d "$body" -H 'content-type: text/plain' \
    "http://127.0.0.1:$port/v1/topics/bench")
  rss1=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  rate=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
  failed=$(sed -n 's/^requests: .* \([0-9]*\) failed.*/\1/p' <<<"$out")
  twoxx=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' <<<"$out")
  kill -TERM $pid
  wait $pid || true
  disk=$(du -sk "$dir" | cut -f1)
  rm -rf "$dir"
  printf '| %s | %.0f | %s (2xx %s) | %d MiB | %d MiB | %d MiB | %d MiB |\n' "$mode" "$rate" "$failed" "$twoxx" \
    $((rss0 / 1024)) $((rss1 / 1024)) $((hwm / 1024)) $((disk / 1024))
done
