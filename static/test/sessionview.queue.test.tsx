// The session view with the run scheduler (docs/scheduler.md): the composer
// stays open while Claude works, a message sent then shows at once as queued
// (POST 202), its position follows run.queue_position, × removes it (DELETE),
// and after a reload the queued prompts come from GET /messages `queued`.
// The server is faked at the fetch and EventSource level.
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionView } from '../src/components/SessionView';
import type { Toast } from '../src/components/Toasts';
import type { Session, User } from '../src/lib/types';

const SID = 'abc123';
const user = { username: 'ann', role: 'user' } as User;
const session: Session = {
  id: SID, title: 'Queue test', model: 'm', permission_mode: 'default', template: null, owner: 'ann',
  status: 'running', created_at: '', updated_at: '', last_activity: '',
};

class FakeES {
  static all: FakeES[] = [];
  readyState = 0;
  onopen: ((ev: Event) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  listeners: Record<string, Array<(ev: MessageEvent) => void>> = {};
  constructor(public url: string) { FakeES.all.push(this); }
  addEventListener(type: string, fn: (ev: MessageEvent) => void) { (this.listeners[type] ||= []).push(fn); }
  close() { this.readyState = 2; }
  emit(type: string, data: unknown, id = '') {
    for (const fn of this.listeners[type] || []) fn({ data: JSON.stringify(data), lastEventId: id } as MessageEvent);
  }
}

interface Call { method: string; path: string; body: unknown }
type Handler = (c: Call) => { status: number; body?: unknown } | undefined;

let calls: Call[] = [];
let handler: Handler = () => undefined;
let history: { messages: unknown[]; queued: unknown[] } = { messages: [], queued: [] };
const realFetch = globalThis.fetch;
const realES = (globalThis as Record<string, unknown>).EventSource;

function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status, headers: { 'Content-Type': 'application/json' },
  });
}

beforeEach(() => {
  calls = [];
  FakeES.all = [];
  history = { messages: [], queued: [] };
  handler = () => undefined;
  sessionStorage.clear();
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = String(input);
    const method = init?.method || 'GET';
    const c: Call = { method, path, body: init?.body ? JSON.parse(String(init.body)) : undefined };
    calls.push(c);
    const h = handler(c);
    if (h) return json(h.status, h.body);
    if (method === 'GET' && path === `/api/sessions/${SID}`) return json(200, session);
    if (method === 'GET' && path === `/api/sessions/${SID}/messages`) {
      return json(200, { session_id: SID, messages: history.messages, tool_details: {}, queued: history.queued });
    }
    return json(404, { error: { type: 'not_found', message: 'no' } });
  }) as typeof fetch;
  (globalThis as Record<string, unknown>).EventSource = FakeES;
});

const mounted: HTMLElement[] = [];
afterEach(() => {
  for (const el of mounted.splice(0)) {
    el.remove();
  }
  globalThis.fetch = realFetch;
  (globalThis as Record<string, unknown>).EventSource = realES;
});

const wait = (ms = 40) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, fn: () => boolean, ms = 2000): Promise<void> {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await wait(10);
  }
}

function mount(toasts: Array<Omit<Toast, 'id'>> = []): HTMLElement {
  const el = document.createElement('div');
  document.body.appendChild(el);
  mounted.push(el);
  render(
    <SessionView sessionId={SID} listed={session} user={user} onOpenNav={() => {}} onChanged={() => {}}
      onStatus={() => {}} onMissing={() => {}} toast={(t) => toasts.push(t)} />,
    el,
  );
  return el;
}

let eid = 0;
function emit(type: string, data: Record<string, unknown>) {
  const es = FakeES.all[FakeES.all.length - 1];
  es.emit(type, data, `${7000 + ++eid}-0`);
}
function snapshot(active: { run_id: string; status: string } | null) {
  const es = FakeES.all[FakeES.all.length - 1];
  es.readyState = 1;
  es.emit('snapshot', {
    session_id: SID, status: active ? 'running' : 'idle', active_run: active && { ...active, kind: 'message', first_event_id: '7001-0' },
    pending_permissions: [], last_event_id: '7000-0', resume_after: '0-0',
  });
}

const box = (el: HTMLElement) => el.querySelector<HTMLTextAreaElement>('#composer-input')!;
const sendBtn = (el: HTMLElement) => el.querySelector<HTMLButtonElement>('.composer button[type=submit]')!;
const queuedBubbles = (el: HTMLElement) => [...el.querySelectorAll<HTMLElement>('.msg.user.queued')];
const userBubbles = (el: HTMLElement, text: string) =>
  [...el.querySelectorAll('.msg.user .bubble')].filter((b) => b.textContent === text);
const statusLine = (el: HTMLElement) => el.querySelector('#composer-hint')!.textContent || '';
const badge = (el: HTMLElement) => el.querySelector('.topbar .badge')!;

function type(el: HTMLElement, text: string) {
  const b = box(el);
  b.value = text;
  b.dispatchEvent(new Event('input', { bubbles: true }));
}

