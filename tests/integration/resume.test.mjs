// Resume: Last-Event-ID and ?since= give exactly the missed messages (none lost, none twice),
// on one topic and on several (opaque cursor), with a raw reader that disconnects at random and
// with the real npm `eventsource` client; gaps when the position cannot be recovered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { startServer } from '../support/server.mjs';
import { publishOk, publishBatch, parseTopicId, request } from '../support/http.mjs';
import { openSse, subscribe, waitPreamble, eventsPath } from '../support/sse.mjs';
import { uniq, waitFor, sleep, rng, testSeed, diffSequences } from '../support/util.mjs';

/**
 * Publishes `count` messages spread over `topics` (round-robin), mixing single POSTs and batches,
 * with short pauses. Returns [{topic, data, id}] in publish order.
 */
async function publishMany(base, topics, count, r, { pauseEvery = 200, tag = 'm' } = {}) {
  const out = [];
  let i = 0;
  while (i < count) {
    const n = Math.min(count - i, r.next() < 0.3 ? 1 : r.int(2, 40));
    const msgs = [];
    for (let k = 0; k < n; k++, i++) {
      msgs.push({ topic: topics[i % topics.length], data: `${tag}${i}` });
    }
    if (n === 1) {
      const id = await publishOk(base, msgs[0].topic, msgs[0].data);
      out.push({ ...msgs[0], id });
    } else {
      const res = await publishBatch(base, msgs);
      if (res.status !== 200 || !res.body || !Array.isArray(res.body.ids) || res.body.ids.length !== n) {
        throw new Error(`batch publish failed: ${res.status} ${res.text.slice(0, 200)}`);
      }
      msgs.forEach((m, k) => out.push({ ...m, id: res.body.ids[k] }));
    }
    if (Math.floor(i / pauseEvery) !== Math.floor((i - n) / pauseEvery)) await sleep(r.int(0, 15));
  }
  return out;
}

/**
 * A client that keeps one SSE subscription alive across random disconnects: it drops the
 * connection after a random number of events (ignoring anything after that point, as a client
 * that lost the connection would), waits a little, and reconnects with Last-Event-ID or ?since=
 * (chosen at random) set to the last id it processed.
 */
function resumingReader(port, topics, r, { startId, maxPerConn = 500, deadlineMs = 60000 } = {}) {
  const state = { events: [], gaps: [], connects: 0, byHeader: 0, bySince: 0, lastId: startId, done: false, errors: [] };
  const run = async () => {
    const deadline = Date.now() + deadlineMs;
    while (!state.done && Date.now() < deadline) {
      const opts = { topics, keep: false };
      if (state.lastId !== undefined) {
        if (r.next() < 0.65) {
          opts.lastEventId = state.lastId;
          state.byHeader++;
        } else {
          opts.since = state.lastId;
          state.bySince++;
        }
      }
      const quota = r.int(1, maxPerConn);
      let taken = 0;
      let dropped = false;
      let s;
      const finished = new Promise((resolve) => {
        opts.onBlock = (b, stream) => {
          if (dropped) return;
          if (b.idField !== undefined) state.lastId = b.idField;
          if (!b.dispatched) return;
          if (b.event === 'gap') state.gaps.push(b);
          else {
            state.events.push({ id: b.idField, data: b.data, event: b.event });
          }
          taken++;
          if (state.done || taken >= quota) {
            dropped = true;
            stream.close();
            resolve();
          }
        };
        openSse(port, opts).then(
          (stream) => {
            s = stream;
            state.current = stream;
            state.connects++;
            if (stream.status !== 200) {
              state.errors.push(`reconnect answered ${stream.status}: ${stream.text.slice(0, 200)}`);
              state.done = true;
              resolve();
              return;
            }
            stream.until((x) => x.ended, deadlineMs, 'end').then(resolve, resolve);
          },
          (err) => {
            state.errors.push(String(err));
            state.done = true;
            resolve();
          },
        );
      });
      await finished; // dropped by us, or closed by the server: either way reconnect, as a browser would
      if (s) s.close();
      if (!state.done) await sleep(r.int(0, 30));
    }
  };
  state.stop = () => {
    state.done = true;
    if (state.current) state.current.close();
  };
  state.promise = run();
  return state;
}

/** Waits (bounded) until the reader has `count` events, lingers to catch duplicates, stops it. */
async function drainReader(reader, count, timeoutMs) {
  await waitFor(() => reader.events.length >= count || reader.errors.length > 0, {
    timeoutMs,
    intervalMs: 50,
    what: `${count} events`,
  }).catch(() => {});
  await sleep(300);
  reader.stop();
  await reader.promise;
}

