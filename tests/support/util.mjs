// Small shared helpers: unique names, bounded polling, seeded randomness.
import { randomBytes } from 'node:crypto';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let counter = 0;
/** A topic name no other test uses (valid characters only). */
export function uniq(prefix = 't') {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

/** Polls fn() (sync or async) every intervalMs until truthy; throws after timeoutMs. */
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 25, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timeout after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Deterministic PRNG (mulberry32) so a failing random run can be replayed from its seed. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int(lo, hi) {
      return lo + Math.floor(next() * (hi - lo + 1));
    },
  };
}

/** Seed from TEST_SEED or the clock; printed by the tests that use it. */
export function testSeed() {
  const env = process.env.TEST_SEED;
  return env ? Number(env) : Date.now() % 1000000007;
}

/**
 * Compares two id sequences and describes the first difference, the missing and the duplicated
 * entries, without dumping 10,000-element arrays into an assertion message.
 */
export function diffSequences(expected, actual, label = 'ids') {
  const problems = [];
  const counts = new Map();
  for (const x of actual) counts.set(x, (counts.get(x) || 0) + 1);
  const dups = [...counts].filter(([, c]) => c > 1).map(([x, c]) => `${x}×${c}`);
  const expSet = new Set(expected);
  const missing = expected.filter((x) => !counts.has(x));
  const extra = actual.filter((x) => !expSet.has(x));
  if (dups.length) problems.push(`${dups.length} duplicated (first: ${dups.slice(0, 5).join(', ')})`);
  if (missing.length) problems.push(`${missing.length} missing (first: ${missing.slice(0, 5).join(', ')})`);
  if (extra.length) problems.push(`${extra.length} unexpected (first: ${extra.slice(0, 5).join(', ')})`);
  if (!problems.length) {
    for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
      if (expected[i] !== actual[i]) {
        problems.push(`order differs at index ${i}: expected ${expected[i]}, got ${actual[i]}`);
        break;
      }
    }
  }
  return problems.length ? `${label}: expected ${expected.length}, got ${actual.length}; ${problems.join('; ')}` : null;
}

/**
 * Resolves with `fn()`'s first truthy value, re-checked each time the owner calls the waiters in
 * `waiters` (a Set of callbacks it runs on every byte, message or close). Rejects with `describe()`
 * after `timeoutMs`, or with what `fn` throws.
 */
export function untilWith(waiters, fn, timeoutMs, describe) {
  return new Promise((resolve, reject) => {
    const check = () => {
      let v;
      try {
        v = fn();
      } catch (err) {
        done();
        reject(err);
        return;
      }
      if (v) {
        done();
        resolve(v);
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timeout after ${timeoutMs} ms waiting for ${describe()}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      waiters.delete(check);
    };
    waiters.add(check);
    check();
  });
}
