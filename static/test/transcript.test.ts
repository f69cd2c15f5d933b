import { describe, expect, it } from 'vitest';
import { cmpId } from '../src/lib/ids';
import {
  activeRun, buildView, initialState, reduce, type Action, type TranscriptState, type ViewItem,
} from '../src/lib/transcript';
import type { HistoryMessage, StreamEvent } from '../src/lib/types';

const R1 = 'run1';
const R2 = 'run2';

let seq = 0;
function id(ms: number, s = 0): string {
  return `${1000 + ms}-${s}`;
}
function ev(idv: string | null, type: string, data: Record<string, unknown> = {}, run: string | null = R1): StreamEvent {
  return { id: idv, type, data: run ? { ...data, run_id: run } : data };
}
function apply(s: TranscriptState, ...actions: Action[]): TranscriptState {
  return actions.reduce(reduce, s);
}
function evs(s: TranscriptState, list: StreamEvent[]): TranscriptState {
  return reduce(s, { type: 'events', events: list });
}
/** The view reduced to comparable strings. */
function sig(v: ViewItem[]): string[] {
  return v.map((i) => {
    switch (i.kind) {
      case 'user': return `user:${i.text}${i.pending ? ' (pending)' : ''}`;
      case 'text': return `text:${i.text}`;
      case 'thinking': return `thinking:${i.text}`;
      case 'tool': return `tool:${i.name}:${i.id}:${i.state}${i.result?.exitCode !== undefined ? `:exit${i.result.exitCode}` : ''}`;
      case 'permission': return `perm:${i.permission.request_id}`;
      case 'notice': return `notice:${i.code}`;
      default: return i.kind;
    }
  });
}

// One complete run: text, a bash call needing approval, its result, a final answer.
function runEvents(run = R1, base = 0, prompt = 'make a file'): StreamEvent[] {
  void prompt;
  seq = base;
  const n = () => id(seq++);
  return [
    ev(n(), 'run.queued', { kind: 'message' }, run),
    ev(n(), 'run.started', { kind: 'message', resumed: false, model: 'm' }, run),
    ev(n(), 'message.start', { message_id: `${run}-msg1`, turn: 0 }, run),
    ev(n(), 'text.delta', { index: 0, text: 'Let me ' }, run),
    ev(n(), 'text.delta', { index: 0, text: 'create it.' }, run),
    ev(n(), 'tool.use', { index: 1, id: `${run}-tool1`, name: 'bash', input: { command: 'echo hi > a.txt' } }, run),
    ev(n(), 'message.stop', { stop_reason: 'tool_use', usage: {} }, run),
    ev(n(), 'usage', { session: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cost_usd: 0.01 } }, run),
    ev(n(), 'permission.request', { request_id: `${run}-req1`, tool_use_id: `${run}-tool1`, tool: 'bash', input: { command: 'echo hi > a.txt' }, summary: 'Run a command' }, run),
    ev(n(), 'permission.resolved', { request_id: `${run}-req1`, tool_use_id: `${run}-tool1`, decision: 'allow', remember: false }, run),
    ev(n(), 'file.changed', { path: null, tool: 'bash' }, run),
    ev(n(), 'tool.result', { tool_use_id: `${run}-tool1`, name: 'bash', content: 'ok', is_error: false, stdout: 'ok', stderr: '', exit_code: 0, duration_ms: 12 }, run),
    ev(n(), 'message.start', { message_id: `${run}-msg2`, turn: 1 }, run),
    ev(n(), 'text.delta', { index: 0, text: 'Done.' }, run),
    ev(n(), 'message.stop', { stop_reason: 'end_turn' }, run),
    ev(n(), 'run.finished', { stop_reason: 'end_turn' }, run),
  ];
}

