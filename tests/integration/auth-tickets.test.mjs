// Subscribe tickets: a backend holding an API key mints one with POST /v1/tickets
// {"subject","topics":[…],"ttl_s"?} → 201 {"ticket","expires_in"}; the browser opens
// /v1/events?topic=…&ticket=… exactly once, before the ticket expires. Anyone without an API key
// is refused (401 without credentials, 403 with a JWT).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { publish, request } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { stopServer } from '../support/ws-client.mjs';
import { uniq, sleep } from '../support/util.mjs';
import { bearer, claims, newSecret, signHS256 } from '../support/jwt.mjs';

const KEY = 'sk_it_tickets_0123456789abcdef';
const TTL = 7; // --ticket-ttl-s
const secret = newSecret();
let server;

before(async () => {
  server = await startServer(null, {
    dev: false,
    args: ['--api-keys', KEY, '--jwt-secret', secret, '--ticket-ttl-s', String(TTL)],
  });
});
after(() => stopServer(server));

async function mint(body, headers = bearer(KEY)) {
  const res = await request(`${server.url}/v1/tickets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  let json = null;
  try {
    json = JSON.parse(res.text);
  } catch {
    // not JSON
  }
  return { ...res, body: json };
}

async function mintOk(body) {
  const res = await mint(body);
  assert.equal(res.status, 201, `POST /v1/tickets ${JSON.stringify(body)}: ${res.status} ${res.text}`);
  return res.body.ticket;
}

function events(topics, ticket) {
  return openSse(server.port, { topics, query: { ticket } });
}

function assertInvalid(s, where) {
  assert.equal(s.status, 401, `${where}: ${s.status} ${s.text}`);
  assert.equal(s.headers['www-authenticate'], 'Bearer error="invalid_token"', where);
  assert.equal(JSON.parse(s.text).error, 'unauthorized');
}

test('an API key mints a ticket: 201 {"ticket","expires_in"} with the configured ttl by default', async () => {
  const res = await mint({ subject: 'dave', topics: ['tk/a'] });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.deepEqual(Object.keys(res.body).sort(), ['expires_in', 'ticket']);
  assert.equal(res.body.expires_in, TTL);
  assert.match(res.body.ticket, /^[A-Za-z0-9_-]{32,}$/, 'a URL-safe ticket of at least 32 characters');
  const other = await mint({ subject: 'dave', topics: ['tk/a'], ttl_s: 3 });
  assert.equal(other.status, 201, other.text);
  assert.equal(other.body.expires_in, 3);
  assert.notEqual(other.body.ticket, res.body.ticket);
});

test('a ticket opens /v1/events once and the stream delivers; the second use is 401 invalid_token', async (t) => {
  const topic = uniq('tk/once');
  const ticket = await mintOk({ subject: 'erin', topics: [topic] });
  const s = await events([topic], ticket);
  t.after(() => s.close());
  assert.equal(s.status, 200, s.text);
  assert.equal(s.headers['content-type'], 'text/event-stream');
  await waitPreamble(s);
  const res = await publish(server.url, topic, 'for erin', { headers: bearer(KEY) });
  assert.equal(res.status, 201);
  const [ev] = await s.waitEvents(1, 3000);
  assert.equal(ev.data, 'for erin');

  const again = await events([topic], ticket);
  again.close();
  assertInvalid(again, 'second use');
  // The first stream is not affected by the refused second use.
  const res2 = await publish(server.url, topic, 'still', { headers: bearer(KEY) });
  assert.equal(res2.status, 201);
  const evs = await s.waitEvents(2, 3000);
  assert.equal(evs[1].data, 'still');
});

test('a ticket redeemed by several requests at once opens exactly one stream', async () => {
  const topic = uniq('tk/race');
  const ticket = await mintOk({ subject: 'race', topics: [topic] });
  const streams = await Promise.all(Array.from({ length: 6 }, () => events([topic], ticket)));
  for (const s of streams) s.close();
  const statuses = streams.map((s) => s.status).sort();
  assert.deepEqual(statuses, [200, 401, 401, 401, 401, 401]);
});

test('a ticket covers several topics and patterns it was minted for', async () => {
  const a = uniq('tk/multi');
  const ticket = await mintOk({ subject: 'fay', topics: [a, 'tk/rooms/*'] });
  const s = await events([a, 'tk/rooms/lobby'], ticket);
  s.close();
  assert.equal(s.status, 200, s.text);
});

test('a ticket used for a topic it does not cover is 403', async () => {
  const ticket = await mintOk({ subject: 'gus', topics: ['tk/mine'] });
  const s = await events(['tk/theirs'], ticket);
  s.close();
  assert.equal(s.status, 403, s.text);
  assert.equal(JSON.parse(s.text).error, 'forbidden');
});

test('a ticket grants subscribe only: publishing with it is 403', async () => {
  const topic = uniq('tk/pub');
  const ticket = await mintOk({ subject: 'hal', topics: [topic] });
  const res = await request(`${server.url}/v1/topics/${topic}?ticket=${ticket}`, { method: 'POST', body: 'x' });
  assert.equal(res.status, 403, res.text);
  assert.equal(JSON.parse(res.text).error, 'forbidden');
});

test('an unknown ticket is 401 invalid_token', async () => {
  const s = await events(['tk/a'], 'A'.repeat(43));
  s.close();
  assertInvalid(s, 'unknown ticket');
});

test('a ticket is refused after its ttl, even unused', async () => {
  const topic = uniq('tk/ttl');
  const fresh = await mintOk({ subject: 'ida', topics: [topic], ttl_s: 1 });
  const late = await mintOk({ subject: 'ida', topics: [topic], ttl_s: 1 });
  const s = await events([topic], fresh);
  s.close();
  assert.equal(s.status, 200, `a 1 s ticket used at once: ${s.status} ${s.text}`);
  await sleep(2200);
  const l = await events([topic], late);
  l.close();
  assertInvalid(l, 'expired ticket');
});

test('minting needs an API key: none → 401 Bearer, a JWT (even granting everything) → 403, an invalid token → 401 invalid_token', async () => {
  const body = { subject: 'x', topics: ['tk/a'] };
  const none = await mint(body, {});
  assert.equal(none.status, 401, none.text);
  assert.equal(none.headers['www-authenticate'], 'Bearer');
  assert.equal(none.body.error, 'unauthorized');

  const jwt = signHS256(claims({ subscribe: ['**'], publish: ['**'] }), secret);
  const forbidden = await mint(body, bearer(jwt));
  assert.equal(forbidden.status, 403, forbidden.text);
  assert.equal(forbidden.body.error, 'forbidden');
  assert.ok(!('ticket' in forbidden.body));

  const bad = await mint(body, bearer(signHS256(claims(), newSecret())));
  assert.equal(bad.status, 401, bad.text);
  assert.equal(bad.headers['www-authenticate'], 'Bearer error="invalid_token"');
});

test('a malformed ticket request is 400 and mints nothing', async () => {
  for (const body of ['not json', { subject: 'x' }, { subject: 'x', topics: 'tk/a' }, { subject: 'x', topics: [1] }, { subject: 'x', topics: ['tk/a'], ttl_s: 0 }, { subject: 'x', topics: ['tk/a'], ttl_s: -5 }]) {
    const res = await mint(body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.status} ${res.text}`);
    assert.ok(res.body && typeof res.body.error === 'string', res.text);
    assert.ok(!('ticket' in res.body));
  }
});
