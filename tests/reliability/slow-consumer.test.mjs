// Slow consumers, per transport (SSE over HTTP/1.1, SSE over HTTP/2, WebSocket), judged over time
// as Redis judges a client's output buffer:
// - a reader that keeps up at line rate survives a burst that fits the hard bound (a batch of
//   100 × 8 KiB used to close every loopback reader of the topic after 8 messages) and gets all
//   100 ids in order;
// - a reader that never reads is closed (`resume`), the server's memory stays flat, and a
//   WebSocket reader that comes back late still finds a 1008 close frame, sent ahead of the data
//   that was queued for it (it used to be cut mid-frame: 1006);
// - over the soft bound for send_queue_soft_s, a reader is closed long before the hard bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { publishBatch } from '../support/http.mjs';
import { subscribe, waitPreamble, SseParser } from '../support/sse.mjs';
import { scrape } from '../support/metrics.mjs';
import { connectH2, h2Events } from '../support/h2.mjs';
import { openWs, startWsServer } from '../support/ws-client.mjs';
import { uniq, waitFor, sleep, diffSequences } from '../support/util.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';

const MiB = 1 << 20;
const SIZE = 8192;

/** `count` messages of SIZE bytes, numbered from `from`. */
function messages(topic, from, count) {
  const out = [];
  for (let k = from; k < from + count; k++) {
    const head = `${k}:`;
    out.push({ topic, data: head + 'x'.repeat(SIZE - head.length) });
  }
  return out;
}

async function batch(base, msgs) {
  const res = await publishBatch(base, msgs);
  if (res.status !== 200) throw new Error(`batch publish answered ${res.status}: ${res.text.slice(0, 200)}`);
  return res.body.ids;
}

/**
 * A reader of `topic` over `transport` that records ids (data checked on the fly):
 * { ids, bad, gaps, closed(), pause(), resume(), closeInfo() }.
 */
async function reader(t, server, transport, topic) {
  const seen = { ids: [], bad: [], gaps: 0 };
  const check = (id, data) => {
    seen.ids.push(id);
    if (data.length !== SIZE || !/^\d+:x/.test(data)) seen.bad.push(id);
  };
  if (transport === 'sse-h1') {
    const s = await subscribe(t, server.port, {
      topics: [topic],
      keep: false,
      onBlock(b) {
        if (!b.dispatched) return;
        if (b.event === 'gap') seen.gaps++;
        else check(b.idField, b.data);
      },
    });
    await waitPreamble(s);
    return { seen, closed: () => s.ended, pause: () => s.pause(), resume: () => s.resume() };
  }
  if (transport === 'sse-h2') {
    const session = await connectH2(t, server.url);
    const path = `/v1/events?topic=${encodeURIComponent(topic)}`;
    const s = h2Events(t, session, path);
    await s.ready;
    assert.equal(s.status, 200);
    // h2Events keeps every block; a long flood needs only ids.
    s.req.removeAllListeners('data');
    const parser = new SseParser();
    s.req.on('data', (text) => {
      for (const b of parser.feed(text)) {
        if (!b.dispatched) continue;
        if (b.event === 'gap') seen.gaps++;
        else check(b.idField, b.data);
      }
    });
    return { seen, closed: () => s.closed, rstCode: () => s.rstCode, pause: () => s.req.pause(), resume: () => s.req.resume() };
  }
  const c = await openWs(t, server.port, { name: 'reader' });
  await c.ok({ op: 'subscribe', topic });
  c.keep = false;
  c.onMessage = (m) => {
    if (m.op === 'message') check(m.id, m.data);
    else if (m.op === 'gap') seen.gaps++;
  };
  return { seen, closed: () => c.closeInfo !== null, closeInfo: () => c.closeInfo, waitClosed: (ms) => c.waitClosed(ms), pause: () => c.pause(), resume: () => c.resume() };
}

async function serverFor(t, transport, args) {
  return transport === 'ws' ? startWsServer(t, args) : startServer(t, { args });
}

