// Scale-out on a Redis Cluster (redis_cluster = true, docs/scaling.md "Redis Cluster"): three real
// masters on loopback joined with redis-cli --cluster create, real nodes on them, HAProxy in front.
// The invariant of cluster.test.mjs holds here too: every acknowledged publish reaches every
// subscriber that stayed subscribed exactly once, in order per topic, or that subscriber was told of
// a gap. No duplicates, ever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publish, request } from '../support/http.mjs';
import { subscribe, openSse } from '../support/sse.mjs';
import { sleep, waitFor, uniq } from '../support/util.mjs';
import { startNode, startBalancer, readyz, Ledger } from '../support/cluster.mjs';
import { startRedisCluster } from '../support/redis-cluster.mjs';
import { SseRoamer, WsRoamer, publishAcked, settle } from '../support/roamers.mjs';

const epochOf = (id) => id.split('-')[0];

/** Nodes on the cluster, node i seeded with master i % 3 (any master will do as redis_url). */
async function nodesOn(t, cluster, count, args = []) {
  const nodes = [];
  for (let i = 0; i < count; i++) {
    const seed = cluster.masters[i % cluster.masters.length];
    nodes.push(await startNode(t, `redis://127.0.0.1:${seed.port}/0`, { name: `c${i + 1}`, args: ['--redis-cluster', ...args] }));
  }
  await waitFor(async () => (await Promise.all(nodes.map((n) => readyz(n.url)))).every((s) => s === 200), {
    timeoutMs: 10000,
    what: 'every node ready on the cluster',
  });
  return nodes;
}

/** `perMaster` new topics for each master, found by asking the cluster where their keys live. */
function topicsOnEveryMaster(cluster, prefix, perMaster) {
  const byMaster = cluster.masters.map(() => []);
  for (let i = 0; i < 1000 && byMaster.some((l) => l.length < perMaster); i++) {
    const topic = uniq(prefix);
    const owner = cluster.ownerOf(cluster.keyslot(`sb:{${topic}}:m`));
    if (byMaster[owner].length < perMaster) byMaster[owner].push(topic);
  }
  assert.ok(byMaster.every((l) => l.length === perMaster), 'topics for every master');
  return byMaster;
}

/** A publish as a careful client makes it: with an Idempotency-Key, retried on 503. */
async function publishRetried(base, topic, data, key) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const r = await publish(base, topic, data, { headers: { 'Idempotency-Key': key } }).catch(() => ({ status: 0 }));
    if (r.status === 201) return { id: r.body.id, attempts: attempt + 1 };
    assert.ok(r.status === 503 || r.status === 0, `publish ${key}: ${r.status}`);
    await sleep(50);
  }
  throw new Error(`publish ${key} never acknowledged`);
}

