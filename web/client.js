// Switchboard browser client (ES module, no dependencies). Types: client.d.ts beside this file.
//
//   listen(topics, options)        Server-Sent Events over the browser's own EventSource, which
//                                  reconnects by itself and resumes with Last-Event-ID: the server
//                                  replays exactly what was missed, or says `gap` when it cannot.
//   publish(topic, data, options)  One message over HTTP POST (a backend's way; dev mode allows it
//                                  from a page).
//   connect(options)               The WebSocket protocol switchboard.v1: subscribe, publish with an
//                                  ack, presence and throttled volatile "cursor" messages, with
//                                  automatic reconnect that resumes every topic where it stopped.
//
// Statuses reported to onStatus: "connecting", "live" (first connection up), "reconnecting",
// "resumed" (up again after a drop, resuming from the last id seen), "gap" (the server could not
// replay everything: history was trimmed or lost, e.g. after a restart), "closed" (by close()).

const SUBPROTOCOL = "switchboard.v1";

/** Full-jitter exponential backoff: a random delay in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt, base = 500, cap = 15000) {
  return Math.random() * Math.min(cap, base * 2 ** Math.min(attempt, 16));
}

// A token or ticket may be a string or a function that returns one (or a promise of one), called
// for every new connection: single-use tickets and short-lived tokens stay fresh across reconnects.
async function credential(value) {
  return typeof value === "function" ? await value() : value;
}

function httpBase(base) {
  return new URL(base || "/", globalThis.location ? location.href : undefined);
}

function reporter(callback) {
  let last;
  const report = (status) => {
    if (status === last) return;
    last = status;
    if (callback) callback(status);
  };
  report.current = () => last;
  return report;
}

/**
 * Listens to one or more topics over SSE (GET /v1/events). One EventSource carries all the topics
 * given: browsers open at most 6 HTTP/1.1 connections per host, so a page should listen once.
 * In a multi-topic stream the SSE events do not name their topic: tell messages apart by event type
 * (`msg.topic` is set only when one topic is listened to).
 */
export function listen(topics, options = {}) {
  const list = Array.isArray(topics) ? [...topics] : [topics];
  if (list.length === 0) throw new TypeError("listen: at least one topic");
  const status = reporter(options.onStatus);
  const types = new Set(["message", ...(options.events || [])]);
  types.delete("gap");
  let source = null;
  let lastId = options.since || null; // last id the stream gave with a message (for a re-create)
  let opened = false;
  let closed = false;
  let attempt = 0;
  let timer = null;

  const deliver = (e) => {
    if (e.lastEventId) lastId = e.lastEventId;
    if (options.onMessage) {
      options.onMessage({ topic: list.length === 1 ? list[0] : undefined, id: e.lastEventId, event: e.type, data: e.data });
    }
  };
  const onGap = (e) => {
    let lost = list;
    try {
      lost = JSON.parse(e.data).topics;
    } catch {
      // keep every topic
    }
    status("gap");
    if (options.onGap) options.onGap(lost);
  };

  async function open() {
    timer = null;
    const url = new URL("v1/events", httpBase(options.base));
    for (const t of list) url.searchParams.append("topic", t);
    if (lastId) url.searchParams.set("since", lastId);
    const token = await credential(options.token);
    const ticket = await credential(options.ticket);
    if (closed) return;
    if (token) url.searchParams.set("access_token", token);
    if (ticket) url.searchParams.set("ticket", ticket);
    const es = new EventSource(url, { withCredentials: !!options.withCredentials });
    source = es;
    es.onopen = () => {
      attempt = 0;
      status(opened || lastId ? "resumed" : "live");
      opened = true;
    };
    es.onerror = () => {
      if (closed || source !== es) return;
      status("reconnecting");
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error such as 401 for a used ticket, 429, 503): start a new
        // EventSource after a jittered backoff, resuming with ?since= from the last id seen.
        es.close();
        timer = setTimeout(() => open().catch(retryLater), backoffDelay(attempt++, options.retryBaseMs, options.retryMaxMs));
      }
    };
    for (const type of types) es.addEventListener(type, deliver);
    es.addEventListener("gap", onGap);
  }
  const retryLater = () => {
    if (!closed) timer = setTimeout(() => open().catch(retryLater), backoffDelay(attempt++, options.retryBaseMs, options.retryMaxMs));
  };

  status("connecting");
  open().catch(retryLater);
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (source) source.close();
      status("closed");
    },
    get source() {
      return source;
    },
    get lastId() {
      return lastId;
    },
    get status() {
      return status.current();
    },
  };
}

