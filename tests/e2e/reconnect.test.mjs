// Reconnects in a real browser.
// - The server restarts (SIGTERM, a new process on the same port) while the demo page listens:
//   EventSource reconnects by itself, the in-memory history is gone, so the page shows the gap;
//   the WebSocket room reconnects and joins again.
// - The network drops without a restart: a TCP proxy between the page and the server cuts every
//   connection and refuses new ones for a while (as a lost Wi-Fi would), messages are published
//   meanwhile, and after the network is back both the EventSource and the client.js WebSocket
//   resume with every message exactly once, in order, and no gap. A proxy rather than Chromium's
//   offline emulation: emulation does not reliably end an open EventSource or WebSocket, and a
//   cut socket is what a real network failure looks like to both ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { publishOk } from '../support/http.mjs';
import { launchBrowser, openPage, panelStatus, recordStatuses, sleep, startProxy, waitFor } from './browser.mjs';

// A short `retry:` keeps the browser's own reconnect quick (each stream, and the drain, tell a value in [300, 600) ms).
const ARGS = ['--retry-ms', '300'];

const feedItems = (page) =>
  page.$$eval('#feed li.item .text', (els) => els.map((el) => el.textContent).reverse()); // oldest first
const members = (page) => page.$$eval('#members li', (els) => els.map((li) => li.dataset.id));

test('a server restart: EventSource reconnects by itself and the page shows the gap; the room rejoins', async (t) => {
  const first = await startServer(t, { args: ARGS });
  await publishOk(first.url, 'demo/counter', '7', { event: 'count', retain: true });
  await publishOk(first.url, 'demo/feed', 'before the restart', { event: 'note' });

  const context = await launchBrowser(t);
  const page = await openPage(context, `${first.url}/`);
  await waitFor(async () => (await panelStatus(page, 'feed')) === 'live', { what: 'the feed to be live' });
  await waitFor(async () => (await panelStatus(page, 'room')) === 'live', { what: 'the room to be live' });
  await publishOk(first.url, 'demo/feed', 'seen live', { event: 'note' });
  await waitFor(async () => (await feedItems(page)).includes('seen live'), { what: 'a live note' });
  const oldMe = await page.evaluate(() => document.body.dataset.me);
  assert.deepEqual(await members(page), [oldMe]);
  const feedStatuses = await recordStatuses(page, 'feed');
  const roomStatuses = await recordStatuses(page, 'room');

  const stopped = await first.stop('SIGTERM', 10000);
  assert.equal(stopped.code, 0, `the first server drained and exited cleanly (${JSON.stringify(stopped)})`);
  const second = await startServer(t, { port: first.port, args: ARGS });

  await waitFor(async () => (await feedStatuses()).includes('gap'), { timeoutMs: 20000, what: 'the feed to show the gap' });
  const seen = await feedStatuses();
  assert.deepEqual(seen.slice(0, 3), ['live', 'reconnecting', 'resumed'], `statuses: ${seen.join(' > ')}`);
  assert.equal(seen.at(-1), 'gap');
  for (const panel of ['counter', 'chart', 'feed', 'llm']) {
    assert.equal(await panelStatus(page, panel), 'gap', `${panel} shows the gap`);
    assert.ok(await page.$eval(`[data-panel=${panel}] .note`, (el) => el.classList.contains('shown')), `${panel} explains it`);
  }
  assert.ok(
    await page.$eval('#feed li.gap', (el) => /missing/.test(el.textContent)),
    'the feed marks where notifications may be missing',
  );

  // The stream is live on the new server.
  await publishOk(second.url, 'demo/feed', 'after the restart', { event: 'note' });
  await publishOk(second.url, 'demo/counter', '8', { event: 'count', retain: true });
  await waitFor(async () => (await feedItems(page)).at(-1) === 'after the restart', { what: 'a note from the new server' });
  await waitFor(async () => (await page.$eval('#counter', (el) => el.textContent)) === '8', { what: 'the counter' });
  assert.deepEqual(await feedItems(page), ['seen live', 'after the restart']);

  // The WebSocket room reconnected (1012 on drain) and joined again, under a new identity.
  await waitFor(async () => (await roomStatuses()).includes('resumed'), { timeoutMs: 20000, what: 'the room to resume' });
  await waitFor(
    async () => {
      const list = await members(page);
      return list.length === 1 && list[0] !== oldMe && list[0] === (await page.evaluate(() => document.body.dataset.me));
    },
    { what: 'the page to be the only member again, re-joined' },
  );
  assert.deepEqual((await roomStatuses()).slice(0, 3), ['live', 'reconnecting', 'resumed']);
  assert.deepEqual(context.pageErrors, []);
});

