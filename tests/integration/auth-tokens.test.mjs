// The bad-token matrix: every kind of refused (and accepted) JWT, presented to each place that
// authenticates: SSE (GET /v1/events, Authorization header), the WebSocket handshake (the
// Authorization header and ?access_token=), and HTTP publish (POST /v1/topics/{t}).
//   missing credentials  → 401, WWW-Authenticate: Bearer (WS: handshake succeeds, each op is
//                          answered {"op":"error","code":"unauthorized"}, the connection stays);
//   invalid credentials  → 401, WWW-Authenticate: Bearer error="invalid_token" (WS: the handshake
//                          itself is answered 401);
//   topic not granted    → 403 (WS: {"op":"error","code":"forbidden"}, the connection stays);
//   valid HS256 / RS256 / ES256 → served.
// Three servers: HS256 with issuer and audience; an RSA public key only (alg confusion); an EC
// P-256 public key only.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, sign as cryptoSign } from 'node:crypto';
import { startServer } from '../support/server.mjs';
import { publish } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { openWs, stopServer } from '../support/ws-client.mjs';
import { uniq } from '../support/util.mjs';
import {
  algConfusion, algNone, algNoneVariant, b64url, bearer, claims, ecKeys, malformed, newSecret, nowS,
  rsaKeysAsync, signES256, signHS256, signRS256, signingInput, tamperPayload, tamperSignature, writeKeyFile, wsCall, wsHandshake,
} from '../support/jwt.mjs';

const ISS = 'https://issuer.switchboard.test';
const AUD = 'switchboard-it';
const GRANTED = 'auth/room'; // every matrix token grants auth/** both ways unless it says otherwise
const NOT_GRANTED = 'other/room';

// RSA generation is slow: both keys at once, before any test.
const [RSA, RSA_ATTACKER] = await Promise.all([rsaKeysAsync(), rsaKeysAsync()]);

const REFUSALS = {
  missing: { status: 401, challenge: 'Bearer', error: 'unauthorized' },
  invalid: { status: 401, challenge: 'Bearer error="invalid_token"', error: 'unauthorized' },
  forbidden: { status: 403, challenge: undefined, error: 'forbidden' },
};

/** An HTTP refusal: exact status, challenge header, JSON error body, no credential echoed. */
function assertRefusal(res, kind, token, where) {
  const want = REFUSALS[kind];
  const ctx = `${where}: ${res.status} ${JSON.stringify(res.headers)} ${res.text}`;
  assert.equal(res.status, want.status, ctx);
  assert.equal(res.headers['www-authenticate'], want.challenge, ctx);
  assert.equal(res.headers['content-type'], 'application/json', ctx);
  assert.ok(res.body && typeof res.body === 'object', ctx);
  assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message'], ctx);
  assert.equal(res.body.error, want.error, ctx);
  assert.equal(typeof res.body.message, 'string', ctx);
  if (token && token.length > 8) {
    assert.ok(!res.text.includes(token), `${where}: the refusal echoes the token`);
    const sig = token.split('.')[2];
    if (sig && sig.length > 8) assert.ok(!res.text.includes(sig), `${where}: the refusal echoes the signature`);
  }
}

function assertOpError(m, ref, code, where) {
  assert.equal(m.op, 'error', `${where}: ${JSON.stringify(m)}`);
  assert.deepEqual(Object.keys(m).sort(), ['code', 'message', 'op', 'ref'], `${where}: ${JSON.stringify(m)}`);
  assert.equal(m.ref, ref);
  assert.equal(m.code, code, `${where}: ${JSON.stringify(m)}`);
  assert.equal(typeof m.message, 'string');
}

// ---------------------------------------------------------------------------------------------
// The three probes. `kind`: ok | missing | invalid | forbidden | subscribe-only.

async function probeSse(port, token, topic, kind) {
  const where = `SSE ${topic}`;
  const s = await openSse(port, { topics: [topic], headers: bearer(token) });
  try {
    if (kind === 'ok' || kind === 'subscribe-only') {
      assert.equal(s.status, 200, `${where}: ${s.status} ${s.text}`);
      assert.equal(s.headers['content-type'], 'text/event-stream');
      await waitPreamble(s);
      assert.equal(s.ended, false);
      return;
    }
    const body = (() => {
      try {
        return JSON.parse(s.text);
      } catch {
        return null;
      }
    })();
    assertRefusal({ status: s.status, headers: s.headers, text: s.text, body }, kind, token, where);
  } finally {
    s.close();
  }
}