test('single topic: 10,000 messages through random disconnects arrive exactly once, in order', { timeout: 150000 }, async (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (TEST_SEED to replay)`);
  const r = rng(seed);
  const server = await startServer(t, { args: ['--history-max-messages', '20000', '--threads', '2'] });
  const topic = uniq('exact');
  const N = 10000;

  // Take the starting position from a first connection, so every message is "missed or live".
  const first = await subscribe(t, server.port, { topics: [topic] });
  const pre = await waitPreamble(first);
  first.close();

  const reader = resumingReader(server.port, [topic], rng(seed + 1), { startId: pre.id, maxPerConn: 700, deadlineMs: 100000 });
  const published = await publishMany(server.url, [topic], N, r);
  await drainReader(reader, published.length, 60000);

  assert.deepEqual(reader.errors, []);
  assert.equal(reader.gaps.length, 0, `unexpected gap events: ${JSON.stringify(reader.gaps.slice(0, 2))}`);
  t.diagnostic(`${reader.connects} connections (${reader.byHeader} via Last-Event-ID, ${reader.bySince} via ?since=)`);
  assert.ok(reader.connects >= 10, `only ${reader.connects} connections: the test did not disconnect enough`);
  const diff = diffSequences(
    published.map((m) => m.id),
    reader.events.map((e) => e.id),
  );
  assert.equal(diff, null);
  const badData = reader.events.findIndex((e, i) => e.data !== published[i].data);
  assert.equal(badData, -1, `data/id mismatch at ${badData}`);
  // Ids are <epoch>-<seq> with seq + 1 per message.
  const seqs = published.map((m) => parseTopicId(m.id));
  const p0 = parseTopicId(pre.id);
  for (let i = 0; i < seqs.length; i++) {
    if (seqs[i].epoch !== p0.epoch || seqs[i].seq !== p0.seq + BigInt(i + 1)) {
      assert.fail(`publish ${i} got id ${published[i].id}, expected ${p0.epoch}-${p0.seq + BigInt(i + 1)}`);
    }
  }
});

test('npm eventsource client: injected network drops, reconnects with Last-Event-ID, nothing lost or doubled', { timeout: 90000 }, async (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed}`);
  const r = rng(seed);
  const server = await startServer(t, { args: ['--history-max-messages', '20000', '--retry-ms', '100'] });
  const topic = uniq('es');
  const N = 2000;

  // A fetch that lets the test cut the live response like a network failure would: the body
  // stream errors (not an AbortError, so EventSource reconnects after its retry interval).
  let current = null;
  let requests = 0;
  const sentLastEventIds = [];
  const fetchWithDrops = async (url, init) => {
    requests++;
    sentLastEventIds.push(init.headers?.['Last-Event-ID'] ?? null);
    const res = await fetch(url, init);
    if (!res.body) return res;
    const upstream = res.body.getReader();
    let ctl;
    const body = new ReadableStream({
      start(c) {
        ctl = c;
      },
      async pull(c) {
        try {
          const { done, value } = await upstream.read();
          if (done) c.close();
          else c.enqueue(value);
        } catch (err) {
          try {
            c.error(err);
          } catch {
            // already errored by a drop
          }
        }
      },
      cancel() {
        upstream.cancel().catch(() => {});
      },
    });
    const conn = {
      drop() {
        try {
          ctl.error(new TypeError('injected network drop'));
        } catch {
          // stream already closed
        }
        upstream.cancel().catch(() => {});
      },
    };
    current = conn;
    return new Response(body, { status: res.status, headers: res.headers });
  };

  const es = new EventSource(`${server.url}/v1/events?topic=${encodeURIComponent(topic)}`, { fetch: fetchWithDrops });
  t.after(() => es.close());
  const got = [];
  let sinceDrop = 0;
  let quota = r.int(50, 300);
  let drops = 0;
  es.addEventListener('message', (e) => {
    got.push({ id: e.lastEventId, data: e.data });
    sinceDrop++;
    if (sinceDrop >= quota && current) {
      sinceDrop = 0;
      quota = r.int(50, 300);
      drops++;
      const c = current;
      current = null;
      c.drop();
    }
  });
  const gaps = [];
  es.addEventListener('gap', (e) => gaps.push(e.data));
  await waitFor(() => es.readyState === EventSource.OPEN, { timeoutMs: 5000, what: 'EventSource open' });
  // The npm client ignores an id-only block (unlike the WHATWG algorithm), so it only has a
  // Last-Event-ID once a message arrived: send one before the storm starts.
  const first = await publishOk(server.url, topic, 'first');
  await waitFor(() => got.length === 1, { timeoutMs: 5000, what: 'the first message' });
  const published = [{ id: first, data: 'first' }, ...(await publishMany(server.url, [topic], N, r, { tag: 'es', pauseEvery: 20 }))];
  await waitFor(() => got.length >= published.length, {
    timeoutMs: 60000,
    intervalMs: 50,
    what: `all ${published.length} messages (got ${got.length})`,
  }).catch(() => {});
  await sleep(300);
  es.close();
  t.diagnostic(`${drops} injected drops, ${requests} requests`);
  assert.ok(drops >= 3, `only ${drops} drops happened`);
  assert.deepEqual(gaps, []);
  assert.equal(diffSequences(published.map((m) => m.id), got.map((m) => m.id)), null);
  assert.deepEqual(got.map((m) => m.data), published.map((m) => m.data));
  assert.ok(sentLastEventIds.slice(1).every((id) => typeof id === 'string' && id.length > 0), 'every reconnect carried Last-Event-ID');
});

