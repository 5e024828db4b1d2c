// Switchboard browser client (ES module, no dependencies).
// listen(): Server-Sent Events over the browser's own EventSource, which reconnects by itself and
// resumes with Last-Event-ID; the server replays exactly what was missed or sends a `gap` event.

/**
 * Listens to one or more topics over SSE.
 * @param {string|string[]} topics
 * @param {{onMessage?: (msg: {topic?: string, id: string, event: string, data: string}) => void,
 *          onGap?: (topics: string[]) => void, onStatus?: (status: string) => void,
 *          since?: string, token?: string, ticket?: string, base?: string}} options
 * @returns {{close: () => void, source: EventSource}}
 */
export function listen(topics, options = {}) {
  const list = Array.isArray(topics) ? topics : [topics];
  const url = new URL((options.base || "") + "/v1/events", location.href);
  for (const t of list) url.searchParams.append("topic", t);
  if (options.since) url.searchParams.set("since", options.since);
  if (options.token) url.searchParams.set("access_token", options.token);
  if (options.ticket) url.searchParams.set("ticket", options.ticket);
  const source = new EventSource(url, { withCredentials: false });
  const status = (s) => options.onStatus && options.onStatus(s);
  let opened = false;
  source.onopen = () => { status(opened ? "resumed" : "live"); opened = true; };
  source.onerror = () => status(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  const deliver = (e) => options.onMessage && options.onMessage({ topic: list.length === 1 ? list[0] : undefined,
    id: e.lastEventId, event: e.type, data: e.data });
  source.onmessage = deliver;
  for (const type of options.events || []) source.addEventListener(type, deliver);
  source.addEventListener("gap", (e) => {
    status("gap");
    if (options.onGap) options.onGap(JSON.parse(e.data).topics);
  });
  return { close: () => source.close(), source };
}

/** Publishes one message over HTTP; resolves to {topic, id}. */
export async function publish(topic, data, { event, retain, token, base = "" } = {}) {
  const url = new URL(base + "/v1/topics/" + topic, location.href);
  if (event) url.searchParams.set("event", event);
  if (retain) url.searchParams.set("retain", "1");
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const res = await fetch(url, { method: "POST", body: data, headers });
  if (!res.ok) throw new Error("publish failed: " + res.status + " " + (await res.text()));
  return res.json();
}
