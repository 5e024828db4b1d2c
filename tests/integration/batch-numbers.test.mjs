// POST /v1/publish with a non-string `data`: published as that value's JSON text, numbers exactly
// as the request wrote them (docs/decisions.md): 1e400 is not "Infinity", 23-digit integers keep
// their digits. Checked on the SSE wire and in history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../support/server.mjs';
import { request, history, publishOk } from '../support/http.mjs';
import { subscribe, waitPreamble } from '../support/sse.mjs';
import { uniq } from '../support/util.mjs';

test('batch data numbers and containers keep their JSON text', async (t) => {
  const srv = await startServer(t);
  const topic = uniq('num');
  const s = await subscribe(t, srv.port, { topics: [topic] });
  await waitPreamble(s);
  const cases = [
    ['1e400', '1e400'],
    ['12345678901234567890123', '12345678901234567890123'],
    ['-0.000000000000000000000000000000000001', '-0.000000000000000000000000000000000001'],
    ['1.50', '1.50'],
    ['-9223372036854775809', '-9223372036854775809'],
    [' { "big" : [ 1E+999 , 2.000 , null , true ] , "s" : "a\\"b" } ', '{"big":[1E+999,2.000,null,true],"s":"a\\"b"}'],
    ['"plain string"', 'plain string'],
  ];
  const body = `{"messages":[${cases.map(([src]) => `{"topic":"${topic}","data":${src}}`).join(',')}]}`;
  const res = await request(`${srv.url}/v1/publish`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 200, res.text);
  const ids = JSON.parse(res.text).ids;
  assert.equal(ids.length, cases.length);
  const got = await s.waitEvents(cases.length);
  assert.deepEqual(got.map((e) => e.id), ids);
  assert.deepEqual(got.map((e) => e.data), cases.map(([, want]) => want));
  const h = await history(srv.url, topic, {});
  assert.deepEqual(h.body.messages.map((m) => m.data), cases.map(([, want]) => want));
  // A bad batch is still a 400, and the server serves the next publish.
  const bad = await request(`${srv.url}/v1/publish`, { method: 'POST', body: `{"messages":[{"topic":"${topic}","data":1e400}`, headers: { 'content-type': 'application/json' } });
  assert.equal(bad.status, 400, bad.text);
  const id = await publishOk(srv.url, topic, 'after');
  assert.equal((await s.waitEvents(cases.length + 1)).at(-1).id, id);
});
