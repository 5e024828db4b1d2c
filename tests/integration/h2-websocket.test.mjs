// WebSocket over HTTP/2 (RFC 8441): the server's SETTINGS carry ENABLE_CONNECT_PROTOCOL; an
// extended CONNECT (:protocol websocket) on /v1/ws is answered 200 and speaks switchboard.v1 in
// DATA frames, byte for byte what HTTP/1.1 carries; client frames must still be masked; the close
// handshake ends the stream; a request that is not a WebSocket one gets the HTTP/1.1 handshake's
// statuses; SSE streams and WebSockets share one connection; a WebSocket that stops reading is
// held by its stream's flow control and closed by the slow-consumer policy, alone. Client: Node's
// http2 (nghttp2 underneath), and raw frames for what it will not send.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { startServer } from '../support/server.mjs';
import { uniq, waitFor, sleep } from '../support/util.mjs';
import { scrape } from '../support/metrics.mjs';
import { claims, newSecret, signHS256 } from '../support/jwt.mjs';
import {
  connectH2, h2Request, h2Events, openWsH2, wsFrame, rawH2, frame, hpackLiterals, FRAME, ERROR,
} from '../support/h2.mjs';

let server;
before(async () => {
  server = await startServer(null, { args: ['--threads', '2', '--heartbeat-s', '1'] });
});
after(async () => {
  if (server) await server.teardown();
});

const text = (f) => f.payload.toString('utf8');
/** The exact bytes of an unmasked final text frame carrying `s` (server frames). */
const serverText = (s) => {
  const p = Buffer.from(s, 'utf8');
  const head = p.length < 126 ? Buffer.from([0x81, p.length]) : Buffer.from([0x81, 126, p.length >> 8, p.length & 0xff]);
  return Buffer.concat([head, p]);
};

async function opened(t, session, opts) {
  const w = openWsH2(t, session, opts);
  await w.ready;
  assert.equal(w.status, 200, `extended CONNECT answered ${w.status}`);
  return w;
}

async function stillServes(session) {
  const h = await h2Request(session, { path: '/healthz' });
  assert.equal(h.status, 200);
  assert.equal(h.text, 'ok\n');
  const fresh = await connectH2(null, server.url);
  try {
    assert.equal((await h2Request(fresh, { path: '/healthz' })).status, 200);
  } finally {
    fresh.destroy();
  }
}

test('SETTINGS_ENABLE_CONNECT_PROTOCOL is offered and an extended CONNECT is answered 200', async (t) => {
  const h2 = await connectH2(t, server.url);
  // 'connect' may come before the server's SETTINGS have been read.
  await waitFor(() => h2.remoteSettings?.enableConnectProtocol === true, { what: 'the server SETTINGS with ENABLE_CONNECT_PROTOCOL', timeoutMs: 3000 });
  assert.equal(h2.remoteSettings.enableConnectProtocol, true);
  const w = await opened(t, h2);
  assert.equal(w.headers['sec-websocket-protocol'], 'switchboard.v1');
  assert.equal(w.headers['sec-websocket-accept'], undefined); // RFC 8441 §5: no key, no accept
  assert.equal(w.headers['content-length'], undefined);
  w.send('{"op":"ping","ref":"p1"}');
  const pong = await w.waitFrame();
  assert.deepEqual(pong.bytes, serverText('{"op":"pong","ref":"p1"}'));
  assert.equal(pong.masked, false);
});

