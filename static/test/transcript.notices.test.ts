// The durable transcript: what the live view showed of runs that ended
// (approvals with who/decision/remembered/message, a stop and who stopped
// it, an error, a retry) is redrawn identically from GET /messages'
// `notices` after a reload or on another device.
import { describe, expect, it } from 'vitest';
import {
  applyNotices, buildView, initialState, reduce, type NoticeRecord, type TranscriptState, type ViewItem,
} from '../src/lib/transcript';
import type { HistoryMessage, StreamEvent } from '../src/lib/types';

let n = 0;
function ev(run: string, type: string, data: Record<string, unknown> = {}): StreamEvent {
  n++;
  return { id: `${5000 + n}-0`, type, data: { ...data, run_id: run } };
}
function sig(v: ViewItem[]): string[] {
  return v.map((i) => {
    switch (i.kind) {
      case 'user': return `user:${i.text}`;
      case 'text': return `text:${i.text}`;
      case 'tool': {
        const p = i.permission;
        return `tool:${i.id}:${i.state}:${p ? `${p.status}/${p.by ?? ''}/${p.remember ?? ''}/${p.message ?? ''}` : '-'}`;
      }
      case 'notice': return `notice:${i.code}:${JSON.stringify(i.data)}`;
      default: return i.kind;
    }
  });
}

const H: HistoryMessage[] = [
  { role: 'user', content: [{ type: 'text', text: 'one' }] },
  { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'bash', input: { command: 'ls' } }] },
  { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'a.txt' }] },
  { role: 'assistant', content: [{ type: 'text', text: 'done' }] },
  { role: 'user', content: [{ type: 'text', text: 'two' }] },
  { role: 'assistant', content: [{ type: 'tool_use', id: 't2', name: 'bash', input: { command: 'rm x' } }] },
  { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't2', content: 'The user denied this tool call. Their message: not now', is_error: true }] },
  { role: 'assistant', content: [{ type: 'text', text: 'ok' }] },
  { role: 'user', content: [{ type: 'text', text: 'three' }] },
  { role: 'assistant', content: [{ type: 'text', text: 'partial' }] },
  { role: 'user', content: [{ type: 'text', text: 'four' }] },
] as HistoryMessage[];

/** What the server stores (notices.c) for the runs below, in order. */
const NOTICES: NoticeRecord[] = [
  { event: 'permission.request', run_id: 'A', request_id: 'r1', tool_use_id: 't1', tool: 'bash', input: { command: 'ls' }, summary: 'ls', by: 'ann', anchor: { msg: 1, block: 1 } },
  { event: 'permission.resolved', run_id: 'A', request_id: 'r1', tool_use_id: 't1', decision: 'allow', remember: true, by: 'ann', anchor: { msg: 1, block: 1 } },
  { event: 'run.continued', run_id: 'A', reason: 'answered', anchor: { msg: 1, block: 1 } },
  { event: 'run.finished', run_id: 'A', stop_reason: 'end_turn', anchor: { msg: 3, block: 1 } },
  { event: 'permission.request', run_id: 'B', request_id: 'r2', tool_use_id: 't2', tool: 'bash', input: { command: 'rm x' }, summary: 'rm x', by: 'ann', anchor: { msg: 5, block: 1 } },
  { event: 'permission.resolved', run_id: 'B', request_id: 'r2', tool_use_id: 't2', decision: 'deny', message: 'not now', by: 'ann', anchor: { msg: 5, block: 1 } },
  { event: 'run.finished', run_id: 'B', stop_reason: 'end_turn', anchor: { msg: 7, block: 1 } },
  { event: 'run.cancelled', run_id: 'C', by: 'ann', anchor: { msg: 9, block: 1 } },
  { event: 'run.retrying', run_id: 'D', attempt: 1, delay_ms: 50, reason: 'HTTP 529: Overloaded', anchor: { msg: 10, block: 1 } },
  { event: 'run.error', run_id: 'D', type: 'invalid_request_error', message: 'prompt is broken', anchor: { msg: 10, block: 1 } },
];

