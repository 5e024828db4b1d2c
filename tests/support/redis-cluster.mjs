// A Redis Cluster on loopback for tests: N masters (no replicas), each a redis-server with
// cluster-enabled yes in its own temporary directory, joined with `redis-cli --cluster create`,
// ended by their handles. Also moves one slot between masters the way `redis-cli --cluster
// reshard` does (IMPORTING, MIGRATING, MIGRATE, SETSLOT NODE), so a test picks the slot.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './server.mjs';
import { spawnTracked, waitPort } from './cluster.mjs';
import { sleep, waitFor } from './util.mjs';

function cli(port, ...args) {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' }).trim();
}

/**
 * Starts `masters` cluster masters and waits for cluster_state:ok on each. Returns
 * { masters: [{ port, id, cli(...args) }], url (of the first), keyslot(key), ownerOf(slot),
 *   moveSlot(slot, toIndex) }.
 */
export async function startRedisCluster(t, { masters = 3, nodeTimeoutMs = 2000 } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-rcluster-'));
  const list = [];
  for (let i = 0; i < masters; i++) {
    const port = await freePort();
    // cluster-port: the bus gets a free port of its own rather than port + 10000.
    const bus = await freePort();
    const home = path.join(dir, `m${i}`);
    execFileSync('mkdir', ['-p', home]);
    const args = ['--port', String(port), '--bind', '127.0.0.1',
      '--cluster-enabled', 'yes', '--cluster-port', String(bus),
      '--cluster-config-file', path.join(home, 'nodes.conf'),
      '--cluster-node-timeout', String(nodeTimeoutMs), '--dir', home, '--save', '',
      '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'warning'];
    list.push({ port, bus, args, child: spawnTracked('redis-server', args), cli: (...a) => cli(port, ...a) });
  }
  t.after(async () => {
    for (const m of list) {
      if (!m.child) continue;
      m.child.proc.kill('SIGKILL');
      await m.child.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  for (const m of list) await waitPort(m.port);
  execFileSync('redis-cli', ['--cluster', 'create', ...list.map((m) => `127.0.0.1:${m.port}`),
    '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
  await waitFor(() => list.every((m) => /cluster_state:ok/.test(m.cli('CLUSTER', 'INFO'))), {
    timeoutMs: 15000,
    intervalMs: 100,
    what: 'cluster_state:ok on every master',
  });
  for (const m of list) m.id = m.cli('CLUSTER', 'MYID');
  const cluster = {
    masters: list,
    url: `redis://127.0.0.1:${list[0].port}/0`,
    keyslot: (key) => Number(list[0].cli('CLUSTER', 'KEYSLOT', key)),
    /** kill -9 of masters[i]. */
    async kill(i) {
      const m = list[i];
      m.child.proc.kill('SIGKILL');
      await m.child.exited;
      m.child = null;
    },
    /** Starts masters[i] again: same port and node id (nodes.conf), no data (no persistence). */
    async restart(i) {
      const m = list[i];
      m.child = spawnTracked('redis-server', m.args);
      await waitPort(m.port);
      await waitFor(() => list.every((x) => /cluster_state:ok/.test(x.cli('CLUSTER', 'INFO'))), {
        timeoutMs: 15000,
        intervalMs: 100,
        what: 'cluster_state:ok again',
      });
    },
    /** The index in `masters` of the master that owns `slot` (as the first master sees it). */
    ownerOf(slot) {
      const nodes = list[0].cli('CLUSTER', 'NODES').split('\n');
      for (const line of nodes) {
        const f = line.split(' ');
        if (!f[2]?.includes('master')) continue;
        for (const r of f.slice(8)) {
          if (r.startsWith('[')) continue;
          const [lo, hi = lo] = r.split('-').map(Number);
          if (slot >= lo && slot <= hi) return list.findIndex((m) => m.id === f[0]);
        }
      }
      return -1;
    },
    /**
     * Moves `slot` and its keys to masters[to], as a resharding does; `pauseMs` between the steps
     * leaves publishes time to meet the slot half-moved (TRYAGAIN, ASK).
     */
    async moveSlot(slot, to, { pauseMs = 30 } = {}) {
      const from = list[cluster.ownerOf(slot)];
      const target = list[to];
      if (from === target) throw new Error(`slot ${slot} is on master ${to} already`);
      target.cli('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id);
      from.cli('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', target.id);
      await sleep(pauseMs);
      for (let round = 0; ; round++) {
        // A few keys at a time, so a script over two keys of the slot may find them apart.
        const keys = from.cli('CLUSTER', 'GETKEYSINSLOT', String(slot), '5').split('\n').filter(Boolean);
        if (!keys.length) break;
        if (round > 10000) throw new Error(`slot ${slot} never emptied`);
        from.cli('MIGRATE', '127.0.0.1', String(target.port), '', '0', '5000', 'KEYS', ...keys);
        await sleep(pauseMs / 4);
      }
      // The new owner first, then the old one (which drops the slot's sharded channels), then the
      // rest, as redis-cli does.
      target.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
      from.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
      for (const m of list) {
        if (m !== from && m !== target) m.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
      }
      await waitFor(() => cluster.ownerOf(slot) === to, { what: `slot ${slot} owned by master ${to}` });
    },
  };
  return cluster;
}
