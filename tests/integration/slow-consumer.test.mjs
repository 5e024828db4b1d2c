// Slow consumers (`resume` policy): a subscriber that stops reading is closed once its queue
// passes send_queue_max_bytes, the server's memory stays flat while many MB flow, the other
// subscribers get everything, and the closed one resumes from history with no loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { publishBatch, parseTopicId } from '../support/http.mjs';
import { subscribe, waitPreamble } from '../support/sse.mjs';
import { scrape } from '../support/metrics.mjs';
import { uniq, waitFor, sleep, diffSequences } from '../support/util.mjs';

const MiB = 1024 * 1024;

/** A subscriber that reads everything and only keeps ids (data checked on the fly). */
async function countingSubscriber(t, port, topics, opts = {}) {
  const seen = { ids: [], bad: [], gaps: 0 };
  const s = await subscribe(t, port, {
    topics,
    keep: false,
    ...opts,
    onBlock(b) {
      if (!b.dispatched) return;
      if (b.event === 'gap') {
        seen.gaps++;
        return;
      }
      seen.ids.push(b.idField);
      if (opts.check && !opts.check(b)) seen.bad.push(b.idField);
    },
  });
  await waitPreamble(s);
  return { s, seen };
}

/**
 * Publishes `count` messages of `size` bytes in batches, never letting `pace` (a subscriber that
 * does read) fall more than `window` messages behind, so the only slow reader is the paused one.
 * A batch stays well under send_queue_max_bytes: one publish alone never overflows a queue.
 */
async function flood(base, topic, { count, size, batch, pace, window, onBatch }) {
  const ids = [];
  const already = pace.seen.ids.length;
  for (let i = 0; i < count; i += batch) {
    const msgs = [];
    for (let k = i; k < Math.min(count, i + batch); k++) {
      const head = `${k}:`;
      msgs.push({ topic, data: head + 'x'.repeat(size - head.length) });
    }
    const res = await publishBatch(base, msgs);
    if (res.status !== 200) throw new Error(`batch publish answered ${res.status}: ${res.text.slice(0, 200)}`);
    ids.push(...res.body.ids);
    if (onBatch) onBatch();
    await waitFor(() => pace.seen.ids.length - already >= ids.length - window || pace.s.ended, {
      timeoutMs: 20000,
      intervalMs: 2,
      what: 'the fast subscriber to keep up',
    });
  }
  return ids;
}

const dataOk = (size) => (b) => b.data.length === size && /^\d+:x/.test(b.data.slice(0, 12)) && b.data.endsWith('x');

test('a paused subscriber is closed past send_queue_max_bytes; RSS stays flat over 64 MiB; others get everything', { timeout: 120000 }, async (t) => {
  const server = await startServer(t, {
    args: ['--send-queue-max-bytes', '65536', '--history-max-bytes', String(MiB), '--threads', '2'],
  });
  const topic = uniq('flood');
  const size = 8192;
  const count = 8192; // 64 MiB of data
  const fast = await countingSubscriber(t, server.port, [topic], { check: dataOk(size) });
  const slow = await subscribe(t, server.port, { topics: [topic], keep: false });
  await waitPreamble(slow);
  slow.pause();
  // Before the warm-up: on a busy machine the paused subscriber can pass its bound during it.
  const metrics0 = await scrape(server.url);

  // Warm up the allocator, then take the baseline.
  await flood(server.url, topic, { count: 256, size, batch: 4, pace: fast, window: 0 });
  await waitFor(() => fast.seen.ids.length >= 256, { timeoutMs: 10000, what: 'warm-up delivery' });
  await sleep(200);
  const baseline = server.rss();
  assert.ok(baseline, 'could not read the server RSS');
  let peak = baseline;
  const sampler = setInterval(() => {
    const v = server.rss();
    if (v && v > peak) peak = v;
  }, 20);
  t.after(() => clearInterval(sampler));

  const t0 = Date.now();
  const ids = await flood(server.url, topic, {
    count,
    size,
    batch: 4,
    pace: fast,
    window: 0,
    onBatch() {
      const v = server.rss();
      if (v && v > peak) peak = v;
    },
  });
  await waitFor(() => fast.seen.ids.length >= 256 + count || fast.s.ended, { timeoutMs: 30000, what: 'the fast subscriber to get everything' });
  clearInterval(sampler);
  t.diagnostic(`published ${(count * size) / MiB} MiB in ${Date.now() - t0} ms; RSS baseline ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB`);

  assert.equal(fast.s.ended, false, `the subscriber that kept reading was closed after ${fast.seen.ids.length} events (${fast.s.bytes} bytes)`);
  assert.equal(fast.seen.gaps, 0);
  assert.deepEqual(fast.seen.bad, []);
  assert.equal(diffSequences(ids, fast.seen.ids.slice(256)), null);
  // Under ASan the allocator quarantine keeps freed memory resident, so RSS says nothing there.
  if (!process.env.SWITCHBOARD_SANITIZED) {
    assert.ok(peak - baseline < 32 * MiB, `RSS grew by ${((peak - baseline) / MiB).toFixed(1)} MiB while a consumer was paused`);
  }

  // The paused one was closed by the server: reading on, we reach the end of the stream.
  slow.resume();
  assert.ok(await slow.waitEnded(15000), 'the paused subscriber was never closed');
  assert.equal(slow.closedByUs, false);
  assert.ok(slow.eventCount < 256 + count, `the paused subscriber got all ${slow.eventCount} events: it was never over its queue bound`);

  const metrics1 = await scrape(server.url);
  const drops = metrics1.get('switchboard_drops_total') - metrics0.get('switchboard_drops_total');
  assert.ok(drops >= 1, `switchboard_drops_total did not move (delta ${drops})`);
});

