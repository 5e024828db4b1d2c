// HTTP/2 floods that cost the server more than they cost the peer, each on one raw connection
// while another client asks for /healthz on the same loop (--threads 1):
// - HPACK amplification: one 4,000-byte dynamic table entry referenced 4,000 times per request
//   (16 MB of decoded header list for 4 KB on the wire). The list is cut at a few times
//   h2_max_header_list_size and the connection gets GOAWAY ENHANCE_YOUR_CALM after a few;
// - rapid reset (CVE-2023-44487): streams opened and reset at once, past nghttp2's rate limit;
// - CONTINUATION flood (CVE-2024-28182): one header block in endless CONTINUATION frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { request } from '../support/http.mjs';
import { rawH2, frame, FRAME, sleep } from '../support/h2.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';

const ENHANCE_YOUR_CALM = 0x0b;
const CONTINUATION = 9;
// How long /healthz may take on another connection during an attack. ASan + UBSan make every
// request several times slower, so the same bound is scaled for them.
const HEALTHZ_BOUND_MS = process.env.SWITCHBOARD_SANITIZED ? 1000 : 250;

/** An HPACK integer with an `n`-bit prefix whose high bits are `first` (RFC 7541 5.1). */
function hpackInt(first, n, value) {
  const max = (1 << n) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** A string literal, no Huffman. */
function hpackString(s) {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from(hpackInt(0x00, 7, b.length)), b]);
}

/** :method GET, :scheme http (static), :path and :authority as literals without indexing. */
function pseudo(path) {
  return Buffer.concat([Buffer.from([0x82, 0x86]), Buffer.from(hpackInt(0x00, 4, 4)), hpackString(path), Buffer.from(hpackInt(0x00, 4, 1)), hpackString('127.0.0.1')]);
}

/** Median and max of `n` /healthz round trips on fresh HTTP/1.1 connections (ms). */
async function healthLatency(base, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await request(`${base}/healthz`, { headers: { connection: 'close' }, timeoutMs: 10000 });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    assert.equal(r.status, 200);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], max: times.at(-1) };
}

const goawayCode = (f) => f.payload.readUInt32BE(4);

/** A request's header block as HEADERS (END_STREAM) and CONTINUATION frames of at most 16 KiB. */
function headerFrames(streamId, block) {
  const out = [];
  for (let at = 0; at < block.length || at === 0; at += 16384) {
    const piece = block.subarray(at, at + 16384);
    const last = at + 16384 >= block.length ? 0x4 : 0;
    out.push(at === 0 ? frame(FRAME.HEADERS, 0x1 | last, streamId, piece) : frame(CONTINUATION, last, streamId, piece));
  }
  return Buffer.concat(out);
}

test('HPACK amplification: GOAWAY ENHANCE_YOUR_CALM after a few refusals; /healthz on another connection stays fast', { timeout: soakTimeout(30000, 300000) }, async (t) => {
  const server = await startServer(t, { args: ['--threads', '1'] });
  const requests = soak(400, 4000);
  const c = await rawH2(t, server.port);
  await c.waitFor((f) => f.type === FRAME.SETTINGS && f.flags === 1, 5000, 'SETTINGS ack');
  const entry = 'a'.repeat(4000);
  const refs = Buffer.alloc(4000, 0xbe); // indexed field 62: the newest dynamic table entry
  // The first request puts the entry in the table (literal with incremental indexing).
  const first = Buffer.concat([pseudo('/healthz'), Buffer.from([0x40]), hpackString('x-a'), hpackString(entry), refs]);
  const then = Buffer.concat([pseudo('/healthz'), refs]);
  const burst = [frame(FRAME.HEADERS, 0x5, 1, first)];
  for (let i = 1; i < requests; i++) burst.push(frame(FRAME.HEADERS, 0x5, 1 + 2 * i, then));
  const t0 = Date.now();
  c.write(Buffer.concat(burst));
  const during = await healthLatency(server.url, 5);
  t.diagnostic(`/healthz during the flood: median ${during.median.toFixed(1)} ms, max ${during.max.toFixed(1)} ms`);
  const goaway = await c.waitFor((f) => f.type === FRAME.GOAWAY, 10000, 'GOAWAY').catch(() => null);
  assert.ok(goaway, `no GOAWAY in 10 s; ${c.frames.filter((f) => f.type === FRAME.HEADERS).length} requests answered`);
  t.diagnostic(`GOAWAY after ${Date.now() - t0} ms`);
  assert.equal(goawayCode(goaway), ENHANCE_YOUR_CALM, `GOAWAY code ${goawayCode(goaway)}`);
  await c.waitClosed(5000);
  // A few requests were answered (431 or reset), not all of them.
  const answered = c.frames.filter((f) => (f.type === FRAME.HEADERS || f.type === FRAME.RST_STREAM) && f.streamId > 0).length;
  assert.ok(answered <= 8, `${answered} of ${requests} requests were decoded and answered`);
  assert.ok(during.max < HEALTHZ_BOUND_MS, `/healthz took up to ${during.max.toFixed(1)} ms (bound ${HEALTHZ_BOUND_MS} ms) during the flood`);
  const afterwards = await healthLatency(server.url, 3);
  assert.ok(afterwards.max < 250, `/healthz took ${afterwards.max.toFixed(1)} ms after the flood`);
});

