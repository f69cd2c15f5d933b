// A step of a run redone by the server: run.resumed (another runner took over
// after a crash) and run.retrying (the API call was retried) both retract the
// in-progress assistant message instead of appending the new attempt to it.
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../src/lib/stream';
import {
  buildView, initialState, reduce, retractPartial, type Run, type TranscriptState, type ViewItem,
} from '../src/lib/transcript';
import type { StreamEvent } from '../src/lib/types';
import { resumedText } from '../src/lib/words';

const R = 'run1';
let n = 0;
function ev(type: string, data: Record<string, unknown> = {}): StreamEvent {
  n++;
  return { id: `${2000 + n}-0`, type, data: { ...data, run_id: R } };
}
function evs(s: TranscriptState, list: StreamEvent[]): TranscriptState {
  return reduce(s, { type: 'events', events: list });
}
function sig(v: ViewItem[]): string[] {
  return v.map((i) => {
    switch (i.kind) {
      case 'user': return `user:${i.text}`;
      case 'text': return `text:${i.text}${i.streaming ? '…' : ''}`;
      case 'thinking': return `thinking:${i.text}`;
      case 'tool': return `tool:${i.id}:${i.state}`;
      case 'notice': return `notice:${i.code}`;
      default: return i.kind;
    }
  });
}
function start(): { s: TranscriptState; head: StreamEvent[] } {
  n = 0;
  const s0 = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
  const s = reduce(s0, { type: 'localPrompt', runId: R, text: 'do it' });
  const head = [
    ev('run.queued', { kind: 'message' }),
    ev('run.started', { kind: 'message', resumed: false }),
    // A first message, complete: a tool call that ran.
    ev('message.start', { message_id: 'm1' }),
    ev('text.delta', { index: 0, text: 'Looking.' }),
    ev('tool.use', { index: 1, id: 'tool-a', name: 'bash', input: { command: 'ls' } }),
    ev('message.stop', { stop_reason: 'tool_use' }),
    ev('tool.result', { tool_use_id: 'tool-a', name: 'bash', content: 'a.txt', is_error: false }),
  ];
  return { s: evs(s, head), head };
}

