// The access log and the startup config line: one line per answered request and per ended stream
// (JSON lines with stable fields, or text), sampling and levels, and no credential of any kind in
// the whole output of a run that used each kind (header, cookie, ?access_token=, ?ticket=, API
// key, metrics token), good and bad.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { request, topicPath } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { openWs } from '../support/ws-client.mjs';
import { uniq, waitFor } from '../support/util.mjs';
import { bearer, claims, newSecret, signHS256 } from '../support/jwt.mjs';

const KEY = 'sk_log_backend_key_0123456789abcdef';
const BAD_KEY = 'sk_log_wrong_key_fedcba9876543210';
const METRICS_TOKEN = 'mt_log_metrics_token_13579bdf';
const BAD_METRICS_TOKEN = 'mt_log_wrong_metrics_02468ace';
const BAD_TICKET = 'tk_log_not_a_ticket_5a5a5a5a5a5a5a';

async function sseOnce(port, topic, opts = {}) {
  const s = await openSse(port, { topics: [topic], ...opts });
  try {
    if (s.status === 200) await waitPreamble(s);
    return s.status;
  } finally {
    s.close();
  }
}

function jsonLines(out) {
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        assert.fail(`not a JSON line: ${JSON.stringify(l)}`);
      }
    });
}

test('JSON access log: request and stream lines with stable fields; no credential appears anywhere', async (t) => {
  const jwtSecret = newSecret();
  const server = await startServer(t, {
    dev: false,
    args: ['--threads', '2', '--log-format', 'json', '--api-keys', KEY, '--jwt-secret', jwtSecret,
      '--metrics-token', METRICS_TOKEN],
  });
  const topic = uniq('log');
  const jwt = signHS256(claims({ sub: 'alice' }), jwtSecret);
  const badJwt = signHS256(claims({ sub: 'mallory' }), `${jwtSecret}x`);
  const secrets = { KEY, BAD_KEY, METRICS_TOKEN, BAD_METRICS_TOKEN, BAD_TICKET, jwtSecret, jwt, badJwt,
    jwtSignature: jwt.split('.')[2], badJwtSignature: badJwt.split('.')[2] };

  // Header credentials: a good and a bad API key, a good and a bad JWT.
  assert.equal((await request(`${server.url}${topicPath(topic)}`, { method: 'POST', body: 'one', headers: bearer(KEY) })).status, 201);
  assert.equal((await request(`${server.url}${topicPath(topic)}`, { method: 'POST', body: 'two', headers: bearer(BAD_KEY) })).status, 401);
  assert.equal((await request(`${server.url}${topicPath(topic)}`, { method: 'POST', body: 'three', headers: bearer(jwt) })).status, 201);
  assert.equal((await request(`${server.url}${topicPath(topic)}`, { method: 'POST', body: 'four', headers: bearer(badJwt) })).status, 401);
  // Cookie, good and bad.
  assert.equal(await sseOnce(server.port, topic, { headers: { Cookie: `switchboard_token=${jwt}` } }), 200);
  assert.equal(await sseOnce(server.port, topic, { headers: { Cookie: `switchboard_token=${badJwt}` } }), 401);
  // Query credentials: ?access_token=, a ticket used twice (the second is refused), a bad ticket,
  // and a key under a name the server does not read.
  assert.equal(await sseOnce(server.port, topic, { query: { access_token: jwt } }), 200);
  assert.equal(await sseOnce(server.port, topic, { query: { access_token: badJwt } }), 401);
  const minted = await request(`${server.url}/v1/tickets`, { method: 'POST', headers: bearer(KEY),
    body: JSON.stringify({ subject: 'bob', topics: [topic] }) });
  assert.equal(minted.status, 201, minted.text);
  const ticket = JSON.parse(minted.text).ticket;
  secrets.ticket = ticket;
  assert.equal(await sseOnce(server.port, topic, { query: { ticket } }), 200);
  assert.equal(await sseOnce(server.port, topic, { query: { ticket } }), 401);
  assert.equal(await sseOnce(server.port, topic, { query: { ticket: BAD_TICKET } }), 401);
  assert.equal((await request(`${server.url}/healthz?api_key=${KEY}&x=1`)).status, 200);
  // WebSocket with a token in the query: subscribe, publish, receive, close.
  const ws = await openWs(t, server.port, { path: `/v1/ws?access_token=${jwt}` });
  await ws.ok({ op: 'subscribe', topic });
  await ws.ok({ op: 'publish', topic, data: 'five' });
  await ws.waitMsg((m) => m.op === 'message' && m.data === 'five');
  ws.close();
  // The metrics token, good and bad.
  assert.equal((await request(`${server.url}/metrics`, { headers: bearer(METRICS_TOKEN) })).status, 200);
  assert.equal((await request(`${server.url}/metrics`, { headers: bearer(BAD_METRICS_TOKEN) })).status, 401);
  // A stream still open at SIGTERM ends by the drain.
  const open = await openSse(server.port, { topics: [topic], headers: bearer(KEY) });
  await waitPreamble(open);
  await waitFor(async () => {
    const m = await request(`${server.url}/metrics`, { headers: bearer(METRICS_TOKEN) });
    return /^switchboard_streams_ended_total\{transport="ws",reason="client_closed"\} 1$/m.test(m.text);
  }, { what: 'the WebSocket session ended on the server' });
  const res = await server.stop('SIGTERM', 10000);
  open.close();
  assert.equal(res.code, 0);

  const out = server.stdout + server.stderr;
  for (const [name, value] of Object.entries(secrets)) {
    assert.ok(!out.includes(value), `${name} appears in the log output`);
  }
  const lines = jsonLines(server.stdout);
  for (const l of lines) {
    assert.match(l.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(l.level), l.level);
    assert.equal(typeof l.logger, 'string');
    assert.equal(typeof l.msg, 'string');
  }
  const config = lines.find((l) => l.logger === 'config');
  assert.ok(config, 'the effective config is logged at startup');
  assert.equal(config.api_keys, 'REDACTED');
  assert.equal(config.jwt_secret, 'REDACTED');
  assert.equal(config.metrics_token, 'REDACTED');
  assert.equal(config.log_format, 'json');
  assert.equal(config.threads, '2');
  assert.ok(lines.some((l) => l.logger === 'switchboard' && /listening on/.test(l.msg)));

  const requests = lines.filter((l) => l.msg === 'request');
  const fields = ['transport', 'method', 'path', 'status', 'bytes', 'duration_s', 'client', 'subject'];
  for (const r of requests) {
    assert.deepEqual(Object.keys(r).filter((k) => fields.includes(k)), fields, JSON.stringify(r));
    assert.equal(typeof r.status, 'number');
    assert.equal(typeof r.bytes, 'number');
    assert.equal(typeof r.duration_s, 'number');
    assert.match(r.client, /^127\.0\.0\.1:\d+$/);
  }
  const published = requests.filter((r) => r.method === 'POST' && r.path === topicPath(topic));
  assert.deepEqual(published.map((r) => r.status), [201, 401, 201, 401]);
  assert.equal(published[2].subject, 'alice', 'a JWT caller is logged by its subject');
  assert.ok(published[0].bytes > 0);
  const refusedTickets = requests.filter((r) => r.status === 401 && /ticket=REDACTED/.test(r.path));
  assert.equal(refusedTickets.length, 2, 'the used and the bad ticket: 401, redacted');
  assert.ok(requests.some((r) => r.status === 401 && /access_token=REDACTED/.test(r.path)));
  assert.ok(requests.some((r) => r.path === '/healthz?api_key=REDACTED&x=1'));
  assert.ok(requests.some((r) => r.path === '/metrics' && r.status === 401));

  const ends = lines.filter((l) => l.msg === 'stream_end');
  const endFields = ['transport', 'topics', 'duration_s', 'messages', 'bytes', 'reason', 'client', 'subject'];
  for (const e of ends) {
    assert.deepEqual(Object.keys(e).filter((k) => endFields.includes(k)), endFields, JSON.stringify(e));
  }
  const sse = ends.filter((e) => e.transport === 'sse');
  assert.equal(sse.length, 4, 'cookie, access_token, ticket, and the one open at SIGTERM');
  assert.ok(sse.every((e) => e.topics === 1 && e.bytes > 0 && e.messages === 0), JSON.stringify(sse)); // live only: no replay asked
  assert.deepEqual(sse.map((e) => e.reason).sort(), ['client_closed', 'client_closed', 'client_closed', 'drain']);
  assert.ok(sse.some((e) => e.subject === 'bob'), 'the ticket subject');
  const wsEnd = ends.filter((e) => e.transport === 'ws');
  assert.equal(wsEnd.length, 1);
  assert.equal(wsEnd[0].reason, 'client_closed');
  assert.equal(wsEnd[0].subject, 'alice');
  assert.equal(wsEnd[0].topics, 1);
  assert.ok(wsEnd[0].messages >= 1 && wsEnd[0].bytes > 0, JSON.stringify(wsEnd[0]));
});

