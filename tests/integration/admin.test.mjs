// The operator's endpoints (docs/api.md "Admin"): GET /admin, GET /v1/topics, GET /v1/admin/stats
// and POST /v1/admin/session. Admin rights come from an admin key (admin_api_keys), a JWT with
// "switchboard.admin": true, or the session cookie that POST /v1/admin/session sets; nothing else
// (an API key, a plain JWT, anonymity in dev mode) gets more than 401/403.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { publishOk, request, topicPath } from '../support/http.mjs';
import { openSse } from '../support/sse.mjs';
import { openWs, stopServer } from '../support/ws-client.mjs';
import { connectH2, h2Events } from '../support/h2.mjs';
import { uniq, sleep, waitFor } from '../support/util.mjs';
import { bearer, claims, newSecret, signHS256 } from '../support/jwt.mjs';

const ADMIN = 'ak_it_admin_0123456789abcdef';
const BACKEND = 'sk_it_backend_0123456789abcdef';
const secret = newSecret();
const adminJwt = () => signHS256(claims({ sub: 'ops', subscribe: null, publish: null, extra: { 'switchboard.admin': true } }), secret);
const userJwt = () => signHS256(claims({ sub: 'alice', extra: { 'switchboard.admin': false } }), secret);
let server;

before(async () => {
  // Two loops, so subscriber counts must be summed across them.
  server = await startServer(null, {
    dev: false,
    args: ['--threads', '2', '--api-keys', BACKEND, '--admin-api-keys', ADMIN, '--jwt-secret', secret],
  });
});
after(() => stopServer(server));

const get = (path, headers = {}) => request(`${server.url}${path}`, { headers });

async function topics(query, headers = bearer(ADMIN)) {
  const res = await get(`/v1/topics?${new URLSearchParams(query)}`, headers);
  return { status: res.status, headers: res.headers, body: JSON.parse(res.text) };
}

async function stillServes() {
  const res = await get('/healthz');
  assert.equal(res.status, 200);
  assert.equal(res.text, 'ok\n');
}

test('401 without credentials, 403 with credentials that are not an admin\'s, 200 for an admin key or claim', async () => {
  for (const path of ['/v1/topics', '/admin', '/v1/admin/stats']) {
    const none = await get(path, { Accept: 'application/json' });
    assert.equal(none.status, 401, `${path} without credentials`);
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    assert.deepEqual(JSON.parse(none.text), { error: 'unauthorized', message: 'admin credentials required' });

    for (const [who, headers] of [['API key', bearer(BACKEND)], ['JWT without the claim', bearer(userJwt())]]) {
      const res = await get(path, { Accept: 'application/json', ...headers });
      assert.equal(res.status, 403, `${path} with a ${who}`);
      assert.equal(JSON.parse(res.text).error, 'forbidden');
    }
    const broken = await get(path, bearer(`${adminJwt()}x`));
    assert.equal(broken.status, 401, `${path} with a broken token`);
    assert.match(broken.headers['www-authenticate'], /invalid_token/);
  }
  for (const token of [ADMIN, adminJwt()]) {
    const list = await get('/v1/topics', bearer(token));
    assert.equal(list.status, 200);
    assert.equal(list.headers['content-type'], 'application/json');
    const page = await get('/admin', bearer(token));
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'], /^text\/html/);
    assert.match(page.text, /<html lang="en" data-view="dashboard">/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['cache-control'], 'no-store');
  }
  // A browser without credentials gets the page's sign-in view, with the refusal's status.
  const signin = await get('/admin', { Accept: 'text/html,application/xhtml+xml' });
  assert.equal(signin.status, 401);
  assert.match(signin.text, /<html lang="en" data-view="signin">/);
  const forbidden = await get('/admin', { Accept: 'text/html', ...bearer(BACKEND) });
  assert.equal(forbidden.status, 403);
  assert.match(forbidden.text, /data-view="signin"/);
  await stillServes();
});

