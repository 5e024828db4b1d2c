// Subscribe tickets across nodes (docs/scaling.md): with broker = redis a ticket minted on any node
// is redeemed on any node, exactly once; Redis keeps only its SHA-256 (sb:ticket:{hex}) and
// expires it. Real redis-server, three real nodes, a real HAProxy round-robin balancer, a TCP fault
// proxy. With Redis unreachable, minting and redeeming answer 503 with Retry-After at once (not
// 401: the ticket may be fine), and the node keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { request, publish } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { connectH2, h2Events, h2Request } from '../support/h2.mjs';
import { bearer } from '../support/jwt.mjs';
import { sleep, uniq, waitFor } from '../support/util.mjs';
import { startRedis, startNode, startBalancer, startFaultProxy, readyz } from '../support/cluster.mjs';

const KEY = 'sk_cluster_tickets_0123456789abcdef';
const nodeArgs = ['--api-keys', KEY];

async function mint(base, body) {
  const res = await request(`${base}/v1/tickets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(KEY) },
    body: JSON.stringify(body),
    timeoutMs: 5000,
  });
  let json = null;
  try {
    json = JSON.parse(res.text);
  } catch {
    // not JSON
  }
  return { ...res, body: json };
}

async function mintOk(base, body) {
  const res = await mint(base, body);
  assert.equal(res.status, 201, `mint on ${base}: ${res.status} ${res.text}`);
  assert.match(res.body.ticket, /^[A-Za-z0-9_-]{43}$/);
  return res.body.ticket;
}

function events(node, topics, ticket) {
  return openSse(node.port, { topics, query: { ticket } });
}

function assertUsedUp(s, where) {
  assert.equal(s.status, 401, `${where}: ${s.status} ${s.text}`);
  assert.equal(s.headers['www-authenticate'], 'Bearer error="invalid_token"', where);
  assert.equal(JSON.parse(s.text).error, 'unauthorized', where);
}

function assertUnavailable(res, where) {
  assert.equal(res.status, 503, `${where}: ${res.status} ${res.text}`);
  assert.equal(res.headers['retry-after'], '1', where);
  assert.equal(JSON.parse(res.text).error, 'unavailable', where);
}

function ticketKeys(redis) {
  return redis.cli('--scan', '--pattern', 'sb:ticket:*').split('\n').filter(Boolean);
}

async function cluster(t, { nodes = 3 } = {}) {
  const redis = await startRedis(t);
  const list = [];
  for (let i = 0; i < nodes; i++) list.push(await startNode(t, redis.url, { name: `n${i + 1}`, args: nodeArgs }));
  await waitFor(async () => (await Promise.all(list.map((n) => readyz(n.url)))).every((s) => s === 200), {
    what: 'every node ready',
  });
  return { redis, nodes: list };
}

/** A WebSocket upgrade with `query`: resolves { status, ws } (ws open on 101). */
function wsOpen(node, query) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${node.port}/v1/ws?${query}`, ['switchboard.v1'], { perMessageDeflate: false });
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode, headers: res.headers });
      req.destroy();
    });
    ws.on('error', () => {});
  });
}

