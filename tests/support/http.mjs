// HTTP helpers for the integration tests:
// - request(): one request on its own connection (node:http, no keep-alive pool), so no
//   connection outlives the call and connection counts in /metrics stay predictable;
// - RawConn: a raw TCP socket that sends exact bytes and parses responses by hand
//   (status line, headers, Content-Length / chunked / close-delimited bodies);
// - publish(), publishBatch(), history(): the public API as plain calls.
import http from 'node:http';
import net from 'node:net';
import { untilWith } from './util.mjs';

/**
 * One HTTP request on a fresh connection. `body` may be a string or Buffer.
 * Resolves { status, headers (lower-case keys), text, json() }; rejects on timeout or socket error.
 */
export function request(url, { method = 'GET', headers = {}, body, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        headers: body !== undefined ? { 'content-length': Buffer.byteLength(body), ...headers } : headers,
        agent: false,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode,
            headers: res.headers,
            text,
            json() {
              return JSON.parse(text);
            },
          });
        });
        res.on('error', fail);
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`));
    }, timeoutMs);
    function fail(err) {
      clearTimeout(timer);
      reject(err);
    }
    req.on('error', fail);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Builds `/v1/topics/{topic}` with the topic's slashes kept raw and other bytes percent-encoded. */
export function topicPath(topic, suffix = '') {
  const enc = topic
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
  return `/v1/topics/${enc}${suffix}`;
}

/** POST /v1/topics/{topic}; returns { status, body (parsed JSON or null), text, headers }. */
export async function publish(base, topic, data, { event, retain, headers = {} } = {}) {
  const q = new URLSearchParams();
  if (event !== undefined) q.set('event', event);
  if (retain) q.set('retain', '1');
  const qs = q.toString();
  const res = await request(`${base}${topicPath(topic)}${qs ? `?${qs}` : ''}`, {
    method: 'POST',
    body: data,
    headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
  });
  return { status: res.status, headers: res.headers, text: res.text, body: tryJson(res.text) };
}

/** publish() that asserts 201 and returns the id. */
export async function publishOk(base, topic, data, opts) {
  const res = await publish(base, topic, data, opts);
  if (res.status !== 201 || !res.body || typeof res.body.id !== 'string') {
    throw new Error(`publish to ${topic} failed: ${res.status} ${res.text.slice(0, 200)}`);
  }
  return res.body.id;
}

/** POST /v1/publish with {messages}; returns { status, body, text }. */
export async function publishBatch(base, messages) {
  const res = await request(`${base}/v1/publish`, {
    method: 'POST',
    body: JSON.stringify({ messages }),
    headers: { 'content-type': 'application/json' },
  });
  return { status: res.status, headers: res.headers, text: res.text, body: tryJson(res.text) };
}

/** GET /v1/topics/{topic}/history with optional since/limit. */
export async function history(base, topic, { since, limit } = {}) {
  const q = new URLSearchParams();
  if (since !== undefined) q.set('since', since);
  if (limit !== undefined) q.set('limit', String(limit));
  const qs = q.toString();
  const res = await request(`${base}${topicPath(topic, '/history')}${qs ? `?${qs}` : ''}`);
  return { status: res.status, headers: res.headers, text: res.text, body: tryJson(res.text) };
}

export function tryJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Splits `<epoch>-<seq>` into BigInts; throws if the id does not have that form. */
export function parseTopicId(id) {
  const m = /^(\d+)-(\d+)$/.exec(id);
  if (!m) throw new Error(`not an <epoch>-<seq> id: ${JSON.stringify(id)}`);
  return { epoch: m[1], seq: BigInt(m[2]) };
}

/** Parses a response head (status line + headers) from a buffer; null if incomplete. */
export function parseHead(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const headText = buf.subarray(0, end).toString('latin1');
  const lines = headText.split('\r\n');
  const statusLine = lines[0];
  const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  const headers = {};
  const rawHeaders = [];
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    rawHeaders.push([name, value]);
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { statusLine, version: m[1], status: Number(m[2]), reason: m[3] ?? '', headers, rawHeaders, headLength: end + 4 };
}

/** Incremental decoder for `Transfer-Encoding: chunked` bodies. */
export class ChunkedDecoder {
  constructor() {
    this.buf = Buffer.alloc(0);
    this.done = false;
    this.state = 'size'; // size | data | data-crlf | trailers
    this.remaining = 0;
  }

  /** Feeds bytes; returns the decoded payload bytes (possibly empty). */
  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out = [];
    for (;;) {
      if (this.done) break;
      if (this.state === 'size') {
        const i = this.buf.indexOf('\r\n');
        if (i < 0) break;
        const line = this.buf.subarray(0, i).toString('latin1');
        const size = parseInt(line.split(';')[0].trim(), 16);
        if (!Number.isFinite(size)) throw new Error(`bad chunk size line: ${JSON.stringify(line)}`);
        this.buf = this.buf.subarray(i + 2);
        if (size === 0) {
          this.state = 'trailers';
        } else {
          this.remaining = size;
          this.state = 'data';
        }
      } else if (this.state === 'data') {
        if (this.buf.length === 0) break;
        const n = Math.min(this.remaining, this.buf.length);
        out.push(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'data-crlf';
      } else if (this.state === 'data-crlf') {
        if (this.buf.length < 2) break;
        this.buf = this.buf.subarray(2);
        this.state = 'size';
      } else if (this.state === 'trailers') {
        const i = this.buf.indexOf('\r\n');
        if (i < 0) break;
        const line = this.buf.subarray(0, i);
        this.buf = this.buf.subarray(i + 2);
        if (line.length === 0) this.done = true;
      }
    }
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }
}

/**
 * A raw TCP connection to the server: write exact bytes, read responses by hand.
 * Everything received is kept in `this.buf` until a read consumes it.
 */
export class RawConn {
  /** Connects to host:port (from `localAddress` when given). */
  static open(port, { host = '127.0.0.1', timeoutMs = 5000, localAddress } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect timeout to ${host}:${port}`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawConn(sock));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.ended = false; // peer sent FIN
    this.closed = false; // socket fully closed
    this.error = null;
    this.waiters = new Set();
    this.closedAt = null;
    sock.setNoDelay(true);
    sock.on('data', (d) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.notify();
    });
    sock.on('end', () => {
      this.ended = true;
      this.closedAt ??= Date.now();
      this.notify();
    });
    sock.on('error', (err) => {
      this.error = err;
      this.notify();
    });
    sock.on('close', () => {
      this.closed = true;
      this.closedAt ??= Date.now();
      this.notify();
    });
  }

  notify() {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when fn() returns a truthy value (re-checked on every socket event). */
  until(fn, timeoutMs, what) {
    return untilWith(this.waiters, fn, timeoutMs, () =>
      `${what}; received so far: ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`,
    );
  }

  write(bytes) {
    return new Promise((resolve) => {
      if (this.sock.destroyed) {
        resolve(false);
        return;
      }
      // A write to a socket the server already closed may fail; callers then check the response.
      this.sock.write(bytes, (err) => resolve(!err));
    });
  }

  /** Half-closes our side (FIN). */
  end() {
    this.sock.end();
  }

  destroy() {
    this.sock.destroy();
  }

  get eof() {
    return this.ended || this.closed || this.error !== null;
  }

  /**
   * Reads one response: head, then body by Content-Length, chunked, or until close.
   * `head: true` means the request was HEAD (no body). Consumes the bytes from the buffer.
   */
  async readResponse({ timeoutMs = 5000, headOnly = false } = {}) {
    const head = await this.until(
      () => {
        const h = parseHead(this.buf);
        if (h) return h;
        if (this.eof) throw new Error(`connection closed before a response head; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
        return null;
      },
      timeoutMs,
      'a response head',
    );
    this.buf = this.buf.subarray(head.headLength);
    let body = Buffer.alloc(0);
    const noBody = headOnly || head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200);
    if (noBody) {
      return { ...head, body, text: '' };
    }
    const te = (head.headers['transfer-encoding'] || '').toLowerCase();
    if (te.includes('chunked')) {
      const dec = new ChunkedDecoder();
      const parts = [];
      await this.until(
        () => {
          if (this.buf.length) {
            parts.push(dec.push(this.buf));
            this.buf = Buffer.alloc(0);
          }
          if (dec.done) {
            this.buf = dec.buf;
            return true;
          }
          if (this.eof) throw new Error('connection closed inside a chunked body');
          return false;
        },
        timeoutMs,
        'a chunked body',
      );
      body = Buffer.concat(parts);
    } else if (head.headers['content-length'] !== undefined) {
      const n = Number(head.headers['content-length']);
      await this.until(
        () => {
          if (this.buf.length >= n) return true;
          if (this.eof) throw new Error(`connection closed after ${this.buf.length} of ${n} body bytes`);
          return false;
        },
        timeoutMs,
        `a ${n}-byte body`,
      );
      body = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
    } else {
      await this.until(() => this.eof, timeoutMs, 'a close-delimited body');
      body = this.buf;
      this.buf = Buffer.alloc(0);
    }
    return { ...head, body, text: body.toString('utf8') };
  }

  /** True if the peer closed (FIN or reset) within timeoutMs, reading and discarding any bytes. */
  async waitClosed(timeoutMs) {
    try {
      await this.until(() => this.eof, timeoutMs, 'the server to close the connection');
      return true;
    } catch {
      return false;
    }
  }
}

/** Opens a raw connection, writes `bytes`, reads one response; the connection is destroyed after. */
export async function rawExchange(port, bytes, { timeoutMs = 5000, keep = false } = {}) {
  const conn = await RawConn.open(port);
  try {
    await conn.write(bytes);
    const res = await conn.readResponse({ timeoutMs });
    return keep ? { res, conn } : res;
  } finally {
    if (!keep) conn.destroy();
  }
}