for (const transport of ['sse-h1', 'sse-h2', 'ws']) {
  test(`${transport}: a reader at line rate survives a 100 × 8 KiB batch burst and gets all 100 ids in order`, { timeout: soakTimeout(30000, 300000) }, async (t) => {
    const server = await serverFor(t, transport, ['--threads', '1']);
    const topic = uniq('burst');
    const readers = [await reader(t, server, transport, topic), await reader(t, server, transport, topic)];
    const bursts = soak(3, 40);
    const ids = [];
    for (let b = 0; b < bursts; b++) {
      ids.push(...(await batch(server.url, messages(topic, b * 100, 100))));
      await waitFor(() => readers.every((r) => r.seen.ids.length >= ids.length || r.closed()), { timeoutMs: 10000, what: `burst ${b} delivered` });
    }
    for (const [i, r] of readers.entries()) {
      assert.equal(r.closed(), false, `reader ${i} was closed after ${r.seen.ids.length} of ${ids.length} messages`);
      assert.equal(r.seen.gaps, 0);
      assert.deepEqual(r.seen.bad, []);
      assert.equal(diffSequences(ids, r.seen.ids, `reader ${i}`), null);
    }
    assert.equal((await scrape(server.url)).get('switchboard_slow_consumer_closes_total'), 0);
  });

  test(`${transport}: a reader that never reads is closed, memory stays flat, a reader at line rate gets everything`, { timeout: soakTimeout(60000, 300000) }, async (t) => {
    // The server lingers one ping interval for a closed WebSocket reader to take its close frame;
    // the soak size floods for longer than the default 25 s after the close, so give it more.
    const linger = transport === 'ws' ? ['--ws-ping-interval-s', String(soak(25, 600))] : [];
    const server = await serverFor(t, transport, ['--threads', '1', '--history-max-bytes', String(8 * MiB), ...linger]);
    const topic = uniq('stuck');
    const fast = await reader(t, server, transport, topic);
    const stuck = await reader(t, server, transport, topic);
    stuck.pause();
    const warm = await batch(server.url, messages(topic, 0, 64)); // warm up the allocator
    await waitFor(() => fast.seen.ids.length >= 64, { what: 'warm-up delivery' });
    const baseline = server.rss();
    let peak = baseline;
    const ids = [];
    const limit = soak(96, 512) * MiB;
    const after = soak(16, 256) * MiB; // flooded in all, to see memory stay flat after the close
    let closedAt = null;
    for (let seq = 64; ids.length * SIZE < limit; seq += 32) {
      ids.push(...(await batch(server.url, messages(topic, seq, 32))));
      peak = Math.max(peak, server.rss() ?? 0);
      await waitFor(() => fast.seen.ids.length >= 64 + ids.length || fast.closed(), { timeoutMs: 10000, what: 'the fast reader to keep up' });
      if (closedAt === null && (await scrape(server.url)).get('switchboard_slow_consumer_closes_total') >= 1) {
        closedAt = ids.length;
      }
      if (closedAt !== null && ids.length * SIZE > after) break;
    }
    t.diagnostic(`closed after ${closedAt} messages (${((closedAt * SIZE) / MiB).toFixed(1)} MiB); RSS ${(baseline / MiB).toFixed(1)} → peak ${(peak / MiB).toFixed(1)} MiB`);
    assert.ok(closedAt !== null, `published ${(ids.length * SIZE) / MiB} MiB and the reader that never reads was not closed`);
    assert.equal(fast.closed(), false, 'the reader at line rate was closed');
    assert.equal(diffSequences(ids, fast.seen.ids.slice(64)), null);
    if (!process.env.SWITCHBOARD_SANITIZED) {
      assert.ok(peak - baseline < 48 * MiB, `RSS grew by ${((peak - baseline) / MiB).toFixed(1)} MiB`);
    }
    if (transport === 'ws') {
      // Back after longer than a normal close linger: the close frame must still be there, ahead
      // of what had been queued, behind whole frames only.
      await sleep(2500);
      stuck.resume();
      const info = await stuck.waitClosed(10000);
      assert.equal(info.code, 1008, `the WebSocket reader saw ${JSON.stringify(info)} (1006: cut without a close frame)`);
      assert.match(info.reason, /slow consumer/);
    } else {
      stuck.resume();
      await waitFor(() => stuck.closed(), { timeoutMs: 10000, what: 'the stuck reader to see its end' });
      if (transport === 'sse-h2') assert.equal(stuck.rstCode(), 8, 'RST_STREAM CANCEL');
    }
    const all = [...warm, ...ids];
    const got = stuck.seen.ids;
    assert.ok(got.length < all.length, 'the stuck reader got everything');
    assert.equal(diffSequences(all.slice(0, got.length), got), null, 'what the stuck reader got is a prefix');
    assert.deepEqual(stuck.seen.bad, []);
  });
}

