// The API documents against the server, so that they cannot drift:
// - docs/openapi.json is a valid OpenAPI 3.1 document (swagger-parser) and docs/asyncapi.yaml a
//   valid AsyncAPI 3 document (@asyncapi/parser), and the server serves both byte for byte, with
//   their content types, an ETag, 304 on If-None-Match and HEAD;
// - every row of the router's table (src/http/router.cpp, the one list of routes) is a path of the
//   OpenAPI document with exactly the methods its Allow header names, and every documented path is
//   a route;
// - real answers of every endpoint, errors included (400 401 403 404 405 408 413 426 429 431 503,
//   304, 101, 204), have a documented status, their documented content type and headers, and a
//   body that validates (ajv) against the documented schema; every documented operation is
//   exercised at least once;
// - real SSE blocks (preamble, messages, volatile messages, gaps, heartbeats, the drain's retry)
//   and real WebSocket frames (every op the server sends, errors and gaps included) validate
//   against the AsyncAPI messages, and the client ops sent validate against theirs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Parser as AsyncApiParser } from '@asyncapi/parser';
import Ajv2020 from 'ajv/dist/2020.js';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import { startServer, sleep } from '../support/server.mjs';
import { RawConn } from '../support/http.mjs';
import { openSse } from '../support/sse.mjs';
import { openWs, stopServer } from '../support/ws-client.mjs';
import { claims, signHS256, newSecret } from '../support/jwt.mjs';
import { connectH2, h2Request } from '../support/h2.mjs';
import { uniq } from '../support/util.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const openapiText = readFileSync(path.join(root, 'docs/openapi.json'), 'utf8');
const asyncapiText = readFileSync(path.join(root, 'docs/asyncapi.yaml'), 'utf8');
const openapi = JSON.parse(openapiText);
const asyncapi = YAML.parse(asyncapiText);

// Documented paths that the router does not serve yet (none today): skipped while they answer 404.
const PENDING = new Set();

/** Replaces every {"$ref":"#/…"} by what it points at (the documents have no cycles). */
function deref(node, doc) {
  if (Array.isArray(node)) return node.map((n) => deref(n, doc));
  if (node && typeof node === 'object') {
    if (typeof node.$ref === 'string' && node.$ref.startsWith('#/')) {
      const target = node.$ref
        .slice(2)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
        .reduce((o, k) => o?.[k], doc);
      assert.ok(target !== undefined, `dangling $ref ${node.$ref}`);
      const { $ref, ...rest } = node;
      return deref({ ...target, ...rest }, doc);
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deref(v, doc)]));
  }
  return node;
}

const oas = deref(openapi, openapi);
const aas = deref(asyncapi, asyncapi);
// OpenAPI 3.1 schemas are JSON Schema 2020-12; AsyncAPI's default schema format is draft-07.
// Strict: a keyword ajv does not know (a typo, an OpenAPI-only `example`) fails to compile.
const ajvOas = addFormats(new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }));
const ajvAas = addFormats(new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }));
const compiled = new Map(); // schema object -> Map(ajv -> validate function)
function validator(ajv, schema) {
  if (!compiled.has(schema)) compiled.set(schema, new Map());
  const byAjv = compiled.get(schema);
  if (!byAjv.has(ajv)) byAjv.set(ajv, ajv.compile(structuredClone(schema)));
  return byAjv.get(ajv);
}
function validates(ajv, schema, value) {
  const v = validator(ajv, schema);
  return v(value) ? null : ajv.errorsText(v.errors);
}

/** The router's table, read from its one source. */
function routerTable() {
  const source = readFileSync(path.join(root, 'src/http/router.cpp'), 'utf8');
  const rows = [...source.matchAll(/\{"(\/[^"]*)",\s*endpoint::(\w+),\s*"([^"]*)"\}/g)].map((m) => ({
    path: m[1],
    endpoint: m[2],
    methods: m[3].split(',').map((s) => s.trim()),
  }));
  assert.ok(rows.length >= 15, `the route table in src/http/router.cpp has ${rows.length} rows`);
  return rows;
}

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'];
const documentedMethods = (template) =>
  Object.keys(oas.paths[template])
    .filter((k) => METHODS.includes(k))
    .map((k) => k.toUpperCase());

/** The OpenAPI path template a request path falls under (null: no route). */
function templateOf(pathname) {
  if (oas.paths[pathname] && !pathname.includes('{')) return pathname;
  const prefix = '/v1/topics/';
  if (pathname.startsWith(prefix) && pathname.length > prefix.length) {
    const rest = pathname.slice(prefix.length);
    const slash = rest.lastIndexOf('/');
    if (slash >= 0) {
      const t = `/v1/topics/{topic}${rest.slice(slash)}`;
      if (oas.paths[t]) return t;
    }
    return '/v1/topics/{topic}';
  }
  return null;
}

// --- coverage: what the test saw, checked at the end
const seen = new Set(); // `${METHOD} ${template} ${status}`
const seenStatus = new Set();
const seenSse = new Set();
const seenWs = new Set();

const normType = (s) => (s || '').toLowerCase().replace(/\s+/g, '');

