// Presence over switchboard.v1: a join is acked and answered with a snapshot; later changes reach
// every session subscribed to or joined in the topic as diffs coalesced per tick; presence of a
// connection ends when it closes, also without a close frame; GET /v1/topics/{t}/presence
// answers the same registry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, topicPath, publishOk } from '../support/http.mjs';
import { openWs, openMany, startWsServer, stopServer, identityOf, presenceView, presenceDiffs } from '../support/ws-client.mjs';
import { uniq, sleep } from '../support/util.mjs';

const TICK = 50; // --presence-tick-ms
let server;
before(async () => {
  server = await startWsServer(null, ['--threads', '2', '--presence-tick-ms', String(TICK)]);
});
after(() => stopServer(server));

const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const asSorted = (map) => [...map].map(([id, state]) => ({ id, state })).sort(byId);

async function httpPresence(topic, query = '') {
  const res = await request(`${server.url}${topicPath(topic, '/presence')}${query}`);
  return { status: res.status, body: res.status === 200 ? res.json() : res.text, headers: res.headers };
}

/** Waits until client's view of topic equals `expected` (array of {id,state}). */
async function viewReaches(client, topic, expected, timeoutMs = 2000) {
  const want = [...expected].sort(byId);
  try {
    await client.until(
      () => {
        const v = presenceView(client, topic);
        return v && JSON.stringify(asSorted(v)) === JSON.stringify(want);
      },
      timeoutMs,
      `presence view ${JSON.stringify(want)}`,
    );
  } catch (err) {
    const v = presenceView(client, topic);
    assert.fail(`${client.name}: presence of ${topic} is ${JSON.stringify(v && asSorted(v))}, expected ${JSON.stringify(want)} (${err.message.slice(0, 200)})`);
  }
}

test('presence.join answers ack then a snapshot {"op","topic","count","members":[{"id","state"}]}; the next joiner sees both', async (t) => {
  const topic = uniq('room');
  const a = await openWs(t, server.port, { name: 'a' });
  const b = await openWs(t, server.port, { name: 'b' });
  a.send({ op: 'presence.join', topic, state: { name: 'ann' }, ref: 'j' });
  assert.deepEqual(await a.next(), { op: 'ack', ref: 'j' });
  const snapA = await a.next();
  assert.deepEqual(Object.keys(snapA).sort(), ['count', 'members', 'op', 'topic']);
  assert.equal(snapA.op, 'presence');
  assert.equal(snapA.topic, topic);
  assert.equal(snapA.count, 1);
  assert.equal(snapA.members.length, 1);
  const A = snapA.members[0].id;
  assert.match(A, /^c\d+$/);
  assert.deepEqual(snapA.members[0], { id: A, state: { name: 'ann' } });

  b.send({ op: 'presence.join', topic, state: { name: 'bob' }, ref: 'j' });
  assert.deepEqual(await b.next(), { op: 'ack', ref: 'j' });
  const snapB = await b.next();
  assert.equal(snapB.op, 'presence');
  assert.equal(snapB.count, 2);
  const B = snapB.members.find((m) => m.id !== A)?.id;
  assert.ok(B && B !== A, `second member id: ${JSON.stringify(snapB)}`);
  assert.deepEqual([...snapB.members].sort(byId), [{ id: A, state: { name: 'ann' } }, { id: B, state: { name: 'bob' } }].sort(byId));

  // a hears of b as a diff.
  const diff = await a.waitMsg((m) => m.op === 'presence' && !m.members && m.joins.some((j) => j.id === B), { timeoutMs: 20 * TICK });
  assert.deepEqual(Object.keys(diff).sort(), ['joins', 'leaves', 'op', 'topic']);
  assert.equal(diff.topic, topic);
  assert.deepEqual(diff.leaves, []);
  assert.deepEqual(diff.joins.find((j) => j.id === B), { id: B, state: { name: 'bob' } });
  await viewReaches(a, topic, [{ id: A, state: { name: 'ann' } }, { id: B, state: { name: 'bob' } }]);
  await viewReaches(b, topic, [{ id: A, state: { name: 'ann' } }, { id: B, state: { name: 'bob' } }]);
});

