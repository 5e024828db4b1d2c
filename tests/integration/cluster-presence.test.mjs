// Presence across nodes (broker = redis, docs/scaling.md "Presence"): real redis-server, real
// node processes. A member joined on one node is in the join snapshots and the diffs of every
// node; updates and leaves cross too; a node killed with SIGKILL has its members leave on the
// survivors within presence_ttl_s (and not before it dies); a node drained with SIGTERM has its
// members leave at once, while its own clients are still being closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, topicPath } from '../support/http.mjs';
import { openWs, presenceView } from '../support/ws-client.mjs';
import { sleep, waitFor, uniq } from '../support/util.mjs';
import { startRedis, startNode, readyz } from '../support/cluster.mjs';
import { newSecret, claims, signHS256, nowS } from '../support/jwt.mjs';

const TTL_S = 3; // --presence-ttl-s
const TICK = 50; // --presence-tick-ms

async function nodes(t, n, extra = []) {
  const redis = await startRedis(t);
  const list = [];
  for (let i = 0; i < n; i++) {
    list.push(await startNode(t, redis.url, {
      name: `n${i + 1}`,
      args: ['--presence-ttl-s', String(TTL_S), '--presence-tick-ms', String(TICK), ...extra],
    }));
  }
  await waitFor(async () => (await Promise.all(list.map((x) => readyz(x.url)))).every((s) => s === 200), { what: 'every node ready' });
  return { redis, nodes: list };
}

const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const sorted = (members) => [...members].sort(byId);
const viewOf = (client, topic) => {
  const v = presenceView(client, topic);
  return v && sorted([...v].map(([id, state]) => ({ id, state })));
};

/** Joins `topic` with `state`; answers the snapshot (after the ack) and the member's own id. */
async function join(client, topic, state) {
  const from = client.msgs.length;
  await client.ok({ op: 'presence.join', topic, state });
  const snap = await client.waitMsg((m) => m.op === 'presence' && m.topic === topic && Array.isArray(m.members), { from, what: 'the join snapshot' });
  return snap;
}

async function viewReaches(client, topic, expected, timeoutMs = 3000) {
  const want = JSON.stringify(sorted(expected));
  try {
    await client.until(() => JSON.stringify(viewOf(client, topic)) === want, timeoutMs, `presence view ${want}`);
  } catch {
    assert.fail(`${client.name}: presence of ${topic} is ${JSON.stringify(viewOf(client, topic))}, expected ${want}`);
  }
}

/**
 * Waits until node `node`'s member `id` of `topic` is in Redis: a join reaches the other nodes with
 * the next presence tick, so a join on another node within the same tick may not see it yet.
 */
async function written(redis, topic, node, id) {
  await waitFor(() => redis.cli('HEXISTS', `sb:{${topic}}:p:${node}`, id).trim() === '1', { timeoutMs: 2000, intervalMs: 10, what: `${id} written to Redis` });
}

/** The id a client's own member got, from its first snapshot: the one member not in `others`. */
function ownId(snap, others) {
  const ids = snap.members.map((m) => m.id).filter((id) => !others.includes(id));
  assert.equal(ids.length, 1, `one new member in ${JSON.stringify(snap)}`);
  return ids[0];
}

