// permessage-deflate, measured: bytes on the wire and server CPU per WebSocket delivery, with and
// without compression, for Switchboard (`--threads 1`) and for nginx + nchan
// (nchan_deflate_message_for_websocket), on the same JSON payloads.
//
//   node tools/bench/ws_deflate.mjs [--bin build/switchboard] [--subs 200] [--messages 300]
//                                   [--bytes 1024] [--nchan]
//
// Subscribers are raw WebSocket connections (node's net + zlib): each frame is counted with its
// header, and compressed frames are inflated and compared with the uncompressed JSON. Bytes are
// deterministic for a given payload; CPU (the server's utime + stime from /proc over the publish
// phase, divided by deliveries) is noisy on a shared machine: read it as a ratio, not a constant.
import net from 'node:net';
import http from 'node:http';
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { inflateRawSync, constants as zc } from 'node:zlib';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const BIN = opt('bin', 'build/switchboard');
const SUBS = Number(opt('subs', 200));
const MESSAGES = Number(opt('messages', 300));
const BYTES = Number(opt('bytes', 1024));
const WITH_NCHAN = args.includes('--nchan');
const here = dirname(fileURLToPath(import.meta.url));
const TAIL = Buffer.from([0, 0, 0xff, 0xff]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime + stime (fields 14, 15)
}
const HZ = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** A JSON document of about n bytes: rows of a price feed. */
function payload(n, k) {
  const rows = [];
  for (let i = 0; JSON.stringify(rows).length < n; i++) {
    rows.push({ sym: `SYM${(i * 7 + k) % 50}`, bid: 100 + ((i * 13 + k) % 997) / 10, ask: 100 + ((i * 17 + k) % 991) / 10, vol: (i * 7919 + k) % 100000, ts: 1700000000000 + k * 1000 + i });
  }
  return JSON.stringify(rows);
}