test('a join without state has state null; presence.update sends the new state to everyone in the topic', async (t) => {
  const topic = uniq('upd');
  const a = await openWs(t, server.port, { name: 'a' });
  const b = await openWs(t, server.port, { name: 'b' });
  await a.ok({ op: 'presence.join', topic });
  const A = presenceView(a, topic) ?? (await a.until(() => presenceView(a, topic), 2000, 'snapshot'));
  assert.equal(A.size, 1);
  const [aid, astate] = [...A][0];
  assert.equal(astate, null);
  await b.ok({ op: 'presence.join', topic, state: 1 });
  const bid = [...(await b.until(() => presenceView(b, topic), 2000, 'snapshot'))].map(([id]) => id).find((id) => id !== aid);
  await viewReaches(a, topic, [{ id: aid, state: null }, { id: bid, state: 1 }]);
  const mark = a.msgs.length;
  assert.deepEqual(await b.call({ op: 'presence.update', topic, state: { cursor: [3, 4] }, ref: 'u' }), { op: 'ack', ref: 'u' });
  const d = await a.waitMsg((m) => m.op === 'presence' && m.joins?.some((j) => j.id === bid), { from: mark, timeoutMs: 20 * TICK });
  assert.deepEqual(d, { op: 'presence', topic, joins: [{ id: bid, state: { cursor: [3, 4] } }], leaves: [] });
  await viewReaches(b, topic, [{ id: aid, state: null }, { id: bid, state: { cursor: [3, 4] } }]);
  const h = await httpPresence(topic);
  assert.deepEqual([...h.body.members].sort(byId), [{ id: aid, state: null }, { id: bid, state: { cursor: [3, 4] } }].sort(byId));
});

test('presence.leave is acked, the others get leaves:[id], and the leaver (not subscribed) hears nothing more', async (t) => {
  const topic = uniq('leave');
  const a = await openWs(t, server.port, { name: 'a' });
  const b = await openWs(t, server.port, { name: 'b' });
  const c = await openWs(t, server.port, { name: 'c' });
  const [A, B, C] = [await identityOf(a, uniq('id')), await identityOf(b, uniq('id')), await identityOf(c, uniq('id'))];
  await a.ok({ op: 'presence.join', topic, state: 'a' });
  await b.ok({ op: 'presence.join', topic, state: 'b' });
  await viewReaches(a, topic, [{ id: A, state: 'a' }, { id: B, state: 'b' }]);
  const mark = a.msgs.length;
  assert.deepEqual(await b.call({ op: 'presence.leave', topic, ref: 'l' }), { op: 'ack', ref: 'l' });
  const d = await a.waitMsg((m) => m.op === 'presence' && m.leaves?.length, { from: mark, timeoutMs: 20 * TICK });
  assert.deepEqual(d, { op: 'presence', topic, joins: [], leaves: [B] });
  const bMark = b.msgs.length;
  await c.ok({ op: 'presence.join', topic, state: 'c' });
  await viewReaches(a, topic, [{ id: A, state: 'a' }, { id: C, state: 'c' }]);
  await sleep(3 * TICK);
  assert.deepEqual(b.msgs.slice(bMark).filter((m) => m.op === 'presence'), [], 'a member that left still gets presence');
  const h = await httpPresence(topic);
  assert.equal(h.body.count, 2);
  // Leaving twice, or a topic never joined, is still acked.
  assert.deepEqual(await b.call({ op: 'presence.leave', topic, ref: 'again' }), { op: 'ack', ref: 'again' });
  // And b can come back.
  await b.ok({ op: 'presence.join', topic, state: 'b2' });
  await viewReaches(a, topic, [{ id: A, state: 'a' }, { id: B, state: 'b2' }, { id: C, state: 'c' }]);
});