async function probePublish(base, token, topic, kind) {
  const where = `POST /v1/topics/${topic}`;
  const res = await publish(base, topic, 'probe', { headers: bearer(token) });
  if (kind === 'ok') {
    assert.equal(res.status, 201, `${where}: ${res.status} ${res.text}`);
    assert.equal(res.body.topic, topic);
    assert.match(res.body.id, /^\d+-\d+$/);
    return;
  }
  assertRefusal(res, kind === 'subscribe-only' ? 'forbidden' : kind, token, where);
}

async function probeWs(t, port, token, topic, kind, via) {
  const where = `WS (${via}) ${topic}`;
  const opts = {};
  if (token !== undefined) {
    if (via === 'header') opts.headers = bearer(token);
    else opts.query = `?access_token=${encodeURIComponent(token)}`;
  }
  const hs = await wsHandshake(t, port, opts);
  if (kind === 'invalid') {
    assertRefusal(hs, 'invalid', token, `${where} handshake`);
    return;
  }
  assert.equal(hs.status, 101, `${where}: handshake answered ${hs.status} ${hs.text}`);
  assert.equal(hs.headers['sec-websocket-protocol'], 'switchboard.v1');
  const { ws } = hs;
  const sub = await wsCall(ws, { op: 'subscribe', topic, ref: 's1' });
  const pub = await wsCall(ws, { op: 'publish', topic, data: 'probe', ref: 'p1' });
  if (kind === 'ok') {
    assert.deepEqual(sub, { op: 'ack', ref: 's1' });
    assert.equal(pub.op, 'ack', `${where}: ${JSON.stringify(pub)}`);
    assert.equal(pub.ref, 'p1');
    assert.match(pub.id, /^\d+-\d+$/);
  } else if (kind === 'subscribe-only') {
    assert.deepEqual(sub, { op: 'ack', ref: 's1' });
    assertOpError(pub, 'p1', 'forbidden', `${where} publish`);
  } else {
    const code = kind === 'missing' ? 'unauthorized' : 'forbidden';
    assertOpError(sub, 's1', code, `${where} subscribe`);
    assertOpError(pub, 'p1', code, `${where} publish`);
  }
  // The connection stays up after a refused op.
  assert.deepEqual(await wsCall(ws, { op: 'ping', ref: 'alive' }), { op: 'pong', ref: 'alive' });
  assert.equal(ws.conn.eof, false);
  ws.conn.destroy();
}

/** Registers one test per channel for a matrix row. */
function matrixRow(getServer, name, makeToken, kind, topic = GRANTED) {
  const chans = [
    ['SSE', (t, s, tok) => probeSse(s.port, tok, topic, kind)],
    ['WebSocket (Authorization header)', (t, s, tok) => probeWs(t, s.port, tok, topic, kind, 'header')],
    ['WebSocket (?access_token=)', (t, s, tok) => probeWs(t, s.port, tok, topic, kind, 'query')],
    ['publish', (t, s, tok) => probePublish(s.url, tok, topic, kind === 'subscribe-only' ? 'subscribe-only' : kind)],
  ];
  const expect = { ok: 'accepted', missing: '401 Bearer', invalid: '401 invalid_token', forbidden: '403', 'subscribe-only': 'subscribe ok, publish 403' }[kind];
  for (const [chan, run] of chans) {
    test(`${name} → ${expect} (${chan})`, async (t) => {
      await run(t, getServer(), makeToken());
    });
  }
}

async function start(args) {
  return startServer(null, { dev: false, args: ['--threads', '2', ...args] });
}

// ---------------------------------------------------------------------------------------------