test('an admin key grants the admin endpoints only: no topic, and the stats topic is no topic at all', async () => {
  const topic = uniq('adm-only');
  const sub = await openSse(server.port, { topics: [topic], headers: bearer(ADMIN) });
  assert.equal(sub.status, 403);
  sub.close();
  const pub = await request(`${server.url}${topicPath(topic)}`, { method: 'POST', body: 'x', headers: bearer(ADMIN) });
  assert.equal(pub.status, 403);
  const own = await openSse(server.port, { topics: ['$admin/stats'], headers: bearer(BACKEND) });
  assert.equal(own.status, 400);
  assert.equal(JSON.parse(own.text).error, 'invalid_topic');
  own.close();
  const wrongMethod = await request(`${server.url}/v1/topics`, { method: 'POST', body: '', headers: bearer(ADMIN) });
  assert.equal(wrongMethod.status, 405);
  await stillServes();
});

test('POST /v1/admin/session sets an HttpOnly SameSite=Strict cookie that stands for the admin, and only from this host', async () => {
  const none = await request(`${server.url}/v1/admin/session`, { method: 'POST', body: '' });
  assert.equal(none.status, 401);
  const user = await request(`${server.url}/v1/admin/session`, { method: 'POST', body: '', headers: bearer(BACKEND) });
  assert.equal(user.status, 403);
  assert.equal(user.headers['set-cookie'], undefined);

  const res = await request(`${server.url}/v1/admin/session`, { method: 'POST', body: '', headers: bearer(ADMIN) });
  assert.equal(res.status, 204);
  const [cookie] = res.headers['set-cookie'];
  assert.match(cookie, /^switchboard_admin=\d+\.[A-Za-z0-9_-]{43}; Path=\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
  const value = cookie.split(';')[0];
  assert.ok(!value.includes(ADMIN), 'the cookie does not hold the key');

  assert.equal((await get('/v1/topics', { Cookie: value })).status, 200);
  assert.equal((await get('/admin', { Cookie: `other=1; ${value}` })).status, 200);
  // Same host by Origin is fine; another site's page is not, even with the cookie attached.
  assert.equal((await get('/v1/topics', { Cookie: value, Origin: server.url })).status, 200);
  assert.equal((await get('/v1/topics', { Cookie: value, Origin: 'https://evil.example' })).status, 401);
  // A forged or altered cookie is refused with the reason.
  const [expiry, mac] = value.split('=')[1].split('.');
  const flipped = (mac[0] === 'A' ? 'B' : 'A') + mac.slice(1);
  for (const forged of [`${Number(expiry) + 3600}.${mac}`, `${expiry}.${flipped}`, `${expiry}`, `${expiry}.`, 'x.y']) {
    const r = await get('/v1/topics', { Cookie: `switchboard_admin=${forged}` });
    assert.equal(r.status, 401, `forged cookie ${forged}`);
  }
  // The stats stream takes the cookie too: it is what an EventSource sends.
  const stats = await openSse(server.port, { path: '/v1/admin/stats', headers: { Cookie: value } });
  assert.equal(stats.status, 200);
  stats.close();
  await stillServes();
});

test('GET /v1/topics: sorted by name, paginated by after/next, filtered by prefix, last_id as the publish said', async () => {
  const base = uniq('adm-list');
  const names = [];
  const ids = new Map();
  for (let i = 0; i < 23; i++) {
    const name = `${base}/t${String(i).padStart(2, '0')}`;
    names.push(name);
    ids.set(name, await publishOk(server.url, name, `m${i}`, { headers: bearer(BACKEND) }));
  }
  await publishOk(server.url, `${base}-other/x`, 'not in the prefix', { headers: bearer(BACKEND) });
  const seen = [];
  let after;
  for (let pages = 0; pages < 10; pages++) {
    const res = await topics({ prefix: `${base}/`, limit: '10', ...(after ? { after } : {}) });
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.ok(res.body.topics.length <= 10);
    for (const t of res.body.topics) {
      assert.deepEqual(Object.keys(t).sort(), ['last_id', 'presence', 'subscribers', 'topic']);
      assert.equal(t.last_id, ids.get(t.topic));
      assert.equal(t.subscribers, 0);
      seen.push(t.topic);
    }
    after = res.body.next;
    if (after === null) break;
    assert.equal(after, res.body.topics.at(-1).topic);
  }
  assert.deepEqual(seen, [...names].sort());
  // The prefix without its slash takes the sibling too; `after` past everything gives nothing.
  const wide = await topics({ prefix: base, limit: '1000' });
  assert.equal(wide.body.topics.length, 24);
  assert.equal(wide.body.next, null);
  const past = await topics({ prefix: base, after: `${base}~` });
  assert.deepEqual(past.body, { topics: [], next: null });
  // limit: default 100, 1..1000, anything else 400 (and the connection is still served after).
  for (const bad of ['0', '1001', '-1', 'ten', '', '1e3', '99999999999999999999']) {
    const res = await topics({ limit: bad });
    assert.equal(res.status, 400, `limit=${bad}`);
    assert.deepEqual(res.body, { error: 'invalid_request', message: 'limit must be an integer from 1 to 1000' });
  }
  const long = await topics({ prefix: 'p'.repeat(201) });
  assert.equal(long.status, 400);
  const all = await topics({});
  assert.ok(all.body.topics.length <= 100);
  assert.ok(!all.body.topics.some((t) => t.topic.startsWith('$')), 'the server\'s own topics are not listed');
  await stillServes();
});

test('GET /v1/topics: subscriber counts match the real subscribers over SSE (h1 and h2) and WebSocket, across loops', async (t) => {
  const topic = uniq('adm-count');
  const quiet = uniq('adm-quiet');
  const count = async (name) => (await topics({ prefix: name, limit: '1' })).body.topics.find((x) => x.topic === name);
  const sse = [];
  for (let i = 0; i < 6; i++) {
    const s = await openSse(server.port, { topics: i % 2 ? [topic] : [topic, quiet], headers: bearer(BACKEND) });
    assert.equal(s.status, 200);
    sse.push(s);
  }
  t.after(() => sse.forEach((s) => s.close()));
  const h2 = await connectH2(t, server.url);
  const h2Stream = h2Events(t, h2, `/v1/events?topic=${topic}`, { headers: bearer(BACKEND) });
  const ws = await openWs(t, server.port, { options: { headers: bearer(BACKEND) } });
  await ws.ok({ op: 'subscribe', topic });
  await ws.ok({ op: 'presence.join', topic, state: { name: 'w' } });
  await waitFor(async () => (await count(topic))?.subscribers === 8, { what: '8 subscribers of the topic' });
  const entry = await count(topic);
  assert.equal(entry.last_id, null, 'no message yet');
  assert.equal(entry.presence, 1);
  assert.equal((await count(quiet)).subscribers, 3);

  for (const s of sse.splice(0, 3)) s.close();
  ws.close();
  await waitFor(async () => (await count(topic))?.subscribers === 4, { what: '4 subscribers after 4 left' });
  await waitFor(async () => (await count(quiet))?.subscribers === 1, { what: '1 subscriber of the quiet topic' });
  void h2Stream;
  await stillServes();
});

test('GET /v1/admin/stats: a JSON snapshot a second whose numbers move under load', async (t) => {
  const topic = uniq('adm-stats');
  const stats = await openSse(server.port, { path: '/v1/admin/stats', headers: bearer(ADMIN) });
  t.after(() => stats.close());
  assert.equal(stats.status, 200);
  assert.equal(stats.headers['content-type'], 'text/event-stream');
  assert.equal(stats.headers['cache-control'], 'no-store');
  const first = await stats.next(4000);
  assert.equal(first.event, 'stats');
  assert.equal(first.idField, undefined, 'snapshots carry no id: nothing to resume');
  const s0 = JSON.parse(first.data);
  assert.deepEqual(Object.keys(s0).sort(), ['connections', 'history', 'presence', 'rates', 'revision', 'time', 'topics', 'totals', 'uptime_s', 'version']);
  assert.deepEqual(Object.keys(s0.connections).sort(), ['h2', 'sse_h1', 'sse_h2', 'total', 'websocket']);
  assert.deepEqual(Object.keys(s0.rates).sort(), ['deliveries_per_s', 'publishes_per_s']);
  assert.deepEqual(Object.keys(s0.totals).sort(), ['deliveries', 'drops', 'gaps', 'http_requests', 'published', 'slow_consumer_closes']);
  assert.match(s0.version, /^\d+\.\d+\.\d+/);
  assert.ok(Number.isInteger(s0.uptime_s) && s0.uptime_s >= 0);
  assert.ok(Math.abs(s0.time - Date.now()) < 5000);
  assert.ok(s0.connections.sse_h1 >= 1, 'this stream is one');

  // Load: 5 SSE subscribers (one told of a gap), one WebSocket in the room (a joined member is a
  // subscriber too), and publishes for ~2 s.
  const subs = [];
  for (let i = 0; i < 4; i++) subs.push(await openSse(server.port, { topics: [topic], headers: bearer(BACKEND) }));
  t.after(() => subs.forEach((s) => s.close()));
  const ws = await openWs(t, server.port, { options: { headers: bearer(BACKEND) } });
  await ws.ok({ op: 'presence.join', topic, state: {} });
  await publishOk(server.url, topic, 'first', { headers: bearer(BACKEND) });
  const stale = await openSse(server.port, { topics: [topic], since: '1-1', headers: bearer(BACKEND) });
  t.after(() => stale.close());
  assert.equal(stale.status, 200, stale.text);
  assert.equal((await stale.next()).event, 'gap');
  const deadline = Date.now() + 2000;
  let published = 1;
  while (Date.now() < deadline) {
    await Promise.all([0, 1, 2, 3, 4].map((i) => publishOk(server.url, topic, `m${published + i}`, { headers: bearer(BACKEND) })));
    published += 5;
    await sleep(20);
  }
  const moved = await stats.until(
    (s) => {
      for (const e of s.events.slice(1)) {
        const x = JSON.parse(e.data);
        const busy = x.topics.busiest.find((b) => b.topic === topic);
        if (x.rates.publishes_per_s > 0 && x.rates.deliveries_per_s > 0 && busy?.subscribers === 6 && busy.presence === 1 &&
            x.totals.published - s0.totals.published >= published && x.totals.gaps > s0.totals.gaps) {
          return x;
        }
      }
      return null;
    },
    5000,
    `a snapshot showing the load (${published} published); last: ${stats.events.at(-1).data}`,
  );
  assert.ok(moved.connections.sse_h1 >= s0.connections.sse_h1 + 5);
  assert.ok(moved.connections.websocket >= 1);
  assert.ok(moved.totals.deliveries - s0.totals.deliveries >= published * 5);
  assert.ok(moved.presence.members >= 1 && moved.presence.rooms >= 1);
  assert.ok(moved.presence.largest.some((r) => r.topic === topic && r.members === 1));
  assert.ok(moved.history.messages >= published);
  assert.ok(moved.uptime_s >= s0.uptime_s);
  assert.ok(!moved.topics.busiest.some((b) => b.topic.startsWith('$')));
  await stillServes();
});

test('the stats stream counts SSE over HTTP/2 apart, and forgets streams as they end either way', async (t) => {
  const stats = await openSse(server.port, { path: '/v1/admin/stats', headers: bearer(ADMIN) });
  t.after(() => stats.close());
  const latest = async (pred, what) =>
    stats.until((s) => {
      const e = s.events.at(-1);
      const x = e && JSON.parse(e.data);
      return x && pred(x) ? x : null;
    }, 5000, what);
  const base = await latest(() => true, 'a first snapshot');
  const h2 = await connectH2(t, server.url);
  const topic = uniq('adm-h2');
  const streams = [0, 1, 2].map(() => h2Events(t, h2, `/v1/events?topic=${topic}`, { headers: { authorization: `Bearer ${BACKEND}` } }));
  await Promise.all(streams.map((s) => s.ready));
  assert.deepEqual(streams.map((s) => s.status), [200, 200, 200]);
  await latest((x) => x.connections.sse_h2 === base.connections.sse_h2 + 3 && x.connections.h2 === base.connections.h2 + 1,
    '3 SSE streams over HTTP/2 on one connection');
  streams[0].req.close(); // RST_STREAM: the stream ends, the connection stays
  await latest((x) => x.connections.sse_h2 === base.connections.sse_h2 + 2, 'one stream reset');
  h2.destroy(); // the connection ends with two streams open
  const after = await latest((x) => x.connections.sse_h2 === base.connections.sse_h2 && x.connections.h2 === base.connections.h2,
    'the connection gone');
  assert.equal(after.connections.sse_h1, base.connections.sse_h1);
});

test('dev mode does not make the admin endpoints anonymous', async (t) => {
  const dev = await startServer(t, { dev: true });
  for (const path of ['/v1/topics', '/admin', '/v1/admin/stats']) {
    const res = await request(`${dev.url}${path}`);
    assert.equal(res.status, 401, `${path} in dev mode`);
  }
  // Anonymous publishing still works there; only the admin endpoints are closed.
  await publishOk(dev.url, uniq('adm-dev'), 'x');
});