test('subscribe, publish, ack and message frames are byte-exact; SSE and WebSocket share one connection', async (t) => {
  const topic = uniq('h2ws');
  const h2 = await connectH2(t, server.url);
  const sse = h2Events(t, h2, `/v1/events?topic=${topic}`);
  const a = await opened(t, h2);
  const b = await opened(t, h2);
  await sse.ready;
  assert.equal(sse.status, 200);
  a.send(JSON.stringify({ op: 'subscribe', topic, ref: 1 }));
  b.send(JSON.stringify({ op: 'subscribe', topic, ref: 'b1' }));
  assert.deepEqual((await a.waitFrame()).bytes, serverText('{"op":"ack","ref":1}'));
  assert.deepEqual((await b.waitFrame()).bytes, serverText('{"op":"ack","ref":"b1"}'));

  // An HTTP publish on the same connection reaches both WebSockets and the SSE stream.
  const pub = await h2Request(h2, { method: 'POST', path: `/v1/topics/${topic}?event=tick`, body: 'over one connection' });
  assert.equal(pub.status, 201);
  const id = pub.json.id;
  const expected = serverText(`{"op":"message","topic":"${topic}","id":"${id}","event":"tick","data":"over one connection","from":null}`);
  assert.deepEqual((await a.waitFrame()).bytes, expected);
  assert.deepEqual((await b.waitFrame()).bytes, expected);
  await sse.waitEvents(1);
  assert.equal(sse.events[0].id, id);
  assert.equal(sse.events[0].data, 'over one connection');

  // A WebSocket's publish: its ack carries the id; the other WebSocket and the SSE stream get it.
  a.send(JSON.stringify({ op: 'publish', topic, data: 'from a', ref: 2 }));
  const ack = JSON.parse(text(await a.waitFrame()));
  assert.equal(ack.op, 'ack');
  assert.equal(ack.ref, 2);
  assert.match(ack.id, /^[0-9a-z]+-2$/);
  const m = await b.waitFrame();
  const from = JSON.parse(text(m)).from;
  assert.match(from, /^c\d+$/);
  assert.deepEqual(m.bytes, serverText(`{"op":"message","topic":"${topic}","id":"${ack.id}","event":null,"data":"from a","from":"${from}"}`));
  await sse.waitEvents(2);
  assert.equal(sse.events[1].id, ack.id);
  assert.equal(sse.events[1].data, 'from a');
  // Every server frame is unmasked.
  assert.ok([...a.frames, ...b.frames].every((f) => !f.masked && f.fin));

  // Two WebSockets on one connection are two members (each stream has an identity of its own).
  const room = uniq('room');
  a.send(JSON.stringify({ op: 'presence.join', topic: room, ref: 3 }));
  await a.waitFrame((f) => text(f) === '{"op":"ack","ref":3}');
  await a.waitFrame((f) => text(f).startsWith('{"op":"presence"'));
  b.send(JSON.stringify({ op: 'presence.join', topic: room, ref: 4 }));
  await b.waitFrame((f) => text(f) === '{"op":"ack","ref":4}');
  const snapshot = JSON.parse(text(await b.waitFrame((f) => text(f).startsWith('{"op":"presence"'))));
  assert.equal(snapshot.members.length, 2, JSON.stringify(snapshot));
  assert.notEqual(snapshot.members[0].id ?? snapshot.members[0], snapshot.members[1].id ?? snapshot.members[1]);

  // The server counts one HTTP/2 connection carrying two WebSockets (and the SSE stream).
  const metrics = await h2Request(h2, { path: '/metrics' });
  assert.match(metrics.text, /^switchboard_ws_h2_streams 2$/m);
  assert.match(metrics.text, /^switchboard_h2_connections 1$/m);
  assert.match(metrics.text, /^switchboard_streams\{transport="ws"\} 2$/m);
});

test('a message larger than the stream window arrives whole: the window is given back as it is read', async (t) => {
  const topic = uniq('big');
  const h2 = await connectH2(t, server.url);
  const w = await opened(t, h2);
  const listener = await opened(t, h2);
  listener.send(JSON.stringify({ op: 'subscribe', topic, ref: 0 }));
  await listener.waitFrame();
  // 2 × 50,000 bytes of data in two frames sent at once: more than the 65,535-byte stream window.
  const data = (c) => c.repeat(50000);
  w.sendRaw(Buffer.concat([
    wsFrame(1, Buffer.from(JSON.stringify({ op: 'publish', topic, data: data('x'), ref: 1 }))),
    wsFrame(1, Buffer.from(JSON.stringify({ op: 'publish', topic, data: data('y'), ref: 2 }))),
  ]));
  assert.equal(JSON.parse(text(await w.waitFrame())).ref, 1);
  assert.equal(JSON.parse(text(await w.waitFrame())).ref, 2);
  const got = [JSON.parse(text(await listener.waitFrame())), JSON.parse(text(await listener.waitFrame()))];
  assert.deepEqual(got.map((m) => [m.op, m.data]), [['message', data('x')], ['message', data('y')]]);
});

test('an unmasked client frame is closed with 1002, and the connection serves on', async (t) => {
  const h2 = await connectH2(t, server.url);
  const w = await opened(t, h2);
  w.sendRaw(wsFrame(1, Buffer.from('{"op":"ping"}'), null));
  const close = await w.waitFrame((f) => f.opcode === 8);
  assert.equal(close.payload.readUInt16BE(0), 1002);
  assert.equal(close.bytes[0], 0x88);
  // The server's side ended with END_STREAM after the close frame: end ours, the stream closes.
  w.req.end();
  await w.waitClosed();
  assert.equal(w.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  await stillServes(h2);
});

test('a text frame that is not UTF-8 is closed with 1007', async (t) => {
  const h2 = await connectH2(t, server.url);
  const w = await opened(t, h2);
  w.sendRaw(wsFrame(1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])));
  const close = await w.waitFrame((f) => f.opcode === 8);
  assert.equal(close.payload.readUInt16BE(0), 1007);
  await stillServes(h2);
});

