// An idle server sleeps: with idle SSE streams and WebSockets joined in a room open, between two
// heartbeats no thread of the process wakes on a timer (the timing wheel sleeps until its next
// deadline, heartbeats share wake-ups on the beat grid, and the control thread's presence tick,
// stats ticker and history sweep are armed only while they have work). Counted from
// /proc/PID/task/*/status voluntary_ctxt_switches: a thread that wakes and sleeps again adds one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { startServer, sleep } from '../support/server.mjs';
import { publishOk } from '../support/http.mjs';
import { scrape } from '../support/metrics.mjs';
import { openSse, subscribe } from '../support/sse.mjs';
import { openWs } from '../support/ws-client.mjs';
import { uniq, waitFor } from '../support/util.mjs';

const STREAMS = 200;
const SOCKETS = 10;
const WINDOW_MS = 2000;
// Before: the presence tick alone woke the control thread 40 times in 2 s, the heartbeat wheel of
// each loop tens of times more. A loaded or sanitized build still makes no timer wake-up; what
// is left is slack for an odd signal or page-in.
const MAX_WAKEUPS = process.env.SWITCHBOARD_SANITIZED ? 16 : 10;

/** Per thread: name -> voluntary context switches, and the process's utime + stime in ticks. */
function sample(pid) {
  const threads = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const name = /^Name:\s*(.*)$/m.exec(status)[1];
      threads[`${tid} ${name}`] = Number(/^voluntary_ctxt_switches:\s*(\d+)$/m.exec(status)[1]);
    } catch {
      // a thread that ended meanwhile
    }
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { threads, cpu: Number(fields[11]) + Number(fields[12]) };
}

test('between heartbeats an idle server with open streams and sockets makes no timer wake-ups', async (t) => {
  // Two loops, default heartbeat (15 s) and ping interval (25 s): the window below lies between
  // the streams' opening and their first heartbeat.
  const server = await startServer(t, { args: ['--threads', '2', '--presence-tick-ms', '50'] });
  const topic = uniq('quiet');
  // Opened over a second or more, as real clients arrive: their deadlines fall on many ticks.
  for (let i = 0; i < STREAMS; i += 20) {
    const batch = [];
    for (let k = i; k < i + 20; k++) batch.push(subscribe(t, server.port, { topics: [`${topic}/${k % 7}`] }));
    await Promise.all(batch);
    await sleep(10);
  }
  const room = [];
  for (let i = 0; i < SOCKETS; i++) {
    const ws = await openWs(t, server.port, { name: `q${i}` });
    ws.send({ op: 'presence.join', topic, state: { n: i }, ref: 'j' });
    room.push(ws);
  }
  // The joins' diffs go out on the next presence tick; after it, nothing is pending.
  await sleep(1500);

  const before = sample(server.pid);
  await sleep(WINDOW_MS);
  const after = sample(server.pid);

  const perThread = Object.entries(after.threads).map(([name, n]) => [name, n - (before.threads[name] ?? 0)]);
  const wakeups = perThread.reduce((sum, [, n]) => sum + n, 0);
  const detail = perThread.map(([name, n]) => `${name}: ${n}`).join(', ');
  assert.ok(
    wakeups <= MAX_WAKEUPS,
    `${wakeups} wake-ups in ${WINDOW_MS} ms with ${STREAMS} idle streams and ${SOCKETS} idle sockets (at most ${MAX_WAKEUPS}); per thread: ${detail}`,
  );
  // 100 ticks a second: a sleeping process takes none in the window.
  assert.ok(after.cpu - before.cpu <= 5, `${after.cpu - before.cpu} CPU ticks in ${WINDOW_MS} ms of idling`);
  assert.ok(room.every((ws) => ws.isOpen), 'the sockets stay open');
});

test('the history sweep that sleeps until the oldest message is due still expires it unread', async (t) => {
  // Nothing held at start: the sweep sleeps history_max_age_s, then until the message is due.
  const server = await startServer(t, { args: ['--threads', '1', '--history-max-age-s', '1'] });
  await sleep(300);
  await publishOk(server.url, uniq('aging'), 'old news');
  assert.equal((await scrape(server.url)).get('switchboard_history_messages'), 1);
  await waitFor(async () => (await scrape(server.url)).get('switchboard_history_expirations_total') === 1, {
    timeoutMs: 4000,
    what: 'the message expired by the sweep (nobody read it)',
  });
  assert.equal((await scrape(server.url)).get('switchboard_history_messages'), 0);
});

test('the admin stats ticker runs while the stream is watched and stops after', async (t) => {
  const ADMIN = 'ak_it_admin_quiet_0123456789';
  const server = await startServer(t, { args: ['--threads', '1', '--admin-api-keys', ADMIN] });
  const stats = await openSse(server.port, { path: '/v1/admin/stats', headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.equal(stats.status, 200);
  const first = await stats.next(4000);
  assert.equal(first.event, 'stats');
  const second = await stats.next(3000);
  const a = JSON.parse(first.data);
  const b = JSON.parse(second.data);
  assert.ok(b.time - a.time >= 500 && b.time - a.time <= 2500, `snapshots ${b.time - a.time} ms apart (a second)`);
  stats.close();
  await sleep(4500); // the ticker's grace after the last watcher (3 s), and a tick
  const before = sample(server.pid);
  await sleep(WINDOW_MS);
  const after = sample(server.pid);
  const wakeups = Object.entries(after.threads).reduce((sum, [name, n]) => sum + n - (before.threads[name] ?? 0), 0);
  assert.ok(wakeups <= MAX_WAKEUPS, `${wakeups} wake-ups in ${WINDOW_MS} ms after the stats stream closed`);
});
