// The admin page in a real browser: an operator without credentials gets the sign-in view, a key
// that is not an admin's is refused there, an admin key turns into the session cookie and the
// dashboard goes live over its EventSource; load applied from outside (SSE over HTTP/1.1 and
// HTTP/2, WebSocket presence, publishes) moves the numbers on the page. Its screenshot is saved
// under build/screenshots/admin.png (`make demo-screenshot` copies it to docs/admin.png).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../support/server.mjs';
import { publishOk } from '../support/http.mjs';
import { openSse } from '../support/sse.mjs';
import { openWs, stopServer } from '../support/ws-client.mjs';
import { connectH2, h2Events } from '../support/h2.mjs';
import { bearer } from '../support/jwt.mjs';
import { launchBrowser, openPage, sleep, waitFor } from './browser.mjs';

const SCREENSHOT = join(
  process.env.SWITCHBOARD_SCREENSHOT_DIR || join(dirname(fileURLToPath(import.meta.url)), '../../build/screenshots'),
  'admin.png',
);
const ADMIN = 'ak_e2e_admin_0123456789abcdef';
const BACKEND = 'sk_e2e_backend_0123456789abcdef';

const text = (page, sel) => page.$eval(sel, (el) => el.textContent);
const number = async (page, sel) => Number((await text(page, sel)).replace(/,/g, ''));
const visible = (page, sel) => page.$eval(sel, (el) => getComputedStyle(el).display !== 'none');

test('the admin page: sign in with an admin key, then live numbers that move under load', async (t) => {
  const server = await startServer(null, {
    dev: false,
    args: ['--threads', '2', '--api-keys', BACKEND, '--admin-api-keys', ADMIN],
  });
  t.after(() => stopServer(server));
  const context = await launchBrowser(t);
  const page = await openPage(context, `${server.url}/admin`, { viewport: { width: 1180, height: 900 } });

  // Signed out: the sign-in view, nothing else.
  assert.equal(await visible(page, '#signin'), true);
  assert.equal(await visible(page, '#dashboard'), false);
  assert.equal(await text(page, '#status'), 'signed out');
  await page.fill('#signin-key', BACKEND);
  await page.click('#signin-submit');
  await waitFor(async () => (await text(page, '#signin-error')) !== '', { what: 'the refusal of a backend key' });
  assert.equal(await text(page, '#signin-error'), 'Those credentials carry no admin rights.');
  await page.fill('#signin-key', ADMIN);
  await Promise.all([page.waitForNavigation(), page.click('#signin-submit')]);
  const cookies = await context.cookies(server.url);
  const session = cookies.find((c) => c.name === 'switchboard_admin');
  assert.ok(session, 'the session cookie is set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'the page cannot read it');

  // Signed in: the dashboard goes live over its EventSource.
  await waitFor(async () => (await text(page, '#status')) === 'live', { what: 'the stats stream to go live' });
  assert.equal(await visible(page, '#dashboard'), true);
  assert.match(await text(page, '#version'), /^\d+\.\d+\.\d+ \(.+\)$/);
  const before = {
    total: await number(page, '#conn-total'),
    sseH1: await number(page, '#conn-sse-h1'),
    published: await number(page, '#published'),
  };
  assert.equal(await text(page, '#rate-pub'), '0');
  assert.equal(before.sseH1, 1, 'the page\'s own stream');

  // Load from outside the page: subscribers on a few topics, one over HTTP/2, a room, publishes.
  const plan = [['orders/eu', 12], ['orders/us', 7], ['chat/lobby', 5], ['dash/cpu', 3]];
  const streams = [];
  t.after(() => streams.forEach((s) => s.close()));
  for (const [topic, n] of plan) {
    for (let i = 0; i < n; i++) streams.push(await openSse(server.port, { topics: [topic], headers: bearer(BACKEND), keep: false }));
  }
  const h2 = await connectH2(t, server.url);
  for (const topic of ['dash/cpu', 'dash/mem']) h2Events(t, h2, `/v1/events?topic=${topic}`, { headers: { authorization: `Bearer ${BACKEND}` } });
  for (const name of ['grace', 'linus', 'radia']) {
    const ws = await openWs(t, server.port, { name, options: { headers: bearer(BACKEND) } });
    await ws.ok({ op: 'presence.join', topic: 'chat/lobby', state: { name } });
  }
  let stop = false;
  let published = 0;
  const publisher = (async () => {
    while (!stop && server.running) {
      await Promise.all(['orders/eu', 'orders/us', 'dash/cpu'].map((topic) =>
        publishOk(server.url, topic, JSON.stringify({ n: published }), { headers: bearer(BACKEND) })));
      published += 3;
      await sleep(25);
    }
  })();
  const stopLoad = async () => {
    stop = true;
    await publisher.catch(() => {}); // the server may be gone already when a failed test ends
  };
  t.after(stopLoad);

  await waitFor(async () => (await number(page, '#rate-pub')) > 0 && (await number(page, '#rate-del')) > 0,
    { what: 'publishes and deliveries per second above zero' });
  await waitFor(async () => (await number(page, '#conn-sse-h1')) === before.sseH1 + 27, { what: '27 more SSE streams over HTTP/1.1' });
  await waitFor(async () => (await number(page, '#conn-sse-h2')) === 2 && (await number(page, '#conn-ws')) === 3,
    { what: '2 SSE streams over HTTP/2 and 3 WebSockets' });
  assert.ok((await number(page, '#conn-total')) >= before.total + 27 + 1 + 3);
  const busiest = await page.$$eval('#busiest tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(busiest.slice(0, 4), [
    ['orders/eu', '12', '0'],
    ['chat/lobby', '8', '3'], // 5 SSE streams and the 3 members' WebSockets
    ['orders/us', '7', '0'],
    ['dash/cpu', '4', '0'], // 3 over HTTP/1.1, 1 over HTTP/2
  ]);
  assert.equal(await number(page, '#presence-members'), 3);
  await waitFor(async () => (await number(page, '#published')) >= before.published + 30, { what: 'the published total to grow' });
  // The chart has drawn the rates.
  assert.ok((await page.$eval('#chart polyline.pub', (el) => el.getAttribute('points'))).split(' ').length >= 2);

  // The topic listing, by prefix, over the same cookie.
  await page.fill('#topics-prefix', 'orders/');
  await page.click('#topics-form button.primary');
  await waitFor(async () => (await page.$$eval('#topics tr', (rows) => rows.length)) === 2 &&
    (await text(page, '#topics tr:first-child td:first-child')) === 'orders/eu', { what: 'the orders/ topics listed' });
  const listed = await page.$$eval('#topics tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(listed.map((r) => r.slice(0, 3)), [['orders/eu', '12', '0'], ['orders/us', '7', '0']]);
  assert.match(listed[0][3], /^\d+-\d+$/);

  await sleep(4000); // a few more points on the chart
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  await stopLoad();
  assert.ok(published > 0);
  assert.deepEqual(context.pageErrors, []);
});
