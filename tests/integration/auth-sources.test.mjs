// Where credentials come from and what identity they give: the auth cookie (default name and a
// configured one), ?access_token=, static API keys (Authorization: Bearer <key>), and the JWT
// subject as the `from` of HTTP and WebSocket publishes and as the WebSocket presence identity.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { publish, request, topicPath } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { openWs, stopServer } from '../support/ws-client.mjs';
import { uniq } from '../support/util.mjs';
import { bearer, claims, newSecret, signHS256, tamperSignature, wsCall, wsHandshake } from '../support/jwt.mjs';

const KEY1 = 'sk_it_backend_one_0123456789';
const KEY2 = 'sk_it_backend_two_9876543210';

async function sseStatus(port, topic, { headers = {}, query = {} } = {}) {
  const s = await openSse(port, { topics: [topic], headers, query });
  try {
    if (s.status === 200) await waitPreamble(s);
    return { status: s.status, headers: s.headers, text: s.text };
  } finally {
    s.close();
  }
}

function assertInvalid(res, where) {
  assert.equal(res.status, 401, `${where}: ${res.status} ${res.text}`);
  assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', where);
  assert.equal(JSON.parse(res.text).error, 'unauthorized');
}

function assertMissing(res, where) {
  assert.equal(res.status, 401, `${where}: ${res.status} ${res.text}`);
  assert.equal(res.headers['www-authenticate'], 'Bearer', where);
  assert.equal(JSON.parse(res.text).error, 'unauthorized');
}

