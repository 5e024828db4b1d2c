// client.js in a real browser against the real server: the cursor throttle, the presence map and
// re-join after a reconnect, publish acks and errors, and credentials (JWT for EventSource and
// WebSocket, single-use tickets fetched again when the browser's own reconnect is refused).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startServer } from '../support/server.mjs';
import { publishOk, request } from '../support/http.mjs';
import { launchBrowser, sleep, startProxy, waitFor } from './browser.mjs';

/** A page on the server's origin with client.js imported as window.sb. */
async function libraryPage(context, base) {
  const page = await context.newPage();
  await page.goto(`${base}/healthz`);
  await page.evaluate(async () => {
    window.sb = await import('/client.js');
  });
  return page;
}

function jwt(secret, claims) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

test('cursor() sends at most volatile_hz a second, latest wins, with a trailing send', async (t) => {
  const server = await startServer(t);
  const context = await launchBrowser(t);
  const page = await libraryPage(context, server.url);
  const r = await page.evaluate(async () => {
    // Count the frames the client library itself writes, per topic.
    const frames = {};
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (text) {
      const op = JSON.parse(text);
      if (op.volatile) frames[op.topic] = (frames[op.topic] || 0) + 1;
      return send.call(this, text);
    };
    const mover = window.sb.connect();
    const watcher = window.sb.connect();
    const got = [];
    const slowGot = [];
    await watcher.subscribe('e2e/cursor', (m) => got.push({ v: JSON.parse(m.data).i, from: m.from })).ready;
    await watcher.subscribe('e2e/cursor-slow', (m) => slowGot.push(JSON.parse(m.data).i)).ready;
    while (!mover.connected) await new Promise((res) => setTimeout(res, 10));
    const move = mover.cursor('e2e/cursor'); // default 30/s
    const slow = mover.cursor('e2e/cursor-slow', { hz: 5 });
    let i = 0;
    const start = performance.now();
    while (performance.now() - start < 1000) {
      i += 1;
      move({ i });
      slow({ i });
      await new Promise((res) => setTimeout(res, 2));
    }
    const elapsed = performance.now() - start;
    await new Promise((res) => setTimeout(res, 500)); // the trailing sends
    return { calls: i, elapsed, frames, got: got.map((g) => g.v), slowGot, from: got[0]?.from };
  });
  const most = (hz) => Math.ceil((r.elapsed / 1000) * hz) + 1; // one at the start, the trailing one at the end
  const sent = r.frames['e2e/cursor'];
  const sentSlow = r.frames['e2e/cursor-slow'];
  assert.ok(r.calls > 50, `the page called the senders ${r.calls} times`);
  assert.ok(sent <= most(30) && sent >= most(30) / 2, `30/s for ${r.elapsed.toFixed(0)} ms: the client sent ${sent}`);
  assert.ok(sentSlow <= most(5) && sentSlow >= 3, `5/s: the client sent ${sentSlow}`);
  // The server paces volatile messages too (latest wins), so the watcher may see fewer.
  assert.ok(r.got.length <= sent && r.got.length >= sent / 3, `the watcher got ${r.got.length} of ${sent}`);
  assert.equal(r.got.at(-1), r.calls, 'the last value sent is the last value seen (trailing send)');
  assert.deepEqual([...r.got].sort((a, b) => a - b), r.got, 'in order');
  assert.equal(r.slowGot.at(-1), r.calls);
  assert.match(r.from, /^c\d+$/);
});

