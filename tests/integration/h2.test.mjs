// HTTP/2 in cleartext with prior knowledge (h2c): every API endpoint, SSE streams sharing one
// connection, resume and gap, the streaming publish as DATA frames, connection limits, bad input
// answered per stream or with GOAWAY, and GOAWAY on drain. Clients: curl --http2-prior-knowledge,
// nghttp, Node's http2 and raw frames.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startServer } from '../support/server.mjs';
import { curl, spawnCurl } from '../support/curl.mjs';
import { uniq, waitFor, sleep } from '../support/util.mjs';
import { connectH2, h2Request, h2Events, rawH2, frame, getHeaders, hpackLiterals, FRAME, ERROR, PREFACE } from '../support/h2.mjs';

const run = promisify(execFile);
let server;
before(async () => {
  server = await startServer(null, { args: ['--heartbeat-s', '1', '--threads', '2', '--max-message-bytes', '1024', '--history-max-messages', '5'] });
});
after(async () => {
  if (server) await server.teardown();
});

test('curl --http2-prior-knowledge: health, publish and an SSE stream over h2c', async (t) => {
  const topic = uniq('curl');
  const health = await curl(['-s', '-i', '--http2-prior-knowledge', `${server.url}/healthz`]);
  assert.match(health.stdout, /^HTTP\/2 200/);
  assert.match(health.stdout, /\r\n\r\nok\n$/);
  const listen = spawnCurl(t, ['-s', '-N', '-i', '--http2-prior-knowledge', '--max-time', '10', `${server.url}/v1/events?topic=${topic}`]);
  await waitFor(() => /retry: \d+/.test(listen.output()), { what: 'the preamble' });
  const pub = await curl(['-s', '-i', '--http2-prior-knowledge', '--data', 'over h2', `${server.url}/v1/topics/${topic}`]);
  assert.match(pub.stdout, /^HTTP\/2 201/);
  const id = JSON.parse(pub.stdout.split('\r\n\r\n')[1]).id;
  await waitFor(() => listen.output().includes(`id: ${id}\ndata: over h2\n\n`), { what: 'the published event' });
  assert.match(listen.output(), /^HTTP\/2 200 ?\r\ncontent-type: text\/event-stream\r\ncache-control: no-store\r\nx-accel-buffering: no\r\n/);
  listen.kill();
});

