// A storm of malformed HTTP/1.1 requests, many connections at a time: first every known-bad
// shape with its exact answer (smuggling heads, oversized heads, trailers and extensions, bad
// chunks, garbage), then requests mutated at random from valid ones, whose answer must be a
// well-formed HTTP/1.1 response with a status from the contract (or a plain close). The server
// must never answer 5xx or die, and a client outside the storm is served all along.
// TEST_SEED replays a failing run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { RawConn, request, topicPath } from '../support/http.mjs';
import { soak, soakTimeout } from '../support/soak.mjs';
import { rng, testSeed, uniq } from '../support/util.mjs';

const MAX_HEADER = 4096;
const MAX_REQUEST = 16384;

async function start(t) {
  return startServer(t, {
    args: ['--max-header-bytes', String(MAX_HEADER), '--max-request-bytes', String(MAX_REQUEST), '--max-message-bytes', '4096', '--header-timeout-ms', '2000'],
  });
}

async function stillServes(server) {
  assert.equal(server.exitInfo, null, `the server exited: ${server.stderr.slice(-2000)}`);
  const health = await request(`${server.url}/healthz`, { timeoutMs: 3000 });
  assert.equal(health.status, 200);
  const res = await request(`${server.url}${topicPath(uniq('alive'))}`, { method: 'POST', body: 'x', timeoutMs: 3000 });
  assert.equal(res.status, 201);
}

/** Sends `bytes`, half-closes, and returns every byte the server wrote until it closed (or `ms`). */
async function shot(port, bytes, ms = 3000) {
  const c = await RawConn.open(port);
  try {
    await c.write(bytes);
    c.end();
    await c.waitClosed(ms);
    return { text: c.buf.toString('latin1'), closed: c.eof };
  } finally {
    c.destroy();
  }
}

const H = 'Host: x\r\n';
const chunked = 'Transfer-Encoding: chunked\r\n';

