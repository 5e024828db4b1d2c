// switchboard.v1 against an independent RFC 6455 and RFC 7692 client: Debian's python3-websockets, run with
// /usr/bin/python3 (not the pyenv python first on PATH). Skipped when that module is missing
// (apt-get install -y python3-websockets).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startWsServer } from '../support/ws-client.mjs';
import { uniq } from '../support/util.mjs';

const PY = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./python/ws_interop.py', import.meta.url));
const probe = spawnSync(PY, ['-c', 'import websockets'], { timeout: 10000 });
const missing = probe.status !== 0 ? `${PY} cannot import websockets (apt-get install -y python3-websockets)` : false;

function run(args, timeoutMs) {
  return new Promise((resolve) => {
    const proc = spawn(PY, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

test('python3-websockets: handshake with permessage-deflate, fragments, control ping, >64 KiB message, close echo, 1009, 400', { skip: missing, timeout: 60000 }, async (t) => {
  const server = await startWsServer(t, ['--threads', '2', '--max-message-bytes', '200000']);
  const res = await run([String(server.port), uniq('py')], 40000);
  assert.equal(res.signal, null, `python killed (${res.signal}); stderr ${res.err.slice(-1000)}`);
  assert.equal(res.code, 0, `python exited ${res.code}; stderr ${res.err.slice(-1000)}`);
  const { checks } = JSON.parse(res.out.trim().split('\n').at(-1));
  const names = ['subprotocol', 'deflate', 'fragmented_send', 'control_ping', 'subscribe_ack', 'big_message', 'close_echo', 'too_big_1009', 'no_subprotocol_400', 'completed'];
  for (const name of names) {
    assert.ok(checks[name], `check ${name} did not run; got ${JSON.stringify(checks)}`);
    assert.equal(checks[name].ok, true, `${name}: ${checks[name].detail}`);
  }
});
