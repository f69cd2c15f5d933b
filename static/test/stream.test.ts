import { describe, expect, it } from 'vitest';
import { backoffDelay, BACKOFF_MS, EventStream, type ConnState, type EventSourceLike } from '../src/lib/stream';

class FakeES implements EventSourceLike {
  readyState = 0;
  onopen: ((ev: Event) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  listeners: Record<string, Array<(ev: MessageEvent) => void>> = {};
  closed = false;
  constructor(public url: string) {}
  addEventListener(type: string, fn: (ev: MessageEvent) => void) {
    (this.listeners[type] ||= []).push(fn);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  emit(type: string, data: unknown, id = '') {
    const ev = { data: JSON.stringify(data), lastEventId: id } as MessageEvent;
    for (const fn of this.listeners[type] || []) fn(ev);
  }
  fail(readyState: 0 | 2) {
    this.readyState = readyState;
    this.onerror?.(new Event('error'));
  }
}

function harness(auth: 'ok' | 'unauthorized' | 'gone' | 'error' = 'ok') {
  const sources: FakeES[] = [];
  const timers: Array<{ fn: () => void; ms: number; id: number }> = [];
  let nextId = 1;
  const states: Array<[ConnState, unknown]> = [];
  const events: Array<[string, string | null, unknown]> = [];
  let unauthorized = 0;
  let gone = 0;
  let authCalls = 0;
  const st = new EventStream({
    url: (after) => `/api/sessions/s/events${after ? `?after=${after}` : ''}`,
    onEvent: (t, id, d) => events.push([t, id, d]),
    onState: (s, d) => states.push([s, d]),
    checkAuth: async () => { authCalls++; return auth; },
    onUnauthorized: () => { unauthorized++; },
    onGone: () => { gone++; },
    idleTimeoutMs: 45000,
    deps: {
      makeSource: (url) => { const es = new FakeES(url); sources.push(es); return es; },
      setTimeout: (fn, ms) => { const id = nextId++; timers.push({ fn, ms, id }); return id; },
      clearTimeout: (h) => { const i = timers.findIndex((t) => t.id === h); if (i >= 0) timers.splice(i, 1); },
      now: () => 0,
      random: () => 0.5,
    },
  });
  const fire = async (pred: (t: { ms: number }) => boolean) => {
    const i = timers.findIndex(pred);
    expect(i).toBeGreaterThanOrEqual(0);
    const [t] = timers.splice(i, 1);
    t.fn();
    await Promise.resolve();
    await Promise.resolve();
  };
  return { st, sources, timers, states, events, fire, get unauthorized() { return unauthorized; }, get gone() { return gone; }, get authCalls() { return authCalls; } };
}

describe('reconnect logic', () => {
  it('connects, parses events, tracks the last id', () => {
    const h = harness();
    h.st.start();
    expect(h.sources).toHaveLength(1);
    expect(h.sources[0].url).toBe('/api/sessions/s/events');
    h.sources[0].open();
    expect(h.st.connState).toBe('open');
    h.sources[0].emit('snapshot', { status: 'idle' }, '');
    h.sources[0].emit('text.delta', { text: 'a' }, '5-0');
    h.sources[0].emit('ping', {}, '5-0'); // the browser repeats the last id on id-less events
    expect(h.events).toEqual([['snapshot', null, { status: 'idle' }], ['text.delta', '5-0', { text: 'a' }], ['ping', null, {}]]);
    expect(h.st.lastEventId).toBe('5-0');
  });

  it('ignores data that is not JSON instead of half-applying it', () => {
    const h = harness();
    h.st.start();
    const ev = { data: '{"trunc', lastEventId: '1-0' } as MessageEvent;
    for (const fn of h.sources[0].listeners['text.delta']) fn(ev);
    expect(h.events).toHaveLength(0);
  });

  it('lets the browser reconnect by itself when it can (stream ended, network blip)', () => {
    const h = harness();
    h.st.start();
    h.sources[0].open();
    h.sources[0].emit('text.delta', {}, '7-0');
    h.sources[0].fail(0);
    expect(h.st.connState).toBe('reconnecting');
    expect(h.sources).toHaveLength(1); // no second EventSource: the native one retries with Last-Event-ID
    expect(h.st.resumedFrom).toBe('7-0');
    h.sources[0].open();
    expect(h.st.connState).toBe('open');
  });

  it('takes over with backoff when the browser gives up, resuming with ?after=<last id>', async () => {
    const h = harness();
    h.st.start();
    h.sources[0].open();
    h.sources[0].emit('run.started', {}, '9-1');
    h.sources[0].fail(2); // e.g. 502 from the proxy
    expect(h.st.connState).toBe('offline');
    expect(h.sources[0].closed).toBe(true);
    await h.fire((t) => t.ms === BACKOFF_MS[0]);
    expect(h.authCalls).toBe(1);
    expect(h.sources).toHaveLength(2);
    expect(h.sources[1].url).toBe('/api/sessions/s/events?after=9-1');
    expect(h.st.resumedFrom).toBe('9-1');
    // Fails again: the next delay is longer.
    h.sources[1].fail(2);
    await h.fire((t) => t.ms === BACKOFF_MS[1]);
    expect(h.sources).toHaveLength(3);
    // Success resets the backoff.
    h.sources[2].open();
    h.sources[2].fail(2);
    expect(h.timers.some((t) => t.ms === BACKOFF_MS[0])).toBe(true);
  });

  it('stops and reports when the login expired', async () => {
    const h = harness('unauthorized');
    h.st.start();
    h.sources[0].fail(2); // 401
    await h.fire((t) => t.ms === BACKOFF_MS[0]);
    expect(h.unauthorized).toBe(1);
    expect(h.sources).toHaveLength(1);
    expect(h.st.connState).toBe('closed');
  });

  it('stops when the session was deleted meanwhile', async () => {
    const h = harness('gone');
    h.st.start();
    h.sources[0].fail(2); // 404
    await h.fire((t) => t.ms === BACKOFF_MS[0]);
    expect(h.gone).toBe(1);
    expect(h.unauthorized).toBe(0);
    expect(h.sources).toHaveLength(1);
  });

  it('keeps retrying through transient failures (e.g. the server restarting)', async () => {
    const h = harness('error');
    h.st.start();
    h.sources[0].fail(2);
    await h.fire((t) => t.ms === BACKOFF_MS[0]);
    expect(h.sources).toHaveLength(2);
    h.sources[1].fail(2);
    await h.fire((t) => t.ms === BACKOFF_MS[1]);
    expect(h.sources).toHaveLength(3);
    expect(h.states.filter(([s]) => s === 'offline').map(([, d]) => (d as { attempt: number }).attempt)).toEqual([1, 2]);
  });

  it('reconnectNow() (the browser came back online) opens a new stream at once from the last id', () => {
    const h = harness();
    h.st.start();
    h.sources[0].open();
    h.sources[0].emit('usage', {}, '8-2');
    h.sources[0].fail(2);
    h.st.reconnectNow();
    expect(h.sources).toHaveLength(2);
    expect(h.sources[1].url).toContain('after=8-2');
    expect(h.timers.filter((t) => t.ms === BACKOFF_MS[0])).toHaveLength(0);
  });

  it('replaces a stream that went silent (no ping) and resumes from the last id', async () => {
    const h = harness();
    h.st.start();
    h.sources[0].open();
    h.sources[0].emit('usage', {}, '3-0');
    await h.fire((t) => t.ms === 45000);
    expect(h.sources[0].closed).toBe(true);
    expect(h.sources).toHaveLength(2);
    expect(h.sources[1].url).toContain('after=3-0');
  });

  it('stop() closes everything and no timer fires afterwards', () => {
    const h = harness();
    h.st.start();
    h.sources[0].fail(2);
    h.st.stop();
    expect(h.timers).toHaveLength(0);
    expect(h.st.connState).toBe('closed');
  });

  it('backoff grows to a cap, with jitter', () => {
    expect(backoffDelay(0, () => 0.5)).toBe(1000);
    expect(backoffDelay(3, () => 0.5)).toBe(8000);
    expect(backoffDelay(50, () => 0.5)).toBe(30000);
    expect(backoffDelay(0, () => 0)).toBe(800);
    expect(backoffDelay(0, () => 1)).toBe(1200);
  });
});