test('reconnecting before any message resumes exactly from the preamble id', async (t) => {
  const server = await startServer(t);
  const topic = uniq('early');
  const s = await subscribe(t, server.port, { topics: [topic] });
  const pre = await waitPreamble(s);
  s.close();
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await publishOk(server.url, topic, `missed-${i}`));
  const s2 = await subscribe(t, server.port, { topics: [topic], lastEventId: pre.id });
  const live = await publishOk(server.url, topic, 'live');
  const evs = await s2.waitEvents(4);
  assert.deepEqual(evs.map((e) => e.idField), [...ids, live]);
  assert.deepEqual(evs.map((e) => e.data), ['missed-0', 'missed-1', 'missed-2', 'live']);
  await sleep(100);
  assert.equal(s2.eventCount, 4);
});

test('?since= resumes; Last-Event-ID wins over ?since=; resuming at the head replays nothing', async (t) => {
  const server = await startServer(t);
  const topic = uniq('since');
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(await publishOk(server.url, topic, `d${i}`));

  const bySince = await subscribe(t, server.port, { topics: [topic], since: ids[1] });
  const both = await subscribe(t, server.port, { topics: [topic], since: ids[0], lastEventId: ids[2] });
  const atHead = await subscribe(t, server.port, { topics: [topic], lastEventId: ids[4] });
  const live = await publishOk(server.url, topic, 'live');

  const a = await bySince.waitEvents(4);
  assert.deepEqual(a.map((e) => e.idField), [ids[2], ids[3], ids[4], live]);
  const b = await both.waitEvents(3);
  assert.deepEqual(b.map((e) => e.idField), [ids[3], ids[4], live], 'the Last-Event-ID header must win over ?since=');
  const c = await atHead.waitEvents(1);
  assert.deepEqual(c.map((e) => e.idField), [live]);
  await sleep(100);
  assert.deepEqual([bySince.eventCount, both.eventCount, atHead.eventCount], [4, 3, 1]);
  for (const s of [bySince, both, atHead]) assert.equal(s.events.filter((e) => e.event === 'gap').length, 0);
});

test('multi-topic: the opaque cursor resumes every topic exactly (preamble cursor and mid-stream cursor)', async (t) => {
  const server = await startServer(t);
  const A = uniq('cA');
  const B = uniq('cB');
  const C = uniq('cC'); // never published to
  const topics = [A, B, C];
  const s = await subscribe(t, server.port, { topics });
  const pre = await waitPreamble(s);
  const sent = [];
  for (const [topic, data] of [
    [A, 'A1'],
    [B, 'B1'],
    [A, 'A2'],
    [B, 'B2'],
  ]) {
    sent.push({ topic, data, id: await publishOk(server.url, topic, data) });
  }
  const evs = await s.waitEvents(4);
  const cursorAfter2 = evs[1].idField;
  const seenFirst2 = evs.slice(0, 2).map((e) => e.data);
  s.close();
  sent.push({ topic: A, data: 'A3', id: await publishOk(server.url, A, 'A3') });
  sent.push({ topic: B, data: 'B3', id: await publishOk(server.url, B, 'B3') });

  const perTopic = (datas) => ({
    A: datas.filter((d) => d.startsWith('A')),
    B: datas.filter((d) => d.startsWith('B')),
  });

  const fromMid = await subscribe(t, server.port, { topics, lastEventId: cursorAfter2 });
  const got = (await fromMid.waitEvents(4)).map((e) => e.data);
  const expectMid = sent.map((m) => m.data).filter((d) => !seenFirst2.includes(d));
  assert.deepEqual(perTopic(got), perTopic(expectMid));

  const fromStart = await subscribe(t, server.port, { topics, lastEventId: pre.id });
  const all = (await fromStart.waitEvents(6)).map((e) => e.data);
  assert.deepEqual(perTopic(all), { A: ['A1', 'A2', 'A3'], B: ['B1', 'B2', 'B3'] });

  // The same cursor works as ?since= too.
  const viaSince = await subscribe(t, server.port, { topics, since: cursorAfter2 });
  assert.deepEqual(perTopic((await viaSince.waitEvents(4)).map((e) => e.data)), perTopic(expectMid));

  await publishOk(server.url, C, 'C1');
  for (const x of [fromMid, fromStart, viaSince]) {
    await x.until((y) => y.events.some((e) => e.data === 'C1'), 3000, 'the first message of C');
    assert.equal(x.events.filter((e) => e.event === 'gap').length, 0);
  }
  assert.equal(fromMid.eventCount, 5);
  assert.equal(fromStart.eventCount, 7);
});

