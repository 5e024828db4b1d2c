// Probe: history memory. One 64 KiB message to each of thousands of topics took RSS to about four
// bytes per byte of data with no bound across topics; with a short history_max_age_s, topics
// nobody published to again kept their messages; topic entries were never forgotten.
// Here: RSS growth stays within history_max_memory_bytes × 1.5 plus a fixed margin, an evicted
// position is a gap over SSE, WebSocket and the history endpoint, and expired history is freed
// (RSS goes down by at least half of it) and idle topics forgotten within a few seconds with no
// further publish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sleep } from '../support/server.mjs';
import { request, publishOk, history, topicPath } from '../support/http.mjs';
import { subscribe, waitPreamble } from '../support/sse.mjs';
import { openWs } from '../support/ws-client.mjs';
import { scrape } from '../support/metrics.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';
import { uniq, waitFor } from '../support/util.mjs';

const MiB = 1 << 20;
const SANITIZED = Boolean(process.env.SWITCHBOARD_SANITIZED);
const DATA = Buffer.alloc(64 * 1024);
for (let i = 0; i < DATA.length; i++) DATA[i] = 97 + ((i * 7919) % 26); // one line of letters

/** Publishes DATA once to each topic, `parallel` at a time; returns the ids in topic order. */
async function publishAll(base, topics, parallel = 8) {
  const ids = new Array(topics.length);
  let next = 0;
  async function worker() {
    while (next < topics.length) {
      const i = next++;
      const r = await request(`${base}${topicPath(topics[i])}`, { method: 'POST', body: DATA });
      assert.equal(r.status, 201, `publish ${i}: ${r.status} ${r.text}`);
      ids[i] = r.json().id;
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker));
  return ids;
}

/** Samples the server's RSS every 50 ms until stop() is called; stop() returns the peak. */
function rssWatch(server) {
  let peak = server.rss() ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, server.rss() ?? 0);
  }, 50);
  return () => {
    clearInterval(timer);
    return Math.max(peak, server.rss() ?? 0);
  };
}

const epochOf = (id) => id.split('-')[0];

test('64 KiB messages to many topics: RSS stays within history_max_memory_bytes × 1.5 + 24 MiB; evicted positions are gaps', { timeout: soakTimeout(60_000, 600_000) }, async (t) => {
  const bound = soak(32, 128) * MiB;
  const count = soak(1_000, 4_000);
  const margin = 24 * MiB; // loops, buffers of the publishes in flight, allocator arenas
  const server = await startServer(t, { args: ['--threads', '2', '--history-max-memory-bytes', String(bound)] });
  const prefix = uniq('hm');
  const topics = Array.from({ length: count }, (_, i) => `${prefix}/t${i}`);

  // Live readers on some of the topics, so messages are also framed and fanned out live.
  const ws = await openWs(t, server.port, { name: 'live-ws' });
  for (const topic of topics.slice(0, 20)) await ws.ok({ op: 'subscribe', topic });
  const sse = await subscribe(t, server.port, { topics: topics.slice(20, 40), keep: false });
  await waitPreamble(sse);

  // Warm up the allocator and the loops with a few messages elsewhere, then take the baseline.
  for (let i = 0; i < 8; i++) await publishOk(server.url, `${prefix}/warm`, DATA.toString());
  await sleep(200);
  const base = server.rss();
  const stopWatch = rssWatch(server);
  const ids = await publishAll(server.url, topics);
  await ws.until((c) => c.messages(topics[19]).length === 1, 10_000, 'the live WebSocket reader to get its messages');
  await sleep(300);
  const peak = stopWatch();
  const growth = peak - base;
  const stored = count * DATA.length;
  const m = await scrape(server.url);
  t.diagnostic(
    `stored ${(stored / MiB).toFixed(1)} MiB of data; RSS ${(base / MiB).toFixed(1)} → peak ${(peak / MiB).toFixed(1)} MiB ` +
      `(growth ${(growth / MiB).toFixed(1)} MiB, bound ${bound / MiB} MiB); history ${m.get('switchboard_history_bytes')} B in ` +
      `${m.get('switchboard_history_messages')} messages, ${m.get('switchboard_history_evictions_total')} evictions, ` +
      `${m.get('switchboard_topics')} topics`,
  );
  // Under ASan the allocator's quarantine and shadow memory keep more resident: RSS says nothing.
  assert.ok(
    SANITIZED || growth <= bound * 1.5 + margin,
    `RSS grew ${(growth / MiB).toFixed(1)} MiB for ${(stored / MiB).toFixed(1)} MiB of data; allowed ${((bound * 1.5 + margin) / MiB).toFixed(1)} MiB`,
  );
  assert.ok(m.get('switchboard_history_bytes') <= bound, `history holds ${m.get('switchboard_history_bytes')} B, over the ${bound} B bound`);
  assert.ok(m.get('switchboard_history_bytes') >= bound * 0.75, 'the bound is used, not emptied');
  assert.ok(m.get('switchboard_history_evictions_total') > 0, 'over the bound, messages were evicted');
  assert.equal(m.parsed.types.switchboard_history_evictions_total, 'counter');
  assert.equal(m.parsed.types.switchboard_history_bytes, 'gauge');
  // The newest messages are kept, the oldest evicted (across topics).
  const newest = (await history(server.url, topics.at(-1))).body;
  assert.deepEqual(newest.messages.map((x) => x.id), [ids.at(-1)]);
  assert.equal(newest.messages[0].data, DATA.toString());

  // A reader of the first topic from before its only message: evicted, so a gap, before live.
  const first = topics[0];
  const before = `${epochOf(ids[0])}-0`;
  const page = await request(`${server.url}${topicPath(first, '/history')}?since=${before}`);
  assert.equal(page.status, 200);
  assert.equal(page.json().gap, true, `history after an evicted position: ${page.text.slice(0, 200)}`);
  assert.deepEqual(page.json().messages, []);

  const resumed = await subscribe(t, server.port, { topics: [first], lastEventId: before });
  await waitPreamble(resumed);
  const [gap] = await resumed.waitEvents(1);
  assert.equal(gap.event, 'gap');
  assert.deepEqual(JSON.parse(gap.data), { topics: [first] });

  const wsResume = await openWs(t, server.port, { name: 'resume-ws' });
  wsResume.send({ op: 'subscribe', topic: first, since: before, ref: 'r' });
  assert.deepEqual(await wsResume.next(), { op: 'ack', ref: 'r' });
  assert.deepEqual(await wsResume.next(), { op: 'gap', topics: [first] });

  // Both go on live, and the server still serves everyone.
  const live = await publishOk(server.url, first, 'after the gap');
  const [msg] = (await resumed.waitEvents(2)).slice(1);
  assert.equal(msg.idField, live);
  assert.equal(msg.data, 'after the gap');
  assert.deepEqual(await wsResume.next(), { op: 'message', topic: first, id: live, event: null, data: 'after the gap', from: null });
  assert.equal((await request(`${server.url}/healthz`)).status, 200);
});