test('members on three nodes: every join snapshot holds the members of the other nodes; joins, updates and leaves cross as diffs', async (t) => {
  const { redis, nodes: [n1, n2, n3] } = await nodes(t, 3);
  const topic = uniq('room');
  const a = await openWs(t, n1.port, { name: 'a@n1' });
  const b = await openWs(t, n2.port, { name: 'b@n2' });
  const c = await openWs(t, n3.port, { name: 'c@n3' });

  const snapA = await join(a, topic, { name: 'ann' });
  assert.equal(snapA.count, 1);
  const A = ownId(snapA, []);
  // Anonymous identities carry their node: connection ids of two nodes never collide.
  assert.match(A, /^c\d+@n1$/);
  await written(redis, topic, 'n1', A);

  const snapB = await join(b, topic, { name: 'bob' });
  const B = ownId(snapB, [A]);
  assert.match(B, /^c\d+@n2$/);
  await written(redis, topic, 'n2', B);
  assert.equal(snapB.count, 2);
  assert.deepEqual(sorted(snapB.members), sorted([{ id: A, state: { name: 'ann' } }, { id: B, state: { name: 'bob' } }]));

  const snapC = await join(c, topic, { name: 'cy' });
  const C = ownId(snapC, [A, B]);
  assert.match(C, /^c\d+@n3$/);
  assert.equal(snapC.count, 3);
  const all = [{ id: A, state: { name: 'ann' } }, { id: B, state: { name: 'bob' } }, { id: C, state: { name: 'cy' } }];
  assert.deepEqual(sorted(snapC.members), sorted(all));

  // The earlier members hear of the later ones as diffs, with their state.
  const diffB = await a.waitMsg((m) => m.op === 'presence' && m.topic === topic && m.joins?.some((j) => j.id === B), { what: 'a diff with b' });
  assert.deepEqual(Object.keys(diffB).sort(), ['joins', 'leaves', 'op', 'topic']);
  assert.deepEqual(diffB.joins.find((j) => j.id === B), { id: B, state: { name: 'bob' } });
  for (const x of [a, b, c]) await viewReaches(x, topic, all);

  // An update on n2 reaches n1 and n3 as a join with the new state.
  await b.ok({ op: 'presence.update', topic, state: { name: 'bob', x: 7 } });
  all[1] = { id: B, state: { name: 'bob', x: 7 } };
  for (const x of [a, b, c]) await viewReaches(x, topic, all);

  // A leave on n3, then a closed connection on n2: both leave everywhere.
  await c.ok({ op: 'presence.leave', topic });
  await viewReaches(a, topic, all.filter((m) => m.id !== C));
  await viewReaches(b, topic, all.filter((m) => m.id !== C));
  const leaveC = a.msgs.find((m) => m.op === 'presence' && m.leaves?.includes(C));
  assert.ok(leaveC, 'a saw c leave in a diff');
  b.close();
  await viewReaches(a, topic, [all[0]]);

  // Every node's HTTP page holds the whole cluster's members: n1 from its registry (a is there),
  // n2 and n3 (nobody of theirs is in the room any more) from Redis.
  for (const n of [n1, n2, n3]) {
    const page = await request(`${n.url}${topicPath(topic, '/presence')}`);
    assert.equal(page.status, 200);
    assert.deepEqual(page.json(), { topic, count: 1, members: [all[0]], next: null });
  }
  // The nodes still serve new clients.
  await waitFor(() => redis.cli('EXISTS', `sb:{${topic}}:p:n2`).trim() === '0', { what: 'b gone from Redis' });
  const d = await openWs(t, n2.port, { name: 'd@n2' });
  const snapD = await join(d, topic, null);
  assert.equal(snapD.count, 2);
  assert.ok(snapD.members.some((m) => m.id === A));
});

