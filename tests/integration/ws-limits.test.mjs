// WebSocket limits and close codes, over raw frames after a hand-written handshake: protocol
// errors 1002, invalid UTF-8 1007, too big 1009, publish rate 1008, silent peers 1001, draining
// 1012. Each close frame is read byte for byte; after each, the server still serves a fresh
// client (and a bystander connected all along).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { publishOk, RawConn } from '../support/http.mjs';
import { openWs, RawWs, frame, OP, startWsServer, stopServer } from '../support/ws-client.mjs';
import { uniq, sleep } from '../support/util.mjs';

const MAX = 1024; // --max-message-bytes
const FRAME_MAX = 2 * MAX + 4096; // the largest incoming message the server takes
const RATE = 5;
const BURST = 5;

let server;
let bystander;
let bystanderTopic;
before(async () => {
  server = await startWsServer(null, [
    '--threads', '2',
    '--max-message-bytes', String(MAX),
    '--ws-publish-rate', String(RATE),
    '--ws-publish-burst', String(BURST),
  ]);
  bystanderTopic = uniq('bystander');
  bystander = await openWs(null, server.port, { name: 'bystander' });
  await bystander.ok({ op: 'subscribe', topic: bystanderTopic });
});
after(async () => {
  if (bystander) {
    // Everything the bad clients did must not have touched a well-behaved connection.
    const id = await publishOk(server.url, bystanderTopic, 'still here');
    const m = await bystander.waitMsg((x) => x.op === 'message' && x.id === id, { timeoutMs: 3000 });
    assert.equal(m.data, 'still here');
    assert.equal(bystander.closeInfo, null);
    bystander.close();
  }
  await stopServer(server);
});

/** A fresh client subscribes and receives an HTTP publish: the server is fine. */
async function assertServes(t) {
  const topic = uniq('healthy');
  const c = await openWs(t, server.port, { name: 'fresh' });
  await c.ok({ op: 'subscribe', topic });
  const id = await publishOk(server.url, topic, 'ok');
  assert.deepEqual(await c.waitMsg((m) => m.op === 'message', { timeoutMs: 3000 }), { op: 'message', topic, id, event: null, data: 'ok', from: null });
  c.close();
}

const pingOp = (ref) => frame({ opcode: OP.text, payload: JSON.stringify({ op: 'ping', ref }) });
const closeCode = (code, reason = '') => {
  const r = Buffer.from(reason, 'utf8');
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
};

/**
 * Opens a raw connection, proves it works (ping op → pong), writes `bad` followed in the same
 * write by a valid ping op (which must not be answered: nothing after the violation is read),
 * and returns the close frame the server sent.
 */
async function violate(t, bad, { expect } = {}) {
  const ws = await RawWs.open(t, server.port);
  await ws.write(pingOp('before'));
  assert.deepEqual(await ws.readJson((m) => m.op === 'pong'), { op: 'pong', ref: 'before' });
  await ws.write(Buffer.concat([...(Array.isArray(bad) ? bad : [bad]), pingOp('after')]));
  const close = await ws.readClose(3000);
  const others = ws.frames.filter((f) => f.opcode === OP.text).map((f) => f.payload.toString('utf8'));
  assert.ok(!others.some((s) => s.includes('"after"')), `a frame after the violation was processed: ${others}`);
  assert.equal(close.frame.fin, true);
  assert.equal(close.frame.masked, false, 'server frames must not be masked');
  assert.equal(close.frame.rsv, 0);
  if (expect !== undefined) {
    assert.equal(close.code, expect, `close frame bytes ${close.bytes} (reason ${JSON.stringify(close.reason)})`);
    assert.equal(close.bytes.slice(0, 2), '88');
    assert.equal(close.bytes.slice(4, 8), expect.toString(16).padStart(4, '0'));
  }
  assert.ok(await ws.waitEof(3000), 'the server did not end the TCP connection after its close frame');
  ws.destroy();
  return close;
}