describe('HS256 with issuer and audience', () => {
  const secret = newSecret();
  let server;
  before(async () => {
    server = await start(['--jwt-secret', secret, '--jwt-issuer', ISS, '--jwt-audience', AUD]);
  });
  after(() => stopServer(server));
  const get = () => server;
  const c = (o = {}) => claims({ iss: ISS, aud: AUD, subscribe: ['auth/**'], publish: ['auth/**'], ...o });
  const good = () => signHS256(c(), secret);

  matrixRow(get, 'no credentials', () => undefined, 'missing');
  matrixRow(get, 'malformed: a character outside base64url', () => malformed.badCharacter(good()), 'invalid');
  matrixRow(get, 'malformed: padded standard base64', () => malformed.paddedBase64(good()), 'invalid');
  matrixRow(get, 'malformed: two segments', () => malformed.twoSegments(good()), 'invalid');
  matrixRow(get, 'malformed: four segments', () => malformed.fourSegments(good()), 'invalid');
  matrixRow(get, 'malformed: not a JWT', () => malformed.garbage(), 'invalid');
  matrixRow(get, 'malformed: header not JSON (correctly signed)', () => malformed.headerNotJson(c(), secret), 'invalid');
  matrixRow(get, 'bad signature (bits flipped)', () => tamperSignature(good()), 'invalid');
  matrixRow(get, 'signed with another secret', () => signHS256(c(), newSecret()), 'invalid');
  matrixRow(get, 'payload changed after signing', () => tamperPayload(signHS256(c({ sub: 'x' }), secret), c({ sub: 'admin' })), 'invalid');
  matrixRow(get, 'alg none, empty signature', () => algNone(c()), 'invalid');
  matrixRow(get, 'alg "None" with a signature', () => algNoneVariant(c()), 'invalid');
  matrixRow(get, 'expired an hour ago', () => signHS256(c({ iat: nowS() - 7200, exp: nowS() - 3600 }), secret), 'invalid');
  matrixRow(get, 'not valid for another hour (nbf)', () => signHS256(c({ nbf: nowS() + 3600 }), secret), 'invalid');
  matrixRow(get, 'wrong issuer', () => signHS256(c({ iss: 'https://evil.test' }), secret), 'invalid');
  matrixRow(get, 'no issuer', () => signHS256(c({ iss: undefined }), secret), 'invalid');
  matrixRow(get, 'wrong audience', () => signHS256(c({ aud: 'someone-else' }), secret), 'invalid');
  matrixRow(get, 'no audience', () => signHS256(c({ aud: undefined }), secret), 'invalid');
  matrixRow(get, 'topic not granted', good, 'forbidden', NOT_GRANTED);
  matrixRow(get, 'grant `*` is one segment only (auth/* vs auth/room/deep)', () => signHS256(c({ subscribe: ['auth/*'], publish: ['auth/*'] }), secret), 'forbidden', 'auth/room/deep');
  matrixRow(get, 'no switchboard claims at all', () => signHS256(c({ subscribe: null, publish: null }), secret), 'forbidden');
  matrixRow(get, 'subscribe-only grant', () => signHS256(c({ publish: [] }), secret), 'subscribe-only');
  matrixRow(get, 'valid HS256', good, 'ok');
  matrixRow(get, 'valid HS256, audience in an array', () => signHS256(c({ aud: ['other', AUD] }), secret), 'ok');
  matrixRow(get, 'valid HS256, grant `*` matches one segment', () => signHS256(c({ subscribe: ['auth/*'], publish: ['auth/*'] }), secret), 'ok');

  test('an API key is not configured here: a random bearer string is an invalid token', async () => {
    const res = await publish(server.url, GRANTED, 'x', { headers: bearer('sk_live_not_configured') });
    assertRefusal(res, 'invalid', 'sk_live_not_configured', 'publish');
  });

  test('valid HS256 end to end: an SSE subscriber and a WebSocket (?access_token=) receive an HTTP publish', async (t) => {
    const topic = uniq('auth/e2e');
    const token = good();
    const s = await openSse(server.port, { topics: [topic], headers: bearer(token) });
    t.after(() => s.close());
    assert.equal(s.status, 200);
    await waitPreamble(s);
    const ws = await openWs(t, server.port, { path: `/v1/ws?access_token=${encodeURIComponent(token)}` });
    await ws.ok({ op: 'subscribe', topic });
    const res = await publish(server.url, topic, 'hello', { headers: bearer(token) });
    assert.equal(res.status, 201, res.text);
    const [ev] = await s.waitEvents(1, 3000);
    assert.equal(ev.data, 'hello');
    assert.equal(ev.id, res.body.id);
    const m = await ws.waitMsg((x) => x.op === 'message', { timeoutMs: 3000 });
    assert.deepEqual(m, { op: 'message', topic, id: res.body.id, event: null, data: 'hello', from: 'user-1' });
  });
});

