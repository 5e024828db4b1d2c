// The demo page in a real browser: the retained counter and chart on load, the token stream in
// order (from a streamed publish and from the dev-mode generator), and a phone-sized layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { request, publishOk } from '../support/http.mjs';
import { subscribe } from '../support/sse.mjs';
import { launchBrowser, openPage, panelStatus, post, streamPublish, waitFor } from './browser.mjs';

const text = (page, sel) => page.$eval(sel, (el) => el.textContent);

test('the demo page and the client library are served in dev mode', async (t) => {
  const server = await startServer(t);
  const page = await request(`${server.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /^text\/html/);
  assert.match(page.text, /import \{[^}]*\} from "\/client\.js"/);
  const js = await request(`${server.url}/client.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /javascript/);
  for (const name of ['listen', 'publish', 'connect']) {
    assert.match(js.text, new RegExp(`export (async )?function ${name}\\(`), `client.js exports ${name}`);
  }
});

test('the counter and the chart show the latest retained value on load; +1 goes round trip', async (t) => {
  const server = await startServer(t);
  await publishOk(server.url, 'demo/counter', '41', { event: 'count', retain: true });
  await publishOk(server.url, 'demo/counter', '42', { event: 'count', retain: true });
  await publishOk(server.url, 'demo/chart', '17.5', { event: 'point', retain: true });
  await publishOk(server.url, 'demo/feed', 'published before the page opened', { event: 'note' });

  const context = await launchBrowser(t);
  const page = await openPage(context, `${server.url}/`);
  await waitFor(async () => (await text(page, '#counter')) === '42', { what: 'the counter to show 42' });
  await waitFor(async () => (await text(page, '#chart-latest')) === 'latest 17.5', { what: 'the chart to show 17.5' });
  assert.equal(await panelStatus(page, 'counter'), 'live');
  // A feed is not retained: a new page starts live, with nothing replayed.
  assert.equal(await page.$$eval('#feed li.item', (els) => els.length), 0);

  await page.click('#counter-inc');
  await waitFor(async () => (await text(page, '#counter')) === '43', { what: 'the +1 to come back over SSE' });
  const reopened = await openPage(context, `${server.url}/`);
  await waitFor(async () => (await text(reopened, '#counter')) === '43', { what: 'a second page to load 43' });
  assert.deepEqual(context.pageErrors, []);
});

test('a streamed token sequence renders in order', async (t) => {
  const server = await startServer(t);
  const context = await launchBrowser(t);
  const page = await openPage(context, `${server.url}/`);
  await waitFor(async () => (await panelStatus(page, 'llm')) === 'live', { what: 'the llm panel to be live' });

  const tokens = Array.from({ length: 40 }, (_, i) => (i === 0 ? 'Token' : ` t${String(i).padStart(2, '0')}`));
  const events = [...tokens.map((data) => ({ event: 'token', data })), { event: 'done', data: '' }];
  const reply = await streamPublish(server.url, 'demo/llm', events, { gapMs: 10 });
  assert.match(reply, /^HTTP\/1\.1 200/, reply.slice(0, 200));
  assert.match(reply, /"published":41/);

  await waitFor(async () => (await page.$eval('#llm-output', (el) => el.dataset.state)) === 'done', {
    what: 'the done event',
  });
  assert.equal(await text(page, '#llm-output'), tokens.join(''));
  assert.equal(await text(page, '#llm-meta'), `40 tokens in ${(await text(page, '#llm-meta')).split(' in ')[1]}`);
});

test('the dev generator (POST /v1/dev/llm) streams an answer that every viewer sees in order', async (t) => {
  const server = await startServer(t);
  const probe = await post(`${server.url}/v1/dev/llm?topic=e2e/probe`);
  if (probe.status === 404) {
    t.skip('this server has no POST /v1/dev/llm yet');
    return;
  }
  assert.equal(probe.status, 202, probe.text);

  // An independent listener records the tokens as the server sent them.
  const listener = await subscribe(t, server.port, { topics: ['demo/llm'] });
  const context = await launchBrowser(t);
  const page = await openPage(context, `${server.url}/`);
  await waitFor(async () => (await panelStatus(page, 'llm')) === 'live', { what: 'the llm panel to be live' });
  await page.click('#llm-ask');
  await waitFor(async () => (await page.$eval('#llm-output', (el) => el.dataset.state)) === 'streaming', {
    what: 'the first token',
  });
  await waitFor(async () => (await page.$eval('#llm-output', (el) => el.dataset.state)) === 'done', {
    timeoutMs: 20000,
    what: 'the generator to finish (event: done)',
  });
  await waitFor(() => listener.events.some((e) => e.event === 'done'), { what: 'the listener to see done' });
  const sent = listener.events.filter((e) => e.event === 'token').map((e) => e.data);
  assert.ok(sent.length >= 10, `the generator sent ${sent.length} tokens`);
  assert.equal(await text(page, '#llm-output'), sent.join(''));
  assert.match(await text(page, '#llm-meta'), new RegExp(`^${sent.length} tokens in `));
});

test('the demo fits a phone-sized screen', async (t) => {
  const server = await startServer(t);
  const context = await launchBrowser(t);
  const page = await openPage(context, `${server.url}/`, { viewport: { width: 375, height: 740 } });
  await waitFor(async () => (await panelStatus(page, 'room')) === 'live', { what: 'the room to be live' });
  const layout = await page.evaluate(() => ({
    scrollWidth: document.scrollingElement.scrollWidth,
    width: window.innerWidth,
    board: document.querySelector('#board').getBoundingClientRect().width,
    columns: new Set([...document.querySelectorAll('section')].map((s) => Math.round(s.getBoundingClientRect().left))).size,
  }));
  assert.ok(layout.scrollWidth <= layout.width, `no horizontal scroll (${layout.scrollWidth} > ${layout.width})`);
  assert.equal(layout.columns, 1, 'one column on a phone');
  assert.ok(layout.board > 300, `the canvas uses the width (${layout.board}px)`);
});