/** Known-bad shapes and their exact answers. */
function knownCases() {
  const post = (extra, body = '') => `POST /v1/topics/storm HTTP/1.1\r\n${H}${extra}\r\n${body}`;
  return [
    ['valid GET', `GET /healthz HTTP/1.1\r\n${H}\r\n`, 200],
    ['valid chunked publish', post(chunked, '3\r\nabc\r\n0\r\n\r\n'), 201],
    ['TE identity', post('Transfer-Encoding: identity\r\n', `GET /smuggled HTTP/1.1\r\n${H}\r\n`), 400],
    ['TE gzip', post('Transfer-Encoding: gzip\r\n', 'abc'), 400],
    ['TE xchunked', post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n'), 400],
    ['TE chunked, identity', post('Transfer-Encoding: chunked, identity\r\n', '0\r\n\r\n'), 400],
    ['TE chunked, chunked', post('Transfer-Encoding: chunked, chunked\r\n', '0\r\n\r\n'), 400],
    ['TE + CL', post(`${chunked}Content-Length: 3\r\n`, '0\r\n\r\n'), 400],
    ['CL + CL', post('Content-Length: 3\r\nContent-Length: 4\r\n', 'abcd'), 400],
    ['CL not a number', post('Content-Length: 3x\r\n', 'abc'), 400],
    ['no Host', 'GET /healthz HTTP/1.1\r\n\r\n', 400],
    ['two Hosts', `GET /healthz HTTP/1.1\r\n${H}${H}\r\n`, 400],
    ['bad chunk size', post(chunked, 'zz\r\nabc\r\n0\r\n\r\n'), 400],
    ['chunk without CRLF', post(chunked, '3\r\nabcX0\r\n\r\n'), 400],
    ['garbage line', '\x00\x01\x02 junk\r\n\r\n', 400],
    ['bad version', `GET /healthz HTTP/2.7\r\n${H}\r\n`, 400],
    ['space before colon', `GET /healthz HTTP/1.1\r\n${H}X-A : b\r\n\r\n`, 400],
    ['head over max_header_bytes', `GET /healthz HTTP/1.1\r\n${H}X-Big: ${'h'.repeat(MAX_HEADER)}\r\n\r\n`, 431],
    ['field over 64 KiB', `GET /healthz HTTP/1.1\r\n${H}X-Big: ${'h'.repeat(70000)}\r\n\r\n`, 431],
    ['trailer over max_header_bytes', post(chunked, `0\r\nX-T: ${'t'.repeat(MAX_HEADER)}\r\n\r\n`), 431],
    ['70 KB trailer', `GET /healthz HTTP/1.1\r\n${H}${chunked}\r\n0\r\nX: ${'a'.repeat(70000)}\r\n\r\n`, 431],
    ['extension over max_header_bytes', post(chunked, `3;e=${'e'.repeat(MAX_HEADER)}\r\nabc\r\n0\r\n\r\n`), 413],
    ['chunked body over max', `POST /v1/publish HTTP/1.1\r\n${H}${chunked}\r\n${`400\r\n${'d'.repeat(1024)}\r\n`.repeat(20)}0\r\n\r\n`, 413],
    ['declared body over max', `POST /v1/publish HTTP/1.1\r\n${H}Content-Length: ${MAX_REQUEST + 1}\r\n\r\n`, 413],
    ['unknown path', `GET /nope HTTP/1.1\r\n${H}\r\n`, 404],
    ['wrong method', `DELETE /healthz HTTP/1.1\r\n${H}\r\n`, 405],
  ];
}

const ALLOWED = new Set([101, 200, 201, 204, 400, 401, 403, 404, 405, 408, 413, 426, 429, 431]);

/** Valid requests that mutations start from. */
function seeds() {
  const ev = 'data: x\n\n';
  return [
    `GET /healthz HTTP/1.1\r\n${H}\r\n`,
    `POST /v1/topics/storm/m HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`,
    `POST /v1/topics/storm/c HTTP/1.1\r\n${H}${chunked}\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n`,
    `POST /v1/topics/storm/s/stream HTTP/1.1\r\n${H}${chunked}\r\n${ev.length.toString(16)}\r\n${ev}\r\n0\r\n\r\n`,
    `POST /v1/publish HTTP/1.1\r\n${H}Content-Length: 45\r\n\r\n{"messages":[{"topic":"storm","data":"abc"}]}`,
    `GET /v1/events?topic=storm HTTP/1.1\r\n${H}\r\n`,
    `GET /v1/ws HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: switchboard.v1\r\n\r\n`,
    `GET /nope HTTP/1.1\r\n${H}\r\nGET /healthz HTTP/1.1\r\n${H}\r\n`,
  ];
}

const SPECIAL = ['\r', '\n', '\r\n', '\0', ' ', ':', ';', ',', '\t', '0', 'f', '-', '"', '\x7f', '\xff', 'chunked', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 1\r\n', 'Host: y\r\n'];

function mutate(r, s) {
  let b = s;
  const n = r.int(1, 4);
  for (let i = 0; i < n; i++) {
    const at = r.int(0, b.length);
    switch (r.int(0, 5)) {
      case 0: // flip a byte
        if (b.length) b = b.slice(0, at) + String.fromCharCode(r.int(0, 255)) + b.slice(at + 1);
        break;
      case 1: // insert something that matters to a parser
        b = b.slice(0, at) + SPECIAL[r.int(0, SPECIAL.length - 1)] + b.slice(at);
        break;
      case 2: // delete a run
        b = b.slice(0, at) + b.slice(at + r.int(1, 8));
        break;
      case 3: // duplicate a slice
        b = b.slice(0, at) + b.slice(at, at + r.int(1, 40)) + b.slice(at);
        break;
      case 4: // truncate
        b = b.slice(0, at);
        break;
      default: // a long run of one byte
        b = b.slice(0, at) + String.fromCharCode(r.int(32, 126)).repeat(r.int(100, 6000)) + b.slice(at);
        break;
    }
  }
  return b;
}

test('every known-bad shape gets its exact status, the connection closes, and the server serves on', { timeout: 60000 }, async (t) => {
  const server = await start(t);
  const cases = knownCases();
  for (let round = 0; round < 2; round++) {
    // All at once: many connections in flight together.
    const results = await Promise.all(cases.map(([, bytes]) => shot(server.port, Buffer.from(bytes, 'latin1'))));
    for (const [i, [name, , status]] of cases.entries()) {
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(results[i].text);
      assert.ok(m, `${name}: no response (got ${JSON.stringify(results[i].text.slice(0, 80))})`);
      assert.equal(Number(m[1]), status, `${name}: ${results[i].text.slice(0, 200)}`);
      assert.ok(results[i].closed, `${name}: not closed`);
      if (status >= 400 && name !== 'unknown path' && name !== 'wrong method') {
        assert.match(results[i].text, /\r\nConnection: close\r\n/, `${name}: no Connection: close`);
        assert.equal(results[i].text.match(/HTTP\/1\.1 \d{3} /g).length, 1, `${name}: more than one answer (smuggled?)`);
      }
    }
    await stillServes(server);
  }
});

test('requests mutated at random get a well-formed answer from the contract, never 5xx, never a crash', { timeout: soakTimeout(120000, 1800000) }, async (t) => {
  const seed = testSeed();
  t.diagnostic(`TEST_SEED=${seed}`);
  const r = rng(seed);
  const server = await start(t);
  const base = seeds();
  const total = soak(1500, 50000);
  const parallel = 16;
  for (let done = 0; done < total; done += parallel) {
    const batch = [];
    for (let i = 0; i < parallel && done + i < total; i++) {
      batch.push(mutate(r, base[r.int(0, base.length - 1)]));
    }
    const results = await Promise.all(batch.map((b) => shot(server.port, Buffer.from(b, 'latin1'), 2500)));
    for (const [i, res] of results.entries()) {
      if (res.text === '') continue; // closed without an answer: the head never completed before our FIN
      const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n/.exec(res.text);
      assert.ok(m, `seed ${seed}: malformed answer ${JSON.stringify(res.text.slice(0, 120))} to ${JSON.stringify(batch[i].slice(0, 200))}`);
      assert.ok(ALLOWED.has(Number(m[1])), `seed ${seed}: status ${m[1]} to ${JSON.stringify(batch[i].slice(0, 200))}`);
    }
    if ((done / parallel) % 10 === 0) await stillServes(server);
  }
  await stillServes(server);
});
