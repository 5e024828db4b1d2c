// Connection churn: SSE streams and WebSocket sessions opened, used and closed over and over
// (clean closes and abrupt ones) leave nothing behind: the connection gauges in /metrics return to
// their baseline and RSS stays within a small margin of where it was after a warm-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer } from '../support/server.mjs';
import { publishOk } from '../support/http.mjs';
import { openSse, waitPreamble } from '../support/sse.mjs';
import { SUBPROTOCOL } from '../support/ws-client.mjs';
import { scrape } from '../support/metrics.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';
import { uniq, waitFor } from '../support/util.mjs';

const SSE_CYCLES = soak(2000, 160000);
const WS_CYCLES = soak(2000, 64000);
const LANES = 50;
const MARGIN = soak(6, 24) * 1024 * 1024; // bytes of RSS growth tolerated after the warm-up
const prefix = uniq('churn');
const topicOf = (i) => `${prefix}/${i % 64}`;

async function sseCycle(port, i) {
  const s = await openSse(port, { topics: [topicOf(i)], keep: false, timeoutMs: 10000 });
  assert.equal(s.status, 200, `cycle ${i}: ${s.status}`);
  await waitPreamble(s, 10000);
  s.close();
}

function wsCycle(port, i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, [SUBPROTOCOL], { perMessageDeflate: false, handshakeTimeout: 10000 });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`ws cycle ${i}: no ack within 10 s`));
    }, 10000);
    ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', topic: topicOf(i), ref: i })));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString('utf8'));
      if (m.op !== 'ack') return;
      clearTimeout(timer);
      // Half close cleanly (close handshake), half vanish (TCP close with no close frame).
      if (i % 2) {
        ws.once('close', () => resolve());
        ws.close(1000);
      } else {
        ws.terminate();
        resolve();
      }
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function run(n, cycle, port, url) {
  let next = 0;
  await Promise.all(
    Array.from({ length: LANES }, async () => {
      while (next < n) {
        const i = next++;
        await cycle(port, i);
        if (i % 500 === 0) await publishOk(url, topicOf(i), `tick ${i}`); // deliveries to live topics too
      }
    }),
  );
}

async function settled(url) {
  let last;
  await waitFor(
    async () => {
      const m = await scrape(url);
      last = {
        connections: m.get('switchboard_connections'),
        sse: m.get('switchboard_streams', { transport: 'sse' }),
        ws: m.get('switchboard_streams', { transport: 'ws' }),
      };
      return last.connections === 1 && last.sse === 0 && last.ws === 0;
    },
    { timeoutMs: 15000, intervalMs: 100, what: 'the gauges back to the baseline' },
  ).catch(() => {});
  return last;
}

test(`churn: ${SSE_CYCLES} SSE and ${WS_CYCLES} WebSocket connect/close cycles leak nothing`, { timeout: soakTimeout(120000, 1800000) }, async (t) => {
  const srv = await startServer(t, { args: ['--threads', '2'] });
  // Warm-up: allocator pools, per-loop tables and topic entries reach their working size first.
  await run(400, sseCycle, srv.port, srv.url);
  await run(400, wsCycle, srv.port, srv.url);
  assert.deepEqual(await settled(srv.url), { connections: 1, sse: 0, ws: 0 }, 'baseline after the warm-up');
  const before = srv.rss();

  await run(SSE_CYCLES, sseCycle, srv.port, srv.url);
  await run(WS_CYCLES, wsCycle, srv.port, srv.url);
  assert.deepEqual(await settled(srv.url), { connections: 1, sse: 0, ws: 0 }, 'the gauges after the churn');
  const after = srv.rss();
  t.diagnostic(`RSS ${(before / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB after`);
  // Under ASan the allocator quarantine keeps freed memory resident, so RSS says nothing there.
  if (!process.env.SWITCHBOARD_SANITIZED) {
    assert.ok(after <= before + MARGIN, `RSS grew from ${before} to ${after} bytes (margin ${MARGIN})`);
  }

  // Still serving.
  const s = await openSse(srv.port, { topics: [topicOf(1)] });
  await waitPreamble(s);
  const id = await publishOk(srv.url, topicOf(1), 'after the churn');
  assert.equal((await s.next()).id, id);
  s.close();
});
