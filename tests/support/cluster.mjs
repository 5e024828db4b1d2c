// A scale-out rig for tests: a real redis-server, switchboard nodes on it, an HAProxy round-robin
// balancer in front of them and a TCP fault proxy, all on loopback, all ended by their handles.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { freePort, startServer, sleep } from './server.mjs';
import { request } from './http.mjs';

const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

export function spawnTracked(cmd, args, opts = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(proc);
  let output = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (s) => { if (output.length < 1 << 20) output += s; });
  proc.stderr.on('data', (s) => { if (output.length < 1 << 20) output += s; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { live.delete(proc); resolve({ code, signal }); }));
  return { proc, exited, get output() { return output; } };
}

export async function waitPort(port, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await sleep(25);
  }
}

/**
 * A redis-server on a free loopback port with its own directory. `persistence`: 'none' (no RDB, no
 * AOF) or 'always' (appendonly yes, appendfsync always). restart() keeps the port and directory.
 */
export async function startRedis(t, { persistence = 'none', password, unixSocket = false } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-redis-'));
  const port = await freePort();
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    socket: path.join(dir, 'redis.sock'),
    dir,
    persistence,
    child: null,
    async start() {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
        '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning'];
      if (redis.persistence === 'always') args.push('--appendonly', 'yes', '--appendfsync', 'always');
      else args.push('--appendonly', 'no');
      if (password) args.push('--requirepass', password);
      if (unixSocket) args.push('--unixsocket', redis.socket, '--unixsocketperm', '700');
      redis.child = spawnTracked('redis-server', args);
      await waitPort(port);
    },
    get pid() { return redis.child?.proc.pid; },
    async kill() {
      if (redis.child) {
        redis.child.proc.kill('SIGKILL');
        await redis.child.exited;
        redis.child = null;
      }
    },
    async restart() {
      await redis.kill();
      await redis.start();
    },
    cli(...args) {
      const auth = password ? ['--no-auth-warning', '-a', password] : [];
      return execFileSync('redis-cli', ['-p', String(port), ...auth, ...args], { encoding: 'utf8' });
    },
  };
  await redis.start();
  t.after(async () => {
    await redis.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  return redis;
}

/** A switchboard node with broker = redis at `redisUrl`. */
export function startNode(t, redisUrl, { name = 'n', args = [], port, timeoutMs = 500 } = {}) {
  return startServer(t, {
    port,
    args: ['--broker', 'redis', '--redis-url', redisUrl, '--node-id', name, '--threads', '2',
      '--redis-timeout-ms', String(timeoutMs), '--retry-ms', '100', ...args],
  });
}

/**
 * HAProxy round-robin over `nodes` (no stickiness, no response buffering: SSE streams through),
 * with health checks on /readyz so a dead or unready node leaves the rotation.
 */
export async function startBalancer(t, nodes) {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-haproxy-'));
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  writeFileSync(cfg, balancerConfig(port, nodes.map((n) => n.port)));
  const child = spawnTracked('haproxy', ['-db', '-f', cfg]);
  await waitPort(port);
  t.after(async () => {
    child.proc.kill('SIGKILL');
    await child.exited;
    rmSync(dir, { recursive: true, force: true });
  });
  return { port, url: `http://127.0.0.1:${port}`, child };
}

/** The HAProxy configuration scripts/cluster.sh and docs/scaling.md describe. */
export function balancerConfig(port, nodePorts) {
  return [
    'global',
    '  maxconn 4000',  // HAProxy wants 2 descriptors per connection; the box allows 20,000
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout tunnel 1h',
    '  retries 2',
    '  option redispatch',
    `frontend web`,
    `  bind 127.0.0.1:${port}`,
    '  default_backend nodes',
    'backend nodes',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    ...nodePorts.map((p, i) => `  server n${i + 1} 127.0.0.1:${p} check inter 200ms fall 1 rise 1`),
    '',
  ].join('\n');
}

/**
 * A TCP proxy in front of `target` whose behaviour a test switches: 'pass'; 'blackhole' (nothing
 * moves either way, as when packets are dropped: bytes wait in the kernel until the path is back,
 * or until someone gives up on the connection); 'reset' (resets every connection, old and new);
 * 'delay' (each chunk forwarded `delayMs` late).
 */
export async function startFaultProxy(t, targetPort, { delayMs = 200 } = {}) {
  const port = await freePort();
  const pairs = new Set();
  const proxy = { port, mode: 'pass', delayMs };
  const forward = (from, to) => {
    from.on('data', (chunk) => {
      if (proxy.mode === 'delay') setTimeout(() => to.destroyed || to.write(chunk), proxy.delayMs);
      else to.write(chunk);
    });
  };
  const server = net.createServer((client) => {
    if (proxy.mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    forward(client, upstream);
    forward(upstream, client);
    if (proxy.mode === 'blackhole') {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  proxy.set = (mode) => {
    proxy.mode = mode;
    for (const { client, upstream } of pairs) {
      if (mode === 'reset') {
        client.resetAndDestroy();
        upstream.destroy();
      } else if (mode === 'blackhole') {
        client.pause();
        upstream.pause();
      } else {
        client.resume();
        upstream.resume();
      }
    }
  };
  t.after(() => {
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream.destroy();
    }
    server.close();
  });
  return proxy;
}

export async function readyz(base) {
  try {
    return (await request(`${base}/readyz`, { timeoutMs: 3000 })).status;
  } catch {
    return 0;
  }
}

/**
 * What one subscriber saw of one topic: ids in arrival order and gaps, checked against what was
 * acknowledged: every acknowledged id exactly once and in order, unless a gap was announced.
 */
export class Ledger {
  constructor(name) {
    this.name = name;
    this.ids = [];
    this.gaps = 0;
    this.last = null;
  }
  saw(id) {
    this.ids.push(id);
    this.last = id;
  }
  gap() {
    this.gaps += 1;
    (this.gapsAt ??= []).push(this.ids.length);
  }
  /** Throws on a duplicate, a reordering, or (without a gap) a missing acknowledged id. */
  check(acked, { allowGap = false } = {}) {
    const seen = new Map();
    for (const id of this.ids) {
      if (seen.has(id)) throw new Error(`${this.name}: ${id} received twice`);
      seen.set(id, seen.size);
    }
    // Order: the seqs of one epoch only go up.
    let prev = null;
    for (const id of this.ids) {
      const [e, s] = id.split('-').map(Number);
      if (prev && prev[0] === e && s <= prev[1]) throw new Error(`${this.name}: ${id} after ${prev.join('-')}`);
      prev = [e, s];
    }
    const missing = acked.filter((id) => !seen.has(id));
    if (missing.length && !(allowGap && this.gaps > 0)) {
      throw new Error(`${this.name}: ${missing.length} acknowledged ids never arrived and no gap was announced (first ${missing.slice(0, 5).join(', ')}); gaps ${this.gaps}`);
    }
    if (!allowGap && this.gaps) throw new Error(`${this.name}: ${this.gaps} unexpected gap(s), after ${this.gapsAt.join(', ')} ids`);
    return missing.length;
  }
}
