import { describe, expect, it } from 'vitest';
import { buildView, initialState, reduce, type TranscriptState } from '../src/lib/transcript';

let n = 0;
function ev(s: TranscriptState, type: string, data: Record<string, unknown>): TranscriptState {
  n += 1;
  return reduce(s, { type: 'event', event: { id: `1000-${n}`, type, data: { run_id: 'r1', ...data } } });
}

describe('todo list', () => {
  it('todos.updated sets the list; a fetched (older) copy does not replace it', () => {
    let s = initialState('s1');
    s = reduce(s, { type: 'todos', todos: [{ content: 'old', status: 'pending' }] });
    expect(s.todos?.map((t) => t.content)).toEqual(['old']);
    s = ev(s, 'run.started', { kind: 'message' });
    s = ev(s, 'todos.updated', { todos: [{ content: 'Run tests', status: 'in_progress', activeForm: 'Running tests' }, { bogus: 1 }] });
    expect(s.todos).toEqual([{ content: 'Run tests', status: 'in_progress', activeForm: 'Running tests' }]);
    s = reduce(s, { type: 'todos', todos: [] });
    expect(s.todos?.length).toBe(1);
  });
});

describe('sub-agent events', () => {
  it('nests events with parent_tool_use_id under the task card, not in the run', () => {
    let s = initialState('s1');
    s = ev(s, 'run.started', { kind: 'message' });
    s = ev(s, 'message.start', { message_id: 'm1' });
    s = ev(s, 'tool.use', { index: 0, id: 'toolu_task', name: 'task', input: { description: 'Find X', prompt: 'find x' } });
    s = ev(s, 'message.stop', { stop_reason: 'tool_use' });
    const P = { parent_tool_use_id: 'toolu_task' };
    s = ev(s, 'message.start', { ...P, message_id: 'c1' });
    s = ev(s, 'text.delta', { ...P, index: 0, text: 'Looking.' });
    s = ev(s, 'tool.use', { ...P, index: 1, id: 'toolu_c1', name: 'bash', input: { command: 'ls' } });
    s = ev(s, 'message.stop', { ...P, stop_reason: 'tool_use' });
    s = ev(s, 'tool.result', { ...P, tool_use_id: 'toolu_c1', name: 'bash', content: 'a.txt', is_error: false });
    s = ev(s, 'message.start', { ...P, message_id: 'c2' });
    s = ev(s, 'text.delta', { ...P, index: 0, text: 'X is in a.txt' });
    // The parent run has one turn only.
    expect(s.runs[0].turns.length).toBe(1);
    let view = buildView(s);
    const tools = view.filter((i) => i.kind === 'tool');
    expect(tools.map((t) => (t as { id: string }).id)).toEqual(['toolu_task']);
    const card = tools[0] as Extract<ReturnType<typeof buildView>[number], { kind: 'tool' }>;
    expect(card.state).toBe('running');
    expect(card.children?.map((c) => c.kind)).toEqual(['text', 'tool', 'text']);
    const child = card.children![1] as typeof card;
    expect(child.state).toBe('done');
    expect(child.result?.content).toBe('a.txt');
    expect((card.children![2] as { streaming: boolean }).streaming).toBe(true);
    s = ev(s, 'message.stop', { ...P, stop_reason: 'end_turn' });
    s = ev(s, 'tool.result', { tool_use_id: 'toolu_task', name: 'task', content: 'X is in a.txt', is_error: false });
    view = buildView(s);
    const done = view.find((i) => i.kind === 'tool') as typeof card;
    expect(done.state).toBe('done');
    expect((done.children![2] as { streaming: boolean }).streaming).toBe(false);
  });

  it('after a reload draws the steps the task result kept', () => {
    let s = initialState('s1');
    s = reduce(s, {
      type: 'history', asOf: null, want: 1,
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_t', name: 'task', input: { description: 'd', prompt: 'p' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_t', content: 'report' }] },
      ],
      details: {
        toolu_t: {
          tool_use_id: 'toolu_t', name: 'task', content: 'report', is_error: false,
          subagent: {
            steps: [
              { type: 'tool', id: 'toolu_c', name: 'bash', input: { command: 'ls' }, result: { content: 'denied!', is_error: true, denied: true } },
              { type: 'text', text: 'report' },
            ],
          },
        },
      },
    } as never);
    const card = buildView(s).find((i) => i.kind === 'tool') as { children?: Array<{ kind: string; state?: string }> };
    expect(card.children?.map((c) => c.kind)).toEqual(['tool', 'text']);
    expect(card.children?.[0].state).toBe('denied');
  });
});
