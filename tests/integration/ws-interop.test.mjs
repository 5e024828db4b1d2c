// One topic model: HTTP publishes (single, batch, streaming) reach WebSocket subscribers, WebSocket
// publishes reach SSE subscribers and history, with the same id string everywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { publishOk, publishBatch, history, RawConn, topicPath } from '../support/http.mjs';
import { subscribe, waitPreamble } from '../support/sse.mjs';
import { openWs, openMany, startWsServer, stopServer, identityOf } from '../support/ws-client.mjs';
import { uniq, sleep, diffSequences } from '../support/util.mjs';

let server;
before(async () => {
  server = await startWsServer(null, ['--threads', '2']);
});
after(() => stopServer(server));

test('an HTTP publish reaches every WebSocket subscriber (on every loop) with the 201 id and from null', async (t) => {
  const topic = uniq('h2w');
  const subs = await openMany(t, server.port, 6, { name: 'w' });
  for (const c of subs) await c.ok({ op: 'subscribe', topic });
  const id = await publishOk(server.url, topic, 'from http', { event: 'note' });
  for (const c of subs) {
    assert.deepEqual(await c.waitMsg((m) => m.op === 'message'), { op: 'message', topic, id, event: 'note', data: 'from http', from: null });
  }
});

test('a WebSocket publish reaches SSE subscribers with the same id, event and data (multi-line too)', async (t) => {
  const topic = uniq('w2s');
  const sse = await subscribe(t, server.port, { topics: [topic] });
  await waitPreamble(sse);
  const pub = await openWs(t, server.port);
  const a1 = await pub.ok({ op: 'publish', topic, data: 'plain' });
  const a2 = await pub.ok({ op: 'publish', topic, data: 'line one\nline two', event: 'multi' });
  const a3 = await pub.ok({ op: 'publish', topic, data: { n: 1 } });
  const events = await sse.waitEvents(3);
  assert.deepEqual(
    events.map((e) => [e.idField, e.event, e.data]),
    [
      [a1.id, 'message', 'plain'],
      [a2.id, 'multi', 'line one\nline two'],
      [a3.id, 'message', '{"n":1}'],
    ],
  );
  assert.equal(sse.lastEventId, a3.id);
});

test('mixed HTTP and WebSocket publishes: SSE, WebSocket and history agree on ids and order', async (t) => {
  const topic = uniq('mixed');
  const sse = await subscribe(t, server.port, { topics: [topic] });
  await waitPreamble(sse);
  const sub = await openWs(t, server.port, { name: 'sub' });
  await sub.ok({ op: 'subscribe', topic });
  const pub = await openWs(t, server.port, { name: 'pub' });
  const me = await identityOf(pub, uniq('id'));
  const sent = [];
  for (let i = 0; i < 10; i++) {
    if (i % 2) {
      const ack = await pub.ok({ op: 'publish', topic, data: `ws${i}` });
      sent.push({ id: ack.id, data: `ws${i}`, from: me });
    } else {
      sent.push({ id: await publishOk(server.url, topic, `http${i}`), data: `http${i}`, from: null });
    }
  }
  const events = await sse.waitEvents(10);
  assert.deepEqual(events.map((e) => [e.idField, e.data]), sent.map((s) => [s.id, s.data]));
  await sub.until((c) => c.messages(topic).length >= 10, 5000, '10 messages');
  assert.deepEqual(
    sub.messages(topic).map((m) => ({ id: m.id, data: m.data, from: m.from })),
    sent,
  );
  const h = await history(server.url, topic);
  assert.deepEqual(h.body.messages.map((m) => [m.id, m.data]), sent.map((s) => [s.id, s.data]));
  await sleep(100);
  assert.equal(sub.messages(topic).length, 10, 'duplicates on the WebSocket');
});

test('concurrent HTTP publishers on several connections: every WebSocket subscriber gets every message once, in id order', async (t) => {
  const topic = uniq('concurrent');
  const subs = await openMany(t, server.port, 8, { name: 'w' });
  for (const c of subs) await c.ok({ op: 'subscribe', topic });
  const P = 8;
  const K = 100;
  const ids = [];
  await Promise.all(
    Array.from({ length: P }, async (_, p) => {
      for (let k = 0; k < K; k++) ids.push(await publishOk(server.url, topic, `${p}:${k}`));
    }),
  );
  const inOrder = [...ids].sort((a, b) => (BigInt(a.split('-')[1]) < BigInt(b.split('-')[1]) ? -1 : 1));
  const settled = await Promise.all(subs.map((c) => c.until((x) => x.messages(topic).length >= P * K, 3000, `${P * K} messages`).then(() => true, () => false)));
  await sleep(100);
  const report = subs
    .map((c, i) => (settled[i] ? null : `${c.name}: ${diffSequences(inOrder, c.messages(topic).map((m) => m.id))}`))
    .filter(Boolean);
  assert.deepEqual(report, [], `subscribers missing messages published concurrently from several connections:\n${report.join('\n')}`);
  for (const c of subs) assert.deepEqual(c.messages(topic).map((m) => m.id), inOrder, `${c.name}: not exactly once in id order`);
});

