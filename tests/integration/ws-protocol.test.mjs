// switchboard.v1 operations over a real WebSocket: subscribe / unsubscribe / publish (stored and
// volatile) / ping, the exact frames the server answers with, and bad input answered in-band with
// the connection kept.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { publishOk, history } from '../support/http.mjs';
import { openWs, startWsServer, stopServer, identityOf } from '../support/ws-client.mjs';
import { uniq, sleep } from '../support/util.mjs';

const MAX = 1024; // --max-message-bytes
let server;
before(async () => {
  server = await startWsServer(null, ['--threads', '2', '--max-message-bytes', String(MAX), '--presence-tick-ms', '50']);
});
after(() => stopServer(server));

const ID = /^\d+-\d+$/;
const seqOf = (id) => BigInt(id.split('-')[1]);

/** A connection's identity (its presence id and the `from` of its publishes). */
const identity = (c) => identityOf(c, uniq('whoami'));

test('subscribe answers {"op":"ack","ref"} first, then every HTTP publish as an exact message frame, in order', async (t) => {
  const topic = uniq('sub');
  const c = await openWs(t, server.port);
  c.send({ op: 'subscribe', topic, ref: 's1' });
  assert.deepEqual(await c.next(), { op: 'ack', ref: 's1' });
  const sent = [];
  for (let i = 0; i < 5; i++) {
    const event = i % 2 ? 'tick' : undefined;
    const id = await publishOk(server.url, topic, `m${i}`, { event });
    sent.push({ op: 'message', topic, id, event: event ?? null, data: `m${i}`, from: null });
  }
  const got = [];
  for (let i = 0; i < 5; i++) got.push(await c.next());
  assert.deepEqual(got, sent);
  for (let i = 1; i < 5; i++) assert.equal(seqOf(got[i].id), seqOf(got[i - 1].id) + 1n);
  await c.expectQuiet(100);
});

test('numeric and object refs come back as sent', async (t) => {
  const c = await openWs(t, server.port);
  c.send({ op: 'subscribe', topic: uniq('ref'), ref: 42 });
  assert.deepEqual(await c.next(), { op: 'ack', ref: 42 });
  c.send({ op: 'subscribe', topic: uniq('ref'), ref: { n: [1, 'x'] } });
  assert.deepEqual(await c.next(), { op: 'ack', ref: { n: [1, 'x'] } });
});

test('subscribe, unsubscribe and presence ops without ref are still acked, with "ref": null', async (t) => {
  const topic = uniq('noref');
  const c = await openWs(t, server.port);
  c.send({ op: 'subscribe', topic });
  assert.deepEqual(await c.next(), { op: 'ack', ref: null });
  c.send({ op: 'unsubscribe', topic });
  assert.deepEqual(await c.next(), { op: 'ack', ref: null });
  c.send({ op: 'presence.join', topic });
  assert.deepEqual(await c.next(), { op: 'ack', ref: null });
  assert.equal((await c.next()).op, 'presence');
  // (from here a diff announcing this connection's own join may come in between: skip diffs)
  const nextAck = async () => {
    for (;;) {
      const m = await c.next();
      if (!(m.op === 'presence' && m.joins)) return m;
    }
  };
  c.send({ op: 'presence.update', topic, state: 2 });
  assert.deepEqual(await nextAck(), { op: 'ack', ref: null });
  c.send({ op: 'presence.leave', topic });
  assert.deepEqual(await nextAck(), { op: 'ack', ref: null });
});

test('messages of a topic the connection did not subscribe to are not delivered', async (t) => {
  const mine = uniq('mine');
  const other = uniq('other');
  const c = await openWs(t, server.port);
  await c.ok({ op: 'subscribe', topic: mine });
  await publishOk(server.url, other, 'not for you');
  const id = await publishOk(server.url, mine, 'for you');
  const m = await c.waitMsg((x) => x.op === 'message');
  assert.deepEqual(m, { op: 'message', topic: mine, id, event: null, data: 'for you', from: null });
  assert.equal(c.messages(other).length, 0);
});

