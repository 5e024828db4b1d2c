// JWT helpers for the auth integration tests, on node:crypto only:
// - signHS256 / signRS256 / signES256 (ES256 signatures in JOSE form: r||s, 'ieee-p1363');
// - rsaKeys() / ecKeys(): fresh key pairs with the public key as SPKI PEM;
// - writeKeyFile(): the PEM in a temp file for --jwt-public-key-file (removed in t.after);
// - malformed-token builders (alg none, alg confusion, tampered signature, bad base64url, …).
import { createHmac, generateKeyPair, generateKeyPairSync, sign as cryptoSign, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RawConn, tryJson } from './http.mjs';
import { RawWs, SUBPROTOCOL, acceptKey } from './ws-client.mjs';

/** Unpadded base64url of a Buffer or a string (UTF-8). */
export function b64url(data) {
  return (Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8')).toString('base64url');
}

/** Seconds since the epoch, now. */
export const nowS = () => Math.floor(Date.now() / 1000);

/** A random HS256 secret (printable, so it can go on a command line). */
export function newSecret() {
  return randomBytes(24).toString('hex');
}

/**
 * Standard claims for a test token: subject, grants and a one-hour lifetime.
 * Options: sub, subscribe (array), publish (array), iss, aud, exp, nbf, iat, extra (merged last).
 * Pass `exp: null` (or iat, subscribe, publish null) to leave that claim out.
 */
export function claims({ sub = 'user-1', subscribe = ['**'], publish = ['**'], iss, aud, exp, nbf, iat, extra = {} } = {}) {
  const now = nowS();
  const c = { sub };
  if (iss !== undefined) c.iss = iss;
  if (aud !== undefined) c.aud = aud;
  if (iat !== null) c.iat = iat ?? now;
  if (exp !== null) c.exp = exp ?? now + 3600;
  if (nbf !== undefined && nbf !== null) c.nbf = nbf;
  if (subscribe !== null) c['switchboard.subscribe'] = subscribe;
  if (publish !== null) c['switchboard.publish'] = publish;
  return { ...c, ...extra };
}

/** `header.payload` (both base64url JSON); header defaults to {alg, typ: 'JWT'}. */
export function signingInput(header, payload) {
  const h = typeof header === 'string' ? header : JSON.stringify(header);
  const p = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return `${b64url(h)}.${b64url(p)}`;
}

/** HS256 token; `secret` is a string or a Buffer (e.g. the bytes of a PEM, for alg confusion). */
export function signHS256(payload, secret, headerExtra = {}) {
  const input = signingInput({ alg: 'HS256', typ: 'JWT', ...headerExtra }, payload);
  const sig = createHmac('sha256', secret).update(input).digest();
  return `${input}.${b64url(sig)}`;
}

/** RS256 token signed with an RSA private KeyObject. */
export function signRS256(payload, privateKey, headerExtra = {}) {
  const input = signingInput({ alg: 'RS256', typ: 'JWT', ...headerExtra }, payload);
  const sig = cryptoSign('sha256', Buffer.from(input), privateKey);
  return `${input}.${b64url(sig)}`;
}

/** ES256 token signed with a P-256 private KeyObject; the signature is JOSE r||s (64 bytes). */
export function signES256(payload, privateKey, headerExtra = {}) {
  const input = signingInput({ alg: 'ES256', typ: 'JWT', ...headerExtra }, payload);
  const sig = cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  if (sig.length !== 64) throw new Error(`ES256 signature is ${sig.length} bytes, expected 64`);
  return `${input}.${b64url(sig)}`;
}

/** A fresh RSA key pair: { privateKey, publicKey (KeyObjects), pem (SPKI PEM text) }. */
export function rsaKeys(bits = 2048) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return { privateKey, publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }) };
}

/**
 * As rsaKeys(), generated off the main thread (RSA generation takes seconds on a busy machine:
 * start several at once with Promise.all).
 */
export function rsaKeysAsync(bits = 2048) {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: bits }, (err, publicKey, privateKey) => {
      if (err) reject(err);
      else resolve({ privateKey, publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }) });
    });
  });
}

/** A fresh EC P-256 key pair: { privateKey, publicKey, pem (SPKI PEM text) }. */
export function ecKeys() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }) };
}

/**
 * Writes `pem` to a fresh temp directory; returns { file, dir, replace(pem) }. `replace` writes a
 * new content to the same path atomically (temp file + rename), as a key rotation would.
 * The directory is removed in t.after when `t` is given (or call cleanup()).
 */