describe('run.resumed', () => {
  it('redo "message": the partial text and thinking of the message in progress go, a notice takes their place', () => {
    const { s: s1 } = start();
    let s = evs(s1, [
      ev('message.start', { message_id: 'm2' }),
      ev('thinking.delta', { index: 0, thinking: 'Hmm, the file' }),
      ev('text.delta', { index: 1, text: 'The file a.txt con' }),
    ]);
    expect(sig(buildView(s))).toEqual([
      'user:do it', 'text:Looking.', 'tool:tool-a:done', 'thinking:Hmm, the file', 'text:The file a.txt con…',
    ]);
    s = evs(s, [
      ev('run.resumed', { redo: 'message', discarded_text: true, attempt: 2 }),
      ev('run.started', { kind: 'message', resumed: true }),
    ]);
    expect(sig(buildView(s))).toEqual(['user:do it', 'text:Looking.', 'tool:tool-a:done', 'notice:resumed']);
    expect(s.runs[0].resumedStep).toEqual({ redo: 'message', discardedText: true, atTurn: 1 });
    expect(s.runs[0].status).toBe('running');
    // The redone message streams on its own, after the notice.
    s = evs(s, [
      ev('message.start', { message_id: 'm2b' }),
      ev('text.delta', { index: 0, text: 'The file a.txt is empty.' }),
    ]);
    expect(sig(buildView(s))).toEqual([
      'user:do it', 'text:Looking.', 'tool:tool-a:done', 'notice:resumed', 'text:The file a.txt is empty.…',
    ]);
    s = evs(s, [ev('message.stop', { stop_reason: 'end_turn' }), ev('run.finished', { stop_reason: 'end_turn' })]);
    expect(sig(buildView(s))).toEqual([
      'user:do it', 'text:Looking.', 'tool:tool-a:done', 'notice:resumed', 'text:The file a.txt is empty.',
    ]);
    const notice = buildView(s).find((i) => i.kind === 'notice');
    expect(notice).toMatchObject({ level: 'info', data: { redo: 'message', discarded_text: true } });
  });

  it('tool calls of the abandoned message (they never ran) go with it', () => {
    const { s: s1 } = start();
    let s = evs(s1, [
      ev('message.start', { message_id: 'm2' }),
      ev('text.delta', { index: 0, text: 'Now ' }),
      ev('tool.use', { index: 1, id: 'tool-old', name: 'bash', input: { command: 'rm x' } }),
      ev('run.resumed', { redo: 'message', discarded_text: true }),
    ]);
    expect(s.runs[0].toolIds).toEqual(['tool-a']);
    expect(sig(buildView(s))).toEqual(['user:do it', 'text:Looking.', 'tool:tool-a:done', 'notice:resumed']);
    s = evs(s, [
      ev('message.start', { message_id: 'm3' }),
      ev('tool.use', { index: 0, id: 'tool-new', name: 'bash', input: { command: 'rm x' } }),
    ]);
    expect(sig(buildView(s))).toEqual([
      'user:do it', 'text:Looking.', 'tool:tool-a:done', 'notice:resumed', 'tool:tool-new:running',
    ]);
  });

  it('redo "tools": the saved message stays (finished even if its message.stop was lost); interrupted calls show as errors', () => {
    const { s: s1 } = start();
    let s = evs(s1, [
      ev('message.start', { message_id: 'm2' }),
      ev('text.delta', { index: 0, text: 'Two more.' }),
      ev('tool.use', { index: 1, id: 'tool-b', name: 'bash', input: { command: 'sleep 100' } }),
      // The runner died after saving the message, before message.stop went out.
      ev('run.resumed', { redo: 'tools', discarded_text: false }),
      ev('run.started', { kind: 'message', resumed: true }),
      ev('tool.result', { tool_use_id: 'tool-b', content: 'Error: this tool call was interrupted', is_error: true }),
    ]);
    expect(sig(buildView(s))).toEqual([
      'user:do it', 'text:Looking.', 'tool:tool-a:done', 'text:Two more.', 'tool:tool-b:error', 'notice:resumed',
    ]);
    expect(s.runs[0].turns[1].stopped).toBe(true);
    s = evs(s, [ev('message.start', { message_id: 'm3' }), ev('text.delta', { index: 0, text: 'Retrying it.' })]);
    expect(sig(buildView(s)).slice(-2)).toEqual(['notice:resumed', 'text:Retrying it.…']);
    expect(resumedText('tools').title).toMatch(/tools/);
    expect(resumedText('message').title).toBe('The server restarted this step; Claude is redoing it.');
  });

  it('a redo it does not know keeps what was shown (only "message" retracts)', () => {
    const { s: s1 } = start();
    const s = evs(s1, [
      ev('message.start', { message_id: 'm2' }),
      ev('text.delta', { index: 0, text: 'Saved answer.' }),
      ev('run.resumed', { redo: 'none', discarded_text: false }),
    ]);
    expect(sig(buildView(s)).slice(-2)).toEqual(['text:Saved answer.', 'notice:resumed']);
    expect(resumedText('none').title).toBe('The server restarted; Claude goes on from where it was.');
    const nored = evs(s1, [ev('message.start', { message_id: 'm2' }), ev('text.delta', { index: 0, text: 'x' }), ev('run.resumed', {})]);
    expect(nored.runs[0].resumedStep?.redo).toBe('message');
    expect(sig(buildView(nored)).slice(-1)).toEqual(['notice:resumed']);
  });

  it('a reload mid-run (full replay after the history) shows the same thing once, and a second replay changes nothing', () => {
    const { head } = start();
    const tail = [
      ev('message.start', { message_id: 'm2' }),
      ev('text.delta', { index: 0, text: 'partial' }),
      ev('run.resumed', { redo: 'message', discarded_text: true }),
      ev('run.started', { kind: 'message', resumed: true }),
      ev('message.start', { message_id: 'm2b' }),
      ev('text.delta', { index: 0, text: 'whole answer' }),
    ];
    const fresh = reduce(initialState('s1'), { type: 'history', messages: [{ role: 'user', content: 'do it' }], asOf: null, want: 1 });
    const s = evs(fresh, [...head, ...tail]);
    const want = ['user:do it', 'text:Looking.', 'tool:tool-a:done', 'notice:resumed', 'text:whole answer…'];
    expect(sig(buildView(s))).toEqual(want);
    expect(sig(buildView(evs(s, [...head, ...tail])))).toEqual(want);
  });

  it('once the run is settled from the history, the notice stays, after the run (as a reload draws it from the notices)', () => {
    const { s: s1 } = start();
    let s = evs(s1, [
      ev('message.start', { message_id: 'm2' }),
      ev('text.delta', { index: 0, text: 'partial' }),
      ev('run.resumed', { redo: 'message', discarded_text: true }),
      ev('message.start', { message_id: 'm2b' }),
      ev('text.delta', { index: 0, text: 'Done.' }),
      ev('message.stop', { stop_reason: 'end_turn' }),
    ]);
    const end = ev('run.finished', { stop_reason: 'end_turn' });
    s = evs(s, [end]);
    s = reduce(s, {
      type: 'history', asOf: end.id, want: s.historyWanted, messages: [
        { role: 'user', content: 'do it' },
        { role: 'assistant', content: [{ type: 'text', text: 'Looking.' }, { type: 'tool_use', id: 'tool-a', name: 'bash', input: { command: 'ls' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tool-a', content: 'a.txt' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Done.' }] },
      ],
    });
    expect(sig(buildView(s))).toEqual(['user:do it', 'text:Looking.', 'tool:tool-a:done', 'text:Done.', 'notice:resumed']);
  });

  it('is one of the event types the stream listens to', () => {
    expect(EVENT_TYPES).toContain('run.resumed');
  });
});

describe('run.retrying', () => {
  it('drops the partial text of the failed attempt (same code as run.resumed) and shows the retry notice', () => {
    const { s: s1 } = start();
    let s = evs(s1, [
      ev('message.start', { message_id: 'm2' }),
      ev('text.delta', { index: 0, text: 'This answer will be interr' }),
      ev('run.retrying', { attempt: 1, delay_ms: 1000, reason: 'overloaded_error' }),
    ]);
    expect(sig(buildView(s))).toEqual(['user:do it', 'text:Looking.', 'tool:tool-a:done', 'notice:retrying']);
    s = evs(s, [ev('message.start', { message_id: 'm2-again' }), ev('text.delta', { index: 0, text: 'Second attempt.' })]);
    expect(sig(buildView(s))).toEqual(['user:do it', 'text:Looking.', 'tool:tool-a:done', 'text:Second attempt.…']);
  });

  it('before any output (a 529 on connect) changes nothing but the notice', () => {
    const { s: s1 } = start();
    const s = evs(s1, [ev('run.retrying', { attempt: 1, delay_ms: 4000, reason: 'overloaded' })]);
    expect(s.runs[0].turns).toBe(s1.runs[0].turns);
    expect(sig(buildView(s)).slice(-1)).toEqual(['notice:retrying']);
  });
});

describe('retractPartial', () => {
  it('leaves a run whose last message is complete as it is', () => {
    const { s } = start();
    const r: Run = s.runs[0];
    expect(retractPartial(r)).toBe(r);
    const empty = { ...r, turns: [] };
    expect(retractPartial(empty)).toBe(empty);
  });
});
