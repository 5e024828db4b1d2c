// Resume over WebSocket: subscribe with since=<id> replays exactly the messages after it, in
// order, none twice, then continues live — also while messages keep arriving during the replay.
// A position history no longer holds is answered with a gap, then live.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { publishOk, publishBatch } from '../support/http.mjs';
import { subscribe, waitPreamble } from '../support/sse.mjs';
import { openWs, startWsServer, stopServer } from '../support/ws-client.mjs';
import { uniq, sleep, diffSequences } from '../support/util.mjs';

const HISTORY = 50;
let server;
before(async () => {
  server = await startWsServer(null, ['--threads', '2', '--history-max-messages', String(HISTORY)]);
});
after(() => stopServer(server));

test('subscribe with since after missing messages: ack, exactly the missed ones in order, then live once', async (t) => {
  const topic = uniq('resume');
  const first = await openWs(t, server.port, { name: 'first' });
  await first.ok({ op: 'subscribe', topic });
  const sent = [];
  for (let i = 0; i < 3; i++) sent.push({ id: await publishOk(server.url, topic, `m${i}`), data: `m${i}`, from: null });
  await first.until((c) => c.messages(topic).length === 3, 3000, '3 messages');
  const seen = first.messages(topic).at(-1).id;
  assert.equal(seen, sent[2].id);
  first.terminate();

  // Missed while away: HTTP and WebSocket publishes.
  const pub = await openWs(t, server.port, { name: 'pub' });
  for (let i = 3; i < 10; i++) {
    if (i % 3 === 0) {
      const ack = await pub.ok({ op: 'publish', topic, data: `m${i}`, event: 'ws' });
      sent.push({ id: ack.id, data: `m${i}`, event: 'ws', ws: true });
    } else {
      sent.push({ id: await publishOk(server.url, topic, `m${i}`), data: `m${i}` });
    }
  }
  const again = await openWs(t, server.port, { name: 'again' });
  again.send({ op: 'subscribe', topic, since: seen, ref: 'r' });
  assert.deepEqual(await again.next(), { op: 'ack', ref: 'r' });
  const replay = [];
  for (let i = 3; i < 10; i++) replay.push(await again.next());
  assert.deepEqual(
    replay.map((m) => [m.op, m.topic, m.id, m.data, m.event]),
    sent.slice(3).map((s) => ['message', topic, s.id, s.data, s.event ?? null]),
  );
  for (const [i, m] of replay.entries()) {
    if (sent[3 + i].ws) assert.match(m.from, /^c\d+$/);
    else assert.equal(m.from, null);
  }
  const live = await publishOk(server.url, topic, 'live');
  assert.deepEqual(await again.next(), { op: 'message', topic, id: live, event: null, data: 'live', from: null });
  await again.expectQuiet(150);
});

test('since = the newest id replays nothing; since = <epoch>-0 replays everything; neither is a gap', async (t) => {
  const topic = uniq('edges');
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await publishOk(server.url, topic, `e${i}`));
  const epoch = ids[0].split('-')[0];
  const c = await openWs(t, server.port);
  c.send({ op: 'subscribe', topic, since: ids[2], ref: 'head' });
  assert.deepEqual(await c.next(), { op: 'ack', ref: 'head' });
  const live = await publishOk(server.url, topic, 'live');
  assert.deepEqual(await c.next(), { op: 'message', topic, id: live, event: null, data: 'live', from: null });

  const d = await openWs(t, server.port);
  d.send({ op: 'subscribe', topic, since: `${epoch}-0`, ref: 'zero' });
  assert.deepEqual(await d.next(), { op: 'ack', ref: 'zero' });
  const got = [];
  for (let i = 0; i < 4; i++) got.push(await d.next());
  assert.deepEqual(got.map((m) => [m.op, m.id]), [...ids, live].map((id) => ['message', id]));
  await d.expectQuiet(100);
});

test('a never-used topic resumed from the SSE preamble position (<epoch>-0) gets no gap', async (t) => {
  const topic = uniq('fresh');
  const sse = await subscribe(t, server.port, { topics: [uniq('other')] });
  const pre = await waitPreamble(sse);
  const epoch = pre.id.split('-')[0];
  sse.close();
  const c = await openWs(t, server.port);
  c.send({ op: 'subscribe', topic, since: `${epoch}-0`, ref: 'f' });
  assert.deepEqual(await c.next(), { op: 'ack', ref: 'f' });
  const id = await publishOk(server.url, topic, 'first');
  assert.deepEqual(await c.next(), { op: 'message', topic, id, event: null, data: 'first', from: null });
});

test('resume while messages keep coming: every id after since exactly once, in order (replay/live seam)', async (t) => {
  const topic = uniq('seam');
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(await publishOk(server.url, topic, `s${i}`));
  const total = 120;
  let stop = false;
  t.after(() => {
    stop = true;
  });
  const publisher = (async () => {
    for (let i = 10; i < total && !stop; i++) {
      const res = await publishBatch(server.url, [{ topic, data: `s${i}` }]);
      ids.push(res.body.ids[0]);
      if (i % 4 === 0) await sleep(1);
    }
  })();
  // Resumers join at staggered moments, each from a position a few messages back, so replays
  // are built while live messages for the same topic are being handed to the same loop.
  const resumers = [];
  for (let k = 0; k < 6; k++) {
    await sleep(8);
    const sinceIndex = Math.max(0, ids.length - 1 - 3 * k);
    const c = await openWs(t, server.port, { name: `resumer${k}` });
    c.send({ op: 'subscribe', topic, since: ids[sinceIndex], ref: 'seam' });
    resumers.push({ c, sinceIndex });
  }
  await publisher;
  for (const { c, sinceIndex } of resumers) {
    await c.until((x) => x.messages(topic).at(-1)?.id === ids.at(-1), 5000, 'the newest message');
  }
  await sleep(100);
  for (const { c, sinceIndex } of resumers) {
    const problem = diffSequences(ids.slice(sinceIndex + 1), c.messages(topic).map((m) => m.id), `${c.name} since #${sinceIndex}`);
    assert.equal(problem, null, problem ?? '');
    assert.deepEqual(c.msgs.filter((m) => m.op === 'gap'), []);
    assert.deepEqual(c.msgs[0], { op: 'ack', ref: 'seam' }, 'the ack must come before the replay');
  }
});

