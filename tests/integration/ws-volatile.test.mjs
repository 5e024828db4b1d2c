// Volatile messages: skip history, coalesced latest-wins per (sender, topic) at no more than
// volatile_hz per second, the last value always arrives, never echoed to the sender.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { publishOk } from '../support/http.mjs';
import { openWs, startWsServer, stopServer, identityOf } from '../support/ws-client.mjs';
import { uniq, sleep } from '../support/util.mjs';

const HZ = 30;
let server;
before(async () => {
  server = await startWsServer(null, ['--threads', '2', '--volatile-hz', String(HZ)]);
});
after(() => stopServer(server));

/** Largest number of arrivals within any window of `ms` milliseconds. */
function maxInWindow(times, ms = 1000) {
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < times.length; hi++) {
    while (times[hi] - times[lo] >= ms) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** Sends `n` volatile publishes spread over about `spanMs` (bursts every 50 ms); returns the values. */
async function flood(client, topic, n, spanMs, prefix = '') {
  const bursts = Math.max(1, Math.round(spanMs / 50));
  const per = Math.ceil(n / bursts);
  const values = [];
  for (let b = 0, i = 0; b < bursts && i < n; b++) {
    for (let k = 0; k < per && i < n; k++, i++) {
      const data = `${prefix}${i}`;
      client.send({ op: 'publish', topic, data, volatile: true });
      values.push(data);
    }
    await sleep(50);
  }
  return values;
}

test(`200 volatile publishes in 1 s arrive at <= ${HZ}/s (+1), in order, ending with the last value sent`, async (t) => {
  const topic = uniq('cursor');
  const sender = await openWs(t, server.port, { name: 'sender' });
  const receiver = await openWs(t, server.port, { name: 'receiver' });
  const me = await identityOf(sender, uniq('id'));
  await sender.ok({ op: 'subscribe', topic });
  await receiver.ok({ op: 'subscribe', topic });
  const t0 = Date.now();
  const sent = await flood(sender, topic, 200, 1000);
  const spanMs = Date.now() - t0;
  assert.equal(sent.length, 200);
  assert.ok(spanMs < 1500, `sending took ${spanMs} ms`);
  await receiver.until((c) => c.messages(topic).at(-1)?.data === sent.at(-1), 2000, 'the last value sent').catch(() => {});
  await sleep(200);
  const got = receiver.messages(topic);
  const times = got.map((m) => m.at);
  const peak = maxInWindow(times);
  t.diagnostic(`sent 200 in ${spanMs} ms; received ${got.length}, at most ${peak} within any second`);
  assert.equal(got.at(-1)?.data, sent.at(-1), `the last value received is ${got.at(-1)?.data}, not the last sent`);
  assert.ok(peak <= HZ + 1, `${peak} volatile messages within one second (volatile_hz ${HZ})`);
  assert.ok(got.length >= 15, `only ${got.length} of 200 arrived: coalescing must keep about ${HZ}/s, not starve`);
  const nums = got.map((m) => Number(m.data));
  for (let i = 1; i < nums.length; i++) assert.ok(nums[i] > nums[i - 1], `values went backwards: ${nums.slice(Math.max(0, i - 3), i + 2)}`);
  for (const m of got) assert.deepEqual(m, { op: 'message', topic, id: null, event: null, data: m.data, from: me });
  assert.deepEqual(sender.messages(topic), [], 'the sender got its own volatile messages');
});

test('pacing is per topic: one sender on two topics gets each topic its own rate and its own last value', async (t) => {
  const a = uniq('va');
  const b = uniq('vb');
  const sender = await openWs(t, server.port, { name: 'sender' });
  const receiver = await openWs(t, server.port, { name: 'receiver' });
  await receiver.ok({ op: 'subscribe', topic: a });
  await receiver.ok({ op: 'subscribe', topic: b });
  const [sa, sb] = await Promise.all([flood(sender, a, 150, 1000, 'a'), flood(sender, b, 150, 1000, 'b')]);
  await sleep(300);
  for (const [topic, sent] of [
    [a, sa],
    [b, sb],
  ]) {
    const got = receiver.messages(topic);
    const peak = maxInWindow(got.map((m) => m.at));
    t.diagnostic(`${topic}: ${got.length} received, peak ${peak}/s`);
    assert.equal(got.at(-1)?.data, sent.at(-1));
    assert.ok(peak <= HZ + 1, `${topic}: ${peak} within one second`);
    assert.ok(got.length >= 15, `${topic}: only ${got.length} arrived; topics must not share one budget`);
  }
});

test('pacing is per sender: two senders on one topic each get the full rate', async (t) => {
  const topic = uniq('vs');
  const s1 = await openWs(t, server.port, { name: 's1' });
  const s2 = await openWs(t, server.port, { name: 's2' });
  const receiver = await openWs(t, server.port, { name: 'receiver' });
  const [id1, id2] = [await identityOf(s1, uniq('id')), await identityOf(s2, uniq('id'))];
  await receiver.ok({ op: 'subscribe', topic });
  const [v1, v2] = await Promise.all([flood(s1, topic, 150, 1000, 'x'), flood(s2, topic, 150, 1000, 'y')]);
  await sleep(300);
  const got = receiver.messages(topic);
  const from1 = got.filter((m) => m.from === id1);
  const from2 = got.filter((m) => m.from === id2);
  t.diagnostic(`from s1 ${from1.length}, from s2 ${from2.length}`);
  assert.equal(from1.length + from2.length, got.length);
  assert.equal(from1.at(-1)?.data, v1.at(-1));
  assert.equal(from2.at(-1)?.data, v2.at(-1));
  for (const part of [from1, from2]) {
    assert.ok(maxInWindow(part.map((m) => m.at)) <= HZ + 1);
    assert.ok(part.length >= 15, `a sender got ${part.length}: senders must not share one budget`);
  }
  assert.ok(got.length > HZ + 1, `the topic as a whole carried only ${got.length}`);
});

test('a volatile message after a quiet period is sent at once, not held for a tick', async (t) => {
  const topic = uniq('vnow');
  const sender = await openWs(t, server.port, { name: 'sender' });
  const receiver = await openWs(t, server.port, { name: 'receiver' });
  await receiver.ok({ op: 'subscribe', topic });
  const lat = [];
  for (let i = 0; i < 5; i++) {
    await sleep(100); // longer than the 1/30 s period
    const t0 = Date.now();
    sender.send({ op: 'publish', topic, data: `q${i}`, volatile: true });
    await receiver.waitMsg((m) => m.op === 'message' && m.data === `q${i}`, { timeoutMs: 2000 });
    lat.push(Date.now() - t0);
  }
  t.diagnostic(`latencies ${lat.join(', ')} ms`);
  assert.deepEqual(receiver.messages(topic).map((m) => m.data), ['q0', 'q1', 'q2', 'q3', 'q4'], 'each spaced volatile message arrives, once');
  const median = [...lat].sort((a, b) => a - b)[2];
  assert.ok(median < 20, `median volatile latency after idle ${median} ms: held for a period (${Math.round(1000 / HZ)} ms)?`);
});

test('a sender at exactly volatile_hz (a cursor) with timer jitter loses nothing and is not held', async (t) => {
  const topic = uniq('vcursor');
  const sender = await openWs(t, server.port, { name: 'cursor' });
  const receiver = await openWs(t, server.port, { name: 'watcher' });
  await receiver.ok({ op: 'subscribe', topic });
  // 45 moves on a 1/HZ schedule; each is sent up to 8 ms early or late (about what a browser's
  // requestAnimationFrame and the network add), and the schedule itself never drifts.
  const period = 1000 / HZ;
  const start = performance.now() + 20;
  const sentAt = new Map();
  for (let i = 0; i < 45; i++) {
    const jitter = ((i * 7919) % 17) - 8; // deterministic, in [-8, 8] ms
    const due = start + i * period + jitter;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    sentAt.set(`c${i}`, performance.now());
    sender.send({ op: 'publish', topic, data: `c${i}`, volatile: true });
  }
  await receiver.waitMsg((m) => m.op === 'message' && m.data === 'c44', { timeoutMs: 3000 });
  const got = receiver.messages(topic).map((m) => m.data);
  assert.deepEqual(got, [...sentAt.keys()], 'a sender within the rate must not be coalesced');
});

test('stored messages interleaved with a volatile flood are all delivered, once, in order', async (t) => {
  const topic = uniq('mix');
  const sender = await openWs(t, server.port, { name: 'sender' });
  const receiver = await openWs(t, server.port, { name: 'receiver' });
  await receiver.ok({ op: 'subscribe', topic });
  const stored = [];
  for (let i = 0; i < 20; i++) {
    for (let k = 0; k < 5; k++) sender.send({ op: 'publish', topic, data: `v${i}.${k}`, volatile: true });
    stored.push((await sender.ok({ op: 'publish', topic, data: `s${i}` })).id);
    stored.push(await publishOk(server.url, topic, `h${i}`));
  }
  await receiver.until((c) => c.messages(topic).filter((m) => m.id).length >= 40, 5000, '40 stored messages');
  await sleep(200);
  const got = receiver.messages(topic);
  assert.deepEqual(got.filter((m) => m.id !== null).map((m) => m.id), stored);
  assert.equal(got.filter((m) => m.id === null).at(-1)?.data, 'v19.4', 'the last volatile value was lost');
});
