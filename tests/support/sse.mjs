// An SSE client for the tests that follows the WHATWG event-stream parsing rules
// (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
// over a raw socket, so a test sees every byte, every block (also the ones a browser would not
// dispatch, such as an `id:`-only block or a heartbeat comment) and exactly when the server closes.
import net from 'node:net';
import { ChunkedDecoder, parseHead } from './http.mjs';
import { untilWith } from './util.mjs';

/**
 * WHATWG event-stream parser. feed() takes text (already UTF-8 decoded) and returns the blocks
 * completed by it. A block is everything up to a blank line:
 *   { dispatched, event, data, id, idField, retry, comments, fields }
 * - dispatched: a browser would fire a MessageEvent (the data buffer was not empty);
 * - event: the type ("message" by default) when dispatched, else the raw event field or undefined;
 * - data: the data with the final LF removed (null when not dispatched);
 * - id: the stream's last event ID after this block (persists across blocks, as in the spec;
 *   an event cut off before its blank line never changes it);
 * - idField: the id field's value inside this block, if any;
 * - retry: the retry value set inside this block, if any (digits only, per spec);
 * - comments: comment lines inside this block (without the leading ':').
 * Comment-only blocks are returned too (dispatched false).
 */
export class SseParser {
  constructor() {
    this.lastEventId = ''; // the event source's last event ID string (set at dispatch)
    this.idBuffer = ''; // the last event ID buffer (set by id fields, kept across blocks)
    this.retry = undefined; // reconnection time in ms, as last set by the stream
    this.comments = []; // every comment line ever seen (text after ':')
    this.pending = ''; // an unterminated line
    this.skipLF = false; // previous chunk ended with CR
    this.started = false;
    this.resetBlock();
  }

  resetBlock() {
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    this.block = { idField: undefined, retry: undefined, comments: [], fields: [], eventField: undefined };
    this.blockHasLines = false;
  }

  feed(text) {
    const out = [];
    if (!this.started && text.length) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let i = 0;
    if (this.skipLF && text.length) {
      if (text.charCodeAt(0) === 10) i = 1;
      this.skipLF = false;
    }
    let start = i;
    const n = text.length;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 10 || c === 13) {
        const line = this.pending + text.slice(start, i);
        this.pending = '';
        this.line(line, out);
        if (c === 13) {
          if (i + 1 < n) {
            if (text.charCodeAt(i + 1) === 10) i++;
          } else {
            this.skipLF = true;
          }
        }
        start = i + 1;
      }
      i++;
    }
    if (start < n) this.pending += text.slice(start);
    return out;
  }

  line(line, out) {
    if (line === '') {
      this.dispatch(out);
      return;
    }
    this.blockHasLines = true;
    if (line.charCodeAt(0) === 58) {
      const c = line.slice(1);
      this.block.comments.push(c);
      this.comments.push(c);
      return;
    }
    const colon = line.indexOf(':');
    let field;
    let value;
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    } else {
      field = line;
      value = '';
    }
    this.block.fields.push([field, value]);
    switch (field) {
      case 'event':
        this.eventType = value;
        this.block.eventField = value;
        break;
      case 'data':
        this.data += `${value}\n`;
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.idBuffer = value;
          this.block.idField = value;
        }
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) {
          this.retry = Number(value);
          this.block.retry = this.retry;
        }
        break;
      default:
        break; // ignored, per spec
    }
  }

  dispatch(out) {
    // Per spec the last event ID string takes the buffer's value at every dispatch, also for a
    // block without data; a block cut off by the end of the stream never gets here.
    this.lastEventId = this.idBuffer;
    if (!this.blockHasLines) {
      this.resetBlock();
      return;
    }
    const dispatched = this.data !== '';
    out.push({
      dispatched,
      event: dispatched ? this.eventType || 'message' : this.block.eventField,
      data: dispatched ? this.data.slice(0, -1) : null,
      id: this.lastEventId,
      idField: this.block.idField,
      retry: this.block.retry,
      comments: this.block.comments,
      fields: this.block.fields,
    });
    this.resetBlock();
  }
}

/** Builds the /v1/events query. */
export function eventsPath({ topics = [], since, query = {} } = {}) {
  const q = new URLSearchParams();
  for (const t of topics) q.append('topic', t);
  if (since !== undefined) q.set('since', since);
  for (const [k, v] of Object.entries(query)) q.append(k, v);
  return `/v1/events?${q.toString()}`;
}

