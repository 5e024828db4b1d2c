// Slow WebSocket consumers (a subscriber that stops reading: its socket is paused), per topic
// policy over send_queue_max_bytes:
//   resume (default)  closed with 1008 while the others keep receiving; it resumes with since;
//   latest (dash/**)  not closed; once it reads again the last message it gets is the newest;
//   drop   (feed/**)  an in-band {"op":"gap"} marks what was dropped; it stays open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publishBatch } from '../support/http.mjs';
import { scrape } from '../support/metrics.mjs';
import { openWs, startWsServer } from '../support/ws-client.mjs';
import { uniq, sleep, diffSequences } from '../support/util.mjs';

const QUEUE = 65536; // --send-queue-max-bytes
const SIZE = 4096; // bytes of data per message
const BATCH = 6; // per publish: 24 KiB, under the per-turn high-water mark, so a reader never lags
const MAX_FLOOD = 96 << 20; // bound on what one test publishes while waiting for the policy to act

async function startSlowServer(t) {
  return startWsServer(t, [
    '--threads', '2',
    '--send-queue-max-bytes', String(QUEUE),
    '--slow-consumer-policies', 'dash/**=latest,feed/**=drop',
    '--max-request-bytes', String(1 << 20),
    '--history-max-messages', '100000',
    '--history-max-bytes', String(256 << 20),
  ]);
}

/**
 * A subscriber that keeps only a log of what it got: {id} per message (data checked on the fly),
 * {gap} per gap frame. Subscribes (ack awaited) before it stops keeping full messages.
 */
async function tracked(t, port, topic, name) {
  const c = await openWs(t, port, { name });
  await c.ok({ op: 'subscribe', topic });
  const log = [];
  const bad = [];
  c.keep = false;
  c.onMessage = (m) => {
    if (m.op === 'message' && m.topic === topic) {
      log.push({ id: m.id });
      if (m.data.length !== SIZE || !m.data.startsWith(`${m.data.split(':')[0]}:x`)) bad.push(m.id);
    } else if (m.op === 'gap') {
      log.push({ gap: m });
    } else {
      log.push({ other: m });
    }
  };
  const ids = () => log.filter((e) => e.id).map((e) => e.id);
  return { c, log, bad, ids };
}

/**
 * Publishes batches to `topic`, waiting after each until `fast` has everything, until `done()` is
 * true (checked after every batch) or MAX_FLOOD bytes went out. Returns the ids published.
 */
async function flood(base, topic, fast, done, { extraBatches = 0 } = {}) {
  const ids = [];
  let seq = 0;
  let extra = -1;
  while (ids.length * SIZE < MAX_FLOOD) {
    const msgs = [];
    for (let k = 0; k < BATCH; k++, seq++) {
      const head = `${seq}:`;
      msgs.push({ topic, data: head + 'x'.repeat(SIZE - head.length) });
    }
    const res = await publishBatch(base, msgs);
    if (res.status !== 200) throw new Error(`batch publish answered ${res.status}: ${res.text.slice(0, 200)}`);
    ids.push(...res.body.ids);
    await fast.c.until(
      () => {
        if (fast.c.closeInfo) throw new Error(`the reading subscriber was closed: ${JSON.stringify(fast.c.closeInfo)}`);
        return fast.log.length >= ids.length;
      },
      10000,
      'the reading subscriber to keep up',
    );
    if (extra >= 0) {
      if (++extra > extraBatches) return ids;
    } else if (await done(ids)) {
      if (extraBatches === 0) return ids;
      extra = 1;
    }
  }
  throw new Error(`published ${ids.length * SIZE} bytes and the slow-consumer policy never acted`);
}

test('resume policy: a paused WebSocket subscriber is closed with 1008 past send_queue_max_bytes; the reader gets everything; since= resumes exactly', { timeout: 60000 }, async (t) => {
  const server = await startSlowServer(t);
  const topic = uniq('res');
  const fast = await tracked(t, server.port, topic, 'fast');
  const slow = await tracked(t, server.port, topic, 'slow');
  slow.c.pause();
  const t0 = Date.now();
  const ids = await flood(server.url, topic, fast, async () => (await scrape(server.url)).get('switchboard_slow_consumer_closes_total') >= 1);
  t.diagnostic(`closed after ${ids.length} messages (${((ids.length * SIZE) / 1048576).toFixed(1)} MiB) in ${Date.now() - t0} ms`);
  // Read again at once: what was queued arrives, then the close frame.
  slow.c.resume();
  const info = await slow.c.waitClosed(5000);
  assert.equal(info.code, 1008, `slow consumer closed with ${JSON.stringify(info)} (1006: no close frame reached it)`);
  const got = slow.ids();
  assert.ok(got.length < ids.length, 'the slow subscriber got everything: the flood never backed up');
  assert.equal(diffSequences(ids.slice(0, got.length), got, 'slow prefix'), null, 'before its close the slow subscriber must get a gap-free prefix');
  assert.deepEqual(slow.bad, []);
  assert.deepEqual(slow.log.filter((e) => !e.id), [], 'no gap or other frame for the resume policy');
  // The reader got every message, in order, once, and is still open.
  assert.equal(diffSequences(ids, fast.ids(), 'fast'), null);
  assert.deepEqual(fast.bad, []);
  assert.equal(fast.c.closeInfo, null);
  const m = await scrape(server.url);
  assert.equal(m.get('switchboard_slow_consumer_closes_total'), 1);
  // Resume from the last id it got: exactly the rest.
  const again = await openWs(t, server.port, { name: 'again' });
  const rest = [];
  again.keep = false;
  again.onMessage = (x) => {
    if (x.op === 'message') rest.push(x.id);
    else if (x.op !== 'ack') rest.push(JSON.stringify(x));
  };
  again.send({ op: 'subscribe', topic, since: got.at(-1) ?? `${ids[0].split('-')[0]}-0` });
  await again.until(() => rest.length >= ids.length - got.length, 20000, 'the replay of the rest');
  await sleep(100);
  assert.equal(diffSequences(ids.slice(got.length), rest, 'resumed'), null);
});