describe('default cookie name, ?access_token=, API keys, from', () => {
  const secret = newSecret();
  let server;
  before(async () => {
    server = await startServer(null, { dev: false, args: ['--threads', '2', '--jwt-secret', secret, '--api-keys', `${KEY1},${KEY2}`] });
  });
  after(() => stopServer(server));
  const tok = (o = {}) => signHS256(claims({ subscribe: ['src/**'], publish: ['src/**'], ...o }), secret);

  test('a JWT in the switchboard_token cookie (among other cookies) authenticates SSE, publish and the WebSocket handshake', async (t) => {
    const topic = uniq('src/cookie');
    const cookie = { Cookie: `theme=dark; switchboard_token=${tok()}; lang=en` };
    assert.equal((await sseStatus(server.port, topic, { headers: cookie })).status, 200);
    const res = await publish(server.url, topic, 'via cookie', { headers: cookie });
    assert.equal(res.status, 201, res.text);
    const hs = await wsHandshake(t, server.port, { headers: cookie });
    assert.equal(hs.status, 101, hs.text);
    assert.deepEqual(await wsCall(hs.ws, { op: 'subscribe', topic, ref: 's' }), { op: 'ack', ref: 's' });
    const denied = await wsCall(hs.ws, { op: 'subscribe', topic: 'elsewhere/x', ref: 'd' });
    assert.equal(denied.op, 'error');
    assert.equal(denied.code, 'forbidden');
  });

  test('the cookie counts only from this host or a cors_origins page: another site gets 401 saying why, Bearer still works', async (t) => {
    const topic = uniq('src/csrf');
    const evil = { Cookie: `switchboard_token=${tok()}`, Origin: 'https://evil.example' };
    const refused = (res, where) => {
      assert.equal(res.status, 401, `${where}: ${res.status} ${res.text}`);
      assert.match(JSON.parse(res.text).message, /auth cookie is not accepted from origin https:\/\/evil\.example/, where);
    };
    refused(await publish(server.url, topic, 'forged', { headers: evil }), 'publish');
    refused(await sseStatus(server.port, topic, { headers: evil }), 'SSE');
    refused(await wsHandshake(t, server.port, { headers: evil }), 'WS handshake');
    // Nothing was published by the refused request.
    const hist = await request(`${server.url}${topicPath(topic)}/history`, { headers: bearer(KEY1) });
    assert.equal(hist.status, 200, hist.text);
    assert.deepEqual(JSON.parse(hist.text).messages, []);
    // The same cookie from a page of this host is taken (WebSocket upgrades always carry Origin).
    const own = { Cookie: `switchboard_token=${tok()}`, Origin: `http://127.0.0.1:${server.port}` };
    const hs = await wsHandshake(t, server.port, { headers: own });
    assert.equal(hs.status, 101, hs.text);
    assert.deepEqual(await wsCall(hs.ws, { op: 'subscribe', topic, ref: 's' }), { op: 'ack', ref: 's' });
    assert.equal((await publish(server.url, topic, 'ok', { headers: own })).status, 201);
    // Explicit credentials are not a browser's doing: a Bearer token works from any origin.
    const res = await publish(server.url, topic, 'bearer', { headers: { ...bearer(tok()), Origin: 'https://evil.example' } });
    assert.equal(res.status, 201, res.text);
  });

  test('a quoted cookie value is read too', async () => {
    const res = await publish(server.url, uniq('src/q'), 'x', { headers: { Cookie: `switchboard_token="${tok()}"` } });
    assert.equal(res.status, 201, res.text);
  });

  test('an invalid JWT in the cookie is 401 invalid_token (SSE, publish, WebSocket handshake)', async (t) => {
    const cookie = { Cookie: `switchboard_token=${tamperSignature(tok())}` };
    const topic = uniq('src/badcookie');
    assertInvalid(await sseStatus(server.port, topic, { headers: cookie }), 'SSE');
    assertInvalid(await publish(server.url, topic, 'x', { headers: cookie }), 'publish');
    assertInvalid(await wsHandshake(t, server.port, { headers: cookie }), 'WS');
  });

  test('a cookie with another name carries nothing: 401 Bearer (no credentials)', async () => {
    const res = await sseStatus(server.port, uniq('src/other'), { headers: { Cookie: `sb_auth=${tok()}` } });
    assertMissing(res, 'SSE');
  });

  test('?access_token= authenticates SSE and publish; an invalid one is 401 invalid_token', async () => {
    const topic = uniq('src/qs');
    const token = tok();
    assert.equal((await sseStatus(server.port, topic, { query: { access_token: token } })).status, 200);
    const ok = await request(`${server.url}${topicPath(topic)}?access_token=${encodeURIComponent(token)}`, { method: 'POST', body: 'q' });
    assert.equal(ok.status, 201, ok.text);
    assertInvalid(await sseStatus(server.port, topic, { query: { access_token: tamperSignature(token) } }), 'SSE');
    const bad = await request(`${server.url}${topicPath(topic)}?access_token=${encodeURIComponent(tamperSignature(token))}`, { method: 'POST', body: 'q' });
    assertInvalid(bad, 'publish');
  });

  test('?access_token= with a topic it does not grant is 403', async () => {
    const res = await sseStatus(server.port, 'elsewhere/x', { query: { access_token: tok() } });
    assert.equal(res.status, 403, res.text);
    assert.equal(JSON.parse(res.text).error, 'forbidden');
  });

  test('each configured API key may subscribe and publish to any topic (SSE, HTTP, WebSocket)', async (t) => {
    for (const key of [KEY1, KEY2]) {
      const topic = uniq('anything/at/all');
      assert.equal((await sseStatus(server.port, topic, { headers: bearer(key) })).status, 200);
      const res = await publish(server.url, topic, 'k', { headers: bearer(key) });
      assert.equal(res.status, 201, res.text);
      const hs = await wsHandshake(t, server.port, { headers: bearer(key) });
      assert.equal(hs.status, 101);
      assert.deepEqual(await wsCall(hs.ws, { op: 'subscribe', topic, ref: 's' }), { op: 'ack', ref: 's' });
      const ack = await wsCall(hs.ws, { op: 'publish', topic, data: 'w', ref: 'p' });
      assert.equal(ack.op, 'ack', JSON.stringify(ack));
      hs.ws.conn.destroy();
    }
  });

  test('an API key is only a Bearer credential: a wrong key, or a key sent as ?access_token=, is 401 invalid_token', async () => {
    assertInvalid(await publish(server.url, uniq('src/k'), 'x', { headers: bearer(`${KEY1}x`) }), 'wrong key');
    assertInvalid(await publish(server.url, uniq('src/k'), 'x', { headers: bearer(KEY1.slice(0, -1)) }), 'key prefix');
    const res = await request(`${server.url}${topicPath(uniq('src/k'))}?access_token=${KEY1}`, { method: 'POST', body: 'x' });
    assertInvalid(res, 'key as access_token');
  });

  test('`from` is the JWT subject for HTTP publishes (single and batch) and WebSocket publishes; null for an API key', async (t) => {
    const topic = uniq('src/from');
    const watcher = await openWs(t, server.port, { name: 'watcher', options: { headers: bearer(KEY1) } });
    await watcher.ok({ op: 'subscribe', topic });

    const alice = tok({ sub: 'alice' });
    const one = await publish(server.url, topic, 'from alice', { headers: bearer(alice) });
    assert.equal(one.status, 201, one.text);
    const batch = await request(`${server.url}/v1/publish`, {
      method: 'POST',
      headers: { ...bearer(alice), 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ topic, data: 'batch from alice' }] }),
    });
    assert.equal(batch.status, 200, batch.text);

    const bob = await openWs(t, server.port, { name: 'bob', path: `/v1/ws?access_token=${encodeURIComponent(tok({ sub: 'bob' }))}` });
    const bobAck = await bob.ok({ op: 'publish', topic, data: 'from bob' });

    const key = await publish(server.url, topic, 'from a backend', { headers: bearer(KEY2) });
    assert.equal(key.status, 201);

    await watcher.until((c) => c.messages(topic).length >= 4, 3000, 'four messages');
    const got = watcher.messages(topic).map((m) => ({ id: m.id, data: m.data, from: m.from }));
    assert.deepEqual(got, [
      { id: one.body.id, data: 'from alice', from: 'alice' },
      { id: batch.json().ids[0], data: 'batch from alice', from: 'alice' },
      { id: bobAck.id, data: 'from bob', from: 'bob' },
      { id: key.body.id, data: 'from a backend', from: null },
    ]);
  });

  test('history and presence reads need a subscribe grant: none → 401 Bearer, not granted → 403, granted → 200', async () => {
    const topic = uniq('src/read');
    assert.equal((await publish(server.url, topic, 'kept', { headers: bearer(KEY1) })).status, 201);
    const reader = tok({ subscribe: [topic], publish: [] });
    for (const suffix of ['/history', '/presence']) {
      assertMissing(await request(`${server.url}${topicPath(topic, suffix)}`), `${suffix} without credentials`);
      const denied = await request(`${server.url}${topicPath('elsewhere/x', suffix)}`, { headers: bearer(reader) });
      assert.equal(denied.status, 403, `${suffix} not granted: ${denied.text}`);
      assert.equal(JSON.parse(denied.text).error, 'forbidden');
      const ok = await request(`${server.url}${topicPath(topic, suffix)}`, { headers: bearer(reader) });
      assert.equal(ok.status, 200, `${suffix} granted: ${ok.text}`);
    }
    const hist = await request(`${server.url}${topicPath(topic, '/history')}`, { headers: bearer(reader) });
    assert.deepEqual(hist.json().messages.map((m) => m.data), ['kept']);
  });

  test('the auth scheme is case-insensitive (RFC 7235 §2.1): "BEARER <token>" authenticates', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'BeArEr']) {
      const res = await publish(server.url, uniq('src/scheme'), 'x', { headers: { Authorization: `${scheme} ${tok()}` } });
      assert.equal(res.status, 201, `Authorization: ${scheme} …: ${res.status} ${res.headers['www-authenticate']} ${res.text}`);
    }
  });

  test('the WebSocket presence identity is the JWT subject', async (t) => {
    const topic = uniq('src/room');
    const carol = await openWs(t, server.port, { name: 'carol', options: { headers: bearer(tok({ sub: 'carol' })) } });
    carol.send({ op: 'presence.join', topic, state: { n: 1 }, ref: 'j' });
    assert.deepEqual(await carol.next(), { op: 'ack', ref: 'j' });
    const snap = await carol.next();
    assert.deepEqual(snap, { op: 'presence', topic, count: 1, members: [{ id: 'carol', state: { n: 1 } }] });
    const page = await request(`${server.url}${topicPath(topic, '/presence')}`, { headers: bearer(KEY1) });
    assert.equal(page.status, 200, page.text);
    assert.deepEqual(page.json().members, [{ id: 'carol', state: { n: 1 } }]);
  });
});