test('the closed slow consumer resumes from history with no loss and no duplicate', { timeout: 120000 }, async (t) => {
  const server = await startServer(t, {
    args: [
      '--send-queue-max-bytes',
      '65536',
      '--history-max-messages',
      '20000',
      '--history-max-bytes',
      String(64 * MiB),
      '--threads',
      '2',
    ],
  });
  const topic = uniq('resume-slow');
  const size = 4096;
  const count = 6144; // 24 MiB
  const fast = await countingSubscriber(t, server.port, [topic], { check: dataOk(size) });
  const slowSeen = { ids: [], bad: [], gaps: 0 };
  const slow = await subscribe(t, server.port, {
    topics: [topic],
    keep: false,
    onBlock(b) {
      if (!b.dispatched) return;
      if (b.event === 'gap') slowSeen.gaps++;
      else {
        slowSeen.ids.push(b.idField);
        if (!dataOk(size)(b)) slowSeen.bad.push(b.idField);
      }
    },
  });
  await waitPreamble(slow);
  slow.pause();

  const ids = await flood(server.url, topic, { count, size, batch: 8, pace: fast, window: 0 });
  await waitFor(() => fast.seen.ids.length >= count || fast.s.ended, { timeoutMs: 30000, what: 'fast delivery' });
  assert.equal(diffSequences(ids, fast.seen.ids), null);

  slow.resume();
  assert.ok(await slow.waitEnded(15000), 'the paused subscriber was never closed');
  assert.equal(slow.closedByUs, false);
  const firstPart = slowSeen.ids.length;
  assert.ok(firstPart < count, 'the paused subscriber was not cut off');
  const resumeFrom = slow.lastEventId;
  t.diagnostic(`slow consumer got ${firstPart} of ${count} before it was closed; resuming from ${resumeFrom}`);

  // Reconnect as a browser would (Last-Event-ID = the last id it processed) until caught up. A
  // reader that keeps up should need one reconnect; a few more are tolerated if the server sheds
  // it while replaying, as long as every connection makes progress.
  let reconnects = 0;
  let resumeId = resumeFrom;
  while (slowSeen.ids.length < count && reconnects < 10) {
    reconnects++;
    const before = slowSeen.ids.length;
    const again = await subscribe(t, server.port, {
      topics: [topic],
      keep: false,
      lastEventId: resumeId,
      onBlock(b) {
        if (!b.dispatched) return;
        if (b.event === 'gap') slowSeen.gaps++;
        else {
          slowSeen.ids.push(b.idField);
          if (!dataOk(size)(b)) slowSeen.bad.push(b.idField);
        }
      },
    });
    await waitFor(() => slowSeen.ids.length >= count || again.ended, { timeoutMs: 30000, what: 'the resumed subscriber to catch up' }).catch((err) => {
      throw new Error(`${err.message}: ${slowSeen.ids.length} of ${count} events, resumed stream got ${again.bytes} bytes, status ${again.status}`);
    });
    resumeId = again.lastEventId || resumeId;
    if (slowSeen.ids.length < count) {
      assert.ok(slowSeen.ids.length > before, `resume connection ${reconnects} made no progress (closed after ${again.bytes} bytes)`);
    }
  }
  t.diagnostic(`caught up after ${reconnects} resume connection(s)`);
  await sleep(200);
  assert.equal(slowSeen.gaps, 0, 'resume within history must not signal a gap');
  assert.deepEqual(slowSeen.bad, []);
  assert.equal(diffSequences(ids, slowSeen.ids), null);
  const s0 = parseTopicId(ids[0]).seq;
  assert.equal(parseTopicId(ids.at(-1)).seq - s0, BigInt(count - 1));
});