test('multi-topic: 1,500 messages over 3 topics through random disconnects, exact per topic', { timeout: 90000 }, async (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed}`);
  const r = rng(seed);
  const server = await startServer(t, { args: ['--history-max-messages', '5000', '--threads', '2'] });
  const topics = [uniq('x'), uniq('y'), uniq('z')];
  const first = await subscribe(t, server.port, { topics });
  const pre = await waitPreamble(first);
  first.close();
  const reader = resumingReader(server.port, topics, rng(seed + 7), { startId: pre.id, maxPerConn: 150, deadlineMs: 80000 });
  const published = await publishMany(server.url, topics, 1500, r, { tag: 'q' });
  await drainReader(reader, published.length, 40000);
  assert.deepEqual(reader.errors, []);
  assert.equal(reader.gaps.length, 0);
  assert.ok(reader.connects >= 5, `only ${reader.connects} connections`);
  const byTopic = new Map(published.map((m) => [m.data, m.topic]));
  for (const topic of topics) {
    const exp = published.filter((m) => m.topic === topic).map((m) => m.data);
    const got = reader.events.map((e) => e.data).filter((d) => byTopic.get(d) === topic);
    assert.equal(diffSequences(exp, got, `topic ${topic}`), null);
  }
  assert.equal(reader.events.length, published.length, 'no unknown or duplicated events');
});

test('gap: a position trimmed out of history gets event: gap {"topics":[T]} before any message, then live', async (t) => {
  const server = await startServer(t, { args: ['--history-max-messages', '5'] });
  const topic = uniq('trim');
  const s = await subscribe(t, server.port, { topics: [topic] });
  const pre = await waitPreamble(s);
  s.close();
  const ids = [];
  for (let i = 0; i < 20; i++) ids.push(await publishOk(server.url, topic, `t${i}`));

  for (const how of ['header', 'since']) {
    const opt = how === 'header' ? { lastEventId: pre.id } : { since: pre.id };
    const r = await subscribe(t, server.port, { topics: [topic], ...opt });
    const first = await r.next();
    assert.equal(first.event, 'gap', `${how}: first event must be the gap, got ${JSON.stringify(first)}`);
    assert.deepEqual(JSON.parse(first.data), { topics: [topic] });
    const live = await publishOk(server.url, topic, `live-${how}`);
    await r.until((x) => x.events.some((e) => e.data === `live-${how}`), 3000, 'the live message after the gap');
    const after = r.events.slice(1);
    // Whatever comes after the gap: never a trimmed message, never twice, in seq order.
    const afterIds = after.map((e) => e.idField);
    assert.equal(new Set(afterIds).size, afterIds.length, 'a message arrived twice');
    for (const id of afterIds) assert.ok(!ids.slice(0, 15).includes(id), `trimmed message ${id} was delivered`);
    assert.equal(afterIds.at(-1), live);
    const seqs = afterIds.map((id) => parseTopicId(id).seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => (x < y ? -1 : 1)));
    assert.equal(r.events.filter((e) => e.event === 'gap').length, 1);
    r.close();
  }
});

test('no gap while the position is still in history (small history)', async (t) => {
  const server = await startServer(t, { args: ['--history-max-messages', '5'] });
  const topic = uniq('nogap');
  const s = await subscribe(t, server.port, { topics: [topic] });
  const pre = await waitPreamble(s);
  s.close();
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(await publishOk(server.url, topic, `n${i}`));
  const r = await subscribe(t, server.port, { topics: [topic], lastEventId: pre.id });
  const evs = await r.waitEvents(4);
  assert.deepEqual(evs.map((e) => e.idField), ids);
});

test('gap on a multi-topic stream names only the trimmed topic; the other resumes exactly', async (t) => {
  const server = await startServer(t, { args: ['--history-max-messages', '5'] });
  const A = uniq('gA');
  const B = uniq('gB');
  const s = await subscribe(t, server.port, { topics: [A, B] });
  const pre = await waitPreamble(s);
  s.close();
  for (let i = 0; i < 20; i++) await publishOk(server.url, A, `A${i}`);
  const b1 = await publishOk(server.url, B, 'B1');
  const b2 = await publishOk(server.url, B, 'B2');
  const r = await subscribe(t, server.port, { topics: [A, B], lastEventId: pre.id });
  await publishOk(server.url, A, 'A-live');
  await r.until((x) => x.events.some((e) => e.data === 'A-live'), 3000, 'the live A message');
  const gapIdx = r.events.findIndex((e) => e.event === 'gap');
  assert.ok(gapIdx >= 0, 'no gap event');
  assert.deepEqual(JSON.parse(r.events[gapIdx].data), { topics: [A] });
  const firstA = r.events.findIndex((e) => e.data.startsWith('A'));
  assert.ok(gapIdx < firstA, 'the gap must come before any message of the trimmed topic');
  assert.deepEqual(r.events.filter((e) => e.data.startsWith('B')).map((e) => e.data), ['B1', 'B2']);
  assert.equal(r.events.filter((e) => e.event === 'gap').length, 1);
  assert.ok(b1 && b2);
});

test('gap for a foreign epoch (since=1-5, another epoch) and malformed Last-Event-ID; malformed ?since= is 400', async (t) => {
  const server = await startServer(t);
  const topic = uniq('epoch');
  const id = await publishOk(server.url, topic, 'one');
  const { epoch } = parseTopicId(id);
  const foreign = [`${BigInt(epoch) + 1n}-1`];
  if (epoch !== '1') foreign.push('1-5');
  for (const since of foreign) {
    const s = await subscribe(t, server.port, { topics: [topic], since });
    const first = await s.next();
    assert.equal(first.event, 'gap', `since=${since}: expected gap first, got ${JSON.stringify(first)}`);
    assert.deepEqual(JSON.parse(first.data), { topics: [topic] });
    s.close();
  }
  for (const bad of ['garbage!!', '12-', 'x-1']) {
    const s = await subscribe(t, server.port, { topics: [topic], lastEventId: bad });
    const first = await s.next();
    assert.equal(first.event, 'gap', `Last-Event-ID ${bad}: expected gap, got ${JSON.stringify(first)}`);
    assert.deepEqual(JSON.parse(first.data), { topics: [topic] });
    const live = await publishOk(server.url, topic, `after-${bad}`);
    await s.until((x) => x.events.some((e) => e.idField === live), 3000, 'live after the gap');
    s.close();
  }
  const multi = await subscribe(t, server.port, { topics: [topic, uniq('other')], lastEventId: 'not a cursor' });
  const g = await multi.next();
  assert.equal(g.event, 'gap');
  assert.equal(JSON.parse(g.data).topics.length, 2, 'a malformed cursor loses every topic of the stream');

  for (const bad of ['abc', '12-', '-5', '1-x', '1-2-3']) {
    const res = await request(`${server.url}${eventsPath({ topics: [topic], since: bad })}`, { timeoutMs: 3000 });
    assert.equal(res.status, 400, `since=${bad} should be 400, got ${res.status}`);
  }
});

test('after a restart (new epoch) an old Last-Event-ID gets a gap, then live messages', async (t) => {
  const first = await startServer(t);
  const topic = uniq('restart');
  let oldId;
  for (let i = 0; i < 3; i++) oldId = await publishOk(first.url, topic, `old${i}`);
  const stopped = await first.stop('SIGTERM', 15000);
  assert.ok(!stopped.forced, 'the server did not exit on SIGTERM');
  const second = await startServer(t);
  const s = await subscribe(t, second.port, { topics: [topic], lastEventId: oldId });
  const newId = await publishOk(second.url, topic, 'new0');
  assert.notEqual(parseTopicId(newId).epoch, parseTopicId(oldId).epoch, 'an in-memory restart must change the epoch');
  const evs = await s.waitEvents(2);
  assert.equal(evs[0].event, 'gap');
  assert.deepEqual(JSON.parse(evs[0].data), { topics: [topic] });
  assert.deepEqual([evs[1].data, evs[1].idField], ['new0', newId]);
});