test('over send_queue_soft_bytes for send_queue_soft_s a reader is closed, far under the hard bound', { timeout: soakTimeout(60000, 300000) }, async (t) => {
  const server = await startServer(t, { args: ['--threads', '1', '--send-queue-max-bytes', String(512 * MiB), '--send-queue-soft-s', '1', '--history-max-bytes', String(8 * MiB)] });
  const topic = uniq('soft');
  const fast = await reader(t, server, 'sse-h1', topic);
  const stuck = await reader(t, server, 'sse-h1', topic);
  stuck.pause();
  const ids = [];
  const t0 = Date.now();
  let closed = false;
  // 2.5 MiB a second, well within what a reader at line rate takes.
  while (!closed && Date.now() - t0 < 20000) {
    ids.push(...(await batch(server.url, messages(topic, ids.length, 32))));
    await waitFor(() => fast.seen.ids.length >= ids.length || fast.closed(), { timeoutMs: 10000, what: 'the fast reader to keep up' });
    closed = (await scrape(server.url)).get('switchboard_slow_consumer_closes_total') >= 1;
    await sleep(100);
  }
  const ms = Date.now() - t0;
  t.diagnostic(`closed after ${ms} ms and ${((ids.length * SIZE) / MiB).toFixed(1)} MiB published`);
  assert.ok(closed, 'never closed');
  assert.ok(ids.length * SIZE * 3 < 512 * MiB, 'closed by the hard bound');
  assert.ok(ms >= 1000, `closed after ${ms} ms: before send_queue_soft_s`);
  assert.equal(fast.closed(), false);
  assert.equal(diffSequences(ids, fast.seen.ids), null);
});

test('ws: a client that asks (pings) and never reads the answers is not read either; memory stays flat; it gets every pong in order once it reads', { timeout: soakTimeout(60000, 300000) }, async (t) => {
  const server = await startWsServer(t, ['--threads', '1']);
  const c = await openWs(t, server.port, { name: 'asker' });
  assert.equal((await c.sync()).op, 'pong');
  const pongs = [];
  c.keep = false;
  c.onMessage = (m) => {
    if (m.op === 'pong') pongs.push(m.ref);
  };
  c.pause();
  await sleep(100);
  const baseline = server.rss();
  let peak = baseline;
  const pad = 'p'.repeat(60000);
  const count = soak(1024, 8192); // 60 MiB of pings asking for 60 MiB of pongs (quick size)
  for (let i = 0; i < count; i++) {
    c.send({ op: 'ping', ref: `${i}:${pad}` });
    if (i % 32 === 0) {
      await sleep(5);
      peak = Math.max(peak, server.rss() ?? 0);
    }
  }
  for (let i = 0; i < 20; i++) {
    await sleep(50);
    peak = Math.max(peak, server.rss() ?? 0);
  }
  t.diagnostic(`RSS ${(baseline / MiB).toFixed(1)} → peak ${(peak / MiB).toFixed(1)} MiB with ${((count * pad.length) / MiB).toFixed(0)} MiB of pongs asked for`);
  // Someone else on the same loop is served meanwhile.
  const other = await openWs(t, server.port, { name: 'other' });
  assert.equal((await other.sync()).op, 'pong');
  if (!process.env.SWITCHBOARD_SANITIZED) {
    assert.ok(peak - baseline < 24 * MiB, `RSS grew by ${((peak - baseline) / MiB).toFixed(1)} MiB`);
  }
  c.resume();
  await c.until(() => pongs.length >= count, 30000, 'every pong');
  for (let i = 0; i < count; i++) assert.equal(pongs[i].split(':')[0], String(i), `pong ${i} out of order`);
  assert.equal(c.closeInfo, null);
});
