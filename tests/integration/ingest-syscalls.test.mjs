// What a keep-alive publish costs in system calls (issue 15: at most two per request when requests
// arrive one at a time, fewer when they are pipelined). strace counts the server's calls while
// four connections each send requests one at a time; every answer is checked to be a 201.
// One read (the kernel says, TCP_INQ, that nothing is left) and one write per request, no read
// that finds nothing, no epoll_ctl per request; epoll_wait is shared by every ready connection.
// The access log is off here: when on, its own thread adds a write per batch of lines.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { startServer } from '../support/server.mjs';
import { RawConn } from '../support/http.mjs';
import { sleep } from '../support/util.mjs';

const haveStrace = spawnSync('strace', ['-V']).status === 0;
let server;
before(async () => {
  server = await startServer(null, {
    args: ['--threads', '1', '--access-log-level', 'off', '--http-publish-rate', '10000000', '--http-publish-burst', '10000000'],
  });
});
after(async () => {
  if (server) await server.teardown();
});

/** Attaches strace -c to every thread of `pid`; resolves to stop() → { calls, errors } per name. */
async function countSyscalls(pid) {
  const proc = spawn('strace', ['-f', '-c', '-q', '-p', String(pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (s) => (out += s));
  await sleep(700); // attached to every thread before the load starts
  return async () => {
    const done = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGINT');
    await done;
    const table = {};
    for (const line of out.split('\n')) {
      // % time  seconds  usecs/call  calls  [errors]  syscall
      const m = line.trim().match(/^[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?([a-z_0-9]+)$/);
      if (m && m[3] !== 'total') table[m[3]] = { calls: Number(m[1]), errors: Number(m[2] ?? 0) };
    }
    return table;
  };
}

function publishRequest(port, i) {
  const body = `hello ${i}`;
  return (
    `POST /v1/topics/ingest-syscalls HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
    `Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  );
}

async function load(port, { connections, requests, depth }) {
  const conns = await Promise.all(Array.from({ length: connections }, () => RawConn.open(port)));
  let sent = 0;
  await Promise.all(
    conns.map(async (c) => {
      while (sent < requests) {
        const batch = [];
        for (let k = 0; k < depth && sent < requests; k++) batch.push(publishRequest(port, sent++));
        c.write(batch.join(''));
        for (let k = 0; k < batch.length; k++) {
          const res = await c.readResponse();
          assert.equal(res.status, 201);
        }
      }
    }),
  );
  for (const c of conns) c.destroy();
}

const reads = (t) =>
  ['read', 'recvfrom', 'recvmsg', 'readv'].reduce((n, k) => n + (t[k]?.calls ?? 0), 0);
const failedReads = (t) =>
  ['read', 'recvfrom', 'recvmsg', 'readv'].reduce((n, k) => n + (t[k]?.errors ?? 0), 0);
const writes = (t) =>
  ['write', 'sendto', 'sendmsg', 'writev'].reduce((n, k) => n + (t[k]?.calls ?? 0), 0);

test('a keep-alive publish that comes alone costs one read and one write, and no read finds nothing', { skip: !haveStrace && 'strace is missing' }, async () => {
  await load(server.port, { connections: 4, requests: 200, depth: 1 }); // warm: pools, code
  const stop = await countSyscalls(server.pid);
  const requests = 3000;
  await load(server.port, { connections: 4, requests, depth: 1 });
  const t = await stop();
  const perRequest = (n) => n / requests;
  const summary = JSON.stringify(t);
  // The four connections themselves: a read and a FIN each when they close.
  assert.ok(perRequest(reads(t)) <= 1.01, `reads per request ${perRequest(reads(t))}: ${summary}`);
  assert.ok(failedReads(t) <= 8, `reads that found nothing: ${failedReads(t)}: ${summary}`);
  assert.ok(perRequest(writes(t)) <= 1.01, `writes per request ${perRequest(writes(t))}: ${summary}`);
  assert.ok((t.epoll_ctl?.calls ?? 0) <= 8, `epoll_ctl calls: ${summary}`);
  const epollWaits = t.epoll_wait?.calls ?? 0;
  assert.ok(perRequest(epollWaits) <= 1.01, `epoll_wait per request ${perRequest(epollWaits)}: ${summary}`);
});

test('pipelined publishes share their reads and writes', { skip: !haveStrace && 'strace is missing' }, async () => {
  const stop = await countSyscalls(server.pid);
  const requests = 3200;
  await load(server.port, { connections: 4, requests, depth: 16 });
  const t = await stop();
  const summary = JSON.stringify(t);
  const all = reads(t) + writes(t) + (t.epoll_wait?.calls ?? 0);
  assert.ok(all / requests <= 0.5, `syscalls per pipelined request ${all / requests}: ${summary}`);
});
