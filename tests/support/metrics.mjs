// Scrapes and parses the Prometheus text exposition of GET /metrics.
import { request } from './http.mjs';

/**
 * Parses Prometheus text format into { samples: [{name, labels, value}], types: {name: type} }.
 * Throws on a line that is neither a comment nor a valid sample.
 */
export function parseMetrics(text) {
  const samples = [];
  const types = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/.exec(line);
      if (m) types[m[1]] = m[2];
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+-?\d+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[2]) {
      for (const lm of m[2].slice(1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[lm[1]] = lm[2];
      }
    }
    const v = m[3];
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
    if (Number.isNaN(value) && v !== 'NaN') throw new Error(`bad sample value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels, value });
  }
  return { samples, types };
}

/**
 * Sum of every sample of `name` whose labels include `labels` (all label sets when omitted);
 * undefined if no sample matches.
 */
export function metricSum(parsed, name, labels = {}) {
  const s = parsed.samples.filter(
    (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
  if (s.length === 0) return undefined;
  return s.reduce((a, x) => a + x.value, 0);
}

/** GET /metrics on its own connection; returns { status, headers, text, parsed, get(name) }. */
export async function scrape(base) {
  const res = await request(`${base}/metrics`);
  const parsed = res.status === 200 ? parseMetrics(res.text) : { samples: [], types: {} };
  return { ...res, parsed, get: (name, labels) => metricSum(parsed, name, labels) };
}
