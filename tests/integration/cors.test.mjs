// CORS: a configured origin is echoed with Access-Control-Allow-Credentials: true and
// Vary: Origin; `*` in the list answers Access-Control-Allow-Origin: * and never with credentials;
// a foreign origin gets no CORS headers at all. Preflight (OPTIONS) answers 204 with
// Allow-Methods/Allow-Headers for an allowed origin, needs no credentials, and carries no CORS
// headers for a foreign origin.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { request, publish, topicPath, rawExchange } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { stopServer } from '../support/ws-client.mjs';
import { uniq } from '../support/util.mjs';
import { bearer } from '../support/jwt.mjs';

const KEY = 'sk_it_cors_0123456789';
const APP = 'https://app.example';
const ADMIN = 'https://admin.example';
const EVIL = 'https://evil.example';

const corsHeaders = (headers) => Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith('access-control-')));
const tokens = (v) => (v ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

function assertCredentialed(headers, origin, where) {
  const ctx = `${where}: ${JSON.stringify(headers)}`;
  assert.equal(headers['access-control-allow-origin'], origin, ctx);
  assert.equal(headers['access-control-allow-credentials'], 'true', ctx);
  assert.ok(tokens(headers.vary).includes('origin'), `${ctx} (Vary must name Origin)`);
}

function assertWildcard(headers, where) {
  const ctx = `${where}: ${JSON.stringify(headers)}`;
  assert.equal(headers['access-control-allow-origin'], '*', ctx);
  assert.equal(headers['access-control-allow-credentials'], undefined, `${ctx} (never * with credentials)`);
}

function assertNoCors(headers, where) {
  assert.deepEqual(corsHeaders(headers), {}, `${where}: ${JSON.stringify(headers)}`);
}

function preflight(base, path, origin, { method = 'POST', requestHeaders } = {}) {
  const headers = { 'Access-Control-Request-Method': method };
  if (origin !== undefined) headers.Origin = origin;
  if (requestHeaders) headers['Access-Control-Request-Headers'] = requestHeaders;
  return request(`${base}${path}`, { method: 'OPTIONS', headers });
}

async function start(origins) {
  return startServer(null, { dev: false, args: ['--api-keys', KEY, '--cors-origins', origins] });
}

describe('a list of origins (credentials allowed)', () => {
  let server;
  before(async () => {
    server = await start(`${APP},${ADMIN}`);
  });
  after(() => stopServer(server));

  test('each listed origin is echoed with credentials and Vary: Origin', async () => {
    for (const origin of [APP, ADMIN]) {
      const res = await request(`${server.url}/healthz`, { headers: { Origin: origin } });
      assert.equal(res.status, 200);
      assertCredentialed(res.headers, origin, origin);
    }
  });

  test('a foreign origin, look-alikes and no Origin get no CORS headers', async () => {
    for (const origin of [EVIL, `${APP}.evil.example`, `${APP}:8443`, 'http://app.example', `${APP}/`, 'null', '*', undefined]) {
      const res = await request(`${server.url}/healthz`, { headers: origin === undefined ? {} : { Origin: origin } });
      assert.equal(res.status, 200);
      assertNoCors(res.headers, `Origin ${origin}`);
    }
  });

  test('publish, history and refusals carry the CORS headers for a listed origin (the page can read a 401)', async () => {
    const topic = uniq('cors');
    const ok = await publish(server.url, topic, 'x', { headers: { Origin: APP, ...bearer(KEY) } });
    assert.equal(ok.status, 201, ok.text);
    assertCredentialed(ok.headers, APP, 'publish 201');
    const hist = await request(`${server.url}${topicPath(topic, '/history')}`, { headers: { Origin: ADMIN, ...bearer(KEY) } });
    assert.equal(hist.status, 200);
    assertCredentialed(hist.headers, ADMIN, 'history 200');
    const denied = await publish(server.url, topic, 'x', { headers: { Origin: APP } });
    assert.equal(denied.status, 401);
    assertCredentialed(denied.headers, APP, 'publish 401');
    const foreign = await publish(server.url, topic, 'x', { headers: { Origin: EVIL, ...bearer(KEY) } });
    assert.equal(foreign.status, 201, 'CORS is not an access control on the server side');
    assertNoCors(foreign.headers, 'publish from a foreign origin');
  });

  test('an SSE stream answers a listed origin with credentials and a foreign one without CORS headers', async () => {
    const topic = uniq('cors-sse');
    const s = await openSse(server.port, { topics: [topic], headers: { Origin: APP, ...bearer(KEY) } });
    try {
      assert.equal(s.status, 200, s.text);
      await waitPreamble(s);
      assertCredentialed(s.headers, APP, 'SSE');
    } finally {
      s.close();
    }
    const f = await openSse(server.port, { topics: [topic], headers: { Origin: EVIL, ...bearer(KEY) } });
    try {
      assert.equal(f.status, 200);
      assertNoCors(f.headers, 'SSE from a foreign origin');
    } finally {
      f.close();
    }
  });

  test('preflight from a listed origin: 204, credentials, methods and the requested headers, no credentials needed', async () => {
    for (const [path, method, requestHeaders] of [
      [topicPath('cors/pre'), 'POST', 'authorization, content-type'],
      ['/v1/events?topic=cors/pre', 'GET', 'last-event-id, authorization'],
      ['/v1/tickets', 'POST', 'authorization, content-type'],
      ['/v1/publish', 'POST', 'content-type'],
    ]) {
      const res = await preflight(server.url, path, APP, { method, requestHeaders });
      const where = `OPTIONS ${path}`;
      assert.equal(res.status, 204, `${where}: ${res.status} ${res.text}`);
      assert.equal(res.text, '');
      assertCredentialed(res.headers, APP, where);
      assert.ok(tokens(res.headers['access-control-allow-methods']).includes(method.toLowerCase()), `${where}: ${JSON.stringify(res.headers)}`);
      const allowed = tokens(res.headers['access-control-allow-headers']);
      for (const h of tokens(requestHeaders)) assert.ok(allowed.includes(h), `${where}: ${h} not in ${res.headers['access-control-allow-headers']}`);
    }
  });

  test('preflight from a foreign origin, or without Origin, carries no CORS headers', async () => {
    for (const origin of [EVIL, undefined]) {
      const res = await preflight(server.url, topicPath('cors/pre'), origin, { requestHeaders: 'authorization' });
      assert.ok(res.status < 500, `${res.status} ${res.text}`);
      assert.notEqual(res.status, 401, 'a preflight never needs credentials');
      assertNoCors(res.headers, `preflight from ${origin}`);
    }
  });
});

describe('each CORS header once (a browser refuses Access-Control-Allow-Origin with several values)', () => {
  let server;
  before(async () => {
    server = await start(`${APP},${ADMIN}`);
  });
  after(() => stopServer(server));

  const once = (res, where) => {
    const counts = {};
    for (const [name] of res.rawHeaders) if (name.startsWith('access-control-') || name === 'vary') counts[name] = (counts[name] || 0) + 1;
    const repeated = Object.entries(counts).filter(([, n]) => n > 1);
    assert.deepEqual(repeated, [], `${where}: repeated headers in ${JSON.stringify(res.rawHeaders)}`);
    assert.ok(counts['access-control-allow-origin'] === 1, `${where}: no Access-Control-Allow-Origin`);
  };

  test('on a plain response', async () => {
    const res = await rawExchange(server.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nOrigin: ${APP}\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 200);
    once(res, 'GET /healthz');
  });

  test('on a preflight', async () => {
    const res = await rawExchange(
      server.port,
      `OPTIONS ${topicPath('cors/once')} HTTP/1.1\r\nHost: x\r\nOrigin: ${APP}\r\nAccess-Control-Request-Method: POST\r\n` +
        'Access-Control-Request-Headers: authorization\r\nConnection: close\r\n\r\n',
    );
    assert.equal(res.status, 204);
    once(res, 'OPTIONS (preflight)');
  });
});

describe('`*` only (no credentials)', () => {
  let server;
  before(async () => {
    server = await start('*');
  });
  after(() => stopServer(server));

  test('any origin gets Access-Control-Allow-Origin: * without credentials', async () => {
    for (const origin of [APP, EVIL, 'null']) {
      const res = await request(`${server.url}/healthz`, { headers: { Origin: origin } });
      assertWildcard(res.headers, origin);
    }
    const none = await request(`${server.url}/healthz`);
    assertNoCors(none.headers, 'no Origin');
  });

  test('a literal `Origin: *` is answered * without credentials', async () => {
    const res = await request(`${server.url}/healthz`, { headers: { Origin: '*' } });
    assertWildcard(res.headers, 'Origin *');
  });

  test('preflight answers 204 with * and without credentials', async () => {
    const res = await preflight(server.url, topicPath('cors/any'), EVIL, { requestHeaders: 'content-type' });
    assert.equal(res.status, 204);
    assertWildcard(res.headers, 'preflight');
    assert.ok(tokens(res.headers['access-control-allow-methods']).includes('post'));
  });

  test('an SSE stream and a publish answer * without credentials', async () => {
    const topic = uniq('cors-any');
    const s = await openSse(server.port, { topics: [topic], headers: { Origin: EVIL, ...bearer(KEY) } });
    try {
      assert.equal(s.status, 200, s.text);
      assertWildcard(s.headers, 'SSE');
    } finally {
      s.close();
    }
    const res = await publish(server.url, topic, 'x', { headers: { Origin: APP, ...bearer(KEY) } });
    assert.equal(res.status, 201);
    assertWildcard(res.headers, 'publish');
  });
});

describe('a listed origin plus `*`', () => {
  let server;
  before(async () => {
    server = await start(`${APP},*`);
  });
  after(() => stopServer(server));

  test('the listed origin is echoed with credentials; any other gets * without credentials, both Vary: Origin', async () => {
    const listed = await request(`${server.url}/healthz`, { headers: { Origin: APP } });
    assertCredentialed(listed.headers, APP, 'listed');
    const other = await request(`${server.url}/healthz`, { headers: { Origin: EVIL } });
    assertWildcard(other.headers, 'other');
    assert.ok(tokens(other.headers.vary).includes('origin'), `the * answer must Vary: Origin when another origin gets another answer: ${JSON.stringify(other.headers)}`);
  });

  test('preflight: credentials for the listed origin, * for another', async () => {
    const a = await preflight(server.url, topicPath('cors/mix'), APP);
    assert.equal(a.status, 204);
    assertCredentialed(a.headers, APP, 'listed preflight');
    const b = await preflight(server.url, topicPath('cors/mix'), EVIL);
    assert.equal(b.status, 204);
    assertWildcard(b.headers, 'other preflight');
  });
});