function runHistory(run = R1, prompt = 'make a file', upTo = 4): HistoryMessage[] {
  const all: HistoryMessage[] = [
    { role: 'user', content: prompt },
    { role: 'assistant', content: [{ type: 'text', text: 'Let me create it.' }, { type: 'tool_use', id: `${run}-tool1`, name: 'bash', input: { command: 'echo hi > a.txt' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: `${run}-tool1`, content: 'ok' }] },
    { role: 'assistant', content: [{ type: 'text', text: 'Done.' }] },
  ];
  return all.slice(0, upTo);
}

const FULL_RUN_VIEW = [
  'user:make a file',
  'text:Let me create it.',
  'tool:bash:run1-tool1:done:exit0',
  'text:Done.',
];

describe('ids', () => {
  it('compares Redis stream ids numerically, including 64-bit sequences', () => {
    expect(cmpId('9-0', '10-0')).toBeLessThan(0);
    expect(cmpId('10-2', '10-10')).toBeLessThan(0);
    expect(cmpId('1795870468311-18446744073709551615', '1795870468312-0')).toBeLessThan(0);
    expect(cmpId('5-5', '5-5')).toBe(0);
  });
});

describe('transcript reducer: ordering', () => {
  it('builds a run from its events in order, with the local prompt first', () => {
    let s = apply(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = apply(s, { type: 'pendingPrompt', text: 'make a file' });
    expect(sig(buildView(s))).toEqual(['user:make a file (pending)']);
    s = apply(s, { type: 'localPrompt', runId: R1, text: 'make a file' });
    s = evs(s, runEvents().slice(0, 9));
    expect(s.status).toBe('waiting');
    expect(sig(buildView(s))).toEqual(['user:make a file', 'text:Let me create it.', 'tool:bash:run1-tool1:waiting']);
    s = evs(s, runEvents().slice(9));
    expect(s.status).toBe('idle');
    expect(sig(buildView(s))).toEqual(FULL_RUN_VIEW);
    expect(s.usage?.cost_usd).toBe(0.01);
    expect(s.filesVersion).toBe(1);
  });

  it('streams text: a block grows with each delta and is marked streaming until message.stop', () => {
    let s = apply(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = evs(s, runEvents().slice(0, 4));
    let v = buildView(s);
    expect(v[v.length - 1]).toMatchObject({ kind: 'text', text: 'Let me ', streaming: true });
    s = evs(s, runEvents().slice(4, 7));
    v = buildView(s);
    expect(v.find((i) => i.kind === 'text')).toMatchObject({ text: 'Let me create it.', streaming: false });
  });

  it('keeps blocks in index order even when a later index arrives first', () => {
    let s = initialState('s1');
    s = evs(s, [
      ev(id(1), 'run.started', { kind: 'message' }),
      ev(id(2), 'message.start', { message_id: 'm' }),
      ev(id(3), 'thinking.delta', { index: 0, thinking: 'hmm' }),
      ev(id(4), 'text.delta', { index: 1, text: 'answer' }),
    ]);
    expect(sig(buildView(s))).toEqual(['thinking:hmm', 'text:answer']);
  });

  it('ignores unknown (future) event types and events without ids that are not run events', () => {
    let s = initialState('s1');
    s = evs(s, runEvents().slice(0, 5));
    const before = buildView(s);
    s = reduce(s, { type: 'event', event: ev(id(50), 'future.thing', { x: 1 }) });
    s = reduce(s, { type: 'event', event: { id: null, type: 'ping', data: {} } });
    expect(buildView(s)).toEqual(before);
  });
});

describe('transcript reducer: dedupe on replay', () => {
  it('drops events at or before the newest id (a reconnect that replays)', () => {
    let s = initialState('s1');
    const all = runEvents();
    s = evs(s, all.slice(0, 8));
    // Reconnect: the server replays from an older id, then continues.
    s = evs(s, all.slice(3));
    s = reduce(s, { type: 'history', messages: [], asOf: null, want: 1 });
    const texts = buildView(s).filter((i) => i.kind === 'text').map((i) => (i as { text: string }).text);
    expect(texts).toEqual(['Let me create it.', 'Done.']);
    expect(s.runs).toHaveLength(1);
    expect(s.runs[0].turns).toHaveLength(2);
  });

  it('a reload mid-run (history + full replay of the active run) shows everything once, in order', () => {
    const all = runEvents();
    // The history was saved up to the tool result; the run now waits for nothing and goes on.
    const history: HistoryMessage[] = [
      { role: 'user', content: 'earlier question' },
      { role: 'assistant', content: [{ type: 'text', text: 'Earlier answer.' }] },
      ...runHistory(R1, 'make a file', 3),
    ];
    const snapshot = {
      session_id: 's1', status: 'running' as const,
      active_run: { run_id: R1, kind: 'message', status: 'running', first_event_id: all[0].id! },
      pending_permissions: [], last_event_id: all[11].id!, resume_after: '1-0',
    };
    const want = ['user:earlier question', 'text:Earlier answer.', 'user:make a file', 'text:Let me create it.', 'tool:bash:run1-tool1:done:exit0'];

    // Order A: snapshot, history, then the replay.
    let a = apply(initialState('s1'), { type: 'snapshot', snapshot, resumedFrom: null });
    a = reduce(a, { type: 'history', messages: history, asOf: null, want: 1 });
    a = evs(a, all.slice(0, 12));
    expect(sig(buildView(a))).toEqual(want);

    // Order B: snapshot, the replay, then the history.
    let b = apply(initialState('s1'), { type: 'snapshot', snapshot, resumedFrom: null });
    b = evs(b, all.slice(0, 12));
    b = reduce(b, { type: 'history', messages: history, asOf: all[11].id, want: 1 });
    expect(sig(buildView(b))).toEqual(want);

    // Halfway through the replay the history must not be shown twice either.
    let c = apply(initialState('s1'), { type: 'snapshot', snapshot, resumedFrom: null });
    c = reduce(c, { type: 'history', messages: history, asOf: null, want: 1 });
    c = evs(c, all.slice(0, 6));
    const mid = sig(buildView(c));
    expect(mid.filter((x) => x === 'user:make a file')).toHaveLength(1);
    expect(mid.filter((x) => x.startsWith('tool:bash:run1-tool1'))).toHaveLength(1);

    // Then the run goes on streaming.
    a = evs(a, all.slice(12));
    expect(sig(buildView(a))).toEqual([...want, 'text:Done.']);
  });

  it('settles a finished run on the history fetched after its end, keeping bash details', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = reduce(s, { type: 'localPrompt', runId: R1, text: 'make a file' });
    const all = runEvents();
    s = evs(s, all);
    expect(s.historyWanted).toBeGreaterThan(s.historyHave);
    // A history fetched *before* the end does not settle the run.
    s = reduce(s, { type: 'history', messages: runHistory(R1, 'make a file', 3), asOf: all[12].id, want: 2 });
    expect(s.runs[0].settled).toBe(false);
    expect(sig(buildView(s))).toEqual(FULL_RUN_VIEW);
    s = reduce(s, { type: 'history', messages: runHistory(), asOf: all[all.length - 1].id, want: s.historyWanted });
    expect(s.runs[0].settled).toBe(true);
    expect(s.historyHave).toBe(s.historyWanted);
    expect(sig(buildView(s))).toEqual(FULL_RUN_VIEW);
    const tool = buildView(s).find((i) => i.kind === 'tool');
    expect(tool).toMatchObject({ result: { stdout: 'ok', exitCode: 0, durationMs: 12 }, permission: { status: 'allow' } });
  });

  it('does not cut older history when a new prompt repeats an earlier prompt', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: runHistory(), asOf: null, want: 1 });
    s = reduce(s, { type: 'localPrompt', runId: R2, text: 'make a file' });
    s = evs(s, runEvents(R2, 100).slice(0, 4));
    const v = sig(buildView(s));
    expect(v.slice(0, 4)).toEqual(['user:make a file', 'text:Let me create it.', 'tool:bash:run1-tool1:done', 'text:Done.']);
    expect(v.slice(4)).toEqual(['user:make a file', 'text:Let me ']);
  });

  it('two runs in a row: the first settles, the second streams after it', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = reduce(s, { type: 'localPrompt', runId: R1, text: 'make a file' });
    s = evs(s, runEvents(R1, 0));
    s = reduce(s, { type: 'localPrompt', runId: R2, text: 'again' });
    const second = runEvents(R2, 100);
    s = evs(s, second.slice(0, 5));
    // The history fetched after run 1 ended arrives while run 2 streams (its prompt is stored).
    s = reduce(s, { type: 'history', messages: [...runHistory(R1), { role: 'user', content: 'again' }], asOf: second[4].id, want: s.historyWanted });
    expect(sig(buildView(s))).toEqual([...FULL_RUN_VIEW, 'user:again', 'text:Let me create it.']);
  });
});