test('presence: members from the snapshot and diffs, update, leave, and a re-join after a reconnect', async (t) => {
  const server = await startServer(t);
  const context = await launchBrowser(t);
  const page = await libraryPage(context, server.url);
  await page.evaluate(async () => {
    const view = (c) => Object.fromEntries([...c.members('e2e/room')].map(([id, s]) => [id, s && s.n]));
    window.view = () => ({ a: view(window.a), b: view(window.b), aStatus: window.aStatuses });
    window.aStatuses = [];
    window.a = window.sb.connect({ onStatus: (s) => window.aStatuses.push(s) });
    window.b = window.sb.connect();
    await window.a.join('e2e/room', { n: 1 });
    await window.b.join('e2e/room', { n: 2 });
  });
  const view = () => page.evaluate(() => window.view());
  const both = await waitFor(
    async () => {
      const v = await view();
      return Object.keys(v.a).length === 2 && Object.keys(v.b).length === 2 && v;
    },
    { what: 'both members on both clients' },
  );
  assert.deepEqual(both.a, both.b);
  assert.deepEqual(Object.values(both.a).sort(), [1, 2]);
  const [aId] = Object.entries(both.a).find(([, n]) => n === 1);

  await page.evaluate(() => window.b.update('e2e/room', { n: 22 }));
  await waitFor(async () => Object.values((await view()).a).includes(22), { what: 'the update as a join with the new state' });
  assert.equal(Object.keys((await view()).a).length, 2, 'an update replaces, it does not add');

  // a's connection drops: it reconnects, joins again with its state, under a new connection id.
  await page.evaluate(() => window.a.reconnect());
  const after = await waitFor(
    async () => {
      const v = await view();
      const ids = Object.keys(v.b);
      return ids.length === 2 && !ids.includes(aId) && Object.keys(v.a).length === 2 && v;
    },
    { timeoutMs: 15000, what: 'a to be back as a new member on both clients' },
  );
  assert.deepEqual(after.a, after.b);
  assert.deepEqual(Object.values(after.b).sort((x, y) => x - y), [1, 22]);
  assert.deepEqual(after.aStatus, ['connecting', 'live', 'reconnecting', 'resumed']);

  await page.evaluate(() => window.b.leave('e2e/room'));
  await waitFor(async () => Object.keys((await view()).a).length === 1, { what: "b's leave" });
  assert.deepEqual(Object.values((await view()).a), [1]);
  assert.equal(await page.evaluate(() => window.a.memberCount('e2e/room')), 1);
  assert.deepEqual(await page.evaluate(() => Object.keys(window.view().b)), [], 'a member that left keeps no map');
});

test('publish: acks carry the id, refusals reject with the server code, offline publishes wait', async (t) => {
  const server = await startServer(t);
  const context = await launchBrowser(t);
  const page = await libraryPage(context, server.url);
  const r = await page.evaluate(async () => {
    const c = window.sb.connect();
    const got = [];
    await c.subscribe('e2e/pub', (m) => got.push(m)).ready;
    const ack = await c.publish('e2e/pub', { hello: 'json' }, { event: 'greet' });
    const refused = await c.publish('e2e//bad', 'x').then(
      () => null,
      (e) => ({ name: e.name, code: e.code }),
    );
    const notJoined = await c.update('e2e/never', {}).catch((e) => e.code);
    c.reconnect();
    const offline = c.publish('e2e/pub', 'while reconnecting'); // queued until the socket is open
    const offlineAck = await offline;
    while (got.length < 2) await new Promise((res) => setTimeout(res, 10));
    // The HTTP publish and a single-topic listen: the message names its topic and event.
    let published;
    const heard = new Promise((resolve) => {
      const l = window.sb.listen('e2e/http', {
        events: ['note'],
        onStatus: (s) => {
          if (s === 'live') published = window.sb.publish('e2e/http', 'over http', { event: 'note' });
        },
        onMessage: (m) => {
          l.close();
          resolve(m);
        },
      });
    });
    const m = await heard;
    return { ack, refused, notJoined, offlineAck, got, heard: { ...m, published: await published }, status: c.status };
  });
  assert.match(r.ack.id, /^\d+-\d+$/);
  assert.deepEqual(r.refused, { name: 'SwitchboardError', code: 'invalid_topic' });
  assert.equal(r.notJoined, 'not_joined');
  assert.match(r.offlineAck.id, /^\d+-\d+$/);
  assert.equal(r.got[0].data, '{"hello":"json"}');
  assert.equal(r.got[0].event, 'greet');
  assert.equal(r.got[0].id, r.ack.id);
  assert.match(r.got[0].from, /^c\d+$/);
  assert.equal(r.got[1].data, 'while reconnecting');
  assert.equal(r.status, 'resumed');
  assert.equal(r.heard.topic, 'e2e/http');
  assert.equal(r.heard.event, 'note');
  assert.equal(r.heard.data, 'over http');
  assert.equal(r.heard.id, r.heard.published?.id, 'a single-topic SSE id is the publish id');
});

