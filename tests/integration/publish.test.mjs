// Publishing: single POST, batch, topic-name rules, history paging, streaming publish
// (a chunked text/event-stream request body published event by event while it is still open).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import {
  publish,
  publishOk,
  publishBatch,
  history,
  parseTopicId,
  request,
  RawConn,
  topicPath,
} from '../support/http.mjs';
import { subscribe, waitPreamble, eventsPath } from '../support/sse.mjs';
import { spawnCurl } from '../support/curl.mjs';
import { uniq, sleep } from '../support/util.mjs';

let server;
before(async () => {
  server = await startServer(null, { args: ['--threads', '2'] });
});
after(async () => {
  if (server) await server.teardown();
});

test('POST /v1/topics/{topic} answers 201 {"topic","id"}; seq +1 per message; topics count independently', async () => {
  const a = uniq('pa');
  const b = uniq('pb');
  const res = await publish(server.url, a, 'hello');
  assert.equal(res.status, 201);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/i);
  assert.deepEqual(Object.keys(res.body).sort(), ['id', 'topic']);
  assert.equal(res.body.topic, a);
  const p1 = parseTopicId(res.body.id);
  const ids = [res.body.id];
  for (let i = 0; i < 4; i++) ids.push(await publishOk(server.url, a, `x${i}`));
  ids.forEach((id, i) => assert.deepEqual(parseTopicId(id), { epoch: p1.epoch, seq: p1.seq + BigInt(i) }));
  const b1 = parseTopicId(await publishOk(server.url, b, 'other'));
  const a6 = parseTopicId(await publishOk(server.url, a, 'x5'));
  assert.equal(a6.seq, p1.seq + 5n, 'a publish to another topic must not advance this topic');
  assert.ok(b1.seq <= p1.seq + 5n);
});

test('the 201 comes after the message is in history', async () => {
  const topic = uniq('ack');
  for (let i = 0; i < 5; i++) {
    const id = await publishOk(server.url, topic, `h${i}`);
    const h = await history(server.url, topic);
    assert.equal(h.status, 200);
    assert.equal(h.body.messages.at(-1).id, id, `message ${i} not in history right after its 201`);
  }
});

test('?event= sets the SSE event type and the history event', async (t) => {
  const topic = uniq('evt');
  const s = await subscribe(t, server.port, { topics: [topic] });
  await waitPreamble(s);
  const id1 = await publishOk(server.url, topic, 'p1', { event: 'price' });
  const id2 = await publishOk(server.url, topic, 'p2');
  const evs = await s.waitEvents(2);
  assert.deepEqual(
    evs.map((e) => [e.idField, e.event, e.data]),
    [
      [id1, 'price', 'p1'],
      [id2, 'message', 'p2'],
    ],
  );
  const h = await history(server.url, topic);
  assert.equal(h.body.messages[0].event, 'price');
  assert.ok([null, undefined, '', 'message'].includes(h.body.messages[1].event), `event of a plain message: ${JSON.stringify(h.body.messages[1].event)}`);
});

test('POST /v1/publish answers 200 {"ids"} in request order and delivers in that order', async (t) => {
  const a = uniq('ba');
  const b = uniq('bb');
  const sa = await subscribe(t, server.port, { topics: [a] });
  const sb = await subscribe(t, server.port, { topics: [b] });
  await waitPreamble(sa);
  await waitPreamble(sb);
  const messages = [
    { topic: a, data: 'a0' },
    { topic: b, data: 'b0', event: 'bee' },
    { topic: a, data: 'a1\nline2', event: 'ay' },
    { topic: a, data: 'a2' },
    { topic: b, data: 'b1' },
  ];
  const res = await publishBatch(server.url, messages);
  assert.equal(res.status, 200, res.text);
  assert.ok(Array.isArray(res.body.ids) && res.body.ids.length === 5, res.text);
  const ids = res.body.ids;
  const pa = ids.filter((_, i) => messages[i].topic === a).map(parseTopicId);
  const pb = ids.filter((_, i) => messages[i].topic === b).map(parseTopicId);
  assert.deepEqual(pa.map((p) => p.seq - pa[0].seq), [0n, 1n, 2n]);
  assert.deepEqual(pb.map((p) => p.seq - pb[0].seq), [0n, 1n]);
  const ea = await sa.waitEvents(3);
  const eb = await sb.waitEvents(2);
  assert.deepEqual(
    ea.map((e) => [e.idField, e.event, e.data]),
    [
      [ids[0], 'message', 'a0'],
      [ids[2], 'ay', 'a1\nline2'],
      [ids[3], 'message', 'a2'],
    ],
  );
  assert.deepEqual(
    eb.map((e) => [e.idField, e.event, e.data]),
    [
      [ids[1], 'bee', 'b0'],
      [ids[4], 'message', 'b1'],
    ],
  );
});