/** Checks one HTTP answer against the OpenAPI document; returns the parsed body (JSON or text). */
function checkHttp(res, method, target, what = `${method} ${target}`) {
  const pathname = target.split('?')[0];
  const template = templateOf(pathname);
  let resp;
  if (res.status === 404 && !template) {
    resp = oas.components.responses.NotFound;
  } else if (res.status === 405) {
    assert.ok(template, `${what}: 405 on a path that is no route`);
    resp = oas.components.responses.MethodNotAllowed;
    assert.equal(res.headers.allow, documentedMethods(template).join(', '), `${what}: Allow of ${template}`);
  } else if (res.status === 429 && method === null) {
    resp = oas.components.responses.TooManyConnections;
  } else {
    assert.ok(template, `${what}: no documented path for ${pathname}`);
    const op = oas.paths[template][method.toLowerCase()];
    assert.ok(op, `${what}: ${method} ${template} is not documented`);
    resp = op.responses[String(res.status)];
    assert.ok(resp, `${what}: status ${res.status} is not documented for ${method} ${template}; body ${res.text?.slice(0, 200)}`);
    seen.add(`${method} ${template} ${res.status}`);
  }
  seenStatus.add(res.status);
  for (const [name, h] of Object.entries(resp.headers ?? {})) {
    const value = res.headers[name.toLowerCase()];
    if (h.required) assert.ok(value !== undefined, `${what}: ${res.status} lacks the documented header ${name}`);
    if (value !== undefined && h.schema) {
      const err = validates(ajvOas, h.schema, value);
      assert.equal(err, null, `${what}: header ${name}: ${JSON.stringify(value)} ${err}`);
    }
  }
  if (method === 'HEAD' || res.status === 101) {
    assert.equal(res.body?.length ?? 0, 0, `${what}: a body on ${method} ${res.status}`);
    return null;
  }
  if (!resp.content) {
    assert.equal(res.body.length, 0, `${what}: ${res.status} has a body the document does not describe`);
    return null;
  }
  const type = res.headers['content-type'];
  const key = Object.keys(resp.content).find((k) => normType(k) === normType(type));
  assert.ok(key, `${what}: Content-Type ${type} not documented for ${res.status} (${Object.keys(resp.content)})`);
  let body = res.text;
  if (/json/.test(key)) {
    body = JSON.parse(res.text);
  }
  const err = validates(ajvOas, resp.content[key].schema, body);
  assert.equal(err, null, `${what}: ${res.status} body ${res.text.slice(0, 300)}: ${err}`);
  return body;
}

/** A request whose bytes are exact, on its own connection; the answer is checked and returned. */
async function call(port, method, target, { headers = {}, body, raw, expect, timeoutMs = 5000, check = true } = {}) {
  const conn = await RawConn.open(port);
  try {
    let bytes = raw;
    if (bytes === undefined) {
      bytes = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`;
      for (const [k, v] of Object.entries(headers)) bytes += `${k}: ${v}\r\n`;
      if (body !== undefined) bytes += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
      bytes += `\r\n${body ?? ''}`;
    }
    await conn.write(bytes);
    const res = await conn.readResponse({ timeoutMs, headOnly: method === 'HEAD' });
    if (expect !== undefined) {
      assert.equal(res.status, expect, `${method} ${target}: ${res.status} ${res.text.slice(0, 200)}`);
    }
    res.json = check ? checkHttp(res, method, target) : null;
    return res;
  } finally {
    conn.destroy();
  }
}

/** Asserts that a server still serves after bad input. */
async function stillServes(port) {
  await call(port, 'GET', '/healthz', { expect: 200 });
}

// --- AsyncAPI: SSE blocks and WebSocket frames
const sseMessages = Object.entries(aas.channels.events.messages);
const wsMessages = aas.channels.ws.messages;
const serverOps = new Set(['message', 'ack', 'error', 'gap', 'presenceSnapshot', 'presenceDiff', 'pong']);

/** A parsed SSE block as an AsyncAPI message: headers = its fields but data, payload = its data. */
function checkSseBlock(block, what) {
  const headers = {};
  let hasData = false;
  for (const [field, value] of block.fields) {
    if (field === 'data') hasData = true;
    else if (field === 'retry') headers.retry = Number(value);
    else if (field === 'id' || field === 'event') headers[field] = value;
    else assert.fail(`${what}: an undocumented field ${field}`);
  }
  assert.ok(block.comments.length <= 1, `${what}: several comments in one block`);
  if (block.comments.length) headers.comment = block.comments[0];
  const matches = [];
  const why = [];
  for (const [name, m] of sseMessages) {
    if (Boolean(m.payload) !== hasData) continue;
    let err = validates(ajvAas, m.headers, headers);
    if (!err && hasData) {
      let payload = block.data;
      if (m.contentType === 'application/json') {
        try {
          payload = JSON.parse(payload);
        } catch {
          err = 'data is not JSON';
        }
      }
      err ??= validates(ajvAas, m.payload, payload);
    }
    if (err) why.push(`${name}: ${err}`);
    else matches.push(name);
  }
  assert.ok(matches.length > 0, `${what}: SSE block ${JSON.stringify(block.fields)} ${JSON.stringify(block.comments)} matches no AsyncAPI message: ${why.join('; ')}`);
  for (const n of matches) seenSse.add(n);
  return matches;
}

/** Checks the head of a 200 SSE answer (its body, the stream, is checked block by block). */
function checkSseHead(s) {
  assert.equal(s.status, 200, `SSE answered ${s.status} ${s.text}`);
  const resp = oas.paths['/v1/events'].get.responses['200'];
  assert.ok(Object.keys(resp.content).some((k) => normType(k) === normType(s.headers['content-type'])), s.headers['content-type']);
  for (const [name, h] of Object.entries(resp.headers)) {
    assert.equal(validates(ajvOas, h.schema, s.headers[name.toLowerCase()]), null, `SSE header ${name}`);
  }
  seen.add('GET /v1/events 200');
  seenStatus.add(200);
}

/** Checks a server frame (parsed JSON) against the server ops of the ws channel. */
function checkServerFrame(frame, what) {
  const why = [];
  const matches = [];
  for (const name of serverOps) {
    const err = validates(ajvAas, wsMessages[name].payload, frame);
    if (err) why.push(`${name}: ${err}`);
    else matches.push(name);
  }
  assert.equal(matches.length, 1, `${what}: frame ${JSON.stringify(frame)} matches ${matches.length} server messages: ${why.join('; ')}`);
  seenWs.add(matches[0]);
  if (frame.op === 'error') seenWs.add(`error:${frame.code}`);
  return matches[0];
}

/** Whether a client frame validates against the client op it names. */
function clientOpValid(frame) {
  const names = { subscribe: 'subscribe', unsubscribe: 'unsubscribe', publish: 'publish', 'presence.join': 'presenceJoin', 'presence.update': 'presenceUpdate', 'presence.leave': 'presenceLeave', ping: 'ping' };
  const name = names[frame?.op];
  return name ? validates(ajvAas, wsMessages[name].payload, frame) === null : false;
}

/** Sends a client op that the document says is valid, after checking that it is. */
function send(client, frame) {
  assert.ok(clientOpValid(frame), `the document refuses a client op the test sends as valid: ${JSON.stringify(frame)}`);
  client.send(frame);
}

function checkAllFrames(client, what) {
  assert.deepEqual(client.bad, [], `${what}: frames that are not JSON`);
  for (const m of client.msgs) checkServerFrame(m, what);
}

// ---------------------------------------------------------------------------------------------

test('docs/openapi.json is a valid OpenAPI 3.1 document', async () => {
  assert.equal(openapi.openapi, '3.1.0');
  const api = await SwaggerParser.validate(structuredClone(openapi));
  assert.ok(Object.keys(api.paths).length >= 15);
  // Every schema compiles under strict ajv (no unknown keyword, no typo that a validator ignores).
  for (const [name, s] of Object.entries(oas.components.schemas)) {
    assert.doesNotThrow(() => validator(ajvOas, s), `components.schemas.${name}`);
  }
});

test('docs/asyncapi.yaml is a valid AsyncAPI 3 document', async () => {
  const { document, diagnostics } = await new AsyncApiParser().parse(asyncapiText);
  const problems = diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code} ${d.message} at ${d.path.join('.')}`);
  assert.deepEqual(problems, [], 'errors and warnings of @asyncapi/parser');
  assert.ok(document, 'the parser gave no document');
  assert.match(document.version(), /^3\./);
  const ops = new Set(document.operations().all().map((o) => o.id()));
  for (const op of ['sendSseEvents', 'sendWsEvents', 'receiveSubscribe', 'receiveUnsubscribe', 'receivePublish', 'receivePresenceJoin', 'receivePresenceUpdate', 'receivePresenceLeave', 'receivePing']) {
    assert.ok(ops.has(op), `operation ${op}`);
  }
  for (const [name, m] of [...sseMessages, ...Object.entries(wsMessages)]) {
    if (m.payload) assert.doesNotThrow(() => validator(ajvAas, m.payload), `${name} payload`);
    if (m.headers) assert.doesNotThrow(() => validator(ajvAas, m.headers), `${name} headers`);
  }
  // The examples in the document are themselves valid.
  for (const [name, m] of [...sseMessages, ...Object.entries(wsMessages)]) {
    for (const ex of m.examples ?? []) {
      if (ex.payload !== undefined) assert.equal(validates(ajvAas, m.payload, ex.payload), null, `${name} example payload`);
      if (ex.headers !== undefined) assert.equal(validates(ajvAas, m.headers, ex.headers), null, `${name} example headers`);
    }
  }
});