test('diffs reach every session subscribed to the topic (not joined) and no session that is neither', async (t) => {
  const topic = uniq('watch');
  const watcher = await openWs(t, server.port, { name: 'watcher' });
  const outsider = await openWs(t, server.port, { name: 'outsider' });
  const m = await openWs(t, server.port, { name: 'member' });
  const M = await identityOf(m, uniq('id'));
  await watcher.ok({ op: 'subscribe', topic });
  await outsider.ok({ op: 'subscribe', topic: uniq('elsewhere') });
  await m.ok({ op: 'presence.join', topic, state: { on: true } });
  const d = await watcher.waitMsg((x) => x.op === 'presence', { timeoutMs: 20 * TICK });
  assert.deepEqual(d, { op: 'presence', topic, joins: [{ id: M, state: { on: true } }], leaves: [] });
  m.terminate();
  const l = await watcher.waitMsg((x) => x.op === 'presence' && x.leaves.length, { timeoutMs: 20 * TICK });
  assert.deepEqual(l, { op: 'presence', topic, joins: [], leaves: [M] });
  await sleep(2 * TICK);
  assert.deepEqual(outsider.msgs.filter((x) => x.op === 'presence'), []);
  // The watcher is not a member.
  assert.deepEqual((await httpPresence(topic)).body.members, []);
});

test('a member that unsubscribes keeps getting presence diffs but no messages', async (t) => {
  const topic = uniq('joinsub');
  const a = await openWs(t, server.port, { name: 'a' });
  const b = await openWs(t, server.port, { name: 'b' });
  const B = await identityOf(b, uniq('id'));
  await a.ok({ op: 'presence.join', topic });
  await a.ok({ op: 'subscribe', topic });
  const id1 = await publishOk(server.url, topic, 'm1');
  await a.waitMsg((m) => m.op === 'message' && m.id === id1);
  await a.ok({ op: 'unsubscribe', topic });
  await publishOk(server.url, topic, 'm2');
  await b.ok({ op: 'presence.join', topic, state: 'b' });
  const d = await a.waitMsg((m) => m.op === 'presence' && m.joins?.some((j) => j.id === B), { timeoutMs: 20 * TICK });
  assert.deepEqual(d.leaves, []);
  assert.deepEqual(a.messages(topic).map((m) => m.data), ['m1'], 'a message arrived after unsubscribe while joined');
});

test('terminating a socket without a close frame ends its presence within a few ticks (diff and GET presence)', async (t) => {
  const topic = uniq('crash');
  const stay = await openWs(t, server.port, { name: 'stay' });
  const gone = await openWs(t, server.port, { name: 'gone' });
  const S = await identityOf(stay, uniq('id'));
  const G = await identityOf(gone, uniq('id'));
  await stay.ok({ op: 'presence.join', topic, state: 's' });
  await gone.ok({ op: 'presence.join', topic, state: 'g' });
  await viewReaches(stay, topic, [{ id: S, state: 's' }, { id: G, state: 'g' }]);
  assert.equal((await httpPresence(topic)).body.count, 2);
  const mark = stay.msgs.length;
  const t0 = Date.now();
  gone.terminate(); // TCP close, no WebSocket close frame
  const d = await stay.waitMsg((m) => m.op === 'presence' && m.leaves?.includes(G), { from: mark, timeoutMs: 3000 });
  const ms = Date.now() - t0;
  t.diagnostic(`leave announced ${ms} ms after the socket was terminated`);
  assert.deepEqual(d, { op: 'presence', topic, joins: [], leaves: [G] });
  assert.ok(ms <= 10 * TICK, `leave announced after ${ms} ms (tick ${TICK} ms)`);
  const h = await httpPresence(topic);
  assert.equal(h.status, 200);
  assert.equal(h.body.topic, topic);
  assert.equal(h.body.count, 1);
  assert.deepEqual(h.body.members, [{ id: S, state: 's' }]);
});