test('history_max_age_s = 2: idle topics are emptied and forgotten with no further publish; retained messages stay', { timeout: soakTimeout(30_000, 120_000) }, async (t) => {
  const count = soak(300, 3_000);
  const server = await startServer(t, { args: ['--threads', '2', '--history-max-age-s', '2'] });
  const prefix = uniq('age');
  const topics = Array.from({ length: count }, (_, i) => `${prefix}/t${i}`);
  const retainedTopic = `${prefix}/retained`;
  const retainedId = await publishOk(server.url, retainedTopic, 'last value', { retain: true });
  await publishAll(server.url, topics);

  const full = await scrape(server.url);
  const rssFull = server.rss();
  assert.ok(full.get('switchboard_history_messages') >= count, `history holds ${full.get('switchboard_history_messages')} messages`);
  assert.ok(full.get('switchboard_history_bytes') >= count * DATA.length);
  assert.ok(full.get('switchboard_topics') >= count + 1);

  // Nobody publishes or reads: the sweep alone must drop everything within a few seconds, and
  // hand the memory back.
  const stored = count * DATA.length;
  let last;
  await waitFor(
    async () => {
      last = await scrape(server.url);
      return (
        last.get('switchboard_history_bytes') === 0 &&
        last.get('switchboard_topics') === 1 &&
        (SANITIZED || server.rss() <= rssFull - stored / 2)
      );
    },
    { timeoutMs: 6_000, intervalMs: 250, what: 'history to be emptied and idle topics forgotten' },
  ).catch((err) => {
    throw new Error(
      `${err.message}: history ${last?.get('switchboard_history_bytes')} B, ` +
        `${last?.get('switchboard_history_messages')} messages, ${last?.get('switchboard_topics')} topics, ` +
        `RSS ${(rssFull / MiB).toFixed(1)} → ${(server.rss() / MiB).toFixed(1)} MiB`,
    );
  });
  assert.equal(last.get('switchboard_history_messages'), 0);
  assert.ok(last.get('switchboard_topics_reclaimed_total') >= count);
  assert.ok(last.get('switchboard_history_expirations_total') >= count + 1);
  assert.equal(last.get('switchboard_retained_messages'), 1);
  t.diagnostic(`RSS with history ${(rssFull / MiB).toFixed(1)} MiB, after expiry ${(server.rss() / MiB).toFixed(1)} MiB`);

  // The retained message outlived its history: a new reader gets it first.
  const reader = await subscribe(t, server.port, { topics: [retainedTopic] });
  const [retained] = await reader.waitEvents(1);
  assert.equal(retained.data, 'last value');
  assert.notEqual(retained.idField, undefined);
  assert.ok(retainedId);

  // A forgotten topic comes back without reusing an id: a reader at its old head loses nothing.
  const old = (await history(server.url, topics[0])).body;
  assert.deepEqual(old.messages, []);
  const again = await publishOk(server.url, topics[0], 'again');
  assert.equal(epochOf(again), epochOf(retainedId));
  assert.ok(Number(again.split('-')[1]) >= 2, `a forgotten topic's next id ${again} must not repeat its first`);
  const page = (await history(server.url, topics[0])).body;
  assert.deepEqual(page.messages.map((x) => [x.id, x.data]), [[again, 'again']]);
});