test('a killed node (SIGKILL): its members stay while it lives, then leave on the survivors within presence_ttl_s', async (t) => {
  const { redis, nodes: [n1, n2, n3] } = await nodes(t, 3);
  const topic = uniq('kill');
  const a = await openWs(t, n1.port, { name: 'a@n1' });
  const A = ownId(await join(a, topic, 'a'), []);
  await written(redis, topic, 'n1', A);
  const victims = [];
  for (let i = 0; i < 3; i++) {
    const v = await openWs(t, n2.port, { name: `v${i}@n2` });
    victims.push(ownId(await join(v, topic, { v: i }), [A, ...victims]));
  }
  const expected = [{ id: A, state: 'a' }, ...victims.map((id, i) => ({ id, state: { v: i } }))];
  await viewReaches(a, topic, expected);

  // Longer than presence_ttl_s: a live node's members never expire.
  await sleep(TTL_S * 1000 + 1000);
  assert.deepEqual(viewOf(a, topic), sorted(expected));
  assert.ok(!a.msgs.some((m) => m.op === 'presence' && m.leaves?.length), 'no leave while n2 lives');

  const killedAt = Date.now();
  await n2.kill(); // SIGKILL
  await viewReaches(a, topic, [{ id: A, state: 'a' }], TTL_S * 1000 + 2000);
  const leaves = a.msgs.filter((m) => m.op === 'presence' && m.leaves?.length);
  const last = leaves.at(-1).at;
  const elapsed = last - killedAt;
  assert.deepEqual(leaves.flatMap((m) => m.leaves).sort(), [...victims].sort());
  assert.ok(elapsed <= TTL_S * 1000 + 300, `the killed node's members left ${elapsed} ms after the kill (presence_ttl_s ${TTL_S})`);
  t.diagnostic(`members of the killed node left after ${elapsed} ms`);

  // The survivors removed them from Redis too: a node that loads the room now sees only a.
  const e = await openWs(t, n3.port, { name: 'e@n3' });
  const snapE = await join(e, topic, 'e');
  const E = ownId(snapE, [A]);
  assert.deepEqual(sorted(snapE.members), sorted([{ id: A, state: 'a' }, { id: E, state: 'e' }]));
  await written(redis, topic, 'n3', E);
  assert.deepEqual(redis.cli('HKEYS', `sb:{${topic}}:pn`).trim().split('\n').sort(), ['n1', 'n3']);
  assert.equal(redis.cli('EXISTS', `sb:{${topic}}:p:n2`).trim(), '0');
  assert.equal(redis.cli('SISMEMBER', 'sb:nodes', 'n2').trim(), '0');
});

test('a drained node (SIGTERM): its members leave every other node at once, while its clients are still being closed', async (t) => {
  // One goodbye a second: closing its 4 clients would take 4 s; the members must leave before.
  const { redis, nodes: [n1, n2] } = await nodes(t, 2, ['--drain-rate', '1', '--drain-timeout-s', '20']);
  const topic = uniq('drain');
  const a = await openWs(t, n1.port, { name: 'a@n1' });
  const A = ownId(await join(a, topic, 'a'), []);
  const drained = [];
  const ids = [];
  for (let i = 0; i < 4; i++) {
    const v = await openWs(t, n2.port, { name: `d${i}@n2` });
    drained.push(v);
    ids.push(ownId(await join(v, topic, i), [A, ...ids]));
  }
  await viewReaches(a, topic, [{ id: A, state: 'a' }, ...ids.map((id, i) => ({ id, state: i }))]);

  const at = Date.now();
  n2.signal('SIGTERM');
  await viewReaches(a, topic, [{ id: A, state: 'a' }], 1500);
  const elapsed = Date.now() - at;
  const stillOpen = drained.filter((x) => x.isOpen).length;
  t.diagnostic(`members of the drained node left after ${elapsed} ms; ${stillOpen} of its clients still open`);
  assert.ok(stillOpen >= 2, `the leaves came from the drain, not from the closes: ${stillOpen} still open`);
  assert.ok(elapsed < 1000, `left after ${elapsed} ms`);
  const res = await n2.exited;
  assert.equal(res.code, 0);
  // n1 still serves.
  const f = await openWs(t, n1.port, { name: 'f@n1' });
  assert.equal((await join(f, topic, 'f')).count, 2);
  assert.equal(redis.cli('EXISTS', `sb:{${topic}}:p:n2`).trim(), '0');
  assert.equal(redis.cli('EXISTS', 'sb:node:n2').trim(), '0');
});

