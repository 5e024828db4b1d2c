// Chromium over TLS with ALPN h2: 100 EventSource streams share one HTTP/2 connection (the
// browser's limit of 6 connections per host is an HTTP/1.1 limit), each receiving its own events;
// resume and gap through EventSource. The certificate is made by the test (openssl CLI) and
// Chromium is told to accept it (--ignore-certificate-errors).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freePort } from '../support/server.mjs';
import { publishOk } from '../support/http.mjs';
import { scrape, metricSum } from '../support/metrics.mjs';
import { testCertificate } from '../support/h2.mjs';
import { launchBrowser, openPage, waitFor } from './browser.mjs';

let server;
let origin;
before(async () => {
  const cert = testCertificate(null);
  const tlsPort = await freePort();
  origin = `https://127.0.0.1:${tlsPort}`;
  server = await startServer(null, {
    args: ['--tls-listen', `127.0.0.1:${tlsPort}`, '--tls-cert-file', cert.cert, '--tls-key-file', cert.key,
      '--history-max-messages', '5', '--threads', '1'],
  });
});
after(async () => {
  if (server) await server.teardown();
});

test('100 EventSource streams on one h2 connection, each receiving its own events', async (t) => {
  const context = await launchBrowser(t, { args: ['--ignore-certificate-errors'] });
  const page = await openPage(context, `${origin}/healthz`);
  const prefix = `many-${Date.now()}`;
  await page.evaluate(({ prefix }) => {
    window.got = [];
    window.sources = [];
    for (let i = 0; i < 100; i++) {
      window.got.push([]);
      const es = new EventSource(`/v1/events?topic=${prefix}/${i}`);
      es.onmessage = (e) => window.got[i].push(e.data);
      window.sources.push(es);
    }
  }, { prefix });
  await waitFor(() => page.evaluate(() => window.sources.every((s) => s.readyState === 1)), { what: '100 open EventSources', timeoutMs: 15000 });
  const m = await scrape(server.url);
  assert.equal(metricSum(m.parsed, 'switchboard_streams', { transport: 'sse' }), 100);
  assert.equal(metricSum(m.parsed, 'switchboard_h2_connections'), 1, 'one HTTP/2 connection carries all 100 streams');
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 100 }, (_, i) => publishOk(server.url, `${prefix}/${i}`, `t${i} r${round}`)));
  }
  await waitFor(() => page.evaluate(() => window.got.every((g) => g.length === 3)), { what: 'three events on every stream', timeoutMs: 15000 });
  const got = await page.evaluate(() => window.got);
  for (let i = 0; i < 100; i++) {
    assert.deepEqual(got[i], [0, 1, 2].map((r) => `t${i} r${r}`), `stream ${i}`);
  }
  const proto = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
  assert.equal(proto, 'h2');
  await page.evaluate(() => window.sources.forEach((s) => s.close()));
  await waitFor(async () => metricSum((await scrape(server.url)).parsed, 'switchboard_streams', { transport: 'sse' }) === 0, { what: 'streams released after close' });
});

test('resume and gap through EventSource over h2', async (t) => {
  const context = await launchBrowser(t, { args: ['--ignore-certificate-errors'] });
  const page = await openPage(context, `${origin}/healthz`);
  const topic = `resume-${Date.now()}`;
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await publishOk(server.url, topic, `m${i}`));
  const replay = await page.evaluate(({ topic, since }) => new Promise((resolve) => {
    const seen = [];
    const es = new EventSource(`/v1/events?topic=${topic}&since=${since}`);
    es.onmessage = (e) => {
      seen.push([e.lastEventId, e.data]);
      if (seen.length === 2) { es.close(); resolve(seen); }
    };
  }), { topic, since: ids[0] });
  assert.deepEqual(replay, [[ids[1], 'm1'], [ids[2], 'm2']]);
  for (let i = 3; i < 10; i++) await publishOk(server.url, topic, `m${i}`);
  // ids[0] is no longer in history (it keeps 5): a gap, then live.
  await page.evaluate(({ topic, since }) => {
    window.gapSeen = null;
    window.live = [];
    const es = new EventSource(`/v1/events?topic=${topic}&since=${since}`);
    es.addEventListener('gap', (e) => { window.gapSeen = JSON.parse(e.data); });
    es.onmessage = (e) => window.live.push(e.data);
  }, { topic, since: ids[0] });
  await waitFor(() => page.evaluate(() => window.gapSeen), { what: 'event: gap' });
  assert.deepEqual(await page.evaluate(() => window.gapSeen), { topics: [topic] });
  const liveId = await publishOk(server.url, topic, 'live after gap');
  await waitFor(() => page.evaluate(() => window.live.length === 1), { what: 'the live event after the gap' });
  assert.deepEqual(await page.evaluate(() => window.live), ['live after gap']);
  assert.match(liveId, /-11$/);
});