test('HPACK amplification in trailers: the same cut-off and GOAWAY', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { args: ['--threads', '1'] });
  const c = await rawH2(t, server.port);
  await c.waitFor((f) => f.type === FRAME.SETTINGS && f.flags === 1, 5000, 'SETTINGS ack');
  // Put the entry in the table with a harmless field of a small request, then amplify it in the
  // trailers of POST requests (which carry nothing the server uses).
  const post = Buffer.concat([Buffer.from([0x83, 0x86]), Buffer.from(hpackInt(0x00, 4, 4)), hpackString('/v1/topics/trailers'), Buffer.from(hpackInt(0x00, 4, 1)), hpackString('127.0.0.1')]);
  const refs = Buffer.alloc(4000, 0xbe);
  const out = [frame(FRAME.HEADERS, 0x5, 1, Buffer.concat([pseudo('/healthz'), Buffer.from([0x40]), hpackString('x-a'), hpackString('a'.repeat(4000))]))];
  const requests = soak(200, 2000);
  for (let i = 1; i <= requests; i++) {
    const id = 1 + 2 * i;
    out.push(frame(FRAME.HEADERS, 0x4, id, post), frame(FRAME.DATA, 0, id, Buffer.from('x')), frame(FRAME.HEADERS, 0x5, id, refs));
  }
  c.write(Buffer.concat(out));
  const during = await healthLatency(server.url, 5);
  t.diagnostic(`/healthz during the flood: median ${during.median.toFixed(1)} ms, max ${during.max.toFixed(1)} ms`);
  const goaway = await c.waitFor((f) => f.type === FRAME.GOAWAY, 10000, 'GOAWAY').catch(() => null);
  assert.ok(goaway, 'no GOAWAY in 10 s');
  assert.equal(goawayCode(goaway), ENHANCE_YOUR_CALM, `GOAWAY code ${goawayCode(goaway)}`);
  assert.ok(during.max < HEALTHZ_BOUND_MS, `/healthz took up to ${during.max.toFixed(1)} ms (bound ${HEALTHZ_BOUND_MS} ms) during the flood`);
});

test('a header list a little over h2_max_header_list_size is still a 431 on its stream', async (t) => {
  const server = await startServer(t, { args: ['--threads', '1'] });
  const c = await rawH2(t, server.port);
  const fields = [];
  for (let i = 0; i < 200; i++) fields.push(Buffer.from([0x00]), hpackString(`x-h${i}`), hpackString('y'.repeat(100)));
  c.write(headerFrames(1, Buffer.concat([pseudo('/healthz'), ...fields])));
  const head = await c.waitFor((f) => f.type === FRAME.HEADERS && f.streamId === 1, 5000, 'the answer on stream 1');
  // :status 431 is not in the static table: a literal whose value is the string "431".
  assert.ok(head.payload.includes(Buffer.from('431')), `answer ${head.payload.toString('hex')}`);
  assert.ok(!c.frames.some((f) => f.type === FRAME.GOAWAY), 'one refusal is no reason for a GOAWAY');
});

