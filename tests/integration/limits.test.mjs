// Limits, each reached and answered as the contract says, with another client unaffected:
// - connections per client address and in total: 429 at accept (the held ones keep working, a
//   client from another address is admitted, a place frees up when one closes);
// - topics per SSE stream over --max-topics-per-stream: 400 (WebSocket: too_many_topics);
// - a message over --max-message-bytes: 413 (HTTP), {"op":"error","code":"payload_too_large"} (WS);
// - HTTP publishes over --http-publish-rate/burst per client (API key, token subject, address): 429;
// - WebSocket stored publishes over --ws-publish-rate/burst: close 1008.
// Other loopback addresses (127.0.0.2, …) stand in for other clients.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer } from '../support/server.mjs';
import { RawConn, publish, topicPath } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { openWs, stopServer } from '../support/ws-client.mjs';
import { uniq, sleep } from '../support/util.mjs';
import { bearer, claims, newSecret, signHS256 } from '../support/jwt.mjs';

// ---------------------------------------------------------------------------------------------
// Connections

/** A raw connection to 127.0.0.1:port from `localAddress`. */
const connectFrom = (port, localAddress = '127.0.0.1') => RawConn.open(port, { localAddress, timeoutMs: 3000 });

/** True if nothing (no bytes, no close) arrives on conn within ms. */
async function quiet(conn, ms) {
  try {
    await conn.until(() => conn.buf.length > 0 || conn.eof, ms, 'anything');
    return false;
  } catch {
    return true;
  }
}

/** One keep-alive GET /healthz on a held connection: must be 200. */
async function assertServes(conn, what) {
  await conn.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  const res = await conn.readResponse({ timeoutMs: 3000 });
  assert.equal(res.status, 200, `${what}: ${res.statusLine} ${res.text}`);
  assert.equal(res.headers.connection, undefined, `${what}: the held connection must stay open`);
}

/**
 * An admitted connection from `localAddress`. Earlier connections (the harness's health checks,
 * a test's closed ones) give their place back asynchronously, so a refusal is retried (bounded).
 * Nothing is written to a connection before it proved quiet: writing to a refused one could make
 * the server reset it and lose the 429.
 */
async function hold(t, port, localAddress = '127.0.0.1', what = 'a connection') {
  let last = '';
  for (let attempt = 0; attempt < 60; attempt++) {
    const conn = await connectFrom(port, localAddress);
    if (await quiet(conn, 150)) {
      try {
        await assertServes(conn, what);
        t.after(() => conn.destroy());
        return conn;
      } catch (err) {
        last = err.message;
      }
    } else {
      last = conn.buf.toString('latin1').slice(0, 120);
    }
    conn.destroy();
    await sleep(50);
  }
  assert.fail(`${what} from ${localAddress} was never admitted; last answer: ${last}`);
}

/** The next connection from `localAddress` is refused: 429 rate_limited at accept, then closed. */
async function assertRefused(port, localAddress, what) {
  const conn = await connectFrom(port, localAddress);
  try {
    const res = await conn.readResponse({ timeoutMs: 3000 });
    assert.equal(res.status, 429, `${what}: ${res.statusLine} ${res.text}`);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(JSON.parse(res.text).error, 'rate_limited');
    assert.ok(await conn.waitClosed(3000), `${what}: the refused connection was not closed`);
  } finally {
    conn.destroy();
  }
}

