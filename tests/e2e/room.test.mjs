// Two browser pages in the shared room: each sees the other's cursor (volatile publishes over the
// WebSocket) and presence; closing one removes both. Then the demo is filled in and its
// screenshot saved under build/ (SWITCHBOARD_SCREENSHOT_DIR; `make demo-screenshot` copies it to
// docs/demo.png), so a test run never changes a tracked file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../support/server.mjs';
import { publishOk } from '../support/http.mjs';
import { launchBrowser, openPage, panelStatus, sleep, streamPublish, waitFor } from './browser.mjs';

const SCREENSHOT = join(
  process.env.SWITCHBOARD_SCREENSHOT_DIR || join(dirname(fileURLToPath(import.meta.url)), '../../build/screenshots'),
  'demo.png',
);

const members = (page) =>
  page.$$eval('#members li', (els) => els.map((li) => ({ id: li.dataset.id, name: li.querySelector('.member-name').textContent })));
const cursors = (page) =>
  page.$$eval('#board .cursor:not(.out)', (els) =>
    els.map((el) => ({ id: el.dataset.id, name: el.querySelector('.name').textContent, x: Number(el.dataset.x), y: Number(el.dataset.y) })),
  );

/** Moves the real mouse over a page's board to (fx, fy) in board fractions. */
async function hover(page, fx, fy, steps = 8) {
  await page.bringToFront(); // a background tab gets its input events only at a throttled frame rate
  const board = page.locator('#board');
  await board.scrollIntoViewIfNeeded();
  const box = await board.boundingBox();
  await page.mouse.move(box.x + box.width * fx, box.y + box.height * fy, { steps });
}

test('two pages see each other\'s cursor and presence; closing one removes it', async (t) => {
  const server = await startServer(t);
  const context = await launchBrowser(t);
  const ada = await openPage(context, `${server.url}/?name=Ada`);
  const bob = await openPage(context, `${server.url}/?name=Bob`);

  for (const page of [ada, bob]) {
    await waitFor(async () => (await members(page)).length === 2, { what: 'both members in each presence list' });
  }
  const adaId = await ada.evaluate(() => document.body.dataset.me);
  const bobId = await bob.evaluate(() => document.body.dataset.me);
  assert.match(adaId, /^c\d+$/);
  assert.match(bobId, /^c\d+$/);
  assert.notEqual(adaId, bobId);
  assert.deepEqual((await members(ada)).map((m) => m.name).sort(), ['Ada', 'Bob']);
  assert.deepEqual(await members(bob), await members(ada), 'both pages list the same members');
  assert.equal(await ada.$eval('#member-count', (el) => el.textContent), '2');

  // Ada moves: Bob sees Ada's cursor, named from presence, where she left it (latest wins).
  await hover(ada, 0.2, 0.3);
  await hover(ada, 0.25, 0.4);
  await waitFor(
    async () => {
      const seen = await cursors(bob);
      return seen.length === 1 && seen[0].id === adaId && Math.abs(seen[0].x - 0.25) < 0.02 && Math.abs(seen[0].y - 0.4) < 0.02;
    },
    { what: "Bob to see Ada's cursor at (0.25, 0.4)" },
  );
  assert.equal((await cursors(bob))[0].name, 'Ada');
  assert.deepEqual(await cursors(ada), [], 'a cursor is not echoed to its sender');

  await hover(bob, 0.7, 0.6);
  await waitFor(
    async () => {
      const seen = await cursors(ada);
      return seen.length === 1 && seen[0].id === bobId && seen[0].name === 'Bob' && Math.abs(seen[0].x - 0.7) < 0.02;
    },
    { what: "Ada to see Bob's cursor" },
  );

  // A rename is a presence update: the other page's list and cursor label follow.
  await bob.fill('#name', 'Bobby');
  await bob.press('#name', 'Enter');
  await waitFor(async () => (await members(ada)).some((m) => m.name === 'Bobby'), { what: 'the rename to reach Ada' });
  await waitFor(async () => (await cursors(ada))[0]?.name === 'Bobby', { what: "Bob's cursor label to follow" });

  await bob.close();
  await waitFor(
    async () => {
      const list = await members(ada);
      return list.length === 1 && list[0].id === adaId && (await cursors(ada)).length === 0;
    },
    { what: "Bob's presence and cursor to leave Ada's page" },
  );
  assert.equal(await ada.$eval('#member-count', (el) => el.textContent), '1');
  assert.deepEqual(context.pageErrors, []);
});

test('screenshot of the demo (build/screenshots/demo.png)', async (t) => {
  const server = await startServer(t);
  await publishOk(server.url, 'demo/counter', '128', { event: 'count', retain: true });
  const context = await launchBrowser(t);
  // Fixed names, colors and clock, so the picture changes only when the page does.
  const main = await openPage(context, `${server.url}/?name=Grace&color=%238e4ec6`, {
    viewport: { width: 1180, height: 790 },
    fixedTime: new Date('2025-06-02T09:41:00'),
  });
  const other = await openPage(context, `${server.url}/?name=Linus&color=%23f76b15`);
  const third = await openPage(context, `${server.url}/?name=Radia&color=%2330a46c`);
  await waitFor(async () => (await members(main)).length === 3, { what: 'three members' });

  let v = 42;
  for (let i = 0; i < 40; i++) {
    v = Math.max(5, Math.min(95, v + Math.sin(i / 3) * 6 + ((i * 37) % 11) - 5));
    await publishOk(server.url, 'demo/chart', v.toFixed(1), { event: 'point', retain: true });
  }
  for (const note of ['Deploy 2.4.1 finished on eu-west', 'Invoice #1042 was paid', 'Ada commented on “Q3 plan”']) {
    await publishOk(server.url, 'demo/feed', note, { event: 'note' });
  }
  const answer =
    'Server-Sent Events fit a model answer well: the server is the source of truth, the browser only listens, and every proxy speaks HTTP.';
  await streamPublish(
    server.url,
    'demo/llm',
    [...answer.split(/(?= )/).map((data) => ({ event: 'token', data })), { event: 'done', data: '' }],
    { gapMs: 5 },
  );
  await hover(other, 0.62, 0.35);
  await hover(third, 0.3, 0.62);
  await waitFor(async () => (await cursors(main)).length === 2, { what: 'two cursors on the main page' });
  await waitFor(async () => (await main.$eval('#llm-output', (el) => el.dataset.state)) === 'done', { what: 'the answer' });
  assert.equal(await panelStatus(main, 'feed'), 'live');
  await sleep(300); // let cursor transitions settle

  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await main.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.deepEqual(context.pageErrors, []);
});
