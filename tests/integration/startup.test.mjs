// What a person sees when starting the server: one server per address (a second process on a busy
// port refuses to start instead of silently splitting connections), the deliberate handover with
// reuse_port, --version, a typed --help, the URL in the start line, and the client's types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, startServer, sleep } from '../support/server.mjs';
import { publishOk, request } from '../support/http.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs the binary to its end (at most timeoutMs) and returns {code, signal, stdout, stderr}. */
function runToEnd(args, timeoutMs = 10000) {
  return new Promise((resolve) => {
    const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test('a second server on a busy address refuses to start, and the first keeps every connection', async (t) => {
  const first = await startServer(t);
  const second = await runToEnd(['--dev', '--listen', `127.0.0.1:${first.port}`]);
  assert.equal(second.signal, null, 'the second process ends by itself');
  assert.notEqual(second.code, 0, 'with a failure status');
  assert.match(second.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: Address already in use`));
  assert.match(second.stderr, /reuse_port/);
  // Every publish lands in the one server (one epoch, consecutive sequence numbers).
  const ids = [];
  for (let i = 0; i < 10; i++) {
    ids.push(await publishOk(first.url, 'startup/one', `m${i}`));
  }
  const epochs = new Set(ids.map((id) => id.split('-')[0]));
  assert.equal(epochs.size, 1, `one epoch: ${ids}`);
  assert.deepEqual(
    ids.map((id) => Number(id.split('-')[1])),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
});

test('a busy TLS address refuses the start too', async (t) => {
  const first = await startServer(t);
  const dir = mkdtempSync(join(tmpdir(), 'sb-startup-'));
  const [key, pem] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  const cert = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-keyout', key, '-out', pem,
  ]);
  assert.equal(cert.status, 0, cert.stderr.toString());
  const other = await startServer(t);
  const res = await runToEnd([
    '--dev', '--listen', '127.0.0.1:0', '--tls-listen', `127.0.0.1:${other.port}`,
    '--tls-cert-file', pem, '--tls-key-file', key,
  ]);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${other.port}: Address already in use`));
  assert.equal((await request(`${first.url}/healthz`)).status, 200);
});

test('reuse_port hands an address over: the new process joins, the old one drains, nothing is refused', { timeout: 60000 }, async (t) => {
  const old = await startServer(t);
  const next = await startServer(t, { port: old.port, args: ['--reuse-port'] });
  // Its /healthz may have been answered by the old process: wait for its own start line.
  for (let i = 0; i < 200 && !/listening on/.test(next.stderr + next.stdout); i++) await sleep(25);
  assert.match(next.stderr + next.stdout, /listening on/);
  assert.ok(next.running && old.running, 'both serve the port');
  const stopping = old.stop('SIGTERM', 15000);
  // Connections during and after the handover are all answered.
  const statuses = [];
  for (let i = 0; i < 40; i++) {
    statuses.push((await request(`${next.url}/healthz`)).status);
    await sleep(10);
  }
  const stopped = await stopping;
  assert.equal(stopped.code, 0);
  assert.deepEqual([...new Set(statuses)], [200]);
  const id = await publishOk(next.url, 'startup/handover', 'x');
  assert.match(id, /^\d+-1$/);
});

test('--version prints the version and the git revision', async () => {
  const res = await runToEnd(['--version']);
  assert.equal(res.code, 0);
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
  assert.match(res.stdout, new RegExp(`^switchboard ${version.replace(/\./g, '\\.')} \\(git [0-9a-f]{7,}(-dirty)?\\)\\n$`));
});

test('--help is typed and fits 100 columns', async () => {
  const res = await runToEnd(['--help']);
  assert.equal(res.code, 0);
  const lines = res.stdout.split('\n');
  assert.deepEqual(lines.filter((l) => l.length > 100), []);
  assert.ok(lines.includes('  --max-message-bytes SIZE'));
  assert.ok(lines.includes('  --heartbeat-s SECONDS'));
  assert.ok(lines.includes('  --dev, --no-dev'));
  assert.ok(!res.stdout.includes('TEXT'));
});

test('the start line names the version and the URL to open', async (t) => {
  const server = await startServer(t);
  await sleep(50);
  assert.match(server.stderr + server.stdout, new RegExp(`switchboard \\d+\\.\\d+\\.\\d+ listening on 127\\.0\\.0\\.1:${server.port} .*open http://127\\.0\\.0\\.1:${server.port}/`));
});

test('GET /client.d.ts serves the client types beside /client.js', async (t) => {
  const server = await startServer(t, { dev: false, args: ['--allow-anonymous-publish'] });
  const res = await request(`${server.url}/client.d.ts`);
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^text\/plain; charset=utf-8$/);
  assert.equal(res.text, readFileSync(join(ROOT, 'web/client.d.ts'), 'utf8'));
  const js = await request(`${server.url}/client.js`);
  assert.match(js.text, /client\.d\.ts/);
  const head = await request(`${server.url}/client.d.ts`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.text, '');
});
