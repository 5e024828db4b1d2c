// Scale-out on Redis (docs/scaling.md): real redis-server, three real nodes, a real HAProxy
// round-robin balancer, subscribers that hop between nodes. The invariant every test checks:
// every acknowledged publish reaches every subscriber exactly once, in order, or that subscriber
// was told of a gap. No duplicates, ever.
import { test } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { request, publish, publishBatch } from '../support/http.mjs';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sleep, waitFor, uniq } from '../support/util.mjs';
import { startRedis, startNode, startBalancer, startFaultProxy, readyz, Ledger } from '../support/cluster.mjs';
import { SseRoamer, WsRoamer, publishAcked, settle } from '../support/roamers.mjs';

const enc = encodeURIComponent;

async function cluster(t, { nodes = 3, persistence = 'none', nodeArgs = [] } = {}) {
  const redis = await startRedis(t, { persistence });
  const list = [];
  for (let i = 0; i < nodes; i++) list.push(await startNode(t, redis.url, { name: `n${i + 1}`, args: nodeArgs }));
  await waitFor(async () => (await Promise.all(list.map((n) => readyz(n.url)))).every((s) => s === 200), {
    what: 'every node ready',
  });
  const lb = await startBalancer(t, list);
  await waitFor(async () => (await readyz(lb.url)) === 200, { what: 'the balancer to serve' });
  return { redis, nodes: list, lb };
}

