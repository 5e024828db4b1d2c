// /metrics protection: metrics_token (Authorization: Bearer, 401 otherwise) and metrics_listen (a
// separate port serving only /metrics, /healthz and /readyz; the main port answers /metrics 404).
// The default stays public on the main port (metrics.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freePort } from '../support/server.mjs';
import { request, publishOk, topicPath } from '../support/http.mjs';
import { subscribe, waitPreamble } from '../support/sse.mjs';
import { parseMetrics, metricSum } from '../support/metrics.mjs';
import { uniq } from '../support/util.mjs';

const TOKEN = 'metrics-s3cret-token-0123456789';

function assertJsonError(res, status, where) {
  const ctx = `${where}: ${res.status} ${res.text}`;
  assert.equal(res.status, status, ctx);
  assert.equal(res.headers['content-type'], 'application/json', ctx);
  const body = JSON.parse(res.text);
  assert.deepEqual(Object.keys(body).sort(), ['error', 'message'], ctx);
  return body;
}

function assertMetrics(res, where) {
  assert.equal(res.status, 200, `${where}: ${res.status} ${res.text.slice(0, 200)}`);
  assert.match(res.headers['content-type'] ?? '', /^text\/plain/);
  const m = parseMetrics(res.text);
  assert.ok(metricSum(m, 'switchboard_connections') >= 1, `${where}: no connection gauge in ${res.text.slice(0, 200)}`);
}

test('metrics_token: /metrics needs Authorization: Bearer <token>, everything else is unchanged', async (t) => {
  const srv = await startServer(t, { args: ['--metrics-token', TOKEN] });
  const none = await request(`${srv.url}/metrics`);
  assert.equal(assertJsonError(none, 401, 'no token').error, 'unauthorized');
  assert.match(none.headers['www-authenticate'] ?? '', /^Bearer/);
  assert.match(none.text, /metrics_token/);
  const wrong = await request(`${srv.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}x` } });
  assertJsonError(wrong, 401, 'wrong token');
  assert.ok(!wrong.text.includes(TOKEN), 'the refusal echoes the token');
  const basic = await request(`${srv.url}/metrics`, { headers: { Authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` } });
  assertJsonError(basic, 401, 'basic auth');
  // Only the header counts: not a query token, not the auth cookie.
  assertJsonError(await request(`${srv.url}/metrics?access_token=${TOKEN}`), 401, 'query token');
  assertJsonError(await request(`${srv.url}/metrics`, { headers: { Cookie: `switchboard_token=${TOKEN}` } }), 401, 'cookie');
  assertMetrics(await request(`${srv.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } }), 'right token');
  assertMetrics(await request(`${srv.url}/metrics`, { headers: { authorization: `bearer ${TOKEN}` } }), 'lower-case scheme');
  // The token is not an API key: it does not publish, and the API still works without it (dev mode).
  const asKey = await request(`${srv.url}${topicPath(uniq('m'))}`, { method: 'POST', body: 'x', headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(asKey.status, 401, asKey.text);
  assert.equal((await request(`${srv.url}/healthz`)).status, 200);
  assert.equal((await request(`${srv.url}/readyz`)).status, 200);
  const topic = uniq('m');
  const s = await subscribe(t, srv.port, { topics: [topic] });
  await waitPreamble(s);
  const id = await publishOk(srv.url, topic, 'still served');
  assert.equal((await s.next()).id, id);
  s.close();
});

test('metrics_listen: a separate port for /metrics, /healthz, /readyz only; the main port answers /metrics 404', async (t) => {
  const mport = await freePort();
  const srv = await startServer(t, { args: ['--metrics-listen', `127.0.0.1:${mport}`, '--threads', '2'] });
  assert.match(srv.stdout + srv.stderr, new RegExp(`127\\.0\\.0\\.1:${mport} \\(metrics\\)`));
  const murl = `http://127.0.0.1:${mport}`;
  const onMain = await request(`${srv.url}/metrics`);
  assertJsonError(onMain, 404, 'main /metrics');
  assertMetrics(await request(`${murl}/metrics`), 'metrics port');
  for (const path of ['/healthz', '/readyz']) {
    assert.equal((await request(`${srv.url}${path}`)).status, 200, `main ${path}`);
    assert.equal((await request(`${murl}${path}`)).status, 200, `metrics ${path}`);
  }
  const topic = uniq('m');
  for (const [method, path] of [
    ['GET', `/v1/events?topic=${topic}`],
    ['POST', topicPath(topic)],
    ['POST', '/v1/publish'],
    ['GET', '/'],
    ['GET', '/client.js'],
    ['GET', `${topicPath(topic)}/history`],
    ['GET', '/v1/ws'],
  ]) {
    const res = await request(`${murl}${path}`, { method, body: method === 'POST' ? 'x' : undefined });
    assertJsonError(res, 404, `metrics port ${method} ${path}`);
  }
  // Nothing was published through the metrics port, and the main port serves the API.
  const s = await subscribe(t, srv.port, { topics: [topic] });
  await waitPreamble(s);
  const id = await publishOk(srv.url, topic, 'main port');
  assert.equal((await s.next()).id, id);
  const text = (await request(`${murl}/metrics`)).text;
  assert.ok(metricSum(parseMetrics(text), 'switchboard_messages_published_total') >= 1, text);
  s.close();
});

test('metrics_listen with metrics_token: the metrics port asks for the token too', async (t) => {
  const mport = await freePort();
  const srv = await startServer(t, { args: ['--metrics-listen', `127.0.0.1:${mport}`, '--metrics-token', TOKEN] });
  const murl = `http://127.0.0.1:${mport}`;
  assertJsonError(await request(`${murl}/metrics`), 401, 'metrics port without token');
  assertMetrics(await request(`${murl}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } }), 'with token');
  assertJsonError(await request(`${srv.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } }), 404, 'main port');
  assert.equal((await request(`${murl}/healthz`)).status, 200);
});

test('metrics_listen that is not HOST:PORT, or is the main port, stops the start with a message naming it', async (t) => {
  await assert.rejects(startServer(t, { args: ['--metrics-listen', 'nope'], startTimeoutMs: 5000 }), /metrics_listen = "nope": expected HOST:PORT/);
  const port = await freePort();
  await assert.rejects(
    startServer(t, { port, args: ['--metrics-listen', `127.0.0.1:${port}`], startTimeoutMs: 5000 }),
    /metrics_listen = "127\.0\.0\.1:\d+": needs a port of its own/,
  );
});