test('tickets across nodes: minted on one, redeemed once on any, raced, expired, over HTTP/1.1, HTTP/2 and WebSocket', async (t) => {
  const { redis, nodes } = await cluster(t);
  const [a, b, c] = nodes;

  await t.test('mint on A, redeem on B: the stream carries its topics only; Redis holds the digest alone', async () => {
    const topic = uniq('ct/ab');
    const other = uniq('ct/other');
    const before = new Set(ticketKeys(redis));
    const ticket = await mintOk(a.url, { subject: 'alice', topics: [topic, 'ct/rooms/*'] });
    const keys = ticketKeys(redis).filter((k) => !before.has(k));
    assert.equal(keys.length, 1, `one new ticket key: ${keys}`);
    assert.match(keys[0], /^sb:ticket:\{[0-9a-f]{64}\}$/);
    assert.ok(!keys[0].includes(ticket), 'the key is not the ticket');
    const stored = redis.cli('GET', keys[0]).trim();
    assert.ok(!stored.includes(ticket), 'the record is not the ticket');
    assert.deepEqual(JSON.parse(stored), { s: 'alice', t: [topic, 'ct/rooms/*'] });
    const pttl = Number(redis.cli('PTTL', keys[0]));
    assert.ok(pttl > 25000 && pttl <= 30000, `PTTL ${pttl} within the default ticket_ttl_s (30 s)`);

    const s = await events(b, [topic, 'ct/rooms/7'], ticket);
    t.after(() => s.close());
    assert.equal(s.status, 200, s.text);
    assert.equal(s.headers['content-type'], 'text/event-stream');
    await waitPreamble(s);
    assert.deepEqual(ticketKeys(redis).filter((k) => !before.has(k)), [], 'redeemed: the key is gone');
    assert.equal((await publish(c.url, other, 'not yours', { headers: bearer(KEY) })).status, 201);
    assert.equal((await publish(c.url, topic, 'one', { headers: bearer(KEY) })).status, 201);
    assert.equal((await publish(a.url, 'ct/rooms/7', 'two', { headers: bearer(KEY) })).status, 201);
    const evs = await s.waitEvents(2, 5000);
    assert.deepEqual(evs.map((e) => e.data), ['one', 'two']);
    await sleep(150);
    assert.equal(s.events.length, 2, 'nothing from a topic the stream did not ask for');

    // A ticket is its topics only, on any node: another topic is 403 (and uses the ticket up).
    const narrow = await mintOk(c.url, { subject: 'alice', topics: [topic] });
    const refused = await events(a, [other], narrow);
    refused.close();
    assert.equal(refused.status, 403, refused.text);
    assertUsedUp(await events(b, [topic], narrow), 'a ticket refused for its topic is used up');
  });

  await t.test('a second redeem, on the redeeming node or another, is 401 invalid_token', async () => {
    const topic = uniq('ct/twice');
    const ticket = await mintOk(a.url, { subject: 'bob', topics: [topic] });
    const first = await events(b, [topic], ticket);
    t.after(() => first.close());
    assert.equal(first.status, 200, first.text);
    const againB = await events(b, [topic], ticket);
    againB.close();
    assertUsedUp(againB, 'again on B');
    const againA = await events(a, [topic], ticket);
    againA.close();
    assertUsedUp(againA, 'again on A (the minting node)');
    // The first stream still delivers, and every node still serves.
    assert.equal((await publish(c.url, topic, 'still', { headers: bearer(KEY) })).status, 201);
    const [ev] = await first.waitEvents(1, 5000);
    assert.equal(ev.data, 'still');
    for (const n of nodes) assert.equal((await request(`${n.url}/healthz`)).status, 200);
  });

  await t.test('one ticket raced on three nodes at once opens exactly one stream (20 rounds)', async () => {
    const topic = uniq('ct/race');
    for (let round = 0; round < 20; round++) {
      const ticket = await mintOk(nodes[round % 3].url, { subject: `racer${round}`, topics: [topic] });
      const streams = await Promise.all(nodes.map((n) => events(n, [topic], ticket)));
      for (const s of streams) s.close();
      const statuses = streams.map((s) => s.status);
      assert.equal(statuses.filter((s) => s === 200).length, 1, `round ${round}: ${statuses}`);
      assert.equal(statuses.filter((s) => s === 401).length, 2, `round ${round}: ${statuses}`);
    }
  });

  await t.test('a ticket expires on every node (Redis expires it, not the minting node)', async () => {
    const topic = uniq('ct/expiry');
    const short = await mintOk(a.url, { subject: 'carol', topics: [topic], ttl_s: 1 });
    const kept = await mintOk(a.url, { subject: 'carol', topics: [topic], ttl_s: 5 });
    await sleep(1300);
    assertUsedUp(await events(b, [topic], short), 'expired, on B');
    assertUsedUp(await events(a, [topic], short), 'expired, on A');
    const s = await events(c, [topic], kept);
    s.close();
    assert.equal(s.status, 200, `an unexpired ticket still works: ${s.text}`);
  });

  await t.test('a ticket minted on A opens a WebSocket on B, an HTTP/2 stream on C and a history read; each once', async () => {
    const topic = uniq('ct/proto');
    const wsTicket = await mintOk(a.url, { subject: 'dora', topics: [topic] });
    const { status, ws } = await wsOpen(b, `ticket=${wsTicket}`);
    assert.equal(status, 101);
    t.after(() => ws.close());
    const got = [];
    ws.on('message', (d) => got.push(JSON.parse(d.toString('utf8'))));
    ws.send(JSON.stringify({ op: 'subscribe', topic, ref: 's' }));
    await waitFor(() => got.some((m) => m.op === 'ack' && m.ref === 's'), { what: 'the subscribe ack' });
    ws.send(JSON.stringify({ op: 'subscribe', topic: uniq('ct/notmine'), ref: 'x' }));
    await waitFor(() => got.some((m) => m.op === 'error' && m.ref === 'x'), { what: 'a refused subscribe' });
    assert.equal((await wsOpen(c, `ticket=${wsTicket}`)).status, 401, 'the handshake ticket is used up');

    const h2Ticket = await mintOk(a.url, { subject: 'dora', topics: [topic] });
    const session = await connectH2(t, c.url);
    const h2 = h2Events(t, session, `/v1/events?topic=${encodeURIComponent(topic)}&ticket=${h2Ticket}`);
    await h2.ready;
    assert.equal(h2.status, 200);
    assert.equal((await publish(a.url, topic, 'everyone', { headers: bearer(KEY) })).status, 201);
    const [ev] = await h2.waitEvents(1, 5000);
    assert.equal(ev.data, 'everyone');
    await waitFor(() => got.some((m) => m.op === 'message' && m.data === 'everyone'), { what: 'the WebSocket delivery' });
    const again = h2Events(t, session, `/v1/events?topic=${encodeURIComponent(topic)}&ticket=${h2Ticket}`);
    await again.ready;
    assert.equal(again.status, 401, 'the HTTP/2 ticket is used up');

    // A request with a body to wait for over HTTP/2 (a history read ends its stream with HEADERS;
    // this one is answered once the redeem is back and the stream has ended).
    const h2Read = await mintOk(b.url, { subject: 'dora', topics: [topic] });
    const h2Page = await h2Request(session, { path: `/v1/topics/${topic}/history?ticket=${h2Read}` });
    assert.equal(h2Page.status, 200, h2Page.text);
    assert.deepEqual(h2Page.json.messages.map((m) => m.data), ['everyone']);
    const h2Refused = await h2Request(session, { method: 'POST', path: `/v1/topics/${topic}?ticket=${await mintOk(b.url, { subject: 'dora', topics: [topic] })}`, body: 'nope' });
    assert.equal(h2Refused.status, 403, `a ticket cannot publish: ${h2Refused.text}`);

    const readTicket = await mintOk(b.url, { subject: 'dora', topics: [topic] });
    const path = `/v1/topics/${topic}/history?ticket=${readTicket}`;
    const page = await request(`${c.url}${path}`);
    assert.equal(page.status, 200, page.text);
    assert.deepEqual(JSON.parse(page.text).messages.map((m) => m.data), ['everyone']);
    assert.equal((await request(`${a.url}${path}`)).status, 401);
  });

  await t.test('a request that carries a ticket waits for its redeem without holding the loop', async () => {
    // Pipelined: a ticket request then /healthz on one HTTP/1.1 connection are answered in order,
    // and a request on another connection is answered meanwhile.
    const topic = uniq('ct/pipe');
    const ticket = await mintOk(a.url, { subject: 'eve', topics: [topic] });
    const net = await import('node:net');
    const sock = net.connect(b.port, '127.0.0.1');
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { text += d; });
    sock.write(`GET /v1/topics/${topic}/history?ticket=${ticket} HTTP/1.1\r\nHost: x\r\n\r\n` +
      'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await new Promise((resolve) => sock.on('close', resolve));
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [200, 200], text.slice(0, 400));
    assert.match(text, /"messages":\[\]/);
    assert.ok(text.indexOf('"messages"') < text.indexOf('ok\n'), 'answered in order');
  });

  await t.test('/metrics counts the ticket connection\'s round trips (a SET per mint, a GETDEL per redeem)', async () => {
    const count = async (node) => {
      const text = (await request(`${node.url}/metrics`)).text;
      const m = /^switchboard_redis_tickets_roundtrip_seconds_count (\d+)$/m.exec(text);
      assert.ok(m, 'the ticket connection\'s round trips are in /metrics');
      assert.match(text, /^switchboard_redis_tickets_reconnects_total \d+$/m);
      return Number(m[1]);
    };
    const [beforeA, beforeB] = [await count(a), await count(b)];
    const topic = uniq('ct/m');
    const ticket = await mintOk(a.url, { subject: 'metrics', topics: [topic] });
    const s = await events(b, [topic], ticket);
    s.close();
    assert.equal(s.status, 200, s.text);
    assert.ok((await count(a)) >= beforeA + 1, 'the mint on A');
    assert.ok((await count(b)) >= beforeB + 1, 'the redeem on B');
  });
});

