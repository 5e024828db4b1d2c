// Restart with history_dir: a single node that is stopped (SIGTERM) or killed (SIGKILL, under
// history_fsync = always) and started again on the same port and directory keeps every topic's
// epoch and seq, its history and its retained message, so SSE clients that resume with
// Last-Event-ID get exactly what they missed and never `event: gap`. Without history_dir a
// restart is a new epoch and every resuming client is told so with a gap (the documented default).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer } from '../support/server.mjs';
import { publishOk, publish, parseTopicId } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { uniq, rng, testSeed } from '../support/util.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';
import { openWs } from '../support/ws-client.mjs';

const seed = testSeed();

function tempDir(t) {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-restart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The stream's last event id after everything it received (the preamble's when no message came). */
function lastId(stream) {
  const b = stream.blocks[stream.blocks.length - 1];
  return b ? b.id : undefined;
}

function messages(stream) {
  return stream.events.filter((e) => e.event === 'message');
}

function gaps(stream) {
  return stream.events.filter((e) => e.event === 'gap');
}

async function subscribeAll(port, specs) {
  const out = [];
  for (const spec of specs) {
    const s = await openSse(port, { topics: spec.topics, lastEventId: spec.lastEventId, timeoutMs: 5000 });
    assert.equal(s.status, 200, `subscribe ${spec.topics} answered ${s.status}`);
    await waitPreamble(s);
    out.push(s);
  }
  return out;
}

/**
 * Publishes `count` messages round-robin over `topics`, recording {topic, data, id} per topic.
 * `afterEach(i)` may close a subscriber between publishes.
 */
async function publishSome(base, topics, sent, count, tag, afterEach = async () => {}) {
  for (let i = 0; i < count; i++) {
    const topic = topics[i % topics.length];
    const data = `${tag}-${topic}-${sent[topic].length}`;
    const id = await publishOk(base, topic, data);
    sent[topic].push({ data, id });
    await afterEach(i);
  }
}

/** What a client of `topics` that has received `got` data strings so far is still owed, in order per topic. */
function owed(sent, topics, got) {
  const out = {};
  for (const topic of topics) {
    const have = new Set(got);
    out[topic] = sent[topic].filter((m) => !have.has(m.data)).map((m) => m.data);
  }
  return out;
}

function byTopic(datas, topics) {
  const out = {};
  for (const topic of topics) out[topic] = datas.filter((d) => d.includes(`-${topic}-`));
  return out;
}

