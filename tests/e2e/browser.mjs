// Real-browser helpers for the e2e tests: Debian's Chromium driven by playwright-core, a TCP proxy
// that can drop every connection between the page and the server (a network blip without a
// server restart), and bounded polling of page state. Pages and proxies end with the test that
// opened them (`t.after`); the browser, shared by a file's tests, ends with the file (a root
// `after` hook; Playwright also kills it if the runner exits).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { after } from 'node:test';
import { request } from '../support/http.mjs';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function playwright() {
  try {
    return await import('playwright-core');
  } catch (err) {
    throw new Error(`playwright-core is not installed (npm install playwright-core): ${err.message}`);
  }
}

let shared = null; // one browser per test file (a launch costs ~3 s); each test gets its own pages
const state = { dir: null };
process.on('exit', () => {
  if (state.dir) rmSync(state.dir, { recursive: true, force: true });
});
after(async () => {
  if (!shared) return;
  const context = await shared.catch(() => null);
  shared = null;
  if (context) await Promise.race([context.close().catch(() => {}), sleep(5000)]);
  if (state.dir) rmSync(state.dir, { recursive: true, force: true });
  state.dir = null;
});

async function launch(extraArgs = []) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_BIN)`);
  }
  const { chromium } = await playwright();
  // A fresh user-data-dir: Playwright takes it as the persistent context's folder (it refuses a
  // --user-data-dir argument).
  state.dir = mkdtempSync(join(tmpdir(), 'switchboard-e2e-'));
  const context = await chromium.launchPersistentContext(state.dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...ARGS, ...extraArgs],
    viewport: { width: 1200, height: 900 },
    timeout: 30000,
  });
  context.setDefaultTimeout(10000);
  context.pageErrors = [];
  context.on('weberror', (e) => context.pageErrors.push(String(e.error())));
  context.on('page', (page) => page.on('pageerror', (e) => context.pageErrors.push(String(e))));
  return context;
}

/**
 * The file's browser context (Debian's Chromium, launched on first use, closed after the file's
 * last test). Pages the test opens are closed by `t.after`; `context.pageErrors` starts empty.
 */
export async function launchBrowser(t, { args = [] } = {}) {
  shared ??= launch(args); // `args` count on the file's first launch only
  const context = await shared;
  context.pageErrors.length = 0;
  const before = new Set(context.pages());
  t.after(async () => {
    for (const page of context.pages()) {
      if (!before.has(page)) await page.close().catch(() => {});
    }
  });
  return context;
}

/** Opens a page at `url`, optionally with its own viewport and a fixed Date (for screenshots). */
export async function openPage(context, url, { viewport, fixedTime } = {}) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  if (fixedTime) await page.clock.setFixedTime(fixedTime); // Date only; timers run as usual
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  return page;
}

/** Polls fn() until truthy; throws after timeoutMs with `what` and the last value. */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 50, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timeout after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await sleep(intervalMs);
  }
}

/** The demo panel's status badge text (live, reconnecting, resumed, gap, ...). */
export function panelStatus(page, panel) {
  return page.$eval(`[data-panel=${panel}] .status`, (el) => el.dataset.status);
}

/**
 * Records every status a demo panel shows from now on, so a short-lived state (e.g.
 * "reconnecting") is not missed between two polls.
 */
export async function recordStatuses(page, panel) {
  await page.evaluate((name) => {
    const el = document.querySelector(`[data-panel=${name}] .status`);
    window.__statuses = window.__statuses || {};
    const seen = (window.__statuses[name] = [el.dataset.status]);
    new MutationObserver(() => {
      if (seen[seen.length - 1] !== el.dataset.status) seen.push(el.dataset.status);
    }).observe(el, { attributes: true, attributeFilter: ['data-status'] });
  }, panel);
  return () => page.evaluate((name) => window.__statuses[name], panel);
}

/** POST to the server from the test (not through the browser). */
export async function post(url, body = '', headers = {}) {
  const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'text/plain', ...headers } });
  return res;
}

/**
 * A TCP proxy in front of the server. The page loads from proxy.url, so all its connections
 * (EventSource, WebSocket, fetch) go through it. cut() drops every open connection at once, as a
 * lost network would; block() makes new connections fail until unblock().
 */
export async function startProxy(t, targetPort) {
  const pairs = new Set();
  let blocked = false;
  const server = net.createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const proxy = {
    port,
    url: `http://127.0.0.1:${port}`,
    get open() {
      return pairs.size;
    },
    cut() {
      const n = pairs.size;
      for (const { client, upstream } of [...pairs]) {
        client.resetAndDestroy?.() ?? client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      return n;
    },
    block() {
      blocked = true;
    },
    unblock() {
      blocked = false;
    },
    close() {
      proxy.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  t.after(() => proxy.close());
  return proxy;
}

/** Streams `events` ([{event, data}]) into POST /v1/topics/{topic}/stream, chunk by chunk. */
export function streamPublish(base, topic, events, { gapMs = 15 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(`${base}/v1/topics/${topic}/stream`);
    const sock = net.connect(Number(u.port), u.hostname);
    let reply = '';
    sock.setEncoding('utf8');
    sock.on('data', (s) => {
      reply += s;
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('stream publish did not finish within 15 s'));
    }, 15000);
    sock.on('error', reject);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
    sock.on('connect', async () => {
      sock.write(
        `POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: text/event-stream\r\n` +
          'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
      );
      for (const e of events) {
        const body = `${e.event ? `event: ${e.event}\n` : ''}data: ${e.data}\n\n`;
        sock.write(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`);
        await sleep(gapMs);
      }
      sock.write('0\r\n\r\n');
    });
  });
}