/**
 * Publishes one message over HTTP (POST /v1/topics/{topic}); resolves to {topic, id} once the
 * message is in history. Data that is not a string is sent as JSON.
 */
export async function publish(topic, data, { event, retain, token, base } = {}) {
  const url = new URL("v1/topics/" + topic, httpBase(base));
  if (event) url.searchParams.set("event", event);
  if (retain) url.searchParams.set("retain", "1");
  const headers = { "Content-Type": "text/plain; charset=utf-8" };
  const bearer = await credential(token);
  if (bearer) headers.Authorization = "Bearer " + bearer;
  const body = typeof data === "string" ? data : JSON.stringify(data);
  const res = await fetch(url, { method: "POST", body, headers });
  if (!res.ok) {
    let detail = "";
    try {
      detail = (await res.json()).message || "";
    } catch {
      // no JSON body
    }
    const err = new Error(`publish to ${topic} failed: ${res.status}${detail ? " " + detail : ""}`);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

/** An error the server answered an op with (`code` as in the protocol), or a lost/closed connection. */
export class SwitchboardError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = "SwitchboardError";
    this.code = code;
  }
}

function wsUrl(options) {
  if (options.url) {
    const u = new URL(options.url, globalThis.location ? location.href : undefined);
    if (u.protocol === "http:") u.protocol = "ws:";
    if (u.protocol === "https:") u.protocol = "wss:";
    if (u.pathname === "/" || u.pathname === "") u.pathname = "/v1/ws";
    return u;
  }
  const u = new URL("v1/ws", httpBase(options.base));
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u;
}

/**
 * Opens a switchboard.v1 WebSocket (GET /v1/ws) that reconnects by itself (exponential backoff
 * with full jitter), resubscribes every topic with `since` = the last id it saw on that topic (so
 * nothing is missed while the history holds it; otherwise a `gap`), and re-joins presence.
 */