/**
 * An SSE subscription over a raw socket. Use openSse() to create one.
 * Fields: status, headers, statusLine, body (for a non-200 answer), blocks, events (dispatched
 * blocks only), raw (the first `rawLimit` decoded characters of the stream body), parser
 * (lastEventId, retry, comments), ended (server closed), endedAt.
 */
export class SseStream {
  constructor(sock, { keep = true, rawLimit = 65536, onBlock } = {}) {
    this.sock = sock;
    this.keep = keep;
    this.rawLimit = rawLimit;
    this.onBlock = onBlock;
    this.parser = new SseParser();
    this.decoder = new TextDecoder('utf-8');
    this.head = null;
    this.status = undefined;
    this.headers = undefined;
    this.blocks = [];
    this.events = [];
    this.eventCount = 0;
    this.blockCount = 0;
    this.raw = '';
    this.bytes = 0;
    this.body = Buffer.alloc(0);
    this.chunked = null;
    this.contentLength = undefined;
    this.pre = Buffer.alloc(0);
    this.ended = false;
    this.endedAt = null;
    this.error = null;
    this.closedByUs = false;
    this.preamble = null; // first id-only block, if it came before any message
    this.preambleSettled = false;
    this.preambleError = null;
    this.waiters = new Set();
    this.cursor = 0;
    sock.on('data', (d) => this.onData(d));
    sock.on('end', () => this.onEnd());
    sock.on('close', () => this.onEnd());
    sock.on('error', (err) => {
      this.error = err;
      this.onEnd();
    });
  }

  notify() {
    for (const w of [...this.waiters]) w();
  }

  onData(d) {
    if (!this.head) {
      this.pre = this.pre.length ? Buffer.concat([this.pre, d]) : d;
      let h;
      try {
        h = parseHead(this.pre);
      } catch (err) {
        this.error = err;
        this.sock.destroy();
        return;
      }
      if (!h) return;
      this.head = h;
      this.status = h.status;
      this.headers = h.headers;
      this.statusLine = h.statusLine;
      const te = (h.headers['transfer-encoding'] || '').toLowerCase();
      if (te.includes('chunked')) this.chunked = new ChunkedDecoder();
      else if (h.headers['content-length'] !== undefined) this.contentLength = Number(h.headers['content-length']);
      d = this.pre.subarray(h.headLength);
      this.pre = Buffer.alloc(0);
      this.notify();
    }
    let payload = d;
    if (this.chunked) {
      try {
        payload = this.chunked.push(d);
      } catch (err) {
        this.error = err;
        this.sock.destroy();
        return;
      }
    }
    this.bytes += payload.length;
    if (this.status !== 200) {
      this.body = Buffer.concat([this.body, payload]);
      if (
        (this.contentLength !== undefined && this.body.length >= this.contentLength) ||
        (this.chunked && this.chunked.done)
      ) {
        this.finish();
      }
      this.notify();
      return;
    }
    const text = this.decoder.decode(payload, { stream: true });
    if (this.raw.length < this.rawLimit) this.raw += text.slice(0, this.rawLimit - this.raw.length);
    const blocks = this.parser.feed(text);
    for (const b of blocks) {
      this.blockCount++;
      if (!this.preambleSettled) {
        if (b.dispatched) {
          this.preambleSettled = true;
          this.preambleError = `a message arrived before the id preamble: ${JSON.stringify(b).slice(0, 200)}`;
        } else if (b.idField !== undefined) {
          this.preambleSettled = true;
          this.preamble = b;
        }
      }
      if (b.dispatched) this.eventCount++;
      if (this.keep) {
        this.blocks.push(b);
        if (b.dispatched) this.events.push(b);
      }
      if (this.onBlock) this.onBlock(b, this);
    }
    if (this.chunked && this.chunked.done) this.finish();
    this.notify();
  }

  finish() {
    if (this.sock && !this.sock.destroyed) this.sock.destroy();
    this.onEnd();
  }

  onEnd() {
    if (!this.ended) {
      this.ended = true;
      this.endedAt = Date.now();
    }
    this.notify();
  }

  get text() {
    return this.body.toString('utf8');
  }

  get lastEventId() {
    return this.parser.lastEventId;
  }

  get retry() {
    return this.parser.retry;
  }

  get comments() {
    return this.parser.comments;
  }