test('a new subscriber without since gets the retained message first (its own id), then live; a second subscribe is acked and delivers nothing twice', async (t) => {
  const topic = uniq('retained');
  const rid = await publishOk(server.url, topic, 'R', { retain: true });
  const nid = await publishOk(server.url, topic, 'N'); // later, not retained: does not replace R
  assert.equal(seqOf(nid), seqOf(rid) + 1n);
  const c = await openWs(t, server.port);
  c.send({ op: 'subscribe', topic, ref: 'a' });
  assert.deepEqual(await c.next(), { op: 'ack', ref: 'a' });
  assert.deepEqual(await c.next(), { op: 'message', topic, id: rid, event: null, data: 'R', from: null });
  c.send({ op: 'subscribe', topic, ref: 'again' });
  assert.deepEqual(await c.next(), { op: 'ack', ref: 'again' });
  const lid = await publishOk(server.url, topic, 'L');
  assert.deepEqual(await c.next(), { op: 'message', topic, id: lid, event: null, data: 'L', from: null });
  await c.expectQuiet(150);
});

test('unsubscribe is acked and stops delivery while another subscriber still receives', async (t) => {
  const topic = uniq('unsub');
  const c = await openWs(t, server.port, { name: 'leaver' });
  const control = await openWs(t, server.port, { name: 'control' });
  await c.ok({ op: 'subscribe', topic });
  await control.ok({ op: 'subscribe', topic });
  const id1 = await publishOk(server.url, topic, 'one');
  await c.waitMsg((m) => m.id === id1);
  c.send({ op: 'unsubscribe', topic, ref: 'u' });
  await c.waitMsg((m) => m.op === 'ack' && m.ref === 'u');
  const before = c.msgs.length;
  const id2 = await publishOk(server.url, topic, 'two');
  await control.waitMsg((m) => m.id === id2);
  await c.sync();
  await sleep(100);
  assert.deepEqual(
    c.msgs.slice(before).filter((m) => m.op !== 'pong'),
    [],
    'a message arrived after the unsubscribe ack',
  );
  // Subscribing again works (live from now on).
  await c.ok({ op: 'subscribe', topic });
  const id3 = await publishOk(server.url, topic, 'three');
  const m = await c.waitMsg((x) => x.op === 'message' && x.id === id3);
  assert.equal(m.data, 'three');
  assert.equal(c.messages(topic).filter((x) => x.id === id2).length, 0);
});

test('stored publish: ack carries the id; every subscriber, the publisher too, gets it once with from = the publisher identity', async (t) => {
  const topic = uniq('pub');
  const pub = await openWs(t, server.port, { name: 'pub' });
  const sub = await openWs(t, server.port, { name: 'sub' });
  const me = await identity(pub);
  assert.match(me, /^c\d+$/);
  await pub.ok({ op: 'subscribe', topic });
  await sub.ok({ op: 'subscribe', topic });
  const ack = await pub.call({ op: 'publish', topic, data: 'hello', event: 'greet', ref: 'p1' });
  assert.deepEqual(Object.keys(ack).sort(), ['id', 'op', 'ref']);
  assert.equal(ack.op, 'ack');
  assert.equal(ack.ref, 'p1');
  assert.match(ack.id, ID);
  const expected = { op: 'message', topic, id: ack.id, event: 'greet', data: 'hello', from: me };
  assert.deepEqual(await sub.waitMsg((m) => m.op === 'message'), expected);
  assert.deepEqual(await pub.waitMsg((m) => m.op === 'message'), expected);
  const h = await history(server.url, topic);
  assert.equal(h.status, 200);
  assert.deepEqual(
    h.body.messages.map((m) => [m.id, m.event, m.data]),
    [[ack.id, 'greet', 'hello']],
  );
  await sub.sync();
  await pub.sync();
  assert.equal(sub.messages(topic).length, 1);
  assert.equal(pub.messages(topic).length, 1);
});

test('a stored publish without ref is delivered but not acked', async (t) => {
  const topic = uniq('noref');
  const pub = await openWs(t, server.port, { name: 'pub' });
  const sub = await openWs(t, server.port, { name: 'sub' });
  await sub.ok({ op: 'subscribe', topic });
  const from = pub.msgs.length;
  pub.send({ op: 'publish', topic, data: 'quiet' });
  const m = await sub.waitMsg((x) => x.op === 'message');
  assert.equal(m.data, 'quiet');
  assert.match(m.id, ID);
  const pong = await pub.sync();
  assert.deepEqual(pub.msgs.slice(from), [pong], 'the publisher got something besides its pong');
});

