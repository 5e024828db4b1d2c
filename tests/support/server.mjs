// Starts the real switchboard binary on a free loopback port for one test (or one suite) and
// always ends what it started: the child process is killed by its handle in teardown, and a
// process-exit hook kills any child still alive if the runner itself goes away.
import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { request } from './http.mjs';

export const BIN = process.env.SWITCHBOARD_BIN || '/work/main/build/switchboard';

const CRASH_SIGNALS = new Set(['SIGSEGV', 'SIGABRT', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGTRAP']);
const STDERR_CAP = 1 << 20;

const live = new Set();
process.on('exit', () => {
  for (const proc of live) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port that was free a moment ago on 127.0.0.1 (the bind race is handled by retrying start). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Environment for the child: ours minus every SWITCHBOARD_* key, plus the test's own. */
function childEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SWITCHBOARD_')) {
      env[k] = v;
    }
  }
  return { ...env, ...extra };
}

/** Resident set size of a process in bytes (from /proc/PID/status VmRSS), or null if gone. */
export function rssBytes(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Starts the server. `t` is the node:test context (or suite hook context) whose `after` gets the
 * teardown; pass null to manage `kill()` yourself.
 * Options: args (extra flags, e.g. ['--heartbeat-s', '1']), env, dev (default true),
 * startTimeoutMs, port (reuse a port, e.g. after a restart), wrap (a command that execs the binary,
 * e.g. ['prlimit', '--nofile=256:256', '--']; the pid is then the server's).
 * Returns { url, port, pid, proc, stderr, stdout, exited, stop(signal, timeoutMs), kill(), rss() }.
 */
export async function startServer(t, opts = {}) {
  if (!existsSync(BIN)) {
    throw new Error(`server binary not found: ${BIN} (set SWITCHBOARD_BIN)`);
  }
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      const server = await launch(port, opts);
      if (t && typeof t.after === 'function') {
        t.after(() => server.teardown());
      }
      return server;
    } catch (err) {
      lastError = err;
      if (!/address|in use|bind/i.test(String(err.message)) || opts.port) {
        break;
      }
    }
  }
  throw lastError;
}

async function launch(port, opts) {
  const { args = [], env = {}, dev = true, startTimeoutMs = 15000, wrap = [] } = opts;
  const argv = ['--listen', `127.0.0.1:${port}`, ...(dev ? ['--dev'] : []), ...args.map(String)];
  const proc = wrap.length
    ? spawn(wrap[0], [...wrap.slice(1), BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(env) })
    : spawn(BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(env) });
  live.add(proc);
  let stderr = '';
  let stdout = '';
  proc.stderr.setEncoding('utf8');
  proc.stdout.setEncoding('utf8');
  proc.stderr.on('data', (s) => {
    if (stderr.length < STDERR_CAP) stderr += s;
  });
  proc.stdout.on('data', (s) => {
    if (stdout.length < STDERR_CAP) stdout += s;
  });
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal, at: Date.now() };
      live.delete(proc);
      resolve(exitInfo);
    });
    proc.on('error', (err) => {
      exitInfo = { code: null, signal: null, error: err, at: Date.now() };
      live.delete(proc);
      resolve(exitInfo);
    });
  });

  let stopRequested = false;
  const server = {
    port,
    url: `http://127.0.0.1:${port}`,
    pid: proc.pid,
    proc,
    argv,
    exited,
    get stderr() {
      return stderr;
    },
    get stdout() {
      return stdout;
    },
    get exitInfo() {
      return exitInfo;
    },
    get running() {
      return exitInfo === null;
    },
    rss() {
      return rssBytes(proc.pid);
    },
    /** Sends `signal` and waits for the exit (SIGKILL after timeoutMs). Returns {code, signal, ms}. */
    async stop(signal = 'SIGTERM', timeoutMs = 15000) {
      stopRequested = true;
      const t0 = Date.now();
      if (exitInfo) return { ...exitInfo, ms: 0 };
      proc.kill(signal);
      let timer;
      const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs); });
      const res = await Promise.race([exited, timeout]);
      clearTimeout(timer); // a pending timer would keep node alive after the tests end
      if (res) return { ...res, ms: res.at - t0 };
      proc.kill('SIGKILL');
      const forced = await exited;
      return { ...forced, ms: Date.now() - t0, forced: true };
    },
    /** Sends a signal without waiting (e.g. SIGTERM to observe the drain); counts as a requested stop. */
    signal(sig) {
      stopRequested = true;
      if (!exitInfo) proc.kill(sig);
    },
    /** Immediate SIGKILL (used by teardown after a graceful attempt). */
    async kill() {
      stopRequested = true;
      if (!exitInfo) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
    /** Teardown: a crash or an unrequested exit fails the test; otherwise a graceful stop. */
    async teardown() {
      const diedOnItsOwn = exitInfo !== null && !stopRequested;
      if (diedOnItsOwn) {
        throw new Error(
          `server exited during the test (code ${exitInfo.code}, signal ${exitInfo.signal}); stderr tail:\n` +
            stderr.slice(-4000),
        );
      }
      if (exitInfo === null) {
        const res = await server.stop('SIGTERM', 4000);
        if (res.signal && CRASH_SIGNALS.has(res.signal)) {
          throw new Error(`server crashed on shutdown (${res.signal}); stderr tail:\n${stderr.slice(-4000)}`);
        }
        if (!res.forced && typeof res.code === 'number' && res.code !== 0) {
          throw new Error(`server exited with code ${res.code} on SIGTERM; stderr tail:\n${stderr.slice(-4000)}`);
        }
      } else if (exitInfo.signal && CRASH_SIGNALS.has(exitInfo.signal)) {
        throw new Error(`server crashed (${exitInfo.signal}); stderr tail:\n${stderr.slice(-4000)}`);
      }
    },
  };

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (exitInfo) {
      throw new Error(
        `server exited before it was healthy (code ${exitInfo.code}, signal ${exitInfo.signal}` +
          `${exitInfo.error ? `, ${exitInfo.error.message}` : ''}): ${argv.join(' ')}\n${stderr.slice(-4000)}`,
      );
    }
    try {
      const res = await request(`${server.url}/healthz`, { timeoutMs: 1000 });
      if (res.status === 200) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.kill();
      throw new Error(`server not healthy within ${startTimeoutMs} ms: ${argv.join(' ')}\n${stderr.slice(-4000)}`);
    }
    await sleep(30);
  }
}