test('every route of the router is an OpenAPI path with the same methods, and every path a route', () => {
  const rows = routerTable();
  for (const row of rows) {
    assert.ok(oas.paths[row.path], `route ${row.path} (${row.endpoint}) is not in docs/openapi.json`);
    assert.deepEqual(documentedMethods(row.path), row.methods, `methods of ${row.path}: documented vs the router's Allow`);
  }
  const routed = new Set(rows.map((r) => r.path));
  for (const p of Object.keys(oas.paths)) {
    assert.ok(routed.has(p) || PENDING.has(p), `documented path ${p} is no route of the router`);
  }
});

// --- a dev server: anonymous access, small limits so that every refusal is cheap to reach
let dev;
let devPort;
before(async () => {
  dev = await startServer(null, {
    args: ['--header-timeout-ms', '400', '--idle-timeout-s', '2', '--max-message-bytes', '1024', '--max-request-bytes', '65536',
      '--heartbeat-s', '1', '--max-topics-per-stream', '3', '--max-topics-per-connection', '4', '--threads', '2'],
  });
  devPort = dev.port;
});
after(async () => {
  await stopServer(dev);
});

test('the documents are served byte for byte, with content type, ETag, no-cache, 304 and HEAD', async () => {
  for (const [target, text, type] of [['/v1/openapi.json', openapiText, 'application/json'], ['/v1/asyncapi.yaml', asyncapiText, 'application/yaml']]) {
    const res = await call(devPort, 'GET', target, { expect: 200, headers: { Origin: 'https://elsewhere.example' } });
    assert.equal(res.text, text, `${target} is docs/ as committed`);
    assert.equal(res.headers['content-type'], type);
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.equal(res.headers['access-control-allow-origin'], '*', 'readable by a page of another origin (dev: *)');
    const etag = res.headers.etag;
    const head = await call(devPort, 'HEAD', target, { expect: 200 });
    assert.equal(head.headers['content-length'], String(Buffer.byteLength(text)));
    assert.equal(head.headers.etag, etag);
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const nm = await call(devPort, 'GET', target, { expect: 304, headers: { 'If-None-Match': inm } });
      assert.equal(nm.headers.etag, etag);
      assert.equal(nm.headers['content-length'], undefined, 'a 304 carries no Content-Length');
    }
    await call(devPort, 'GET', target, { expect: 200, headers: { 'If-None-Match': '"stale"' } });
    await call(devPort, 'HEAD', target, { expect: 304, headers: { 'If-None-Match': etag } });
  }
  // The other document's ETag differs: each names its own bytes.
  const a = await call(devPort, 'HEAD', '/v1/openapi.json');
  const b = await call(devPort, 'HEAD', '/v1/asyncapi.yaml');
  assert.notEqual(a.headers.etag, b.headers.etag);
  // A keep-alive client revalidating twice on one connection gets two 304s.
  const conn = await RawConn.open(devPort);
  try {
    for (let i = 0; i < 2; i++) {
      await conn.write(`GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${a.headers.etag}\r\n\r\n`);
      const r = await conn.readResponse();
      assert.equal(r.status, 304);
    }
  } finally {
    conn.destroy();
  }
});

