// WebSocket helpers for the switchboard.v1 integration tests:
// - openWs(): a `ws` client speaking switchboard.v1 that records every server message (parsed JSON,
//   with its arrival time) and lets a test read them in order or wait for one that matches;
// - RawWs: a WebSocket over a raw TCP socket after a hand-written handshake, to send exact frames
//   (unmasked, reserved bits, bad opcodes, fragmented control frames, invalid UTF-8) and read the
//   server's frames byte for byte, close frame included;
// - frame(): builds one client frame.
// Every wait is bounded by a timeout; every socket opened with a `t` is closed in t.after.
import { randomBytes, createHash } from 'node:crypto';
import WebSocket from 'ws';
import { RawConn } from './http.mjs';
import { startServer } from './server.mjs';
import { untilWith } from './util.mjs';

export const SUBPROTOCOL = 'switchboard.v1';
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptKey(key) {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/**
 * Stops a server started by startServer(null, …): SIGTERM, wait for the exit with a timer that is
 * cleared (server.stop()'s own race timer is not, and keeps the test process alive for its full
 * timeout), SIGKILL if it hangs; throws on a crash, a non-zero exit, or an exit nobody asked for.
 */
export async function stopServer(server, timeoutMs = 5000) {
  if (!server) return;
  if (server.running) {
    server.signal('SIGTERM');
    let timer;
    const res = await Promise.race([server.exited, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs, null)))]);
    clearTimeout(timer);
    if (!res) {
      await server.kill();
      throw new Error(`server did not exit within ${timeoutMs} ms of SIGTERM; stderr tail:\n${server.stderr.slice(-2000)}`);
    }
    if (res.signal || res.code !== 0) {
      throw new Error(`server exited with code ${res.code} signal ${res.signal} on SIGTERM; stderr tail:\n${server.stderr.slice(-2000)}`);
    }
  }
  await server.teardown();
}

/** startServer() whose teardown (in t.after, when t is given) is stopServer(). */
export async function startWsServer(t, args = []) {
  const server = await startServer(null, { args });
  if (t && typeof t.after === 'function') t.after(() => stopServer(server));
  return server;
}

const short = (v, n = 300) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > n ? `${s.slice(0, n)}…` : s;
};

/**
 * A switchboard.v1 client over the `ws` library. Fields: ws, msgs (every parsed server message, in
 * order, each with a non-enumerable `at` arrival time), bad (frames that were not JSON), closeInfo
 * ({code, reason} once closed), cursor (for next()).
 */