test('resume on the same connection after unsubscribe, and for a topic joined (presence) but not subscribed', async (t) => {
  const topic = uniq('same');
  const c = await openWs(t, server.port);
  await c.ok({ op: 'subscribe', topic });
  const a = await publishOk(server.url, topic, 'a');
  await c.waitMsg((m) => m.id === a);
  await c.ok({ op: 'unsubscribe', topic });
  const b = await publishOk(server.url, topic, 'b');
  const cc = await publishOk(server.url, topic, 'c');
  await c.ok({ op: 'subscribe', topic, since: a });
  await c.until((x) => x.messages(topic).length >= 3, 3000, 'the 2 missed messages');
  assert.deepEqual(c.messages(topic).map((m) => m.id), [a, b, cc]);

  // Joined first (the connection is linked to the topic for presence), then subscribed with since.
  const topic2 = uniq('joined');
  const x1 = await publishOk(server.url, topic2, 'x1');
  const d = await openWs(t, server.port);
  await d.ok({ op: 'presence.join', topic: topic2 });
  const x2 = await publishOk(server.url, topic2, 'x2');
  const x3 = await publishOk(server.url, topic2, 'x3');
  await sleep(50);
  assert.deepEqual(d.messages(topic2), [], 'a member that did not subscribe received messages');
  await d.ok({ op: 'subscribe', topic: topic2, since: x1 });
  await d.until((x) => x.messages(topic2).length >= 2, 3000, 'the replay');
  const x4 = await publishOk(server.url, topic2, 'x4');
  await d.until((x) => x.messages(topic2).length >= 3, 3000, 'live');
  await sleep(50);
  assert.deepEqual(d.messages(topic2).map((m) => m.id), [x2, x3, x4]);
});

test('two topics on one connection resume independently', async (t) => {
  const t1 = uniq('r1');
  const t2 = uniq('r2');
  const i1 = [];
  const i2 = [];
  for (let i = 0; i < 4; i++) {
    i1.push(await publishOk(server.url, t1, `a${i}`));
    i2.push(await publishOk(server.url, t2, `b${i}`));
  }
  const c = await openWs(t, server.port);
  await c.ok({ op: 'subscribe', topic: t1, since: i1[0] });
  await c.ok({ op: 'subscribe', topic: t2, since: i2[2] });
  await c.until((x) => x.messages().length >= 4, 3000, '4 replayed');
  await sleep(50);
  assert.deepEqual(c.messages(t1).map((m) => m.id), i1.slice(1));
  assert.deepEqual(c.messages(t2).map((m) => m.id), i2.slice(3));
});

test('a recoverable since skips the retained message; no since gets it', async (t) => {
  const topic = uniq('ret');
  const r = await publishOk(server.url, topic, 'R', { retain: true });
  const n = await publishOk(server.url, topic, 'N');
  const c = await openWs(t, server.port);
  c.send({ op: 'subscribe', topic, since: r, ref: 's' });
  assert.deepEqual(await c.next(), { op: 'ack', ref: 's' });
  assert.deepEqual(await c.next(), { op: 'message', topic, id: n, event: null, data: 'N', from: null });
  await c.expectQuiet(100);
});

test(`a since older than history keeps (${HISTORY} messages): ack, gap for the topic, then live (no duplicates)`, async (t) => {
  const topic = uniq('trim');
  const res = await publishBatch(
    server.url,
    Array.from({ length: HISTORY + 10 }, (_, i) => ({ topic, data: `t${i}` })),
  );
  assert.equal(res.status, 200);
  const ids = res.body.ids;
  const c = await openWs(t, server.port);
  c.send({ op: 'subscribe', topic, since: ids[2], ref: 'old' });
  assert.deepEqual(await c.next(), { op: 'ack', ref: 'old' });
  assert.deepEqual(await c.next(), { op: 'gap', topics: [topic] });
  const live = await publishOk(server.url, topic, 'live');
  // After the gap: what history still holds may or may not be replayed, but in order, once, and
  // never anything older than what history keeps; the live message comes last.
  await c.until((x) => x.messages(topic).at(-1)?.id === live, 3000, 'the live message');
  const after = c.messages(topic).map((m) => m.id);
  t.diagnostic(`after the gap: ${after.length} message(s)`);
  assert.equal(new Set(after).size, after.length, 'duplicates after the gap');
  const kept = [...ids.slice(-HISTORY), live];
  for (const id of after) assert.ok(kept.includes(id), `${id} is not in history or live`);
  assert.deepEqual(after, kept.filter((id) => after.includes(id)), 'out of order after the gap');
  await c.expectQuiet(100);
});