  /** Resolves with fn()'s truthy value, re-checked on every byte and on close. */
  until(fn, timeoutMs, what) {
    return untilWith(this.waiters, () => fn(this), timeoutMs, () =>
      `${what}; status ${this.status}, ${this.eventCount} events, ` +
        `ended ${this.ended}, raw start ${JSON.stringify(this.raw.slice(0, 200))}, last events ` +
        JSON.stringify(this.events.slice(-3).map((e) => ({ id: e.id, event: e.event, data: e.data?.slice(0, 60) }))),
    );
  }

  /** Waits until at least `n` dispatched events arrived; returns the first n. Fails early on close. */
  async waitEvents(n, timeoutMs = 5000) {
    await this.until(
      (s) => {
        if (s.eventCount >= n) return true;
        if (s.ended) throw new Error(`stream ended after ${s.eventCount} of ${n} events (status ${s.status}); raw start ${JSON.stringify(s.raw.slice(0, 300))}`);
        return false;
      },
      timeoutMs,
      `${n} events`,
    );
    return this.events.slice(0, n);
  }

  /** Next dispatched event after the ones already taken by next(). */
  async next(timeoutMs = 5000) {
    await this.waitEvents(this.cursor + 1, timeoutMs);
    return this.events[this.cursor++];
  }

  /** Waits until the server closes the stream; returns true if it did within timeoutMs. */
  async waitEnded(timeoutMs) {
    try {
      await this.until((s) => s.ended, timeoutMs, 'the stream to end');
      return true;
    } catch {
      return false;
    }
  }

  /** Stops reading from the socket (the server's writes then back up). */
  pause() {
    this.sock.pause();
  }

  resume() {
    this.sock.resume();
  }

  close() {
    this.closedByUs = true;
    this.sock.destroy();
  }
}

/**
 * Opens GET /v1/events on a raw socket and resolves once the response head arrived (for a non-200
 * answer: once its body is complete or the connection closed).
 * Options: topics, since, lastEventId (sent as the Last-Event-ID header), query (extra params),
 * path (overrides the whole request target), headers, keep (store blocks; false for floods),
 * onBlock(block, stream), timeoutMs.
 */
export function openSse(port, opts = {}) {
  const { lastEventId, headers = {}, timeoutMs = 5000, path = eventsPath(opts) } = opts;
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    const stream = new SseStream(sock, opts);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no SSE response head within ${timeoutMs} ms for ${path}`));
    }, timeoutMs);
    sock.once('connect', () => {
      let head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n`;
      if (lastEventId !== undefined) head += `Last-Event-ID: ${lastEventId}\r\n`;
      for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
      sock.write(`${head}\r\n`);
    });
    stream
      .until(
        (s) => {
          if (s.error && !s.head) throw s.error;
          if (s.head && s.status === 200) return true;
          if (s.head && s.ended) return true;
          if (!s.head && s.ended) throw new Error(`connection closed before a response head for ${path}`);
          return false;
        },
        timeoutMs,
        `the SSE response to ${path}`,
      )
      .then(
        () => {
          clearTimeout(timer);
          resolve(stream);
        },
        (err) => {
          clearTimeout(timer);
          sock.destroy();
          reject(err);
        },
      );
  });
}

/** openSse() that asserts 200 text/event-stream and registers close in t.after. */
export async function subscribe(t, port, opts = {}) {
  const s = await openSse(port, opts);
  if (t && typeof t.after === 'function') t.after(() => s.close());
  if (s.status !== 200) {
    s.close();
    throw new Error(`subscribe ${JSON.stringify(opts.topics)} answered ${s.status}: ${s.text.slice(0, 200)}`);
  }
  return s;
}

/**
 * Waits for the stream's preamble: the first block that carries an `id:` field, which must come
 * before any dispatched event. Returns { block, id, retry } (retry as set by then).
 */
export async function waitPreamble(stream, timeoutMs = 3000) {
  const block = await stream.until(
    (s) => {
      if (s.preambleError) throw new Error(s.preambleError);
      if (s.preamble) return s.preamble;
      if (s.ended) throw new Error(`stream ended before its preamble (status ${s.status}); raw ${JSON.stringify(s.raw.slice(0, 200))}`);
      return null;
    },
    timeoutMs,
    'the SSE preamble (retry + id-only block)',
  );
  return { block, id: block.idField, retry: stream.retry };
}
