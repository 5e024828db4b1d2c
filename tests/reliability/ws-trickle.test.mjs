// A WebSocket frame, or a fragmented message, trickled a little at a time: every byte used to
// count as liveness, so a connection could hold a partial frame (and its buffer) forever. Once
// started, a frame or message must end within ws_message_timeout_ms, else close 1008; a client
// that is merely quiet between messages is not affected, and others are served throughout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawWs, OP, frame, openWs, startWsServer } from '../support/ws-client.mjs';
import { sleep } from '../support/util.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';

const TIMEOUT_MS = 1000;

async function start(t) {
  return startWsServer(t, ['--threads', '1', '--ws-message-timeout-ms', String(TIMEOUT_MS)]);
}

/** Waits for the server's close frame; returns { code, reason, ms } (ms since `t0`). */
async function closeFrame(ws, t0, timeoutMs) {
  const f = await ws.readFrame((x) => x.opcode === OP.close, timeoutMs, 'a close frame');
  return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString('utf8'), ms: Date.now() - t0 };
}

/** Another client on the same loop still gets answers. */
async function stillServed(t, port) {
  const other = await openWs(t, port, { name: 'other' });
  assert.equal((await other.sync()).op, 'pong');
  other.close();
}

test('a frame trickled byte by byte is closed with 1008 within ws_message_timeout_ms', { timeout: 20000 }, async (t) => {
  const server = await start(t);
  const ws = await RawWs.open(t, server.port);
  const bytes = frame({ opcode: OP.text, payload: JSON.stringify({ op: 'ping', ref: 'slow'.repeat(10) }) });
  const t0 = Date.now();
  let sent = 0;
  const trickle = (async () => {
    // One byte every 150 ms: the whole frame would take ~8 s, far past the deadline.
    while (sent < bytes.length - 1 && !ws.conn.eof) {
      await ws.write(bytes.subarray(sent, sent + 1));
      sent++;
      await sleep(150);
    }
  })();
  await stillServed(t, server.port);
  const c = await closeFrame(ws, t0, TIMEOUT_MS + 4000);
  t.diagnostic(`closed ${c.code} "${c.reason}" after ${c.ms} ms and ${sent} of ${bytes.length} bytes`);
  assert.equal(c.code, 1008);
  assert.ok(c.ms >= TIMEOUT_MS - 50 && c.ms < TIMEOUT_MS + 1500, `closed after ${c.ms} ms`);
  assert.ok(sent < bytes.length - 1, 'the frame was complete before the close');
  await trickle;
  await stillServed(t, server.port);
});

test('a fragmented message that never ends is closed with 1008, pings in between or not', { timeout: 20000 }, async (t) => {
  const server = await start(t);
  const ws = await RawWs.open(t, server.port);
  const t0 = Date.now();
  await ws.send({ opcode: OP.text, fin: false, payload: '{"op":"ping",' });
  let fragments = 1;
  const trickle = (async () => {
    for (let i = 0; i < 40 && !ws.conn.eof; i++) {
      await sleep(100);
      // Each fragment and each ping is a complete frame; none ends the message.
      await ws.send({ opcode: OP.ping, payload: 'p' });
      await ws.send({ opcode: OP.cont, fin: false, payload: ' ' });
      fragments++;
    }
  })();
  const c = await closeFrame(ws, t0, TIMEOUT_MS + 4000);
  t.diagnostic(`closed ${c.code} after ${c.ms} ms and ${fragments} fragments`);
  assert.equal(c.code, 1008);
  assert.ok(c.ms < TIMEOUT_MS + 1500, `closed after ${c.ms} ms`);
  await trickle;
  await stillServed(t, server.port);
});

test('a client quiet between whole messages, or sending them in pieces that complete in time, stays open', { timeout: soakTimeout(20000, 120000) }, async (t) => {
  const server = await start(t);
  const ws = await RawWs.open(t, server.port);
  const rounds = soak(6, 30);
  for (let i = 0; i < rounds; i++) {
    // A whole frame in two writes 100 ms apart, then silence longer than the deadline.
    const bytes = frame({ opcode: OP.text, payload: JSON.stringify({ op: 'ping', ref: `r${i}` }) });
    await ws.write(bytes.subarray(0, 5));
    await sleep(100);
    await ws.write(bytes.subarray(5));
    const pong = await ws.readJson((m) => m.op === 'pong' && m.ref === `r${i}`, 3000, `pong r${i}`);
    assert.equal(pong.ref, `r${i}`);
    await sleep(i % 2 === 0 ? TIMEOUT_MS + 200 : 50);
  }
  ws.drain();
  assert.ok(!ws.frames.some((f) => f.opcode === OP.close), 'closed a client that did nothing wrong');
  assert.equal(ws.conn.eof, false);
});