test('tickets through the HAProxy round-robin balancer: every mint redeemable through it, once', async (t) => {
  const { nodes } = await cluster(t);
  const lb = await startBalancer(t, nodes);
  await waitFor(async () => (await readyz(lb.url)) === 200, { what: 'the balancer to serve' });
  const topic = uniq('ct/lb');
  const lbNode = { port: lb.port };
  const streams = [];
  for (let i = 0; i < 6; i++) {
    const ticket = await mintOk(lb.url, { subject: `lb${i}`, topics: [topic] });
    const s = await events(lbNode, [topic], ticket);
    streams.push(s);
    assert.equal(s.status, 200, `ticket ${i} through the balancer: ${s.status} ${s.text}`);
    const again = await events(lbNode, [topic], ticket);
    again.close();
    assertUsedUp(again, `ticket ${i} again through the balancer`);
  }
  t.after(() => streams.forEach((s) => s.close()));
  assert.equal((await publish(lb.url, topic, 'all', { headers: bearer(KEY) })).status, 201);
  for (const s of streams) assert.equal((await s.waitEvents(1, 5000))[0].data, 'all');
});

test('Redis stopped or blackholed: mint and redeem answer 503 with Retry-After at once, the node keeps serving, tickets work again after', async (t) => {
  // Node 1 reaches Redis through a fault proxy, node 2 directly.
  const redis = await startRedis(t);
  const proxy = await startFaultProxy(t, redis.port);
  const nodes = [
    await startNode(t, `redis://127.0.0.1:${proxy.port}/0`, { name: 'f1', args: nodeArgs }),
    await startNode(t, redis.url, { name: 'f2', args: nodeArgs }),
  ];
  await waitFor(async () => (await Promise.all(nodes.map((n) => readyz(n.url)))).every((s) => s === 200), {
    what: 'every node ready',
  });
  const [viaProxy, direct] = nodes;
  const topic = uniq('ct/fault');

  // Blackhole between node 1 and Redis.
  const spare = await mintOk(direct.url, { subject: 'f', topics: [topic] });
  const tried = await mintOk(direct.url, { subject: 'f', topics: [topic] });
  proxy.set('blackhole');
  let started = Date.now();
  assertUnavailable(await mint(viaProxy.url, { subject: 'f', topics: [topic] }), 'mint while blackholed');
  assert.ok(Date.now() - started < 1500, `mint answered in ${Date.now() - started} ms (redis_timeout_ms 500)`);
  started = Date.now();
  const redeem = await events(viaProxy, [topic], tried);
  redeem.close();
  assertUnavailable(redeem, 'redeem while blackholed');
  assert.ok(Date.now() - started < 1500, `redeem answered in ${Date.now() - started} ms`);
  assert.equal((await request(`${viaProxy.url}/healthz`, { timeoutMs: 1000 })).status, 200, 'the node keeps serving');
  const other = await events(direct, [topic], await mintOk(direct.url, { subject: 'f', topics: [topic] }));
  other.close();
  assert.equal(other.status, 200, 'the other node is not affected');
  proxy.set('pass');
  await waitFor(async () => (await mint(viaProxy.url, { subject: 'f', topics: [topic] })).status === 201, {
    timeoutMs: 10000,
    what: 'minting through the healed path',
  });
  const healed = await events(viaProxy, [topic], spare);
  healed.close();
  assert.equal(healed.status, 200, `a ticket minted before the fault works after it: ${healed.text}`);

  // Redis stopped for every node.
  const later = await mintOk(direct.url, { subject: 'f', topics: [topic] });
  await redis.kill();
  for (const n of nodes) {
    started = Date.now();
    assertUnavailable(await mint(n.url, { subject: 'f', topics: [topic] }), `mint on ${n.url} with Redis stopped`);
    const r = await events(n, [topic], later);
    r.close();
    assertUnavailable(r, `redeem on ${n.url} with Redis stopped`);
    assert.ok(Date.now() - started < 1500, `both answered in ${Date.now() - started} ms`);
    assert.equal((await request(`${n.url}/healthz`, { timeoutMs: 1000 })).status, 200);
  }
  // Not a 401 storm: a malformed ticket is still told apart without Redis.
  const bogus = await events(direct, [topic], 'x'.repeat(10));
  bogus.close();
  assertUsedUp(bogus, 'a ticket that cannot be one, with Redis stopped');
  await redis.start();
  for (const n of nodes) {
    await waitFor(async () => (await mint(n.url, { subject: 'f', topics: [topic] })).status === 201, {
      timeoutMs: 10000,
      what: `minting on ${n.url} after Redis came back`,
    });
  }
});
