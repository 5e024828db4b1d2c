// Descriptor exhaustion: a server started with a low open-file limit caps max_connections to what
// the limit leaves (said in its start line), answers connections over it with 429 instead of
// failing accept() with EMFILE, logs at most a few EMFILE lines whatever happens, and serves new
// clients once the flood is gone. It also raises a soft limit below the hard one at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer } from '../support/server.mjs';
import { request, publishOk } from '../support/http.mjs';
import { subscribe, waitPreamble } from '../support/sse.mjs';
import { scrape } from '../support/metrics.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';
import { sleep, uniq, waitFor } from '../support/util.mjs';

const LIMIT = 256;
const HOLD_MS = soak(1500, 20000); // how long the server is kept full

function openRaw(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const c = { sock, data: '', closed: false, error: null };
    sock.setEncoding('latin1');
    sock.on('data', (d) => {
      c.data += d;
    });
    sock.on('error', (err) => {
      c.error = err;
    });
    sock.on('close', () => {
      c.closed = true;
    });
    sock.once('connect', () => resolve(c));
    sock.once('error', () => resolve(c));
  });
}

const logOf = (srv) => srv.stdout + srv.stderr;
const emfileLines = (srv) => logOf(srv).split('\n').filter((l) => /accept: .*(too many open files|descriptor)/i.test(l));

test(`fd limit ${LIMIT}: max_connections capped, 429 over it, a few EMFILE lines at most, served after`, { timeout: soakTimeout(60000, 180000) }, async (t) => {
  const srv = await startServer(t, {
    wrap: ['prlimit', `--nofile=${LIMIT}:${LIMIT}`, '--'],
    args: ['--threads', '2', '--header-timeout-ms', '120000', '--idle-timeout-s', '120'],
  });
  const start = /max_connections (\d+) \(fd limit (\d+)(, capped from (\d+))?\)/.exec(logOf(srv));
  const max = start ? Number(start[1]) : null;

  // Open connections until the server refuses them (bounded: the limit plus 25 %).
  const conns = [];
  for (let batch = 0; conns.length < LIMIT * 1.25; batch++) {
    conns.push(...(await Promise.all(Array.from({ length: 32 }, () => openRaw(srv.port)))));
    await sleep(100);
    if (conns.filter((c) => c.data.length > 0 || c.closed).length >= 16) break;
  }
  const t0 = Date.now();
  await sleep(300); // the last refusals arrive
  const refused = conns.filter((c) => c.data.length > 0 || c.closed);
  const held = conns.filter((c) => c.data.length === 0 && !c.closed);
  await sleep(HOLD_MS);
  assert.equal(held.filter((c) => c.closed).length, 0, 'held connections were closed during the hold');
  assert.ok(refused.length > 0, `${conns.length} connections opened, none refused`);
  for (const c of refused) {
    assert.match(c.data, /^HTTP\/1\.1 429 /, `a refused connection got ${JSON.stringify(c.data.slice(0, 60))} (${c.error?.code ?? 'no error'})`);
  }
  // While full, a new client is refused with 429 too (never hangs, never crashes the server).
  const whileFull = await openRaw(srv.port);
  await waitFor(() => whileFull.data.length > 0 || whileFull.closed, { timeoutMs: 3000, what: 'an answer while full' });
  assert.match(whileFull.data, /^HTTP\/1\.1 429 /);

  // The log: at most one EMFILE line per 5 s (plus the first), however long the flood lasts.
  const secs = (Date.now() - t0) / 1000;
  const lines = emfileLines(srv);
  assert.ok(lines.length <= 2 + secs / 5, `${lines.length} EMFILE lines in ${secs.toFixed(1)} s:\n${lines.slice(0, 5).join('\n')}`);

  // Close the flood: new clients are served again, and the gauge is back to the scrape alone.
  for (const c of conns) c.sock.destroy();
  whileFull.sock.destroy();
  await waitFor(async () => (await scrape(srv.url)).get('switchboard_connections') === 1, { timeoutMs: 5000, what: 'the connection gauge back to 1' });
  assert.equal((await request(`${srv.url}/healthz`)).status, 200);
  const topic = uniq('fd');
  const s = await subscribe(t, srv.port, { topics: [topic] });
  await waitPreamble(s);
  const id = await publishOk(srv.url, topic, 'after the flood');
  assert.equal((await s.next()).id, id);
  s.close();

  // The start line said the cap, and exactly that many connections were held.
  assert.ok(start, `no "max_connections N (fd limit L)" in the start line:\n${logOf(srv).split('\n')[0]}`);
  assert.equal(Number(start[2]), LIMIT);
  assert.equal(Number(start[4]), 100000);
  assert.ok(max > 0 && max < LIMIT - 32, `max_connections ${max} leaves no room under fd limit ${LIMIT}`);
  assert.equal(held.length, max, `${held.length} connections held, max_connections ${max}`);
});

test('a soft fd limit below the hard one is raised at start', async (t) => {
  const srv = await startServer(t, { wrap: ['prlimit', '--nofile=200:1024', '--'], args: ['--threads', '2'] });
  const m = /max_connections (\d+) \(fd limit (\d+)/.exec(logOf(srv));
  assert.ok(m, logOf(srv));
  assert.equal(Number(m[2]), 1024);
  const limits = (await import('node:fs')).readFileSync(`/proc/${srv.pid}/limits`, 'utf8');
  assert.match(limits, /Max open files\s+1024\s+1024/);
});

test('an fd limit that leaves nothing for connections stops the start with a clear message', async (t) => {
  await assert.rejects(
    startServer(t, { wrap: ['prlimit', '--nofile=40:40', '--'], args: ['--threads', '2'], startTimeoutMs: 5000 }),
    /open-file limit \(40\) leaves no descriptor for connections/,
  );
});
