// Anonymous access and the production refusal:
// - production (no --dev) with no credentials configured refuses to start (exit 2, a message
//   naming allow_anonymous_publish) unless allow_anonymous_publish = true;
// - dev mode allows anonymous subscribe and publish only while no JWT secret, public key or API
//   key is configured; configuring auth turns anonymous off unless the allow_* flags say otherwise.
// Anonymous refusals: HTTP 401 with `WWW-Authenticate: Bearer`; WebSocket ops
// {"op":"error","code":"unauthorized"} on a connection that stays up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { startServer, freePort, BIN } from '../support/server.mjs';
import { publish, request, topicPath } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { stopServer } from '../support/ws-client.mjs';
import { uniq } from '../support/util.mjs';
import { bearer, ecKeys, newSecret, writeKeyFile, wsCall, wsHandshake } from '../support/jwt.mjs';

/** Runs the binary expecting it to exit on its own; SIGKILL after timeoutMs. Resolves {code, signal, stderr, killed}. */
function runToExit(args, { env = {}, timeoutMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const clean = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_')) clean[k] = v;
    const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...clean, ...env } });
    let stderr = '';
    let stdout = '';
    proc.stderr.setEncoding('utf8').on('data', (s) => (stderr += s));
    proc.stdout.setEncoding('utf8').on('data', (s) => (stdout += s));
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, stdout, killed });
    });
  });
}

