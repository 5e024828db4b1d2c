#!/usr/bin/env bash
# A three-node Switchboard cluster on loopback: one redis-server, three nodes with broker = redis,
# and HAProxy round-robin in front (no stickiness; SSE streams through unbuffered). Prints the
# balancer's URL; Ctrl-C stops everything this script started (by PID, nothing else).
#
#   scripts/cluster.sh [build-dir]      (make cluster)
# Ports: CLUSTER_PORT (balancer, default 8080; the nodes take the next three), REDIS_PORT (6390).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build/switchboard"
lb_port=${CLUSTER_PORT:-8080}
redis_port=${REDIS_PORT:-6390}
node_ports=($((lb_port + 1)) $((lb_port + 2)) $((lb_port + 3)))
for tool in redis-server haproxy; do
  command -v "$tool" >/dev/null || { echo "cluster: $tool is missing (scripts/install-deps.sh --test installs it)" >&2; exit 1; }
done
[[ -x "$bin" ]] || { echo "cluster: $bin is missing (make build)" >&2; exit 1; }

work=$(mktemp -d /tmp/switchboard-cluster.XXXXXX)
pids=()
stopping=0
stop() {
  stopping=1
  trap - INT TERM EXIT
  echo
  echo "stopping the cluster"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop INT TERM EXIT

# Redis with appendonly + fsync always: a Redis restart loses nothing, so epochs continue.
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --save '' \
  --appendonly yes --appendfsync always --daemonize no --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

for i in 0 1 2; do
  "$bin" --dev --listen "127.0.0.1:${node_ports[$i]}" --broker redis \
    --redis-url "redis://127.0.0.1:$redis_port/0" --node-id "n$((i + 1))" \
    >"$work/node$((i + 1)).log" 2>&1 &
  pids+=($!)
done

cat >"$work/haproxy.cfg" <<CFG
global
  maxconn 4000
defaults
  mode http
  timeout connect 1s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  retries 2
  option redispatch
frontend web
  bind 127.0.0.1:$lb_port
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /readyz
  server n1 127.0.0.1:${node_ports[0]} check inter 500ms fall 2 rise 1
  server n2 127.0.0.1:${node_ports[1]} check inter 500ms fall 2 rise 1
  server n3 127.0.0.1:${node_ports[2]} check inter 500ms fall 2 rise 1
CFG
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)

sleep 1
echo "Switchboard cluster: http://127.0.0.1:$lb_port/  (nodes ${node_ports[*]}, redis $redis_port, logs in $work)"
echo "Ctrl-C stops it."
wait -n "${pids[@]}" || true
if [[ $stopping == 0 ]]; then
  echo "a process of the cluster exited; its log is in $work"
fi
