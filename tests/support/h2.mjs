// HTTP/2 clients for the tests: Node's http2 (nghttp2 underneath) for requests and SSE streams on
// one connection, raw frames for what a well-behaved client never sends, and a throw-away TLS
// certificate made with the openssl CLI. Everything opened here is closed by `t.after`.
import http2 from 'node:http2';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SseParser } from './sse.mjs';
import { parseFrame } from './ws-client.mjs';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A self-signed certificate for 127.0.0.1/localhost: { dir, cert, key } (removed by t.after). */
export function testCertificate(t) {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  if (t) t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, cert, key };
}

/** An HTTP/2 session (h2c prior knowledge for http:, ALPN for https:), closed by t.after. */
export async function connectH2(t, origin, options = {}) {
  const session = http2.connect(origin, { rejectUnauthorized: false, ...options });
  session.on('error', () => {}); // asserted where it matters (goaway / rstCode)
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no HTTP/2 connection to ${origin}`)), 5000);
    session.once('connect', () => { clearTimeout(timer); resolve(); });
    session.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
  if (t) t.after(() => session.destroy());
  return session;
}

/**
 * One request on `session`: resolves { status, headers, body, rstCode, text } once the stream
 * closes (or after timeoutMs, rejecting).
 */
export function h2Request(session, { method = 'GET', path = '/', headers = {}, body, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': method, ':path': path, ...headers }, { endStream: body === undefined });
    let status;
    let head = {};
    const chunks = [];
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`${method} ${path}: no complete answer in ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('response', (h) => {
      status = h[':status'];
      head = h;
    });
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    req.on('close', () => {
      clearTimeout(timer);
      const buf = Buffer.concat(chunks);
      const text = buf.toString('utf8');
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      resolve({ status, headers: head, body: buf, text, json, rstCode: req.rstCode });
    });
    if (body !== undefined) req.end(body);
  });
}

/**
 * An SSE stream on `session`: { req, status, headers, events (dispatched), blocks, raw, ready,
 * closed, rstCode, waitEvents(n) }. Not paused unless `paused`.
 */
export function h2Events(t, session, path, { headers = {}, paused = false } = {}) {
  const req = session.request({ ':method': 'GET', ':path': path, ...headers });
  const parser = new SseParser();
  const s = { req, status: undefined, headers: {}, events: [], blocks: [], raw: '', bytes: 0, closed: false, rstCode: undefined };
  s.ready = new Promise((resolve, reject) => {
    req.once('response', (h) => {
      s.status = h[':status'];
      s.headers = h;
      resolve(s);
    });
    req.once('close', () => reject(new Error(`stream ${path} closed before its response`)));
  }).catch((e) => e);
  req.setEncoding('utf8');
  req.on('data', (text) => {
    s.raw += text;
    s.bytes += Buffer.byteLength(text);
    for (const block of parser.feed(text)) {
      s.blocks.push(block);
      if (block.dispatched) s.events.push(block);
    }
  });
  req.on('error', () => {});
  req.on('close', () => {
    s.closed = true;
    s.rstCode = req.rstCode;
  });
  if (paused) req.pause();
  s.waitEvents = async (n, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (s.events.length < n) {
      if (Date.now() > deadline) throw new Error(`${path}: ${s.events.length} of ${n} events in ${timeoutMs} ms`);
      await sleep(10);
    }
    return s.events;
  };
  if (t) t.after(() => { if (!s.closed) req.close(http2.constants.NGHTTP2_CANCEL); });
  return s;
}

// Raw frames: for the inputs a real client never sends.
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 };
export const ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9 };

export function frame(type, flags, streamId, payload = Buffer.alloc(0)) {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK header block of literal fields without indexing (no Huffman): enough for tests. */
export function hpackLiterals(fields) {
  const parts = [];
  const str = (s) => {
    const b = Buffer.from(s, 'latin1');
    if (b.length >= 127) throw new Error('hpackLiterals: strings under 127 bytes only');
    return Buffer.concat([Buffer.from([b.length]), b]);
  };
  for (const [name, value] of fields) {
    parts.push(Buffer.from([0x00]), str(name), str(value));
  }
  return Buffer.concat(parts);
}

/** Parses frames out of `buf`: { frames: [{type, flags, streamId, payload}], rest }. */
export function parseFrames(buf) {
  const frames = [];
  let at = 0;
  while (buf.length - at >= 9) {
    const len = buf.readUIntBE(at, 3);
    if (buf.length - at < 9 + len) break;
    frames.push({ type: buf[at + 3], flags: buf[at + 4], streamId: buf.readUInt32BE(at + 5) & 0x7fffffff, payload: buf.subarray(at + 9, at + 9 + len) });
    at += 9 + len;
  }
  return { frames, rest: buf.subarray(at) };
}

/**
 * A raw HTTP/2 connection: write(bytes), frames (all received), closed, waitFor(pred, ms).
 * Sends the preface and an empty SETTINGS first unless `preface` is false.
 */
export async function rawH2(t, port, { preface = true } = {}) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  const c = { sock, frames: [], closed: false, buf: Buffer.alloc(0) };
  sock.on('data', (d) => {
    const { frames, rest } = parseFrames(Buffer.concat([c.buf, d]));
    c.buf = rest;
    for (const f of frames) {
      c.frames.push(f);
      // Acknowledge the server's SETTINGS like any client would.
      if (f.type === FRAME.SETTINGS && !(f.flags & 1) && !sock.destroyed) sock.write(frame(FRAME.SETTINGS, 1, 0));
    }
  });
  sock.on('error', () => {});
  sock.on('close', () => { c.closed = true; });
  c.write = (b) => sock.write(b);
  c.waitFor = async (pred, timeoutMs = 5000, what = 'a frame') => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = c.frames.find(pred);
      if (f) return f;
      if (Date.now() > deadline) throw new Error(`no ${what} in ${timeoutMs} ms; got ${JSON.stringify(c.frames.map((x) => [x.type, x.flags, x.streamId]))}`);
      await sleep(10);
    }
  };
  c.waitClosed = async (timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (!c.closed) {
      if (Date.now() > deadline) throw new Error(`connection still open after ${timeoutMs} ms`);
      await sleep(10);
    }
  };
  if (preface) c.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
  if (t) t.after(() => sock.destroy());
  return c;
}

