import { render } from 'preact';
import { describe, expect, it } from 'vitest';
import { ToolCard } from '../src/components/ToolCard';
import type { ViewItem } from '../src/lib/transcript';

type ToolItem = Extract<ViewItem, { kind: 'tool' }>;

function mount(node: preact.ComponentChild): HTMLElement {
  const el = document.createElement('div');
  document.body.appendChild(el);
  render(node, el);
  return el;
}

function editItem(command: string, state: ToolItem['state']): ToolItem {
  return {
    kind: 'tool', key: `t:${command}`, id: command, name: 'str_replace_based_edit_tool',
    input: { command, path: '/workspace/app.py', old_str: 'a', new_str: 'b' },
    permission: null, state, result: { content: 'ok', isError: false },
  };
}

describe('undo of Claude\'s edits', () => {
  it('a finished edit offers the undo and reports the Claude path', () => {
    const asked: string[] = [];
    const el = mount(<ToolCard item={editItem('str_replace', 'done')} onDecide={() => {}} onRevert={(p) => asked.push(p)} />);
    const btn = el.querySelector<HTMLButtonElement>('button.revert');
    expect(btn).toBeTruthy();
    expect(btn!.textContent).toContain('app.py');
    btn!.click();
    expect(asked).toEqual(['/workspace/app.py']);
    render(null, el);
  });
  it('views, failed or unapproved edits offer no undo', () => {
    for (const [cmd, state] of [['view', 'done'], ['str_replace', 'error'], ['create', 'waiting'], ['insert', 'denied']] as const) {
      const el = mount(<ToolCard item={editItem(cmd, state)} onDecide={() => {}} onRevert={() => {}} />);
      expect(el.querySelector('button.revert')).toBeNull();
      render(null, el);
    }
  });
});
