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
 * Starts `masters` cluster masters (each with `replicas` replicas) and waits for cluster_state:ok
 * on each. Returns { masters: [{ port, id, cli(...args) }], replicas, url (of the first master),
 * keyslot(key), ownerOf(slot), serverOf(slot), moveSlot(slot, toIndex), kill(i), restart(i),
 * killServer(server) }.
 */
export async function startRedisCluster(t, { masters = 3, replicas = 0, nodeTimeoutMs = 2000 } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-rcluster-'));
  const list = [];
  for (let i = 0; i < masters * (1 + replicas); i++) {
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
    '--cluster-replicas', String(replicas), '--cluster-yes'], { encoding: 'utf8' });
  await waitFor(() => list.every((m) => /cluster_state:ok/.test(m.cli('CLUSTER', 'INFO'))), {
    timeoutMs: 15000,
    intervalMs: 100,
    what: 'cluster_state:ok on every server',
  });
  for (const m of list) m.id = m.cli('CLUSTER', 'MYID');
  // With replicas, redis-cli chooses the masters: ask each server what it became.
  const masterList = list.filter((m) => /^role:master/m.test(m.cli('INFO', 'replication')));
  const replicaList = list.filter((m) => !masterList.includes(m));
  if (replicas) {
    await waitFor(() => replicaList.every((r) => /master_link_status:up/.test(r.cli('INFO', 'replication'))), {
      timeoutMs: 15000,
      what: 'every replica in sync',
    });
  }
  const cluster = {
    masters: masterList,
    replicas: replicaList,
    url: `redis://127.0.0.1:${masterList[0].port}/0`,
    keyslot: (key) => Number(masterList.find((m) => m.child).cli('CLUSTER', 'KEYSLOT', key)),
    /** kill -9 of masters[i]. */
    async kill(i) {
      const m = masterList[i];
      m.child.proc.kill('SIGKILL');
      await m.child.exited;
      m.child = null;
    },
    /** Starts masters[i] again: same port and node id (nodes.conf), no data (no persistence). */
    async restart(i) {
      const m = masterList[i];
      m.child = spawnTracked('redis-server', m.args);
      await waitPort(m.port);
      await waitFor(() => list.every((x) => !x.child || /cluster_state:ok/.test(x.cli('CLUSTER', 'INFO'))), {
        timeoutMs: 15000,
        intervalMs: 100,
        what: 'cluster_state:ok again',
      });
    },
    /** The index in `masters` of the master that owns `slot` (as the first live master sees it). */
    ownerOf(slot) {
      const owner = cluster.serverOf(slot);
      return masterList.indexOf(owner);
    },
    /** The server (of all, replicas too) that owns `slot` now, as a live master sees it. */
    serverOf(slot) {
      const asked = masterList.find((m) => m.child) ?? list.find((m) => m.child);
      for (const line of asked.cli('CLUSTER', 'NODES').split('\n')) {
        const f = line.split(' ');
        if (!f[2]?.includes('master') || f[2].includes('fail')) continue;
        for (const r of f.slice(8)) {
          if (r.startsWith('[')) continue;
          const [lo, hi = lo] = r.split('-').map(Number);
          if (slot >= lo && slot <= hi) return list.find((m) => m.id === f[0]) ?? null;
        }
      }
      return null;
    },
    /** kill -9 of a server. */
    async killServer(m) {
      m.child.proc.kill('SIGKILL');
      await m.child.exited;
      m.child = null;
    },
    /**
     * Moves `slot` and its keys to masters[to], as a resharding does; `pauseMs` between the steps
     * leaves publishes time to meet the slot half-moved (TRYAGAIN, ASK).
     */
    async moveSlot(slot, to, { pauseMs = 30 } = {}) {
      const from = masterList[cluster.ownerOf(slot)];
      const target = masterList[to];
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
      // Every key is on the new owner now, the slot still the old one's: commands meet ASK.
      await sleep(pauseMs);
      // The new owner first, then the old one (which drops the slot's sharded channels), then the
      // rest, as redis-cli does.
      target.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
      from.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
      for (const m of masterList) {
        if (m !== from && m !== target) m.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
      }
      await waitFor(() => cluster.ownerOf(slot) === to, { what: `slot ${slot} owned by master ${to}` });
    },
  };
  return cluster;
}
