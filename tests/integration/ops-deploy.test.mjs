// deploy/: the Prometheus rules pass `promtool check rules`, and every metric the Grafana dashboard
// and the rules query is exported by a live server after a little traffic (HTTP and WebSocket
// publishes, SSE and WebSocket subscribers, a resume, an error). The exposition follows the
// conventions: HELP and TYPE on each family, counters end in _total, no topic label.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startServer } from '../support/server.mjs';
import { publishOk, request, topicPath } from '../support/http.mjs';
import { openSse, subscribe, waitPreamble } from '../support/sse.mjs';
import { openWs } from '../support/ws-client.mjs';
import { scrape } from '../support/metrics.mjs';
import { uniq, waitFor } from '../support/util.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const RULES = `${root}deploy/prometheus/alerts.yml`;
const DASHBOARD = `${root}deploy/grafana/switchboard.json`;

// Exported only with broker = "redis": absent from a memory-broker server, allowed to be.
const REDIS_ONLY = new Set([
  'switchboard_redis_up',
  'switchboard_redis_reconnects_total',
  'switchboard_redis_resume_reads_total',
  'switchboard_redis_repairs_total',
  'switchboard_redis_roundtrip_seconds',
  'switchboard_redis_pubsub_lag_seconds',
  'switchboard_redis_tickets_roundtrip_seconds',
  'switchboard_redis_tickets_reconnects_total',
]);
// Written by Prometheus itself for every scrape target, never by the target.
const SCRAPE_SYNTHESIZED = new Set(['up']);

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool',
  'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names a PromQL expression reads (functions, labels, ranges and keywords left out). */
export function metricNames(expr) {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges, $__rate_interval
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\w+/g, ' '); // Grafana variables
  const names = new Set();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = s.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest)) continue; // a function call
    if (PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    if (/[0-9.]$/.test(s.slice(0, m.index))) continue; // a unit suffix (5m) or exponent
    names.add(m[0]);
  }
  return names;
}

/** Every `expr:` of a rules file (inline, or a `|`/`>` block), without a YAML library. */
function ruleExpressions(text) {
  const lines = text.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(?:- )?expr:\s*(.*)$/.exec(lines[i]);
    if (!m) continue;
    if (!/^[|>]/.test(m[2])) {
      out.push(m[2]);
      continue;
    }
    const indent = m[1].length;
    const block = [];
    while (i + 1 < lines.length && (lines[i + 1].trim() === '' || /^\s*/.exec(lines[i + 1])[0].length > indent)) {
      block.push(lines[++i]);
    }
    out.push(block.join('\n'));
  }
  return out;
}