async function restartCycle(t, { signal, fsync }) {
  const r = rng(seed);
  const dir = tempDir(t);
  const args = ['--history-dir', dir, '--threads', '2', '--history-max-messages', '100000', '--history-max-bytes', String(1 << 30), ...(fsync ? ['--history-fsync', fsync] : [])];
  const first = await startServer(t, { args });
  const a = uniq('restart/a');
  const b = uniq('restart/b');
  const kept = uniq('restart/kept');
  const topics = [a, b];
  const sent = { [a]: [], [b]: [] };
  const perPhase = soak(120, 4000);
  const clientCount = soak(6, 60);

  await publishOk(first.url, kept, 'the retained value', { retain: true });
  // Clients on one topic and on both (an opaque multi-topic cursor), each leaving at its own point.
  const specs = Array.from({ length: clientCount }, (_, k) => ({ topics: k % 3 === 2 ? topics : [topics[k % 2]] }));
  const clients = await subscribeAll(first.port, specs);
  const leaveAt = clients.map(() => r.int(0, perPhase));
  const leftEarly = new Set();
  await publishSome(first.url, topics, sent, perPhase, 'before', async (i) => {
    for (let k = 0; k < clients.length; k++) {
      if (leaveAt[k] === i && !leftEarly.has(k)) {
        // Leave once everything published so far for this client has arrived: a known position.
        const want = specs[k].topics.reduce((n, topic) => n + sent[topic].length, 0);
        await clients[k].until((s) => messages(s).length >= want, 5000, `client ${k} to catch up`);
        clients[k].close();
        leftEarly.add(k);
      }
    }
  });
  // Those still connected see everything before the restart.
  for (let k = 0; k < clients.length; k++) {
    if (leftEarly.has(k)) continue;
    const want = specs[k].topics.reduce((n, topic) => n + sent[topic].length, 0);
    await clients[k].until((s) => messages(s).length >= want, 5000, `client ${k} to receive phase one`);
  }
  const lastBefore = parseTopicId(sent[a].at(-1).id);
  const countBefore = sent[a].length;

  const stopped = await first.stop(signal);
  if (signal === 'SIGTERM') {
    assert.equal(stopped.code, 0, `SIGTERM exit: ${JSON.stringify(stopped)}\n${first.stderr.slice(-2000)}`);
  }
  for (const c of clients) c.close();

  const second = await startServer(t, { args, port: first.port });
  assert.match(second.stdout + second.stderr, /kept from the last run/);
  // Published while every client is away: all of it is owed to everyone.
  await publishSome(second.url, topics, sent, perPhase, 'after');
  const firstAfter = parseTopicId(sent[a][countBefore].id);
  assert.equal(firstAfter.epoch, lastBefore.epoch, 'the topic keeps its epoch across the restart');
  assert.equal(firstAfter.seq, lastBefore.seq + 1n, 'and its seq goes on where it stopped');

  const resumed = await subscribeAll(
    second.port,
    specs.map((spec, k) => ({ topics: spec.topics, lastEventId: lastId(clients[k]) })),
  );
  for (let k = 0; k < resumed.length; k++) {
    const got = messages(clients[k]).map((e) => e.data);
    const expected = owed(sent, specs[k].topics, got);
    const total = Object.values(expected).reduce((n, l) => n + l.length, 0);
    await resumed[k].until((s) => messages(s).length >= total || gaps(s).length > 0, 5000, `client ${k} to resume`);
    assert.deepEqual(gaps(resumed[k]).map((e) => e.data), [], `client ${k} must not be told of a gap`);
    const now = messages(resumed[k]).map((e) => e.data);
    assert.deepEqual(byTopic(now, specs[k].topics), expected, `client ${k} gets exactly what it missed`);
    if (specs[k].topics.length === 1) {
      const ids = messages(resumed[k]).map((e) => e.id);
      const topic = specs[k].topics[0];
      assert.deepEqual(ids, sent[topic].slice(sent[topic].length - ids.length).map((m) => m.id), `client ${k} ids`);
    }
    resumed[k].close();
  }

  // The retained value survives: a new subscriber without a position gets it first.
  const fresh = await openSse(second.port, { topics: [kept] });
  await fresh.until((s) => messages(s).length >= 1, 3000, 'the retained message');
  assert.equal(messages(fresh)[0].data, 'the retained value');
  fresh.close();

  // And the server still serves another client normally.
  const again = await publish(second.url, a, 'still here');
  assert.equal(again.status, 201);
  return { first, second, sent, topics };
}

test('SIGTERM and restart on the same history_dir: resume with no gap, exactly the missed ids', { timeout: soakTimeout(60_000, 900_000) }, async (t) => {
  await restartCycle(t, { signal: 'SIGTERM' });
});

test('SIGKILL under history_fsync = always: every acknowledged publish is there after the restart', { timeout: soakTimeout(60_000, 900_000) }, async (t) => {
  await restartCycle(t, { signal: 'SIGKILL', fsync: 'always' });
});

test('SIGKILL under always while publishers are mid-flight: no acknowledged message is lost', { timeout: soakTimeout(60_000, 900_000) }, async (t) => {
  const dir = tempDir(t);
  const args = ['--history-dir', dir, '--history-fsync', 'always', '--threads', '2', '--history-max-messages', '100000', '--history-max-bytes', String(1 << 30)];
  const first = await startServer(t, { args });
  const topic = uniq('restart/kill');
  const acked = [];
  const target = soak(300, 20000);
  let stop = false;
  // Several keep-alive publishers at once, so acknowledgements share a sync (group commit).
  const publisher = async (w) => {
    for (let i = 0; !stop; i++) {
      let res;
      try {
        res = await publish(first.url, topic, `w${w}-${i}`);
      } catch {
        return; // the server was killed under this request: not acknowledged, nothing promised
      }
      if (res.status !== 201) return;
      acked.push({ data: `w${w}-${i}`, id: res.body.id });
      if (acked.length >= target && !stop) {
        stop = true;
        first.signal('SIGKILL');
      }
    }
  };
  await Promise.all([0, 1, 2, 3].map(publisher));
  await first.exited;

  const second = await startServer(t, { args, port: first.port });
  const ids = new Map(acked.map((m) => [m.id, m.data]));
  const seqs = acked.map((m) => parseTopicId(m.id).seq).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  // Resume from before the first acknowledged message: everything acknowledged must come back.
  const from = `${parseTopicId(acked[0].id).epoch}-${seqs[0] - 1n}`;
  const s = await openSse(second.port, { topics: [topic], lastEventId: from });
  await s.until((x) => messages(x).length >= acked.length || gaps(x).length > 0, 5000, 'the replay');
  assert.deepEqual(gaps(s).map((e) => e.data), []);
  const got = new Map(messages(s).map((e) => [e.id, e.data]));
  const missing = [...ids.keys()].filter((id) => got.get(id) !== ids.get(id));
  assert.deepEqual(missing, [], 'acknowledged publishes missing after SIGKILL');
  s.close();
  const next = await publishOk(second.url, topic, 'after');
  const last = [...got.keys()].map((id) => parseTopicId(id).seq).reduce((x, y) => (x > y ? x : y));
  assert.equal(parseTopicId(next).seq, last + 1n, 'seq goes on after what was kept');
});

