// Bad input gets a clear answer and costs nothing else: 400, 404, 405 (+Allow), 408 (+close),
// 413, 431 — each checked on exact bytes over a raw socket, and after each the server still
// serves another client end to end (subscribe, publish, receive).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { publish, publishOk, publishBatch, request, RawConn, rawExchange, topicPath } from '../support/http.mjs';
import { subscribe, waitPreamble, eventsPath } from '../support/sse.mjs';
import { uniq } from '../support/util.mjs';

let server;
before(async () => {
  server = await startServer(null, {
    args: ['--header-timeout-ms', '500', '--max-message-bytes', '1024', '--max-request-bytes', '65536', '--threads', '2'],
  });
});
after(async () => {
  if (server) await server.teardown();
});

/** Another client still gets the full path: subscribe, publish, receive. */
async function stillServes(t) {
  const topic = uniq('alive');
  const s = await subscribe(t, server.port, { topics: [topic] });
  await waitPreamble(s);
  const id = await publishOk(server.url, topic, 'still here');
  const [e] = await s.waitEvents(1, 3000);
  assert.deepEqual([e.idField, e.data], [id, 'still here']);
  s.close();
}

const host = () => `Host: 127.0.0.1:${server.port}\r\n`;

test('malformed request lines and heads get 400', async (t) => {
  const cases = [
    'GARBAGE\r\n\r\n',
    'GET\r\n\r\n',
    `GET /healthz HTTX/1.1\r\n${host()}\r\n`,
    '\x00\x01\x02\x03 junk\r\n\r\n',
    `GET /healthz HTTP/1.1\r\n${host()}this line has no colon\r\n\r\n`,
    `GET /healthz HTTP/1.1\r\n${host()}Content-Length: banana\r\n\r\n`,
  ];
  for (const bytes of cases) {
    const res = await rawExchange(server.port, Buffer.from(bytes, 'latin1'), { timeoutMs: 3000 });
    assert.equal(res.status, 400, `${JSON.stringify(bytes.slice(0, 40))} got ${res.statusLine}`);
  }
  await stillServes(t);
});

test('invalid topics get 400 on publish, subscribe and history', async (t) => {
  for (const [method, path] of [
    ['POST', '/v1/topics/a//b'],
    ['POST', '/v1/topics/bad%20topic'],
    ['POST', `/v1/topics/${'z'.repeat(201)}`],
    ['GET', eventsPath({ topics: ['ok', 'not ok'] })],
    ['GET', eventsPath({ topics: ['x/presence'] })],
    ['GET', '/v1/topics/a//b/history'],
  ]) {
    const res = await request(`${server.url}${path}`, { method, body: method === 'POST' ? 'x' : undefined, timeoutMs: 3000 });
    assert.equal(res.status, 400, `${method} ${path.slice(0, 60)} got ${res.status}`);
  }
  await stillServes(t);
});

test('data that is not UTF-8 gets 400 and is not published', async (t) => {
  const topic = uniq('utf8');
  for (const bytes of [Buffer.from([0x61, 0xff, 0x62]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80])]) {
    const res = await request(`${server.url}${topicPath(topic)}`, { method: 'POST', body: bytes });
    assert.equal(res.status, 400, `body ${bytes.toString('hex')} got ${res.status}`);
  }
  const hist = await request(`${server.url}${topicPath(topic, '/history')}`);
  assert.deepEqual(JSON.parse(hist.text).messages, []);
  await stillServes(t);
});

test('unknown paths get 404', async (t) => {
  for (const [method, path] of [
    ['GET', '/nope'],
    ['GET', '/v1/nope'],
    ['POST', '/v1/nope'],
    ['GET', '/v2/events?topic=a'],
    ['GET', '/v1/eventsx?topic=a'],
  ]) {
    const res = await request(`${server.url}${path}`, { method, body: method === 'POST' ? 'x' : undefined, timeoutMs: 3000 });
    assert.equal(res.status, 404, `${method} ${path} got ${res.status}`);
  }
  await stillServes(t);
});