test('credentials: a JWT for EventSource and WebSocket; single-use tickets fetched anew after a drop', async (t) => {
  const secret = 'e2e-secret-0123456789abcdef0123456789abcdef';
  const apiKey = 'e2e-key-0123456789abcdef';
  const server = await startServer(t, { env: { SWITCHBOARD_JWT_SECRET: secret, SWITCHBOARD_API_KEYS: apiKey } });
  const auth = { authorization: `Bearer ${apiKey}` };
  const proxy = await startProxy(t, server.port);
  const context = await launchBrowser(t);
  const page = await libraryPage(context, proxy.url);

  const token = jwt(secret, {
    sub: 'alice',
    exp: Math.floor(Date.now() / 1000) + 600,
    'switchboard.subscribe': ['e2e/**'],
    'switchboard.publish': ['e2e/**'],
  });
  const jwtResult = await page.evaluate(async (tok) => {
    const anonymous = await new Promise((resolve) => {
      const l = window.sb.listen('e2e/private', { onStatus: (s) => s === 'reconnecting' && (l.close(), resolve(s)) });
    });
    const c = window.sb.connect({ token: tok });
    await c.join('e2e/jwt-room', { n: 1 });
    const got = [];
    await c.subscribe('e2e/jwt', (m) => got.push(m)).ready;
    await c.publish('e2e/jwt', 'signed');
    while (got.length < 1) await new Promise((r) => setTimeout(r, 10));
    const sse = await new Promise((resolve) => {
      const l = window.sb.listen('e2e/jwt', {
        token: tok,
        onStatus: (s) => s === 'live' && c.publish('e2e/jwt', 'for sse'),
        onMessage: (m) => (l.close(), resolve(m.data)),
      });
    });
    const members = [...c.members('e2e/jwt-room').keys()];
    c.close();
    return { anonymous, from: got[0].from, members, sse };
  }, token);
  assert.equal(jwtResult.anonymous, 'reconnecting', 'without credentials the stream is refused (and retried)');
  assert.equal(jwtResult.from, 'alice', 'the identity is the token subject');
  assert.deepEqual(jwtResult.members, ['alice']);
  assert.equal(jwtResult.sse, 'for sse');

  // Tickets: the page asks "its backend" (the test, holding the API key) for each new one.
  let minted = 0;
  await page.exposeFunction('mintTicket', async () => {
    minted += 1;
    const res = await request(`${server.url}/v1/tickets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ subject: 'bob', topics: ['e2e/ticketed'] }),
    });
    assert.equal(res.status, 201, res.text);
    return res.json().ticket;
  });
  await page.evaluate(() => {
    window.tGot = [];
    window.tStatuses = [];
    window.sb.listen('e2e/ticketed', {
      ticket: () => window.mintTicket(),
      onStatus: (s) => window.tStatuses.push(s),
      onMessage: (m) => window.tGot.push(m.data),
    });
  });
  await waitFor(async () => (await page.evaluate(() => window.tStatuses)).includes('live'), { what: 'the ticketed stream' });
  await publishOk(server.url, 'e2e/ticketed', 'one', { headers: auth });
  await waitFor(async () => (await page.evaluate(() => window.tGot)).length === 1, { what: 'the first message' });
  proxy.block();
  proxy.cut(); // the browser reconnects with the used ticket in its URL: refused, so client.js mints anew
  await publishOk(server.url, 'e2e/ticketed', 'two', { headers: auth });
  await sleep(400);
  proxy.unblock();
  await waitFor(async () => (await page.evaluate(() => window.tGot)).length === 2, {
    timeoutMs: 20000,
    what: 'the message published during the drop',
  });
  const end = await page.evaluate(() => ({ got: window.tGot, statuses: window.tStatuses }));
  assert.deepEqual(end.got, ['one', 'two']);
  assert.ok(minted >= 2, `a fresh ticket per connection (${minted})`);
  assert.equal(end.statuses.at(-1), 'resumed', end.statuses.join(' > '));
  assert.ok(!end.statuses.includes('gap'));
});
