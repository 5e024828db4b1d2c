// `make cluster` (scripts/cluster.sh) as a user runs it: it prints the balancer's URL, serves
// publishes and streams through HAProxy across its three nodes, and Ctrl-C stops every process it
// started. Once with one Redis, once with REDIS_CLUSTER=1 (three masters).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { publish } from '../support/http.mjs';
import { subscribe, waitPreamble } from '../support/sse.mjs';
import { spawnTracked, readyz } from '../support/cluster.mjs';
import { uniq, waitFor } from '../support/util.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const buildDir = path.dirname(process.env.SWITCHBOARD_BIN ?? path.join(root, 'build/switchboard'));

const listening = (port) => new Promise((resolve) => {
  const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
  s.on('error', () => resolve(false));
});

const canBind = (port) => new Promise((resolve) => {
  const srv = net.createServer();
  srv.once('error', () => resolve(false));
  srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
});

/** `n` consecutive free loopback ports, from a random base (bounded tries). */
async function freeBlock(n) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 24000 + Math.floor(Math.random() * 6000);
    const ports = Array.from({ length: n }, (_, i) => base + i);
    if ((await Promise.all(ports.map(canBind))).every(Boolean)) return base;
  }
  throw new Error(`no ${n} consecutive free ports`);
}

for (const redisCluster of [false, true]) {
  test(`scripts/cluster.sh${redisCluster ? ' with REDIS_CLUSTER=1' : ''}: serves through the balancer on every node, Ctrl-C stops everything it started`, async (t) => {
    const lbPort = await freeBlock(4);
    const redisPort = await freeBlock(3);
    const script = spawnTracked('bash', [path.join(root, 'scripts/cluster.sh'), buildDir], {
      env: { ...process.env, CLUSTER_PORT: String(lbPort), REDIS_PORT: String(redisPort), REDIS_CLUSTER: redisCluster ? '1' : '0' },
    });
    t.after(() => script.proc.kill('SIGKILL'));
    await waitFor(() => script.output.includes('Switchboard cluster: '), { timeoutMs: 30000, what: `the URL (output: ${script.output})` });
    assert.match(script.output, new RegExp(`Switchboard cluster: http://127\\.0\\.0\\.1:${lbPort}/ `));
    if (redisCluster) assert.match(script.output, /Redis Cluster 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+/);
    // The script prints the URL once the balancer answers; a node still connecting to Redis would
    // send a stream back (retry:, then the end) for its client to come again. Wait for all three.
    await waitFor(async () => (await Promise.all([1, 2, 3].map((i) => readyz(`http://127.0.0.1:${lbPort + i}`)))).every((s) => s === 200), {
      timeoutMs: 30000, what: 'all three nodes ready',
    });

    // Three streams through the round-robin balancer land on the three nodes; publishes through it
    // land on any node; every stream gets every message once, in order.
    const topic = uniq('script');
    const streams = [];
    for (let i = 0; i < 3; i++) {
      const s = await subscribe(t, lbPort, { topics: [topic] });
      await waitPreamble(s);
      streams.push(s);
    }
    const ids = [];
    for (let i = 0; i < 12; i++) {
      const r = await publish(`http://127.0.0.1:${lbPort}`, topic, `m${i}`);
      assert.equal(r.status, 201, r.text);
      ids.push(r.body.id);
    }
    for (const s of streams) {
      await s.waitEvents(12, 8000);
      assert.deepEqual(s.events.map((e) => e.id), ids);
      assert.deepEqual(s.events.map((e) => e.data), ids.map((_, i) => `m${i}`));
    }
    for (const s of streams) s.close();

    // Ctrl-C: the script stops Redis, the nodes and HAProxy, and exits.
    const ports = [lbPort, lbPort + 1, lbPort + 2, lbPort + 3, redisPort, ...(redisCluster ? [redisPort + 1, redisPort + 2] : [])];
    assert.deepEqual(await Promise.all(ports.map(listening)), ports.map(() => true), 'everything listens while it runs');
    script.proc.kill('SIGINT');
    const { code, signal } = await script.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, 'the script exits 0');
    assert.match(script.output, /stopping the cluster/);
    await waitFor(async () => (await Promise.all(ports.map(listening))).every((l) => !l), { timeoutMs: 5000, what: 'every port closed after Ctrl-C' });
  });
}