/** The session with run1 running ("first" streaming). */
async function runningSession(): Promise<HTMLElement> {
  history = { messages: [{ role: 'user', content: 'first' }], queued: [] };
  const el = mount();
  await until('the stream', () => FakeES.all.length > 0);
  snapshot({ run_id: 'run1', status: 'running' });
  emit('run.queued', { run_id: 'run1', kind: 'message', state: 'ready', ahead: 0 });
  emit('run.started', { run_id: 'run1', kind: 'message' });
  emit('message.start', { run_id: 'run1', message_id: 'm1' });
  emit('text.delta', { run_id: 'run1', index: 0, text: 'Working on it' });
  await until('the answer', () => (el.textContent || '').includes('Working on it'));
  return el;
}

describe('the session view while Claude works', () => {
  it('the composer stays open: a message sent now is shown at once as queued, with where it stands', async () => {
    const el = await runningSession();
    expect(box(el).disabled).toBe(false);
    expect(statusLine(el)).toBe('Claude is working…');
    expect(el.querySelector('.composer button[aria-label="Stop Claude"]')).toBeTruthy();
    handler = (c) => (c.method === 'POST' && c.path === `/api/sessions/${SID}/messages`
      ? { status: 202, body: { run_id: 'run2', session_id: SID, kind: 'message', status: 'queued', state: 'session', ahead: 1 } }
      : undefined);
    type(el, 'second');
    await until('the send button', () => !sendBtn(el).disabled);
    sendBtn(el).click();
    await until('the queued bubble', () => queuedBubbles(el).length === 1);
    const post = calls.find((c) => c.method === 'POST');
    expect(post?.body).toEqual({ content: 'second' });
    const q = queuedBubbles(el)[0];
    expect(q.querySelector('.bubble')!.textContent).toBe('second');
    expect(q.querySelector('.queue-pos')!.textContent).toBe('Queued behind the current run');
    expect(box(el).value).toBe('');
    expect(statusLine(el)).toBe('Claude is working… · 1 message queued');
    expect(badge(el).textContent).toBe('Running');
    // The stream's run.queued adds nothing; a position change updates the text.
    emit('run.queued', { run_id: 'run2', kind: 'message', state: 'session', ahead: 1 });
    emit('run.queue_position', { run_id: 'run2', state: 'session', ahead: 2 });
    await until('the new position', () => queuedBubbles(el)[0]?.querySelector('.queue-pos')?.textContent === 'Queued behind the current run — 2 ahead');
    expect(queuedBubbles(el)).toHaveLength(1);
    expect(userBubbles(el, 'second')).toHaveLength(1);
    // run1 ends; run2 waits for a runner: nothing runs, so the status is not "working".
    emit('message.stop', { run_id: 'run1', stop_reason: 'end_turn' });
    emit('run.finished', { run_id: 'run1', stop_reason: 'end_turn' });
    emit('run.queue_position', { run_id: 'run2', state: 'ready', ahead: 3 });
    await until('the ready position', () => statusLine(el) === 'Queued — 3 ahead');
    expect(badge(el).textContent).toBe('Queued');
    expect(badge(el).classList.contains('status-queued')).toBe(true);
    expect(el.querySelector('.composer button[aria-label="Stop Claude"]')).toBeNull();
    // It starts: the ordinary prompt, once.
    history = { messages: [{ role: 'user', content: 'first' }, { role: 'assistant', content: [{ type: 'text', text: 'Working on it' }] }, { role: 'user', content: 'second' }], queued: [] };
    emit('run.started', { run_id: 'run2', kind: 'message' });
    await until('the prompt', () => queuedBubbles(el).length === 0);
    await wait(100); // the history fetched after run1's end
    expect(userBubbles(el, 'second')).toHaveLength(1);
    expect(userBubbles(el, 'first')).toHaveLength(1);
    expect(statusLine(el)).toBe('Claude is working…');
  });

  it('× removes a queued message (DELETE 200); a 409 leaves it (it has started)', async () => {
    const toasts: Array<Omit<Toast, 'id'>> = [];
    history = { messages: [{ role: 'user', content: 'first' }], queued: [
      { run_id: 'run2', kind: 'message', content: 'second', state: 'session', ahead: 1, created_at: 1 },
      { run_id: 'run3', kind: 'message', content: [{ type: 'text', text: 'third' }], state: 'session', ahead: 2, created_at: 2 },
    ] };
    const el = mount(toasts);
    await until('the stream', () => FakeES.all.length > 0);
    snapshot({ run_id: 'run1', status: 'running' });
    emit('run.queued', { run_id: 'run1', kind: 'message', state: 'ready', ahead: 0 });
    emit('run.started', { run_id: 'run1', kind: 'message' });
    await until('the queued prompts', () => queuedBubbles(el).length === 2);
    handler = (c) => {
      if (c.method !== 'DELETE') return undefined;
      if (c.path === `/api/sessions/${SID}/runs/run2`) return { status: 200, body: { run_id: 'run2', status: 'removed' } };
      if (c.path === `/api/sessions/${SID}/runs/run3`) return { status: 409, body: { error: { type: 'conflict', message: 'it has started' } } };
      return undefined;
    };
    const remove = (q: HTMLElement) => q.querySelector<HTMLButtonElement>('button.remove-queued')!;
    expect(remove(queuedBubbles(el)[0]).getAttribute('aria-label')).toBe('Remove this queued message');
    remove(queuedBubbles(el)[0]).click();
    await until('the removal', () => queuedBubbles(el).length === 1);
    expect(calls.some((c) => c.method === 'DELETE' && c.path === `/api/sessions/${SID}/runs/run2`)).toBe(true);
    expect(userBubbles(el, 'second')).toHaveLength(0);
    expect(queuedBubbles(el)[0].querySelector('.bubble')!.textContent).toBe('third');
    remove(queuedBubbles(el)[0]).click();
    await until('the 409 toast', () => toasts.length === 1);
    expect(toasts[0]).toMatchObject({ level: 'info', title: 'Claude has already started on this message.' });
    expect(queuedBubbles(el)).toHaveLength(1);
    expect(remove(queuedBubbles(el)[0]).disabled).toBe(false);
    // Its run.cancelled {removed} from another window would drop it; here run.started comes.
    emit('run.cancelled', { run_id: 'run2', reason: 'removed' });
    emit('run.started', { run_id: 'run3', kind: 'message' });
    await until('the ordinary prompt', () => queuedBubbles(el).length === 0);
    expect(userBubbles(el, 'third')).toHaveLength(1);
  });

  it('after a reload while queued: the prompt is shown, marked queued, and the status says where it stands', async () => {
    history = { messages: [], queued: [{ run_id: 'run1', kind: 'message', content: 'hello there', state: 'user', ahead: 2, created_at: 1 }] };
    const el = mount();
    await until('the stream', () => FakeES.all.length > 0);
    snapshot({ run_id: 'run1', status: 'queued' });
    emit('run.queued', { run_id: 'run1', kind: 'message', state: 'user', ahead: 2 });
    await until('the queued prompt', () => queuedBubbles(el).length === 1);
    expect(queuedBubbles(el)[0].querySelector('.bubble')!.textContent).toBe('hello there');
    expect(statusLine(el)).toBe('Queued — 2 ahead, waiting for your other runs');
    expect(statusLine(el)).not.toContain('working');
    expect(badge(el).textContent).toBe('Queued');
    expect(document.title.startsWith('◌ Queued')).toBe(true);
    expect(box(el).disabled).toBe(false);
    emit('run.queue_position', { run_id: 'run1', state: 'ready', ahead: 0 });
    await until('starting', () => statusLine(el) === 'Starting…');
  });

  it('a parked run: the approval card works and the status waits for you', async () => {
    const el = await runningSession();
    emit('tool.use', { run_id: 'run1', index: 1, id: 'tu1', name: 'bash', input: { command: 'ls -la' } });
    emit('message.stop', { run_id: 'run1', stop_reason: 'tool_use' });
    emit('permission.request', { run_id: 'run1', request_id: 'rq1', tool_use_id: 'tu1', tool: 'bash', input: { command: 'ls -la' }, summary: 'ls -la' });
    emit('run.parked', { run_id: 'run1', request_id: 'rq1', reason: 'permission' });
    await until('the approval', () => !!el.querySelector('.perm'));
    await until('the parked note', () => !!el.querySelector('.waiting-banner .waiting-note'));
    expect(statusLine(el)).toBe('Waiting for your approval');
    handler = (c) => (c.method === 'POST' && c.path.endsWith('/permissions/rq1') ? { status: 200, body: {} } : undefined);
    const allow = [...el.querySelectorAll<HTMLButtonElement>('.perm button')].find((b) => b.textContent === 'Allow once')!;
    allow.click();
    await until('the answer', () => calls.some((c) => c.path.endsWith('/permissions/rq1')));
    emit('run.continued', { run_id: 'run1', reason: 'answered' });
    emit('permission.resolved', { run_id: 'run1', request_id: 'rq1', tool_use_id: 'tu1', decision: 'allow' });
    await until('running again', () => statusLine(el) === 'Claude is working…');
    expect(el.querySelector('.waiting-banner')).toBeNull();
  });

  it('a full session queue (409) is explained', async () => {
    const toasts: Array<Omit<Toast, 'id'>> = [];
    history = { messages: [], queued: [] };
    const el = mount(toasts);
    await until('the stream', () => FakeES.all.length > 0);
    snapshot({ run_id: 'run1', status: 'running' });
    emit('run.started', { run_id: 'run1', kind: 'message' });
    handler = (c) => (c.method === 'POST' ? { status: 409, body: { error: { type: 'conflict', message: 'this session already has 5 messages queued' } } } : undefined);
    type(el, 'one too many');
    await until('the send button', () => !sendBtn(el).disabled);
    sendBtn(el).click();
    await until('the toast', () => toasts.length === 1);
    expect(toasts[0].title).toBe('Too many messages are already waiting in this session.');
    expect(box(el).value).toBe('one too many');
    expect(queuedBubbles(el)).toHaveLength(0);
  });
});
