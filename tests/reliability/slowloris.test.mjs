// The slowloris family: heads trickled a byte at a time, bodies trickled, a streaming publish that
// is slow but alive, and many half-open connections at once. A head must be complete within
// header_timeout_ms (408), a body must not go silent for idle_timeout_s (408), a long streaming
// publish that keeps sending is not cut, and while all of this goes on another client is served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { RawConn, request, topicPath, history } from '../support/http.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';
import { uniq, sleep } from '../support/util.mjs';

const HEADER_TIMEOUT_MS = 1000;
const IDLE_TIMEOUT_S = 2;

async function start(t) {
  return startServer(t, {
    args: ['--header-timeout-ms', String(HEADER_TIMEOUT_MS), '--idle-timeout-s', String(IDLE_TIMEOUT_S), '--threads', '1'],
  });
}

/** A health check and a publish on fresh connections, each answered within `withinMs`. */
async function stillServes(server, withinMs = 1000) {
  assert.equal(server.exitInfo, null, 'the server exited');
  const t0 = Date.now();
  const health = await request(`${server.url}/healthz`, { timeoutMs: withinMs });
  assert.equal(health.status, 200);
  const res = await request(`${server.url}${topicPath(uniq('alive'))}`, { method: 'POST', body: 'x', timeoutMs: withinMs });
  assert.equal(res.status, 201);
  return Date.now() - t0;
}

/** Writes `bytes` one byte every `gapMs` until the server answers or closes; returns when. */
async function trickle(conn, bytes, gapMs) {
  for (let i = 0; i < bytes.length && !conn.eof && conn.buf.length === 0; i++) {
    await conn.write(bytes.subarray(i, i + 1));
    await sleep(gapMs);
  }
}

test('a head trickled a byte at a time gets 408 within header_timeout_ms and is closed', async (t) => {
  const server = await start(t);
  const conn = await RawConn.open(server.port);
  t.after(() => conn.destroy());
  const head = Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(400)}\r\n\r\n`);
  const t0 = Date.now();
  const trickling = trickle(conn, head, 20);
  const served = await stillServes(server);
  assert.ok(served < 1000, `another client waited ${served} ms`);
  const res = await conn.readResponse({ timeoutMs: HEADER_TIMEOUT_MS + 3000 });
  const waited = Date.now() - t0;
  await trickling;
  assert.equal(res.status, 408, res.statusLine);
  assert.equal(res.headers.connection, 'close');
  assert.ok(waited >= HEADER_TIMEOUT_MS - 100 && waited < HEADER_TIMEOUT_MS + 1500, `408 after ${waited} ms`);
  assert.ok(await conn.waitClosed(2000), 'the connection stays open after 408');
  await stillServes(server);
});

test('a body trickled a byte at a time gets 408 and is closed; nothing is published', async (t) => {
  const server = await start(t);
  const topic = uniq('slow-body');
  const conn = await RawConn.open(server.port);
  t.after(() => conn.destroy());
  await conn.write(`POST ${topicPath(topic)} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n`);
  const t0 = Date.now();
  const trickling = trickle(conn, Buffer.alloc(1000, 'b'), 50);
  const res = await conn.readResponse({ timeoutMs: IDLE_TIMEOUT_S * 1000 + 3000 });
  const waited = Date.now() - t0;
  await trickling;
  assert.equal(res.status, 408, res.statusLine);
  assert.ok(waited >= IDLE_TIMEOUT_S * 1000 - 200 && waited < IDLE_TIMEOUT_S * 1000 + 1500, `408 after ${waited} ms`);
  assert.ok(await conn.waitClosed(2000));
  assert.deepEqual((await history(server.url, topic)).body.messages, []);
  await stillServes(server);
});

test('a streaming publish that keeps sending outlives idle_timeout_s; one that goes silent gets 408', { timeout: 20000 }, async (t) => {
  const server = await start(t);
  const topic = uniq('slow-stream');
  const conn = await RawConn.open(server.port);
  t.after(() => conn.destroy());
  await conn.write(`POST ${topicPath(topic, '/stream')} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const events = 8;
  for (let i = 0; i < events; i++) {
    const ev = `data: e${i}\n\n`;
    await conn.write(`${ev.length.toString(16)}\r\n${ev}\r\n`);
    await sleep(450); // 3.6 s in all, past idle_timeout_s = 2
    assert.equal(conn.buf.length, 0, `answered mid-stream: ${conn.buf.toString('latin1').slice(0, 200)}`);
  }
  await conn.write('0\r\n\r\n');
  const res = await conn.readResponse({ timeoutMs: 3000 });
  assert.equal(res.status, 200, res.text);
  assert.equal(JSON.parse(res.text).published, events);
  assert.deepEqual(
    (await history(server.url, topic)).body.messages.map((m) => m.data),
    Array.from({ length: events }, (_, i) => `e${i}`),
  );

  const silent = await RawConn.open(server.port);
  t.after(() => silent.destroy());
  await silent.write(`POST ${topicPath(uniq('silent'), '/stream')} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n9\r\ndata: x\n\n\r\n`);
  const t0 = Date.now();
  const r2 = await silent.readResponse({ timeoutMs: IDLE_TIMEOUT_S * 1000 + 3000 });
  assert.equal(r2.status, 408);
  assert.ok(Date.now() - t0 >= IDLE_TIMEOUT_S * 1000 - 200);
  assert.ok(await silent.waitClosed(2000));
  await stillServes(server);
});

test('many half-open connections: each is answered 408 or closed in time, and others are served meanwhile', { timeout: soakTimeout(30000, 120000) }, async (t) => {
  const server = await start(t);
  const n = soak(300, 3000);
  const conns = [];
  t.after(() => conns.forEach((c) => c.destroy()));
  for (let i = 0; i < n; i++) {
    const c = await RawConn.open(server.port);
    conns.push(c);
    const kind = i % 3;
    if (kind === 0) await c.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Part`); // half a head
    if (kind === 1) await c.write(`POST ${topicPath('half')} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc`); // half a body
    // kind 2: nothing at all
  }
  const t0 = Date.now();
  const served = await stillServes(server);
  assert.ok(served < 1000, `with ${n} half-open connections another client waited ${served} ms`);
  const deadline = IDLE_TIMEOUT_S * 1000 + 4000;
  const outcomes = await Promise.all(
    conns.map(async (c, i) => {
      const closed = await c.waitClosed(deadline);
      const text = c.buf.toString('latin1');
      return { kind: i % 3, closed, status: text ? Number(text.slice(9, 12)) : null };
    }),
  );
  const elapsed = Date.now() - t0;
  for (const [i, o] of outcomes.entries()) {
    assert.ok(o.closed, `connection ${i} (kind ${o.kind}) still open after ${elapsed} ms`);
    if (o.kind === 0 || o.kind === 1) assert.equal(o.status, 408, `connection ${i} (kind ${o.kind})`);
    if (o.kind === 2) assert.ok(o.status === null || o.status === 408, `a silent connection got ${o.status}`);
  }
  await stillServes(server);
});