describe('the auth cookie from a cors_origins page', () => {
  const secret = newSecret();
  let server;
  before(async () => {
    server = await startServer(null, { dev: false, args: ['--jwt-secret', secret, '--cors-origins', 'https://app.example'] });
  });
  after(() => stopServer(server));
  const tok = () => signHS256(claims({ subscribe: ['c/**'], publish: ['c/**'] }), secret);

  test('a listed origin may use it (WebSocket, publish); an unlisted one may not', async (t) => {
    const topic = uniq('c/listed');
    const listed = { Cookie: `switchboard_token=${tok()}`, Origin: 'https://app.example' };
    const hs = await wsHandshake(t, server.port, { headers: listed });
    assert.equal(hs.status, 101, hs.text);
    assert.deepEqual(await wsCall(hs.ws, { op: 'subscribe', topic, ref: 's' }), { op: 'ack', ref: 's' });
    assert.equal((await publish(server.url, topic, 'x', { headers: listed })).status, 201);
    const other = { Cookie: `switchboard_token=${tok()}`, Origin: 'https://app.example.evil.example' };
    assert.equal((await wsHandshake(t, server.port, { headers: other })).status, 401);
    assert.equal((await publish(server.url, topic, 'x', { headers: other })).status, 401);
  });
});

describe('a configured cookie name (--auth-cookie sb_auth)', () => {
  const secret = newSecret();
  let server;
  before(async () => {
    server = await startServer(null, { dev: false, args: ['--jwt-secret', secret, '--auth-cookie', 'sb_auth'] });
  });
  after(() => stopServer(server));
  const tok = () => signHS256(claims({ subscribe: ['c/**'], publish: ['c/**'] }), secret);

  test('the token is read from sb_auth', async (t) => {
    const topic = uniq('c/x');
    assert.equal((await sseStatus(server.port, topic, { headers: { Cookie: `sb_auth=${tok()}` } })).status, 200);
    const res = await publish(server.url, topic, 'x', { headers: { Cookie: `a=b; sb_auth=${tok()}` } });
    assert.equal(res.status, 201, res.text);
    const hs = await wsHandshake(t, server.port, { headers: { Cookie: `sb_auth=${tok()}` } });
    assert.equal(hs.status, 101);
    assert.deepEqual(await wsCall(hs.ws, { op: 'subscribe', topic, ref: 's' }), { op: 'ack', ref: 's' });
  });

  test('the default switchboard_token cookie is no longer read: 401 Bearer', async (t) => {
    const cookie = { Cookie: `switchboard_token=${tok()}` };
    assertMissing(await sseStatus(server.port, uniq('c/y'), { headers: cookie }), 'SSE');
    assertMissing(await publish(server.url, uniq('c/y'), 'x', { headers: cookie }), 'publish');
    const hs = await wsHandshake(t, server.port, { headers: cookie });
    assert.equal(hs.status, 101);
    const m = await wsCall(hs.ws, { op: 'subscribe', topic: 'c/y', ref: 's' });
    assert.equal(m.op, 'error');
    assert.equal(m.code, 'unauthorized');
  });
});
