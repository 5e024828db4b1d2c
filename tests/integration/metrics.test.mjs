// GET /metrics (Prometheus text) and GET /healthz, /readyz: the counters move exactly as the
// traffic the test makes (connections, messages published, deliveries, drops).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { request, publishOk, publishBatch, RawConn, topicPath } from '../support/http.mjs';
import { subscribe, waitPreamble } from '../support/sse.mjs';
import { scrape } from '../support/metrics.mjs';
import { uniq, waitFor, sleep } from '../support/util.mjs';

const NAMES = {
  connections: 'switchboard_connections',
  published: 'switchboard_messages_published_total',
  deliveries: 'switchboard_deliveries_total',
  drops: 'switchboard_drops_total',
};

let server;
before(async () => {
  server = await startServer(null, { args: ['--threads', '2'] });
});
after(async () => {
  if (server) await server.teardown();
});

/** Scrapes until `name` equals `want` (bounded); returns the last value seen. */
async function settle(name, want, timeoutMs = 3000) {
  let last;
  try {
    await waitFor(
      async () => {
        last = (await scrape(server.url)).get(name);
        return last === want;
      },
      { timeoutMs, intervalMs: 50, what: `${name} == ${want}` },
    );
  } catch {
    // the caller asserts on the returned value
  }
  return last;
}

test('/healthz and /readyz answer 200; /metrics is Prometheus text with the core series', async () => {
  assert.equal((await request(`${server.url}/healthz`)).status, 200);
  assert.equal((await request(`${server.url}/readyz`)).status, 200);
  const m = await scrape(server.url);
  assert.equal(m.status, 200);
  assert.match(m.headers['content-type'] ?? '', /^text\/plain/i);
  for (const name of Object.values(NAMES)) {
    assert.notEqual(m.get(name), undefined, `${name} missing from /metrics`);
    assert.ok(m.get(name) >= 0, `${name} is negative`);
  }
  assert.equal(m.parsed.types[NAMES.connections], 'gauge');
  for (const name of [NAMES.published, NAMES.deliveries, NAMES.drops]) assert.equal(m.parsed.types[name], 'counter', `# TYPE of ${name}`);
});

test('switchboard_connections follows open and closed connections', async (t) => {
  // Settle first: connections of earlier requests may still be closing.
  let base;
  await waitFor(
    async () => {
      const a = (await scrape(server.url)).get(NAMES.connections);
      await sleep(100);
      const b = (await scrape(server.url)).get(NAMES.connections);
      base = b;
      return a === b;
    },
    { timeoutMs: 5000, what: 'a stable connection count' },
  );
  const topic = uniq('conn');
  const streams = [];
  for (let i = 0; i < 3; i++) {
    const s = await subscribe(t, server.port, { topics: [topic] });
    await waitPreamble(s);
    streams.push(s);
  }
  const idle = await RawConn.open(server.port);
  t.after(() => idle.destroy());
  await idle.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`);
  assert.equal((await idle.readResponse()).status, 200);
  assert.equal(await settle(NAMES.connections, base + 4), base + 4, '3 SSE streams + 1 keep-alive connection');
  for (const s of streams) s.close();
  idle.destroy();
  assert.equal(await settle(NAMES.connections, base), base, 'closed connections still counted');
});

test('messages_published_total counts every single, batch and streamed message exactly', async () => {
  const before = (await scrape(server.url)).get(NAMES.published);
  const topic = uniq('pub');
  for (let i = 0; i < 5; i++) await publishOk(server.url, topic, `s${i}`);
  const b = await publishBatch(server.url, [
    { topic, data: 'b0' },
    { topic: uniq('pub2'), data: 'b1' },
    { topic, data: 'b2' },
  ]);
  assert.equal(b.status, 200);
  const body = 'data: one\n\ndata: two\n\n';
  const res = await request(`${server.url}${topicPath(topic, '/stream')}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'text/event-stream' },
  });
  assert.ok(res.status >= 200 && res.status < 300, `stream publish ${res.status}`);
  // Rejected publishes are not counted.
  assert.equal((await request(`${server.url}/v1/topics/a//b`, { method: 'POST', body: 'x' })).status, 400);
  const after = (await scrape(server.url)).get(NAMES.published);
  assert.equal(after - before, 10);
});

test('deliveries_total counts one per message per subscriber; drops_total stays put when everyone keeps up', async (t) => {
  const x = uniq('dx');
  const y = uniq('dy');
  const subs = [];
  for (const topics of [[x], [x], [y], [x, y]]) {
    const s = await subscribe(t, server.port, { topics });
    await waitPreamble(s);
    subs.push(s);
  }
  const m0 = await scrape(server.url);
  for (let i = 0; i < 4; i++) await publishOk(server.url, x, `x${i}`);
  await publishOk(server.url, y, 'y0');
  await subs[0].waitEvents(4);
  await subs[1].waitEvents(4);
  await subs[2].waitEvents(1);
  await subs[3].waitEvents(5);
  const want = m0.get(NAMES.deliveries) + 4 + 4 + 1 + 5;
  assert.equal(await settle(NAMES.deliveries, want), want, 'deliveries_total delta');
  const m1 = await scrape(server.url);
  assert.equal(m1.get(NAMES.drops), m0.get(NAMES.drops), 'drops_total moved without a slow consumer');
  assert.equal(m1.get(NAMES.published) - m0.get(NAMES.published), 5);
});