test('text access log: 1 in N sampled, answers >= 400 always written; a level under log_level writes none', async (t) => {
  const server = await startServer(t, { args: ['--threads', '1', '--access-log-sample', '1000'] });
  for (let i = 0; i < 20; i++) assert.equal((await request(`${server.url}/healthz`)).status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await request(`${server.url}/nope-${i}`)).status, 404);
  assert.equal((await request(`${server.url}/healthz`)).status, 200, 'the server still serves');
  await server.stop('SIGTERM', 10000);
  const lines = server.stdout.split('\n');
  const healthz = lines.filter((l) => / \[access\] \[info\] request .*path=\/healthz /.test(l));
  const missing = lines.filter((l) => / \[access\] \[info\] request .*path=\/nope-\d status=404 /.test(l));
  assert.equal(healthz.length, 1, 'the first of 1000 on the one loop');
  assert.equal(missing.length, 3, 'every 404');
  assert.match(server.stdout, / \[config\] \[info\] config listen=127\.0\.0\.1:\d+ /);

  const quiet = await startServer(t, { args: ['--access-log-level', 'debug'] });
  assert.equal((await request(`${quiet.url}/nope`)).status, 404);
  await quiet.stop('SIGTERM', 10000);
  assert.doesNotMatch(quiet.stdout, /\[access\]/);
  assert.match(quiet.stdout, /listening on/);
});
