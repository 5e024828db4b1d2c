// SSE subscriptions: response head, preamble (retry + position id), heartbeats, ids, fan-out,
// multi-topic streams, retain, multi-line data through the real npm `eventsource` client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { startServer } from '../support/server.mjs';
import { publishOk, publish, publishBatch, parseTopicId } from '../support/http.mjs';
import { subscribe, waitPreamble } from '../support/sse.mjs';
import { spawnCurl } from '../support/curl.mjs';
import { uniq, waitFor, sleep } from '../support/util.mjs';

let server;
before(async () => {
  server = await startServer(null, { args: ['--heartbeat-s', '1', '--threads', '2'] });
});
after(async () => {
  if (server) await server.teardown();
});

test('GET /v1/events answers 200 text/event-stream, no-store, X-Accel-Buffering: no, starting with retry:', async (t) => {
  const topic = uniq('head');
  const s = await subscribe(t, server.port, { topics: [topic] });
  assert.equal(s.status, 200);
  assert.match(s.headers['content-type'] ?? '', /^text\/event-stream/i);
  assert.match(s.headers['cache-control'] ?? '', /(^|[ ,])no-store([ ,]|$)/i);
  assert.equal((s.headers['x-accel-buffering'] ?? '').toLowerCase(), 'no');
  await waitPreamble(s);
  assert.match(s.raw, /^retry: ?\d+\r?\n/, `stream must start with retry:, got ${JSON.stringify(s.raw.slice(0, 80))}`);
  // Jittered per stream over [retry_ms, 2 × retry_ms) (docs/decisions.md), default retry_ms 2000.
  assert.ok(s.retry >= 2000 && s.retry < 4000, `retry ${s.retry}`);
});

test('the retry: an SSE stream starts with follows --retry-ms, jittered per stream up to twice it', async (t) => {
  const srv = await startServer(t, { args: ['--retry-ms', '750'] });
  const values = new Set();
  for (let i = 0; i < 8; i++) {
    const s = await subscribe(t, srv.port, { topics: [uniq('retry')] });
    await waitPreamble(s);
    assert.match(s.raw, /^retry: ?\d+\r?\n/, `got ${JSON.stringify(s.raw.slice(0, 80))}`);
    assert.ok(s.retry >= 750 && s.retry < 1500, `retry ${s.retry}`);
    values.add(s.retry);
    s.close();
  }
  assert.ok(values.size >= 2, `8 streams were all told the same retry: ${[...values]}`);
});

test('the preamble id is the current <epoch>-<seq> position and the next message is seq+1 with the publish id', async (t) => {
  const topic = uniq('pos');
  // A topic with history already: the preamble must point at its last message.
  const before1 = await publishOk(server.url, topic, 'before-1');
  const before2 = await publishOk(server.url, topic, 'before-2');
  const s = await subscribe(t, server.port, { topics: [topic] });
  const pre = await waitPreamble(s);
  assert.equal(pre.block.data, null, 'the preamble block carries no data');
  assert.equal(pre.id, before2, 'preamble id = position of the last message on the topic');
  assert.equal(parseTopicId(before2).seq, parseTopicId(before1).seq + 1n);

  const id3 = await publishOk(server.url, topic, 'live-3');
  const id4 = await publishOk(server.url, topic, 'live-4', { event: 'tick' });
  const [e3, e4] = await s.waitEvents(2);
  const p = parseTopicId(pre.id);
  assert.deepEqual(parseTopicId(id3), { epoch: p.epoch, seq: p.seq + 1n });
  assert.deepEqual(parseTopicId(id4), { epoch: p.epoch, seq: p.seq + 2n });
  assert.deepEqual(
    [e3, e4].map((e) => [e.idField, e.event, e.data]),
    [
      [id3, 'message', 'live-3'],
      [id4, 'tick', 'live-4'],
    ],
  );
  // No replay of the messages published before the subscription.
  assert.equal(s.events.filter((e) => e.data.startsWith('before')).length, 0);
});

test('a fresh topic: the preamble position and the first publish are consecutive', async (t) => {
  const topic = uniq('fresh');
  const s = await subscribe(t, server.port, { topics: [topic] });
  const pre = await waitPreamble(s);
  const p = parseTopicId(pre.id);
  const id1 = await publishOk(server.url, topic, 'first');
  assert.deepEqual(parseTopicId(id1), { epoch: p.epoch, seq: p.seq + 1n });
  const e = await s.next();
  assert.equal(e.idField, id1);
  assert.equal(e.data, 'first');
});