test('Redis Cluster, 3 masters: topics on every master, publishes on random nodes, SSE and WS subscribers hopping nodes, resume on another node', async (t) => {
  const cluster = await startRedisCluster(t);
  const nodes = await nodesOn(t, cluster, 3);
  const lb = await startBalancer(t, nodes);
  await waitFor(async () => (await readyz(lb.url)) === 200, { what: 'the balancer to serve' });
  const byMaster = topicsOnEveryMaster(cluster, 'rc', 2);
  const topics = byMaster.flat();
  // The keyslots the test relies on are Redis's own: our CRC16 agrees (each topic's keys are where
  // the cluster says, checked below after the publishes).
  const subs = [];
  const ledgers = new Map();
  const acked = new Map(topics.map((tp) => [tp, []]));
  for (const topic of topics) {
    const start = await publishAcked(nodes[0].url, topic, 'start');
    assert.ok(start, `the first publish to ${topic}`);
    const ls = [new Ledger(`sse:${topic}`), new Ledger(`ws:${topic}`)];
    const sse = new SseRoamer(lb.url, topic, ls[0]);
    const ws = new WsRoamer(lb.port, topic, ls[1]);
    await sse.open(start);
    await ws.open(start);
    subs.push(sse, ws);
    ledgers.set(topic, ls);
  }
  t.after(() => subs.forEach((s) => s.close()));

  const total = Number(process.env.CLUSTER_MESSAGES ?? 3000);
  let sent = 0;
  let hopping = true;
  const hops = (async () => {
    let n = 0;
    while (hopping) {
      await sleep(40 + Math.floor(Math.random() * 120));
      await subs[Math.floor(Math.random() * subs.length)].hop();
      n += 1;
    }
    return n;
  })();
  const worker = async () => {
    while (sent < total) {
      const i = sent++;
      const topic = topics[i % topics.length];
      const target = Math.random() < 0.5 ? lb.url : nodes[Math.floor(Math.random() * nodes.length)].url;
      const id = await publishAcked(target, topic, `m${i}`);
      assert.ok(id, `publish ${i} to ${topic} acknowledged`);
      acked.get(topic).push(id);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  hopping = false;
  const hopCount = await hops;
  for (const topic of topics) await settle(ledgers.get(topic), acked.get(topic));
  assert.ok(hopCount >= 10, `subscribers hopped (${hopCount})`);

  // Each topic's keys are on the master that owns its slot, and every master holds some.
  byMaster.forEach((list, i) => {
    for (const topic of list) {
      assert.equal(cluster.masters[i].cli('EXISTS', `sb:{${topic}}:m`, `sb:{${topic}}:h`), '2', `${topic} on master ${i}`);
    }
  });

  // Resume with Last-Event-ID on a node that never served this subscriber: exactly what follows.
  const topic = topics[topics.length - 1];
  const ids = acked.get(topic);
  const from = ids[ids.length - 6];
  for (const node of nodes) {
    const s = await subscribe(t, node.port, { topics: [topic], lastEventId: from });
    await s.until((x) => x.events.filter((e) => e.event !== 'gap').length >= 5, 5000, 'the five after the position');
    assert.deepEqual(s.events.map((e) => e.id), ids.slice(-5), `resume on ${node.url}`);
    s.close();
  }
  // History pages come from the slot's master through any node.
  const page = JSON.parse((await request(`${nodes[2].url}/v1/topics/${topic}/history?since=${from}`)).text);
  assert.deepEqual(page.messages.map((m) => m.id), ids.slice(-5));
  // Our slot of each topic is Redis's: no command was ever redirected.
  for (const node of nodes) {
    const metrics = (await request(`${node.url}/metrics`)).text;
    assert.match(metrics, /^switchboard_redis_up 1$/m);
    for (const kind of ['moved', 'ask', 'tryagain']) {
      assert.match(metrics, new RegExp(`^switchboard_redis_redirects_total\\{kind="${kind}"\\} 0$`, 'm'), `${kind} on ${node.url}`);
    }
  }
});

test('Redis Cluster: a slot moved to another master mid-stream (ASK, TRYAGAIN, MOVED): publishes keep working, the epoch continues, nothing lost', async (t) => {
  const cluster = await startRedisCluster(t);
  // Nodes 3 and 4 have no subscriber of the topic: nothing tells them of the move but a MOVED
  // answer (to a publish on node 3, to an SSUBSCRIBE on node 4).
  const [n1, n2, n3, n4] = await nodesOn(t, cluster, 4);
  const nodes = [n1, n2];
  const [[topic], [other]] = topicsOnEveryMaster(cluster, 'mv', 1);
  const slot = cluster.keyslot(`sb:{${topic}}:m`);
  assert.equal(cluster.ownerOf(slot), 0);
  const start = (await publishRetried(nodes[0].url, topic, 'start', 'start')).id;
  const ledgers = [new Ledger('sse-n1'), new Ledger('ws-n2'), new Ledger('sse-n2')];
  const subs = [new SseRoamer(nodes[0].url, topic, ledgers[0]), new WsRoamer(nodes[1].port, topic, ledgers[1]),
    new SseRoamer(nodes[1].url, topic, ledgers[2])];
  for (const s of subs) await s.open(start);
  t.after(() => subs.forEach((s) => s.close()));

  const acked = [];
  let moving = null;
  let retries = 0;
  for (let i = 0; i < 400; i++) {
    if (i === 150) moving = cluster.moveSlot(slot, 1, { pauseMs: 40 });
    const r = await publishRetried(nodes[i % 2].url, topic, `m${i}`, `k${i}`);
    retries += r.attempts - 1;
    acked.push(r.id);
    if (i % 3 === 0) assert.ok(await publishAcked(nodes[(i + 1) % 2].url, other, `o${i}`), 'a topic of another master is not disturbed');
    if (moving && i > 150 && i % 10 === 0) await sleep(5);
  }
  await moving;
  assert.equal(cluster.ownerOf(slot), 1, 'the slot moved');
  assert.equal(cluster.masters[1].cli('EXISTS', `sb:{${topic}}:m`, `sb:{${topic}}:h`), '2', 'the keys moved with it');
  assert.equal(cluster.masters[0].cli('CLUSTER', 'COUNTKEYSINSLOT', String(slot)), '0', 'none left behind');
  // After the move, publishes go straight to the new owner (the nodes followed MOVED).
  const movedOn = async (n) => Number(/^switchboard_redis_redirects_total\{kind="moved"\} (\d+)/m.exec((await request(`${n.url}/metrics`)).text)[1]);
  assert.equal(await movedOn(n3), 0);
  const third = await publish(n3.url, topic, 'via-n3');
  assert.equal(third.status, 201, 'a node with an old map follows MOVED at once');
  acked.push(third.body.id);
  assert.equal(await movedOn(n3), 1, 'one MOVED, then the new map');
  for (let i = 0; i < 50; i++) acked.push((await publishRetried([n1, n2, n3][i % 3].url, topic, `after${i}`, `a${i}`)).id);
  assert.equal(await movedOn(n3), 1);
  assert.equal(await movedOn(n4), 0);
  const resumed = new Ledger('n4-after-move');
  const onN4 = new SseRoamer(n4.url, topic, resumed);
  await onN4.open(acked[100]);
  t.after(() => onN4.close());
  await settle([resumed], acked.slice(101));
  assert.equal(await movedOn(n4), 1, 'the SSUBSCRIBE on the old master was redirected');
  assert.equal(new Set(acked).size, acked.length, 'every publish stored once');
  assert.ok(acked.every((id) => epochOf(id) === epochOf(start)), `a resharding keeps the epoch (vouched by the master it came from): ${start} ${acked.filter((id, i) => i === 0 || epochOf(id) !== epochOf(acked[i - 1])).join(' ')}`);
  await settle(ledgers, acked);
  // A resume on either node after the move reads from the new master.
  const late = new Ledger('late');
  const lateSub = new SseRoamer(nodes[1].url, topic, late);
  await lateSub.open(acked[100]);
  t.after(() => lateSub.close());
  await settle([late], acked.slice(101));
  t.diagnostic(`publishes retried during the move: ${retries}`);
  // The nodes met the move as Redis announces it: ASK or TRYAGAIN while it ran, MOVED after, and
  // the topic's channel followed the slot.
  const sum = (re) => (texts) => texts.reduce((n, text) => n + Number(re.exec(text)?.[1] ?? 0), 0);
  const texts = await Promise.all(nodes.map(async (n) => (await request(`${n.url}/metrics`)).text));
  const moved = sum(/^switchboard_redis_redirects_total\{kind="moved"\} (\d+)/m)(texts);
  const during = sum(/^switchboard_redis_redirects_total\{kind="ask"\} (\d+)/m)(texts) + sum(/^switchboard_redis_redirects_total\{kind="tryagain"\} (\d+)/m)(texts);
  const channels = sum(/^switchboard_redis_channel_moves_total (\d+)/m)(texts);
  t.diagnostic(`moved ${moved}, ask + tryagain ${during}, channel moves ${channels}`);
  assert.ok(during > 0, 'ASK or TRYAGAIN were followed during the move');
  assert.ok(channels >= nodes.length, 'each node with subscribers moved its subscription');
});

test('Redis Cluster: /readyz is 503 while a master is unreachable; its topics answer 503 at once, the node serves on; a master restarted empty is a new epoch (a gap)', async (t) => {
  const cluster = await startRedisCluster(t);
  const nodes = await nodesOn(t, cluster, 2);
  const [[lost], [kept]] = topicsOnEveryMaster(cluster, 'rd', 1);
  const before = await publishAcked(nodes[0].url, lost, 'before');
  assert.ok(before);
  const ledger = new Ledger('sse-lost');
  const sub = new SseRoamer(nodes[1].url, lost, ledger);
  await sub.open(before);
  t.after(() => sub.close());
  const one = await publishAcked(nodes[0].url, lost, 'one');
  await waitFor(() => ledger.ids.includes(one), { what: 'the subscriber attached' });

  await cluster.kill(0);
  await waitFor(async () => (await Promise.all(nodes.map((n) => readyz(n.url)))).every((s) => s === 503), {
    timeoutMs: 5000,
    what: 'every node unready without master 0',
  });
  const t0 = Date.now();
  const r = await publish(nodes[1].url, lost, 'x');
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.ok(Date.now() - t0 < 1000, `refused fast (${Date.now() - t0} ms)`);
  assert.equal((await request(`${nodes[1].url}/healthz`)).status, 200, 'the node lives');

  await cluster.restart(0);
  await waitFor(async () => (await Promise.all(nodes.map((n) => readyz(n.url)))).every((s) => s === 200), {
    timeoutMs: 15000,
    what: 'every node ready once master 0 is back',
  });
  const after = await publishAcked(nodes[0].url, lost, 'after');
  assert.ok(after);
  assert.notEqual(epochOf(after), epochOf(before), 'a master that lost its data is a new epoch');
  await waitFor(() => ledger.gaps > 0 && ledger.ids.includes(after), { timeoutMs: 8000, what: 'the gap, then the new epoch' });
  ledger.check([before, one, after].slice(1), { allowGap: true });
  assert.ok(await publishAcked(nodes[1].url, kept, 'kept'), 'the other masters serve as before');
});

test('redis_cluster = true against a Redis without cluster support: unready, publishes 503, said once in the log', async (t) => {
  const { startRedis } = await import('../support/cluster.mjs');
  const redis = await startRedis(t);
  const node = await startNode(t, redis.url, { name: 'nocluster', args: ['--redis-cluster'] });
  await sleep(1500);
  assert.equal(await readyz(node.url), 503);
  const r = await publish(node.url, uniq('nc'), 'x');
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.equal((await request(`${node.url}/healthz`)).status, 200);
  const said = (node.stdout + node.stderr).match(/CLUSTER SLOTS on .* failed/g) ?? [];
  assert.equal(said.length, 1, 'the refusal is logged once, not at every retry');
});

test('Redis Cluster with replicas: a master killed, its replica promoted: nodes ready again, its topics start a new epoch (a gap), the other masters\' topics keep theirs', async (t) => {
  const cluster = await startRedisCluster(t, { replicas: 1 });
  const nodes = await nodesOn(t, cluster, 2);
  const [, [lost], [kept]] = topicsOnEveryMaster(cluster, 'fo', 1);
  const slot = cluster.keyslot(`sb:{${lost}}:m`);
  const start = await publishAcked(nodes[0].url, lost, 'start');
  const keptBefore = await publishAcked(nodes[0].url, kept, 'kept-before');
  const ledgers = [new Ledger('sse-n1'), new Ledger('ws-n2')];
  const subs = [new SseRoamer(nodes[0].url, lost, ledgers[0]), new WsRoamer(nodes[1].port, lost, ledgers[1])];
  for (const s of subs) await s.open(start);
  t.after(() => subs.forEach((s) => s.close()));
  const acked = [];
  for (let i = 0; i < 20; i++) acked.push(await publishAcked(nodes[i % 2].url, lost, `b${i}`));
  await settle(ledgers, acked);

  const old = cluster.serverOf(slot);
  assert.equal(old, cluster.masters[1]);
  await cluster.killServer(old);
  await waitFor(() => { const s = cluster.serverOf(slot); return s && s !== old; }, {
    timeoutMs: 20000,
    intervalMs: 200,
    what: 'the replica promoted',
  });
  await waitFor(async () => (await Promise.all(nodes.map((n) => readyz(n.url)))).every((s) => s === 200), {
    timeoutMs: 10000,
    what: 'every node ready on the new master',
  });
  const after = [];
  for (let i = 0; i < 20; i++) after.push((await publishRetried(nodes[i % 2].url, lost, `a${i}`, `fo-${i}`)).id);
  assert.notEqual(epochOf(after[0]), epochOf(start), 'a promoted replica may have missed writes: a new epoch');
  assert.ok(after.every((id) => epochOf(id) === epochOf(after[0])));
  await waitFor(() => ledgers.every((l) => l.gaps > 0 && after.every((id) => l.ids.includes(id))), {
    timeoutMs: 10000,
    what: 'the gap, then the new epoch, on both subscribers',
  });
  for (const l of ledgers) l.check([...acked, ...after], { allowGap: true });
  const keptAfter = await publishAcked(nodes[1].url, kept, 'kept-after');
  assert.equal(epochOf(keptAfter), epochOf(keptBefore), 'a master that did not fail keeps its topics\' epochs');
});

test('Redis Cluster: a subscribe ticket minted on one node is redeemed once on another, wherever its key lives', async (t) => {
  const KEY = 'sk_redis_cluster_tickets_0123456789';
  const cluster = await startRedisCluster(t);
  const nodes = await nodesOn(t, cluster, 2, ['--api-keys', KEY]);
  const auth = { authorization: `Bearer ${KEY}` };
  const seen = new Set();
  // Tickets until their keys have landed on every master (at least 12; a key's slot is random), so
  // most commands reach a master other than the node's seed: routed by slot or redirected (MOVED).
  for (let i = 0; i < 60 && (i < 12 || seen.size < 3); i++) {
    const topic = uniq('rct');
    const minted = await request(`${nodes[i % 2].url}/v1/tickets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ subject: 'alice', topics: [topic] }),
    });
    assert.equal(minted.status, 201, `mint ${i}: ${minted.status} ${minted.text}`);
    const { ticket } = JSON.parse(minted.text);
    const owners = cluster.masters.map((m) => m.cli('--scan', '--pattern', 'sb:ticket:*').split('\n').filter(Boolean));
    const holder = owners.findIndex((keys) => keys.length > 0);
    assert.ok(holder >= 0, 'the ticket key is on a master');
    seen.add(holder);
    const other = nodes[(i + 1) % 2];
    const s = await openSse(other.port, { topics: [topic], query: { ticket } });
    assert.equal(s.status, 200, `redeem ${i} on the other node: ${s.status}`);
    s.close();
    assert.equal(cluster.masters.reduce((n, m) => n + m.cli('--scan', '--pattern', 'sb:ticket:*').split('\n').filter(Boolean).length, 0), 0, 'redeemed: no key left');
    const again = await openSse(nodes[i % 2].port, { topics: [topic], query: { ticket } });
    assert.equal(again.status, 401, `a second redeem of ticket ${i}: ${again.status}`);
    again.close();
  }
  assert.equal(seen.size, 3, `the tickets' keys lived on ${seen.size} of 3 masters`);
});

test('Redis Cluster: presence crosses nodes for rooms on every master, and a killed node\'s members leave', async (t) => {
  const { openWs, presenceView } = await import('../support/ws-client.mjs');
  const cluster = await startRedisCluster(t);
  const nodes = await nodesOn(t, cluster, 2, ['--presence-ttl-s', '3', '--presence-tick-ms', '50']);
  const rooms = topicsOnEveryMaster(cluster, 'rcp', 1).flat();
  const ids = (client, topic) => [...(presenceView(client, topic) ?? new Map()).keys()].sort();
  const a = await openWs(t, nodes[0].port, { name: 'a@c1' });
  const b = await openWs(t, nodes[1].port, { name: 'b@c2' });
  for (const room of rooms) {
    await a.ok({ op: 'presence.join', topic: room, state: { who: 'a' } });
    await b.ok({ op: 'presence.join', topic: room, state: { who: 'b' } });
  }
  // Each sees both members in every room (its own join's snapshot, then the other node's diff).
  for (const room of rooms) {
    for (const client of [a, b]) {
      await client.until(() => ids(client, room).length === 2, 4000, `${client.name}: two members of ${room}`);
      const names = [...presenceView(client, room).values()].map((s) => s.who).sort();
      assert.deepEqual(names, ['a', 'b'], `${client.name} in ${room}`);
    }
  }
  const bIds = new Map(rooms.map((room) => [room, ids(a, room).find((id) => id.endsWith('@c2'))]));
  assert.ok([...bIds.values()].every(Boolean), 'b is c<N>@c2 on node c1');
  // Node c2 dies without a word: its member leaves every room on c1 within presence_ttl_s.
  const killedAt = Date.now();
  await nodes[1].kill(); // SIGKILL
  for (const room of rooms) {
    await a.until(() => ids(a, room).length === 1, 5000, `b's leave of ${room}`);
    assert.ok(!ids(a, room).includes(bIds.get(room)));
  }
  assert.ok(Date.now() - killedAt < 4500, `left ${Date.now() - killedAt} ms after the kill`);
});
