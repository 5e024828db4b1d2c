// Type declarations for the Switchboard browser client (client.js, served at /client.js).

/** Connection states reported to `onStatus`. */
export type Status = "connecting" | "live" | "reconnecting" | "resumed" | "gap" | "closed";

/** A token or ticket, or a function returning one (called for every new connection). */
export type Credential = string | (() => string | Promise<string>);

/** Full-jitter exponential backoff: a random delay in [0, min(cap, base * 2^attempt)) ms. */
export function backoffDelay(attempt: number, base?: number, cap?: number): number;

// ---------------------------------------------------------------------------------------------
// SSE

export interface SseMessage {
  /** Set only when one topic is listened to: multi-topic SSE events do not name their topic. */
  topic: string | undefined;
  /** The stream position (`<epoch>-<seq>` for one topic, an opaque cursor for several). Opaque. */
  id: string;
  /** The event type: "message" when the publisher gave none. */
  event: string;
  data: string;
}

export interface ListenOptions {
  onMessage?: (msg: SseMessage) => void;
  /** The server could not replay these topics (history trimmed, or lost in a restart). */
  onGap?: (topics: string[]) => void;
  onStatus?: (status: Status) => void;
  /** Resume from this id (`?since=`); the browser's own reconnects use Last-Event-ID. */
  since?: string;
  /** JWT sent as `?access_token=` (EventSource cannot set headers). */
  token?: Credential;
  /** Single-use subscribe ticket from POST /v1/tickets; pass a function to get a fresh one per connection. */
  ticket?: Credential;
  /** Event types delivered to onMessage besides "message" (e.g. ["token", "done"]). */
  events?: string[];
  /** Server origin (default: the page's). */
  base?: string;
  withCredentials?: boolean;
  /** Backoff for re-creating an EventSource the browser gave up on (default 500 ms .. 15 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface Listener {
  close(): void;
  readonly source: EventSource | null;
  /** The last id a message carried (used as `since` if the EventSource must be re-created). */
  readonly lastId: string | null;
  readonly status: Status | undefined;
}

/** Listens to one or more topics over one EventSource (GET /v1/events). */
export function listen(topics: string | string[], options?: ListenOptions): Listener;

export interface HttpPublishOptions {
  event?: string;
  retain?: boolean;
  /** API key or JWT, sent as `Authorization: Bearer`. */
  token?: Credential;
  base?: string;
}

/** Publishes over HTTP POST /v1/topics/{topic}; resolves once the message is in history. */
export function publish(
  topic: string,
  data: unknown,
  options?: HttpPublishOptions,
): Promise<{ topic: string; id: string }>;

// ---------------------------------------------------------------------------------------------
// WebSocket (switchboard.v1)

export interface WsMessage {
  topic: string;
  /** `<epoch>-<seq>`; null for volatile messages (not in history). */
  id: string | null;
  event: string | null;
  data: string;
  /** The publisher's identity (e.g. "c12"), the same id as its presence member; null for anonymous HTTP. */
  from: string | null;
}

export interface PresenceDiff<S = unknown> {
  joins: { id: string; state: S }[];
  leaves: string[];
}

export type Members<S = unknown> = Map<string, S>;

export interface ConnectOptions {
  /** WebSocket URL (default: ws(s)://<page host>/v1/ws). */
  url?: string;
  /** Server origin, used when `url` is not given. */
  base?: string;
  /** JWT sent as `?access_token=`; a function is called for every (re)connection. */
  token?: Credential;
  onStatus?: (status: Status) => void;
  onGap?: (topics: string[]) => void;
  /** Every message of every subscribed topic (besides the per-subscription handlers). */
  onMessage?: (msg: WsMessage) => void;
  onPresence?: (topic: string, members: Members, diff: PresenceDiff) => void;
  /** Errors the server sent without a ref, and refused subscribe/join ops. */
  onError?: (error: SwitchboardError, topic?: string) => void;
  onClose?: (code: number | undefined, reason: string | undefined) => void;
  /** Reconnect backoff (full jitter): base and cap in ms (defaults 500 and 15000). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Client ping interval; a connection that hears nothing for a whole interval is dropped (default 20000, 0 = off). */
  pingIntervalMs?: number;
  /** Default rate of cursor() senders (default 30, the server's volatile_hz). */
  volatileHz?: number;
  /** WebSocket implementation (default: globalThis.WebSocket). */
  WebSocket?: typeof WebSocket;
}

/** An op refused by the server, or a connection lost before the answer. */
export class SwitchboardError extends Error {
  constructor(code: string, message?: string);
  /** The server's error code (e.g. "forbidden", "not_joined", "invalid_topic"), or "disconnected" / "closed" / "left". */
  code: string;
}

export interface Subscription {
  /** Settles with the server's ack of the (first) subscribe. */
  ready: Promise<void>;
  readonly lastId: string | null;
  unsubscribe(): void;
}

/** A throttled sender of volatile messages: latest value wins, trailing send. */
export interface CursorSender<T = unknown> {
  (data: T): void;
  cancel(): void;
}

export interface Client {
  readonly status: Status | undefined;
  readonly connected: boolean;
  /** Subscribes (resumed with `since` = last id seen after every reconnect). */
  subscribe(topic: string, onMessage?: (msg: WsMessage) => void, options?: { since?: string }): Subscription;
  unsubscribe(topic: string, onMessage?: (msg: WsMessage) => void): void;
  /**
   * Publishes; resolves with the ack ({id} for stored messages). Made while offline, a stored
   * publish waits for the connection; one sent on a connection that drops before the ack is
   * rejected with code "disconnected" (it may or may not have been stored).
   */
  publish(topic: string, data: unknown, options?: { event?: string; volatile?: boolean }): Promise<{ id?: string }>;
  /** A sender of volatile messages throttled to `hz` per second (default volatileHz). */
  cursor<T = unknown>(topic: string, options?: { hz?: number; event?: string }): CursorSender<T>;
  /** Joins presence with `state` (re-joined with the latest state after every reconnect). */
  join<S = unknown>(
    topic: string,
    state?: S,
    options?: { onChange?: (members: Members<S>, diff: PresenceDiff<S>) => void },
  ): Promise<void>;
  update<S = unknown>(topic: string, state: S): Promise<void>;
  leave(topic: string): Promise<void>;
  /** id -> state, from the snapshot on join plus diffs (joins add or replace, leaves remove). */
  members<S = unknown>(topic: string): Members<S>;
  /** Member count as the server reports it (the snapshot lists the first 100). */
  memberCount(topic: string): number;
  ping(): Promise<void>;
  /** Drops the connection and reconnects, as a network blip would. */
  reconnect(): void;
  close(): void;
}

/** Opens a switchboard.v1 WebSocket that reconnects, resumes and re-joins by itself. */
export function connect(options?: ConnectOptions): Client;