test('heartbeat comments arrive every heartbeat_s and dispatch nothing', async (t) => {
  const s = await subscribe(t, server.port, { topics: [uniq('hb')] });
  await waitPreamble(s);
  const t0 = Date.now();
  await s.until((x) => x.comments.length >= 2, 4000, 'two heartbeat comments (heartbeat_s = 1)');
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 400, `two heartbeats came after ${elapsed} ms: faster than heartbeat_s = 1`);
  assert.equal(s.eventCount, 0, 'a heartbeat must not dispatch an event');
  assert.match(s.raw, /(^|\n):[^\n]*\n/, 'heartbeat is a comment line starting with ":"');
  await sleep(1500);
  assert.ok(s.comments.length <= 6, `too many heartbeats: ${s.comments.length} in ~3 s`);
  assert.equal(s.ended, false, 'an idle stream with heartbeats stays open');
});

test('every subscriber of a topic gets every message in order with the same ids; other topics get none', async (t) => {
  const topic = uniq('fan');
  const other = uniq('other');
  const subs = [];
  for (let i = 0; i < 3; i++) {
    const s = await subscribe(t, server.port, { topics: [topic] });
    await waitPreamble(s);
    subs.push(s);
  }
  const bystander = await subscribe(t, server.port, { topics: [other] });
  await waitPreamble(bystander);
  const ids = [];
  for (let i = 0; i < 20; i++) ids.push(await publishOk(server.url, topic, `m${i}`));
  for (const s of subs) {
    const evs = await s.waitEvents(20);
    assert.deepEqual(evs.map((e) => e.idField), ids);
    assert.deepEqual(evs.map((e) => e.data), ids.map((_, i) => `m${i}`));
  }
  const sentinel = await publishOk(server.url, other, 'sentinel');
  const [e] = await bystander.waitEvents(1);
  assert.equal(e.idField, sentinel);
  await sleep(100);
  assert.equal(bystander.eventCount, 1, 'a subscriber of another topic received foreign messages');
  for (const s of subs) assert.equal(s.eventCount, 20, 'a subscriber received more than it should');
});

test('topics with slashes: published at /v1/topics/orders/42, delivered to topic=orders/42 only', async (t) => {
  const base = uniq('orders');
  const topic = `${base}/42`;
  const sibling = `${base}/43`;
  const s = await subscribe(t, server.port, { topics: [topic] });
  await waitPreamble(s);
  const r1 = await publish(server.url, sibling, 'not-for-42');
  assert.equal(r1.status, 201);
  const r2 = await publish(server.url, topic, 'for-42');
  assert.equal(r2.status, 201);
  assert.deepEqual(Object.keys(r2.body).sort(), ['id', 'topic']);
  assert.equal(r2.body.topic, topic);
  const [e] = await s.waitEvents(1);
  assert.equal(e.data, 'for-42');
  assert.equal(e.idField, r2.body.id);
  await sleep(100);
  assert.equal(s.eventCount, 1);
});

test('a multi-topic stream delivers each topic in order with opaque, distinct ids', async (t) => {
  const a = uniq('mA');
  const b = uniq('mB');
  const s = await subscribe(t, server.port, { topics: [a, b] });
  const pre = await waitPreamble(s);
  assert.ok(pre.id.length > 0, 'the preamble of a multi-topic stream carries a cursor');
  const sent = [];
  for (let i = 0; i < 10; i++) {
    const topic = i % 3 === 0 ? b : a;
    await publishOk(server.url, topic, `${topic}|${i}`);
    sent.push(`${topic}|${i}`);
  }
  const evs = await s.waitEvents(10);
  const perTopic = (list, topic) => list.filter((d) => d.startsWith(`${topic}|`));
  const got = evs.map((e) => e.data);
  assert.deepEqual(perTopic(got, a), perTopic(sent, a));
  assert.deepEqual(perTopic(got, b), perTopic(sent, b));
  const ids = evs.map((e) => e.idField);
  assert.ok(ids.every((id) => typeof id === 'string' && id.length > 0), 'every event carries an id');
  assert.equal(new Set([pre.id, ...ids]).size, 11, 'cursor ids must change with every event');
});

test('retain: a new subscriber without a resume position receives the latest retained message first', async (t) => {
  const topic = uniq('retain');
  await publishOk(server.url, topic, 'v1', { retain: true });
  const id2 = await publishOk(server.url, topic, 'v2', { retain: true, event: 'state' });
  const s = await subscribe(t, server.port, { topics: [topic] });
  const first = await s.next();
  assert.deepEqual([first.data, first.event, first.idField], ['v2', 'state', id2]);
  const live = await publishOk(server.url, topic, 'live');
  const second = await s.next();
  assert.deepEqual([second.data, second.idField], ['live', live]);
  assert.equal(s.events.filter((e) => e.data === 'v1').length, 0, 'an older retained message was replayed');
});