test('a wrong method on a known path gets 405 with an Allow header', async (t) => {
  const topic = uniq('m');
  for (const [method, path, allowed] of [
    ['DELETE', '/v1/events?topic=a', 'GET'],
    ['POST', '/v1/events?topic=a', 'GET'],
    ['GET', '/v1/publish', 'POST'],
    ['PUT', '/v1/publish', 'POST'],
    ['PUT', topicPath(topic), 'POST'],
    ['DELETE', topicPath(topic), 'POST'],
    ['POST', topicPath(topic, '/history'), 'GET'],
    ['GET', topicPath(topic, '/stream'), 'POST'],
    ['POST', '/healthz', 'GET'],
    ['DELETE', '/metrics', 'GET'],
  ]) {
    const res = await request(`${server.url}${path}`, { method, body: method === 'POST' || method === 'PUT' ? 'x' : undefined, timeoutMs: 3000 });
    assert.equal(res.status, 405, `${method} ${path} got ${res.status}`);
    const allow = (res.headers.allow ?? '').split(',').map((x) => x.trim().toUpperCase());
    assert.ok(allow.includes(allowed), `${method} ${path}: Allow ${JSON.stringify(res.headers.allow)} lacks ${allowed}`);
    assert.ok(!allow.includes(method), `${method} ${path}: Allow lists the rejected method`);
  }
  await stillServes(t);
});

test('a request head not complete within header_timeout_ms gets 408 and the connection is closed', async (t) => {
  // Half a head, then silence.
  const c1 = await RawConn.open(server.port);
  t.after(() => c1.destroy());
  const t0 = Date.now();
  await c1.write(`GET /healthz HTTP/1.1\r\n${host()}X-Partial: yes\r\n`);
  const r1 = await c1.readResponse({ timeoutMs: 4000 });
  const waited = Date.now() - t0;
  assert.equal(r1.status, 408, r1.statusLine);
  assert.ok(waited >= 400, `408 after ${waited} ms, before header_timeout_ms = 500`);
  assert.ok(waited < 3000, `408 only after ${waited} ms`);
  assert.ok(await c1.waitClosed(2000), 'the connection stays open after 408');

  // A trickle that never goes idle still has to finish the head in time (not an idle timer).
  const c2 = await RawConn.open(server.port);
  t.after(() => c2.destroy());
  const head = `GET /healthz HTTP/1.1\r\n${host()}X-Slow: ${'s'.repeat(200)}\r\n\r\n`;
  const t2 = Date.now();
  let sent = 0;
  while (!c2.eof && sent < head.length - 4 && Date.now() - t2 < 4000) {
    await c2.write(head[sent++]);
    await new Promise((r) => setTimeout(r, 40));
  }
  const r2 = await c2.readResponse({ timeoutMs: 3000 });
  assert.equal(r2.status, 408, `a trickled head got ${r2.statusLine} after ${Date.now() - t2} ms`);
  assert.ok(Date.now() - t2 < 3500);
  assert.ok(await c2.waitClosed(2000));

  // A connection that sends nothing is closed too (with or without a 408).
  const c3 = await RawConn.open(server.port);
  t.after(() => c3.destroy());
  assert.ok(await c3.waitClosed(3000), 'a silent connection was never closed');
  if (c3.buf.length) assert.match(c3.buf.toString('latin1'), /^HTTP\/1\.1 408 /);

  await stillServes(t);
});