test('POST /v1/publish rejects invalid JSON, a bad shape and an invalid topic with 400', async () => {
  const good = uniq('bgood');
  const cases = [
    ['not json', '{"messages":[{"topic":"a","data":"x"}'],
    ['not an object', '[1,2,3]'],
    ['messages not an array', '{"messages":{"topic":"a","data":"x"}}'],
    ['invalid topic', JSON.stringify({ messages: [{ topic: good, data: 'ok' }, { topic: 'a//b', data: 'x' }] })],
    ['reserved last segment', JSON.stringify({ messages: [{ topic: `${good}/history`, data: 'x' }] })],
    ['missing topic', JSON.stringify({ messages: [{ data: 'x' }] })],
  ];
  for (const [what, body] of cases) {
    const res = await request(`${server.url}/v1/publish`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400, `${what}: expected 400, got ${res.status} ${res.text.slice(0, 100)}`);
  }
});

test('topic names: the allowed alphabet and 200 bytes pass; everything else is 400 on publish and subscribe', async () => {
  const valid = [
    'a',
    'Az09_-.:@',
    'orders/42/items',
    'user@example.com:inbox',
    'x'.repeat(200),
    `${'s/'.repeat(99)}s`, // 199 bytes, 100 segments
    'stream/x',
    'history/presence/ok',
    'streams',
  ];
  for (const topic of valid) {
    const res = await publish(server.url, topic, 'v');
    assert.equal(res.status, 201, `valid topic ${JSON.stringify(topic.slice(0, 40))} got ${res.status} ${res.text.slice(0, 100)}`);
    assert.equal(res.body.topic, topic);
  }
  const invalid = [
    'x'.repeat(201),
    'a//b',
    'a/',
    'a b',
    'a#b',
    'a*',
    'a+b',
    'é',
    'a%b',
    'a~b',
    'x/stream',
    'x/history',
    'x/presence',
  ];
  for (const topic of invalid) {
    const sub = await request(`${server.url}${eventsPath({ topics: [topic] })}`, { timeoutMs: 3000 });
    assert.equal(sub.status, 400, `subscribe to ${JSON.stringify(topic.slice(0, 40))} got ${sub.status}`);
    const batch = await publishBatch(server.url, [{ topic, data: 'x' }]);
    assert.equal(batch.status, 400, `batch publish to ${JSON.stringify(topic.slice(0, 40))} got ${batch.status}`);
  }
  // In a path: empty segments and percent-encoded bytes outside the alphabet.
  for (const path of ['/v1/topics/a//b', '/v1/topics/a%20b', '/v1/topics/%C3%A9', `/v1/topics/${'y'.repeat(201)}`, '/v1/topics/a%2Fb%2F']) {
    const res = await request(`${server.url}${path}`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 400, `POST ${path.slice(0, 60)} got ${res.status}`);
  }
  const sub = await request(`${server.url}/v1/events?topic=`, { timeoutMs: 3000 });
  assert.equal(sub.status, 400, 'an empty topic name is invalid');
});

test('history: messages with id/event/data/time, since exclusive, limit pages forward, next null at the end', async () => {
  const topic = uniq('hist');
  const t0 = Date.now();
  const sent = [];
  for (let i = 0; i < 10; i++) {
    const data = i === 4 ? 'multi\nline' : `h${i}`;
    const event = i % 3 === 0 ? 'third' : undefined;
    sent.push({ id: await publishOk(server.url, topic, data, { event }), data, event });
  }
  const t1 = Date.now();
  const all = await history(server.url, topic);
  assert.equal(all.status, 200);
  assert.match(all.headers['content-type'] ?? '', /^application\/json/i);
  assert.deepEqual(all.body.messages.map((m) => m.id), sent.map((m) => m.id));
  assert.deepEqual(all.body.messages.map((m) => m.data), sent.map((m) => m.data));
  all.body.messages.forEach((m, i) => {
    if (sent[i].event) assert.equal(m.event, sent[i].event);
    else assert.ok([null, undefined, '', 'message'].includes(m.event));
    assert.ok(m.time !== undefined && m.time !== null, 'history entries carry a time');
    const ms = typeof m.time === 'number' ? (m.time > 1e11 ? m.time : m.time * 1000) : Date.parse(m.time);
    assert.ok(ms >= t0 - 2000 && ms <= t1 + 2000, `time ${JSON.stringify(m.time)} is not the publish time`);
  });
  assert.equal(all.body.next, null);

  const since = await history(server.url, topic, { since: sent[6].id });
  assert.deepEqual(since.body.messages.map((m) => m.id), sent.slice(7).map((m) => m.id), 'since is exclusive');
  assert.equal(since.body.next, null);

  const pages = [];
  let cursor;
  for (let guard = 0; guard < 10; guard++) {
    const page = await history(server.url, topic, { since: cursor, limit: 3 });
    assert.equal(page.status, 200);
    pages.push(page.body.messages.map((m) => m.data));
    if (page.body.next === null) break;
    assert.equal(typeof page.body.next, 'string', `next must be an id or null, got ${JSON.stringify(page.body.next)}`);
    cursor = page.body.next;
  }
  assert.deepEqual(pages, [
    ['h0', 'h1', 'h2'],
    ['h3', 'multi\nline', 'h5'],
    ['h6', 'h7', 'h8'],
    ['h9'],
  ]);

  const exact = await history(server.url, topic, { since: sent[4].id, limit: 5 });
  assert.deepEqual(exact.body.messages.map((m) => m.id), sent.slice(5).map((m) => m.id));
  assert.equal(exact.body.next, null, 'a page that reached the end has next null');

  const atEnd = await history(server.url, topic, { since: sent[9].id });
  assert.deepEqual(atEnd.body.messages, []);
  assert.equal(atEnd.body.next, null);
});