test('pub/sub connections killed (CLIENT KILL TYPE pubsub): the changes made meanwhile arrive when each node loads its rooms again', async (t) => {
  const { redis, nodes: [n1, n2] } = await nodes(t, 2);
  const topic = uniq('pubsub');
  const a = await openWs(t, n1.port, { name: 'a@n1' });
  const A = ownId(await join(a, topic, 1), []);
  await written(redis, topic, 'n1', A);
  const b = await openWs(t, n2.port, { name: 'b@n2' });
  const B = ownId(await join(b, topic, 1), [A]);
  await viewReaches(a, topic, [{ id: A, state: 1 }, { id: B, state: 1 }]);

  redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
  // Published while the nodes' pub/sub connections are down or coming back: n1 may never receive
  // these records, and must learn of them from the room's snapshot.
  await b.ok({ op: 'presence.update', topic, state: 2 });
  const c = await openWs(t, n2.port, { name: 'c@n2' });
  const C = ownId(await join(c, topic, 3), [A, B]);
  const want = [{ id: A, state: 1 }, { id: B, state: 2 }, { id: C, state: 3 }];
  await viewReaches(a, topic, want, 5000);
  await viewReaches(b, topic, want, 5000);
  // Live again after the reload: a leave crosses as a diff.
  c.close();
  await viewReaches(a, topic, want.slice(0, 2));
});

test('a node stopped longer than presence_ttl_s (SIGSTOP) is taken for dead; once it runs again its members join again', async (t) => {
  const { redis, nodes: [n1, n2] } = await nodes(t, 2);
  const topic = uniq('stall');
  const a = await openWs(t, n1.port, { name: 'a@n1' });
  const A = ownId(await join(a, topic, 'a'), []);
  await written(redis, topic, 'n1', A);
  const b = await openWs(t, n2.port, { name: 'b@n2' });
  const B = ownId(await join(b, topic, 'b'), [A]);
  const both = [{ id: A, state: 'a' }, { id: B, state: 'b' }];
  await viewReaches(a, topic, both);

  n2.proc.kill('SIGSTOP');
  try {
    await viewReaches(a, topic, [both[0]], TTL_S * 1000 + 2000);
  } finally {
    n2.proc.kill('SIGCONT');
  }
  // Back: it finds its liveness key expired and writes its members again.
  await viewReaches(a, topic, both, TTL_S * 1000 + 2000);
  await written(redis, topic, 'n2', B);
  assert.equal(redis.cli('SISMEMBER', `sb:node:n2:rooms`, topic).trim(), '1');
  assert.equal(redis.cli('SISMEMBER', 'sb:nodes', 'n2').trim(), '1');
});

test('one subject connected to two nodes is one member, present while either node holds it', async (t) => {
  const secret = newSecret();
  const { redis, nodes: [n1, n2, n3] } = await nodes(t, 3, ['--jwt-secret', secret]);
  const topic = uniq('sam');
  const token = signHS256(claims({ sub: 'sam', exp: nowS() + 600 }), secret);
  const path = `/v1/ws?access_token=${token}`;
  const wToken = signHS256(claims({ sub: 'walt', exp: nowS() + 600 }), secret);
  const w = await openWs(t, n3.port, { name: 'w@n3', path: `/v1/ws?access_token=${wToken}` });
  const W = ownId(await join(w, topic, 'w'), []);
  await written(redis, topic, 'n3', W);
  const s1 = await openWs(t, n1.port, { name: 'sam@n1', path });
  assert.equal(ownId(await join(s1, topic, 1), [W]), 'sam');
  await written(redis, topic, 'n1', 'sam');
  const s2 = await openWs(t, n2.port, { name: 'sam@n2', path });
  const snap = await join(s2, topic, 2);
  assert.equal(snap.count, 2, JSON.stringify(snap));
  assert.deepEqual(sorted(snap.members), sorted([{ id: W, state: 'w' }, { id: 'sam', state: 2 }]));
  await viewReaches(w, topic, [{ id: W, state: 'w' }, { id: 'sam', state: 2 }]);
  // The leave on n2 ends n2's hold only: sam stays, with n1's state.
  await s2.ok({ op: 'presence.leave', topic });
  await viewReaches(w, topic, [{ id: W, state: 'w' }, { id: 'sam', state: 1 }]);
  assert.ok(!w.msgs.some((m) => m.op === 'presence' && m.leaves?.includes('sam')), 'sam never left');
  s1.close();
  await viewReaches(w, topic, [{ id: W, state: 'w' }]);
});