function connectable(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function sseStatus(port, topic, headers = {}) {
  const s = await openSse(port, { topics: [topic], headers });
  try {
    if (s.status === 200) await waitPreamble(s);
    return { status: s.status, headers: s.headers, text: s.text };
  } finally {
    s.close();
  }
}

function assertMissing(res, where) {
  assert.equal(res.status, 401, `${where}: ${res.status} ${res.text}`);
  assert.equal(res.headers['www-authenticate'], 'Bearer', where);
  assert.equal(JSON.parse(res.text).error, 'unauthorized', where);
}

/**
 * What an anonymous client may do on `server`: checks SSE, HTTP publish and both WebSocket ops
 * against the expected booleans.
 */
async function assertAnonymous(t, server, { subscribe, publish: canPublish }) {
  const topic = uniq('anon');
  const sse = await sseStatus(server.port, topic);
  if (subscribe) assert.equal(sse.status, 200, `anonymous SSE: ${sse.status} ${sse.text}`);
  else assertMissing(sse, 'anonymous SSE');

  const pub = await publish(server.url, topic, 'anon');
  if (canPublish) assert.equal(pub.status, 201, `anonymous publish: ${pub.status} ${pub.text}`);
  else assertMissing(pub, 'anonymous publish');

  const hs = await wsHandshake(t, server.port);
  assert.equal(hs.status, 101, `an anonymous WebSocket handshake: ${hs.status} ${hs.text}`);
  const sub = await wsCall(hs.ws, { op: 'subscribe', topic, ref: 's' });
  if (subscribe) assert.deepEqual(sub, { op: 'ack', ref: 's' });
  else assert.deepEqual({ op: sub.op, ref: sub.ref, code: sub.code }, { op: 'error', ref: 's', code: 'unauthorized' });
  const wp = await wsCall(hs.ws, { op: 'publish', topic, data: 'w', ref: 'p' });
  if (canPublish) assert.equal(wp.op, 'ack', JSON.stringify(wp));
  else assert.deepEqual({ op: wp.op, ref: wp.ref, code: wp.code }, { op: 'error', ref: 'p', code: 'unauthorized' });
  assert.deepEqual(await wsCall(hs.ws, { op: 'ping', ref: 'z' }), { op: 'pong', ref: 'z' });
  hs.ws.conn.destroy();
}

// ---------------------------------------------------------------------------------------------
// Production refusal

test('production without any credentials refuses to start: exit 2 naming allow_anonymous_publish, never listening', async () => {
  const port = await freePort();
  const res = await runToExit(['--listen', `127.0.0.1:${port}`]);
  assert.equal(res.killed, false, 'the server kept running');
  assert.equal(res.code, 2, `exit ${res.code} ${res.signal}; stderr ${res.stderr}`);
  assert.match(res.stderr, /allow_anonymous_publish/);
  assert.equal(await connectable(port), false);
});

test('production with --allow-anonymous-publish false and no credentials refuses to start too', async () => {
  const port = await freePort();
  const res = await runToExit(['--listen', `127.0.0.1:${port}`, '--allow-anonymous-publish', 'false']);
  assert.equal(res.killed, false, 'the server kept running');
  assert.equal(res.code, 2, res.stderr);
  assert.match(res.stderr, /allow_anonymous_publish/);
});

test('production refuses with only allow_anonymous_subscribe (nobody could publish)', async () => {
  const port = await freePort();
  const res = await runToExit(['--listen', `127.0.0.1:${port}`, '--allow-anonymous-subscribe', 'true']);
  assert.equal(res.killed, false, 'the server kept running');
  assert.equal(res.code, 2, res.stderr);
  assert.match(res.stderr, /allow_anonymous_publish/);
});

test('production with --allow-anonymous-publish true starts: anonymous publish yes, anonymous subscribe no', async (t) => {
  const server = await startServer(null, { dev: false, args: ['--allow-anonymous-publish', 'true'] });
  t.after(() => stopServer(server));
  await assertAnonymous(t, server, { subscribe: false, publish: true });
});

test('the bare flag --allow-anonymous-publish means true', async (t) => {
  const server = await startServer(null, { dev: false, args: ['--allow-anonymous-subscribe', 'true', '--allow-anonymous-publish'] });
  t.after(() => stopServer(server));
  await assertAnonymous(t, server, { subscribe: true, publish: true });
});

test('production with only API keys (from the environment) starts, and anonymous clients get 401 everywhere', async (t) => {
  const server = await startServer(null, { dev: false, env: { SWITCHBOARD_API_KEYS: 'sk_env_key_1' } });
  t.after(() => stopServer(server));
  await assertAnonymous(t, server, { subscribe: false, publish: false });
  const topic = uniq('anon-hist');
  assertMissing(await request(`${server.url}${topicPath(topic, '/history')}`), 'anonymous history');
  const ok = await publish(server.url, topic, 'k', { headers: bearer('sk_env_key_1') });
  assert.equal(ok.status, 201, ok.text);
  const hist = await request(`${server.url}${topicPath(topic, '/history')}`, { headers: bearer('sk_env_key_1') });
  assert.equal(hist.status, 200, hist.text);
});

test('production with only a public key file starts; anonymous clients are refused', async (t) => {
  const key = writeKeyFile(t, ecKeys().pem);
  const server = await startServer(null, { dev: false, args: ['--jwt-public-key-file', key.file] });
  t.after(() => stopServer(server));
  await assertAnonymous(t, server, { subscribe: false, publish: false });
});

test('an unreadable public key file stops the server at start (exit 2, naming the file)', async () => {
  const port = await freePort();
  const missing = `/tmp/sb-authit-missing-${process.pid}.pem`;
  const res = await runToExit(['--listen', `127.0.0.1:${port}`, '--jwt-public-key-file', missing]);
  assert.equal(res.killed, false, 'the server kept running');
  assert.equal(res.code, 2, res.stderr);
  assert.ok(res.stderr.includes(missing), res.stderr);
});

// ---------------------------------------------------------------------------------------------
// Dev mode

test('dev mode without auth: anonymous subscribe and publish', async (t) => {
  const server = await startServer(null, { dev: true });
  t.after(() => stopServer(server));
  await assertAnonymous(t, server, { subscribe: true, publish: true });
});

test('dev mode with a JWT secret: anonymous access is off', async (t) => {
  const server = await startServer(null, { dev: true, args: ['--jwt-secret', newSecret()] });
  t.after(() => stopServer(server));
  await assertAnonymous(t, server, { subscribe: false, publish: false });
});

test('dev mode with an API key: anonymous access is off', async (t) => {
  const server = await startServer(null, { dev: true, args: ['--api-keys', 'sk_dev_key'] });
  t.after(() => stopServer(server));
  await assertAnonymous(t, server, { subscribe: false, publish: false });
});

test('dev mode with a JWT secret and --allow-anonymous-subscribe true: subscribe only', async (t) => {
  const server = await startServer(null, { dev: true, args: ['--jwt-secret', newSecret(), '--allow-anonymous-subscribe', 'true'] });
  t.after(() => stopServer(server));
  await assertAnonymous(t, server, { subscribe: true, publish: false });
});

test('dev mode with a JWT secret and --allow-anonymous-publish true: publish only', async (t) => {
  const server = await startServer(null, { dev: true, args: ['--jwt-secret', newSecret(), '--allow-anonymous-publish', 'true'] });
  t.after(() => stopServer(server));
  await assertAnonymous(t, server, { subscribe: false, publish: true });
});

test('dev mode without auth and --allow-anonymous-subscribe false: publish only', async (t) => {
  const server = await startServer(null, { dev: true, args: ['--allow-anonymous-subscribe', 'false'] });
  t.after(() => stopServer(server));
  await assertAnonymous(t, server, { subscribe: false, publish: true });
});