/** A chunk of a chunked request body. */
function chunk(s) {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
}

test('streaming publish: each complete event is published while the request is still open', async (t) => {
  const topic = uniq('stream');
  const s = await subscribe(t, server.port, { topics: [topic] });
  await waitPreamble(s);
  const conn = await RawConn.open(server.port);
  t.after(() => conn.destroy());
  await conn.write(
    `POST ${topicPath(topic, '/stream')} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n` +
      'Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n',
  );
  let sentAt = Date.now();
  await conn.write(chunk('event: token\ndata: Hello\n\n'));
  const [e1] = await s.waitEvents(1, 3000);
  const latency = Date.now() - sentAt;
  assert.deepEqual([e1.event, e1.data], ['token', 'Hello']);
  assert.ok(latency < 1000, `first event took ${latency} ms`);
  assert.equal(conn.eof, false, 'the server closed the publishing request after one event');

  // An event split over chunks is published only once its blank line arrives.
  await conn.write(chunk('event: token\ndata: wor'));
  await sleep(150);
  await conn.write(chunk('ld\n'));
  await sleep(250);
  assert.equal(s.eventCount, 1, 'an incomplete event was published');
  sentAt = Date.now();
  await conn.write(chunk('\n'));
  await s.waitEvents(2, 3000);
  assert.ok(Date.now() - sentAt < 1000);

  // Several events in one chunk, multi-line data, CRLF line ends, comments.
  await conn.write(chunk('event: a\ndata: x\ndata: y\n\n: just a comment\n\nevent: b\ndata: z\n\n'));
  await conn.write(chunk('data: crlf\r\n\r\n'));
  await s.waitEvents(5, 3000);
  await conn.write(Buffer.from('0\r\n\r\n'));
  const res = await conn.readResponse({ timeoutMs: 5000 });
  assert.ok(res.status >= 200 && res.status < 300, `final status ${res.status} ${res.text}`);
  await sleep(150);
  assert.deepEqual(
    s.events.map((e) => [e.event, e.data]),
    [
      ['token', 'Hello'],
      ['token', 'world'],
      ['a', 'x\ny'],
      ['b', 'z'],
      ['message', 'crlf'],
    ],
  );
  const seqs = s.events.map((e) => parseTopicId(e.idField).seq);
  assert.deepEqual(seqs.map((q) => q - seqs[0]), [0n, 1n, 2n, 3n, 4n]);
  const h = await history(server.url, topic);
  assert.deepEqual(h.body.messages.map((m) => m.data), ['Hello', 'world', 'x\ny', 'z', 'crlf']);
});

test('streaming publish from a pipe with curl -T - (token by token)', async (t) => {
  const topic = uniq('curlstream');
  const s = await subscribe(t, server.port, { topics: [topic] });
  await waitPreamble(s);
  const c = spawnCurl(t, [
    '-sS',
    '-X',
    'POST',
    '-T',
    '-',
    '-H',
    'Content-Type: text/event-stream',
    '-H',
    'Expect:',
    '--max-time',
    '15',
    `${server.url}${topicPath(topic, '/stream')}`,
  ]);
  const tokens = ['The', ' quick', ' brown', ' fox'];
  for (let i = 0; i < tokens.length; i++) {
    c.stdin.write(`event: token\ndata: ${tokens[i]}\n\n`);
    const evs = await s.waitEvents(i + 1, 3000);
    assert.equal(evs[i].data, tokens[i]);
  }
  c.stdin.end('event: done\ndata: [DONE]\n\n');
  const { code } = await c.done;
  assert.equal(code, 0, `curl failed: ${c.stderr()}`);
  await s.waitEvents(5, 3000);
  assert.deepEqual(
    s.events.map((e) => [e.event, e.data]),
    [...tokens.map((x) => ['token', x]), ['done', '[DONE]']],
  );
});
