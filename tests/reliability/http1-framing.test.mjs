// HTTP/1.1 framing as an attacker writes it (RFC 9112 §6.1, §6.3, §3.2, §7.1): a trailer that used
// to abort the process, chunk extensions and trailers that used to grow memory without bound,
// Transfer-Encoding/Content-Length/Host variants that used to smuggle a second request, and the
// keep-alive promise for errors on a fully read request. Every case is raw bytes on a socket,
// asserted on the exact status and on whether the connection closed; after each, another client
// is still served and the server is still the same process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { RawConn, request, topicPath, history } from '../support/http.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';
import { uniq, sleep } from '../support/util.mjs';

const MiB = 1 << 20;

async function start(t, { maxHeaderBytes = 8192 } = {}) {
  return startServer(t, {
    args: ['--max-request-bytes', '65536', '--max-header-bytes', String(maxHeaderBytes), '--header-timeout-ms', '3000'],
  });
}

/** Another client gets a health check and a publish answered, and the process never restarted. */
async function stillServes(server) {
  assert.equal(server.exitInfo, null, `the server exited: ${JSON.stringify(server.exitInfo)}\n${server.stderr.slice(-2000)}`);
  const health = await request(`${server.url}/healthz`, { timeoutMs: 3000 });
  assert.equal(health.status, 200);
  const res = await request(`${server.url}${topicPath(uniq('alive'))}`, { method: 'POST', body: 'still here', timeoutMs: 3000 });
  assert.equal(res.status, 201, res.text);
}

/** Writes `bytes`, reads one answer; returns it with whether the server then closed and what followed. */
async function exchange(server, bytes) {
  const conn = await RawConn.open(server.port);
  try {
    await conn.write(Buffer.from(bytes, 'latin1'));
    const res = await conn.readResponse({ timeoutMs: 4000 });
    const closed = await conn.waitClosed(2000);
    return { res, closed, after: conn.buf.toString('latin1') };
  } finally {
    conn.destroy();
  }
}

const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

test('a 70 KB trailer field is answered 431 and the process lives (it aborted on a Boost length_error)', async (t) => {
  const server = await start(t);
  for (const path of ['/healthz', topicPath(uniq('tr'))]) {
    const method = path === '/healthz' ? 'GET' : 'POST';
    const bytes = `${method} ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ${'a'.repeat(70000)}\r\n\r\n`;
    const { res, closed } = await exchange(server, bytes);
    assert.equal(res.status, 431, `${method} ${path}: ${res.statusLine} ${res.text}`);
    assert.equal(res.headers.connection, 'close');
    assert.ok(closed, 'the connection stays open after 431');
    await stillServes(server);
  }
});

test('a 70 KB header field under a 1 MiB max_header_bytes is answered 431 and the process lives', async (t) => {
  const server = await start(t, { maxHeaderBytes: MiB });
  const { res, closed } = await exchange(server, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(70000)}\r\n\r\n`);
  assert.equal(res.status, 431, res.text);
  assert.ok(closed);
  // Just under Beast's 64 KiB per field is still a request.
  const ok = await exchange(server, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(60000)}\r\n\r\n`);
  assert.equal(ok.res.status, 200);
  await stillServes(server);
});