test('a clean close (close frame) ends presence too', async (t) => {
  const topic = uniq('bye');
  const stay = await openWs(t, server.port, { name: 'stay' });
  const gone = await openWs(t, server.port, { name: 'gone' });
  const G = await identityOf(gone, uniq('id'));
  await stay.ok({ op: 'subscribe', topic });
  await gone.ok({ op: 'presence.join', topic });
  await stay.waitMsg((m) => m.op === 'presence' && m.joins?.some((j) => j.id === G), { timeoutMs: 20 * TICK });
  gone.ws.close(1000, 'bye');
  const info = await gone.waitClosed(3000);
  assert.equal(info.code, 1000, 'the server must echo the close code');
  const d = await stay.waitMsg((m) => m.op === 'presence' && m.leaves?.length, { timeoutMs: 20 * TICK });
  assert.deepEqual(d, { op: 'presence', topic, joins: [], leaves: [G] });
});

test('a join and a leave within one tick are never announced', async (t) => {
  const topic = uniq('blink');
  const watcher = await openWs(t, server.port, { name: 'watcher' });
  const blink = await openWs(t, server.port, { name: 'blink' });
  await watcher.ok({ op: 'subscribe', topic });
  // Both ops in one TCP write: the server handles them in the same turn, inside one tick.
  blink.ws.send(JSON.stringify({ op: 'presence.join', topic, state: 'x', ref: 'j' }));
  blink.ws.send(JSON.stringify({ op: 'presence.leave', topic, ref: 'l' }));
  await blink.waitMsg((m) => m.op === 'ack' && m.ref === 'l');
  await sleep(5 * TICK);
  assert.deepEqual(presenceDiffs(watcher, topic), [], 'a member present for less than a tick was announced');
  assert.equal((await httpPresence(topic)).body.count, 0);
});

test('changes within a tick are coalesced: 10 joins arrive as at most 2-3 diffs, 5 quick updates end at the last state', async (t) => {
  const topic = uniq('burst');
  const watcher = await openWs(t, server.port, { name: 'watcher' });
  await watcher.ok({ op: 'subscribe', topic });
  const clients = await openMany(t, server.port, 10, { name: 'm' });
  const ids = [];
  for (const c of clients) ids.push(await identityOf(c, uniq('id')));
  await sleep(2 * TICK); // let the identity joins and leaves be announced and forgotten
  const mark = watcher.msgs.length;
  clients.forEach((c, i) => c.send({ op: 'presence.join', topic, state: i }));
  await watcher.until(() => {
    const v = presenceView(watcher, topic, { needSnapshot: false });
    return v.size === 10;
  }, 3000, '10 members');
  const diffs = watcher.msgs.slice(mark).filter((m) => m.op === 'presence');
  t.diagnostic(`10 joins arrived in ${diffs.length} diff(s)`);
  assert.ok(diffs.length <= 3, `10 simultaneous joins took ${diffs.length} diffs`);
  const joined = diffs.flatMap((d) => d.joins).sort(byId);
  assert.deepEqual(joined, ids.map((id, i) => ({ id, state: i })).sort(byId), 'each join announced exactly once');

  const mark2 = watcher.msgs.length;
  for (let k = 1; k <= 5; k++) clients[0].send({ op: 'presence.update', topic, state: `v${k}` });
  await watcher.until(() => presenceView(watcher, topic, { needSnapshot: false }) && watcher.msgs.slice(mark2).some((m) => m.op === 'presence' && m.joins.some((j) => j.state === 'v5')), 3000, 'the last update');
  await sleep(3 * TICK);
  const upd = watcher.msgs.slice(mark2).filter((m) => m.op === 'presence');
  t.diagnostic(`5 updates arrived in ${upd.length} diff(s): ${JSON.stringify(upd)}`);
  assert.ok(upd.length <= 2, `5 updates within a tick took ${upd.length} diffs`);
  assert.deepEqual(upd.at(-1), { op: 'presence', topic, joins: [{ id: ids[0], state: 'v5' }], leaves: [] });
});