export function writeKeyFile(t, pem, name = 'jwt-public.pem') {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-authit-'));
  const file = path.join(dir, name);
  writeFileSync(file, pem);
  const handle = {
    file,
    dir,
    replace(text) {
      const tmp = `${file}.tmp`;
      writeFileSync(tmp, text);
      renameSync(tmp, file);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (t && typeof t.after === 'function') t.after(() => handle.cleanup());
  return handle;
}

// ---------------------------------------------------------------------------------------------
// Tokens that must be refused

/** `alg: none` with an empty signature segment (RFC 7519 "unsecured JWT"). */
export function algNone(payload) {
  return `${signingInput({ alg: 'none', typ: 'JWT' }, payload)}.`;
}

/** As algNone, but `alg: "None"` and a non-empty signature (some verifiers normalise case). */
export function algNoneVariant(payload) {
  return `${signingInput({ alg: 'None', typ: 'JWT' }, payload)}.${b64url('x')}`;
}

/**
 * Alg confusion: an HS256 token whose HMAC key is the bytes of the server's PEM public key (a
 * verifier that feeds "the key" to whatever `alg` says would accept it).
 */
export function algConfusion(payload, publicPem) {
  return signHS256(payload, Buffer.from(publicPem, 'utf8'));
}

/** The same token with the last signature character changed (the signature no longer verifies). */
export function tamperSignature(token) {
  const dot = token.lastIndexOf('.');
  const sig = Buffer.from(token.slice(dot + 1), 'base64url');
  sig[0] ^= 0x01;
  sig[sig.length - 1] ^= 0x80;
  return `${token.slice(0, dot + 1)}${b64url(sig)}`;
}

/** A token whose payload was changed after signing (the signature covers the old payload). */
export function tamperPayload(token, newPayload) {
  const [h, , s] = token.split('.');
  return `${h}.${b64url(JSON.stringify(newPayload))}.${s}`;
}

/** Malformed encodings of an otherwise valid token. */
export const malformed = {
  /** Standard base64 with padding instead of unpadded base64url. */
  paddedBase64(token) {
    return token
      .split('.')
      .map((seg) => Buffer.from(seg, 'base64url').toString('base64'))
      .join('.');
  },
  /** A character outside the base64url alphabet in the header segment. */
  badCharacter(token) {
    return `*${token.slice(1)}`;
  },
  /** Only two segments. */
  twoSegments(token) {
    return token.split('.').slice(0, 2).join('.');
  },
  /** Four segments. */
  fourSegments(token) {
    return `${token}.${b64url('x')}`;
  },
  /** Not a JWT at all. */
  garbage() {
    return 'not-a-token';
  },
  /** A header that is not JSON (still base64url, signed with `secret`, so only the JSON is wrong). */
  headerNotJson(payload, secret) {
    const input = `${b64url('{alg:HS256')}.${b64url(JSON.stringify(payload))}`;
    return `${input}.${b64url(createHmac('sha256', secret).update(input).digest())}`;
  },
};

// ---------------------------------------------------------------------------------------------
// Presenting a credential to the server and reading the answer

/** `Authorization: Bearer <token>` as a headers object (empty for no token). */
export const bearer = (token) => (token === undefined || token === null ? {} : { Authorization: `Bearer ${token}` });

/**
 * A WebSocket handshake over a raw socket with extra headers and a query string (e.g.
 * `?access_token=…`). Resolves { status, headers, text, body (JSON or null) } and, for a 101,
 * `ws` (a RawWs for frames). The socket is destroyed in t.after (and at once when refused).
 */
export async function wsHandshake(t, port, { headers = {}, query = '', timeoutMs = 5000 } = {}) {
  const conn = await RawConn.open(port);
  if (t && typeof t.after === 'function') t.after(() => conn.destroy());
  const key = randomBytes(16).toString('base64');
  let head =
    `GET /v1/ws${query} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  await conn.write(`${head}\r\n`);
  const res = await conn.readResponse({ timeoutMs });
  const out = { status: res.status, headers: res.headers, text: res.text, body: tryJson(res.text) };
  if (res.status === 101) {
    if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
      conn.destroy();
      throw new Error(`bad Sec-WebSocket-Accept ${res.headers['sec-websocket-accept']}`);
    }
    out.ws = new RawWs(conn, res);
  } else {
    conn.destroy();
  }
  return out;
}

/** Sends op (with ref) on a RawWs and resolves with the ack/error/pong answering that ref. */
export async function wsCall(ws, op, timeoutMs = 3000) {
  await ws.sendJson(op);
  return ws.readJson(
    (m) => (m.op === 'ack' || m.op === 'error' || m.op === 'pong') && m.ref === op.ref,
    timeoutMs,
    `the answer to ${JSON.stringify(op).slice(0, 120)}`,
  );
}