describe('connection limits (--max-connections-per-ip 3 --max-connections 5)', () => {
  let server;
  before(async () => {
    server = await startServer(null, { args: ['--threads', '2', '--max-connections-per-ip', '3', '--max-connections', '5'] });
  });
  after(() => stopServer(server));

  test('per address: the fourth connection is 429 at accept; the three held ones and another address are served; a closed one frees a place', async (t) => {
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await hold(t, server.port, '127.0.0.1', `held #${i}`));
    await assertRefused(server.port, '127.0.0.1', 'a fourth connection from 127.0.0.1');
    const other = await hold(t, server.port, '127.0.0.2', 'a connection from 127.0.0.2');
    for (const [i, c] of held.entries()) await assertServes(c, `held #${i} after the refusal`);
    await assertServes(other, 'the other address');

    held[0].destroy();
    await hold(t, server.port, '127.0.0.1', 'a connection after one closed');
    await assertRefused(server.port, '127.0.0.1', 'the limit applies again');
    other.destroy();
    for (const c of held.slice(1)) c.destroy();
  });

  test('in total: with five held from two addresses, a third address is refused; an SSE stream held throughout keeps receiving', async (t) => {
    const topic = uniq('limits-conn');
    // Wait until the previous test's connections have been given back.
    const first = await hold(t, server.port, '127.0.0.1', 'first');
    first.destroy();
    const stream = await (async () => {
      for (let i = 0; i < 40; i++) {
        const s = await openSse(server.port, { topics: [topic] });
        if (s.status === 200) return s;
        s.close();
        await sleep(50);
      }
      assert.fail('an SSE stream was never admitted');
    })();
    t.after(() => stream.close());
    await waitPreamble(stream);
    const held = [];
    held.push(await hold(t, server.port, '127.0.0.1', 'a'));
    held.push(await hold(t, server.port, '127.0.0.1', 'b'));
    held.push(await hold(t, server.port, '127.0.0.2', 'c'));
    held.push(await hold(t, server.port, '127.0.0.2', 'd'));
    // 5 in all (the stream counts): everyone else is refused, whatever the address.
    await assertRefused(server.port, '127.0.0.3', 'a sixth connection from 127.0.0.3');
    await assertRefused(server.port, '127.0.0.2', 'a sixth connection from 127.0.0.2');

    // The held stream is unaffected: a publish on a held keep-alive connection reaches it.
    await held[0].write(`POST ${topicPath(topic)} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello`);
    const res = await held[0].readResponse({ timeoutMs: 3000 });
    assert.equal(res.status, 201, res.text);
    const [ev] = await stream.waitEvents(1, 3000);
    assert.equal(ev.data, 'hello');

    held[3].destroy();
    await hold(t, server.port, '127.0.0.3', 'a connection from 127.0.0.3 after one closed');
    for (const c of held) c.destroy();
  });
});

// ---------------------------------------------------------------------------------------------
// Topics, sizes, WebSocket rate

