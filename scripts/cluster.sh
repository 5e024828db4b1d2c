#!/usr/bin/env bash
# A three-node Switchboard cluster on loopback: one redis-server, three nodes with broker = redis,
# and HAProxy round-robin in front (no stickiness; SSE streams through unbuffered). Prints the
# balancer's URL; Ctrl-C stops everything this script started (by PID, nothing else).
#
#   scripts/cluster.sh [build-dir]                 (make cluster)
#   REDIS_CLUSTER=1 scripts/cluster.sh [build-dir]  (make cluster REDIS_CLUSTER=1): a Redis Cluster
#                                                   of three masters instead of one Redis, and the
#                                                   nodes with redis_cluster = true
# Ports: CLUSTER_PORT (balancer, default 8080; the nodes take the next three), REDIS_PORT (6390;
# a Redis Cluster takes it and the next two).
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
[[ "$build" == /* ]] || build="$root/$build"
bin="$build/switchboard"
lb_port=${CLUSTER_PORT:-8080}
redis_port=${REDIS_PORT:-6390}
node_ports=($((lb_port + 1)) $((lb_port + 2)) $((lb_port + 3)))
for tool in redis-server haproxy; do
  command -v "$tool" >/dev/null || { echo "cluster: $tool is missing (scripts/install-deps.sh --cluster installs it)" >&2; exit 1; }
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
redis_args=(--bind 127.0.0.1 --save '' --appendonly yes --appendfsync always --daemonize no
  --loglevel warning)
wait_redis() {
  for _ in $(seq 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "cluster: redis on port $1 did not start; its log is in $work" >&2
  exit 1
}
node_args=(--broker redis --redis-url "redis://127.0.0.1:$redis_port/0")
if [[ "${REDIS_CLUSTER:-0}" == 1 ]]; then
  masters=()
  for i in 0 1 2; do
    port=$((redis_port + i))
    mkdir -p "$work/redis$i"
    redis-server --port "$port" --dir "$work/redis$i" --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-node-timeout 2000 "${redis_args[@]}" \
      >"$work/redis$i.log" 2>&1 &
    pids+=($!)
    masters+=("127.0.0.1:$port")
  done
  for i in 0 1 2; do wait_redis $((redis_port + i)); done
  redis-cli --cluster create "${masters[@]}" --cluster-replicas 0 --cluster-yes \
    >"$work/cluster-create.log" 2>&1 ||
    { echo "cluster: redis-cli --cluster create failed; see $work/cluster-create.log" >&2; exit 1; }
  for _ in $(seq 100); do
    redis-cli -p "$redis_port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
    sleep 0.1
  done
  # Any master is a seed: the nodes learn the slot map from it.
  node_args=(--broker redis --redis-url "redis://127.0.0.1:$redis_port" --redis-cluster)
  redis_desc="Redis Cluster ${masters[*]}"
else
  redis-server --port "$redis_port" --dir "$work" "${redis_args[@]}" >"$work/redis.log" 2>&1 &
  pids+=($!)
  wait_redis "$redis_port"
  redis_desc="redis $redis_port"
fi

for i in 0 1 2; do
  "$bin" --dev --listen "127.0.0.1:${node_ports[$i]}" "${node_args[@]}" --node-id "n$((i + 1))" \
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

# Ready when the balancer answers /readyz (a node that reaches Redis answers 200).
for _ in $(seq 150); do
  curl -sf -o /dev/null "http://127.0.0.1:$lb_port/readyz" && break
  sleep 0.1
done
echo "Switchboard cluster: http://127.0.0.1:$lb_port/  (nodes ${node_ports[*]}, $redis_desc, logs in $work)"
echo "Ctrl-C stops it."
wait -n "${pids[@]}" || true
if [[ $stopping == 0 ]]; then
  echo "a process of the cluster exited; its log is in $work"
fi