test('3 nodes behind round-robin: publishes on random nodes, SSE and WS subscribers hopping nodes, every id once in order', async (t) => {
  const { nodes, lb } = await cluster(t);
  const topic = uniq('roam');
  const start = await publishAcked(nodes[0].url, topic, 'start');
  assert.ok(start);
  const ledgers = [];
  const roamers = [];
  for (let i = 0; i < 3; i++) {
    const l = new Ledger(`sse${i}`);
    const r = new SseRoamer(lb.url, topic, l);
    await r.open(start);
    ledgers.push(l);
    roamers.push(r);
  }
  for (let i = 0; i < 3; i++) {
    const l = new Ledger(`ws${i}`);
    const r = new WsRoamer(lb.port, topic, l);
    await r.open(start);
    ledgers.push(l);
    roamers.push(r);
  }
  t.after(() => roamers.forEach((r) => r.close()));

  const total = Number(process.env.CLUSTER_MESSAGES ?? 10000);
  const acked = [];
  let sent = 0;
  let hopping = true;
  const hops = (async () => {
    let n = 0;
    while (hopping) {
      await sleep(40 + Math.floor(Math.random() * 120));
      await roamers[n++ % roamers.length].hop();
    }
    return n;
  })();
  const worker = async () => {
    while (sent < total) {
      const i = sent++;
      const target = Math.random() < 0.5 ? lb.url : nodes[Math.floor(Math.random() * nodes.length)].url;
      const id = await publishAcked(target, topic, `m${i}`);
      assert.ok(id, `publish ${i} acknowledged`);
      acked.push(id);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  hopping = false;
  const hopCount = await hops;
  await settle(ledgers, acked);
  assert.ok(hopCount >= 10, `subscribers hopped (${hopCount})`);
  assert.equal(acked.length, total);
  // Every node served: the balancer spread the subscribers.
  assert.ok(roamers[0].opens > 1);
});

test('Idempotency-Key: a publish retried on another node after kill -9 is stored once', async (t) => {
  const { nodes } = await cluster(t, { nodes: 2 });
  const topic = uniq('idem');
  // In flight on node 1 when it dies: the client never learns whether it was stored.
  const inflight = publish(nodes[0].url, topic, 'once', { headers: { 'Idempotency-Key': 'k-1' } }).catch(() => null);
  await nodes[0].kill();
  await inflight;
  const first = await publishAcked(nodes[1].url, topic, 'once', { 'Idempotency-Key': 'k-1' });
  const again = await publishAcked(nodes[1].url, topic, 'once', { 'Idempotency-Key': 'k-1' });
  assert.ok(first);
  assert.equal(again, first, 'the retry answers the first id');
  const other = await publishAcked(nodes[1].url, topic, 'two', { 'Idempotency-Key': 'k-2' });
  assert.notEqual(other, first);
  const msgs = JSON.parse((await request(`${nodes[1].url}/v1/topics/${topic}/history`)).text).messages;
  assert.deepEqual(msgs.map((m) => m.data), ['once', 'two']);
  // A batch retried with the same key stores each of its messages once.
  const batch = [{ topic, data: 'b0' }, { topic, data: 'b1' }];
  const b1 = await request(`${nodes[1].url}/v1/publish`, { method: 'POST', body: JSON.stringify({ messages: batch }), headers: { 'content-type': 'application/json', 'Idempotency-Key': 'batch-1' } });
  const b2 = await request(`${nodes[1].url}/v1/publish`, { method: 'POST', body: JSON.stringify({ messages: batch }), headers: { 'content-type': 'application/json', 'Idempotency-Key': 'batch-1' } });
  assert.equal(b1.status, 200);
  assert.deepEqual(JSON.parse(b2.text).ids, JSON.parse(b1.text).ids);
  const all = JSON.parse((await request(`${nodes[1].url}/v1/topics/${topic}/history`)).text).messages;
  assert.deepEqual(all.map((m) => m.data), ['once', 'two', 'b0', 'b1']);
  // A bad key is refused, and the node still serves.
  const bad = await publish(nodes[1].url, topic, 'x', { headers: { 'Idempotency-Key': 'a b' } });
  assert.equal(bad.status, 400);
  assert.ok(await publishAcked(nodes[1].url, topic, 'after'));
});

test('kill -9 a node mid-stream: its subscribers resume on the others, nothing lost or doubled', async (t) => {
  const { nodes, lb } = await cluster(t);
  const topic = uniq('kill');
  const start = await publishAcked(nodes[1].url, topic, 'start');
  // Subscribers pinned to node 1 at first; they come back through the balancer.
  const sseLedger = new Ledger('sse-on-n1');
  const es = new EventSource(`${nodes[0].url}/v1/events?topic=${enc(topic)}&since=${start}`);
  let reopened = null;
  es.onmessage = (e) => sseLedger.saw(e.lastEventId);
  es.addEventListener('gap', () => sseLedger.gap());
  await new Promise((resolve) => { es.onopen = resolve; });
  const wsLedger = new Ledger('ws-on-n1');
  const ws = new WsRoamer(nodes[0].port, topic, wsLedger);
  await ws.open(start);
  ws.port = lb.port; // its reconnects go through the balancer
  t.after(() => { es.close(); reopened?.close(); ws.close(); });

  const acked = [];
  for (let i = 0; i < 300; i++) {
    if (i === 100) {
      await nodes[0].kill();
      es.close();
      // EventSource would retry the dead address: a browser behind a balancer reconnects to the balancer.
      reopened = new EventSource(`${lb.url}/v1/events?topic=${enc(topic)}&since=${sseLedger.last}`);
      reopened.onmessage = (e) => sseLedger.saw(e.lastEventId);
      reopened.addEventListener('gap', () => sseLedger.gap());
    }
    const id = await publishAcked(nodes[1 + (i % 2)].url, topic, `m${i}`);
    assert.ok(id);
    acked.push(id);
  }
  await settle([sseLedger, wsLedger], acked);
});

test('SIGTERM drains a node: its subscribers reconnect through the balancer (EventSource retry, Last-Event-ID) and miss nothing', async (t) => {
  const { nodes, lb } = await cluster(t);
  const topic = uniq('drain');
  const start = await publishAcked(nodes[1].url, topic, 'start');
  // Three subscribers through the round-robin balancer: one lands on each node.
  const ledgers = [];
  const sources = [];
  let reconnects = 0;
  for (let i = 0; i < 3; i++) {
    const l = new Ledger(`sse${i}`);
    const es = new EventSource(`${lb.url}/v1/events?topic=${enc(topic)}&since=${start}`);
    es.onmessage = (e) => l.saw(e.lastEventId);
    es.addEventListener('gap', () => l.gap());
    await new Promise((resolve) => { es.onopen = resolve; });
    es.onerror = () => { reconnects += 1; };
    ledgers.push(l);
    sources.push(es);
  }
  t.after(() => sources.forEach((es) => es.close()));
  const acked = [];
  for (let i = 0; i < 200; i++) {
    if (i === 50) {
      const res = await nodes[0].stop('SIGTERM', 10000);
      assert.equal(res.code, 0, 'the drained node exits cleanly');
    }
    acked.push(await publishAcked(nodes[1 + (i % 2)].url, topic, `m${i}`));
  }
  await settle(ledgers, acked);
  assert.ok(reconnects >= 1, 'the drained node\'s subscriber reconnected');
});

for (const persistence of ['none', 'always']) {
  test(`Redis restarted with persistence ${persistence === 'none' ? 'off: a gap, nothing silent' : 'appendonly + fsync always: no gap, nothing lost'}`, async (t) => {
    const { redis, nodes } = await cluster(t, { nodes: 2, persistence });
    const topic = uniq(`restart-${persistence}`);
    const ledger = new Ledger('sse');
    const sub = new SseRoamer(nodes[0].url, topic, ledger);
    const start = await publishAcked(nodes[1].url, topic, 'start');
    await sub.open(start);
    t.after(() => sub.close());
    const acked = [];
    for (let i = 0; i < 20; i++) acked.push(await publishAcked(nodes[1].url, topic, `a${i}`));
    await waitFor(() => ledger.ids.length === 20, { what: 'the first 20' });
    await redis.restart();
    await waitFor(async () => (await readyz(nodes[1].url)) === 200 && (await readyz(nodes[0].url)) === 200, {
      timeoutMs: 10000,
      what: 'both nodes ready again',
    });
    const after = [];
    for (let i = 0; i < 20; i++) after.push(await publishAcked(nodes[1].url, topic, `b${i}`));
    assert.ok(after.every(Boolean));
    // A new subscriber resuming from before the restart, on the other node.
    const late = new Ledger('late');
    const lateSub = new SseRoamer(nodes[1].url, topic, late);
    await lateSub.open(acked[9]);
    t.after(() => lateSub.close());
    const epochOf = (id) => id.split('-')[0];
    if (persistence === 'none') {
      assert.notEqual(epochOf(after[0]), epochOf(acked[0]), 'a Redis that lost its data is a new epoch');
      await waitFor(() => ledger.gaps > 0 && after.every((id) => ledger.ids.includes(id)), { what: 'the gap, then the new epoch' });
      await waitFor(() => late.gaps > 0, { what: 'the late subscriber told of a gap' });
      ledger.check([...acked, ...after], { allowGap: true });
    } else {
      assert.equal(epochOf(after[0]), epochOf(acked[0]), 'lossless persistence keeps the epoch');
      await settle([ledger], [...acked, ...after]);
      await settle([late], [...acked.slice(10), ...after]);
    }
  });
}

test('CLIENT KILL TYPE pubsub: nodes resubscribe and repair what they missed from history', async (t) => {
  const { redis, nodes } = await cluster(t, { nodes: 2 });
  const topic = uniq('pubsub-kill');
  const start = await publishAcked(nodes[1].url, topic, 'start');
  const ledgers = [new Ledger('sse-n1'), new Ledger('sse-n2')];
  const subs = [new SseRoamer(nodes[0].url, topic, ledgers[0]), new SseRoamer(nodes[1].url, topic, ledgers[1])];
  for (const s of subs) await s.open(start);
  t.after(() => subs.forEach((s) => s.close()));
  const acked = [];
  for (let round = 0; round < 3; round++) {
    redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    // Published while the nodes' subscriptions are gone: only history has these.
    for (let i = 0; i < 30; i++) acked.push(await publishAcked(nodes[i % 2].url, topic, `r${round}-${i}`));
  }
  await settle(ledgers, acked);
  const metrics = (await request(`${nodes[0].url}/metrics`)).text;
  assert.match(metrics, /switchboard_redis_reconnects_total [1-9]/);
});

test('TCP faults between a node and Redis: publishes fail fast, /readyz 503, delivery recovers', async (t) => {
  const redis = await startRedis(t);
  const proxy = await startFaultProxy(t, redis.port);
  const faulty = await startNode(t, `redis://127.0.0.1:${proxy.port}/0`, { name: 'faulty', timeoutMs: 1000, args: ['--log-level', 'debug'] });
  const healthy = await startNode(t, redis.url, { name: 'healthy' });
  await waitFor(async () => (await readyz(faulty.url)) === 200 && (await readyz(healthy.url)) === 200, { what: 'both ready' });
  const topic = uniq('fault');
  const start = await publishAcked(healthy.url, topic, 'start');
  const ledger = new Ledger('on-faulty');
  const sub = new SseRoamer(faulty.url, topic, ledger);
  await sub.open(start);
  let raw = '';
  const http = await import('node:http');
  const rawReq = http.get(`${faulty.url}/v1/events?topic=${topic}&since=${start}`, (res) => res.on('data', (d) => { raw += d; }));
  t.after(() => rawReq.destroy());
  // Attached for sure (its preamble is sent once the node has read history) before any fault.
  const warm = await publishAcked(healthy.url, topic, 'warm');
  await waitFor(() => ledger.ids.includes(warm) && raw.includes(warm), { what: 'the subscribers attached' });
  t.after(() => sub.close());
  const acked = [warm];

  // 200 ms each way: slower, but within redis_timeout_ms: publishes succeed.
  proxy.set('delay');
  const t0 = Date.now();
  acked.push(await publishAcked(faulty.url, topic, 'delayed'));
  assert.ok(acked[0], 'a delayed publish is acknowledged');
  assert.ok(Date.now() - t0 >= 350, 'it took the delay');
  proxy.set('pass');

  for (const mode of ['blackhole', 'reset']) {
    proxy.set(mode);
    // Some publish notices (the blackhole: the command deadline), then every one fails at once.
    const began = Date.now();
    let status = 0;
    let retryAfter;
    while (Date.now() - began < 5000) {
      const r = await publish(faulty.url, topic, `lost-${mode}`, {}).catch(() => ({ status: 0 }));
      status = r.status;
      retryAfter = r.headers?.['retry-after'];
      if (status === 503) break;
      if (r.status === 201) acked.push(r.body.id);
    }
    assert.equal(status, 503, `${mode}: publish refused`);
    assert.equal(retryAfter, '1');
    assert.ok(Date.now() - began < 3000, `${mode}: noticed within the timeout (${Date.now() - began} ms)`);
    const q0 = Date.now();
    const again = await publish(faulty.url, topic, 'fast', {});
    assert.equal(again.status, 503);
    assert.ok(Date.now() - q0 < 200, `${mode}: fails fast once known down`);
    assert.equal(await readyz(faulty.url), 503);
    // Meanwhile the healthy node publishes: the faulty node's subscriber must get these later.
    for (let i = 0; i < 10; i++) acked.push(await publishAcked(healthy.url, topic, `${mode}-${i}`));
    proxy.set('pass');
    await waitFor(async () => (await readyz(faulty.url)) === 200, { timeoutMs: 8000, what: `${mode}: ready again` });
    acked.push(await publishAcked(faulty.url, topic, `${mode}-back`));
  }
  await settle([ledger], acked.filter(Boolean)).catch((e) => {
    throw new Error(`${e.message} opens ${sub.opens} errors ${sub.errors}\nreceived ${ledger.ids.join(' ')}\nacked ${acked.join(' ')}\nRAW ${raw.slice(0, 600)}\n${faulty.stdout.slice(-6000)}${faulty.stderr.slice(-3000)}`);
  });
  assert.equal(faulty.running, true);
});

test('a resume that cannot read history (Redis blackholed) is told to come back, not of a gap, and then resumes exactly', async (t) => {
  const redis = await startRedis(t);
  const proxy = await startFaultProxy(t, redis.port);
  const faulty = await startNode(t, `redis://127.0.0.1:${proxy.port}/0`, { name: 'faulty', timeoutMs: 500 });
  const healthy = await startNode(t, redis.url, { name: 'healthy' });
  await waitFor(async () => (await readyz(faulty.url)) === 200 && (await readyz(healthy.url)) === 200, { what: 'both ready' });
  const topic = uniq('unavail');
  const from = await publishAcked(healthy.url, topic, 'before');
  const missed = [];
  for (let i = 0; i < 3; i++) missed.push(await publishAcked(healthy.url, topic, `m${i}`));
  proxy.set('blackhole');
  const http = await import('node:http');
  // SSE: 200 (the head is out), then only a retry: field, and the end: no id, no gap.
  const sse = await new Promise((resolve, reject) => {
    const req = http.get(`${faulty.url}/v1/events?topic=${topic}`, { headers: { 'Last-Event-ID': from } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      req.setTimeout(10000, () => req.destroy(new Error(`the stream did not end: ${JSON.stringify(body)}`)));
    });
    req.on('error', reject);
  });
  assert.equal(sse.status, 200);
  assert.match(sse.body, /^retry: \d+\n\n$/, `the body of an unavailable resume: ${JSON.stringify(sse.body)}`);
  // WebSocket: a subscribe with since is closed with 1013 (try again later).
  const closed = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${faulty.port}/v1/ws`, ['switchboard.v1']);
    ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', topic, since: from, ref: 's' })));
    ws.on('message', (d) => {
      const m = JSON.parse(String(d));
      if (m.op === 'gap' || m.op === 'message') reject(new Error(`got ${m.op} while history was unreadable`));
    });
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
    ws.on('error', reject);
  });
  assert.equal(closed.code, 1013, `close ${closed.code} ${closed.reason}`);
  proxy.set('pass');
  await waitFor(async () => (await readyz(faulty.url)) === 200, { timeoutMs: 8000, what: 'ready again' });
  // The same Last-Event-ID now resumes exactly: the three missed messages, no gap.
  const ledger = new Ledger('after');
  const sub = new SseRoamer(faulty.url, topic, ledger);
  await sub.open(from);
  t.after(() => sub.close());
  await settle([ledger], missed);
  assert.equal(ledger.gaps, 0);
  const metrics = (await request(`${faulty.url}/metrics`)).text;
  assert.match(metrics, /switchboard_streams_ended_total\{transport="sse",reason="unavailable"\} 1$/m);
  assert.match(metrics, /switchboard_streams_ended_total\{transport="ws",reason="unavailable"\} 1$/m);
});

test('history trimmed past a node\'s position while it could not hear Redis: its live subscribers are told of a gap, then get what history still holds', async (t) => {
  const redis = await startRedis(t);
  const proxy = await startFaultProxy(t, redis.port);
  const keep = ['--history-max-messages', '5'];
  const faulty = await startNode(t, `redis://127.0.0.1:${proxy.port}/0`, { name: 'faulty', timeoutMs: 500, args: keep });
  const healthy = await startNode(t, redis.url, { name: 'healthy', args: keep });
  await waitFor(async () => (await readyz(faulty.url)) === 200 && (await readyz(healthy.url)) === 200, { what: 'both ready' });
  const topic = uniq('trimmed');
  const start = await publishAcked(healthy.url, topic, 'start');
  const http = await import('node:http');
  let raw = '';
  const sseReq = http.get(`${faulty.url}/v1/events?topic=${topic}`, { headers: { 'Last-Event-ID': start } }, (res) => res.on('data', (d) => { raw += d; }));
  t.after(() => sseReq.destroy());
  const frames = [];
  const ws = new WebSocket(`ws://127.0.0.1:${faulty.port}/v1/ws`, ['switchboard.v1']);
  ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', topic, since: start, ref: 's' })));
  ws.on('message', (d) => frames.push(JSON.parse(String(d))));
  t.after(() => ws.terminate());
  const warm = await publishAcked(healthy.url, topic, 'warm');
  await waitFor(() => raw.includes(`id: ${warm}\n`) && frames.some((f) => f.id === warm), { what: 'both subscribers attached' });

  proxy.set('blackhole');
  await waitFor(async () => (await readyz(faulty.url)) === 503, { timeoutMs: 5000, what: 'the faulty node to notice' });
  // Twelve messages while the faulty node hears nothing; history keeps only the last five.
  const during = [];
  for (let i = 0; i < 12; i++) during.push(await publishAcked(healthy.url, topic, `d${i}`));
  proxy.set('pass');
  await waitFor(async () => (await readyz(faulty.url)) === 200, { timeoutMs: 8000, what: 'ready again' });
  const after = await publishAcked(healthy.url, topic, 'after');
  await waitFor(() => raw.includes(`id: ${after}\n`) && frames.some((f) => f.id === after), { timeoutMs: 8000, what: 'the message after the hole' });

  // History kept the last five (the node may repair after `after` trimmed one more): what
  // follows the gap is a contiguous tail of what was published, ending with `after`.
  const published = [...during, after];
  const expectTail = (ids, what) => {
    assert.equal(ids[0], warm, what);
    assert.equal(ids[1], 'gap', what);
    const tail = ids.slice(2);
    assert.ok(tail.length >= 5 && tail.length <= 6, `${what}: ${tail.length} after the gap`);
    assert.deepEqual(tail, published.slice(published.length - tail.length), what);
  };
  // SSE: warm, then a gap naming the topic, then what history kept, then the live message.
  const events = raw.split('\n\n').filter((e) => /^(data|event): /m.test(e)).map((e) => ({
    event: /^event: (.*)$/m.exec(e)?.[1] ?? 'message', id: /^id: (.*)$/m.exec(e)?.[1], data: /^data: (.*)$/m.exec(e)?.[1],
  }));
  const fromWarm = events.slice(events.findIndex((e) => e.id === warm));
  expectTail(fromWarm.map((e) => (e.event === 'gap' ? 'gap' : e.id)), raw);
  assert.deepEqual(JSON.parse(fromWarm[1].data).topics, [topic]);
  // WebSocket: the same, as {"op":"gap"}.
  const wsFrom = frames.slice(frames.findIndex((f) => f.id === warm)).filter((f) => f.op === 'gap' || f.op === 'message');
  expectTail(wsFrom.map((f) => (f.op === 'gap' ? 'gap' : f.id)), JSON.stringify(frames));
});

test('a long backlog is read from Redis in pages: a resume 701 messages behind gets every one, in order, from three reads', async (t) => {
  const { redis, nodes } = await cluster(t, { nodes: 1 });
  const topic = uniq('backlog');
  const from = await publishAcked(nodes[0].url, topic, 'from');
  const res = await publishBatch(nodes[0].url, Array.from({ length: 700 }, (_, i) => ({ topic, data: `b${i}` })));
  assert.equal(res.status, 200, res.text);
  const ids = res.body.ids;
  // A live subscriber keeps the node subscribed to the topic, so what is counted below is the
  // resume's reads alone (the first attach of a topic on a node also loads its presence room).
  const warmLedger = new Ledger('warm');
  const warm = new SseRoamer(nodes[0].url, topic, warmLedger);
  await warm.open(ids.at(-1));
  t.after(() => warm.close());
  // Its stream opens before its attach has read history: one live message proves it attached.
  const extra = await publishAcked(nodes[0].url, topic, 'extra');
  ids.push(extra);
  await waitFor(() => warmLedger.ids.includes(extra), { what: 'the warm subscriber attached' });
  const before = evalshaCalls(redis);
  const http = await import('node:http');
  let raw = '';
  const req = http.get(`${nodes[0].url}/v1/events?topic=${topic}`, { headers: { 'Last-Event-ID': from } }, (r) => r.on('data', (d) => { raw += d; }));
  t.after(() => req.destroy());
  await waitFor(() => raw.includes(`id: ${ids.at(-1)}\n`), { what: 'the whole backlog' });
  const got = [...raw.matchAll(/^id: (.*)\ndata: (.*)$/gm)].map((m) => m[1]);
  assert.deepEqual(got, ids, 'every message after the position, once, in order');
  // 256 a page: 256 + 256 + 189.
  assert.equal(evalshaCalls(redis) - before, 3, 'three history reads');
});

/** How many EVALSHA calls Redis has run (INFO commandstats). */
function evalshaCalls(redis) {
  const line = redis.cli('INFO', 'commandstats').split('\n').find((l) => l.startsWith('cmdstat_evalsha:'));
  return line ? Number(/calls=(\d+)/.exec(line)[1]) : 0;
}

test('a batch stores each topic\'s messages with one script call per run: consecutive ids in request order, every one delivered once', async (t) => {
  const { redis, nodes } = await cluster(t, { nodes: 2 });
  const [a, b] = [uniq('run-a'), uniq('run-b')];
  const startA = await publishAcked(nodes[0].url, a, 'start');
  const ledger = new Ledger('run-sub');
  const sub = new SseRoamer(nodes[1].url, a, ledger);
  await sub.open(startA);
  t.after(() => sub.close());
  const calls = () => evalshaCalls(redis);
  const before = calls();
  // 100 messages of `a` interleaved with 20 of `b`, one retained: two script calls in all.
  const messages = [];
  for (let i = 0; i < 120; i++) {
    messages.push(i % 6 === 5 ? { topic: b, data: `b${i}` } : { topic: a, data: `a${i}`, ...(i === 97 ? { retain: true } : {}) });
  }
  const res = await publishBatch(nodes[0].url, messages);
  assert.equal(res.status, 200, res.text);
  assert.equal(calls() - before, 2, 'one EVALSHA per topic run');
  const ids = res.body.ids;
  assert.equal(ids.length, 120);
  const idsA = ids.filter((_, i) => messages[i].topic === a);
  const idsB = ids.filter((_, i) => messages[i].topic === b);
  const seqs = (list) => list.map((id) => Number(id.split('-')[1]));
  const epochA = startA.split('-')[0];
  assert.ok(idsA.every((id) => id.startsWith(`${epochA}-`)), 'the same epoch as the first publish');
  assert.deepEqual(seqs(idsA), Array.from({ length: 100 }, (_, k) => 2 + k), 'a: consecutive seqs after start, in request order');
  assert.deepEqual(seqs(idsB), Array.from({ length: 20 }, (_, k) => 1 + k), 'b: 1..20');
  await settle([ledger], idsA);
  assert.deepEqual(ledger.ids.slice(-100), idsA, 'delivered once each, in order');
  const h = JSON.parse((await request(`${nodes[1].url}/v1/topics/${a}/history?limit=1000`)).text);
  assert.deepEqual(h.messages.slice(-100).map((m) => m.data), messages.filter((m) => m.topic === a).map((m) => m.data));
  // The retained message is the batch's retained one (a97), not its last.
  const fresh = await new Promise((resolve, reject) => {
    const es = new EventSource(`${nodes[1].url}/v1/events?topic=${a}`);
    es.onmessage = (e) => { es.close(); resolve(e.data); };
    es.onerror = () => {};
    setTimeout(() => { es.close(); reject(new Error('no retained message')); }, 5000);
  });
  assert.equal(fresh, 'a97');
  // A keyed message in the middle splits the run and keeps its place in the order.
  const keyed = await request(`${nodes[0].url}/v1/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': 'k1' },
    body: JSON.stringify({ messages: [{ topic: b, data: 'x0' }, { topic: b, data: 'x1' }, { topic: b, data: 'x2' }] }),
  });
  assert.equal(keyed.status, 200, keyed.text);
  assert.deepEqual(seqs(JSON.parse(keyed.text).ids), [21, 22, 23]);
});

test('publishes arriving together on several connections share script calls: every one answered with its own id, seqs contiguous, a repeated Idempotency-Key stored once, delivered once in order', async (t) => {
  const { redis, nodes } = await cluster(t, { nodes: 2 });
  const [a, b] = [uniq('group-a'), uniq('group-b')];
  const startA = await publishAcked(nodes[0].url, a, 'start');
  const ledger = new Ledger('group-sub');
  const sub = new SseRoamer(nodes[1].url, a, ledger);
  await sub.open(startA);
  t.after(() => sub.close());
  const calls = () => evalshaCalls(redis);
  const { port } = new URL(nodes[0].url);
  // One POST per connection, all written in the same tick: the node reads many of them in one
  // loop turn, which goes to Redis as one hand-off.
  const burst = async (requests) => {
    const socks = await Promise.all(requests.map(() => new Promise((resolve, reject) => {
      const s = net.connect(Number(port), '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    })));
    t.after(() => socks.forEach((s) => s.destroy()));
    const answers = socks.map((s) => new Promise((resolve, reject) => {
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString('utf8');
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length >= end + 4 + len) {
          resolve({ status: Number(buf.split(' ')[1]), body: JSON.parse(buf.slice(end + 4, end + 4 + len)) });
          s.end();
        }
      });
      s.on('error', reject);
    }));
    requests.forEach((r, i) => {
      const key = r.key ? `idempotency-key: ${r.key}\r\n` : '';
      socks[i].write(`POST /v1/topics/${r.topic} HTTP/1.1\r\nhost: x\r\ncontent-length: ${r.data.length}\r\n${key}\r\n${r.data}`);
    });
    return Promise.all(answers);
  };
  const seqs = (list) => list.map((id) => Number(id.split('-')[1]));
  const acked = [];
  let next = { a: 2, b: 1 };
  let shared = 0;
  for (let round = 0; round < 5; round++) {
    const requests = [];
    for (let i = 0; i < 40; i++) {
      if (i % 5 === 4) requests.push({ topic: b, data: `b${round}-${i}` });
      else requests.push({ topic: a, data: `a${round}-${i}`, ...(i === 10 || i === 30 ? { key: `k${round}` } : {}) });
    }
    const before = calls();
    const answers = await burst(requests);
    const used = calls() - before;
    assert.ok(answers.every((r) => r.status === 201), JSON.stringify(answers.find((r) => r.status !== 201)));
    const ids = answers.map((r) => r.body.id);
    // The second publish with the round's key answers the first one's id and stores nothing.
    assert.equal(ids[30], ids[10], 'a repeated Idempotency-Key answers the first id');
    const idsA = [...new Set(ids.filter((_, i) => requests[i].topic === a))];
    const idsB = ids.filter((_, i) => requests[i].topic === b);
    assert.equal(idsA.length, 31, 'a: one id per message stored');
    assert.deepEqual(seqs(idsA).sort((x, y) => x - y), Array.from({ length: 31 }, (_, k) => next.a + k), 'a: contiguous seqs');
    assert.deepEqual(seqs(idsB).sort((x, y) => x - y), Array.from({ length: 8 }, (_, k) => next.b + k), 'b: contiguous seqs');
    next = { a: next.a + 31, b: next.b + 8 };
    acked.push(...idsA);
    assert.ok(used <= 40, `at most one script call per publish (${used})`);
    if (used < 40) shared++;
  }
  assert.ok(shared > 0, 'publishes read in one turn shared a script call at least once');
  await settle([ledger], acked);
  ledger.check(acked);
  assert.deepEqual(seqs(ledger.ids.filter((id) => acked.includes(id))), seqs(acked).sort((x, y) => x - y), 'delivered once each, in seq order');
});

test('subscribers arriving together share history reads: fresh ones one read per turn, resumes one per position; each gets exactly its messages', async (t) => {
  const { redis, nodes } = await cluster(t, { nodes: 1 });
  const topic = uniq('storm');
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(await publishAcked(nodes[0].url, topic, `m${i}`));
  const calls = () => evalshaCalls(redis);
  const { port } = new URL(nodes[0].url);
  // Events with data from a raw SSE response (HTTP/1.1, no chunking: the stream ends with the
  // connection).
  const events = (text) => text.split('\n\n').filter((e) => /^data: /m.test(e)).map((e) => ({
    id: /^id: (.*)$/m.exec(e)?.[1], data: /^data: (.*)$/m.exec(e)?.[1],
  }));
  const perRound = 60;
  let fewest = Infinity;
  for (let round = 0; round < 4; round++) {
    const socks = await Promise.all(Array.from({ length: perRound }, () => new Promise((resolve, reject) => {
      const s = net.connect(Number(port), '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    })));
    t.after(() => socks.forEach((s) => s.destroy()));
    const bufs = socks.map(() => '');
    socks.forEach((s, i) => s.on('data', (d) => { bufs[i] += d.toString('utf8'); }));
    const before = calls();
    // Even: fresh subscribers; odd: resuming from the second message.
    socks.forEach((s, i) => s.write(`GET /v1/events?topic=${topic} HTTP/1.1\r\nhost: x\r\n${i % 2 ? `last-event-id: ${ids[1]}\r\n` : ''}\r\n`));
    await waitFor(() => bufs.every((b) => b.includes('\n\n')), { what: 'every stream to open' });
    fewest = Math.min(fewest, calls() - before);
    const next = await publishAcked(nodes[0].url, topic, `r${round}`);
    ids.push(next);
    await waitFor(() => bufs.every((b) => b.includes(`id: ${next}\n`)), { what: `every subscriber to get ${next}` });
    bufs.forEach((b, i) => {
      assert.match(b, /^HTTP\/1\.1 200 /, `stream ${i}`);
      const got = events(b).map((e) => e.id);
      // A resume gets every message after its position, then the new one; a fresh one the new one.
      const want = i % 2 ? ids.slice(2) : [next];
      assert.deepEqual(got, want, `round ${round} stream ${i} (${i % 2 ? 'resuming' : 'fresh'})`);
    });
    socks.forEach((s) => s.destroy());
  }
  // Before this change every subscriber made its own read (60 a round); together they need one per
  // position per loop turn. The requests of a round may spread over a few turns, so allow some.
  t.diagnostic(`fewest history reads in a round of ${perRound}: ${fewest}`);
  assert.ok(fewest <= 12, `history reads for ${perRound} subscribers arriving together: ${fewest}`);
});

test('redis_cluster = true refuses a database other than 0 or a unix socket (a cluster has neither)', async (t) => {
  const { startServer } = await import('../support/server.mjs');
  for (const url of ['redis://127.0.0.1:6379/2', 'unix:///tmp/redis.sock']) {
    await assert.rejects(startServer(null, { args: ['--broker', 'redis', '--redis-cluster', '--redis-url', url] }), /redis_cluster = true needs redis_url = redis:\/\//);
  }
});

test('broker = memory honours Idempotency-Key too', async (t) => {
  const { startServer } = await import('../support/server.mjs');
  const s = await startServer(t);
  const topic = uniq('mem-idem');
  const a = await publishAcked(s.url, topic, 'x', { 'Idempotency-Key': 'same' });
  const b = await publishAcked(s.url, topic, 'x', { 'Idempotency-Key': 'same' });
  const c = await publishAcked(s.url, topic, 'y');
  assert.equal(a, b);
  assert.notEqual(c, a);
  const h = JSON.parse((await request(`${s.url}/v1/topics/${topic}/history`)).text);
  assert.deepEqual(h.messages.map((m) => m.data), ['x', 'y']);
});

test('batch, streaming and WebSocket publishes go through Redis; volatile messages cross nodes; metrics', async (t) => {
  const { nodes } = await cluster(t, { nodes: 2 });
  const topic = uniq('kinds');
  const start = await publishAcked(nodes[0].url, topic, 'start');
  const ledger = new Ledger('sse-n2');
  const sub = new SseRoamer(nodes[1].url, topic, ledger);
  await sub.open(start);
  t.after(() => sub.close());
  const acked = [];
  const batch = await publishBatch(nodes[0].url, [{ topic, data: 'b1' }, { topic, data: 'b2' }]);
  assert.equal(batch.status, 200);
  acked.push(...batch.body.ids);
  const streamed = await request(`${nodes[0].url}/v1/topics/${topic}/stream`, {
    method: 'POST',
    body: 'data: s1\n\ndata: s2\n\n',
    headers: { 'content-type': 'text/event-stream' },
  });
  assert.equal(streamed.status, 200);
  const last = JSON.parse(streamed.text);
  assert.equal(last.published, 2);
  // A WebSocket publisher on node 1 (stored, with idem twice) and a WebSocket listener on node 2.
  const pub = new WebSocket(`ws://127.0.0.1:${nodes[0].port}/v1/ws`, ['switchboard.v1']);
  const listen = new WebSocket(`ws://127.0.0.1:${nodes[1].port}/v1/ws`, ['switchboard.v1']);
  t.after(() => { pub.close(); listen.close(); });
  const replies = [];
  const heard = [];
  pub.on('message', (d) => replies.push(JSON.parse(d.toString())));
  listen.on('message', (d) => heard.push(JSON.parse(d.toString())));
  await Promise.all([new Promise((r) => pub.once('open', r)), new Promise((r) => listen.once('open', r))]);
  listen.send(JSON.stringify({ op: 'subscribe', topic, ref: 's' }));
  await waitFor(() => heard.some((m) => m.op === 'ack' && m.ref === 's'), { what: 'the WS subscription' });
  await sleep(100);
  pub.send(JSON.stringify({ op: 'publish', topic, data: 'w1', idem: 'w-1', ref: 'p1' }));
  pub.send(JSON.stringify({ op: 'publish', topic, data: 'w1', idem: 'w-1', ref: 'p2' }));
  pub.send(JSON.stringify({ op: 'publish', topic, data: 'cursor', volatile: true, ref: 'v' }));
  await waitFor(() => replies.filter((m) => m.op === 'ack').length === 3, { what: 'three acks' });
  const ids = replies.filter((m) => m.op === 'ack' && m.id).map((m) => m.id);
  assert.equal(ids.length, 2);
  assert.equal(ids[0], ids[1], 'the same idem is stored once');
  acked.push(ids[0]);
  await waitFor(() => heard.some((m) => m.op === 'message' && m.data === 'cursor' && m.id === null), {
    what: 'the volatile message on the other node',
  });
  await settle([ledger], acked);
  assert.ok(ledger.ids.includes(last.last_id), 'the streamed messages arrived');
  assert.equal(ledger.ids.filter((id) => id === ids[0]).length, 1);
  const bad = await new Promise((resolve) => {
    pub.send(JSON.stringify({ op: 'publish', topic, data: 'x', idem: 'has space', ref: 'bad' }));
    const check = () => replies.find((m) => m.ref === 'bad');
    waitFor(check, { what: 'the refusal' }).then(resolve);
  });
  assert.equal(bad.op, 'error');
  const metrics = (await request(`${nodes[1].url}/metrics`)).text;
  for (const name of ['switchboard_redis_roundtrip_seconds_count', 'switchboard_redis_pubsub_lag_seconds_count', 'switchboard_redis_resume_reads_total']) {
    const m = new RegExp(`^${name} (\\d+)`, 'm').exec(metrics);
    assert.ok(m && Number(m[1]) > 0, `${name} counts`);
  }
  assert.match(metrics, /^switchboard_redis_up 1$/m);
});

test('AUTH from redis_password_file over a unix socket with SELECT; a wrong password keeps the node unready', async (t) => {
  const redis = await startRedis(t, { password: 'pa ss:word', unixSocket: true });
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-pass-'));
  const file = path.join(dir, 'password');
  writeFileSync(file, 'pa ss:word\n');
  const good = await startNode(t, `unix://${redis.socket}?db=3`, { name: 'unix', args: ['--redis-password-file', file] });
  await waitFor(async () => (await readyz(good.url)) === 200, { what: 'ready over the unix socket' });
  const topic = uniq('auth');
  assert.ok(await publishAcked(good.url, topic, 'x'));
  assert.equal(redis.cli('-n', '3', 'EXISTS', `sb:{${topic}}:m`).trim(), '1', 'the keys are in database 3');
  assert.equal(redis.cli('-n', '0', 'EXISTS', `sb:{${topic}}:m`).trim(), '0');
  const wrong = await startNode(t, `redis://nope@127.0.0.1:${redis.port}/0`, { name: 'wrong' });
  await sleep(600);
  assert.equal(await readyz(wrong.url), 503);
  const r = await publish(wrong.url, topic, 'y');
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.ok(await publishAcked(good.url, topic, 'z'), 'the good node still serves');
});
