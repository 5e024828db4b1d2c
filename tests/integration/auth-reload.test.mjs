// SIGHUP re-reads --jwt-public-key-file without touching connections: after a new key is written
// to the same path and the server gets SIGHUP, tokens signed with the new key are accepted, tokens
// signed with the old key are refused (401 invalid_token), and streams opened with the old key
// keep receiving. A key file that cannot be read on SIGHUP keeps the keys in use.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { publish } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { openWs, stopServer } from '../support/ws-client.mjs';
import { uniq, sleep } from '../support/util.mjs';
import { bearer, claims, ecKeys, rsaKeysAsync, signES256, signRS256, writeKeyFile } from '../support/jwt.mjs';

const rsaPending = rsaKeysAsync(); // slow: generated while the server starts and the first tests run
const keyA = ecKeys();
const keyB = ecKeys();
const keyC = ecKeys();
const grants = (sub) => claims({ sub, subscribe: ['hup/**'], publish: ['hup/**'] });
const tokenA = signES256(grants('signed-by-a'), keyA.privateKey);
const tokenB = signES256(grants('signed-by-b'), keyB.privateKey);
const tokenC = signES256(grants('signed-by-c'), keyC.privateKey);

let server;
let keyFile;
before(async () => {
  keyFile = writeKeyFile(null, keyA.pem);
  server = await startServer(null, { dev: false, args: ['--threads', '2', '--jwt-public-key-file', keyFile.file] });
});
after(async () => {
  await stopServer(server);
  keyFile?.cleanup();
});

function hangup() {
  server.proc.kill('SIGHUP');
}

/** Publishes with `token` until it is answered 201 (bounded): the reload is asynchronous. */
async function waitAccepted(token, topic, what) {
  const deadline = Date.now() + 5000;
  let last;
  for (;;) {
    last = await publish(server.url, topic, `probe ${what}`, { headers: bearer(token) });
    if (last.status === 201) return last;
    assert.equal(last.status, 401, `${what}: ${last.status} ${last.text}`);
    if (Date.now() > deadline) assert.fail(`${what}: still refused 5 s after SIGHUP: ${last.text}`);
    await sleep(50);
  }
}

function assertInvalid(res, where) {
  assert.equal(res.status, 401, `${where}: ${res.status} ${res.text}`);
  assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', where);
}

test('SIGHUP swaps in the new key: new tokens work, old ones are refused, open streams keep receiving', async (t) => {
  const topic = uniq('hup/live');
  // Before: A works, B does not.
  assert.equal((await publish(server.url, topic, 'a0', { headers: bearer(tokenA) })).status, 201);
  assertInvalid(await publish(server.url, topic, 'b0', { headers: bearer(tokenB) }), 'B before the rotation');

  const sse = await openSse(server.port, { topics: [topic], headers: bearer(tokenA) });
  t.after(() => sse.close());
  assert.equal(sse.status, 200, sse.text);
  await waitPreamble(sse);
  const ws = await openWs(t, server.port, { name: 'ws-a', options: { headers: bearer(tokenA) } });
  await ws.ok({ op: 'subscribe', topic });

  keyFile.replace(keyB.pem);
  hangup();
  const first = await waitAccepted(tokenB, topic, 'a token signed with the new key');

  assertInvalid(await publish(server.url, topic, 'a1', { headers: bearer(tokenA) }), 'A after the rotation');
  const refused = await openSse(server.port, { topics: [topic], headers: bearer(tokenA) });
  refused.close();
  assertInvalid({ status: refused.status, headers: refused.headers, text: refused.text }, 'a new SSE stream with A');
  const fresh = await openSse(server.port, { topics: [topic], headers: bearer(tokenB) });
  fresh.close();
  assert.equal(fresh.status, 200, fresh.text);

  // The streams opened with A were not dropped and still deliver.
  const second = await publish(server.url, topic, 'after the reload', { headers: bearer(tokenB) });
  assert.equal(second.status, 201);
  await sse.until((s) => s.events.some((e) => e.id === second.body.id), 3000, 'the post-reload message on the old SSE stream');
  assert.equal(sse.ended, false, 'the SSE stream opened with the old key was closed');
  assert.ok(sse.events.some((e) => e.id === first.body.id));
  const m = await ws.waitMsg((x) => x.op === 'message' && x.id === second.body.id, { timeoutMs: 3000 });
  assert.equal(m.from, 'signed-by-b');
  assert.equal(ws.closeInfo, null);
  // The WebSocket keeps the grants it was opened with.
  const ack = await ws.ok({ op: 'publish', topic, data: 'from the old connection' });
  const own = await sse.until((s) => s.events.find((e) => e.id === ack.id), 3000, 'the old connection’s publish');
  assert.equal(own.data, 'from the old connection');
  assert.equal(server.running, true);
});

test('a key file that cannot be parsed on SIGHUP keeps the keys in use; a later good file is loaded', async () => {
  const topic = uniq('hup/broken');
  await waitAccepted(tokenB, topic, 'B before the broken reload');
  keyFile.replace('-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n');
  hangup();
  // Nothing observable says when the failed reload happened: B must keep working throughout.
  for (let i = 0; i < 10; i++) {
    const res = await publish(server.url, topic, `b${i}`, { headers: bearer(tokenB) });
    assert.equal(res.status, 201, `B after a broken key file (try ${i}): ${res.status} ${res.text}`);
    await sleep(50);
  }
  assert.equal(server.running, true, 'the server died on SIGHUP');

  keyFile.replace(keyC.pem);
  hangup();
  await waitAccepted(tokenC, topic, 'C after the good file');
  assertInvalid(await publish(server.url, topic, 'b', { headers: bearer(tokenB) }), 'B after C was loaded');
});

test('a reload may change the algorithm: an RSA key replaces the EC key', async () => {
  const rsa = await rsaPending;
  const topic = uniq('hup/rsa');
  const rs = signRS256(grants('signed-by-rsa'), rsa.privateKey);
  keyFile.replace(rsa.pem);
  hangup();
  await waitAccepted(rs, topic, 'an RS256 token after the RSA key was loaded');
  assertInvalid(await publish(server.url, topic, 'c', { headers: bearer(tokenC) }), 'ES256 after the RSA key');
  assert.equal(server.running, true);
});