const protocolErrors = [
  ['an unmasked text frame', () => frame({ opcode: OP.text, payload: '{"op":"ping"}', mask: false })],
  ['an unmasked ping frame', () => frame({ opcode: OP.ping, payload: 'x', mask: false })],
  ['reserved data opcode 0x3', () => frame({ opcode: 0x3, payload: 'x' })],
  ['reserved data opcode 0x7', () => frame({ opcode: 0x7, payload: '' })],
  ['reserved control opcode 0xB', () => frame({ opcode: 0xb, payload: '' })],
  ['reserved control opcode 0xF', () => frame({ opcode: 0xf, payload: 'x' })],
  ['RSV1 set on a text frame (no extension negotiated)', () => frame({ opcode: OP.text, rsv: 4, payload: '{"op":"ping"}' })],
  ['RSV2 set', () => frame({ opcode: OP.text, rsv: 2, payload: '{"op":"ping"}' })],
  ['RSV3 set on a ping', () => frame({ opcode: OP.ping, rsv: 1, payload: '' })],
  ['a fragmented ping (FIN clear on a control frame)', () => frame({ opcode: OP.ping, fin: false, payload: 'ab' })],
  ['a fragmented close frame', () => frame({ opcode: OP.close, fin: false, payload: closeCode(1000) })],
  ['a ping with a 126-byte payload', () => frame({ opcode: OP.ping, payload: Buffer.alloc(126, 0x61) })],
  ['a pong with a 200-byte payload', () => frame({ opcode: OP.pong, payload: Buffer.alloc(200, 0x61) })],
  ['a continuation frame without a started message', () => frame({ opcode: OP.cont, payload: '{"op":"ping"}' })],
  ['a non-final continuation without a started message', () => frame({ opcode: OP.cont, fin: false, payload: '{' })],
  ['a new text frame inside a fragmented message', () => [frame({ opcode: OP.text, fin: false, payload: '{"op":' }), frame({ opcode: OP.text, payload: '"ping"}' })]],
  ['a binary frame inside a fragmented text message', () => [frame({ opcode: OP.text, fin: false, payload: '{"op":' }), frame({ opcode: OP.binary, payload: 'x' })]],
  ['a 16-bit length that fits in 7 bits (not minimal)', () => Buffer.from([0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4, 1, 2, 3, 4, 5])],
  ['a 64-bit length that fits in 16 bits (not minimal)', () => Buffer.concat([Buffer.from([0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 200]), Buffer.alloc(204)])],
  ['a close frame with a 1-byte payload', () => frame({ opcode: OP.close, payload: Buffer.from([3]) })],
  ['a close frame with code 1005 (reserved, never on the wire)', () => frame({ opcode: OP.close, payload: closeCode(1005) })],
  ['a close frame with code 1006', () => frame({ opcode: OP.close, payload: closeCode(1006) })],
  ['a close frame with code 999', () => frame({ opcode: OP.close, payload: closeCode(999) })],
  ['a close frame with code 2000', () => frame({ opcode: OP.close, payload: closeCode(2000) })],
];

for (const [label, make] of protocolErrors) {
  test(`${label} → close 1002`, async (t) => {
    await violate(t, make(), { expect: 1002 });
    await assertServes(t);
  });
}