test('a batch publish reaches WebSocket subscribers in request order with the answered ids', async (t) => {
  const t1 = uniq('b1');
  const t2 = uniq('b2');
  const c = await openWs(t, server.port);
  await c.ok({ op: 'subscribe', topic: t1 });
  await c.ok({ op: 'subscribe', topic: t2 });
  const res = await publishBatch(server.url, [
    { topic: t1, data: 'a' },
    { topic: t2, data: 'b', event: 'eb' },
    { topic: t1, data: 'c' },
  ]);
  assert.equal(res.status, 200, res.text);
  const [i1, i2, i3] = res.body.ids;
  await c.until((x) => x.messages().length >= 3, 5000, '3 messages');
  const got = c.messages();
  assert.deepEqual(
    got.filter((m) => m.topic === t1),
    [
      { op: 'message', topic: t1, id: i1, event: null, data: 'a', from: null },
      { op: 'message', topic: t1, id: i3, event: null, data: 'c', from: null },
    ],
  );
  assert.deepEqual(got.filter((m) => m.topic === t2), [{ op: 'message', topic: t2, id: i2, event: 'eb', data: 'b', from: null }]);
});

test('a streaming publish reaches a WebSocket subscriber event by event while the request is open', async (t) => {
  const topic = uniq('stream');
  const c = await openWs(t, server.port);
  await c.ok({ op: 'subscribe', topic });
  const conn = await RawConn.open(server.port);
  t.after(() => conn.destroy());
  await conn.write(
    `POST ${topicPath(topic, '/stream')} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n` +
      'Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n',
  );
  const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
  await conn.write(chunk('event: token\ndata: Hel\n\n'));
  const m1 = await c.waitMsg((m) => m.op === 'message', { timeoutMs: 3000, what: 'the first streamed event' });
  assert.equal(m1.data, 'Hel');
  assert.equal(m1.event, 'token');
  await conn.write(chunk('data: lo\n\n'));
  const m2 = await c.waitMsg((m) => m.op === 'message' && m.data === 'lo', { timeoutMs: 3000 });
  await conn.write('0\r\n\r\n');
  const res = await conn.readResponse({ timeoutMs: 3000 });
  assert.equal(res.status, 200, res.text);
  const body = JSON.parse(res.text);
  assert.equal(body.last_id, m2.id);
  assert.equal(BigInt(m2.id.split('-')[1]), BigInt(m1.id.split('-')[1]) + 1n);
});

test('a volatile WebSocket publish reaches SSE subscribers without an id (the resume position stays)', async (t) => {
  const topic = uniq('v2s');
  const sse = await subscribe(t, server.port, { topics: [topic] });
  const pre = await waitPreamble(sse);
  const pub = await openWs(t, server.port);
  pub.send({ op: 'publish', topic, data: 'cursor 1,2', volatile: true });
  const [e] = await sse.waitEvents(1);
  assert.equal(e.data, 'cursor 1,2');
  assert.equal(e.idField, undefined, 'a volatile message must not carry an SSE id');
  assert.equal(sse.lastEventId, pre.id);
});

test('the id of a single-topic SSE stream resumes a WebSocket subscription, and a WebSocket id resumes SSE', async (t) => {
  const topic = uniq('sameid');
  const sse = await subscribe(t, server.port, { topics: [topic] });
  await waitPreamble(sse);
  const i1 = await publishOk(server.url, topic, 'one');
  await sse.waitEvents(1);
  const sseId = sse.lastEventId;
  assert.equal(sseId, i1);
  const i2 = await publishOk(server.url, topic, 'two');
  const i3 = await publishOk(server.url, topic, 'three');
  const c = await openWs(t, server.port);
  c.send({ op: 'subscribe', topic, since: sseId, ref: 's' });
  assert.deepEqual(await c.next(), { op: 'ack', ref: 's' });
  assert.deepEqual(await c.next(), { op: 'message', topic, id: i2, event: null, data: 'two', from: null });
  assert.deepEqual(await c.next(), { op: 'message', topic, id: i3, event: null, data: 'three', from: null });
  // And back: the WebSocket id as Last-Event-ID.
  const again = await subscribe(t, server.port, { topics: [topic], lastEventId: i2 });
  const [e] = await again.waitEvents(1);
  assert.deepEqual([e.idField, e.data], [i3, 'three']);
  await c.expectQuiet(100);
});
