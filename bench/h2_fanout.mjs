// HTTP/2 vs HTTP/1.1 fan-out: the same workload delivered to 100 SSE streams on one h2 connection
// and to 100 HTTP/1.1 connections. Reports deliveries/s, server CPU per delivery (utime+stime
// from /proc) and server RSS growth. Usage:
//   node bench/h2_fanout.mjs build/switchboard [messages=10000] [streams=100]
// The server runs with one loop; the publisher posts batches of 50 over one keep-alive connection.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';

const bin = process.argv[2] ?? 'build/switchboard';
const messages = Number(process.argv[3] ?? 10000);
const streams = Number(process.argv[4] ?? 100);
const batch = 50;
const payload = 'p'.repeat(99) + '~'; // one '~' per delivery: counted without parsing
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ticks = Number(process.env.CLK_TCK ?? 100);

function procStat(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const rss = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  return { cpu: (Number(f[11]) + Number(f[12])) / ticks, rss };
}

async function startServer(port) {
  const proc = spawn(bin, ['--dev', '--listen', `127.0.0.1:${port}`, '--threads', '1', '--send-queue-max-bytes', String(256 << 20),
    '--history-max-messages', '100', '--heartbeat-s', '3600', '--log-level', 'warn', '--http-publish-rate', '10000000', '--http-publish-burst', '10000000'], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      await new Promise((resolve, reject) => http.get(`http://127.0.0.1:${port}/healthz`, (r) => { r.resume(); r.on('end', resolve); }).on('error', reject));
      return proc;
    } catch { await sleep(25); }
  }
  throw new Error('server did not start');
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function publishBatch(port, topic, n) {
  const body = JSON.stringify({ messages: Array.from({ length: n }, () => ({ topic, data: payload })) });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/publish', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (r) => {
      r.resume();
      r.on('end', () => (r.statusCode === 200 ? resolve() : reject(new Error(`publish ${r.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function countMarks(buf) {
  let n = 0;
  for (let i = buf.indexOf(126); i !== -1; i = buf.indexOf(126, i + 1)) n++;
  return n;
}

async function subscribeH1(port, topic, counter) {
  const socks = [];
  for (let i = 0; i < streams; i++) {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.on('data', (d) => { counter.n += countMarks(d); });
    s.write(`GET /v1/events?topic=${topic} HTTP/1.1\r\nHost: x\r\n\r\n`);
    socks.push(s);
  }
  return () => socks.forEach((s) => s.destroy());
}

async function subscribeH2(port, topic, counter) {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 1 << 20 } });
  await new Promise((r) => session.once('connect', r));
  session.setLocalWindowSize(64 << 20);
  for (let i = 0; i < streams; i++) {
    const req = session.request({ ':path': `/v1/events?topic=${topic}` });
    req.on('data', (d) => { counter.n += countMarks(d); });
  }
  return () => session.destroy();
}

async function runOne(kind) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proc = await startServer(port);
  const topic = `bench/${kind}`;
  const counter = { n: 0 };
  await sleep(200);
  const base = procStat(proc.pid);
  const close = await (kind === 'h2' ? subscribeH2 : subscribeH1)(port, topic, counter);
  await sleep(500);
  const before = procStat(proc.pid);
  const t0 = process.hrtime.bigint();
  const expected = messages * streams;
  for (let sent = 0; sent < messages; sent += batch) {
    await publishBatch(port, topic, Math.min(batch, messages - sent));
  }
  const deadline = Date.now() + 120000;
  while (counter.n < expected && Date.now() < deadline) await sleep(2);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = procStat(proc.pid);
  close();
  proc.kill('SIGKILL');
  const delivered = counter.n;
  return {
    kind, delivered, expected, seconds,
    deliveries_per_s: Math.round(delivered / seconds),
    cpu_us_per_delivery: ((after.cpu - before.cpu) * 1e6) / delivered,
    rss_per_stream_kib: (before.rss - base.rss) / streams / 1024,
    rss_before_mib: before.rss / 1048576,
    rss_after_mib: after.rss / 1048576,
  };
}

const results = [];
const rounds = Number(process.env.ROUNDS ?? 3);
for (let i = 0; i < rounds; i++) for (const kind of ['h1', 'h2']) {
  const r = await runOne(kind);
  results.push(r);
  console.log(JSON.stringify(r));
}
agent.destroy();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const kind of ['h1', 'h2']) {
  const rs = results.filter((r) => r.kind === kind);
  console.log(`${kind}: median ${median(rs.map((r) => r.deliveries_per_s))} deliveries/s, ` +
    `${median(rs.map((r) => r.cpu_us_per_delivery)).toFixed(3)} µs CPU/delivery, ` +
    `${median(rs.map((r) => r.rss_per_stream_kib)).toFixed(1)} KiB RSS/stream, ` +
    `RSS after ${median(rs.map((r) => r.rss_after_mib)).toFixed(1)} MiB`);
}
