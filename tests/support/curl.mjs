// curl through child_process, for the places where curl is the natural client (a shell user
// streaming a file or a pipe into the server, or watching a stream with `curl -N`).
import { spawn } from 'node:child_process';

/**
 * Runs curl with `args` and resolves { code, signal, stdout, stderr } when it exits.
 * `input` (string/Buffer) is written to its stdin; it is killed (SIGKILL) after timeoutMs.
 */
export function curl(args, { input, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (s) => (stdout += s));
    proc.stderr.on('data', (s) => (stderr += s));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (input !== undefined) proc.stdin.end(input);
    else proc.stdin.end();
  });
}

/**
 * Starts curl and leaves it running: returns { proc, stdin, output() (stdout so far), stderr(),
 * done (promise of {code, signal}), kill() }. `t.after` (if given) kills it by its own handle.
 */
export function spawnCurl(t, args) {
  const proc = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (s) => (stdout += s));
  proc.stderr.on('data', (s) => (stderr += s));
  proc.stdin.on('error', () => {}); // curl may exit before we finish writing
  const done = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  const handle = {
    proc,
    stdin: proc.stdin,
    output: () => stdout,
    stderr: () => stderr,
    done,
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
  if (t && typeof t.after === 'function') t.after(() => handle.kill());
  return handle;
}