test('publish data that is not a string is published as its JSON text; data round-trips byte for byte', async (t) => {
  const topic = uniq('data');
  const pub = await openWs(t, server.port, { name: 'pub' });
  const sub = await openWs(t, server.port, { name: 'sub' });
  await sub.ok({ op: 'subscribe', topic });
  const samples = [
    { x: 1, y: [true, null] },
    'line1\nline2\r\n"quoted" \\ back',
    'ünïcødé 😀 ✓',
    'é'.repeat(MAX / 2), // exactly max_message_bytes of UTF-8
    '',
  ];
  for (const data of samples) await pub.ok({ op: 'publish', topic, data });
  await sub.until((c) => c.messages(topic).length >= samples.length, 5000, 'all samples');
  assert.deepEqual(
    sub.messages(topic).map((m) => m.data),
    samples.map((d) => (typeof d === 'string' ? d : JSON.stringify(d))),
  );
});

test('volatile publish: ack without id only when ref is given; delivered with id null; never echoed to its sender; not in history', async (t) => {
  const topic = uniq('vol');
  const pub = await openWs(t, server.port, { name: 'pub' });
  const sub = await openWs(t, server.port, { name: 'sub' });
  const me = await identity(pub);
  await pub.ok({ op: 'subscribe', topic });
  await sub.ok({ op: 'subscribe', topic });
  const from = pub.msgs.length;
  pub.send({ op: 'publish', topic, data: 'v1', volatile: true, ref: 'v' });
  assert.deepEqual(await pub.waitMsg((m) => m.ref === 'v', { from }), { op: 'ack', ref: 'v' });
  assert.deepEqual(await sub.waitMsg((m) => m.op === 'message'), { op: 'message', topic, id: null, event: null, data: 'v1', from: me });
  // Without ref: no ack. Wait past the volatile period (1/30 s) so the next one is not coalesced.
  await sleep(80);
  const mark = pub.msgs.length;
  pub.send({ op: 'publish', topic, data: 'v2', event: 'cursor', volatile: true });
  assert.deepEqual(
    await sub.waitMsg((m) => m.op === 'message' && m.data === 'v2'),
    { op: 'message', topic, id: null, event: 'cursor', data: 'v2', from: me },
  );
  const pong = await pub.sync();
  await sleep(100);
  assert.deepEqual(pub.msgs.slice(mark), [pong], 'the sender got an ack without ref, or its own volatile message');
  assert.deepEqual(pub.messages(topic), [], 'a volatile message was echoed to its own sender');
  const h = await history(server.url, topic);
  assert.equal(h.status, 200);
  assert.deepEqual(h.body.messages, [], 'volatile messages must skip history');
});

test('ping op answers {"op":"pong","ref"} (ref null when absent)', async (t) => {
  const c = await openWs(t, server.port);
  c.send({ op: 'ping', ref: 'p1' });
  assert.deepEqual(await c.next(), { op: 'pong', ref: 'p1' });
  c.send({ op: 'ping' });
  assert.deepEqual(await c.next(), { op: 'pong', ref: null });
});