describe('transcript reducer: a prompt merged into the one of a failed run', () => {
  it('keeps each prompt as its own bubble, with the error between them, live and settled', () => {
    const base: HistoryMessage[] = [{ role: 'user', content: 'first' }, { role: 'assistant', content: [{ type: 'text', text: 'ok' }] }];
    let s = reduce(initialState('s1'), { type: 'history', messages: base, asOf: null, want: 1 });
    s = reduce(s, { type: 'localPrompt', runId: R1, text: 'This will fail' });
    s = evs(s, [ev(id(1), 'run.queued'), ev(id(2), 'run.started'), ev(id(3), 'run.error', { type: 'invalid_request_error', message: 'prompt is too long' })]);
    s = reduce(s, { type: 'history', messages: [...base, { role: 'user', content: [{ type: 'text', text: 'This will fail' }] }], asOf: id(3), want: s.historyWanted });
    expect(sig(buildView(s))).toEqual(['user:first', 'text:ok', 'user:This will fail', 'notice:run_error']);

    // The next prompt: the server appends it to the same user message.
    s = reduce(s, { type: 'localPrompt', runId: R2, text: 'Show me' });
    s = evs(s, [ev(id(10), 'run.queued', {}, R2), ev(id(11), 'run.started', {}, R2),
      ev(id(12), 'message.start', { message_id: 'm2' }, R2), ev(id(13), 'text.delta', { index: 0, text: 'answer' }, R2)]);
    const merged: HistoryMessage = { role: 'user', content: [{ type: 'text', text: 'This will fail' }, { type: 'text', text: 'Show me' }] };
    const want = ['user:first', 'text:ok', 'user:This will fail', 'notice:run_error', 'user:Show me', 'text:answer'];
    expect(sig(buildView(s))).toEqual(want);
    s = reduce(s, { type: 'history', messages: [...base, merged], asOf: id(13), want: s.historyWanted });
    expect(sig(buildView(s))).toEqual(want);
    s = evs(s, [ev(id(14), 'message.stop', { stop_reason: 'end_turn' }, R2), ev(id(15), 'run.finished', { stop_reason: 'end_turn' }, R2)]);
    s = reduce(s, { type: 'history', messages: [...base, merged, { role: 'assistant', content: [{ type: 'text', text: 'answer' }] }], asOf: id(15), want: s.historyWanted });
    expect(s.runs.every((r) => r.settled)).toBe(true);
    expect(sig(buildView(s))).toEqual(want);
  });
});