const badUtf8 = [
  ['0xFF', [0xff]],
  ['an overlong NUL (C0 80)', [0xc0, 0x80]],
  ['a UTF-16 surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
  ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ['a truncated sequence', [0xe2, 0x82]],
];
for (const [label, bytes] of badUtf8) {
  test(`a text frame with invalid UTF-8 (${label}) → close 1007`, async (t) => {
    const payload = Buffer.concat([Buffer.from('{"op":"ping","ref":"'), Buffer.from(bytes), Buffer.from('"}')]);
    await violate(t, frame({ opcode: OP.text, payload }), { expect: 1007 });
    await assertServes(t);
  });
}

test('a fragmented text message that is invalid UTF-8 once whole → close 1007', async (t) => {
  await violate(
    t,
    [frame({ opcode: OP.text, fin: false, payload: Buffer.from('{"op":"ping","ref":"\xff', 'latin1') }), frame({ opcode: OP.cont, payload: '"}' })],
    { expect: 1007 },
  );
  await assertServes(t);
});

test('a close reason that is not UTF-8 → close 1007', async (t) => {
  await violate(t, frame({ opcode: OP.close, payload: Buffer.concat([closeCode(1000), Buffer.from([0xff, 0xfe])]) }), { expect: 1007 });
  await assertServes(t);
});

test('valid framing is accepted: fragments (a character split across them), an interleaved ping, 125-byte ping payload', async (t) => {
  const ws = await RawWs.open(t, server.port);
  // '€' (E2 82 AC) split between fragments, with a ping between the fragments.
  const whole = Buffer.from('{"op":"ping","ref":"€uro"}', 'utf8');
  const cut = whole.indexOf(0x82);
  const payload125 = Buffer.alloc(125, 0x7a);
  await ws.write(
    Buffer.concat([
      frame({ opcode: OP.text, fin: false, payload: whole.subarray(0, cut) }),
      frame({ opcode: OP.ping, payload: payload125 }),
      frame({ opcode: OP.cont, fin: false, payload: whole.subarray(cut, cut + 3) }),
      frame({ opcode: OP.cont, payload: whole.subarray(cut + 3) }),
    ]),
  );
  const pong = await ws.readFrame((f) => f.opcode === OP.pong, 3000, 'the pong frame');
  assert.equal(pong.payload.toString('latin1'), payload125.toString('latin1'), 'pong must echo the ping payload');
  assert.equal(pong.masked, false);
  assert.deepEqual(await ws.readJson((m) => m.op === 'pong'), { op: 'pong', ref: '€uro' });
  // A pong nobody asked for is ignored; an empty ping is answered with an empty pong.
  await ws.write(Buffer.concat([frame({ opcode: OP.pong, payload: 'unsolicited' }), frame({ opcode: OP.ping })]));
  const p2 = await ws.readFrame((f) => f.opcode === OP.pong, 3000, 'the second pong');
  assert.equal(p2.payload.length, 0);
  // Binary frames and ops in JSON keep working on the same connection.
  await ws.write(pingOp('still'));
  assert.deepEqual(await ws.readJson((m) => m.op === 'pong'), { op: 'pong', ref: 'still' });
  assert.equal(ws.conn.eof, false);
});

test('a client close frame is echoed with its code, then the server ends the connection', async (t) => {
  for (const [payload, expected] of [
    [closeCode(1000, 'bye'), 1000],
    [closeCode(4001, 'app'), 4001],
    [Buffer.alloc(0), null],
  ]) {
    const ws = await RawWs.open(t, server.port);
    await ws.write(Buffer.concat([frame({ opcode: OP.close, payload }), pingOp('after')]));
    const close = await ws.readClose(3000);
    assert.equal(close.code, expected, `echo of close ${payload.toString('hex')}: bytes ${close.bytes}`);
    if (expected === null) assert.equal(close.bytes, '8800');
    assert.ok(await ws.waitEof(3000));
    assert.ok(!ws.frames.some((f) => f.opcode === OP.text), 'a frame after the close was processed');
  }
  await assertServes(t);
});

test(`a message of exactly 2*max_message_bytes+4096 (${FRAME_MAX}) bytes is taken; one byte more → close 1009`, async (t) => {
  const ws = await RawWs.open(t, server.port);
  const fill = (n, ref) => {
    const base = JSON.stringify({ op: 'ping', ref: '' });
    return JSON.stringify({ op: 'ping', ref: `${ref}${'x'.repeat(n - base.length - ref.length)}` });
  };
  const exact = fill(FRAME_MAX, 'ok');
  assert.equal(Buffer.byteLength(exact), FRAME_MAX);
  await ws.write(frame({ opcode: OP.text, payload: exact }));
  const pong = await ws.readJson((m) => m.op === 'pong', 3000, 'the pong to the largest message');
  assert.equal(pong.ref.length, FRAME_MAX - JSON.stringify({ op: 'ping', ref: '' }).length);
  ws.destroy();

  const over = fill(FRAME_MAX + 1, 'no');
  await violate(t, frame({ opcode: OP.text, payload: over }), { expect: 1009 });
  await assertServes(t);
});

test('an oversized frame is refused on its header, before its payload arrives → close 1009', async (t) => {
  const ws = await RawWs.open(t, server.port);
  // Header of an 8 MiB masked text frame, and 1 KiB of it: the server must not wait for the rest.
  const head = Buffer.from([0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0x80, 0, 0, 1, 2, 3, 4]);
  await ws.write(Buffer.concat([head, Buffer.alloc(1024, 0x20)]));
  const close = await ws.readClose(3000);
  assert.equal(close.code, 1009, `close bytes ${close.bytes}`);
  ws.destroy();
  await assertServes(t);
});

test('a fragmented message whose fragments add up to more than the limit → close 1009', async (t) => {
  const part = Buffer.alloc(3000, 0x20);
  await violate(
    t,
    [
      frame({ opcode: OP.text, fin: false, payload: Buffer.concat([Buffer.from('{"op":"ping","ref":"'), part]) }),
      frame({ opcode: OP.cont, fin: false, payload: part }),
      frame({ opcode: OP.cont, payload: Buffer.concat([part, Buffer.from('"}')]) }),
    ],
    { expect: 1009 },
  );
  await assertServes(t);
});

test(`stored publishes beyond the burst (${BURST}) at once: exactly ${BURST} acks with ids, then close 1008; the ${BURST} are delivered`, async (t) => {
  const topic = uniq('rate');
  const sub = await openWs(t, server.port, { name: 'sub' });
  await sub.ok({ op: 'subscribe', topic });
  const ws = await RawWs.open(t, server.port);
  const frames = [];
  for (let i = 0; i < BURST + 3; i++) frames.push(frame({ opcode: OP.text, payload: JSON.stringify({ op: 'publish', topic, data: `p${i}`, ref: i }) }));
  await ws.write(Buffer.concat(frames));
  const close = await ws.readClose(3000);
  assert.equal(close.code, 1008, `close bytes ${close.bytes}`);
  const answers = ws.frames.filter((f) => f.opcode === OP.text).map((f) => JSON.parse(f.payload.toString('utf8')));
  assert.deepEqual(answers.map((a) => [a.op, a.ref]), [...Array(BURST).keys()].map((i) => ['ack', i]), JSON.stringify(answers));
  for (const a of answers) assert.match(a.id, /^\d+-\d+$/);
  await sub.until((c) => c.messages(topic).length >= BURST, 3000, `${BURST} messages`);
  await sleep(100);
  assert.deepEqual(sub.messages(topic).map((m) => [m.id, m.data]), answers.map((a, i) => [a.id, `p${i}`]));
  await assertServes(t);
});

test(`stored publishes paced under ws_publish_rate (${RATE}/s) are never refused, well past the burst`, async (t) => {
  const topic = uniq('paced');
  const c = await openWs(t, server.port);
  const n = BURST + 4;
  for (let i = 0; i < n; i++) {
    const ack = await c.call({ op: 'publish', topic, data: `${i}` });
    assert.equal(ack.op, 'ack', `publish ${i}: ${JSON.stringify(ack)}`);
    await sleep(1000 / RATE + 20);
  }
  assert.equal(c.closeInfo, null);
});

test('volatile publishes do not spend the stored-publish budget', async (t) => {
  const topic = uniq('volbudget');
  const c = await openWs(t, server.port);
  for (let i = 0; i < 50; i++) c.send({ op: 'publish', topic, data: `v${i}`, volatile: true });
  for (let i = 0; i < BURST; i++) {
    const ack = await c.call({ op: 'publish', topic, data: `s${i}` });
    assert.equal(ack.op, 'ack');
    assert.match(ack.id, /^\d+-\d+$/);
  }
  assert.equal(c.closeInfo, null);
});

test('a flood of volatile publishes far beyond any sane rate (6000 in one write) → close 1008', async (t) => {
  const topic = uniq('volflood');
  const ws = await RawWs.open(t, server.port);
  const one = frame({ opcode: OP.text, payload: JSON.stringify({ op: 'publish', topic, data: 'x', volatile: true }) });
  // The guard allows a burst of 2,000 and refills 2,000/s: 6,000 in one write is over it even when a
  // sanitized build takes a second to parse them all.
  await ws.write(Buffer.concat(Array(6000).fill(one)));
  const close = await ws.readClose(3000);
  assert.equal(close.code, 1008, `close bytes ${close.bytes}`);
  await assertServes(t);
});

test('a peer that never answers pings is closed with 1001; one that does (the ws library) stays', async (t) => {
  const srv = await startWsServer(t, ['--ws-ping-interval-s', '1']);
  const live = await openWs(t, srv.port, { name: 'answers pings' });
  const ws = await RawWs.open(t, srv.port);
  const t0 = Date.now();
  const ping = await ws.readFrame((f) => f.opcode === OP.ping, 2500, 'a ping from the server');
  assert.ok(Date.now() - t0 >= 500, 'pinged too early');
  assert.equal(ping.masked, false);
  const close = await ws.readClose(3000);
  const ms = Date.now() - t0;
  assert.equal(close.code, 1001, `close bytes ${close.bytes}`);
  assert.ok(ms >= 1500 && ms <= 3500, `closed after ${ms} ms with a 1 s ping interval`);
  assert.ok(await ws.waitEof(3000));
  // The ws client answered every ping and is still fully usable.
  assert.equal(live.closeInfo, null);
  const topic = uniq('alive');
  await live.ok({ op: 'subscribe', topic });
  const id = await publishOk(srv.url, topic, 'x');
  assert.equal((await live.waitMsg((m) => m.op === 'message')).id, id);
});

test('SIGTERM closes every WebSocket with 1012; new upgrades are not served; exit 0', { timeout: 20000 }, async (t) => {
  const srv = await startWsServer(null, ['--threads', '2', '--drain-timeout-s', '4']);
  t.after(() => srv.kill());
  const clients = [];
  for (let i = 0; i < 4; i++) {
    const c = await openWs(t, srv.port, { name: `d${i}` });
    await c.ok({ op: 'subscribe', topic: uniq('drain') });
    clients.push(c);
  }
  const raw = await RawWs.open(t, srv.port);
  await raw.write(pingOp('x'));
  await raw.readJson((m) => m.op === 'pong');
  const t0 = Date.now();
  srv.signal('SIGTERM');
  const close = await raw.readClose(4000);
  assert.equal(close.code, 1012, `close bytes ${close.bytes}`);
  assert.equal(close.bytes.slice(0, 8), `88${close.frame.payload.length.toString(16).padStart(2, '0')}03f4`);
  for (const c of clients) {
    const info = await c.waitClosed(4000);
    assert.equal(info.code, 1012, `${c.name} closed with ${JSON.stringify(info)}`);
  }
  let late;
  try {
    late = await openWs(null, srv.port, { timeoutMs: 2000 });
  } catch (err) {
    late = err;
  }
  if (!(late instanceof Error)) late.close();
  assert.ok(late instanceof Error, 'a WebSocket upgrade was accepted during the drain');
  let timer;
  const exit = await Promise.race([srv.exited, new Promise((r) => (timer = setTimeout(r, 6000, null)))]);
  clearTimeout(timer);
  assert.ok(exit, 'no exit within 6 s of SIGTERM');
  assert.equal(exit.signal, null);
  assert.equal(exit.code, 0);
  t.diagnostic(`exit ${exit.at - t0} ms after SIGTERM`);
});

test('SIGTERM closes WebSockets paced at drain_rate (no reconnect storm), each with 1012', { timeout: 20000 }, async (t) => {
  const srv = await startWsServer(null, ['--threads', '2', '--drain-timeout-s', '8', '--drain-rate', '2']);
  t.after(() => srv.kill());
  const clients = [];
  for (let i = 0; i < 6; i++) clients.push(await openWs(t, srv.port, { name: `p${i}` }));
  const t0 = Date.now();
  srv.signal('SIGTERM');
  const infos = [];
  for (const c of clients) infos.push(await c.waitClosed(9000));
  assert.deepEqual(infos.map((i) => i.code), Array(6).fill(1012));
  const times = infos.map((i) => i.at - t0).sort((a, b) => a - b);
  t.diagnostic(`close times (ms after SIGTERM): ${times.join(', ')}`);
  assert.ok(times.at(-1) - times[0] >= 1500, `6 WebSockets closed within ${times.at(-1) - times[0]} ms at drain_rate 2/s`);
  let timer;
  const exit = await Promise.race([srv.exited, new Promise((r) => (timer = setTimeout(r, 9000, null)))]);
  clearTimeout(timer);
  assert.ok(exit && exit.code === 0 && exit.signal === null, `exit ${JSON.stringify(exit)}`);
});

test('an upgrade during the drain is answered 503 when its request was already on the wire', { timeout: 20000 }, async (t) => {
  const srv = await startWsServer(null, ['--drain-timeout-s', '3']);
  t.after(() => srv.kill());
  const keep = await openWs(t, srv.port); // keeps the drain going
  const conn = await RawConn.open(srv.port);
  t.after(() => conn.destroy());
  await conn.write(
    `GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: switchboard.v1\r\n',
  );
  await sleep(50);
  srv.signal('SIGTERM');
  await sleep(150);
  await conn.write('\r\n');
  let status;
  try {
    status = (await conn.readResponse({ timeoutMs: 3000 })).status;
  } catch (err) {
    status = `no answer: ${err.message.slice(0, 100)}`;
  }
  assert.equal(status, 503);
  assert.equal((await keep.waitClosed(4000)).code, 1012);
});