test('without history_dir a restart is a new epoch: resuming clients get a gap', { timeout: 30_000 }, async (t) => {
  const first = await startServer(t, { args: ['--threads', '2'] });
  const topic = uniq('restart/memory');
  await publishOk(first.url, topic, 'one');
  const s = await openSse(first.port, { topics: [topic], since: undefined });
  await waitPreamble(s);
  const id = await publishOk(first.url, topic, 'two');
  await s.until((x) => messages(x).length >= 1, 3000, 'a message');
  assert.equal(lastId(s), id);
  await first.stop('SIGTERM');
  s.close();
  const second = await startServer(t, { args: ['--threads', '2'], port: first.port });
  const r = await openSse(second.port, { topics: [topic], lastEventId: id });
  await r.until((x) => gaps(x).length > 0, 3000, 'the gap');
  assert.deepEqual(JSON.parse(gaps(r)[0].data).topics, [topic]);
  r.close();
});

test('a damaged history_dir stops the start with a message naming it; another server keeps serving', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const args = ['--history-dir', dir, '--threads', '1'];
  const first = await startServer(t, { args });
  const topic = uniq('restart/damaged');
  await publishOk(first.url, topic, 'one');
  await first.stop('SIGTERM');
  writeFileSync(path.join(dir, 'CURRENT'), 'garbage\n');
  await assert.rejects(startServer(null, { args, port: first.port }), (err) => {
    assert.match(err.message, /history_dir .*cannot open the history store/);
    return true;
  });
  // Moved aside, the directory starts empty: a new epoch, and resuming clients are told of a gap.
  rmSync(dir, { recursive: true, force: true });
  const second = await startServer(t, { args, port: first.port });
  const id = await publishOk(second.url, topic, 'two');
  assert.equal(parseTopicId(id).seq, 1n);
});

test('SIGKILL under always: every WebSocket publish that was acked is there after the restart', { timeout: soakTimeout(60_000, 900_000) }, async (t) => {
  const dir = tempDir(t);
  const args = ['--history-dir', dir, '--history-fsync', 'always', '--threads', '2', '--history-max-messages', '100000',
    '--history-max-bytes', String(1 << 30), '--ws-publish-rate', '1000000', '--ws-publish-burst', '1000000'];
  const first = await startServer(t, { args });
  const topic = uniq('restart/ws');
  const target = soak(200, 10000);
  const acked = [];
  let stop = false;
  const clients = await Promise.all([0, 1, 2].map((k) => openWs(null, first.port, { name: `pub${k}` })));
  const publisher = async (c, k) => {
    for (let i = 0; !stop; i++) {
      let r;
      try {
        r = await c.call({ op: 'publish', topic, data: `ws${k}-${i}` }, { timeoutMs: 3000 });
      } catch {
        return; // killed under this publish: never acked, nothing promised
      }
      if (r.op !== 'ack') return;
      acked.push({ id: r.id, data: `ws${k}-${i}` });
      if (acked.length >= target && !stop) {
        stop = true;
        first.signal('SIGKILL');
      }
    }
  };
  await Promise.all(clients.map(publisher));
  await first.exited;
  for (const c of clients) c.terminate();

  const second = await startServer(t, { args, port: first.port });
  const seqs = acked.map((m) => parseTopicId(m.id).seq).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const s = await openSse(second.port, { topics: [topic], lastEventId: `${parseTopicId(acked[0].id).epoch}-${seqs[0] - 1n}` });
  await s.until((x) => messages(x).length >= acked.length || gaps(x).length > 0, 5000, 'the replay');
  assert.deepEqual(gaps(s).map((e) => e.data), []);
  const got = new Map(messages(s).map((e) => [e.id, e.data]));
  assert.deepEqual(acked.filter((m) => got.get(m.id) !== m.data), [], 'acked WebSocket publishes missing after SIGKILL');
  s.close();
});