describe('transcript reducer: reconnect gaps', () => {
  it('events of a run whose start was missed make a partial run and ask for the history', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    const have = s.historyHave;
    s = evs(s, runEvents().slice(5, 9));
    expect(s.runs[0].partial).toBe(true);
    expect(s.historyWanted).toBeGreaterThan(have);
    expect(sig(buildView(s))).toContain('tool:bash:run1-tool1:waiting');
    expect(sig(buildView(s))).toContain('notice:partial');
  });

  it('a snapshot that does not resume where asked asks for the history', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = evs(s, runEvents().slice(0, 3));
    const w = s.historyWanted;
    s = reduce(s, {
      type: 'snapshot', resumedFrom: s.lastEventId,
      snapshot: { session_id: 's1', status: 'running', active_run: null, pending_permissions: [], last_event_id: id(900), resume_after: id(800) },
    });
    expect(s.historyWanted).toBeGreaterThan(w);
  });

  it('a fresh stream after the run ended unseen closes the run and asks for the history', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = evs(s, runEvents().slice(0, 5));
    expect(activeRun(s)).not.toBeNull();
    s = reduce(s, {
      type: 'snapshot', resumedFrom: null,
      snapshot: { session_id: 's1', status: 'idle', active_run: null, pending_permissions: [], last_event_id: id(99), resume_after: id(99) },
    });
    expect(activeRun(s)).toBeNull();
    expect(s.historyWanted).toBeGreaterThan(s.historyHave);
  });

  it('a pending request known only from the snapshot is shown as a standalone approval', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = reduce(s, {
      type: 'snapshot', resumedFrom: null,
      snapshot: {
        session_id: 's1', status: 'waiting', active_run: { run_id: R1, kind: 'message', status: 'running', first_event_id: id(0) },
        pending_permissions: [{ request_id: 'rq', tool_use_id: 'tx', tool: 'bash', input: { command: 'ls' }, summary: 'Run a command: ls' }],
        last_event_id: id(5), resume_after: '999-0',
      },
    });
    expect(s.status).toBe('waiting');
    expect(sig(buildView(s))).toEqual(['perm:rq']);
  });
});

describe('transcript reducer: permissions, errors, notices', () => {
  it('a run that ends cancels its pending requests; errors and cancels become notices', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    const all = runEvents();
    s = evs(s, all.slice(0, 9));
    expect(s.permissions['run1-req1'].status).toBe('pending');
    s = reduce(s, { type: 'event', event: ev(id(60), 'run.cancelled', {}) });
    expect(s.permissions['run1-req1'].status).toBe('cancelled');
    expect(s.status).toBe('idle');
    expect(sig(buildView(s))).toContain('notice:cancelled');
  });

  it('run.retrying shows a notice until the stream goes on; run.error says what happened', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = evs(s, [ev(id(1), 'run.queued'), ev(id(2), 'run.started'), ev(id(3), 'run.retrying', { attempt: 1, delay_ms: 2000, reason: 'overloaded' })]);
    expect(sig(buildView(s))).toEqual(['notice:retrying']);
    s = evs(s, [ev(id(4), 'message.start', { message_id: 'x' }), ev(id(5), 'text.delta', { index: 0, text: 'hi' })]);
    expect(sig(buildView(s))).toEqual(['text:hi']);
    s = evs(s, [ev(id(6), 'run.error', { type: 'overloaded_error', message: 'Overloaded' })]);
    expect(s.status).toBe('error');
    const v = buildView(s);
    expect(v[v.length - 1]).toMatchObject({ kind: 'notice', code: 'run_error', data: { type: 'overloaded_error' } });
  });

  it('shows the compaction summary of the first prompt separately', () => {
    const s = reduce(initialState('s1'), {
      type: 'history', asOf: null, want: 1, messages: [
        { role: 'user', content: [{ type: 'text', text: '<summary of the earlier conversation>\nWe built X.\n</summary>' }, { type: 'text', text: 'next step' }] },
      ],
    });
    expect(buildView(s)[0]).toMatchObject({ kind: 'user', text: 'next step', summary: 'We built X.' });
  });
});