test('over HTTP/2 the documents, their 304 and the refused WebSocket answer as documented', async (t) => {
  const session = await connectH2(t, `http://127.0.0.1:${devPort}`);
  const asAnswer = (r) => ({ ...r, headers: Object.fromEntries(Object.entries(r.headers).filter(([k]) => !k.startsWith(':'))) });
  for (const [target, text] of [['/v1/openapi.json', openapiText], ['/v1/asyncapi.yaml', asyncapiText]]) {
    const r = asAnswer(await h2Request(session, { path: target }));
    assert.equal(r.status, 200);
    assert.equal(r.text, text);
    checkHttp(r, 'GET', target, `h2 GET ${target}`);
    const nm = asAnswer(await h2Request(session, { path: target, headers: { 'if-none-match': r.headers.etag } }));
    assert.equal(nm.status, 304);
    assert.equal(nm.headers['content-length'], undefined, 'a 304 carries no Content-Length');
    checkHttp(nm, 'GET', target, `h2 304 ${target}`);
  }
  // A GET is not a WebSocket handshake over HTTP/2 either (that is an extended CONNECT, RFC 8441).
  const ws = asAnswer(await h2Request(session, { path: '/v1/ws' }));
  assert.equal(ws.status, 426);
  assert.equal(checkHttp(ws, 'GET', '/v1/ws', 'h2 GET /v1/ws').error, 'websocket_handshake');
});

