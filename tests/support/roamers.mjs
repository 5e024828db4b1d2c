// Subscribers that hop between nodes and count what they receive id by id (the Ledger of
// cluster.mjs), shared by the scale-out suites (cluster.test.mjs, cluster-redis-cluster.test.mjs).
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { publish } from './http.mjs';
import { waitFor } from './util.mjs';

const enc = encodeURIComponent;

/** An SSE subscriber (npm eventsource) that reopens through `base` from its last id on hop(). */
export class SseRoamer {
  constructor(base, topic, ledger) {
    this.base = base;
    this.topic = topic;
    this.ledger = ledger;
    this.opens = 0;
  }
  open(since) {
    const from = this.ledger.last ?? since;
    const url = `${this.base}/v1/events?topic=${enc(this.topic)}${from ? `&since=${from}` : ''}`;
    this.opens += 1;
    const es = new EventSource(url);
    es.onmessage = (e) => this.es === es && this.ledger.saw(e.lastEventId);
    es.addEventListener('gap', () => this.es === es && this.ledger.gap());
    es.onerror = () => { this.errors = (this.errors ?? 0) + 1; };
    this.es = es;
    return new Promise((resolve) => {
      es.onopen = () => resolve();
      setTimeout(resolve, 3000);
    });
  }
  hop() {
    this.es.close();
    return this.open();
  }
  close() {
    this.es?.close();
  }
}

/** A WebSocket subscriber that reconnects through `base` and subscribes from its last id. */
export class WsRoamer {
  constructor(port, topic, ledger) {
    this.port = port;
    this.topic = topic;
    this.ledger = ledger;
  }
  open(since) {
    const from = this.ledger.last ?? since;
    return new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${this.port}/v1/ws`, ['switchboard.v1'], { perMessageDeflate: false });
      this.ws = ws;
      ws.on('message', (data) => {
        if (this.ws !== ws) return; // closed by hop(): what it still brings is not ours any more
        const m = JSON.parse(data.toString('utf8'));
        if (m.op === 'message' && m.topic === this.topic) this.ledger.saw(m.id);
        else if (m.op === 'gap') this.ledger.gap();
        else if (m.op === 'ack' && m.ref === 'sub') resolve();
      });
      ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', topic: this.topic, ref: 'sub', ...(from ? { since: from } : {}) })));
      ws.on('error', () => resolve());
      // A node killed under it: reconnect through the balancer, as a client library would.
      ws.on('close', () => {
        if (!this.closing && this.ws === ws) setTimeout(() => this.open(), 50);
      });
      setTimeout(resolve, 3000);
    });
  }
  hop() {
    const old = this.ws;
    this.ws = null;
    old.close();
    return this.open();
  }
  close() {
    this.closing = true;
    this.ws?.close();
  }
}

export async function publishAcked(base, topic, data, headers = {}) {
  const r = await publish(base, topic, data, { headers });
  if (r.status !== 201) return null;
  return r.body.id;
}

/** Waits until every ledger holds every acknowledged id (or the timeout), then checks them. */
export async function settle(ledgers, acked, opts = {}) {
  const want = new Set(acked);
  await waitFor(() => ledgers.every((l) => [...want].every((id) => l.ids.includes(id)) || (opts.allowGap && l.gaps > 0)), {
    timeoutMs: opts.timeoutMs ?? 10000,
    what: 'every subscriber to hold every acknowledged id',
  }).catch(() => {});
  for (const l of ledgers) l.check(acked, opts);
}