test('bodies over max_message_bytes (1024) get 413; exactly 1024 bytes pass', async (t) => {
  const topic = uniq('big');
  assert.equal((await publish(server.url, topic, 'x'.repeat(1024))).status, 201);
  assert.equal((await publish(server.url, topic, 'é'.repeat(512))).status, 201, '1024 bytes of UTF-8');
  assert.equal((await publish(server.url, topic, 'x'.repeat(1025))).status, 413);
  assert.equal((await publish(server.url, topic, 'é'.repeat(513))).status, 413, 'the limit is in bytes, not characters');
  assert.equal((await publishBatch(server.url, [{ topic, data: 'y'.repeat(1025) }])).status, 413);

  // Chunked, over the limit.
  const chunked = Buffer.concat([
    Buffer.from(`POST ${topicPath(topic)} HTTP/1.1\r\n${host()}Transfer-Encoding: chunked\r\n\r\n`),
    Buffer.from(`7d0\r\n${'c'.repeat(2000)}\r\n0\r\n\r\n`),
  ]);
  const rc = await rawExchange(server.port, chunked, { timeoutMs: 3000 });
  assert.equal(rc.status, 413, `chunked oversize got ${rc.statusLine}`);

  // A declared huge body is refused from its Content-Length, without waiting for the bytes.
  const t0 = Date.now();
  const rh = await rawExchange(
    server.port,
    Buffer.from(`POST ${topicPath(topic)} HTTP/1.1\r\n${host()}Content-Length: 10000000\r\n\r\n`),
    { timeoutMs: 3000 },
  );
  assert.equal(rh.status, 413, rh.statusLine);
  assert.ok(Date.now() - t0 < 2000);

  // A batch request over max_request_bytes (65536) is 413 even when each message is small.
  const many = Array.from({ length: 100 }, (_, i) => ({ topic, data: `${i}`.padEnd(700, '.') }));
  assert.equal((await publishBatch(server.url, many)).status, 413);

  // Nothing oversize reached history.
  const hist = await request(`${server.url}${topicPath(topic, '/history')}`);
  const sizes = JSON.parse(hist.text).messages.map((m) => Buffer.byteLength(m.data));
  assert.deepEqual(sizes, [1024, 1024]);
  await stillServes(t);
});

test('a request head over max_header_bytes (8192) gets 431; a 6 KiB head passes', async (t) => {
  const ok = await rawExchange(
    server.port,
    Buffer.from(`GET /healthz HTTP/1.1\r\n${host()}X-Fill: ${'a'.repeat(6000)}\r\nConnection: close\r\n\r\n`),
  );
  assert.equal(ok.status, 200, 'a 6 KiB head is within the limit');

  const one = await rawExchange(
    server.port,
    Buffer.from(`GET /healthz HTTP/1.1\r\n${host()}X-Big: ${'b'.repeat(9000)}\r\n\r\n`),
  );
  assert.equal(one.status, 431, `one 9000-byte header got ${one.statusLine}`);

  let many = `GET /healthz HTTP/1.1\r\n${host()}`;
  for (let i = 0; i < 100; i++) many += `X-H${i}: ${'m'.repeat(90)}\r\n`;
  const r2 = await rawExchange(server.port, Buffer.from(`${many}\r\n`));
  assert.equal(r2.status, 431, `100 x 100-byte headers got ${r2.statusLine}`);

  const longTarget = await rawExchange(
    server.port,
    Buffer.from(`GET /healthz?pad=${'p'.repeat(9000)} HTTP/1.1\r\n${host()}\r\n`),
  );
  assert.equal(longTarget.status, 431, `a 9000-byte request line got ${longTarget.statusLine}`);

  // A head that never ends but keeps growing is cut at the limit, not buffered.
  const conn = await RawConn.open(server.port);
  t.after(() => conn.destroy());
  await conn.write(`GET /healthz HTTP/1.1\r\n${host()}`);
  for (let i = 0; i < 40 && !conn.eof && conn.buf.length === 0; i++) await conn.write(`X-Flood-${i}: ${'f'.repeat(1000)}\r\n`);
  const r3 = await conn.readResponse({ timeoutMs: 3000 });
  assert.equal(r3.status, 431, r3.statusLine);
  await stillServes(t);
});