test('nghttp: several requests on one connection, publish with a body', async () => {
  const topic = uniq('nghttp');
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
  const dir = mkdtempSync('/tmp/sb-nghttp-');
  writeFileSync(`${dir}/body`, 'from nghttp');
  try {
    const pub = await run('nghttp', ['-v', '-d', `${dir}/body`, `${server.url}/v1/topics/${topic}`], { timeout: 10000 });
    assert.match(pub.stdout, /recv \(stream_id=\d+\) :status: 201/);
    assert.match(pub.stdout, /"topic":"[^"]+","id":"\d+-1"/);
    const many = await run('nghttp', ['-v', '-n', `${server.url}/healthz`, `${server.url}/readyz`, `${server.url}/nope`,
      `${server.url}/v1/topics/${topic}/history`], { timeout: 10000 });
    const statuses = [...many.stdout.matchAll(/recv \(stream_id=(\d+)\) :status: (\d+)/g)].map((m) => [Number(m[1]), m[2]]);
    statuses.sort((a, b) => a[0] - b[0]);
    assert.deepEqual(statuses.map((s) => s[1]), ['200', '200', '404', '200']);
    assert.equal((many.stdout.match(/send SETTINGS frame <length=\d+, flags=0x00/g) ?? []).length, 1, 'one connection');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every HTTP API endpoint answers over h2 as over HTTP/1.1', async (t) => {
  const h2 = await connectH2(t, server.url);
  const topic = uniq('api');
  const get = (path, headers) => h2Request(h2, { path, headers });

  let r = await get('/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'ok\n');
  assert.equal(r.headers['content-length'], '3');
  r = await h2Request(h2, { method: 'HEAD', path: '/healthz' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '3');
  assert.equal(r.body.length, 0);
  r = await get('/readyz');
  assert.equal(r.status, 200);
  r = await get('/');
  assert.equal(r.status, 200);
  assert.match(r.text, /<html/i);
  r = await get('/client.js');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /javascript/);

  r = await h2Request(h2, { method: 'POST', path: `/v1/topics/${topic}?event=greeting`, body: 'hello' });
  assert.equal(r.status, 201);
  assert.equal(r.json.topic, topic);
  assert.match(r.json.id, /^\d+-1$/);
  const first = r.json.id;
  r = await h2Request(h2, { method: 'POST', path: '/v1/publish', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ topic, data: 'two' }, { topic, data: 'three', event: 'x' }] }) });
  assert.equal(r.status, 200);
  assert.equal(r.json.ids.length, 2);
  assert.match(r.json.ids[1], /^\d+-3$/);
  r = await get(`/v1/topics/${topic}/history?since=${first}`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.messages.map((m) => [m.data, m.event ?? null]), [['two', null], ['three', 'x']]);
  r = await get(`/v1/topics/${topic}/presence`);
  assert.equal(r.status, 200);
  assert.equal(r.json.count, 0);
  r = await get('/metrics');
  assert.equal(r.status, 200);
  assert.match(r.text, /^switchboard_h2_connections \d+$/m);
  assert.ok(Number(/^switchboard_h2_connections (\d+)$/m.exec(r.text)[1]) >= 1);

  // Refusals, each on its own stream of the same connection.
  r = await get('/nope');
  assert.equal(r.status, 404);
  assert.equal(r.json.error, 'not_found');
  r = await h2Request(h2, { method: 'DELETE', path: `/v1/topics/${topic}` });
  assert.equal(r.status, 405);
  assert.match(r.headers.allow, /POST/);
  r = await h2Request(h2, { method: 'OPTIONS', path: `/v1/topics/${topic}`, headers: { origin: 'http://example.test', 'access-control-request-method': 'POST' } });
  assert.equal(r.status, 204);
  assert.ok(r.headers['access-control-allow-origin']);
  r = await h2Request(h2, { method: 'POST', path: '/v1/topics/bad//topic', body: 'x' });
  assert.equal(r.status, 400);
  r = await h2Request(h2, { method: 'POST', path: `/v1/topics/${topic}`, body: 'x'.repeat(2000) });
  assert.equal(r.status, 413);
  r = await h2Request(h2, { method: 'POST', path: `/v1/topics/${topic}`, headers: { 'content-length': '5000' }, body: 'x'.repeat(5000) });
  assert.equal(r.status, 413);
  r = await get('/v1/events');
  assert.equal(r.status, 400);
  r = await get(`/v1/events?topic=${topic}&since=garbage`);
  assert.equal(r.status, 400);
  // A plain GET is not a WebSocket handshake (over h2 that is an extended CONNECT, RFC 8441):
  // 426, as a GET without Upgrade gets over HTTP/1.1 (h2-websocket.test.mjs has the rest).
  r = await get('/v1/ws');
  assert.equal(r.status, 426);
  r = await get('/healthz');
  assert.equal(r.status, 200, 'the connection outlives every refusal');
});

test('SSE streams share one h2 connection, each receiving its own topic', async (t) => {
  const h2 = await connectH2(t, server.url);
  const topics = [uniq('a'), uniq('b'), uniq('c')];
  const streams = topics.map((topic) => h2Events(t, h2, `/v1/events?topic=${topic}`));
  const multi = h2Events(t, h2, `/v1/events?topic=${topics[0]}&topic=${topics[2]}`);
  for (const s of [...streams, multi]) {
    await s.ready;
    assert.equal(s.status, 200);
    assert.equal(s.headers['content-type'], 'text/event-stream');
  }
  await waitFor(() => [...streams, multi].every((s) => /retry: \d+/.test(s.raw)), { what: 'preambles' });
  for (let i = 0; i < 5; i++) {
    for (const topic of topics) {
      const r = await h2Request(h2, { method: 'POST', path: `/v1/topics/${topic}`, body: `${topic}#${i}` });
      assert.equal(r.status, 201);
    }
  }
  for (const [k, s] of streams.entries()) {
    await s.waitEvents(5);
    assert.deepEqual(s.events.map((e) => e.data), [0, 1, 2, 3, 4].map((i) => `${topics[k]}#${i}`));
    assert.deepEqual(s.events.map((e) => e.id.split('-')[1]), ['1', '2', '3', '4', '5']);
  }
  await multi.waitEvents(10);
  assert.deepEqual(multi.events.map((e) => e.data).sort(), [0, 1, 2, 3, 4].flatMap((i) => [`${topics[0]}#${i}`, `${topics[2]}#${i}`]).sort());
  assert.ok(multi.events.every((e) => e.id.startsWith('c')), 'a multi-topic stream carries cursors');
  // Heartbeats reach every stream (heartbeat_s = 1).
  await waitFor(() => streams.every((s) => s.blocks.some((b) => b.comments.length > 0)), { what: 'heartbeats', timeoutMs: 4000 });
});