export function connect(options = {}) {
  const WS = options.WebSocket || globalThis.WebSocket;
  const retryBase = options.retryBaseMs ?? 500;
  const retryMax = options.retryMaxMs ?? 15000;
  const pingInterval = options.pingIntervalMs ?? 20000;
  const volatileHz = options.volatileHz ?? 30;
  const status = reporter(options.onStatus);

  let ws = null;
  let isOpen = false;
  let everOpened = false;
  let closedByUser = false;
  let attempt = 0;
  let reconnectTimer = null;
  let pingTimer = null;
  let heard = true;
  let nextRef = 1;
  let openedAt = 0;

  const topics = new Map(); // topic -> {handlers:Set, lastId, since, waiters:[]}
  const presence = new Map(); // topic -> {state, joined, members:Map, count, listeners:Set, waiters:[]}
  // ref -> {resolve, reject, kind}; kind says what a lost connection does to it: "publish" and
  // "ping" are rejected, "done" resolved, "state" (subscribe, join) sent again on the next one.
  const pending = new Map();
  const outbox = []; // stored publishes made while offline: [{frame, ref}]
  const cursors = new Set(); // cursor senders holding a value to send once open

  function send(obj) {
    ws.send(JSON.stringify(obj));
  }

  function request(obj, kind) {
    const ref = nextRef++;
    return new Promise((resolve, reject) => {
      pending.set(ref, { resolve, reject, kind });
      send({ ...obj, ref });
    });
  }

  function settleWaiters(list, err) {
    for (const w of list.splice(0)) err ? w.reject(err) : w.resolve();
  }

  // Sends the current intent for a topic and settles its waiters with the server's answer.
  function syncTopic(topic) {
    const t = topics.get(topic);
    if (!t || !isOpen) return;
    const since = t.lastId || t.since || undefined;
    request({ op: "subscribe", topic, ...(since ? { since } : {}) }, "state").then(
      () => settleWaiters(t.waiters),
      (err) => {
        settleWaiters(t.waiters, err);
        report(err, topic);
      },
    );
  }

  function syncPresence(topic) {
    const p = presence.get(topic);
    if (!p || !isOpen) return;
    request({ op: "presence.join", topic, state: p.state }, "state").then(
      () => {
        p.joined = true;
        settleWaiters(p.waiters);
      },
      (err) => {
        presence.delete(topic); // refused (e.g. forbidden): do not ask again on every reconnect
        settleWaiters(p.waiters, err);
        report(err, topic);
      },
    );
  }

  function report(err, topic) {
    if (options.onError) options.onError(err, topic);
  }

  function dial() {
    reconnectTimer = null;
    credential(options.token)
      .then((token) => {
        if (closedByUser) return;
        const url = wsUrl(options);
        if (token) url.searchParams.set("access_token", token);
        const sock = new WS(url, SUBPROTOCOL);
        ws = sock;
        sock.onopen = () => onOpen(sock);
        sock.onmessage = (e) => onFrame(e.data);
        sock.onclose = (e) => onClose(sock, e);
        sock.onerror = () => {}; // onclose follows with the details
      })
      .catch((err) => {
        report(err);
        scheduleReconnect();
      });
  }

  function onOpen(sock) {
    if (sock !== ws) return;
    isOpen = true;
    openedAt = performance.now();
    heard = true;
    status(everOpened ? "resumed" : "live");
    everOpened = true;
    for (const topic of topics.keys()) syncTopic(topic);
    for (const topic of presence.keys()) syncPresence(topic);
    for (const c of [...cursors]) c.flush();
    for (const item of outbox.splice(0)) {
      pending.set(item.ref, item.entry);
      send(item.frame);
    }
    clearInterval(pingTimer);
    if (pingInterval > 0) {
      pingTimer = setInterval(() => {
        if (!isOpen) return;
        if (!heard) {
          // Nothing arrived for a whole interval, not even our pong: the link is dead.
          ws.close(4000, "no answer to ping");
          onClose(ws, { code: 4000 });
          return;
        }
        heard = false;
        send({ op: "ping" });
      }, pingInterval);
    }
  }

  function onClose(sock, e) {
    if (sock !== ws) return;
    const wasOpen = isOpen;
    isOpen = false;
    ws = null;
    clearInterval(pingTimer);
    // Stored publishes sent on this connection may or may not have been stored: say so. State ops
    // (subscribe, join) are sent again on the next connection, which settles their waiters.
    for (const [ref, p] of pending) {
      if (p.kind === "publish" || p.kind === "ping") {
        p.reject(new SwitchboardError("disconnected", "connection closed before the ack"));
      } else if (p.kind === "done") {
        p.resolve({}); // leave, unsubscribe, update: a closed connection has done it or carries it over
      }
      pending.delete(ref);
    }
    for (const p of presence.values()) p.joined = false;
    if (closedByUser) return;
    if (wasOpen && performance.now() - openedAt > 5000) attempt = 0; // it was a working connection
    if (options.onClose) options.onClose(e && e.code, e && e.reason);
    status("reconnecting");
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (closedByUser || reconnectTimer) return;
    reconnectTimer = setTimeout(dial, backoffDelay(attempt++, retryBase, retryMax));
  }

  const onOnline = () => {
    // The network is back: do not sit out the rest of a long backoff.
    if (reconnectTimer && !closedByUser) {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      attempt = 0;
      dial();
    }
  };
  if (globalThis.addEventListener) globalThis.addEventListener("online", onOnline);

  function onFrame(text) {
    heard = true;
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    switch (m.op) {
      case "message": {
        const t = topics.get(m.topic);
        if (t && m.id) t.lastId = m.id;
        const msg = { topic: m.topic, id: m.id, event: m.event, data: m.data, from: m.from };
        if (t) for (const h of t.handlers) h(msg);
        if (options.onMessage) options.onMessage(msg);
        break;
      }
      case "presence":
        onPresence(m);
        break;
      case "gap":
        status("gap");
        if (options.onGap) options.onGap(m.topics || []);
        break;
      case "ack":
      case "pong": {
        const p = pending.get(m.ref);
        if (p) {
          pending.delete(m.ref);
          p.resolve(m.id ? { id: m.id } : {});
        }
        break;
      }
      case "error": {
        const err = new SwitchboardError(m.code, m.message);
        const p = m.ref != null ? pending.get(m.ref) : undefined;
        if (p) {
          pending.delete(m.ref);
          p.reject(err);
        } else {
          report(err);
        }
        break;
      }
    }
  }

  function onPresence(m) {
    const p = presence.get(m.topic);
    if (!p) return;
    const diff = { joins: [], leaves: [] };
    if (Array.isArray(m.members)) {
      // A snapshot (on join, and again after every reconnect) replaces what we had.
      const before = p.members;
      p.members = new Map(m.members.map((x) => [x.id, x.state]));
      for (const [id, state] of p.members) diff.joins.push({ id, state });
      for (const id of before.keys()) if (!p.members.has(id)) diff.leaves.push(id);
      p.count = typeof m.count === "number" ? m.count : p.members.size;
    } else {
      for (const id of m.leaves || []) {
        if (p.members.delete(id)) p.count = Math.max(0, p.count - 1);
        diff.leaves.push(id);
      }
      for (const x of m.joins || []) {
        if (!p.members.has(x.id)) p.count += 1;
        p.members.set(x.id, x.state); // joins are add-or-replace: a state change is a join
        diff.joins.push(x);
      }
    }
    for (const fn of p.listeners) fn(p.members, diff);
    if (options.onPresence) options.onPresence(m.topic, p.members, diff);
  }

  function makeCursor(topic, opts = {}) {
    const period = 1000 / (opts.hz || volatileHz);
    let value;
    let has = false;
    let last = -Infinity;
    let timer = null;
    const c = {
      flush() {
        clearTimeout(timer);
        timer = null;
        if (!has) return;
        if (!isOpen) {
          cursors.add(c); // the latest value goes out once connected
          return;
        }
        cursors.delete(c);
        has = false;
        last = performance.now();
        send({ op: "publish", topic, data: value, volatile: true, ...(opts.event ? { event: opts.event } : {}) });
      },
    };
    const move = (data) => {
      value = data; // latest wins
      has = true;
      if (timer) return; // a trailing send is already due
      const wait = last + period - performance.now();
      if (wait <= 0) c.flush();
      else timer = setTimeout(c.flush, wait);
    };
    move.cancel = () => {
      clearTimeout(timer);
      timer = null;
      has = false;
      cursors.delete(c);
    };
    return move;
  }

  const client = {
    get status() {
      return status.current();
    },
    get connected() {
      return isOpen;
    },

    subscribe(topic, onMessage, opts = {}) {
      let t = topics.get(topic);
      const ready = new Promise((resolve, reject) => {
        if (!t) {
          t = { handlers: new Set(), lastId: null, since: opts.since || null, waiters: [] };
          topics.set(topic, t);
          t.waiters.push({ resolve, reject });
          syncTopic(topic);
        } else {
          resolve();
        }
      });
      if (onMessage) t.handlers.add(onMessage);
      ready.catch(() => {}); // reported through onError too; awaiting `ready` is optional
      return {
        ready,
        get lastId() {
          return t.lastId;
        },
        unsubscribe: () => client.unsubscribe(topic, onMessage),
      };
    },

    unsubscribe(topic, onMessage) {
      const t = topics.get(topic);
      if (!t) return;
      if (onMessage) t.handlers.delete(onMessage);
      if (onMessage && t.handlers.size > 0) return;
      topics.delete(topic);
      if (isOpen) request({ op: "unsubscribe", topic }, "done").catch(() => {});
    },

    publish(topic, data, opts = {}) {
      const frame = { op: "publish", topic, data };
      if (opts.event) frame.event = opts.event;
      if (opts.volatile) frame.volatile = true;
      if (isOpen) return request(frame, "publish");
      if (opts.volatile) return Promise.resolve({}); // volatile: not worth keeping while offline
      return new Promise((resolve, reject) => {
        const ref = nextRef++;
        outbox.push({ ref, frame: { ...frame, ref }, entry: { resolve, reject, kind: "publish" } });
      });
    },

    cursor: makeCursor,

    join(topic, state = null, opts = {}) {
      let p = presence.get(topic);
      if (!p) {
        p = { state, joined: false, members: new Map(), count: 0, listeners: new Set(), waiters: [] };
        presence.set(topic, p);
      }
      p.state = state;
      if (opts.onChange) p.listeners.add(opts.onChange);
      return new Promise((resolve, reject) => {
        p.waiters.push({ resolve, reject });
        syncPresence(topic);
      });
    },

    update(topic, state) {
      const p = presence.get(topic);
      if (!p) return Promise.reject(new SwitchboardError("not_joined", "join the topic's presence first"));
      p.state = state; // also what a re-join after a reconnect announces
      if (!isOpen) {
        return new Promise((resolve, reject) => p.waiters.push({ resolve, reject })); // the re-join carries it
      }
      return request({ op: "presence.update", topic, state }, "done").then(() => {});
    },

    leave(topic) {
      const p = presence.get(topic);
      presence.delete(topic);
      if (p) settleWaiters(p.waiters, new SwitchboardError("left", "left before the join completed"));
      if (!p || !isOpen) return Promise.resolve(); // a closed connection is no longer present
      return request({ op: "presence.leave", topic }, "done").then(() => {});
    },

    /** The members of a joined topic (id -> state), kept from the snapshot and the diffs. */
    members(topic) {
      const p = presence.get(topic);
      return p ? p.members : new Map();
    },

    /** Member count (may exceed members(topic).size: the snapshot holds the first 100). */
    memberCount(topic) {
      const p = presence.get(topic);
      return p ? p.count : 0;
    },

    ping() {
      if (!isOpen) return Promise.reject(new SwitchboardError("disconnected", "not connected"));
      return request({ op: "ping" }, "ping").then(() => {});
    },

    /** Drops the connection now and reconnects (as a network blip would); mostly for tests. */
    reconnect() {
      if (ws && !closedByUser) {
        const sock = ws;
        sock.close(4001, "reconnect");
        onClose(sock, { code: 4001 });
      }
    },

    close() {
      closedByUser = true;
      clearTimeout(reconnectTimer);
      clearInterval(pingTimer);
      if (globalThis.removeEventListener) globalThis.removeEventListener("online", onOnline);
      const sock = ws;
      if (sock) {
        onClose(sock, { code: 1000 });
        sock.close(1000, "bye");
      }
      for (const item of outbox.splice(0)) item.entry.reject(new SwitchboardError("closed", "client closed"));
      for (const t of topics.values()) settleWaiters(t.waiters, new SwitchboardError("closed", "client closed"));
      for (const p of presence.values()) settleWaiters(p.waiters, new SwitchboardError("closed", "client closed"));
      status("closed");
    },
  };

  status("connecting");
  dial();
  return client;
}