test('a client close is echoed with its code and both sides end the stream', async (t) => {
  const h2 = await connectH2(t, server.url);
  const w = await opened(t, h2);
  const other = await opened(t, h2);
  w.sendRaw(wsFrame(8, Buffer.from([0x03, 0xe8])));
  const echo = await w.waitFrame((f) => f.opcode === 8);
  assert.deepEqual(echo.bytes, Buffer.from([0x88, 0x02, 0x03, 0xe8]));
  w.req.end();
  await w.waitClosed();
  assert.equal(w.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  // The connection's other WebSocket is untouched.
  other.send('{"op":"ping","ref":9}');
  assert.deepEqual((await other.waitFrame()).bytes, serverText('{"op":"pong","ref":9}'));
  await waitFor(async () => /^switchboard_ws_h2_streams 1$/m.test((await h2Request(h2, { path: '/metrics' })).text), { what: 'one WebSocket left' });
});

test('a client that ends its stream without a close frame ends the session', async (t) => {
  const h2 = await connectH2(t, server.url);
  const topic = uniq('gone');
  const w = await opened(t, h2);
  w.send(JSON.stringify({ op: 'presence.join', topic, ref: 1 }));
  await w.waitFrame((f) => text(f) === '{"op":"ack","ref":1}');
  w.req.end();
  await w.waitClosed();
  // Its presence ended with it.
  const p = await h2Request(h2, { path: `/v1/topics/${topic}/presence` });
  assert.equal(p.status, 200);
  assert.equal(p.json.count, 0, p.text);
  await stillServes(h2);
});

test('requests that are not a WebSocket handshake get the HTTP/1.1 handshake statuses', async (t) => {
  const h2 = await connectH2(t, server.url);
  const cases = [
    ['GET without :protocol', { ':method': 'GET' }, 426],
    ['another :protocol', { ':protocol': 'h2c-tunnel' }, 426],
    ['version 12', { 'sec-websocket-version': '12' }, 426],
    ['no version', { 'sec-websocket-version': undefined }, 426],
    ['no subprotocol', { 'sec-websocket-protocol': undefined }, 400],
    ['another subprotocol', { 'sec-websocket-protocol': 'chat' }, 400],
  ];
  for (const [name, headers, status] of cases) {
    const fields = { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/v1/ws',
      'sec-websocket-version': '13', 'sec-websocket-protocol': 'switchboard.v1', ...headers };
    if (fields[':method'] === 'GET') delete fields[':protocol'];
    for (const [k, v] of Object.entries(fields)) if (v === undefined) delete fields[k];
    const res = await h2Request(h2, { method: fields[':method'], path: '/v1/ws', headers: fields, body: fields[':method'] === 'GET' ? undefined : '' });
    assert.equal(res.status, status, `${name}: ${res.status} ${res.text}`);
    assert.equal(res.json.error, 'websocket_handshake', name);
    if (status === 426) assert.equal(res.headers['sec-websocket-version'], '13', name);
  }
  // The extended CONNECT opens only the WebSocket endpoint; other paths keep their answers.
  const events = await h2Request(h2, { method: 'CONNECT', path: '/v1/events?topic=a', headers: { ':protocol': 'websocket', ':scheme': 'http', 'sec-websocket-version': '13', 'sec-websocket-protocol': 'switchboard.v1' }, body: '' });
  assert.equal(events.status, 405);
  assert.equal(events.headers.allow, 'GET, OPTIONS');
  const missing = await h2Request(h2, { method: 'CONNECT', path: '/v1/nope', headers: { ':protocol': 'websocket', ':scheme': 'http' }, body: '' });
  assert.equal(missing.status, 404);
  // A classic CONNECT (a tunnel to an authority: no :protocol, no :path) is no request of ours.
  const tunnel = await new Promise((resolve) => {
    const req = h2.request({ ':method': 'CONNECT', ':authority': 'example.com:443' }, { endStream: false });
    let status;
    req.on('response', (h) => { status = h[':status']; });
    req.on('error', () => {});
    req.resume();
    req.on('close', () => resolve({ status, rstCode: req.rstCode }));
    req.end();
  });
  assert.equal(tunnel.status, 400);
  await stillServes(h2);
  const w = await opened(t, h2);
  w.send('{"op":"ping"}');
  assert.deepEqual((await w.waitFrame()).bytes, serverText('{"op":"pong","ref":null}'));
});

test('raw frames: CONNECT with :path but no :protocol is a stream error, the connection lives', async (t) => {
  const c = await rawH2(t, server.port);
  c.write(frame(FRAME.HEADERS, 0x4, 1, hpackLiterals([[':method', 'CONNECT'], [':scheme', 'http'], [':authority', '127.0.0.1'], [':path', '/v1/ws'],
    ['sec-websocket-version', '13'], ['sec-websocket-protocol', 'switchboard.v1']])));
  const rst = await c.waitFor((f) => f.type === FRAME.RST_STREAM && f.streamId === 1, 5000, 'RST_STREAM on stream 1');
  assert.equal(rst.payload.readUInt32BE(0), ERROR.PROTOCOL_ERROR);
  // The same connection then opens a WebSocket properly.
  c.write(frame(FRAME.HEADERS, 0x4, 3, hpackLiterals([[':method', 'CONNECT'], [':protocol', 'websocket'], [':scheme', 'http'], [':authority', '127.0.0.1'], [':path', '/v1/ws'],
    ['sec-websocket-version', '13'], ['sec-websocket-protocol', 'switchboard.v1']])));
  c.write(frame(FRAME.DATA, 0, 3, wsFrame(1, Buffer.from('{"op":"ping","ref":1}'))));
  const data = await c.waitFor((f) => f.type === FRAME.DATA && f.streamId === 3, 5000, 'DATA on stream 3');
  assert.deepEqual(data.payload, serverText('{"op":"pong","ref":1}'));
  const head = c.frames.find((f) => f.type === FRAME.HEADERS && f.streamId === 3);
  assert.ok(head, 'a response HEADERS on stream 3');
  assert.equal(head.flags & 0x1, 0, 'the 200 does not end the stream');
});

test('credentials and origin are checked as for the HTTP/1.1 upgrade', async (t) => {
  const secret = newSecret();
  const s = await startServer(t, { dev: false, args: ['--threads', '1', '--jwt-secret', secret, '--cors-origins', 'https://app.example'] });
  const h2 = await connectH2(t, s.url);
  // Invalid credentials: the handshake itself is refused.
  const bad = openWsH2(t, h2, { headers: { authorization: `Bearer ${signHS256(claims(), newSecret())}` } });
  await bad.ready;
  assert.equal(bad.status, 401);
  assert.match(bad.headers['www-authenticate'], /^Bearer error="invalid_token"/);
  // A cookie sent from an origin not listed is not a credential.
  const cookie = `switchboard_token=${signHS256(claims(), secret)}`;
  const foreign = openWsH2(t, h2, { headers: { cookie, origin: 'https://evil.example' } });
  await foreign.ready;
  assert.equal(foreign.status, 401);
  const listed = openWsH2(t, h2, { headers: { cookie, origin: 'https://app.example' } });
  await listed.ready;
  assert.equal(listed.status, 200);
  // No credentials: the handshake succeeds and each op is refused, as over HTTP/1.1.
  const none = await opened(t, h2);
  none.send('{"op":"subscribe","topic":"ok/1","ref":1}');
  const unauthorized = JSON.parse(text(await none.waitFrame()));
  assert.deepEqual([unauthorized.op, unauthorized.ref, unauthorized.code], ['error', 1, 'unauthorized']);
  const token = signHS256(claims({ sub: 'alice', subscribe: ['ok/**'], publish: [] }), secret);
  const w = openWsH2(t, h2, { headers: { authorization: `Bearer ${token}` } });
  await w.ready;
  assert.equal(w.status, 200);
  w.send('{"op":"subscribe","topic":"ok/1","ref":1}');
  assert.deepEqual((await w.waitFrame()).bytes, serverText('{"op":"ack","ref":1}'));
  w.send('{"op":"subscribe","topic":"no/1","ref":2}');
  const refused = JSON.parse(text(await w.waitFrame()));
  assert.deepEqual([refused.op, refused.ref, refused.code], ['error', 2, 'forbidden']);
  // The identity is the token's subject.
  w.send('{"op":"presence.join","topic":"ok/room","ref":3}');
  await w.waitFrame((f) => text(f) === '{"op":"ack","ref":3}');
  const snap = JSON.parse(text(await w.waitFrame()));
  assert.match(JSON.stringify(snap.members), /"alice"/);
});

test('a WebSocket that stops reading is held by its stream window and closed as a slow consumer, alone', async (t) => {
  const s = await startServer(t, { args: ['--threads', '1', '--send-queue-max-bytes', '65536', '--ws-ping-interval-s', '1', '--max-request-bytes', String(1 << 20)] });
  const h2 = await connectH2(t, s.url, { settings: { initialWindowSize: 16384 } });
  h2.setLocalWindowSize(64 << 20);
  const slowTopic = uniq('slow');
  const fastTopic = uniq('fast');
  const slow = await opened(t, h2);
  const fast = await opened(t, h2);
  slow.send(JSON.stringify({ op: 'subscribe', topic: slowTopic, ref: 1 }));
  fast.send(JSON.stringify({ op: 'subscribe', topic: fastTopic, ref: 1 }));
  await slow.waitFrame();
  await fast.waitFrame();
  slow.req.pause();
  const pub = await connectH2(t, s.url);
  const payload = 'x'.repeat(4000);
  for (let i = 0; i < 60 && !slow.closed; i++) {
    assert.equal((await h2Request(pub, { method: 'POST', path: `/v1/topics/${slowTopic}`, body: payload })).status, 201);
    if (i % 10 === 0) {
      assert.equal((await h2Request(pub, { method: 'POST', path: `/v1/topics/${fastTopic}`, body: `fast-${i}` })).status, 201);
    }
  }
  // The healthy WebSocket got everything in order while the other one stalled.
  for (let i = 0; i < 60; i += 10) {
    const m = JSON.parse(text(await fast.waitFrame((f) => f.opcode === 1)));
    assert.equal(m.data, `fast-${i}`);
  }
  // Over the bound: closed by the resume policy (1008 cannot get through a full window, so the
  // stream is reset after the linger of one ping interval).
  await waitFor(async () => (await scrape(s.url)).get('switchboard_streams_ended_total', { transport: 'ws', reason: 'slow_consumer' }) === 1,
    { what: 'a slow-consumer close', timeoutMs: 8000 });
  slow.req.resume();
  await slow.waitClosed(8000);
  const codes = slow.frames.filter((f) => f.opcode === 8).map((f) => f.payload.readUInt16BE(0));
  assert.ok(slow.rstCode === http2.constants.NGHTTP2_CANCEL || codes[0] === 1008, `rst ${slow.rstCode}, close codes ${codes}`);
  // The connection and its other WebSocket go on.
  fast.send('{"op":"ping","ref":"after"}');
  assert.deepEqual((await fast.waitFrame((f) => f.opcode === 1)).bytes, serverText('{"op":"pong","ref":"after"}'));
  assert.equal((await h2Request(h2, { path: '/healthz' })).status, 200);
});

test('drain closes a WebSocket on HTTP/2 with 1012', async (t) => {
  const s = await startServer(t, { args: ['--threads', '1', '--drain-timeout-s', '3'] });
  const h2 = await connectH2(t, s.url);
  const w = await opened(t, h2);
  w.send('{"op":"ping","ref":1}');
  await w.waitFrame();
  s.signal('SIGTERM');
  const close = await w.waitFrame((f) => f.opcode === 8, 5000);
  assert.equal(close.payload.readUInt16BE(0), 1012);
  w.req.end();
  await w.waitClosed();
  await sleep(10);
});

test('each WebSocket stream takes a place under the connection limits, as its own connection would', async (t) => {
  const s = await startServer(t, { args: ['--threads', '1', '--max-connections-per-ip', '3'] });
  const h2 = await connectH2(t, s.url); // place 1
  const a = await opened(t, h2); // place 2
  const b = await opened(t, h2); // place 3
  const over = openWsH2(t, h2);
  await over.ready;
  assert.equal(over.status, 429);
  // SSE streams and requests on the connection are not connections of their own.
  assert.equal((await h2Request(h2, { path: '/healthz' })).status, 200);
  // Its place comes back when a WebSocket ends.
  a.sendRaw(wsFrame(8, Buffer.from([0x03, 0xe8])));
  await a.waitFrame((f) => f.opcode === 8);
  a.req.end();
  await a.waitClosed();
  const again = await opened(t, h2);
  again.send('{"op":"ping","ref":1}');
  assert.deepEqual((await again.waitFrame()).bytes, serverText('{"op":"pong","ref":1}'));
  b.send('{"op":"ping","ref":2}');
  assert.deepEqual((await b.waitFrame()).bytes, serverText('{"op":"pong","ref":2}'));
});
