// Chromium over TLS (ALPN h2) with a server offering RFC 8441: a page's EventSource streams and its
// WebSocket share one HTTP/2 connection. The server's metrics say so (switchboard_ws_h2_streams,
// switchboard_h2_connections) and its access log names the WebSocket's transport "ws/h2".
// Chromium uses an HTTP/2 connection for a WebSocket only when that connection is already open
// and its SETTINGS carry ENABLE_CONNECT_PROTOCOL, so the page is loaded (over h2) first.
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
    args: ['--tls-listen', `127.0.0.1:${tlsPort}`, '--tls-cert-file', cert.cert, '--tls-key-file', cert.key, '--threads', '1'],
  });
});
after(async () => {
  if (server) await server.teardown();
});

test('EventSource streams and a WebSocket share one HTTP/2 connection (RFC 8441)', async (t) => {
  const context = await launchBrowser(t, { args: ['--ignore-certificate-errors'] });
  const page = await openPage(context, `${origin}/healthz`);
  assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol), 'h2');
  const topic = `h2ws-${Date.now()}`;
  await page.evaluate(({ topic }) => {
    window.sse = [];
    window.ws = [];
    window.wsState = 'connecting';
    window.sources = [0, 1].map(() => {
      const es = new EventSource(`/v1/events?topic=${topic}`);
      es.onmessage = (e) => window.sse.push([e.lastEventId, e.data]);
      return es;
    });
    const ws = new WebSocket(`wss://${location.host}/v1/ws`, 'switchboard.v1');
    ws.onopen = () => {
      window.wsState = `open ${ws.protocol}`;
      ws.send(JSON.stringify({ op: 'subscribe', topic, ref: 1 }));
    };
    ws.onmessage = (e) => window.ws.push(e.data);
    ws.onclose = (e) => { window.wsState = `closed ${e.code}`; };
    window.socket = ws;
  }, { topic });
  await waitFor(() => page.evaluate(() => window.ws.length === 1 && window.sources.every((s) => s.readyState === 1)), { what: 'the WebSocket ack and two open EventSources', timeoutMs: 15000 });
  assert.equal(await page.evaluate(() => window.wsState), 'open switchboard.v1');
  assert.deepEqual(await page.evaluate(() => window.ws), ['{"op":"ack","ref":1}']);

  // The server carries the WebSocket on an HTTP/2 stream, on the page's one connection.
  const m = await scrape(server.url);
  assert.equal(metricSum(m.parsed, 'switchboard_ws_h2_streams'), 1, 'the WebSocket runs over HTTP/2');
  assert.equal(metricSum(m.parsed, 'switchboard_streams', { transport: 'ws' }), 1);
  assert.equal(metricSum(m.parsed, 'switchboard_streams', { transport: 'sse' }), 2);
  assert.equal(metricSum(m.parsed, 'switchboard_h2_connections'), 1, 'one HTTP/2 connection for the page, its SSE and its WebSocket');

  // A publish reaches both transports; the WebSocket's publish reaches the EventSources.
  const id = await publishOk(server.url, topic, 'to everyone');
  await waitFor(() => page.evaluate(() => window.ws.length === 2 && window.sse.length === 2), { what: 'the message on both transports' });
  assert.deepEqual(JSON.parse(await page.evaluate(() => window.ws[1])), { op: 'message', topic, id, event: null, data: 'to everyone', from: null });
  assert.deepEqual(await page.evaluate(() => window.sse), [[id, 'to everyone'], [id, 'to everyone']]);
  await page.evaluate(({ topic }) => window.socket.send(JSON.stringify({ op: 'publish', topic, data: 'from the socket', ref: 2 })), { topic });
  await waitFor(() => page.evaluate(() => window.sse.length === 4), { what: 'the WebSocket publish on the EventSources' });
  const ack = JSON.parse(await page.evaluate(() => window.ws.find((x) => x.includes('"ref":2'))));
  assert.equal(ack.op, 'ack');
  assert.deepEqual((await page.evaluate(() => window.sse)).slice(2), [[ack.id, 'from the socket'], [ack.id, 'from the socket']]);

  // A clean close from the page: the code it sent comes back, and the stream is released.
  await page.evaluate(() => window.socket.close(1000, 'bye'));
  await waitFor(() => page.evaluate(() => window.wsState.startsWith('closed')), { what: 'the close' });
  assert.equal(await page.evaluate(() => window.wsState), 'closed 1000');
  await waitFor(async () => metricSum((await scrape(server.url)).parsed, 'switchboard_ws_h2_streams') === 0, { what: 'the WebSocket stream released' });
  await waitFor(() => /stream_end transport=ws\/h2 topics=1 .*reason=client_closed/.test(server.stdout + server.stderr), { what: 'the access log line of the WebSocket, transport ws/h2' });
  await page.evaluate(() => window.sources.forEach((s) => s.close()));
});