describe('topics per stream / connection, message size, WebSocket publish rate', () => {
  const MAX_BYTES = 64;
  let server;
  before(async () => {
    server = await startServer(null, {
      args: [
        '--threads', '2',
        '--max-topics-per-stream', '3',
        '--max-topics-per-connection', '2',
        '--max-message-bytes', String(MAX_BYTES),
        '--ws-publish-rate', '1',
        '--ws-publish-burst', '3',
      ],
    });
  });
  after(() => stopServer(server));

  test('an SSE stream may name 3 topics; 4 is 400, and the open stream is unaffected', async (t) => {
    const topics = [uniq('a'), uniq('b'), uniq('c')];
    const ok = await openSse(server.port, { topics });
    t.after(() => ok.close());
    assert.equal(ok.status, 200, ok.text);
    await waitPreamble(ok);
    const tooMany = await openSse(server.port, { topics: [...topics, uniq('d')] });
    tooMany.close();
    assert.equal(tooMany.status, 400, tooMany.text);
    assert.equal(JSON.parse(tooMany.text).error, 'invalid_request');
    assert.equal((await publish(server.url, topics[2], 'third')).status, 201);
    const [ev] = await ok.waitEvents(1, 3000);
    assert.equal(ev.data, 'third'); // a multi-topic stream's ids are cursors, not the topic id
    assert.equal(ok.ended, false);
  });

  test('a WebSocket may hold 2 topics; the third subscribe is too_many_topics and the connection keeps working', async (t) => {
    const ws = await openWs(t, server.port, { name: 'topics' });
    const [a, b, c] = [uniq('wa'), uniq('wb'), uniq('wc')];
    await ws.ok({ op: 'subscribe', topic: a });
    await ws.ok({ op: 'subscribe', topic: b });
    const refused = await ws.call({ op: 'subscribe', topic: c, ref: 'third' });
    assert.deepEqual({ op: refused.op, ref: refused.ref, code: refused.code }, { op: 'error', ref: 'third', code: 'too_many_topics' });
    const id = (await publish(server.url, b, 'on b')).body.id;
    const m = await ws.waitMsg((x) => x.op === 'message' && x.topic === b, { timeoutMs: 3000 });
    assert.equal(m.id, id);
    await ws.ok({ op: 'unsubscribe', topic: a });
    await ws.ok({ op: 'subscribe', topic: c });
    assert.equal(ws.closeInfo, null);
  });

  test(`HTTP publish: ${MAX_BYTES} bytes is 201, one more is 413 (bytes, not characters)`, async () => {
    const topic = uniq('size');
    const atLimit = await publish(server.url, topic, 'x'.repeat(MAX_BYTES));
    assert.equal(atLimit.status, 201, atLimit.text);
    const over = await publish(server.url, topic, 'x'.repeat(MAX_BYTES + 1));
    assert.equal(over.status, 413, over.text);
    assert.equal(over.body.error, 'payload_too_large');
    const utf8At = await publish(server.url, topic, 'é'.repeat(MAX_BYTES / 2));
    assert.equal(utf8At.status, 201, `${MAX_BYTES / 2} two-byte characters: ${utf8At.text}`);
    const utf8Over = await publish(server.url, topic, 'é'.repeat(MAX_BYTES / 2 + 1));
    assert.equal(utf8Over.status, 413, `${MAX_BYTES / 2 + 1} two-byte characters (${MAX_BYTES + 2} bytes): ${utf8Over.text}`);
    // The next publisher is unaffected.
    const after = await publish(server.url, topic, 'small');
    assert.equal(after.status, 201);
  });

  test('WebSocket publish over max_message_bytes is payload_too_large; the connection and a subscriber keep working', async (t) => {
    const topic = uniq('wsize');
    const sub = await openWs(t, server.port, { name: 'sub' });
    await sub.ok({ op: 'subscribe', topic });
    const pub = await openWs(t, server.port, { name: 'pub' });
    const big = await pub.call({ op: 'publish', topic, data: 'é'.repeat(MAX_BYTES / 2 + 1), ref: 'big' });
    assert.deepEqual({ op: big.op, ref: big.ref, code: big.code }, { op: 'error', ref: 'big', code: 'payload_too_large' });
    const ok = await pub.ok({ op: 'publish', topic, data: 'x'.repeat(MAX_BYTES), ref: 'fits' });
    const m = await sub.waitMsg((x) => x.op === 'message', { timeoutMs: 3000 });
    assert.equal(m.id, ok.id);
    assert.equal(m.data, 'x'.repeat(MAX_BYTES));
    assert.equal(sub.messages(topic).length, 1, 'the refused message was delivered');
    assert.equal(pub.closeInfo, null);
  });

  test('WebSocket stored publishes over rate 1 / burst 3: close 1008; another connection keeps publishing', async (t) => {
    const topic = uniq('wrate');
    const fast = await openWs(t, server.port, { name: 'fast' });
    const calm = await openWs(t, server.port, { name: 'calm' });
    for (let i = 0; i < 3; i++) await fast.ok({ op: 'publish', topic, data: `p${i}` });
    fast.send({ op: 'publish', topic, data: 'one too many', ref: 'over' });
    const close = await fast.waitClosed(3000);
    assert.equal(close.code, 1008, JSON.stringify(close));
    assert.equal(fast.msgs.some((m) => m.ref === 'over' && m.op === 'ack'), false, 'the publish over the rate was stored');
    const ack = await calm.ok({ op: 'publish', topic, data: 'calm' });
    assert.match(ack.id, /^\d+-\d+$/);
    assert.equal(calm.closeInfo, null);
  });
});

