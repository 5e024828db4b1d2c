// TLS on its own port: ALPN chooses h2 or http/1.1 (curl --http2 / --http1.1, Node's http2 over
// TLS), the cleartext port keeps serving, and SIGHUP swaps in a new certificate for new
// connections. The certificate is made by the test with the openssl CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, freePort } from '../support/server.mjs';
import { curl, spawnCurl } from '../support/curl.mjs';
import { uniq, waitFor } from '../support/util.mjs';
import { connectH2, h2Request, h2Events, testCertificate } from '../support/h2.mjs';

let server;
let cert;
let tlsPort;
before(async () => {
  cert = testCertificate(null);
  tlsPort = await freePort();
  // The server reads these paths again on SIGHUP.
  copyFileSync(cert.cert, join(cert.dir, 'live-cert.pem'));
  copyFileSync(cert.key, join(cert.dir, 'live-key.pem'));
  server = await startServer(null, {
    args: ['--tls-listen', `127.0.0.1:${tlsPort}`, '--tls-cert-file', join(cert.dir, 'live-cert.pem'),
      '--tls-key-file', join(cert.dir, 'live-key.pem')],
  });
});
after(async () => {
  if (server) await server.teardown();
});

const tlsUrl = () => `https://127.0.0.1:${tlsPort}`;

function peerFingerprint(alpn) {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false, ALPNProtocols: alpn }, () => {
      const out = { fingerprint: sock.getPeerCertificate().fingerprint256, alpn: sock.alpnProtocol };
      sock.destroy();
      resolve(out);
    });
    sock.on('error', reject);
  });
}

test('ALPN: h2 when offered, http/1.1 otherwise, on the same port', async () => {
  assert.equal((await peerFingerprint(['h2', 'http/1.1'])).alpn, 'h2');
  assert.equal((await peerFingerprint(['http/1.1'])).alpn, 'http/1.1');
  const h2 = await curl(['-sk', '--http2', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `${tlsUrl()}/healthz`]);
  assert.equal(h2.stdout, '2 200');
  const h1 = await curl(['-sk', '--http1.1', '-i', `${tlsUrl()}/healthz`]);
  assert.match(h1.stdout, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok\n$/);
  const clear = await curl(['-s', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `${server.url}/healthz`]);
  assert.equal(clear.stdout, '1.1 200', 'the cleartext port still speaks HTTP/1.1');
});

test('SSE and publish over TLS: curl --http2, curl --http1.1 and Node http2 on one topic', async (t) => {
  const topic = uniq('tls');
  const viaH2 = spawnCurl(t, ['-skN', '--http2', '--max-time', '10', `${tlsUrl()}/v1/events?topic=${topic}`]);
  const viaH1 = spawnCurl(t, ['-skN', '--http1.1', '--max-time', '10', `${tlsUrl()}/v1/events?topic=${topic}`]);
  const h2 = await connectH2(t, tlsUrl());
  const node = h2Events(t, h2, `/v1/events?topic=${topic}`);
  await waitFor(() => viaH2.output().includes('retry:') && viaH1.output().includes('retry:') && node.raw.includes('retry:'), { what: 'preambles' });
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const r = await h2Request(h2, { method: 'POST', path: `/v1/topics/${topic}`, body: `secure ${i}` });
    assert.equal(r.status, 201);
    ids.push(r.json.id);
  }
  const expected = ids.map((id, i) => `id: ${id}\ndata: secure ${i}\n\n`).join('');
  await waitFor(() => viaH2.output().endsWith(expected) && viaH1.output().endsWith(expected), { what: 'three events on both curls' });
  await node.waitEvents(3);
  assert.deepEqual(node.events.map((e) => e.id), ids);
  // A big body crosses several TLS records and DATA frames intact.
  const big = 'b'.repeat(60000);
  const r = await curl(['-sk', '--http2', '--data-binary', '@-', `${tlsUrl()}/v1/topics/${topic}`], { input: big });
  assert.match(r.stdout, /"id":"\d+-4"/);
  const hist = await h2Request(h2, { path: `/v1/topics/${topic}/history?since=${ids[2]}` });
  assert.equal(hist.json.messages[0].data.length, 60000);
});

test('SIGHUP reloads the certificate for new connections; a bad file keeps the old one', async () => {
  const before = (await peerFingerprint(['h2'])).fingerprint;
  const fresh = testCertificate(null);
  copyFileSync(fresh.cert, join(cert.dir, 'live-cert.pem'));
  copyFileSync(fresh.key, join(cert.dir, 'live-key.pem'));
  server.signal('SIGHUP');
  let after;
  await waitFor(async () => {
    after = (await peerFingerprint(['h2'])).fingerprint;
    return after !== before;
  }, { what: 'the new certificate' });
  assert.notEqual(after, before);
  // The log line is written right after the swap, so a fast client can see the certificate first.
  await waitFor(() => /TLS certificate reloaded/.test(server.stderr + server.stdout), { what: 'the reload in the log' });
  // A key that does not match the certificate: the old pair stays.
  copyFileSync(cert.key, join(cert.dir, 'live-key.pem'));
  server.signal('SIGHUP');
  await waitFor(() => /keeping the old TLS certificate/.test(server.stderr + server.stdout), { what: 'the refusal in the log' });
  assert.equal((await peerFingerprint(['h2'])).fingerprint, after);
  const h2 = await curl(['-sk', '--http2', '-o', '/dev/null', '-w', '%{http_code}', `${tlsUrl()}/healthz`]);
  assert.equal(h2.stdout, '200');
});

test('tls_listen without a certificate refuses to start', async () => {
  await assert.rejects(startServer(null, { args: ['--tls-listen', `127.0.0.1:${await freePort()}`] }), /tls_cert_file/);
});