function dashboardExpressions(dash) {
  const out = [];
  const walk = (panels) => {
    for (const p of panels ?? []) {
      for (const target of p.targets ?? []) if (target.expr) out.push(target.expr);
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const inner = /^label_values\((.*),\s*\w+\)$/.exec(q ?? '');
    if (inner) out.push(inner[1]);
  }
  return out;
}

/** A queried name as exported: histogram series map to their family. */
function family(name, types) {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && types[base] === 'histogram' ? base : name;
}

test('promtool check rules accepts deploy/prometheus/alerts.yml', () => {
  const res = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
  assert.ok(!res.error, `promtool not found (Debian package prometheus; scripts/install-deps.sh --test): ${res.error}`);
  assert.equal(res.status, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /SUCCESS: \d+ rules found/);
});

test('promtool test rules: the alerts fire on their series and stay quiet on a healthy node', () => {
  const res = spawnSync('promtool', ['test', 'rules', `${root}deploy/prometheus/alerts.test.yml`], { encoding: 'utf8' });
  assert.ok(!res.error, `promtool not found: ${res.error}`);
  assert.equal(res.status, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /SUCCESS/);
});

test('the PromQL name extraction finds metrics, not functions, labels or ranges', () => {
  assert.deepEqual(
    [...metricNames('histogram_quantile(0.99, sum by (le, job) (rate(a_bucket{code=~"5..", x="b c"}[5m]))) / on(job) b_total offset 5m > 1e3')],
    ['a_bucket', 'b_total'],
  );
  assert.deepEqual([...metricNames('min(switchboard_ready{job=~"$job"})')], ['switchboard_ready']);
  assert.deepEqual([...metricNames('up{job="switchboard"} == 0')], ['up']);
});

test('every metric the dashboard and the alert rules query is on a live server\'s /metrics', async (t) => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  assert.equal(dash.uid, 'switchboard');
  const exprs = [...dashboardExpressions(dash), ...ruleExpressions(readFileSync(RULES, 'utf8'))];
  assert.ok(exprs.length >= 30, `${exprs.length} expressions`);

  const server = await startServer(t, { args: ['--threads', '2'] });
  const topic = uniq('ops');
  const sse = await subscribe(t, server.port, { topics: [topic] });
  await waitPreamble(sse);
  const ws = await openWs(t, server.port);
  await ws.ok({ op: 'subscribe', topic });
  const first = await publishOk(server.url, topic, 'over http');
  await ws.ok({ op: 'publish', topic, data: 'over ws' });
  await ws.waitMsg((m) => m.op === 'message' && m.data === 'over ws');
  // A resume from the first id, and a resume from an id this server never wrote (a gap).
  const resumed = await openSse(server.port, { topics: [topic], lastEventId: first });
  await waitPreamble(resumed);
  resumed.close();
  const gapped = await openSse(server.port, { topics: [topic], lastEventId: '999-1' });
  await waitPreamble(gapped);
  gapped.close();
  assert.equal((await request(`${server.url}/nope`)).status, 404);
  await waitFor(async () => (await scrape(server.url)).get('switchboard_deliveries_total') >= 4, { what: 'deliveries counted' });
  const m = await scrape(server.url);
  assert.equal(m.status, 200);

  const exported = new Set(m.parsed.samples.map((s) => s.name));
  const families = new Set(Object.keys(m.parsed.types));
  const missing = [];
  const queried = new Set();
  for (const expr of exprs) {
    for (const name of metricNames(expr)) {
      queried.add(name);
      const fam = family(name, m.parsed.types);
      const base = name.replace(/_(bucket|sum|count)$/, '');
      if (REDIS_ONLY.has(name) || REDIS_ONLY.has(base) || SCRAPE_SYNTHESIZED.has(name)) continue;
      if (!exported.has(name) && !families.has(fam)) missing.push(`${name} (in ${expr.replace(/\s+/g, ' ').slice(0, 100)})`);
    }
  }
  assert.deepEqual(missing, [], 'queried but not exported');
  for (const name of ['switchboard_delivery_lag_seconds_bucket', 'switchboard_publish_duration_seconds_bucket',
    'switchboard_http_responses_total', 'switchboard_streams', 'switchboard_slow_consumer_closes_total',
    'switchboard_gaps_sent_total', 'switchboard_resumes_total', 'switchboard_redis_up', 'up']) {
    assert.ok(queried.has(name), `${name} is queried`);
  }

  // Conventions of the exposition.
  const helps = new Set([...m.text.matchAll(/^# HELP (\S+) \S/gm)].map((x) => x[1]));
  for (const [name, type] of Object.entries(m.parsed.types)) {
    assert.ok(helps.has(name), `${name} has # HELP`);
    if (type === 'counter') assert.match(name, /_total$/, `counter ${name}`);
    else assert.doesNotMatch(name, /_total$/, `${type} ${name}`);
  }
  for (const s of m.parsed.samples) {
    assert.ok(!('topic' in s.labels), `${s.name} has no topic label`);
    assert.ok(families.has(family(s.name, m.parsed.types)), `${s.name} has # TYPE`);
  }
  // The traffic shows where it should.
  assert.ok(m.get('switchboard_messages_published_total', { transport: 'http' }) >= 1);
  assert.ok(m.get('switchboard_messages_published_total', { transport: 'ws' }) >= 1);
  assert.ok(m.get('switchboard_deliveries_total', { transport: 'sse' }) >= 2);
  assert.ok(m.get('switchboard_deliveries_total', { transport: 'ws' }) >= 2);
  assert.equal(m.get('switchboard_resumes_total', { transport: 'sse' }), 2);
  assert.equal(m.get('switchboard_gaps_sent_total', { transport: 'sse' }), 1);
  assert.equal(m.get('switchboard_http_responses_total', { code: '404' }), 1);
  assert.ok(m.get('switchboard_http_responses_total', { code: '201' }) >= 1);
  assert.equal(m.get('switchboard_delivery_lag_seconds_bucket', { le: '+Inf' }), m.get('switchboard_delivery_lag_seconds_count'));
  assert.ok(m.get('switchboard_delivery_lag_seconds_count') >= 2, 'one observation per message per loop');
  assert.ok(m.get('switchboard_publish_duration_seconds_count') >= 2, 'HTTP and WebSocket publishes');
  assert.equal(m.get('switchboard_streams', { transport: 'sse' }), 1);
  assert.equal(m.get('switchboard_streams', { transport: 'ws' }), 1);
  assert.equal(m.get('switchboard_ready'), 1);
  assert.ok(m.get('process_open_fds') > 0 && m.get('process_max_fds') >= m.get('process_open_fds'));
  assert.equal((await request(`${server.url}/healthz`)).status, 200, 'the server still serves');
});