/** A GET request's HEADERS frame (END_HEADERS|END_STREAM) with literal fields. */
export function getHeaders(streamId, path, extra = [], { endStream = true } = {}) {
  const block = hpackLiterals([[':method', 'GET'], [':scheme', 'http'], [':authority', '127.0.0.1'], [':path', path], ...extra]);
  return frame(FRAME.HEADERS, 0x4 | (endStream ? 0x1 : 0), streamId, block);
}

/**
 * A WebSocket over one HTTP/2 stream (RFC 8441 extended CONNECT) on `session`: { req, status,
 * headers, frames (parsed server frames), raw (every byte of the stream), closed, rstCode, send(text)
 * (one masked text frame), sendRaw(buf), nextJson(), waitFrame(pred), waitClosed() }. `headers`
 * replace or add request fields; a field set to undefined is left out. Closed by t.after.
 */
export function openWsH2(t, session, { path = '/v1/ws', headers = {}, maskKey } = {}) {
  const fields = {
    ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': path,
    'sec-websocket-version': '13', 'sec-websocket-protocol': 'switchboard.v1', ...headers,
  };
  for (const [k, v] of Object.entries(fields)) if (v === undefined) delete fields[k];
  const req = session.request(fields, { endStream: false });
  const w = { req, status: undefined, headers: {}, frames: [], raw: Buffer.alloc(0), closed: false, rstCode: undefined, cursor: 0 };
  let pending = Buffer.alloc(0);
  w.ready = new Promise((resolve) => {
    req.once('response', (h) => { w.status = h[':status']; w.headers = h; resolve(w); });
    req.once('close', () => resolve(w));
  });
  req.on('data', (d) => {
    w.raw = Buffer.concat([w.raw, d]);
    pending = Buffer.concat([pending, d]);
    for (let f = parseWsFrame(pending); f; f = parseWsFrame(pending)) {
      w.frames.push(f);
      pending = pending.subarray(f.length);
    }
  });
  req.on('error', () => {});
  req.on('close', () => { w.closed = true; w.rstCode = req.rstCode; });
  w.send = (text) => req.write(wsFrame(0x1, Buffer.from(text, 'utf8'), maskKey));
  w.sendRaw = (buf) => req.write(buf);
  w.waitFrame = async (pred = () => true, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = w.frames.findIndex((f, k) => k >= w.cursor && pred(f));
      if (i >= 0) { w.cursor = i + 1; return w.frames[i]; }
      if (Date.now() > deadline) throw new Error(`no such WebSocket frame in ${timeoutMs} ms; got ${JSON.stringify(w.frames.map((f) => [f.opcode, f.payload.toString('latin1').slice(0, 80)]))}`);
      await sleep(5);
    }
  };
  w.nextJson = async (timeoutMs) => JSON.parse((await w.waitFrame((f) => f.opcode === 1, timeoutMs)).payload.toString('utf8'));
  w.waitClosed = async (timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (!w.closed) {
      if (Date.now() > deadline) throw new Error(`stream still open after ${timeoutMs} ms`);
      await sleep(10);
    }
    return w;
  };
  if (t) t.after(() => { if (!w.closed) req.close(http2.constants.NGHTTP2_CANCEL); });
  return w;
}

/** One final client frame, masked unless maskKey is null. */
export function wsFrame(opcode, payload, maskKey = Buffer.from([0x37, 0xfa, 0x21, 0x3d])) {
  const len = payload.length;
  const head = [0x80 | opcode];
  const m = maskKey ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len <= 0xffff) head.push(m | 126, len >> 8, len & 0xff);
  else head.push(m | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
  if (!maskKey) return Buffer.concat([Buffer.from(head), payload]);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ maskKey[i & 3];
  return Buffer.concat([Buffer.from(head), maskKey, body]);
}

/** One server frame at the front of buf ({fin, opcode, masked, payload, bytes, length}) or null. */
export function parseWsFrame(buf) {
  const f = parseFrame(buf);
  return f && { ...f, bytes: Buffer.from(buf.subarray(0, f.length)) };
}