test('bad input is answered with an error frame (exact code and ref) and the connection stays up', async (t) => {
  const topic = uniq('bad');
  const c = await openWs(t, server.port);
  const cases = [
    ['{', null, 'bad_json'],
    ['not json at all', null, 'bad_json'],
    ['[1,2]', null, 'bad_json'],
    ['"a string"', null, 'bad_json'],
    [{ op: 'fly', ref: 'u1' }, 'u1', 'unknown_op'],
    [{ op: 'SUBSCRIBE', topic, ref: 'u2' }, 'u2', 'unknown_op'],
    [{ topic, ref: 'f0' }, 'f0', 'bad_field'],
    [{ op: 'subscribe', ref: 'f1' }, 'f1', 'bad_field'],
    [{ op: 'subscribe', topic: 7, ref: 'f2' }, 'f2', 'bad_field'],
    [{ op: 'publish', topic, ref: 'f3' }, 'f3', 'bad_field'],
    [{ op: 'publish', topic, data: 'x', volatile: 'yes', ref: 'f4' }, 'f4', 'bad_field'],
    [{ op: 'publish', topic, data: 'x', event: 'two\nlines', ref: 'f5' }, 'f5', 'bad_field'],
    [{ op: 'publish', topic, data: 'x', event: 'e'.repeat(257), ref: 'f6' }, 'f6', 'bad_field'],
    [{ op: 'subscribe', topic, since: 5, ref: 'f7' }, 'f7', 'bad_field'],
    [{ op: 'presence.update', topic, ref: 'f8' }, 'f8', 'bad_field'],
    [{ op: 'publish', topic, data: 'x'.repeat(MAX + 1), ref: 'big' }, 'big', 'payload_too_large'],
    [{ op: 'presence.update', topic, state: 1, ref: 'nj' }, 'nj', 'not_joined'],
  ];
  const invalidTopics = ['', 'a//b', '/lead', 'trail/', 'has space', 'x/history', 'x/stream', 'x/presence', 'a'.repeat(201), 'tab\tx', 'ü'];
  for (const [i, bad] of invalidTopics.entries()) {
    for (const op of ['subscribe', 'unsubscribe', 'presence.join', 'presence.leave']) cases.push([{ op, topic: bad, ref: `it${i}${op}` }, `it${i}${op}`, 'invalid_topic']);
    cases.push([{ op: 'publish', topic: bad, data: 'x', ref: `itp${i}` }, `itp${i}`, 'invalid_topic']);
    cases.push([{ op: 'publish', topic: bad, data: 'x', volatile: true, ref: `itv${i}` }, `itv${i}`, 'invalid_topic']);
  }
  for (const [input, ref, code] of cases) {
    c.send(input);
    const m = await c.next(3000, `the error for ${JSON.stringify(input).slice(0, 80)}`);
    assert.deepEqual(
      { op: m.op, ref: m.ref, code: m.code },
      { op: 'error', ref, code },
      `for ${JSON.stringify(input).slice(0, 80)}: got ${JSON.stringify(m)}`,
    );
    assert.equal(typeof m.message, 'string');
    assert.ok(m.message.length > 0);
    assert.deepEqual(Object.keys(m).sort(), ['code', 'message', 'op', 'ref']);
  }
  // A binary frame is not an operation.
  c.ws.send(Buffer.from('{"op":"ping"}'));
  const b = await c.next();
  assert.deepEqual({ op: b.op, ref: b.ref, code: b.code }, { op: 'error', ref: null, code: 'bad_frame' });
  // Still up and fully working, and nothing above created a subscription or a publish.
  assert.ok(c.isOpen);
  assert.equal(c.closeInfo, null);
  c.send({ op: 'subscribe', topic, ref: 'ok' });
  assert.deepEqual(await c.next(), { op: 'ack', ref: 'ok' });
  const id = await publishOk(server.url, topic, 'after the errors');
  assert.deepEqual(await c.next(), { op: 'message', topic, id, event: null, data: 'after the errors', from: null });
  const h = await history(server.url, topic);
  assert.deepEqual(h.body.messages.map((m) => m.id), [id], 'a refused publish reached history');
});

test('a topic name at the limits is accepted: 200 bytes, every allowed character', async (t) => {
  const c = await openWs(t, server.port);
  const long = `z${uniq('L')}`.padEnd(200, 'x');
  assert.equal(long.length, 200);
  const chars = `${uniq('c')}/A-Z_a.z:0@9/-`;
  for (const topic of [long, chars]) {
    c.send({ op: 'subscribe', topic, ref: topic });
    assert.deepEqual(await c.next(), { op: 'ack', ref: topic });
    const id = await publishOk(server.url, topic, 'ok');
    assert.deepEqual(await c.next(), { op: 'message', topic, id, event: null, data: 'ok', from: null });
  }
});

test('subscribe with a since the server did not write (garbage, another epoch) answers ack, then gap, then live', async (t) => {
  const c = await openWs(t, server.port);
  const current = await publishOk(server.url, uniq('epoch'), 'x');
  const epoch = current.split('-')[0];
  const other = `${BigInt(epoch) === 1n ? 2 : 1}-3`;
  for (const since of ['garbage', other, 'c-not-a-cursor', '12-x']) {
    const topic = uniq('gap');
    await publishOk(server.url, topic, 'old'); // history exists, but the position is foreign
    c.send({ op: 'subscribe', topic, since, ref: since });
    assert.deepEqual(await c.next(), { op: 'ack', ref: since });
    assert.deepEqual(await c.next(), { op: 'gap', topics: [topic] }, `since=${since}`);
    const id = await publishOk(server.url, topic, 'live');
    assert.deepEqual(await c.next(), { op: 'message', topic, id, event: null, data: 'live', from: null }, `since=${since}`);
  }
});