test('a dropped connection without a restart resumes with no missed message (EventSource and WebSocket)', async (t) => {
  const server = await startServer(t, { args: ARGS });
  const proxy = await startProxy(t, server.port);
  const context = await launchBrowser(t);
  const page = await openPage(context, `${proxy.url}/`);
  await waitFor(async () => (await panelStatus(page, 'feed')) === 'live', { what: 'the feed to be live' });
  await waitFor(async () => (await panelStatus(page, 'room')) === 'live', { what: 'the room to be live' });

  // client.js over WebSocket in the same page, on its own topic.
  await page.evaluate(async () => {
    const { connect } = await import('/client.js');
    window.wsGot = [];
    window.wsStatuses = [];
    window.wsGaps = [];
    window.ws = connect({ onStatus: (s) => window.wsStatuses.push(s), onGap: (g) => window.wsGaps.push(g) });
    await window.ws.subscribe('e2e/ws', (m) => window.wsGot.push(m.data)).ready;
  });
  const wsGot = () => page.evaluate(() => window.wsGot);

  const sent = [];
  const publishBoth = async (text) => {
    sent.push(text);
    await publishOk(server.url, 'demo/feed', text, { event: 'note' });
    await publishOk(server.url, 'e2e/ws', text);
  };
  for (let i = 1; i <= 3; i++) await publishBoth(`n${i}`);
  await waitFor(async () => (await feedItems(page)).length === 3, { what: 'three notes before the drop' });
  await waitFor(async () => (await wsGot()).length === 3, { what: 'three WebSocket messages before the drop' });
  const feedStatuses = await recordStatuses(page, 'feed');

  proxy.block();
  const cut = proxy.cut();
  assert.ok(cut >= 3, `the proxy cut the page's connections (${cut})`);
  await waitFor(async () => (await panelStatus(page, 'feed')) === 'reconnecting', { what: 'the feed to notice' });
  await waitFor(async () => (await page.evaluate(() => window.wsStatuses)).includes('reconnecting'), {
    what: 'the WebSocket client to notice',
  });
  for (let i = 4; i <= 12; i++) await publishBoth(`n${i}`); // published while the page is offline
  await sleep(700); // a few failed reconnect attempts
  proxy.unblock();

  await waitFor(async () => (await feedItems(page)).length >= sent.length, { timeoutMs: 20000, what: 'the feed to catch up' });
  await waitFor(async () => (await wsGot()).length >= sent.length, { timeoutMs: 20000, what: 'the WebSocket to catch up' });
  await sleep(200); // nothing more (no duplicate) arrives
  assert.deepEqual(await feedItems(page), sent, 'SSE: every note exactly once, in order');
  assert.deepEqual(await wsGot(), sent, 'WebSocket: every message exactly once, in order');
  const seen = await feedStatuses();
  assert.ok(!seen.includes('gap'), `no gap on the SSE stream (${seen.join(' > ')})`);
  assert.equal(seen.at(-1), 'resumed');
  const ws = await page.evaluate(() => ({ statuses: window.wsStatuses, gaps: window.wsGaps }));
  assert.deepEqual(ws.gaps, [], 'no gap on the WebSocket');
  assert.equal(ws.statuses.at(-1), 'resumed', ws.statuses.join(' > '));
  assert.ok(!(await page.$eval('[data-panel=feed] .note', (el) => el.classList.contains('shown'))), 'no gap note');

  // Publishing over the resumed WebSocket: the ack carries the id, the message comes back too.
  const ack = await page.evaluate(() => window.ws.publish('e2e/ws', 'from the page'));
  assert.match(ack.id, /^\d+-\d+$/);
  await waitFor(async () => (await wsGot()).at(-1) === 'from the page', { what: 'the page’s own stored message' });
  // The demo room came back as well.
  await waitFor(async () => (await panelStatus(page, 'room')) === 'resumed', { timeoutMs: 20000, what: 'the room to resume' });
  await waitFor(async () => (await members(page)).length === 1, { what: 'the room to list the page again' });
  assert.deepEqual(context.pageErrors, []);
});
