// WebSocket opening handshake on GET /v1/ws: the switchboard.v1 subprotocol is required and
// echoed, a refusal is a JSON answer that says what to send, a wrong version is 426, and frames
// sent right behind the handshake are not lost.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer } from '../support/server.mjs';
import { RawConn, rawExchange } from '../support/http.mjs';
import { openWs, RawWs, stopServer, acceptKey, frame, OP, SUBPROTOCOL } from '../support/ws-client.mjs';
import { uniq } from '../support/util.mjs';

let server;
before(async () => {
  server = await startServer(null, { args: ['--threads', '2'] });
});
after(async () => {
  await stopServer(server);
});

function upgradeRequest(port, { protocol, version = '13', key = randomBytes(16).toString('base64'), method = 'GET', extra = '' } = {}) {
  let head =
    `${method} /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: ${version}\r\n`;
  if (protocol !== undefined) head += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  return { bytes: `${head}${extra}\r\n`, key };
}

/** Sends an upgrade request on a raw socket; returns the response and whether the server then closed. */
async function refusedUpgrade(opts) {
  const conn = await RawConn.open(server.port);
  try {
    const { bytes } = upgradeRequest(server.port, opts);
    await conn.write(bytes);
    const res = await conn.readResponse({ timeoutMs: 3000 });
    const closed = await conn.waitClosed(3000);
    return { res, closed };
  } finally {
    conn.destroy();
  }
}

test('GET /v1/ws offering switchboard.v1 answers 101 with the subprotocol and a correct accept key', async () => {
  const conn = await RawConn.open(server.port);
  try {
    const { bytes, key } = upgradeRequest(server.port, { protocol: SUBPROTOCOL });
    await conn.write(bytes);
    const res = await conn.readResponse({ timeoutMs: 3000 });
    assert.equal(res.status, 101, res.statusLine);
    assert.equal(res.headers['sec-websocket-protocol'], SUBPROTOCOL);
    assert.equal(res.headers['sec-websocket-accept'], acceptKey(key));
    assert.equal((res.headers.upgrade || '').toLowerCase(), 'websocket');
    assert.match(res.headers.connection || '', /upgrade/i);
    assert.equal(res.headers['sec-websocket-extensions'], undefined, 'no extension was offered, none may be accepted');
    assert.equal(conn.buf.length, 0, `bytes after the 101 before any request: ${conn.buf.toString('hex')}`);
  } finally {
    conn.destroy();
  }
});

test('an offer of permessage-deflate is accepted: the 101 answers it (details in ws-deflate)', async () => {
  const conn = await RawConn.open(server.port);
  try {
    const { bytes } = upgradeRequest(server.port, {
      protocol: SUBPROTOCOL,
      extra: 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n',
    });
    await conn.write(bytes);
    const res = await conn.readResponse({ timeoutMs: 3000 });
    assert.equal(res.status, 101, res.statusLine);
    assert.equal(res.headers['sec-websocket-extensions'], 'permessage-deflate; server_no_context_takeover; client_max_window_bits=12');
  } finally {
    conn.destroy();
  }
});

test('the `ws` library negotiates switchboard.v1, also when it is one of several offers', async (t) => {
  const a = await openWs(t, server.port);
  assert.equal(a.ws.protocol, SUBPROTOCOL);
  const b = await openWs(t, server.port, { protocols: ['chat', SUBPROTOCOL, 'x.v2'] });
  assert.equal(b.ws.protocol, SUBPROTOCOL);
  const pong = await b.sync();
  assert.deepEqual(pong, { op: 'pong', ref: pong.ref });
});

test('several Sec-WebSocket-Protocol header lines count together', async () => {
  const conn = await RawConn.open(server.port);
  try {
    const { bytes } = upgradeRequest(server.port, { protocol: 'chat', extra: `Sec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n` });
    await conn.write(bytes);
    const res = await conn.readResponse({ timeoutMs: 3000 });
    assert.equal(res.status, 101, res.statusLine);
    assert.equal(res.headers['sec-websocket-protocol'], SUBPROTOCOL);
  } finally {
    conn.destroy();
  }
});

for (const [label, protocol] of [
  ['no subprotocol', undefined],
  ['another subprotocol', 'chat'],
  ['a near miss (switchboard.v2)', 'switchboard.v2'],
]) {
  test(`an upgrade with ${label} is refused with 400 and a JSON body naming switchboard.v1`, async () => {
    const { res, closed } = await refusedUpgrade({ protocol });
    assert.equal(res.status, 400, res.statusLine);
    assert.match(res.headers['content-type'] || '', /^application\/json/i);
    const body = JSON.parse(res.text);
    assert.equal(typeof body, 'object');
    assert.match(res.text, /switchboard\.v1/, `the answer must name the subprotocol: ${res.text}`);
    assert.equal(res.headers['sec-websocket-accept'], undefined);
    assert.equal(res.headers['sec-websocket-protocol'], undefined);
    assert.ok(closed, 'the connection stays open after a refused upgrade');
  });
}

test('the ws library sees the refusal as an unexpected 400 response', async () => {
  await assert.rejects(openWs(null, server.port, { protocols: [] }), /handshake answered 400/);
  await assert.rejects(openWs(null, server.port, { protocols: ['mqtt'] }), /handshake answered 400/);
});

test('a wrong Sec-WebSocket-Version is answered 426 with Sec-WebSocket-Version: 13', async () => {
  for (const version of ['8', '12', '14']) {
    const { res, closed } = await refusedUpgrade({ protocol: SUBPROTOCOL, version });
    assert.equal(res.status, 426, `version ${version}: ${res.statusLine}`);
    assert.equal(res.headers['sec-websocket-version'], '13');
    assert.equal(res.headers['sec-websocket-accept'], undefined);
    assert.ok(closed, `version ${version}: connection left open`);
  }
});

test('a plain GET /v1/ws (no Upgrade) is answered 426, not served as HTTP', async () => {
  const res = await rawExchange(server.port, `GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`);
  assert.equal(res.status, 426, res.statusLine);
  assert.match(res.headers.upgrade || '', /websocket/i);
});

test('a malformed Sec-WebSocket-Key is answered 400', async () => {
  const { res } = await refusedUpgrade({ protocol: SUBPROTOCOL, key: 'short' });
  assert.equal(res.status, 400, res.statusLine);
});

test('frames sent in the same write as the handshake are processed, in order', async () => {
  const conn = await RawConn.open(server.port);
  try {
    const topic = uniq('early');
    const { bytes } = upgradeRequest(server.port, { protocol: SUBPROTOCOL });
    const f1 = frame({ opcode: OP.text, payload: JSON.stringify({ op: 'ping', ref: 'e1' }) });
    const f2 = frame({ opcode: OP.text, payload: JSON.stringify({ op: 'subscribe', topic, ref: 'e2' }) });
    const f3 = frame({ opcode: OP.text, payload: JSON.stringify({ op: 'ping', ref: 'e3' }) });
    await conn.write(Buffer.concat([Buffer.from(bytes), f1, f2, f3]));
    const res = await conn.readResponse({ timeoutMs: 3000 });
    assert.equal(res.status, 101);
    const ws = new RawWs(conn, res);
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await ws.readJson(() => true, 3000, `answer ${i + 1}`));
    assert.deepEqual(got, [
      { op: 'pong', ref: 'e1' },
      { op: 'ack', ref: 'e2' },
      { op: 'pong', ref: 'e3' },
    ]);
  } finally {
    conn.destroy();
  }
});