test('presence is per topic: a member of one topic is not in another', async (t) => {
  const t1 = uniq('p1');
  const t2 = uniq('p2');
  const a = await openWs(t, server.port, { name: 'a' });
  const w2 = await openWs(t, server.port, { name: 'w2' });
  const A = await identityOf(a, uniq('id'));
  const W = await identityOf(w2, uniq('id'));
  await w2.ok({ op: 'presence.join', topic: t2 });
  await a.ok({ op: 'presence.join', topic: t1 });
  await sleep(4 * TICK);
  // (w2 may hear its own join as a diff; it must hear nothing of a.)
  const mentionsA = w2.msgs.filter((m) => m.op === 'presence' && JSON.stringify([m.members, m.joins, m.leaves]).includes(`"${A}"`));
  assert.deepEqual(mentionsA, [], 'a member of t1 was announced to a member of t2');
  assert.deepEqual(asSorted(presenceView(w2, t2)), [{ id: W, state: null }]);
  assert.equal((await httpPresence(t1)).body.count, 1);
  assert.equal((await httpPresence(t2)).body.count, 1);
});

test('GET /v1/topics/{t}/presence answers the registry: topic, count, members with state', async (t) => {
  const topic = uniq('http');
  const empty = await httpPresence(topic);
  assert.equal(empty.status, 200);
  assert.match(empty.headers['content-type'] || '', /^application\/json/i);
  assert.equal(empty.body.topic, topic);
  assert.equal(empty.body.count, 0);
  assert.deepEqual(empty.body.members, []);

  const clients = await openMany(t, server.port, 3, { name: 'h' });
  const expected = [];
  for (const [i, c] of clients.entries()) {
    const id = await identityOf(c, uniq('id'));
    await c.ok({ op: 'presence.join', topic, state: { seat: i } });
    expected.push({ id, state: { seat: i } });
  }
  const res = await httpPresence(topic);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.topic, topic);
  assert.equal(res.body.count, 3, `GET presence after 3 joins: ${JSON.stringify(res.body)}`);
  assert.deepEqual([...res.body.members].sort(byId), [...expected].sort(byId));

  clients[1].terminate();
  await clients[1].waitClosed(2000);
  const after1 = await (async () => {
    for (let i = 0; i < 40; i++) {
      const r = await httpPresence(topic);
      if (r.body.count === 2) return r;
      await sleep(25);
    }
    return httpPresence(topic);
  })();
  assert.equal(after1.body.count, 2, 'a terminated member is still counted');
  assert.deepEqual([...after1.body.members].sort(byId), [expected[0], expected[2]].sort(byId));
});

test('GET presence pages members by id with ?limit= and ?after=', async (t) => {
  const topic = uniq('page');
  const clients = await openMany(t, server.port, 5, { name: 'pg' });
  for (const [i, c] of clients.entries()) await c.ok({ op: 'presence.join', topic, state: i });
  const all = (await httpPresence(topic)).body;
  assert.equal(all.count, 5);
  const ids = all.members.map((m) => m.id);
  assert.deepEqual(ids, [...ids].sort(), 'members are ordered by id');
  const p1 = (await httpPresence(topic, '?limit=2')).body;
  assert.equal(p1.count, 5);
  assert.deepEqual(p1.members.map((m) => m.id), ids.slice(0, 2));
  assert.equal(p1.next, ids[1]);
  const p2 = (await httpPresence(topic, `?limit=2&after=${encodeURIComponent(p1.next)}`)).body;
  assert.deepEqual(p2.members.map((m) => m.id), ids.slice(2, 4));
  const p3 = (await httpPresence(topic, `?limit=2&after=${encodeURIComponent(p2.next)}`)).body;
  assert.deepEqual(p3.members.map((m) => m.id), ids.slice(4));
  assert.equal(p3.next, null);
  assert.equal((await httpPresence(topic, '?limit=0')).status, 400);
  assert.equal((await httpPresence('bad//topic')).status, 400);
});