test('resume with Last-Event-ID and a gap over h2', async (t) => {
  const h2 = await connectH2(t, server.url);
  const topic = uniq('resume');
  const ids = [];
  for (let i = 0; i < 4; i++) {
    const r = await h2Request(h2, { method: 'POST', path: `/v1/topics/${topic}`, body: `m${i}` });
    ids.push(r.json.id);
  }
  const resumed = h2Events(t, h2, `/v1/events?topic=${topic}`, { headers: { 'last-event-id': ids[1] } });
  await resumed.waitEvents(2);
  assert.deepEqual(resumed.events.map((e) => [e.id, e.data]), [[ids[2], 'm2'], [ids[3], 'm3']]);
  // History keeps 5: after 8 more, ids[0] is gone.
  for (let i = 4; i < 12; i++) {
    await h2Request(h2, { method: 'POST', path: `/v1/topics/${topic}`, body: `m${i}` });
  }
  const late = h2Events(t, h2, `/v1/events?topic=${topic}`, { headers: { 'last-event-id': ids[0] } });
  await waitFor(() => late.blocks.some((b) => b.eventType === 'gap' || b.event === 'gap'), { what: 'event: gap' });
  assert.match(late.raw, new RegExp(`event: gap\\ndata: \\{"topics":\\["${topic.replace(/[.]/g, '\\.')}"\\]\\}\\n\\n`));
  await resumed.waitEvents(10);
  assert.equal(resumed.events.at(-1).data, 'm11');
});

test('streaming publish over h2: each event is published as its DATA frame arrives', async (t) => {
  const h2 = await connectH2(t, server.url);
  const topic = uniq('stream');
  const listen = h2Events(t, h2, `/v1/events?topic=${topic}`);
  await waitFor(() => listen.raw.includes('retry:'), { what: 'preamble' });
  const req = h2.request({ ':method': 'POST', ':path': `/v1/topics/${topic}/stream`, 'content-type': 'text/event-stream' });
  let answer = '';
  let status;
  req.on('response', (h) => { status = h[':status']; });
  req.setEncoding('utf8');
  req.on('data', (s) => { answer += s; });
  const closed = new Promise((resolve) => req.on('close', resolve));
  req.write('data: token-1\n\n');
  await listen.waitEvents(1);
  assert.equal(listen.events[0].data, 'token-1');
  assert.equal(status, undefined, 'the request is still open while its first event is delivered');
  req.write('event: tok\ndata: token-2\n\ndata: tok');
  await listen.waitEvents(2);
  req.end('en-3\n\n');
  await closed;
  assert.equal(status, 200);
  const body = JSON.parse(answer);
  assert.equal(body.published, 3);
  await listen.waitEvents(3);
  assert.deepEqual(listen.events.map((e) => e.data), ['token-1', 'token-2', 'token-3']);
  assert.equal(body.last_id, listen.events[2].id);
});