test('rapid reset: streams opened and reset at once end in GOAWAY; /healthz elsewhere stays fast', { timeout: soakTimeout(30000, 300000) }, async (t) => {
  const server = await startServer(t, { args: ['--threads', '1'] });
  const c = await rawH2(t, server.port);
  await c.waitFor((f) => f.type === FRAME.SETTINGS && f.flags === 1, 5000, 'SETTINGS ack');
  const streams = soak(3000, 30000);
  const head = pseudo('/healthz');
  const cancel = Buffer.alloc(4);
  cancel.writeUInt32BE(8);
  for (let done = 0; done < streams && !c.closed; ) {
    const batch = [];
    for (let k = 0; k < 500 && done < streams; k++, done++) {
      const id = 1 + 2 * done;
      batch.push(frame(FRAME.HEADERS, 0x5, id, head), frame(FRAME.RST_STREAM, 0, id, cancel));
    }
    c.write(Buffer.concat(batch));
    await sleep(1);
  }
  const during = await healthLatency(server.url, 3);
  const goaway = await c.waitFor((f) => f.type === FRAME.GOAWAY, 10000, 'GOAWAY');
  t.diagnostic(`GOAWAY code ${goawayCode(goaway)}; /healthz max ${during.max.toFixed(1)} ms`);
  await c.waitClosed(5000);
  assert.ok(during.max < HEALTHZ_BOUND_MS, `/healthz took up to ${during.max.toFixed(1)} ms (bound ${HEALTHZ_BOUND_MS} ms)`);
});

test('CONTINUATION flood: a header block that never ends is cut with GOAWAY; /healthz elsewhere stays fast', { timeout: soakTimeout(30000, 300000) }, async (t) => {
  const server = await startServer(t, { args: ['--threads', '1'] });
  const c = await rawH2(t, server.port);
  await c.waitFor((f) => f.type === FRAME.SETTINGS && f.flags === 1, 5000, 'SETTINGS ack');
  const small = Buffer.concat([Buffer.from([0x00]), hpackString('x-c'), hpackString('z'.repeat(50))]);
  const frames = [frame(FRAME.HEADERS, 0x1, 1, pseudo('/healthz'))];
  for (let i = 0; i < soak(2000, 20000); i++) frames.push(frame(CONTINUATION, 0, 1, small));
  c.write(Buffer.concat(frames));
  const during = await healthLatency(server.url, 3);
  await c.waitFor((f) => f.type === FRAME.GOAWAY, 5000, 'GOAWAY');
  await c.waitClosed(5000);
  assert.ok(!c.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === 1), 'the endless block was answered');
  assert.ok(during.max < HEALTHZ_BOUND_MS, `/healthz took up to ${during.max.toFixed(1)} ms (bound ${HEALTHZ_BOUND_MS} ms)`);
});

test('one header field over 64 KiB, allowed by a raised h2_max_header_list_size, ends nothing', async (t) => {
  // Beast's fields throw on a value over 64 KiB; nghttp2's HPACK decoder refuses such a field
  // first (the connection ends with GOAWAY), and the session answers 431 if one ever got through.
  const server = await startServer(t, { args: ['--threads', '1', '--h2-max-header-list-size', '1M'] });
  const c = await rawH2(t, server.port);
  const big = [Buffer.from([0x00]), hpackString('x-big'), hpackString('a'.repeat(70000))];
  c.write(headerFrames(1, Buffer.concat([pseudo('/healthz'), ...big])));
  const answer = await c.waitFor(
    (f) => (f.type === FRAME.HEADERS && f.streamId === 1) || f.type === FRAME.GOAWAY,
    5000,
    'a 431 on stream 1 or a GOAWAY',
  );
  if (answer.type === FRAME.HEADERS) {
    assert.ok(answer.payload.includes(Buffer.from('431')), `answer ${answer.payload.toString('hex')}`);
  } else {
    assert.notEqual(goawayCode(answer), 0, 'the GOAWAY names an error');
  }
  await sleep(50);
  assert.ok(server.running, 'the server lives');
  assert.equal((await request(`${server.url}/healthz`)).status, 200);
});
