// One room, 100 WebSocket clients (no browser): each joins presence and subscribes, each publishes
// a few messages. Every client receives every message exactly once, per-sender order holds (all
// clients see the topic in the same order), presence reaches 100 and returns to 0.
// ROOM_THREADS (default 4) sets the server's event loops, e.g. 1 to rule out cross-loop effects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, topicPath, history } from '../support/http.mjs';
import { openMany, startWsServer, presenceView } from '../support/ws-client.mjs';
import { uniq, sleep } from '../support/util.mjs';

const N = 100;
const K = 3;

test(`${N} clients in one room: everyone gets every message once, in per-sender order; presence reaches ${N}`, { timeout: 60000 }, async (t) => {
  const server = await startWsServer(t, ['--threads', process.env.ROOM_THREADS || '4', '--presence-tick-ms', '50']);
  const room = `room/${uniq('r')}`;
  const clients = await openMany(t, server.port, N, { name: 'c' });

  // Join (state {n}) and subscribe, all at once.
  await Promise.all(
    clients.map(async (c, n) => {
      await Promise.all([c.ok({ op: 'presence.join', topic: room, state: { n } }), c.ok({ op: 'subscribe', topic: room })]);
    }),
  );
  // Each join was answered with the count after it: together exactly 1..N.
  const snaps = clients.map((c) => c.msgs.find((m) => m.op === 'presence' && Array.isArray(m.members)));
  assert.ok(snaps.every(Boolean), 'a join got no snapshot');
  assert.deepEqual(
    snaps.map((s) => s.count).sort((a, b) => a - b),
    Array.from({ length: N }, (_, i) => i + 1),
  );
  // Every view converges to all N members; the ids tell who is who.
  await Promise.all(
    clients.map((c) => c.until(() => presenceView(c, room)?.size === N, 10000, `${N} members in the view`)),
  );
  const idOf = new Map();
  for (const [id, state] of presenceView(clients[0], room)) idOf.set(state.n, id);
  assert.equal(idOf.size, N);
  assert.equal(new Set(idOf.values()).size, N, 'member ids are not unique');
  for (const c of clients) {
    const v = presenceView(c, room);
    for (const [n, id] of idOf) assert.deepEqual(v.get(id), { n }, `${c.name} sees ${id} with ${JSON.stringify(v.get(id))}`);
  }
  const pres = (await request(`${server.url}${topicPath(room, '/presence')}`)).json();
  assert.equal(pres.count, N, `GET presence count ${pres.count}`);

  // Everyone publishes K messages, concurrently.
  const acks = await Promise.all(
    clients.map(async (c, n) => {
      const out = [];
      for (let k = 0; k < K; k++) out.push(c.ok({ op: 'publish', topic: room, data: JSON.stringify({ n, k }) }));
      return Promise.all(out);
    }),
  );
  const allIds = new Set(acks.flat().map((a) => a.id));
  assert.equal(allIds.size, N * K, 'ack ids are not unique');
  const complete = await Promise.all(
    clients.map((c) => c.until(() => c.messages(room).length >= N * K, 10000, `${N * K} messages`).then(() => true, () => false)),
  );
  await sleep(200);
  if (complete.includes(false)) {
    const short = clients.filter((_, i) => !complete[i]);
    const detail = short.slice(0, 5).map((c) => {
      const have = new Set(c.messages(room).map((m) => m.id));
      const missing = [...allIds].filter((id) => !have.has(id));
      const dup = c.messages(room).length - have.size;
      const who = missing.slice(0, 5).map((id) => {
        const i = acks.flat().findIndex((a) => a.id === id);
        return `${id} (client ${Math.floor(i / K)} k=${i % K})`;
      });
      return `${c.name}: ${have.size} distinct, ${dup} duplicates, missing ${who.join(', ')}`;
    });
    assert.fail(`${short.length} of ${N} clients did not get all ${N * K} messages within 10 s: ${detail.join('; ')}`);
  }

  const reference = clients[0].messages(room).map((m) => m.id);
  for (const c of clients) {
    const msgs = c.messages(room);
    assert.equal(msgs.length, N * K, `${c.name} got ${msgs.length} messages`);
    const ids = msgs.map((m) => m.id);
    assert.deepEqual(ids, reference, `${c.name} saw the topic in another order`);
    const perSender = new Map();
    for (const m of msgs) {
      const { n, k } = JSON.parse(m.data);
      assert.equal(m.from, idOf.get(n), `${c.name}: message of client ${n} carries from ${m.from}`);
      assert.equal(m.event, null);
      assert.ok(allIds.has(m.id));
      if (!perSender.has(n)) perSender.set(n, []);
      perSender.get(n).push(k);
    }
    assert.equal(perSender.size, N);
    for (const [n, ks] of perSender) assert.deepEqual(ks, [0, 1, 2], `${c.name}: from client ${n} got ${ks}`);
  }
  // Strictly increasing seq: one topic, one order.
  for (let i = 1; i < reference.length; i++) {
    assert.ok(BigInt(reference[i].split('-')[1]) > BigInt(reference[i - 1].split('-')[1]), `ids not increasing at ${i}`);
  }
  const h = await history(server.url, room, { limit: 1000 });
  assert.deepEqual(h.body.messages.map((m) => m.id), reference, 'history and delivery disagree');

  // Everyone leaves by closing: presence returns to 0.
  for (const c of clients) c.close();
  let count = -1;
  for (let i = 0; i < 80 && count !== 0; i++) {
    await sleep(25);
    count = (await request(`${server.url}${topicPath(room, '/presence')}`)).json().count;
  }
  assert.equal(count, 0, 'presence of closed connections was not removed');
});