describe('RS256 (an RSA public key, no secret)', () => {
  const rsa = RSA;
  const attacker = RSA_ATTACKER;
  let server;
  let keyFile;
  before(async () => {
    keyFile = writeKeyFile(null, rsa.pem);
    server = await start(['--jwt-public-key-file', keyFile.file]);
  });
  after(async () => {
    await stopServer(server);
    keyFile?.cleanup();
  });
  const get = () => server;
  const c = (o = {}) => claims({ subscribe: ['auth/**'], publish: ['auth/**'], ...o });
  const good = () => signRS256(c(), rsa.privateKey);

  matrixRow(get, 'valid RS256', good, 'ok');
  matrixRow(get, 'RS256 signed with another RSA key', () => signRS256(c(), attacker.privateKey), 'invalid');
  matrixRow(get, 'RS256 signed by a key named in a `jwk` header', () => signRS256(c(), attacker.privateKey, { jwk: attacker.publicKey.export({ format: 'jwk' }) }), 'invalid');
  matrixRow(get, 'RS256 bad signature (bits flipped)', () => tamperSignature(good()), 'invalid');
  matrixRow(get, 'alg confusion: HS256 signed with the RSA public key PEM as the secret', () => algConfusion(c(), rsa.pem), 'invalid');
  matrixRow(get, 'alg confusion: HS256 signed with the PEM without its trailing newline', () => algConfusion(c(), rsa.pem.trimEnd()), 'invalid');
  matrixRow(get, 'alg confusion: HS256 signed with the DER public key bytes', () => signHS256(c(), rsa.publicKey.export({ type: 'spki', format: 'der' })), 'invalid');
  matrixRow(get, 'alg none', () => algNone(c()), 'invalid');
  matrixRow(get, 'ES256 token when only an RSA key is configured', () => signES256(c(), ecKeys().privateKey), 'invalid');
  matrixRow(get, 'expired RS256', () => signRS256(c({ iat: nowS() - 7200, exp: nowS() - 3600 }), rsa.privateKey), 'invalid');
  matrixRow(get, 'RS256 topic not granted', good, 'forbidden', NOT_GRANTED);
});

describe('ES256 (an EC P-256 public key, no secret)', () => {
  const ec = ecKeys();
  const other = ecKeys();
  let server;
  let keyFile;
  before(async () => {
    keyFile = writeKeyFile(null, ec.pem);
    server = await start(['--jwt-public-key-file', keyFile.file]);
  });
  after(async () => {
    await stopServer(server);
    keyFile?.cleanup();
  });
  const get = () => server;
  const c = (o = {}) => claims({ subscribe: ['auth/**'], publish: ['auth/**'], ...o });
  const good = () => signES256(c(), ec.privateKey);
  const derSigned = () => {
    // The right key, but the signature DER-encoded instead of JOSE r||s.
    const input = signingInput({ alg: 'ES256', typ: 'JWT' }, c());
    return `${input}.${b64url(cryptoSign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'der' }))}`;
  };

  matrixRow(get, 'valid ES256', good, 'ok');
  matrixRow(get, 'ES256 signed with another EC key', () => signES256(c(), other.privateKey), 'invalid');
  matrixRow(get, 'ES256 bad signature (bits flipped)', () => tamperSignature(good()), 'invalid');
  matrixRow(get, 'ES256 with a DER signature instead of r||s', derSigned, 'invalid');
  matrixRow(get, 'alg confusion: HS256 signed with the EC public key PEM as the secret', () => algConfusion(c(), ec.pem), 'invalid');
  matrixRow(get, 'RS256 token when only an EC key is configured', () => signRS256(c(), RSA_ATTACKER.privateKey), 'invalid');
  matrixRow(get, 'alg none', () => algNone(c()), 'invalid');
  matrixRow(get, 'ES256 not yet valid', () => signES256(c({ nbf: nowS() + 3600 }), ec.privateKey), 'invalid');
  matrixRow(get, 'ES256 topic not granted', good, 'forbidden', NOT_GRANTED);

  test('an HMAC over the token is never accepted in place of an ES256 signature', async () => {
    const input = signingInput({ alg: 'ES256', typ: 'JWT' }, c());
    const token = `${input}.${b64url(Buffer.concat([createHmac('sha256', ec.pem).update(input).digest(), Buffer.alloc(32)]))}`;
    const res = await publish(server.url, GRANTED, 'x', { headers: bearer(token) });
    assertRefusal(res, 'invalid', token, 'publish');
  });
});
