// permessage-deflate (RFC 7692) on /v1/ws: the negotiation answered in the 101, server frames
// compressed (RSV1) and inflating to the exact JSON a plain subscriber gets for the same message,
// short messages left plain, client-compressed messages (with context takeover) taken, and the
// failures: a deflate bomb closes with 1009 after the bound, bad compressed data with 1007, RSV1
// on a continuation with 1002. After each, the server still serves another client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, inflateRawSync, constants as zc } from 'node:zlib';
import { publishOk } from '../support/http.mjs';
import { openWs, RawWs, frame, OP, startWsServer, stopServer } from '../support/ws-client.mjs';
import { uniq } from '../support/util.mjs';

const MAX = 1024; // --max-message-bytes
const FRAME_MAX = 2 * MAX + 4096; // the largest incoming message, inflated or not
const OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n';
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

let server;
before(async () => {
  server = await startWsServer(null, ['--threads', '2', '--max-message-bytes', String(MAX)]);
});
after(() => stopServer(server));

/** A message compressed as a client does (no context kept): raw deflate, flushed, tail removed. */
function compress(text) {
  const out = deflateRawSync(Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'), { finishFlush: zc.Z_SYNC_FLUSH });
  assert.deepEqual(out.subarray(-4), TAIL);
  return out.subarray(0, -4);
}

/** The text of a server data frame: inflated when RSV1 is set. */
function textOf(f) {
  return (f.rsv & 4 ? inflateRawSync(Buffer.concat([f.payload, TAIL]), { finishFlush: zc.Z_SYNC_FLUSH }) : f.payload).toString('utf8');
}

/** Waits for a text frame whose (inflated) JSON matches pred; returns {frame, text, json}. */
async function readMsg(ws, pred, what = 'a JSON text frame') {
  const f = await ws.readFrame(
    (fr) => {
      if (fr.opcode !== OP.text) return false;
      try {
        return pred(JSON.parse(textOf(fr)));
      } catch {
        return false;
      }
    },
    5000,
    what,
  );
  const text = textOf(f);
  return { frame: f, text, json: JSON.parse(text) };
}

/** A JSON data string that compresses well, `n` bytes or so: what dashboards publish. */
function jsonData(n) {
  const rows = [];
  for (let i = 0; JSON.stringify(rows).length < n; i++) rows.push({ sym: `S${i % 17}`, px: 100 + (i % 37), qty: (i * 7) % 1000, side: i % 2 ? 'buy' : 'sell' });
  return JSON.stringify(rows);
}

async function openDeflate(t, extra = OFFER) {
  return RawWs.open(t, server.port, { extraHeaders: extra });
}

/** A fresh plain client subscribes and gets an HTTP publish: the server still serves. */
async function assertServes(t) {
  const topic = uniq('healthy');
  const c = await openWs(t, server.port, { name: 'fresh' });
  await c.ok({ op: 'subscribe', topic });
  const id = await publishOk(server.url, topic, 'ok');
  assert.deepEqual(await c.waitMsg((m) => m.op === 'message'), { op: 'message', topic, id, event: null, data: 'ok', from: null });
  c.close();
}

test('the 101 answers the first offer it can honour, always with server_no_context_takeover', async (t) => {
  const cases = [
    ['permessage-deflate; client_max_window_bits', 'permessage-deflate; server_no_context_takeover; client_max_window_bits=12'],
    ['permessage-deflate', 'permessage-deflate; server_no_context_takeover'],
    ['permessage-deflate; client_no_context_takeover; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
    ['permessage-deflate; server_max_window_bits=10, permessage-deflate; client_max_window_bits=9', 'permessage-deflate; server_no_context_takeover; client_max_window_bits=9'],
    ['permessage-deflate; server_max_window_bits=15', 'permessage-deflate; server_no_context_takeover; server_max_window_bits=15'],
    ['permessage-deflate; server_max_window_bits=9', undefined],
    ['permessage-deflate; mystery=1', undefined],
    ['x-webkit-deflate-frame', undefined],
  ];
  for (const [offer, answer] of cases) {
    const ws = await openDeflate(t, `Sec-WebSocket-Extensions: ${offer}\r\n`);
    assert.equal(ws.response.headers['sec-websocket-extensions'], answer, offer);
    ws.destroy();
  }
  await assertServes(t);
});

test('a message is compressed (RSV1) for a deflate subscriber and plain for another, same JSON', async (t) => {
  const topic = uniq('deflate');
  const z = await openDeflate(t);
  const plain = await RawWs.open(t, server.port);
  const lib = await openWs(t, server.port, { name: 'ws-lib', options: { perMessageDeflate: true } });
  assert.equal(lib.ws.extensions, 'permessage-deflate');
  for (const c of [z, plain]) {
    await c.sendJson({ op: 'subscribe', topic, ref: 's' });
    const ack = await readMsg(c, (m) => m.op === 'ack' && m.ref === 's');
    assert.equal(ack.frame.rsv, 0, 'a short reply is not compressed');
  }
  await lib.ok({ op: 'subscribe', topic });

  const data = jsonData(900);
  const id = await publishOk(server.url, topic, data, { event: 'prices' });
  const expected = JSON.stringify({ op: 'message', topic, id, event: 'prices', data, from: null });
  const got = await readMsg(z, (m) => m.id === id);
  assert.equal(got.frame.rsv, 4, 'RSV1 set');
  assert.equal(got.frame.fin, true);
  assert.equal(got.text, expected, 'inflates to the exact JSON');
  const wire = got.frame.head.length + got.frame.payload.length;
  const p = await readMsg(plain, (m) => m.id === id);
  assert.equal(p.frame.rsv, 0);
  assert.equal(p.text, expected, 'the plain subscriber gets the same JSON');
  const plainWire = p.frame.head.length + p.frame.payload.length;
  assert.ok(wire * 3 < plainWire, `compressed ${wire} B vs plain ${plainWire} B`);
  assert.deepEqual(await lib.waitMsg((m) => m.id === id), JSON.parse(expected));

  // Under ws_deflate_min_bytes (128): plain even on the deflate connection.
  const id2 = await publishOk(server.url, topic, 'tiny');
  const small = await readMsg(z, (m) => m.id === id2);
  assert.equal(small.frame.rsv, 0);
  assert.equal(small.text, JSON.stringify({ op: 'message', topic, id: id2, event: null, data: 'tiny', from: null }));

  // A replay (subscribe with since) is compressed too, and identical.
  const z2 = await openDeflate(t);
  await z2.sendJson({ op: 'subscribe', topic, since: id.replace(/-\d+$/, '-0'), ref: 'r' });
  const replayed = await readMsg(z2, (m) => m.id === id);
  assert.equal(replayed.frame.rsv, 4);
  assert.equal(replayed.text, expected);
});

test('client-compressed publishes, with context taken over, reach every subscriber', async (t) => {
  const topic = uniq('up');
  const plain = await openWs(t, server.port, { name: 'plain' });
  await plain.ok({ op: 'subscribe', topic });
  // The ws library compresses every message (threshold 0) and keeps its context across them.
  const lib = await openWs(t, server.port, { name: 'pub', options: { perMessageDeflate: { threshold: 0 } } });
  assert.equal(lib.ws.extensions, 'permessage-deflate');
  const sent = [];
  for (let i = 0; i < 20; i++) {
    const data = `${jsonData(200)}#${i}`;
    sent.push(data);
    const ack = await lib.ok({ op: 'publish', topic, data });
    assert.match(ack.id, /^\d+-\d+$/);
  }
  await plain.until((c) => c.messages(topic).length === 20, 5000, '20 messages');
  assert.deepEqual(plain.messages(topic).map((m) => m.data), sent);

  // Raw: a fragmented compressed message (RSV1 on the first frame only), then one ended with
  // BFINAL (allowed, kept as is).
  const z = await openDeflate(t);
  const body = compress(JSON.stringify({ op: 'publish', topic, data: 'fragmented', ref: 'f' }));
  await z.write(Buffer.concat([
    frame({ fin: false, rsv: 4, opcode: OP.text, payload: body.subarray(0, 5) }),
    frame({ fin: true, opcode: OP.cont, payload: body.subarray(5) }),
    frame({ rsv: 4, opcode: OP.text, payload: deflateRawSync(Buffer.from('{"op":"ping","ref":"fin"}')) }),
  ]));
  assert.equal((await readMsg(z, (m) => m.ref === 'f')).json.op, 'ack');
  assert.equal((await readMsg(z, (m) => m.ref === 'fin')).json.op, 'pong');
  assert.equal((await plain.waitMsg((m) => m.data === 'fragmented')).topic, topic);
});

/** Sends `bad` on a fresh deflate connection after a ping, expects close `code`, and that nothing after it was read. */
async function violate(t, bad, code, reason) {
  const ws = await openDeflate(t);
  await ws.sendJson({ op: 'ping', ref: 'before' });
  await readMsg(ws, (m) => m.op === 'pong');
  await ws.write(Buffer.concat([bad, frame({ opcode: OP.text, payload: '{"op":"ping","ref":"after"}' })]));
  const close = await ws.readClose(3000);
  assert.equal(close.code, code, `close ${close.bytes} (${close.reason})`);
  if (reason) assert.equal(close.reason, reason);
  assert.equal(close.frame.rsv, 0, 'a close frame is never compressed');
  assert.ok(!ws.frames.some((f) => f.opcode === OP.text && textOf(f).includes('"after"')), 'nothing after the violation was read');
  assert.ok(await ws.waitEof(3000));
  await assertServes(t);
}

test('a deflate bomb is closed with 1009 once the bound is passed', async (t) => {
  // 16 MiB of spaces inflating from ~16 KiB: the server stops after FRAME_MAX + 1 bytes.
  const bomb = compress(`{"op":"ping","ref":"${' '.repeat(16 << 20)}"}`);
  assert.ok(bomb.length < 20000 && bomb.length < FRAME_MAX * 4);
  await violate(t, frame({ rsv: 4, opcode: OP.text, payload: bomb }), 1009, 'message too big');
  // Just under the bound inflates and is answered.
  const ws = await openDeflate(t);
  const ref = 'x'.repeat(FRAME_MAX - 30);
  await ws.write(frame({ rsv: 4, opcode: OP.text, payload: compress(JSON.stringify({ op: 'ping', ref })) }));
  assert.equal((await readMsg(ws, (m) => m.op === 'pong')).json.ref, ref);
});

test('bad compressed data closes with 1007; RSV1 where RFC 7692 forbids it with 1002', async (t) => {
  await violate(t, frame({ rsv: 4, opcode: OP.text, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]) }), 1007, 'invalid compressed data');
  // Compressed, but not UTF-8 once inflated.
  await violate(t, frame({ rsv: 4, opcode: OP.text, payload: compress(Buffer.from([0xc3, 0x28])) }), 1007, 'invalid UTF-8');
  await violate(t, Buffer.concat([
    frame({ fin: false, opcode: OP.text, payload: '{"op":' }),
    frame({ fin: true, rsv: 4, opcode: OP.cont, payload: '"ping"}' }),
  ]), 1002);
  await violate(t, frame({ rsv: 4, opcode: OP.ping, payload: '' }), 1002);
});

test('ws_deflate = false: an offer is declined, and RSV1 stays a protocol error', async (t) => {
  const off = await startWsServer(t, ['--ws-deflate', 'false']);
  const ws = await RawWs.open(t, off.port, { extraHeaders: OFFER });
  assert.equal(ws.response.headers['sec-websocket-extensions'], undefined);
  await ws.write(frame({ rsv: 4, opcode: OP.text, payload: compress('{"op":"ping"}') }));
  assert.equal((await ws.readClose(3000)).code, 1002);
});
