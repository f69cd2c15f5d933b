// The session's event stream: an EventSource (it sends the login cookie and
// reconnects by itself with Last-Event-ID when a stream ends or the network
// drops) plus what EventSource does not do:
// - when the browser gives up (an HTTP error such as 401, 502 or 503: the
//   EventSource goes to CLOSED), reconnect with backoff from the last id
//   (?after=<id>), after checking that the login is still valid;
// - a watchdog: the server pings every SSE_PING_INTERVAL (15 s); a stream
//   silent for much longer is dead (a proxy or a sleeping laptop) and is
//   replaced;
// - reconnect at once when the browser comes back online.
// Everything time- or network-related is injected, so the logic is tested
// without a browser.

export type ConnState = 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed';

export interface EventSourceLike {
  readonly readyState: number; // 0 connecting, 1 open, 2 closed
  onopen: ((ev: Event) => void) | null;
  onerror: ((ev: Event) => void) | null;
  addEventListener(type: string, fn: (ev: MessageEvent) => void): void;
  close(): void;
}

export interface StreamDeps {
  makeSource: (url: string) => EventSourceLike;
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (h: unknown) => void;
  now: () => number;
  random: () => number;
}

export interface StreamOptions {
  /** The URL for a connection that starts after `after` (null: the server's default start). */
  url: (after: string | null) => string;
  onEvent: (type: string, id: string | null, data: unknown) => void;
  onState: (state: ConnState, detail?: { retryInMs?: number; attempt?: number }) => void;
  /**
   * Called before reconnecting after a hard failure: 'unauthorized' (the
   * login expired) and 'gone' (the session was deleted) stop the stream.
   */
  checkAuth: () => Promise<'ok' | 'unauthorized' | 'gone' | 'error'>;
  onUnauthorized: () => void;
  onGone?: () => void;
  /** Milliseconds of silence after which the stream is considered dead. */
  idleTimeoutMs?: number;
  deps?: Partial<StreamDeps>;
}

/** Every event type of docs/api.md and docs/scheduler.md; EventSource needs a listener per named event. */
export const EVENT_TYPES = [
  'snapshot', 'ping', 'run.queued', 'run.queue_position', 'run.started', 'run.parked', 'run.continued',
  'message.start', 'text.delta', 'thinking.delta', 'tool.use', 'permission.request', 'permission.resolved',
  'tool.result', 'file.changed', 'message.stop', 'usage', 'run.retrying', 'run.resumed', 'compacted',
  'run.finished', 'run.error', 'run.cancelled',
  'todos.updated',
  'session.updated',
];

export const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

/** Delay before reconnect attempt n (0-based): the schedule above, ±20 % jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
  return Math.round(base * (0.8 + 0.4 * random()));
}

export class EventStream {
  private o: StreamOptions;
  private d: StreamDeps;
  private es: EventSourceLike | null = null;
  private lastId: string | null;
  private attempt = 0;
  private retryTimer: unknown = null;
  private idleTimer: unknown = null;
  private stopped = false;
  private state: ConnState = 'closed';
  /** The id this connection resumed from (null: a fresh start). */
  resumedFrom: string | null = null;

  constructor(opts: StreamOptions, lastId: string | null = null) {
    this.o = opts;
    this.lastId = lastId;
    const g = globalThis as unknown as { EventSource: new (u: string, i?: EventSourceInit) => EventSourceLike };
    this.d = {
      makeSource: (url) => new g.EventSource(url, { withCredentials: true }),
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      now: () => Date.now(),
      random: Math.random,
      ...(opts.deps || {}),
    };
  }

  get lastEventId(): string | null {
    return this.lastId;
  }

  get connState(): ConnState {
    return this.state;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    if (this.es) {
      this.es.close();
      this.es = null;
    }
    this.setState('closed');
  }

  /** Drop the current connection and open a new one now (e.g. the browser came back online). */
  reconnectNow(): void {
    if (this.stopped) return;
    this.attempt = 0;
    this.open();
  }

  private setState(s: ConnState, detail?: { retryInMs?: number; attempt?: number }) {
    this.state = s;
    this.o.onState(s, detail);
  }

  private clearTimers() {
    if (this.retryTimer !== null) this.d.clearTimeout(this.retryTimer);
    if (this.idleTimer !== null) this.d.clearTimeout(this.idleTimer);
    this.retryTimer = this.idleTimer = null;
  }

  private armIdle() {
    if (this.idleTimer !== null) this.d.clearTimeout(this.idleTimer);
    this.idleTimer = this.d.setTimeout(() => {
      this.idleTimer = null;
      if (this.stopped) return;
      // Silent for too long: treat it as a dropped connection.
      this.open();
    }, this.o.idleTimeoutMs ?? 45_000);
  }

  private open() {
    this.clearTimers();
    if (this.es) {
      this.es.close();
      this.es = null;
    }
    this.setState(this.attempt === 0 && this.lastId === null ? 'connecting' : 'reconnecting');
    this.resumedFrom = this.lastId;
    const es = this.d.makeSource(this.o.url(this.lastId));
    this.es = es;
    this.armIdle();
    es.onopen = () => {
      if (this.es !== es) return;
      this.attempt = 0;
      this.setState('open');
      this.armIdle();
    };
    es.onerror = () => {
      if (this.es !== es || this.stopped) return;
      if (es.readyState === 0) {
        // The browser reconnects by itself (with Last-Event-ID).
        this.resumedFrom = this.lastId;
        this.setState('reconnecting');
        return;
      }
      // CLOSED: the browser gave up (an HTTP error); we take over.
      es.close();
      this.es = null;
      this.scheduleRetry();
    };
    for (const t of EVENT_TYPES) {
      es.addEventListener(t, (ev: MessageEvent) => {
        if (this.es !== es) return;
        this.armIdle();
        if (this.state !== 'open') {
          this.attempt = 0;
          this.setState('open');
        }
        const id = ev.lastEventId && t !== 'snapshot' && t !== 'ping' ? ev.lastEventId : null;
        if (id) this.lastId = id;
        let data: unknown = null;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return; // not JSON: ignore (never half-apply)
        }
        this.o.onEvent(t, id, data);
      });
    }
  }

  private scheduleRetry() {
    this.clearTimers();
    const delay = backoffDelay(this.attempt, this.d.random);
    const attempt = ++this.attempt;
    this.setState('offline', { retryInMs: delay, attempt });
    this.retryTimer = this.d.setTimeout(async () => {
      this.retryTimer = null;
      if (this.stopped) return;
      let auth: 'ok' | 'unauthorized' | 'gone' | 'error' = 'error';
      try {
        auth = await this.o.checkAuth();
      } catch {
        auth = 'error';
      }
      if (this.stopped) return;
      if (auth === 'unauthorized') {
        this.stop();
        this.o.onUnauthorized();
        return;
      }
      if (auth === 'gone') {
        this.stop();
        this.o.onGone?.();
        return;
      }
      this.open();
    }, delay);
  }
}