test('OPTIONS and HEAD on every route, and 404 / 405, as documented', async () => {
  for (const row of routerTable()) {
    const target = row.path.replace('{topic}', 'docs/a');
    const pre = await call(devPort, 'OPTIONS', target, { expect: 204, headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.headers.allow, row.methods.join(', '), `Allow of ${row.path}`);
    if (row.methods.includes('HEAD')) {
      await call(devPort, 'HEAD', target);
    } else {
      await call(devPort, 'HEAD', target, { expect: 405 });
    }
    await call(devPort, 'DELETE', target, { expect: 405 });
    if (!row.methods.includes('POST')) await call(devPort, 'POST', target, { expect: 405, body: '' });
    if (!row.methods.includes('GET')) await call(devPort, 'GET', target, { expect: 405 });
  }
  for (const target of ['/nope', '/v1', '/v1/topics/', '/v1/openapi.yaml', '/healthz/x']) {
    const res = await call(devPort, 'GET', target, { expect: 404 });
    assert.equal(res.json.error, 'not_found');
  }
  await stillServes(devPort);
});

test('status, web and dev endpoints answer as documented', async () => {
  assert.equal((await call(devPort, 'GET', '/healthz', { expect: 200 })).text, 'ok\n');
  assert.equal((await call(devPort, 'GET', '/readyz', { expect: 200 })).text, 'ready\n');
  assert.match((await call(devPort, 'GET', '/metrics', { expect: 200 })).text, /switchboard_connections/);
  for (const p of ['/', '/index.html', '/client.js', '/client.d.ts']) await call(devPort, 'GET', p, { expect: 200 });
  const llm = await call(devPort, 'POST', `/v1/dev/llm?topic=${uniq('docs/llm')}`, { expect: 202, body: '' });
  assert.match(llm.json.topic, /^docs\/llm/);
  await call(devPort, 'POST', '/v1/dev/llm?topic=a//b', { expect: 400, body: '' });
});

test('malformed, slow and oversized requests get the documented 400, 408, 413 and 431', async () => {
  // No Host in HTTP/1.1: malformed.
  let res = await call(devPort, 'GET', '/healthz', { raw: 'GET /healthz HTTP/1.1\r\n\r\n', expect: 400 });
  assert.equal(res.json.error, 'invalid_request');
  // A target that is not a path: no route, the generic BadRequest.
  const conn = await RawConn.open(devPort);
  await conn.write('GET http://example.com/healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  res = await conn.readResponse();
  conn.destroy();
  assert.equal(res.status, 400);
  const body = JSON.parse(res.text);
  assert.equal(validates(ajvOas, oas.components.responses.BadRequest.content['application/json'].schema, body), null);
  // A head over max_header_bytes (8 KiB).
  res = await call(devPort, 'GET', '/healthz', { headers: { 'X-Big': 'x'.repeat(9000) }, expect: 431 });
  assert.equal(res.json.error, 'headers_too_large');
  res = await call(devPort, 'GET', '/v1/topics/docs/a/history', { headers: { 'X-Big': 'x'.repeat(9000) }, expect: 431 });
  // A head that does not arrive within header_timeout_ms (400 ms here).
  res = await call(devPort, 'GET', '/healthz', { raw: `GET /healthz HTTP/1.1\r\nHost: x\r\n`, expect: 408 });
  assert.equal(res.json.error, 'header_timeout');
  // Bodies over their bound.
  res = await call(devPort, 'POST', '/v1/topics/docs/big', { body: 'x'.repeat(2000), expect: 413 });
  assert.equal(res.json.error, 'payload_too_large');
  res = await call(devPort, 'POST', '/v1/publish', { raw: `POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n`, expect: 413 });
  await call(devPort, 'POST', '/v1/tickets', { raw: `POST /v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n`, expect: 413 });
  await call(devPort, 'POST', '/v1/dev/llm', { raw: `POST /v1/dev/llm HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n`, expect: 413 });
  await stillServes(devPort);
});

test('publishing: one, batch and streaming, with every refusal, as documented', async () => {
  const topic = uniq('docs/pub');
  let res = await call(devPort, 'POST', `/v1/topics/${topic}?event=note&retain=1`, { body: 'hello', expect: 201 });
  assert.equal(res.json.topic, topic);
  assert.equal(res.headers.location, `/v1/topics/${topic}/history`);
  await call(devPort, 'POST', `/v1/topics/${topic}`, { expect: 201 }); // no body: empty data
  res = await call(devPort, 'POST', '/v1/topics/a//b', { body: 'x', expect: 400 });
  assert.equal(res.json.error, 'invalid_topic');
  res = await call(devPort, 'POST', `/v1/topics/${topic}?event=a%0Ab`, { body: 'x', expect: 400 });
  assert.equal(res.json.error, 'invalid_request');
  const notUtf8 = Buffer.concat([Buffer.from(`POST /v1/topics/${topic} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n`), Buffer.from([0xff, 0xfe])]);
  res = await call(devPort, 'POST', `/v1/topics/${topic}`, { raw: notUtf8, expect: 400 });
  assert.equal(res.json.error, 'invalid_request');
  // Batch: the documented request body validates, and refusals are documented.
  const batch = { messages: [{ topic, data: 'a', event: 'e' }, { topic, data: { n: 1 }, retain: true }, { topic, data: 'c', event: null, retain: null }] };
  assert.equal(validates(ajvOas, oas.paths['/v1/publish'].post.requestBody.content['application/json'].schema, batch), null);
  res = await call(devPort, 'POST', '/v1/publish', { body: JSON.stringify(batch), headers: { 'Content-Type': 'application/json' }, expect: 200 });
  assert.equal(res.json.ids.length, 3);
  for (const [bad, code] of [['nope', 400], ['{}', 400], ['{"messages":[]}', 400], ['{"messages":[{"topic":"a"}]}', 400],
    ['{"messages":[{"topic":"a//b","data":"x"}]}', 400], ['{"messages":[{"topic":"a","data":"x","retain":1}]}', 400]]) {
    let doc = null;
    try {
      doc = JSON.parse(bad);
    } catch {
      // not JSON: the document cannot accept it either
    }
    if (doc !== null) {
      assert.notEqual(validates(ajvOas, oas.paths['/v1/publish'].post.requestBody.content['application/json'].schema, doc), null, `the document accepts ${bad}`);
    }
    await call(devPort, 'POST', '/v1/publish', { body: bad, expect: code });
  }
  const many = JSON.stringify({ messages: Array.from({ length: 1001 }, () => ({ topic, data: '' })) });
  res = await call(devPort, 'POST', '/v1/publish', { body: many, expect: 413 });
  assert.equal(res.json.error, 'payload_too_large');
  // Streaming: chunked, non-chunked, an event over max_message_bytes, a stalled body.
  const chunks = ['data: Hel\n\n', 'data: lo\n\nevent: done\ndata: \n\n'];
  let raw = `POST /v1/topics/${topic}/stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n`;
  for (const c of chunks) raw += `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`;
  res = await call(devPort, 'POST', `/v1/topics/${topic}/stream`, { raw: `${raw}0\r\n\r\n`, expect: 200 });
  assert.equal(res.json.published, 3);
  res = await call(devPort, 'POST', `/v1/topics/${topic}/stream`, { body: ': only a comment\n\n', expect: 200 });
  assert.equal(res.json.last_id, null);
  const big = `data: ${'x'.repeat(3000)}\n\n`;
  res = await call(devPort, 'POST', `/v1/topics/${topic}/stream`, {
    raw: `POST /v1/topics/${topic}/stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(big).toString(16)}\r\n${big}\r\n0\r\n\r\n`,
    expect: 413,
  });
  await call(devPort, 'POST', '/v1/topics/a//b/stream', { body: 'data: x\n\n', expect: 400 });
  // A chunked body that stalls past idle_timeout_s (2 s here).
  res = await call(devPort, 'POST', `/v1/topics/${topic}/stream`, {
    raw: `POST /v1/topics/${topic}/stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ndata:\r\n`,
    expect: 408,
    timeoutMs: 6000,
  });
  await stillServes(devPort);
});

test('history and presence pages, and their refusals, as documented', async () => {
  const topic = uniq('docs/hist');
  for (let i = 0; i < 3; i++) await call(devPort, 'POST', `/v1/topics/${topic}?event=${i ? 'e' : ''}`, { body: `m${i}`, expect: 201 });
  let res = await call(devPort, 'GET', `/v1/topics/${topic}/history?limit=2`, { expect: 200 });
  assert.equal(res.json.messages.length, 2);
  res = await call(devPort, 'GET', `/v1/topics/${topic}/history?since=${res.json.next}`, { expect: 200 });
  assert.equal(res.json.next, null);
  res = await call(devPort, 'GET', `/v1/topics/${topic}/history?since=1-1`, { expect: 200 });
  assert.equal(res.json.gap, true);
  await call(devPort, 'GET', `/v1/topics/${topic}/history?since=`, { expect: 200 });
  await call(devPort, 'HEAD', `/v1/topics/${topic}/history`, { expect: 200 });
  for (const [q, code] of [['limit=0', 'invalid_request'], ['limit=abc', 'invalid_request'], ['since=zzz', 'invalid_position']]) {
    res = await call(devPort, 'GET', `/v1/topics/${topic}/history?${q}`, { expect: 400 });
    assert.equal(res.json.error, code);
  }
  await call(devPort, 'GET', '/v1/topics/a//b/history', { expect: 400 });
  const room = uniq('docs/room');
  const ws = await openWs(null, devPort);
  try {
    await ws.ok({ op: 'presence.join', topic: room, state: { name: 'Ann' } });
    res = await call(devPort, 'GET', `/v1/topics/${room}/presence?limit=1`, { expect: 200 });
    assert.equal(res.json.count, 1);
    assert.equal(res.json.members[0].state.name, 'Ann');
    await call(devPort, 'GET', `/v1/topics/${room}/presence?limit=1&after=${res.json.members[0].id}`, { expect: 200 });
    await call(devPort, 'HEAD', `/v1/topics/${room}/presence`, { expect: 200 });
    await call(devPort, 'GET', `/v1/topics/${room}/presence?limit=x`, { expect: 400 });
    await call(devPort, 'GET', '/v1/topics/a//b/presence', { expect: 400 });
    checkAllFrames(ws, 'presence joiner');
  } finally {
    ws.close();
  }
  // Tickets need an API key: an anonymous dev caller is told 401.
  res = await call(devPort, 'POST', '/v1/tickets', { body: '{"topics":["a"]}', expect: 401 });
  assert.equal(res.headers['www-authenticate'], 'Bearer');
});

test('SSE: the answer and every kind of block validate against the documents', async () => {
  const topic = uniq('docs/sse');
  const other = uniq('docs/sse2');
  // Refusals of GET /v1/events.
  for (const [q, code] of [['', 'invalid_request'], ['topic=a//b', 'invalid_topic'], ['topic=a&topic=b&topic=c&topic=d', 'invalid_request'], [`topic=${topic}&since=zzz`, 'invalid_position']]) {
    const res = await call(devPort, 'GET', `/v1/events?${q}`, { expect: 400 });
    assert.equal(res.json.error, code);
  }
  // A single-topic stream resumed from another epoch: preamble, gap, replay-less live messages.
  await call(devPort, 'POST', `/v1/topics/${topic}?retain=1`, { body: 'retained', expect: 201 });
  const single = await openSse(devPort, { topics: [topic], since: '1-5' });
  const multi = await openSse(devPort, { topics: [topic, other] });
  try {
    for (const s of [single, multi]) checkSseHead(s);
    await call(devPort, 'POST', `/v1/topics/${topic}?event=shipped`, { body: '{"carrier":"DHL"}', expect: 201 });
    await call(devPort, 'POST', `/v1/topics/${topic}`, { body: 'two\nlines', expect: 201 });
    await call(devPort, 'POST', `/v1/topics/${other}`, { body: 'other', expect: 201 });
    // A volatile message from a WebSocket client reaches SSE without an id.
    const ws = await openWs(null, devPort);
    send(ws, { op: 'publish', topic, data: 'cursor', volatile: true });
    await single.until((s) => s.events.some((e) => e.data === 'cursor'), 5000, 'the volatile message');
    ws.close();
    await single.until((s) => s.blocks.some((b) => b.comments.length), 3000, 'a heartbeat (heartbeat_s 1)');
    await multi.until((s) => s.events.some((e) => e.data === 'other'), 5000, 'the other topic');
    for (const [s, name] of [[single, 'single'], [multi, 'multi']]) {
      for (const b of s.blocks) checkSseBlock(b, `${name}-topic stream`);
    }
    assert.ok(single.blocks.some((b) => b.event === 'gap' && b.dispatched), 'a gap for the foreign epoch');
    assert.ok(multi.events.some((e) => /^c/.test(e.id)), 'a multi-topic stream carries cursors');
    assert.ok(single.events.some((e) => e.idField === undefined && e.data === 'cursor'), 'the volatile message has no id');
  } finally {
    single.close();
    multi.close();
  }
  for (const n of ['ssePreamble', 'sseMessage', 'sseGap', 'sseHeartbeat']) assert.ok(seenSse.has(n), `no ${n} block seen`);
});

test('WebSocket: the handshake refusals, every server op and the client ops validate against the documents', async () => {
  // Handshake refusals are HTTP answers.
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  const upgrade = (extra) => `GET /v1/ws HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
  let res = await call(devPort, 'GET', '/v1/ws', { expect: 426 });
  assert.equal(res.json.error, 'websocket_handshake');
  await call(devPort, 'GET', '/v1/ws', { raw: upgrade(`Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 12\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Protocol: switchboard.v1\r\n`), expect: 426 });
  await call(devPort, 'GET', '/v1/ws', { raw: upgrade('Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Protocol: switchboard.v1\r\n'), expect: 400 });
  await call(devPort, 'GET', '/v1/ws', { raw: upgrade(`Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n`), expect: 400 });
  await call(devPort, 'GET', '/v1/ws', { raw: upgrade(`Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Protocol: switchboard.v1\r\n`), expect: 101 });

  const topic = uniq('docs/ws');
  const room = uniq('docs/room');
  const a = await openWs(null, devPort, { name: 'a' });
  const b = await openWs(null, devPort, { name: 'b' });
  try {
    await call(devPort, 'POST', `/v1/topics/${topic}?retain=1`, { body: 'retained', expect: 201 });
    send(a, { op: 'subscribe', topic, ref: 1 });
    await a.waitMsg((m) => m.op === 'message' && m.data === 'retained');
    send(b, { op: 'subscribe', topic, since: '1-3', ref: { any: 'json' } });
    await b.waitMsg((m) => m.op === 'gap');
    send(a, { op: 'publish', topic, data: 'hi', event: 'chat', ref: 'p1' });
    await a.waitMsg((m) => m.op === 'ack' && m.ref === 'p1' && m.id);
    send(a, { op: 'publish', topic, data: { n: 1 } });
    send(a, { op: 'publish', topic, data: 'fast', volatile: true, ref: 'v' });
    await b.waitMsg((m) => m.op === 'message' && m.data === 'fast' && m.id === null);
    await b.waitMsg((m) => m.op === 'message' && m.data === '{"n":1}');
    send(a, { op: 'presence.join', topic: room, state: { x: 1 }, ref: 2 });
    await a.waitMsg((m) => m.op === 'presence' && m.members);
    send(b, { op: 'presence.join', topic: room });
    await a.waitMsg((m) => m.op === 'presence' && m.joins?.length);
    send(b, { op: 'presence.update', topic: room, state: [1, 2] });
    send(b, { op: 'presence.leave', topic: room });
    await a.waitMsg((m) => m.op === 'presence' && m.leaves?.length);
    send(a, { op: 'unsubscribe', topic, ref: 3 });
    send(a, { op: 'ping', ref: 9 });
    await a.waitMsg((m) => m.op === 'pong' && m.ref === 9);
    send(a, { op: 'ping' });
    await a.waitMsg((m) => m.op === 'pong' && m.ref === null);
    // Errors: each frame the document refuses is refused by the server too (the connection stays).
    const refused = [
      ['not json', 'bad_json'],
      [[1, 2], 'bad_json'],
      [{ op: 'dance', ref: 'e1' }, 'unknown_op'],
      [{ op: 'subscribe', ref: 'e2' }, 'bad_field'],
      [{ op: 'publish', topic, ref: 'e3' }, 'bad_field'],
      [{ op: 'publish', topic, data: 'x', volatile: 'yes', ref: 'e4' }, 'bad_field'],
      [{ op: 'presence.update', topic: room, ref: 'e5' }, 'bad_field'],
      [{ op: 'publish', topic, data: 'x', event: 'e'.repeat(300), ref: 'e6' }, 'bad_field'],
    ];
    for (const [frame, code] of refused) {
      assert.equal(clientOpValid(frame), false, `the document accepts ${JSON.stringify(frame)}`);
      const from = a.msgs.length;
      a.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
      const err = await a.waitMsg((m) => m.op === 'error', { from, what: `the error for ${JSON.stringify(frame)}` });
      assert.equal(err.code, code, JSON.stringify(frame));
    }
    // Valid ops refused for what they name.
    for (const [frame, code] of [
      [{ op: 'subscribe', topic: 'a//b', ref: 'e7' }, 'invalid_topic'],
      [{ op: 'publish', topic, data: 'x'.repeat(2000), ref: 'e8' }, 'payload_too_large'],
      [{ op: 'presence.update', topic: uniq('docs/nj'), state: 1, ref: 'e9' }, 'not_joined'],
    ]) {
      const err = await a.call(frame);
      assert.equal(err.op, 'error');
      assert.equal(err.code, code);
    }
    const from = a.msgs.length;
    a.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await a.waitMsg((m) => m.op === 'error', { from })).code, 'bad_frame');
    // b holds `topic`; max_topics_per_connection is 4 here.
    for (let i = 0; i < 3; i++) await b.ok({ op: 'subscribe', topic: uniq('docs/many') });
    assert.equal((await b.call({ op: 'subscribe', topic: uniq('docs/many') })).code, 'too_many_topics');
    await a.sync();
    await b.sync();
    checkAllFrames(a, 'client a');
    checkAllFrames(b, 'client b');
    assert.ok(a.isOpen && b.isOpen, 'errors do not close the connection');
  } finally {
    a.close();
    b.close();
  }
  for (const n of serverOps) assert.ok(seenWs.has(n), `no ${n} frame seen`);
  for (const c of ['bad_json', 'unknown_op', 'bad_field', 'invalid_topic', 'payload_too_large', 'bad_frame', 'too_many_topics', 'not_joined']) {
    assert.ok(seenWs.has(`error:${c}`), `no error ${c} seen`);
  }
});

// --- a production server with credentials: 401, 403, tickets, metrics token
test('credentials: 401, 403, tickets, metrics token and the admin routes, as documented', async (t) => {
  const KEY = 'sk_docs_key_0123456789';
  const secret = newSecret();
  const ADMIN = 'sk_docs_admin_0123456789';
  const server = await startServer(null, { dev: false, args: ['--api-keys', KEY, '--admin-api-keys', ADMIN, '--jwt-secret', secret, '--metrics-token', 'mt_docs', '--threads', '2'] });
  t.after(() => stopServer(server));
  const port = server.port;
  const key = { Authorization: `Bearer ${KEY}` };
  const limited = { Authorization: `Bearer ${signHS256(claims({ sub: 'ann', subscribe: ['allowed/**'], publish: ['allowed/**'] }), secret)}` };
  const broken = { Authorization: 'Bearer not.a.jwt' };
  const topic = uniq('docs/auth');
  const denied = `/v1/topics/${topic}`;
  const cases = [
    ['GET', `/v1/events?topic=${topic}`, {}, undefined, 401],
    ['GET', `/v1/events?topic=${topic}`, broken, undefined, 401],
    ['GET', `/v1/events?topic=${topic}`, limited, undefined, 403],
    ['POST', denied, {}, 'x', 401],
    ['POST', denied, limited, 'x', 403],
    ['POST', denied, key, 'x', 201],
    ['POST', '/v1/publish', {}, JSON.stringify({ messages: [{ topic, data: 'x' }] }), 401],
    ['POST', '/v1/publish', limited, JSON.stringify({ messages: [{ topic, data: 'x' }] }), 403],
    ['POST', `${denied}/stream`, {}, 'data: x\n\n', 401],
    ['POST', `${denied}/stream`, limited, 'data: x\n\n', 403],
    ['GET', `${denied}/history`, {}, undefined, 401],
    ['GET', `${denied}/history`, limited, undefined, 403],
    ['GET', `${denied}/history`, key, undefined, 200],
    ['GET', `${denied}/presence`, {}, undefined, 401],
    ['GET', `${denied}/presence`, limited, undefined, 403],
    ['HEAD', `${denied}/presence`, limited, undefined, 403],
    ['POST', '/v1/tickets', {}, '{"topics":["a"]}', 401],
    ['POST', '/v1/tickets', limited, '{"topics":["a"]}', 403],
    ['POST', '/v1/tickets', key, '{"topics":[]}', 400],
    ['POST', '/v1/tickets', key, '{"topics":["a"],"ttl_s":0}', 400],
    ['POST', '/v1/tickets', key, '{"topics":["a//b"]}', 400],
    ['POST', '/v1/tickets', key, 'nope', 400],
    ['GET', '/metrics', {}, undefined, 401],
    ['GET', '/metrics', { Authorization: 'Bearer wrong' }, undefined, 401],
    ['GET', '/metrics', { Authorization: 'Bearer mt_docs' }, undefined, 200],
    ['GET', '/', {}, undefined, 404],
    ['POST', '/v1/dev/llm', key, '', 404],
    ['GET', '/v1/ws', broken, undefined, 401],
  ];
  for (const [method, target, headers, body, status] of cases) {
    const res = await call(port, method, target, { headers, body, expect: status });
    if (status === 401) assert.match(res.headers['www-authenticate'], /^Bearer/);
  }
  // A ticket minted with the API key opens a stream once.
  const mint = { subject: 'ann', topics: [topic, 'docs/**'], ttl_s: 60 };
  assert.equal(validates(ajvOas, oas.paths['/v1/tickets'].post.requestBody.content['application/json'].schema, mint), null);
  const ticket = (await call(port, 'POST', '/v1/tickets', { headers: key, body: JSON.stringify(mint), expect: 201 })).json.ticket;
  const s = await openSse(port, { topics: [topic], query: { ticket } });
  try {
    checkSseHead(s);
  } finally {
    s.close();
  }
  await call(port, 'GET', `/v1/events?topic=${topic}&ticket=${ticket}`, { expect: 401 });
  // WebSocket ops refused for missing or insufficient credentials are error frames.
  const anon = await openWs(null, port, { name: 'anon' });
  const ann = await openWs(null, port, { name: 'ann', options: { headers: limited } });
  try {
    assert.equal((await anon.call({ op: 'subscribe', topic })).code, 'unauthorized');
    assert.equal((await ann.call({ op: 'subscribe', topic })).code, 'forbidden');
    assert.equal((await ann.call({ op: 'presence.join', topic })).code, 'forbidden');
    checkAllFrames(anon, 'anonymous');
    checkAllFrames(ann, 'limited');
  } finally {
    anon.close();
    ann.close();
  }
  assert.ok(seenWs.has('error:unauthorized') && seenWs.has('error:forbidden'));
  // The admin routes: an admin key, a backend key (not an admin), none.
  const adminKey = { Authorization: `Bearer ${ADMIN}` };
  for (const [method, target, headers, status] of [['GET', '/admin', {}, 401], ['GET', '/admin', limited, 403],
    ['GET', '/admin', key, 403], ['GET', '/admin', adminKey, 200], ['HEAD', '/admin', adminKey, 200],
    ['GET', '/v1/topics?limit=10', adminKey, 200], ['HEAD', '/v1/topics', adminKey, 200], ['GET', '/v1/topics', {}, 401],
    ['GET', '/v1/topics', limited, 403], ['GET', '/v1/topics?limit=0', adminKey, 400],
    ['GET', '/v1/admin/stats', {}, 401], ['GET', '/v1/admin/stats', key, 403],
    ['POST', '/v1/admin/session', {}, 401], ['POST', '/v1/admin/session', key, 403]]) {
    await call(port, method, target, { headers, expect: status, body: method === 'POST' ? '' : undefined });
  }
  const signIn = await call(port, 'POST', '/v1/admin/session', { headers: adminKey, body: '', expect: 204 });
  assert.match(signIn.headers['set-cookie'], /^switchboard_admin=[^;]+;.*HttpOnly/);
  // The stats stream: its head as documented, and one snapshot block.
  {
    const conn = await RawConn.open(port);
    try {
      await conn.write(`GET /v1/admin/stats HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${ADMIN}\r\n\r\n`);
      const head = await conn.readResponse({ timeoutMs: 5000, headOnly: true });
      assert.equal(head.status, 200);
      const doc = oas.paths['/v1/admin/stats'].get.responses['200'];
      assert.ok(Object.keys(doc.content).some((k) => normType(k) === normType(head.headers['content-type'])), head.headers['content-type']);
      seen.add('GET /v1/admin/stats 200');
    } finally {
      conn.destroy();
    }
  }
  await stillServes(port);
});

// --- limits: publish rate and connection caps (429)
test('rate limits and connection caps answer the documented 429', async (t) => {
  const server = await startServer(null, { args: ['--http-publish-rate', '1', '--http-publish-burst', '1', '--max-connections-per-ip', '3', '--threads', '1'] });
  t.after(() => stopServer(server));
  const port = server.port;
  const topic = uniq('docs/rate');
  await call(port, 'POST', `/v1/topics/${topic}`, { body: 'a', expect: 201 });
  let res = await call(port, 'POST', `/v1/topics/${topic}`, { body: 'b', expect: 429 });
  assert.equal(res.json.error, 'rate_limited');
  await call(port, 'POST', '/v1/publish', { body: JSON.stringify({ messages: [{ topic, data: 'c' }] }), expect: 429 });
  await call(port, 'POST', `/v1/topics/${topic}/stream`, { body: 'data: d\n\n', expect: 429 });
  // Connection caps: the fourth connection from this address is answered 429 at accept.
  const held = [];
  try {
    for (let i = 0; i < 3; i++) held.push(await RawConn.open(port));
    await sleep(100);
    const extra = await RawConn.open(port);
    held.push(extra);
    res = await extra.readResponse();
    assert.equal(res.status, 429);
    checkHttp(res, null, '/', 'a connection over max_connections_per_ip');
  } finally {
    for (const c of held) c.destroy();
  }
  await sleep(100);
  await stillServes(port);
});

// --- drain: 503 and the SSE stream's last retry:
test('draining: 503 for readiness, streams and upgrades, and the retry: block, as documented', async () => {
  const server = await startServer(null, { args: ['--drain-timeout-s', '5', '--drain-rate', '1000'] });
  const port = server.port;
  const topic = uniq('docs/drain');
  const stream = await openSse(port, { topics: [topic] });
  checkSseHead(stream);
  // Requests already on the wire when SIGTERM comes (the listener stops at once).
  const probes = [];
  for (const [target, extra] of [['/readyz', ''], [`/v1/events?topic=${topic}`, ''],
    ['/v1/ws', 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: switchboard.v1\r\n']]) {
    const conn = await RawConn.open(port);
    await conn.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}`);
    probes.push([target, conn]);
  }
  await sleep(50);
  server.signal('SIGTERM');
  await sleep(150);
  try {
    for (const [target, conn] of probes) {
      await conn.write('\r\n');
      const res = await conn.readResponse({ timeoutMs: 3000 });
      assert.equal(res.status, 503, `${target} while draining`);
      checkHttp(res, 'GET', target);
    }
    assert.ok(await stream.waitEnded(4000), 'the stream ends on drain');
    for (const b of stream.blocks) checkSseBlock(b, 'a drained stream');
    assert.ok(seenSse.has('sseRetry'), `the drain's retry: block; blocks ${JSON.stringify(stream.blocks.map((b) => b.fields))}`);
  } finally {
    for (const [, conn] of probes) conn.destroy();
    stream.close();
  }
  const exit = await Promise.race([server.exited, sleep(8000).then(() => null)]);
  assert.ok(exit && exit.code === 0, `exit ${JSON.stringify(exit)}`);
  await server.teardown();
});

test('every documented operation was exercised, and every reachable status', () => {
  const ops = [];
  for (const [p, item] of Object.entries(oas.paths)) {
    if (PENDING.has(p)) continue;
    for (const m of Object.keys(item).filter((k) => METHODS.includes(k))) ops.push(`${m.toUpperCase()} ${p}`);
  }
  const exercised = new Set([...seen].map((s) => s.split(' ').slice(0, 2).join(' ')));
  const missing = ops.filter((o) => !exercised.has(o));
  assert.deepEqual(missing, [], 'documented operations that no test request reached');
  for (const s of [101, 200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 408, 413, 426, 429, 431, 503]) {
    assert.ok(seenStatus.has(s) || seen.has(`GET /v1/events ${s}`), `no ${s} answer was checked`);
  }
});