async function waitHttp(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((r) => {
      http.get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => { res.resume(); r(res.statusCode === 200); }).on('error', () => r(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`server on ${port} not up`);
}

/** One raw subscriber: counts data frames and their bytes; checks compressed ones inflate. */
class Sub {
  constructor(port, path, deflate, protocol) {
    this.frames = 0;
    this.bytes = 0;
    this.compressed = 0;
    this.buf = Buffer.alloc(0);
    this.opened = new Promise((resolve, reject) => {
      this.sock = net.connect(port, '127.0.0.1', () => {
        const key = randomBytes(16).toString('base64');
        this.sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
          (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' : '') + '\r\n');
      });
      this.sock.on('error', reject);
      let head = true;
      this.sock.on('data', (d) => {
        this.buf = Buffer.concat([this.buf, d]);
        if (head) {
          const end = this.buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const h = this.buf.subarray(0, end).toString();
          if (!h.startsWith('HTTP/1.1 101')) return reject(new Error(h));
          this.extensions = (/sec-websocket-extensions: *(.*)/i.exec(h) || [])[1] || '';
          this.buf = this.buf.subarray(end + 4);
          head = false;
          resolve();
        }
        this.parse();
      });
    });
  }

  parse() {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let at = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); at = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); at = 10; }
      if (b.length < at + len) return;
      const op = b[0] & 0x0f;
      if (op === 1 && this.counting) {
        const body = b.subarray(at, at + len);
        const rsv1 = (b[0] & 0x40) !== 0;
        if (this.frames < 3) {
          // Checked on the first few only: inflating every frame here would slow this process,
          // which shares the machine (and the loopback's work) with the server being measured.
          const text = (rsv1 ? inflateRawSync(Buffer.concat([body, TAIL]), { finishFlush: zc.Z_SYNC_FLUSH }) : body).toString();
          if (!text.includes(this.check)) throw new Error(`unexpected frame ${text.slice(0, 80)}`);
        }
        this.frames += 1;
        this.bytes += at + len;
        if (rsv1) this.compressed += 1;
      }
      this.buf = b.subarray(at + len);
    }
  }

  send(text) {
    const p = Buffer.from(text);
    const mask = randomBytes(4);
    const head = p.length < 126 ? Buffer.from([0x81, 0x80 | p.length]) : Buffer.from([0x81, 0xfe, p.length >> 8, p.length & 0xff]);
    for (let i = 0; i < p.length; i++) p[i] ^= mask[i & 3];
    this.sock.write(Buffer.concat([head, mask, p]));
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
function post(port, topic, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/v1/topics/${topic}`, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode < 300 ? resolve() : reject(new Error(`publish ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function run(target, deflate) {
  const port = await freePort();
  let proc;
  let pid;
  let prefix;
  if (target === 'switchboard') {
    proc = spawn(BIN, ['--dev', '--threads', '1', '--listen', `127.0.0.1:${port}`, '--max-message-bytes', String(Math.max(65536, BYTES * 2)), ...(deflate ? [] : ['--ws-deflate', 'false'])], { stdio: 'ignore' });
    pid = proc.pid;
  } else {
    prefix = mkdtempSync(join(tmpdir(), 'nchan-deflate-'));
    execFileSync(join(here, 'nchan/render.sh'), [prefix, String(port)]);
    const conf = join(prefix, 'nginx.conf');
    let text = readFileSync(conf, 'utf8');
    // A deflated copy of each message, kept beside it, for subscribers that negotiated it.
    text = text.replace('nchan_publisher http;', `nchan_publisher http;\n      nchan_deflate_message_for_websocket ${deflate ? 'on' : 'off'};`);
    writeFileSync(conf, text);
    proc = spawn('nginx', ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')], { stdio: 'ignore' });
  }
  try {
    await waitHttp(port);
    if (target !== 'switchboard') {
      await sleep(200);
      pid = Number(execFileSync('pgrep', ['-P', String(proc.pid)]).toString().trim().split('\n')[0]); // the worker
    }
    const topic = `bench${Date.now()}`;
    const subs = [];
    for (let i = 0; i < SUBS; i++) {
      const s = target === 'switchboard' ? new Sub(port, '/v1/ws', deflate, 'switchboard.v1') : new Sub(port, `/v1/pubsub?topic=${topic}`, deflate, null);
      subs.push(s);
      await s.opened;
      if (target === 'switchboard') s.send(JSON.stringify({ op: 'subscribe', topic }));
    }
    await sleep(500);
    for (const s of subs) {
      s.counting = true;
      s.check = 'sym';
    }
    const bodies = Array.from({ length: MESSAGES }, (_, k) => payload(BYTES, k));
    const t0 = cpuTicks(pid);
    for (let k = 0; k < MESSAGES; k += 4) {
      await Promise.all(bodies.slice(k, k + 4).map((b) => post(port, topic, b)));
    }
    const want = SUBS * MESSAGES;
    for (let i = 0; i < 600 && subs.reduce((a, s) => a + s.frames, 0) < want; i++) await sleep(50);
    const cpu = (cpuTicks(pid) - t0) / HZ;
    const got = subs.reduce((a, s) => a + s.frames, 0);
    const bytes = subs.reduce((a, s) => a + s.bytes, 0);
    const compressed = subs.reduce((a, s) => a + s.compressed, 0);
    for (const s of subs) s.sock.destroy();
    return { target, deflate, extensions: subs[0].extensions, deliveries: got, want, bytesPerDelivery: bytes / got, compressedShare: compressed / got, cpuUsPerDelivery: (cpu * 1e6) / got, payloadBytes: bodies.reduce((a, b) => a + b.length, 0) / MESSAGES };
  } finally {
    proc.kill('SIGTERM');
    await sleep(300);
    if (prefix) rmSync(prefix, { recursive: true, force: true });
  }
}

const rows = [];
for (const target of WITH_NCHAN ? ['switchboard', 'nchan'] : ['switchboard']) {
  for (const deflate of [false, true]) rows.push(await run(target, deflate));
}
console.log(`subscribers ${SUBS}, messages ${MESSAGES}, JSON payload ~${BYTES} B`);
console.log('| server | deflate | negotiated | deliveries | wire bytes / delivery | compressed | server CPU µs / delivery |');
console.log('| --- | --- | --- | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.target} | ${r.deflate ? 'offered' : 'off'} | ${r.extensions || '-'} | ${r.deliveries}/${r.want} | ${r.bytesPerDelivery.toFixed(1)} | ${(r.compressedShare * 100).toFixed(0)} % | ${r.cpuUsPerDelivery.toFixed(2)} |`);
}
agent.destroy();