export class WsClient {
  constructor(ws, name = 'ws') {
    this.ws = ws;
    this.name = name;
    this.msgs = [];
    this.bad = [];
    this.cursor = 0;
    this.closeInfo = null;
    this.error = null;
    this.waiters = new Set();
    this.refCounter = 0;
    this.keep = true;
    this.onMessage = null;
    ws.on('message', (data, isBinary) => {
      const text = data.toString('utf8');
      let m;
      try {
        m = JSON.parse(text);
      } catch {
        this.bad.push({ isBinary, text });
        this.notify();
        return;
      }
      Object.defineProperty(m, 'at', { value: Date.now(), enumerable: false });
      if (this.onMessage) this.onMessage(m);
      if (this.keep) this.msgs.push(m);
      this.notify();
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString('utf8'), at: Date.now() };
      this.notify();
    });
    ws.on('error', (err) => {
      this.error = err;
      this.notify();
    });
  }

  notify() {
    for (const w of [...this.waiters]) w();
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Resolves with fn()'s truthy value, re-checked on every message and on close. */
  until(fn, timeoutMs = 5000, what = 'a condition') {
    return untilWith(this.waiters, () => fn(this), timeoutMs, () =>
      `${what} (${this.name}); ${this.msgs.length} messages, ` +
        `closed ${JSON.stringify(this.closeInfo)}, last: ${short(this.msgs.slice(-4))}`,
    );
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /** A fresh ref (string) for an op. */
  ref(prefix = 'r') {
    this.refCounter += 1;
    return `${prefix}${this.refCounter}`;
  }

  /** Index of the first message at or after `from` matching pred, or -1. */
  findIndex(pred, from = 0) {
    for (let i = from; i < this.msgs.length; i++) if (pred(this.msgs[i])) return i;
    return -1;
  }

  /** Waits for the first message (anywhere in msgs from `from`) matching pred; returns it. */
  async waitMsg(pred, { timeoutMs = 5000, what = 'a matching message', from = 0 } = {}) {
    const i = await this.until(
      (c) => {
        const k = c.findIndex(pred, from);
        if (k >= 0) return k + 1;
        if (c.closeInfo) throw new Error(`${c.name}: closed ${JSON.stringify(c.closeInfo)} before ${what}; last: ${short(c.msgs.slice(-4))}`);
        return 0;
      },
      timeoutMs,
      what,
    );
    return this.msgs[i - 1];
  }

  /** The next message in order (after those taken by next()). */
  async next(timeoutMs = 5000, what = 'the next message') {
    await this.until(
      (c) => {
        if (c.msgs.length > c.cursor) return true;
        if (c.closeInfo) throw new Error(`${c.name}: closed ${JSON.stringify(c.closeInfo)} while waiting for ${what}`);
        return false;
      },
      timeoutMs,
      what,
    );
    return this.msgs[this.cursor++];
  }

  /** Asserts that no further message arrives within ms (beyond those taken by next()). */
  async expectQuiet(ms, filter = () => true) {
    const start = this.msgs.length;
    await new Promise((r) => setTimeout(r, ms));
    const extra = this.msgs.slice(Math.max(start, this.cursor)).filter(filter);
    if (extra.length) throw new Error(`${this.name}: expected no message for ${ms} ms, got ${short(extra)}`);
  }

  /** Sends op with a fresh ref; resolves with the ack or error carrying that ref. */
  async call(op, { timeoutMs = 5000 } = {}) {
    const ref = op.ref ?? this.ref();
    const from = this.msgs.length;
    this.send({ ...op, ref });
    return this.waitMsg((m) => (m.op === 'ack' || m.op === 'error') && m.ref === ref, {
      timeoutMs,
      what: `the answer to ${short(op, 120)} (ref ${ref})`,
      from,
    });
  }

  /**
   * Sends a ping op and waits for its pong: everything the server answers to earlier ops of this
   * connection has arrived once it returns. Returns the pong.
   */
  async sync(timeoutMs = 5000) {
    const ref = this.ref('sync');
    const from = this.msgs.length;
    this.send({ op: 'ping', ref });
    return this.waitMsg((m) => m.op === 'pong' && m.ref === ref, { timeoutMs, what: `the pong for ${ref}`, from });
  }

  /** call() that requires an ack. */
  async ok(op, opts) {
    const r = await this.call(op, opts);
    if (r.op !== 'ack') throw new Error(`${this.name}: ${short(op, 120)} answered ${short(r)}`);
    return r;
  }

  /** Messages of op "message" on `topic` (all so far). */
  messages(topic) {
    return this.msgs.filter((m) => m.op === 'message' && (topic === undefined || m.topic === topic));
  }

  /** Resolves {code, reason} when closed (rejects after timeoutMs). */
  async waitClosed(timeoutMs = 5000) {
    await this.until((c) => c.closeInfo, timeoutMs, 'the connection to close');
    return this.closeInfo;
  }

  close() {
    try {
      this.ws.terminate();
    } catch {
      // already gone
    }
  }

  /** Ends the TCP connection without a close frame (a crashed tab, a lost network). */
  terminate() {
    this.ws.terminate();
  }

  pause() {
    this.ws.pause();
  }

  resume() {
    this.ws.resume();
  }
}

/**
 * Opens ws://127.0.0.1:port/v1/ws offering switchboard.v1 (or `protocols`). Resolves once open
 * with a WsClient (rejects on a refused handshake). `t.after` terminates it.
 */
export function openWs(t, port, { protocols = [SUBPROTOCOL], name, timeoutMs = 5000, path = '/v1/ws', options = {} } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols, { perMessageDeflate: false, handshakeTimeout: timeoutMs, ...options });
    const client = new WsClient(ws, name);
    if (t && typeof t.after === 'function') t.after(() => client.close());
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${client.name}: not open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(client);
    });
    ws.once('unexpected-response', (req, res) => {
      clearTimeout(timer);
      reject(new Error(`${client.name}: handshake answered ${res.statusCode}`));
      req.destroy();
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Opens `n` clients, a few at a time. */
export async function openMany(t, port, n, { name = 'c', parallel = 20 } = {}) {
  const out = new Array(n);
  for (let i = 0; i < n; i += parallel) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + parallel); k++) {
      batch.push(openWs(t, port, { name: `${name}${k}` }).then((c) => (out[k] = c)));
    }
    await Promise.all(batch);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Raw frames

export const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa };

/**
 * One client frame. Options: fin (default true), rsv (bits 0..7 for RSV1..3, e.g. 0x4 = RSV1),
 * opcode, payload (Buffer|string), mask (default true), maskKey (Buffer of 4).
 */
export function frame({ fin = true, rsv = 0, opcode = OP.text, payload = Buffer.alloc(0), mask = true, maskKey } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const len = data.length;
  const head = [((fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | (opcode & 0x0f)) & 0xff];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len <= 0xffff) head.push(m | 126, len >> 8, len & 0xff);
  else {
    head.push(m | 127);
    const big = BigInt(len);
    for (let s = 56n; s >= 0n; s -= 8n) head.push(Number((big >> s) & 0xffn));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = maskKey ?? randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = data[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** Parses one server frame at the front of buf: {fin, rsv, opcode, masked, payload, length} or null. */
export function parseFrame(buf) {
  if (buf.length < 2) return null;
  const b0 = buf[0];
  const b1 = buf[1];
  let len = b1 & 0x7f;
  let at = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    at = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    at = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  let key = null;
  if (masked) {
    if (buf.length < at + 4) return null;
    key = buf.subarray(at, at + 4);
    at += 4;
  }
  if (buf.length < at + len) return null;
  let payload = Buffer.from(buf.subarray(at, at + len));
  if (key) for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
  return { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 0x7, opcode: b0 & 0x0f, masked, payload, length: at + len, head: buf.subarray(0, at) };
}

/**
 * A WebSocket connection over a raw socket: handshake by hand, frames by hand. Fields: conn
 * (RawConn: buf, eof), response (the 101 head), frames (server frames read so far).
 */
export class RawWs {
  static async open(t, port, { protocol = SUBPROTOCOL, extraHeaders = '', timeoutMs = 5000 } = {}) {
    const conn = await RawConn.open(port);
    if (t && typeof t.after === 'function') t.after(() => conn.destroy());
    const key = randomBytes(16).toString('base64');
    let head =
      `GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
    if (protocol) head += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
    head += extraHeaders;
    await conn.write(`${head}\r\n`);
    const res = await conn.readResponse({ timeoutMs });
    if (res.status !== 101) {
      conn.destroy();
      throw new Error(`raw handshake answered ${res.statusLine}: ${res.text.slice(0, 200)}`);
    }
    if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
      conn.destroy();
      throw new Error(`bad Sec-WebSocket-Accept ${res.headers['sec-websocket-accept']} for key ${key}`);
    }
    return new RawWs(conn, res);
  }

  constructor(conn, response) {
    this.conn = conn;
    this.response = response;
    this.frames = [];
  }

  write(bytes) {
    return this.conn.write(bytes);
  }

  send(opts) {
    return this.conn.write(frame(opts));
  }

  sendJson(obj) {
    return this.conn.write(frame({ opcode: OP.text, payload: JSON.stringify(obj) }));
  }

  /** Takes every complete frame now in the buffer into `frames`; returns how many. */
  drain() {
    let n = 0;
    for (;;) {
      const f = parseFrame(this.conn.buf);
      if (!f) break;
      this.conn.buf = this.conn.buf.subarray(f.length);
      this.frames.push(f);
      n++;
    }
    return n;
  }

  /** Waits for the next frame matching pred (default: any); returns it. */
  async readFrame(pred = () => true, timeoutMs = 5000, what = 'a frame') {
    let from = 0;
    return this.conn.until(
      () => {
        this.drain();
        for (let i = from; i < this.frames.length; i++) {
          if (pred(this.frames[i])) {
            const f = this.frames[i];
            this.frames.splice(i, 1);
            return f;
          }
        }
        from = this.frames.length;
        if (this.conn.eof) throw new Error(`connection ended before ${what}; frames ${this.describe()}`);
        return null;
      },
      timeoutMs,
      what,
    );
  }

  /** Waits for a text frame whose JSON matches pred; returns the parsed JSON. */
  async readJson(pred = () => true, timeoutMs = 5000, what = 'a JSON text frame') {
    const f = await this.readFrame(
      (fr) => {
        if (fr.opcode !== OP.text) return false;
        try {
          return pred(JSON.parse(fr.payload.toString('utf8')));
        } catch {
          return false;
        }
      },
      timeoutMs,
      what,
    );
    return JSON.parse(f.payload.toString('utf8'));
  }

  /**
   * Waits for the server's close frame. Resolves {code, reason, bytes (hex of the whole frame),
   * frame, eofAfter} ; rejects with the bytes received when the connection ends without one.
   */
  async readClose(timeoutMs = 5000) {
    const f = await this.readFrame((fr) => fr.opcode === OP.close, timeoutMs, 'a close frame');
    const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null;
    return {
      code,
      reason: f.payload.subarray(2).toString('utf8'),
      bytes: Buffer.concat([f.head, f.payload]).toString('hex'),
      frame: f,
    };
  }

  /** True if the server ended the TCP connection within timeoutMs. */
  waitEof(timeoutMs = 3000) {
    return this.conn.waitClosed(timeoutMs);
  }

  describe() {
    return JSON.stringify(
      this.frames.slice(-5).map((f) => ({ op: f.opcode, fin: f.fin, len: f.payload.length, start: f.payload.subarray(0, 80).toString('latin1') })),
    );
  }

  destroy() {
    this.conn.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Presence

/**
 * A connection's identity (the `from` of its publishes, its presence member id): joins a topic of
 * its own, reads the one-member snapshot, leaves. `topic` must be unused.
 */
export async function identityOf(client, topic) {
  await client.ok({ op: 'presence.join', topic });
  const snap = await client.waitMsg((m) => m.op === 'presence' && m.topic === topic && Array.isArray(m.members), {
    what: `the presence snapshot of ${topic}`,
  });
  if (snap.count !== 1 || snap.members.length !== 1) throw new Error(`identity topic ${topic} not private: ${JSON.stringify(snap)}`);
  await client.ok({ op: 'presence.leave', topic });
  return snap.members[0].id;
}

/**
 * The presence of `topic` as `client` has been told so far: the last snapshot with every later
 * diff applied in order (joins add or replace, leaves remove). Returns a Map id -> state, or null
 * before a snapshot when `needSnapshot` (default true).
 */
export function presenceView(client, topic, { needSnapshot = true } = {}) {
  let view = needSnapshot ? null : new Map();
  for (const m of client.msgs) {
    if (m.op !== 'presence' || m.topic !== topic) continue;
    if (Array.isArray(m.members)) {
      view = new Map(m.members.map((x) => [x.id, x.state]));
    } else if (view) {
      for (const j of m.joins) view.set(j.id, j.state);
      for (const id of m.leaves) view.delete(id);
    }
  }
  return view;
}

/** Presence diffs of `topic` that `client` received (in order). */
export function presenceDiffs(client, topic) {
  return client.msgs.filter((m) => m.op === 'presence' && m.topic === topic && !Array.isArray(m.members));
}
