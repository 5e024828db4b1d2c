// Reconnect storm: every SSE client is told a retry: drawn from [retry_ms, 2 × retry_ms)
// (docs/decisions.md), so when the server dies (SIGKILL) or drains (SIGTERM) and comes back on the
// same port, clients that wait what they were told (as EventSource does) come back spread over
// time, not all in the same instant. Asserts the distribution of the retry values and of the
// reconnect times, and that every client is served again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';
import { sleep, uniq } from '../support/util.mjs';

const N = soak(200, 5000);
const RETRY = soak(1000, 2000); // ms; the default 2000 at the long size, as in the original probe
const WINDOW = RETRY / 2; // no window this long may hold most of the reconnects
const topic = uniq('storm');

/** One EventSource-like client: on loss it waits the last retry: it was told, then reconnects. */
class Client {
  constructor(port) {
    this.port = port;
    this.retry = null;
    this.preambleRetry = null;
    this.lastId = undefined;
    this.stream = null;
    this.reconnectedAt = null;
  }

  async connect() {
    const s = await openSse(this.port, { topics: [topic], keep: false, lastEventId: this.lastId, timeoutMs: 10000 });
    if (s.status !== 200) {
      s.close();
      throw new Error(`answered ${s.status}`);
    }
    const p = await waitPreamble(s, 10000);
    this.preambleRetry = p.retry;
    this.retry = p.retry;
    this.lastId = p.id;
    this.stream = s;
  }

  /** After the stream ends: wait the retry, reconnect (again after a refusal, as EventSource does). */
  async reconnectAfterLoss(attempts = 6) {
    await this.stream.waitEnded(60000);
    this.retry = this.stream.retry ?? this.retry; // a drain may have sent a new retry:
    for (let i = 0; i < attempts; i++) {
      await sleep(this.retry);
      const at = Date.now();
      try {
        await this.connect();
        this.reconnectedAt = at;
        return;
      } catch {
        // not listening yet: wait the retry again
      }
    }
    throw new Error(`no reconnect after ${attempts} attempts`);
  }
}

async function inBatches(items, size, fn) {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(fn));
  }
}

/** The most reconnects that fall into any window of `ms`, and the spread between p10 and p90. */
function crowding(times, ms) {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= ms) j++;
    most = Math.max(most, i - j + 1);
  }
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { most, spread: at(0.9) - at(0.1) };
}

function assertRetrySpread(values, where) {
  assert.equal(values.length, N);
  for (const v of values) {
    assert.ok(Number.isInteger(v) && v >= RETRY && v < 2 * RETRY, `${where}: retry ${v} outside [${RETRY}, ${2 * RETRY})`);
  }
  const counts = new Map();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  const [top, topCount] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
  assert.ok(topCount <= Math.max(5, N / 50), `${where}: ${topCount} of ${N} clients were told retry: ${top}`);
  assert.ok(counts.size >= N / 4, `${where}: only ${counts.size} distinct retry values among ${N} clients`);
  // Five equal bins over the range each hold at least 40 % of their fair share.
  const bins = new Array(5).fill(0);
  for (const v of values) bins[Math.floor(((v - RETRY) / RETRY) * 5)]++;
  for (const b of bins) assert.ok(b >= 0.4 * (N / 5), `${where}: retry values per fifth of the range ${bins}`);
}

function assertSpreadOverTime(clients, lostAt, where) {
  const times = clients.map((c) => c.reconnectedAt - lostAt);
  const { most, spread } = crowding(times, WINDOW);
  const detail = `${where}: ${most} of ${N} reconnects within ${WINDOW} ms; p10..p90 spread ${spread} ms`;
  assert.ok(most <= 0.65 * N, detail);
  assert.ok(spread >= 0.4 * RETRY, detail);
  return detail;
}

test(`reconnect storm: ${N} SSE clients after SIGKILL and after SIGTERM come back spread over their retry`, { timeout: soakTimeout(90000, 600000) }, async (t) => {
  const args = ['--retry-ms', String(RETRY), '--threads', '2'];
  let server = await startServer(t, { args });
  const port = server.port;
  const clients = Array.from({ length: N }, () => new Client(port));
  await inBatches(clients, 100, (c) => c.connect());
  assertRetrySpread(
    clients.map((c) => c.preambleRetry),
    'preamble',
  );

  // SIGKILL: no drain, no goodbye; the clients wait the preamble's retry.
  let reconnects = clients.map((c) => c.reconnectAfterLoss());
  const killedAt = Date.now();
  await server.kill();
  server = await startServer(t, { args, port });
  await Promise.all(reconnects);
  t.diagnostic(assertSpreadOverTime(clients, killedAt, 'after SIGKILL'));
  assertRetrySpread(
    clients.map((c) => c.preambleRetry),
    'preamble after the restart',
  );

  // SIGTERM: the drain sends each stream a retry: of its own before closing it.
  reconnects = clients.map((c) => c.reconnectAfterLoss());
  const termAt = Date.now();
  const stopped = await server.stop('SIGTERM', 20000);
  assert.equal(stopped.code, 0, `drain exit ${JSON.stringify(stopped)}`);
  server = await startServer(t, { args, port });
  await Promise.all(reconnects);
  assertRetrySpread(
    clients.map((c) => c.retry),
    'drain retry',
  );
  t.diagnostic(assertSpreadOverTime(clients, termAt, 'after SIGTERM'));
  for (const c of clients) c.stream.close();
});