test('a stalled stream does not delay the others; over the bound it is reset (resume policy)', async (t) => {
  const s2 = await startServer(t, { args: ['--send-queue-max-bytes', '65536', '--max-message-bytes', '4096'] });
  // Small stream windows, a large connection window: only the paused stream stops.
  const h2 = await connectH2(t, s2.url, { settings: { initialWindowSize: 16384 } });
  h2.setLocalWindowSize(64 << 20);
  const slowTopic = uniq('slow');
  const fastTopic = uniq('fast');
  const stalled = h2Events(t, h2, `/v1/events?topic=${slowTopic}`, { paused: true });
  const healthy = h2Events(t, h2, `/v1/events?topic=${fastTopic}`);
  await waitFor(() => healthy.raw.includes('retry:'), { what: 'preamble' });
  const pub = await connectH2(t, s2.url);
  const payload = 'x'.repeat(2000);
  const sentAt = [];
  for (let i = 0; i < 80; i++) {
    await h2Request(pub, { method: 'POST', path: `/v1/topics/${slowTopic}`, body: payload });
    if (i % 8 === 0) {
      sentAt.push(Date.now());
      await h2Request(pub, { method: 'POST', path: `/v1/topics/${fastTopic}`, body: `fast-${i}` });
    }
  }
  await healthy.waitEvents(10);
  assert.deepEqual(healthy.events.map((e) => e.data), Array.from({ length: 10 }, (_, k) => `fast-${k * 8}`));
  // The stalled stream took at most its window plus the bound, then was reset with CANCEL.
  await waitFor(() => stalled.closed, { what: 'the stalled stream to be reset' });
  assert.equal(stalled.rstCode, 8);
  const m = await h2Request(pub, { path: '/metrics' });
  assert.match(m.text, /^switchboard_slow_consumer_closes_total\{transport="sse"\} [1-9]/m);
  // The connection and its healthy stream go on.
  const r = await h2Request(pub, { method: 'POST', path: `/v1/topics/${fastTopic}`, body: 'after' });
  assert.equal(r.status, 201);
  await healthy.waitEvents(11);
  assert.equal(healthy.events[10].data, 'after');
  assert.equal(healthy.closed, false);
});

test('bad input over h2: RST_STREAM for a bad stream, the others unaffected; GOAWAY for a bad connection', async (t) => {
  const topic = uniq('bad');
  const c = await rawH2(t, server.port);
  c.write(getHeaders(1, `/v1/events?topic=${topic}`));
  await c.waitFor((f) => f.type === FRAME.HEADERS && f.streamId === 1, 5000, 'the SSE head on stream 1');
  // An upper-case field name is malformed (RFC 9113 8.2.1): that stream is reset.
  c.write(getHeaders(3, '/healthz', [['X-Upper', 'no']]));
  const rst = await c.waitFor((f) => f.type === FRAME.RST_STREAM && f.streamId === 3, 5000, 'RST_STREAM on 3');
  assert.equal(rst.payload.readUInt32BE(0), ERROR.PROTOCOL_ERROR);
  // A request without :path is malformed too.
  c.write(frame(FRAME.HEADERS, 0x5, 5, hpackLiterals([[':method', 'GET'], [':scheme', 'http'], [':authority', 'x']])));
  const rst5 = await c.waitFor((f) => f.type === FRAME.RST_STREAM && f.streamId === 5, 5000, 'RST_STREAM on 5');
  assert.equal(rst5.payload.readUInt32BE(0), ERROR.PROTOCOL_ERROR);
  // Stream 1 is unaffected: a message published now arrives on it.
  const pub = await connectH2(t, server.url);
  const r = await h2Request(pub, { method: 'POST', path: `/v1/topics/${topic}`, body: 'still here' });
  assert.equal(r.status, 201);
  await c.waitFor((f) => f.type === FRAME.DATA && f.streamId === 1 && f.payload.toString().includes('data: still here\n'), 5000, 'the event on stream 1');
  // DATA on stream 0 breaks the connection itself: GOAWAY PROTOCOL_ERROR, then close.
  c.write(frame(FRAME.DATA, 0, 0, Buffer.from('x')));
  const goaway = await c.waitFor((f) => f.type === FRAME.GOAWAY, 5000, 'GOAWAY');
  assert.equal(goaway.payload.readUInt32BE(4), ERROR.PROTOCOL_ERROR);
  assert.equal(goaway.payload.readUInt32BE(0) & 0x7fffffff, 5, 'the last stream the server processed');
  await c.waitClosed();
});

test('a header list over h2_max_header_list_size is a 431 on its stream only', async (t) => {
  const big = Array.from({ length: 200 }, (_, i) => ['-H', `x-h${i}: ${'y'.repeat(100)}`]).flat();
  const out = await run('nghttp', ['-v', '-n', ...big, `${server.url}/healthz`], { timeout: 10000 });
  assert.match(out.stdout, /recv \(stream_id=13\) :status: 431/);
  assert.doesNotMatch(out.stdout, /recv GOAWAY/);
});

