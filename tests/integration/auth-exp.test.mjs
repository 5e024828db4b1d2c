// JWT lifetime: jwt_require_exp (default on outside dev mode, off in dev mode unless set) refuses a
// token without `exp` with a 401 that says so, over HTTP publish, SSE and the WebSocket handshake;
// jwt_leeway_s (default 60) is the clock skew allowed on `exp` and `nbf`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { publish } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { bearer, claims, newSecret, nowS, signHS256, wsHandshake } from '../support/jwt.mjs';
import { uniq } from '../support/util.mjs';

const secret = newSecret();
const noExp = () => signHS256(claims({ exp: null }), secret);
const withExp = (exp) => signHS256(claims({ exp }), secret);

function assertNoExpRefusal(res, where) {
  const ctx = `${where}: ${res.status} ${res.text}`;
  assert.equal(res.status, 401, ctx);
  assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', ctx);
  const body = JSON.parse(res.text);
  assert.equal(body.error, 'unauthorized', ctx);
  assert.match(body.message, /no `exp`/, ctx);
  assert.match(body.message, /jwt_require_exp/, ctx);
}

async function sseStatus(port, token, topic) {
  const s = await openSse(port, { topics: [topic], headers: bearer(token) });
  const out = { status: s.status, text: s.text, headers: s.headers };
  if (s.status === 200) await waitPreamble(s);
  s.close();
  return out;
}

async function publishStatus(srv, token) {
  return (await publish(srv.url, uniq('exp'), 'x', { headers: bearer(token) })).status;
}

test('outside dev mode a token without exp is refused (HTTP, SSE, WebSocket); one with exp is served', async (t) => {
  const srv = await startServer(t, { dev: false, args: ['--jwt-secret', secret] });
  const topic = uniq('exp');
  const pub = await publish(srv.url, topic, 'x', { headers: bearer(noExp()) });
  assertNoExpRefusal(pub, 'publish');
  const sse = await sseStatus(srv.port, noExp(), topic);
  assert.equal(sse.status, 401, sse.text);
  assert.match(sse.text, /no `exp`/);
  const ws = await wsHandshake(t, srv.port, { headers: bearer(noExp()) });
  assert.equal(ws.status, 401, ws.text);
  assert.match(ws.text, /no `exp`/);
  // The same server serves the next client, with a token that has exp.
  assert.equal(await publishStatus(srv, withExp(nowS() + 600)), 201);
  assert.equal((await sseStatus(srv.port, withExp(nowS() + 600), topic)).status, 200);
  const ok = await wsHandshake(t, srv.port, { headers: bearer(withExp(nowS() + 600)) });
  assert.equal(ok.status, 101, ok.text);
});

test('jwt_require_exp = false accepts a token without exp outside dev mode', async (t) => {
  const srv = await startServer(t, { dev: false, args: ['--jwt-secret', secret, '--jwt-require-exp', 'false'] });
  assert.equal(await publishStatus(srv, noExp()), 201);
});

test('dev mode accepts a token without exp unless jwt_require_exp is set', async (t) => {
  const dev = await startServer(t, { args: ['--jwt-secret', secret] });
  assert.equal(await publishStatus(dev, noExp()), 201);
  const strict = await startServer(t, { args: ['--jwt-secret', secret, '--jwt-require-exp', 'true'] });
  assertNoExpRefusal(await publish(strict.url, uniq('exp'), 'x', { headers: bearer(noExp()) }), 'dev + require');
  assert.equal(await publishStatus(strict, withExp(nowS() + 60)), 201);
});

test('jwt_leeway_s: 60 s by default on exp and nbf; 0 makes both exact', async (t) => {
  const lenient = await startServer(t, { dev: false, args: ['--jwt-secret', secret] });
  assert.equal(await publishStatus(lenient, withExp(nowS() - 20)), 201, 'expired 20 s ago, within 60 s');
  assert.equal(await publishStatus(lenient, withExp(nowS() - 120)), 401, 'expired 2 min ago');
  const nbf = (ahead) => signHS256(claims({ nbf: nowS() + ahead }), secret);
  assert.equal(await publishStatus(lenient, nbf(20)), 201, 'valid in 20 s, within 60 s');
  assert.equal(await publishStatus(lenient, nbf(300)), 401, 'valid in 5 min');

  const exact = await startServer(t, { dev: false, args: ['--jwt-secret', secret, '--jwt-leeway-s', '0'] });
  assert.equal(await publishStatus(exact, withExp(nowS() - 2)), 401, 'expired 2 s ago, no leeway');
  assert.equal(await publishStatus(exact, nbf(5)), 401, 'valid in 5 s, no leeway');
  assert.equal(await publishStatus(exact, withExp(nowS() + 60)), 201);
});