test('latest policy (dash/**): a paused subscriber is not closed; after reading again it ends with the newest message', { timeout: 60000 }, async (t) => {
  const server = await startSlowServer(t);
  const topic = `dash/${uniq('board')}`;
  const fast = await tracked(t, server.port, topic, 'fast');
  const slow = await tracked(t, server.port, topic, 'slow');
  const base = (await scrape(server.url)).get('switchboard_deliveries_total');
  slow.c.pause();
  // Every delivery the server queued for the slow one = all deliveries - what the reader got.
  // Once more than a handful of messages were never queued for it, conflation is happening.
  const ids = await flood(
    server.url,
    topic,
    fast,
    async (published) => {
      const delivered = (await scrape(server.url)).get('switchboard_deliveries_total') - base - fast.log.length;
      return published.length - delivered >= 24;
    },
    { extraBatches: 4 },
  );
  slow.c.resume();
  await slow.c.until((c) => slow.ids().at(-1) === ids.at(-1), 10000, 'the newest message after resuming').catch(() => {});
  await sleep(200);
  const got = slow.ids();
  t.diagnostic(`published ${ids.length}, the slow subscriber got ${got.length}`);
  assert.equal(slow.c.closeInfo, null, `the latest policy closed the subscriber: ${JSON.stringify(slow.c.closeInfo)}`);
  assert.equal(got.at(-1), ids.at(-1), 'the last message after resuming is not the newest published');
  assert.ok(got.length < ids.length, 'nothing was conflated');
  assert.equal(new Set(got).size, got.length, 'duplicates');
  const pos = new Map(ids.map((id, i) => [id, i]));
  for (let i = 1; i < got.length; i++) assert.ok(pos.get(got[i]) > pos.get(got[i - 1]), `out of order at ${i}`);
  assert.deepEqual(slow.log.filter((e) => !e.id), [], 'a gap or other frame under the latest policy');
  assert.deepEqual(slow.bad, []);
  assert.equal(diffSequences(ids, fast.ids(), 'fast'), null);
  assert.equal((await scrape(server.url)).get('switchboard_slow_consumer_closes_total'), 0);
  // Still a working connection.
  slow.c.keep = true;
  const pong = await slow.c.sync();
  assert.equal(pong.op, 'pong');
});

test('drop policy (feed/**): a paused subscriber gets {"op":"gap","topics":[t]} where messages were dropped and stays open', { timeout: 60000 }, async (t) => {
  const server = await startSlowServer(t);
  const topic = `feed/${uniq('news')}`;
  const fast = await tracked(t, server.port, topic, 'fast');
  const slow = await tracked(t, server.port, topic, 'slow');
  slow.c.pause();
  const ids = await flood(server.url, topic, fast, async () => (await scrape(server.url)).get('switchboard_drops_total') >= 1, { extraBatches: 4 });
  slow.c.resume();
  // Once it has caught up, a new message is delivered normally.
  await slow.c.until(() => slow.log.length > 0 && slow.ids().at(-1) !== undefined, 5000, 'anything');
  await sleep(300);
  const more = await publishBatch(server.url, [{ topic, data: `${ids.length}:${'x'.repeat(SIZE - String(ids.length).length - 1)}` }]);
  ids.push(more.body.ids[0]);
  await slow.c.until(() => slow.ids().at(-1) === ids.at(-1), 10000, 'the message published after resuming');
  await sleep(100);
  const got = slow.ids();
  const gaps = slow.log.filter((e) => e.gap);
  t.diagnostic(`published ${ids.length}, the slow subscriber got ${got.length} and ${gaps.length} gap(s)`);
  assert.equal(slow.c.closeInfo, null, `the drop policy closed the subscriber: ${JSON.stringify(slow.c.closeInfo)}`);
  assert.ok(gaps.length >= 1, 'messages were dropped without a gap');
  for (const g of gaps) assert.deepEqual(g.gap, { op: 'gap', topics: [topic] });
  assert.ok(got.length < ids.length, 'nothing was dropped');
  assert.deepEqual(slow.log.filter((e) => e.other), []);
  // Every loss is marked: between two messages with no gap frame in between, ids are consecutive.
  const pos = new Map(ids.map((id, i) => [id, i]));
  let prev = -1;
  let gapSeen = false; // the flood starts after the subscribe ack: the first message must be #0 or follow a gap
  for (const e of slow.log) {
    if (e.gap) {
      gapSeen = true;
      continue;
    }
    const i = pos.get(e.id);
    assert.ok(i !== undefined, `unknown id ${e.id}`);
    assert.ok(i > prev, `out of order or duplicate at ${e.id}`);
    if (!gapSeen) assert.equal(i, prev + 1, `message #${prev + 1}..#${i - 1} lost without a gap frame`);
    prev = i;
    gapSeen = false;
  }
  assert.deepEqual(slow.bad, []);
  assert.equal(diffSequences(ids, fast.ids(), 'fast'), null);
  const m = await scrape(server.url);
  assert.ok(m.get('switchboard_drops_total') >= ids.length - got.length, `drops_total ${m.get('switchboard_drops_total')} for ${ids.length - got.length} dropped`);
  assert.equal(m.get('switchboard_slow_consumer_closes_total'), 0);
  slow.c.keep = true;
  assert.equal((await slow.c.sync()).op, 'pong');
});