test('Transfer-Encoding other than exactly chunked is 400 and closes: the body is never read as a request', async (t) => {
  const server = await start(t);
  const variants = [
    ['Transfer-Encoding: identity'],
    ['Transfer-Encoding: gzip'],
    ['Transfer-Encoding: xchunked'],
    ['Transfer-Encoding: chunked, identity'],
    ['Transfer-Encoding: chunked, chunked'],
    ['Transfer-Encoding: identity, chunked'],
    ['Transfer-Encoding: gzip, chunked'],
    ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'],
    ['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'],
    ['Transfer-Encoding: '],
    ['Transfer-Encoding: chunked;ext=1'],
  ];
  for (const lines of variants) {
    const topic = uniq('te');
    const head = `POST ${topicPath(topic)} HTTP/1.1\r\nHost: x\r\n${lines.join('\r\n')}\r\n\r\n`;
    const { res, closed, after } = await exchange(server, head + smuggled);
    assert.equal(res.status, 400, `${lines.join(' | ')}: ${res.statusLine} ${res.text}`);
    assert.equal(res.headers.connection, 'close', lines.join(' | '));
    assert.ok(closed, `${lines.join(' | ')}: the connection stays open`);
    assert.equal(after, '', `${lines.join(' | ')}: a second answer followed (the body was read as a request)`);
    const h = await history(server.url, topic);
    assert.deepEqual(h.body.messages, [], `${lines.join(' | ')}: something was published`);
  }
  // Transfer-Encoding in HTTP/1.0 cannot be trusted either (RFC 9112 §6.1).
  const old = await exchange(server, `POST ${topicPath(uniq('te'))} HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
  assert.equal(old.res.status, 400);
  assert.ok(old.closed);
  // Exactly chunked (any case, with spaces) is the body it says.
  const topic = uniq('te-ok');
  const good = await exchange(
    server,
    `POST ${topicPath(topic)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding:  Chunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  );
  assert.equal(good.res.status, 201, good.res.text);
  assert.deepEqual((await history(server.url, topic)).body.messages.map((m) => m.data), ['hello']);
  await stillServes(server);
});

test('Transfer-Encoding with Content-Length is 400 and closes, in either order', async (t) => {
  const server = await start(t);
  for (const lines of [
    ['Transfer-Encoding: chunked', 'Content-Length: 5'],
    ['Content-Length: 5', 'Transfer-Encoding: chunked'],
    ['Content-Length: 0', 'Transfer-Encoding: identity'],
  ]) {
    const topic = uniq('tecl');
    const head = `POST ${topicPath(topic)} HTTP/1.1\r\nHost: x\r\n${lines.join('\r\n')}\r\n\r\n`;
    const { res, closed, after } = await exchange(server, `${head}0\r\n\r\n${smuggled}`);
    assert.equal(res.status, 400, `${lines.join(' | ')}: ${res.statusLine}`);
    assert.ok(closed, lines.join(' | '));
    assert.equal(after, '');
    assert.deepEqual((await history(server.url, topic)).body.messages, []);
  }
  await stillServes(server);
});

test('differing Content-Length values are 400; identical ones are one length', async (t) => {
  const server = await start(t);
  for (const lines of [['Content-Length: 3', 'Content-Length: 4'], ['Content-Length: 3, 4'], ['Content-Length: 3', 'Content-Length: 3, 5']]) {
    const { res, closed } = await exchange(server, `POST ${topicPath(uniq('cl'))} HTTP/1.1\r\nHost: x\r\n${lines.join('\r\n')}\r\n\r\nabcd`);
    assert.equal(res.status, 400, lines.join(' | '));
    assert.ok(closed);
  }
  const { res } = await exchange(server, `POST ${topicPath(uniq('cl'))} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`);
  assert.equal(res.status, 201);
  await stillServes(server);
});

test('an HTTP/1.1 request without Host, or with two, is 400; HTTP/1.0 without Host is served', async (t) => {
  const server = await start(t);
  for (const head of [
    'GET /healthz HTTP/1.1\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n',
    'GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nHost: user@evil\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n',
  ]) {
    const { res, closed } = await exchange(server, head);
    assert.equal(res.status, 400, `${JSON.stringify(head)}: ${res.statusLine}`);
    assert.ok(closed, JSON.stringify(head));
  }
  const old = await exchange(server, 'GET /healthz HTTP/1.0\r\n\r\n');
  assert.equal(old.res.status, 200);
  const withPort = await exchange(server, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`);
  assert.equal(withPort.res.status, 200);
  await stillServes(server);
});

/**
 * Sends `head`, then pieces from `piece()` until `total` bytes went out or the server answered or
 * closed; samples the server's RSS along the way. Returns { res, sent, peakGrowth }.
 */
async function flood(t, server, head, piece, total) {
  const before = server.rss();
  let peak = before;
  const conn = await RawConn.open(server.port);
  try {
    await conn.write(Buffer.from(head, 'latin1'));
    let sent = 0;
    while (sent < total && !conn.eof && conn.buf.length === 0) {
      const p = piece();
      if (!(await conn.write(p))) break;
      sent += p.length;
      if ((sent & (4 * MiB - 1)) < p.length) peak = Math.max(peak, server.rss() ?? 0);
    }
    const res = await conn.readResponse({ timeoutMs: 5000 });
    peak = Math.max(peak, server.rss() ?? 0);
    t.diagnostic(`${res.status} after ${(sent / MiB).toFixed(2)} MiB sent; RSS grew ${((peak - before) / MiB).toFixed(2)} MiB`);
    return { res, sent, peakGrowth: peak - before, closed: await conn.waitClosed(2000) };
  } finally {
    conn.destroy();
  }
}

test('chunk extensions count against max_header_bytes: 413, and memory stays flat', { timeout: soakTimeout(60000, 300000) }, async (t) => {
  const server = await start(t);
  const total = soak(64 * MiB, 256 * MiB);
  // One chunk line that never ends: `5;e=aaaa…`.
  const line = Buffer.alloc(256 << 10, 'a');
  const one = await flood(t, server, `POST ${topicPath(uniq('ext'))} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=`, () => line, total);
  assert.equal(one.res.status, 413, `${one.res.statusLine} ${one.res.text}`);
  assert.ok(one.closed);
  assert.ok(one.peakGrowth < 32 * MiB, `RSS grew ${(one.peakGrowth / MiB).toFixed(1)} MiB over ${(one.sent / MiB).toFixed(1)} MiB sent`);
  // Many small chunks, each with an extension: the extensions add up.
  const chunk = Buffer.from(`1;e=${'a'.repeat(8000)}\r\nx\r\n`.repeat(8), 'latin1');
  const many = await flood(t, server, `POST ${topicPath(uniq('ext'))} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`, () => chunk, total);
  assert.equal(many.res.status, 413, `${many.res.statusLine} ${many.res.text}`);
  assert.ok(many.peakGrowth < 32 * MiB, `RSS grew ${(many.peakGrowth / MiB).toFixed(1)} MiB`);
  // A few short extensions are fine.
  const topic = uniq('ext-ok');
  const { res } = await exchange(
    server,
    `POST ${topicPath(topic)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5;a=1;b="two"\r\nhello\r\n0;c\r\n\r\n`,
  );
  assert.equal(res.status, 201, res.text);
  await stillServes(server);
});

test('trailers count against max_header_bytes: 431, and memory stays flat; short trailers are read and dropped', { timeout: soakTimeout(60000, 300000) }, async (t) => {
  const server = await start(t);
  const total = soak(64 * MiB, 256 * MiB);
  const fields = Buffer.from(`X-T: ${'t'.repeat(1000)}\r\n`.repeat(256), 'latin1');
  const r = await flood(t, server, `POST ${topicPath(uniq('trl'))} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n`, () => fields, total);
  assert.equal(r.res.status, 431, `${r.res.statusLine} ${r.res.text}`);
  assert.ok(r.closed);
  assert.ok(r.peakGrowth < 32 * MiB, `RSS grew ${(r.peakGrowth / MiB).toFixed(1)} MiB over ${(r.sent / MiB).toFixed(1)} MiB sent`);
  // One trailer field that never ends.
  const a = Buffer.alloc(256 << 10, 'a');
  const one = await flood(t, server, `GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: `, () => a, total);
  assert.equal(one.res.status, 431);
  assert.ok(one.peakGrowth < 32 * MiB, `RSS grew ${(one.peakGrowth / MiB).toFixed(1)} MiB`);
  // A trailer does not override the head (a trailer Host or Authorization means nothing).
  const topic = uniq('trl-ok');
  const ok = await exchange(
    server,
    `POST ${topicPath(topic)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nHost: y\r\nX-Sum: 1\r\n\r\n`,
  );
  assert.equal(ok.res.status, 201, ok.res.text);
  await stillServes(server);
});

test('the body is bounded by max_request_bytes however it is chunked', async (t) => {
  const server = await start(t);
  const piece = Buffer.from(`400\r\n${'d'.repeat(1024)}\r\n`, 'latin1');
  const r = await flood(t, server, `POST /v1/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`, () => piece, 4 * MiB);
  assert.equal(r.res.status, 413);
  assert.ok(r.closed);
  await stillServes(server);
});

test('404 and other errors on a request read to its end keep the connection', async (t) => {
  const server = await start(t);
  const conn = await RawConn.open(server.port);
  t.after(() => conn.destroy());
  const steps = [
    ['GET /nope HTTP/1.1\r\nHost: x\r\n\r\n', 404],
    ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 200],
    ['DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 405],
    ['GET /v1/events?topic=a//b HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['GET /v1/topics/a//b/history HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['POST /v1/topics/a//b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc', 400],
    ['POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{nope', 400],
    ['GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 200],
  ];
  for (const [bytes, status] of steps) {
    await conn.write(bytes);
    const res = await conn.readResponse({ timeoutMs: 3000 });
    assert.equal(res.status, status, `${JSON.stringify(bytes.slice(0, 50))}: ${res.statusLine} ${res.text}`);
    assert.notEqual(res.headers.connection, 'close', `${JSON.stringify(bytes.slice(0, 50))} closed the connection`);
  }
  assert.ok(!conn.eof, 'the connection was closed');
  // Pipelined: both answered, in order, on the same connection.
  await conn.write('GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal((await conn.readResponse()).status, 404);
  assert.equal((await conn.readResponse()).status, 200);
  // An answer given before the body was read closes: the unread body cannot frame a request.
  await conn.write('POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n');
  const early = await conn.readResponse();
  assert.equal(early.status, 404);
  assert.equal(early.headers.connection, 'close');
  assert.ok(await conn.waitClosed(2000));
  await sleep(10);
  await stillServes(server);
});

test('a request followed at once by the client half-closing (printf … | nc) is still answered', async (t) => {
  // The answer is corked until the end of the loop turn; the FIN read in the same turn used to
  // close the connection before it went out, so the client got nothing.
  const server = await startServer(t);
  const rounds = soak(60, 600);
  let answered = 0;
  for (let i = 0; i < rounds; i++) {
    const c = await RawConn.open(server.port);
    try {
      const req = i % 2 ? `GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n` : `POST ${topicPath('fin/t')} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi`;
      await c.write(req);
      c.end();
      await c.waitClosed(3000);
      const text = c.buf.toString('latin1');
      assert.match(text, i % 2 ? /^HTTP\/1\.1 200 / : /^HTTP\/1\.1 201 /, `round ${i}: ${JSON.stringify(text.slice(0, 60))}`);
      answered++;
    } finally {
      c.destroy();
    }
  }
  assert.equal(answered, rounds);
});
