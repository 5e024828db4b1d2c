// RSS per stored byte of history: one message of 64 KiB of data to each of N topics, RSS growth
// divided by the data stored. Usage (any extra arguments go to the server):
//   SWITCHBOARD_BIN=build/switchboard node scripts/measure-history-rss.mjs 3000 --history-max-memory-bytes 4000000000
//   LINES=1 ...   the same with a line break every 81 bytes (multi-line data)
import { startServer, sleep } from '../tests/support/server.mjs';
import { request, topicPath } from '../tests/support/http.mjs';

const n = Number(process.argv[2] || 3000);
const extra = process.argv.slice(3);
const server = await startServer(null, { args: ['--threads', '2', ...extra] });
await sleep(300);
const before = server.rss();
const data = Buffer.alloc(65536);
for (let i = 0; i < data.length; i++) data[i] = 97 + ((i * 7919) % 26);
if (process.env.LINES) for (let i = 80; i < data.length; i += 81) data[i] = 10;
let next = 0;
async function worker() {
  while (next < n) {
    const i = next++;
    const r = await request(`${server.url}${topicPath(`rss/t${i}`)}`, { method: 'POST', body: data });
    if (r.status !== 201) throw new Error(`publish ${i}: ${r.status} ${r.text}`);
  }
}
try {
  await Promise.all(Array.from({ length: 8 }, worker));
  await sleep(500);
  const after = server.rss();
  const stored = n * data.length;
  console.log(
    JSON.stringify({
      topics: n,
      stored_mib: stored / 2 ** 20,
      rss_before_mib: before / 2 ** 20,
      rss_after_mib: after / 2 ** 20,
      rss_per_stored_byte: Number(((after - before) / stored).toFixed(3)),
    }),
  );
} finally {
  await server.kill();
}
