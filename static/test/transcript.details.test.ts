import { describe, expect, it } from 'vitest';
import { buildView, initialState, reduce } from '../src/lib/transcript';

// After a reload, the stream never shows the old tool results: the cards
// must still carry the bash details the server kept (exit code, output).
describe('history tool details', () => {
  it('fills bash cards from the server-kept details', () => {
    let s = initialState();
    s = reduce(s, {
      type: 'history', asOf: null, want: 1,
      messages: [
        { role: 'user', content: 'list files' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'bash', input: { command: 'ls' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'a.txt\nExit code: 2' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'done' }] },
      ],
      details: {
        toolu_1: {
          tool_use_id: 'toolu_1', name: 'bash', content: 'a.txt\nExit code: 2', is_error: false,
          stdout: 'a.txt', stderr: 'warn', exit_code: 2, duration_ms: 12.5,
        },
      },
    } as never);
    const card = buildView(s).find((i) => i.kind === 'tool') as Record<string, unknown> | undefined;
    expect(card).toBeTruthy();
    const result = (card as { result?: { exitCode?: number; stderr?: string; durationMs?: number } }).result;
    expect(result?.exitCode).toBe(2);
    expect(result?.stderr).toBe('warn');
    expect(result?.durationMs).toBe(12.5);
  });
});