test('retain: a later non-retained publish keeps the retained message', async (t) => {
  const topic = uniq('retain-keep');
  const idR = await publishOk(server.url, topic, 'retained', { retain: true });
  await publishOk(server.url, topic, 'plain-1');
  const head = await publishOk(server.url, topic, 'plain-2');
  const s = await subscribe(t, server.port, { topics: [topic] });
  const first = await s.next();
  assert.equal(first.data, 'retained');
  // The contract does not say which id a replayed retained message carries: its own position, or
  // the topic's current one (so that a reconnect resumes from where the subscription started).
  assert.ok([idR, head].includes(first.idField), `retained message id ${first.idField}: neither ${idR} nor ${head}`);
  const live = await publishOk(server.url, topic, 'live');
  const second = await s.next();
  assert.deepEqual([second.data, second.idField], ['live', live]);
  assert.equal(s.eventCount, 2, 'only the retained message is replayed, not the plain ones');
});

test('retain: a subscriber with a resume position gets exactly what it missed, no extra retained copy', async (t) => {
  const topic = uniq('retain-resume');
  await publishOk(server.url, topic, 'r1', { retain: true });
  const pos = await publishOk(server.url, topic, 'p2');
  const s = await subscribe(t, server.port, { topics: [topic], lastEventId: pos });
  const id3 = await publishOk(server.url, topic, 'p3');
  const [e] = await s.waitEvents(1);
  assert.deepEqual([e.data, e.idField], ['p3', id3]);
  await sleep(100);
  assert.equal(s.eventCount, 1);
});

test('retain through batch publish', async (t) => {
  const topic = uniq('retain-batch');
  const res = await publishBatch(server.url, [
    { topic, data: 'b0' },
    { topic, data: 'b1', retain: true },
    { topic, data: 'b2' },
  ]);
  assert.equal(res.status, 200);
  const s = await subscribe(t, server.port, { topics: [topic] });
  const first = await s.next();
  assert.equal(first.data, 'b1');
  assert.ok(res.body.ids.slice(1).includes(first.idField), `retained id ${first.idField} is neither its own nor the head`);
});

test('multi-line and tricky data round-trips exactly through the npm eventsource client', async (t) => {
  const topic = uniq('multiline');
  const cases = [
    'single',
    'a\nb',
    'a\n\nb',
    '\nleading newline',
    'trailing newline\n',
    'x\n\n\n',
    '\n',
    ' leading space',
    '  two leading spaces\n indented',
    'colon: inside\ndata: looks like a field',
    'id: 99\nevent: fake\nretry: 1',
    ':not a comment\n:nor this',
    'ünïcødé ✓ 🎉\n第二行',
    'tab\tseparated\t',
    'x'.repeat(900) + '\n' + 'y'.repeat(100),
  ];
  const es = new EventSource(`${server.url}/v1/events?topic=${encodeURIComponent(topic)}`);
  t.after(() => es.close());
  const got = [];
  const errors = [];
  es.addEventListener('message', (e) => got.push({ type: e.type, data: e.data, id: e.lastEventId }));
  es.addEventListener('custom', (e) => got.push({ type: e.type, data: e.data, id: e.lastEventId }));
  es.addEventListener('error', (e) => errors.push(e.message ?? String(e)));
  await waitFor(() => es.readyState === EventSource.OPEN || errors.length, { timeoutMs: 5000, what: 'EventSource open' });
  assert.equal(es.readyState, EventSource.OPEN, `EventSource did not open: ${errors.join('; ')}`);
  const expected = [];
  for (let i = 0; i < cases.length; i++) {
    const event = i % 2 ? 'custom' : undefined;
    const id = await publishOk(server.url, topic, cases[i], { event });
    expected.push({ type: event ?? 'message', data: cases[i], id });
  }
  await waitFor(() => got.length >= cases.length, { timeoutMs: 5000, what: `${cases.length} EventSource messages (got ${got.length})` });
  for (let i = 0; i < cases.length; i++) {
    assert.deepEqual(got[i], expected[i], `case ${i} ${JSON.stringify(cases[i]).slice(0, 60)}`);
  }
  assert.equal(got.length, cases.length);
  assert.deepEqual(errors, []);
});

test('curl -N sees the stream start with retry: and receives a message', async (t) => {
  const topic = uniq('curl');
  const c = spawnCurl(t, ['-sS', '-N', '--max-time', '6', `${server.url}/v1/events?topic=${topic}`]);
  await waitFor(() => /\n\n/.test(c.output()), { timeoutMs: 4000, what: 'the preamble through curl' });
  const id = await publishOk(server.url, topic, 'via curl');
  await waitFor(() => /\ndata: ?via curl\n/.test(c.output()), { timeoutMs: 4000, what: 'the message through curl' });
  c.kill();
  const out = c.output();
  assert.match(out, /^retry: ?\d+\r?\n/);
  assert.ok(out.includes(`\nid: ${id}\n`) || out.includes(`\nid:${id}\n`), `id ${id} not in ${JSON.stringify(out)}`);
});