test('a bad preface gets no HTTP/2 answer and the connection closes', async (t) => {
  const c = await rawH2(t, server.port, { preface: false });
  c.write(Buffer.concat([PREFACE.subarray(0, 20), Buffer.from('XXXX'), frame(FRAME.SETTINGS, 0, 0)]));
  await c.waitClosed();
  assert.ok(!c.frames.some((f) => f.type === FRAME.HEADERS));
});

test('h2_max_concurrent_streams: a stream over the limit is refused, the open ones go on', async (t) => {
  const s2 = await startServer(t, { args: ['--h2-max-concurrent-streams', '2'] });
  const topic = uniq('limit');
  const c = await rawH2(t, s2.port);
  await c.waitFor((f) => f.type === FRAME.SETTINGS && f.flags === 1, 5000, 'SETTINGS ack');
  const settings = c.frames.find((f) => f.type === FRAME.SETTINGS && f.flags === 0);
  const entries = new Map();
  for (let i = 0; i + 6 <= settings.payload.length; i += 6) entries.set(settings.payload.readUInt16BE(i), settings.payload.readUInt32BE(i + 2));
  assert.equal(entries.get(3), 2, 'SETTINGS_MAX_CONCURRENT_STREAMS');
  assert.equal(entries.get(6), 16384, 'SETTINGS_MAX_HEADER_LIST_SIZE');
  c.write(getHeaders(1, `/v1/events?topic=${topic}`));
  c.write(getHeaders(3, `/v1/events?topic=${topic}`));
  await c.waitFor((f) => f.type === FRAME.HEADERS && f.streamId === 3, 5000, 'the SSE head on stream 3');
  c.write(getHeaders(5, '/healthz'));
  const refused = await c.waitFor((f) => (f.type === FRAME.RST_STREAM && f.streamId === 5) || f.type === FRAME.GOAWAY, 5000, 'a refusal of stream 5');
  if (refused.type === FRAME.RST_STREAM) {
    assert.equal(refused.payload.readUInt32BE(0), ERROR.REFUSED_STREAM);
  } else {
    assert.equal(refused.payload.readUInt32BE(4), ERROR.PROTOCOL_ERROR);
  }
  assert.ok(!c.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === 5));
});

test('drain: GOAWAY (NO_ERROR) on every h2 connection, SSE streams end with a retry:', async (t) => {
  const s2 = await startServer(t, { args: ['--drain-rate', '1000'] });
  const h2 = await connectH2(t, s2.url);
  const topic = uniq('drain');
  let goaway;
  h2.on('goaway', (code, last) => { goaway = { code, last }; });
  const s = h2Events(t, h2, `/v1/events?topic=${topic}`);
  await waitFor(() => /retry: \d+/.test(s.raw), { what: 'preamble' });
  const stopped = s2.stop('SIGTERM', 8000);
  await waitFor(() => goaway && s.closed, { what: 'GOAWAY and the end of the stream', timeoutMs: 8000 });
  assert.equal(goaway.code, 0);
  assert.equal(goaway.last, 1);
  assert.equal(s.rstCode, 0, 'the stream ended cleanly (END_STREAM)');
  assert.match(s.raw, /\nretry: \d+\n\n?$/);
  const res = await stopped;
  assert.equal(res.code, 0);
});

test('a request whose body does not arrive within header_timeout_ms is a 408 on its stream', async (t) => {
  const s2 = await startServer(t, { args: ['--header-timeout-ms', '300'] });
  const h2 = await connectH2(t, s2.url);
  const req = h2.request({ ':method': 'POST', ':path': `/v1/topics/${uniq('slow')}` }, { endStream: false });
  req.write('partial');
  const t0 = Date.now();
  const status = await new Promise((resolve) => req.on('response', (h) => resolve(h[':status'])));
  assert.equal(status, 408);
  assert.ok(Date.now() - t0 < 3000);
  const r = await h2Request(h2, { path: '/healthz' });
  assert.equal(r.status, 200, 'the connection goes on');
});
