// permessage-deflate with a real browser: Chromium offers it by default, so the 101 must answer
// it, the server's compressed frames must inflate in the browser to the same message, and the
// browser's compressed publishes (with its context kept across messages) must be taken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { publishOk, request } from '../support/http.mjs';
import { launchBrowser, waitFor } from './browser.mjs';

test('Chromium negotiates permessage-deflate; messages both ways arrive intact', async (t) => {
  const server = await startServer(t);
  const context = await launchBrowser(t);
  const page = await context.newPage();
  await page.goto(`${server.url}/healthz`);
  const topic = `e2e/deflate${Date.now()}`;
  const extensions = await page.evaluate(async (topic) => {
    window.got = [];
    const ws = new WebSocket(`ws://${location.host}/v1/ws`, 'switchboard.v1');
    window.ws = ws;
    ws.onmessage = (e) => window.got.push(JSON.parse(e.data));
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    ws.send(JSON.stringify({ op: 'subscribe', topic, ref: 's' }));
    return ws.extensions;
  }, topic);
  assert.equal(extensions, 'permessage-deflate; server_no_context_takeover; client_max_window_bits=12');
  await waitFor(() => page.evaluate(() => window.got.some((m) => m.ref === 's')), { what: 'the subscribe ack' });

  const rows = Array.from({ length: 40 }, (_, i) => ({ sym: `S${i % 7}`, px: 100 + i, side: i % 2 ? 'buy' : 'sell' }));
  const data = JSON.stringify(rows);
  const id = await publishOk(server.url, topic, data);
  const m = await waitFor(() => page.evaluate((id) => window.got.find((x) => x.id === id), id), { what: 'the message' });
  assert.deepEqual(m, { op: 'message', topic, id, event: null, data, from: m.from });

  // The browser compresses what it sends, keeping its context: publish the same kind of JSON a few
  // times, then read it back over HTTP.
  const sent = await page.evaluate(async ({ topic, data }) => {
    const out = [];
    for (let i = 0; i < 5; i++) {
      const d = `${data}#${i}`;
      window.ws.send(JSON.stringify({ op: 'publish', topic, data: d, ref: `p${i}` }));
      out.push(d);
    }
    return out;
  }, { topic, data });
  await waitFor(() => page.evaluate(() => window.got.filter((x) => x.op === 'ack' && String(x.ref).startsWith('p')).length === 5), { what: 'five publish acks' });
  const res = await request(`${server.url}/v1/topics/${topic}/history?limit=10`);
  const history = JSON.parse(res.text).messages.map((x) => x.data);
  assert.deepEqual(history, [data, ...sent]);
});