// ---------------------------------------------------------------------------------------------
// HTTP publish rate

/** POST /v1/topics/{topic} from `localAddress`; resolves { status, body }. */
function publishFrom(base, topic, data, { headers = {}, localAddress = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(`${base}${topicPath(topic)}`);
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', localAddress, agent: false, headers: { 'content-length': Buffer.byteLength(data), ...headers } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let body = null;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode, headers: res.headers, text, body });
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error('publish timeout')), 5000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(data);
  });
}

describe('HTTP publish rate (--http-publish-rate 1 --http-publish-burst 3) per client', () => {
  const K1 = 'sk_it_rate_one_0123456789';
  const K2 = 'sk_it_rate_two_0123456789';
  const secret = newSecret();
  let server;
  before(async () => {
    server = await startServer(null, {
      dev: false,
      args: ['--api-keys', `${K1},${K2}`, '--jwt-secret', secret, '--allow-anonymous-publish', 'true', '--http-publish-rate', '1', '--http-publish-burst', '3'],
    });
  });
  after(() => stopServer(server));
  const jwt = (sub, extra = {}) => signHS256(claims({ sub, subscribe: ['**'], publish: ['**'], extra }), secret);

  /** Three publishes go through at once, the fourth is 429 rate_limited. */
  async function exhaust(topic, opts, who) {
    for (let i = 0; i < 3; i++) {
      const r = await publishFrom(server.url, topic, `${who} ${i}`, opts);
      assert.equal(r.status, 201, `${who} publish #${i}: ${r.status} ${r.text}`);
    }
    const r = await publishFrom(server.url, topic, `${who} over`, opts);
    assert.equal(r.status, 429, `${who} publish #3 (over the burst): ${r.status} ${r.text}`);
    assert.equal(r.body.error, 'rate_limited');
  }

  test('per API key: the fourth publish of a key is 429, the other key is unaffected, and the key recovers at the rate', async () => {
    const topic = uniq('rate-key');
    await exhaust(topic, { headers: bearer(K1) }, 'K1');
    const other = await publishFrom(server.url, topic, 'K2', { headers: bearer(K2) });
    assert.equal(other.status, 201, other.text);
    await sleep(1300);
    const again = await publishFrom(server.url, topic, 'K1 later', { headers: bearer(K1) });
    assert.equal(again.status, 201, `after 1.3 s at 1/s: ${again.status} ${again.text}`);
  });

  test('per token subject: another token of the same subject shares the budget; another subject is unaffected', async () => {
    const topic = uniq('rate-sub');
    await exhaust(topic, { headers: bearer(jwt('alice')) }, 'alice');
    const sameSubject = await publishFrom(server.url, topic, 'alice again', { headers: bearer(jwt('alice', { jti: 'second' })) });
    assert.equal(sameSubject.status, 429, sameSubject.text);
    const bob = await publishFrom(server.url, topic, 'bob', { headers: bearer(jwt('bob')) });
    assert.equal(bob.status, 201, bob.text);
  });

  test('anonymous publishers are limited per address: 127.0.0.1 is 429, 127.0.0.2 is unaffected', async () => {
    const topic = uniq('rate-ip');
    await exhaust(topic, { localAddress: '127.0.0.1' }, '127.0.0.1');
    const other = await publishFrom(server.url, topic, 'from .2', { localAddress: '127.0.0.2' });
    assert.equal(other.status, 201, other.text);
    const key = await publishFrom(server.url, topic, 'a key from .1', { headers: bearer(K2), localAddress: '127.0.0.1' });
    assert.equal(key.status, 201, `an API key from the same address has its own budget: ${key.text}`);
  });
});