/** The same four runs watched live, then the history fetched after they ended. */
function live(): TranscriptState {
  n = 0;
  let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
  const run = (id: string, text: string, events: () => StreamEvent[]) => {
    s = reduce(s, { type: 'localPrompt', runId: id, text });
    const head = [ev(id, 'run.queued', { kind: 'message' }), ev(id, 'run.started', { kind: 'message' })];
    s = reduce(s, { type: 'events', events: [...head, ...events()] });
  };
  run('A', 'one', () => [
    ev('A', 'message.start', { message_id: 'a1' }),
    ev('A', 'tool.use', { index: 0, id: 't1', name: 'bash', input: { command: 'ls' } }),
    ev('A', 'message.stop', { stop_reason: 'tool_use' }),
    ev('A', 'permission.request', { request_id: 'r1', tool_use_id: 't1', tool: 'bash', input: { command: 'ls' }, summary: 'ls' }),
    ev('A', 'run.parked', { request_id: 'r1' }),
    ev('A', 'run.continued', { reason: 'answered' }),
    ev('A', 'permission.resolved', { request_id: 'r1', tool_use_id: 't1', decision: 'allow', remember: true, by: 'ann' }),
    ev('A', 'tool.result', { tool_use_id: 't1', name: 'bash', content: 'a.txt', is_error: false }),
    ev('A', 'message.start', { message_id: 'a2' }),
    ev('A', 'text.delta', { index: 0, text: 'done' }),
    ev('A', 'message.stop', { stop_reason: 'end_turn' }),
    ev('A', 'run.finished', { stop_reason: 'end_turn' }),
  ]);
  run('B', 'two', () => [
    ev('B', 'message.start', { message_id: 'b1' }),
    ev('B', 'tool.use', { index: 0, id: 't2', name: 'bash', input: { command: 'rm x' } }),
    ev('B', 'message.stop', { stop_reason: 'tool_use' }),
    ev('B', 'permission.request', { request_id: 'r2', tool_use_id: 't2', tool: 'bash', input: { command: 'rm x' }, summary: 'rm x' }),
    ev('B', 'permission.resolved', { request_id: 'r2', tool_use_id: 't2', decision: 'deny', message: 'not now', by: 'ann' }),
    ev('B', 'tool.result', { tool_use_id: 't2', name: 'bash', content: 'The user denied this tool call. Their message: not now', is_error: true }),
    ev('B', 'message.start', { message_id: 'b2' }),
    ev('B', 'text.delta', { index: 0, text: 'ok' }),
    ev('B', 'message.stop', { stop_reason: 'end_turn' }),
    ev('B', 'run.finished', { stop_reason: 'end_turn' }),
  ]);
  run('C', 'three', () => [
    ev('C', 'message.start', { message_id: 'c1' }),
    ev('C', 'text.delta', { index: 0, text: 'partial' }),
    ev('C', 'run.cancelled', { by: 'ann' }),
  ]);
  run('D', 'four', () => [
    ev('D', 'run.retrying', { attempt: 1, delay_ms: 50, reason: 'HTTP 529: Overloaded' }),
    ev('D', 'run.error', { type: 'invalid_request_error', message: 'prompt is broken' }),
  ]);
  // The history fetched after the last end (its notices change nothing the stream said).
  return reduce(s, { type: 'history', messages: H, asOf: `${5000 + n}-0`, want: 2, notices: NOTICES });
}

function reloaded(): TranscriptState {
  return reduce(initialState('s1'), { type: 'history', messages: H, asOf: null, want: 1, notices: NOTICES });
}

describe('notices: the durable transcript', () => {
  it('a reload draws exactly what the live view drew once the runs ended', () => {
    const a = sig(buildView(live()));
    const b = sig(buildView(reloaded()));
    expect(b).toEqual(a);
    expect(b).toEqual([
      'user:one', 'tool:t1:done:allow/ann/true/', 'text:done',
      'user:two', 'tool:t2:denied:deny/ann//not now', 'text:ok',
      'user:three', 'text:partial', 'notice:cancelled:{"by":"ann"}',
      'user:four', 'notice:retried:{"attempt":1,"delay_ms":50,"reason":"HTTP 529: Overloaded"}',
      expect.stringMatching(/^notice:run_error:{"type":"invalid_request_error","message":"prompt is broken"/),
    ]);
  });

  it('a denied call is drawn as denied after a reload, not as failed', () => {
    const v = buildView(reloaded()).find((i) => i.kind === 'tool' && i.id === 't2');
    expect(v && v.kind === 'tool' && v.state).toBe('denied');
  });

  it('without notices (an older server) the history alone is drawn as before', () => {
    const s = reduce(initialState('s1'), { type: 'history', messages: H, asOf: null, want: 1 });
    expect(sig(buildView(s))).toContain('tool:t2:error:-');
  });

  it('an approval still open stays pending; a request answered later is resolved', () => {
    let s = applyNotices(initialState('s1'), NOTICES.slice(0, 1));
    expect(s.permissions.r1.status).toBe('pending');
    s = applyNotices(s, NOTICES.slice(1, 2));
    expect(s.permissions.r1).toMatchObject({ status: 'allow', remember: true, by: 'ann' });
  });

  it('runs known live are not added twice; anchors before a compaction are dropped', () => {
    const s = applyNotices(live(), NOTICES);
    expect(s.runs.filter((r) => r.id === 'A')).toHaveLength(1);
    const c = applyNotices(initialState('s1'), [...NOTICES, { event: 'compacted', run_id: 'E', messages_before: 11, messages_after: 2 }]);
    expect(c.runs.every((r) => r.anchor === null)).toBe(true);
  });
});
